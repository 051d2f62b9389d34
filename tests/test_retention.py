"""Retention (issue 14): a case closed or dropped out more than RETENTION_MONTHS ago loses the
words and files it held, one that ended more recently keeps them; the statistics give the same
figures before and after; failed messages lose their content after OUTBOX_FAILED_DAYS; dialog
state untouched for DIALOG_TTL_DAYS goes (with Redis, its keys expire). A second run changes
nothing; the sweep runs the purge once a day. With a moved clock, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import create_app
from bot.scheduled import Sweeps
from bot.services import budget, cases, lifecycle, offices, retention
from bot.services.statistics import figures, rows
from storage.db import create_engine, create_sessionmaker
from storage.fsm import SqlStorage
from storage.migrate import upgrade_to_head
from storage.models import (
    AuditEvent,
    Base,
    Case,
    CaseStatus,
    CaseUpdate,
    CheckIn,
    CheckInAlert,
    CheckInStatus,
    Destination,
    Direction,
    FsmRecord,
    LedgerKind,
    LedgerLine,
    OutboxItem,
    OutboxKind,
    OutboxStatus,
    PaidAs,
    Payout,
    PayoutStatus,
    Receipt,
    ReceiptFile,
    ReceiptStatus,
    Relay,
    ResponseTime,
    UpdateKind,
)
from tests.conftest import REDIS_URL, make_settings

NOW = datetime(2027, 6, 15, 10, 0, tzinfo=UTC)
# code: how the case ended (None: still open), and when.
CASES: dict[str, tuple[str | None, date | None]] = {
    "RO-0001": ("closed", date(2026, 5, 14)),  # 13 months ago: past its time
    "RO-0002": ("dropped", date(2026, 5, 1)),  # dropped out 13 months ago: past its time
    "RO-0003": ("closed", date(2026, 7, 15)),  # 11 months ago: kept
    "RO-0004": ("closed", date(2026, 6, 15)),  # exactly 12 months ago: not more, kept
    "RO-0005": (None, None),  # open
}
PURGED = ("RO-0001", "RO-0002")


class Nothing:
    """The sweep's sender: the purge queues nothing to wake it for."""

    def wake(self) -> None:
        pass


def words(code: str, what: str) -> str:
    return f"WORDS-{code}-{what}"


async def seed_case(session: AsyncSession, code: str, ended: str | None, on: date | None) -> Case:
    """A case with something in every place that holds a person's words, and the figures the
    statistics count (a receipt paid, one rejected, a check-in answered, an alert, a response
    time, a ledger line)."""
    case = await cases.add_case(session, office_code="RO", code=code, language="ro", programme="dk")
    case.applied_on, case.returned_on = date(2026, 1, 10), date(2026, 2, 10)
    at = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    session.add_all(
        [
            Relay(
                case_id=case.id,
                direction=Direction.FROM_RETURNEE,
                source_chat_id=501,
                source_message_id=10,
                copy_chat_id=-1001234,
                copy_message_id=20,
                at=at,
            ),
            ResponseTime(
                case_id=case.id,
                office_id=case.office_id,
                asked_at=at,
                answered_at=at + timedelta(minutes=12),
                seconds=720,
            ),
            LedgerLine(
                case_id=case.id,
                kind=LedgerKind.ADJUSTMENT,
                category="housing",
                amount=Decimal("100.00"),
                reason=words(code, "ledger"),
                at=at,
            ),
            CaseUpdate(
                case_id=case.id,
                kind=UpdateKind.STATUS,
                status="housing_found",
                text=words(code, "update"),
                created_at=at,
                confirmed_at=at,
            ),
        ]
    )
    payout = Payout(
        case_id=case.id,
        category="housing",
        amount=Decimal("300.00"),
        status=PayoutStatus.PAID,
        paid_on=date(2026, 3, 9),
    )
    session.add(payout)
    await session.flush()
    paid = Receipt(
        case_id=case.id,
        number=1,
        category="housing",
        amount=Decimal("300.00"),
        currency="USD",
        description=words(code, "receipt"),
        status=ReceiptStatus.PAID,
        submitted_at=at,
        submitted_on=at.date(),
        decided_at=at + timedelta(days=2),
        question=words(code, "question"),
        payout_id=payout.id,
    )
    rejected = Receipt(
        case_id=case.id,
        number=2,
        category="housing",
        amount=Decimal("80.00"),
        currency="USD",
        description=words(code, "rejected"),
        status=ReceiptStatus.REJECTED,
        submitted_at=at,
        submitted_on=at.date(),
        decided_at=at + timedelta(days=1),
        rejection_reason="unreadable",
        rejection_note=words(code, "note"),
    )
    check_in = CheckIn(
        case_id=case.id,
        month=1,
        due_at=datetime(2026, 3, 10, 10, 0, tzinfo=UTC),
        status=CheckInStatus.ANSWERED,
        asked_at=datetime(2026, 3, 10, 10, 0, tzinfo=UTC),
        answered_at=datetime(2026, 3, 10, 11, 0, tzinfo=UTC),
        feeling="good",
        safe="no",
        note=words(code, "check-in"),
    )
    session.add_all([paid, rejected, check_in])
    await session.flush()
    payout.receipt_id = paid.id
    session.add_all(
        [
            ReceiptFile(
                receipt_id=paid.id,
                case_id=case.id,
                file_unique_id=words(code, "file"),
                chat_id=501,
                message_id=11,
            ),
            CheckInAlert(
                case_id=case.id,
                check_in_id=check_in.id,
                answer="safe.no",
                raised_at=datetime(2026, 3, 10, 11, 0, tzinfo=UTC),
                repeat_at=datetime(2026, 3, 11, 11, 0, tzinfo=UTC),
                taken_at=datetime(2026, 3, 10, 11, 30, tzinfo=UTC),
            ),
            OutboxItem(
                case_id=case.id,
                destination=Destination.PRIVATE,
                chat_id=501,
                kind=OutboxKind.TEXT,
                payload={"kind": "text", "text": words(code, "outbox")},
                direction=Direction.TO_RETURNEE,
                status=OutboxStatus.HELD,
                not_before=at,
                created_at=at,
            ),
        ]
    )
    if ended == "closed":
        assert on is not None
        await lifecycle.close(session, case, on, None)
    elif ended == "dropped":
        assert on is not None
        await lifecycle.drop(session, case, "disappeared", on, None)
    await session.flush()
    return case


async def seed(session: AsyncSession) -> None:
    await offices.add_office(
        session,
        code="RO",
        name="IOM RO",
        country="RO",
        timezone="Europe/Bucharest",
        languages=["ro", "en"],
        group_chat_id=-1001234,
    )
    await budget.set_category(
        session,
        programme="dk",
        category="housing",
        maximum="900",
        currency="USD",
        paid_as=PaidAs.IN_KIND,
    )
    for code, (ended, on) in CASES.items():
        await seed_case(session, code, ended, on)
    # Failed messages of no case in particular: one failed 31 days ago, one 29 days ago.
    for days, marker in ((31, "FAILED-OLD"), (29, "FAILED-RECENT")):
        moment = NOW - timedelta(days=days)
        session.add(
            OutboxItem(
                destination=Destination.PRIVATE,
                chat_id=777,
                kind=OutboxKind.TEXT,
                payload={"kind": "text", "text": marker},
                direction=Direction.TO_RETURNEE,
                status=OutboxStatus.FAILED,
                not_before=moment,
                created_at=moment,
            )
        )
    # Dialog state untouched for 31 days and for 29 days.
    for days, key in ((31, "DIALOG-OLD"), (29, "DIALOG-RECENT")):
        session.add(
            FsmRecord(key=key, state="s", data={"said": key}, updated_at=NOW - timedelta(days=days))
        )
    await session.commit()


async def snapshot(session: AsyncSession) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for table in Base.metadata.sorted_tables:
        key = list(table.primary_key.columns)
        found = await session.execute(select(table).order_by(*key))
        tables[table.name] = [tuple(row) for row in found.all()]
    return tables


@pytest.fixture
async def sessionmaker(database_url: str) -> Any:
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    maker = create_sessionmaker(engine)
    async with maker() as session:
        await seed(session)
    yield maker
    await engine.dispose()


async def test_words_of_cases_past_their_time_go_and_the_rest_stays(sessionmaker):
    async with sessionmaker() as session:
        before = await figures(session, office=None, start=None, end=None)
        kept_before = await snapshot(session)
        purged = await retention.purge(session, NOW)
        await session.commit()
    assert purged.counts() == {
        "cases": 2,
        "endings_dated": 0,
        "relays": 2,
        "receipts": 4,
        "receipt_files": 2,
        "check_in_notes": 2,
        "update_texts": 2,
        "ledger_reasons": 2,
        # The held message of each, and the card edit that ending the case queued.
        "outbox_items": 4,
        "failed_payloads": 1,
        "dialogs": 1,
    }
    async with sessionmaker() as session:
        everything = str(await snapshot(session))
        for code in CASES:
            for what in ("ledger", "update", "receipt", "question", "rejected", "note"):
                assert (words(code, what) in everything) is (code not in PURGED), (code, what)
            for what in ("check-in", "file", "outbox"):
                assert (words(code, what) in everything) is (code not in PURGED), (code, what)
        assert "FAILED-OLD" not in everything
        assert "FAILED-RECENT" in everything
        assert "DIALOG-OLD" not in everything
        assert "DIALOG-RECENT" in everything
        # What is kept of a purged case: its lifecycle, amounts, days, statuses and answers.
        old = await cases.get_case(session, "RO-0001")
        assert (old.status.value, old.closed_on, old.applied_on) == (
            "closed",
            date(2026, 5, 14),
            date(2026, 1, 10),
        )
        receipts = list(
            await session.scalars(
                select(Receipt).where(Receipt.case_id == old.id).order_by(Receipt.number)
            )
        )
        assert [(r.amount, r.status, r.submitted_on, r.description, r.files) for r in receipts] == [
            (Decimal("300.00"), ReceiptStatus.PAID, date(2026, 3, 1), "", []),
            (Decimal("80.00"), ReceiptStatus.REJECTED, date(2026, 3, 1), "", []),
        ]
        assert receipts[1].rejection_reason == "unreadable"  # a reason code, not words
        line = await session.scalar(select(LedgerLine).where(LedgerLine.case_id == old.id))
        assert (line.amount, line.reason) == (Decimal("100.00"), "")
        check_in = await session.scalar(select(CheckIn).where(CheckIn.case_id == old.id))
        assert (check_in.status, check_in.feeling, check_in.note) == (
            CheckInStatus.ANSWERED,
            "good",
            None,
        )
        assert (
            await session.scalar(
                select(func.count()).select_from(Relay).where(Relay.case_id == old.id)
            )
            == 0
        )
        # The statistics count the same.
        after = await figures(session, office=None, start=None, end=None)
        assert after == before
        assert rows(after) == rows(before)
        # Audited by ids only: each purged case, and the run.
        audited = [
            (e.action, e.case_id)
            for e in await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "retention.purged")
                .order_by(AuditEvent.id)
            )
        ]
        ids = {c.code: c.id for c in await session.scalars(select(Case))}
        assert audited == [
            ("retention.purged", ids["RO-0001"]),
            ("retention.purged", ids["RO-0002"]),
            ("retention.purged", None),
        ]
    assert kept_before != await _snapshot_of(sessionmaker)  # (the snapshot sees changes)


async def _snapshot_of(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    async with sessionmaker() as session:
        return await snapshot(session)


async def test_a_second_run_changes_nothing(sessionmaker):
    async with sessionmaker() as session:
        assert (await retention.purge(session, NOW)).changed
        await session.commit()
    first = await _snapshot_of(sessionmaker)
    async with sessionmaker() as session:
        again = await retention.purge(session, NOW + timedelta(hours=1))
        await session.commit()
    assert not again.changed
    assert again.counts() == dict.fromkeys(again.counts(), 0)
    assert await _snapshot_of(sessionmaker) == first


async def test_the_statistics_figures_match_for_each_period_before_and_after(sessionmaker):
    periods = [(None, None), (date(2026, 1, 1), date(2026, 12, 31)), (date(2026, 3, 1), None)]
    async with sessionmaker() as session:
        before = [await figures(session, office="RO", start=s, end=e) for s, e in periods]
        await retention.purge(session, NOW)
        await session.commit()
    async with sessionmaker() as session:
        after = [await figures(session, office="RO", start=s, end=e) for s, e in periods]
    assert after == before
    # The data set is not empty: there is something to keep the same.
    assert before[0].returns == 5
    assert before[0].receipts_approved == 5
    assert before[0].check_ins_answered == 5


async def test_the_sweep_purges_once_a_day(sessionmaker):
    sweeps = Sweeps(sessionmaker, Nothing(), every_seconds=0)
    await sweeps.sweep(now=NOW)

    async def relays_of_old_case() -> int:
        async with sessionmaker() as session:
            old = await cases.get_case(session, "RO-0001")
            return int(
                await session.scalar(
                    select(func.count()).select_from(Relay).where(Relay.case_id == old.id)
                )
                or 0
            )

    assert await relays_of_old_case() == 0
    # The returnee writes again after the case was purged, the same day.
    async with sessionmaker() as session:
        old = await cases.get_case(session, "RO-0001")
        session.add(
            Relay(
                case_id=old.id,
                direction=Direction.FROM_RETURNEE,
                source_chat_id=501,
                source_message_id=99,
                copy_chat_id=-1001234,
                copy_message_id=98,
                at=NOW,
            )
        )
        await session.commit()
    await sweeps.sweep(now=NOW + timedelta(hours=13))  # 23:00 UTC: the same day
    assert await relays_of_old_case() == 1
    await sweeps.sweep(now=NOW + timedelta(hours=14))  # the next day
    assert await relays_of_old_case() == 0
    async with sessionmaker() as session:
        runs = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "retention.purged", AuditEvent.case_id.is_(None))
        )
    assert runs == 2


async def test_cases_that_ended_without_a_recorded_day_and_people_who_declined_are_purged_too(
    sessionmaker,
):
    """Cases closed before their closing day was recorded get the day of their last audited
    event (or the purge's day); a person who never joined is purged from the day they declined."""
    async with sessionmaker() as session:
        undated = {
            "RO-0011": (CaseStatus.CLOSED, NOW - timedelta(days=400)),  # last event 13 months ago
            "RO-0012": (CaseStatus.DROPPED_OUT, None),  # nothing audited: dated today
            "RO-0013": (CaseStatus.CLOSED, NOW - timedelta(days=30)),  # a month ago: kept
        }
        for code, (status, last_event) in undated.items():
            case = await seed_case(session, code, None, None)
            case.status = status
            # Its history, as the clock of the time wrote it.
            history = update(AuditEvent).where(AuditEvent.case_id == case.id)
            if last_event is None:
                await session.execute(delete(AuditEvent).where(AuditEvent.case_id == case.id))
            else:
                await session.execute(history.values(at=last_event))
        for code, declined in (("RO-0021", date(2026, 4, 1)), ("RO-0022", date(2027, 4, 1))):
            case = await seed_case(session, code, None, None)
            case.applied_on = None
            lifecycle.decline(case, "other", declined)
        await session.commit()
    async with sessionmaker() as session:
        purged = await retention.purge(session, NOW)
        await session.commit()
    assert purged.endings_dated == 3
    async with sessionmaker() as session:
        ended = {
            c.code: (c.closed_on, c.dropped_on)
            for c in await session.scalars(select(Case).where(Case.code.like("RO-001_")))
        }
        everything = str(await snapshot(session))
    assert ended == {
        "RO-0011": ((NOW - timedelta(days=400)).date(), None),
        "RO-0012": (None, NOW.date()),
        "RO-0013": ((NOW - timedelta(days=30)).date(), None),
    }
    for code, gone in (
        ("RO-0011", True),
        ("RO-0012", False),
        ("RO-0013", False),
        ("RO-0021", True),
        ("RO-0022", False),
    ):
        assert (words(code, "receipt") in everything) is not gone, code
    # Dated once: the next run has nothing more to date.
    async with sessionmaker() as session:
        assert (await retention.purge(session, NOW)).endings_dated == 0


async def test_two_sweepers_at_once_purge_once(database_url, sessionmaker):
    other = create_engine(database_url)
    second = Sweeps(create_sessionmaker(other), Nothing(), every_seconds=0)
    first = Sweeps(sessionmaker, Nothing(), every_seconds=0)
    try:
        await asyncio.gather(first.sweep(now=NOW), second.sweep(now=NOW))
    finally:
        await other.dispose()
    async with sessionmaker() as session:
        audited = list(
            await session.scalars(
                select(AuditEvent.case_id).where(AuditEvent.action == "retention.purged")
            )
        )
    assert sorted(audited, key=lambda x: x or 0) == sorted(
        [None, *[await _case_id(sessionmaker, code) for code in PURGED]], key=lambda x: x or 0
    )


async def _case_id(sessionmaker: async_sessionmaker[AsyncSession], code: str) -> int:
    async with sessionmaker() as session:
        return (await cases.get_case(session, code)).id


async def test_dialog_state_the_purge_deletes_is_also_forgotten_by_the_process(sessionmaker):
    storage = SqlStorage(sessionmaker)
    key = StorageKey(bot_id=1, chat_id=501, user_id=501)
    await storage.set_state(key, "Receipt:amount")
    await storage.set_data(key, {"description": "WORDS-typed-in-a-dialog"})
    name = storage._key(key)
    async with sessionmaker() as session:
        await session.execute(
            update(FsmRecord)
            .where(FsmRecord.key == name)
            .values(updated_at=NOW - timedelta(days=40))
        )
        await session.commit()
    assert await storage.get_state(key) == "Receipt:amount"  # from the process's cache
    sweeps = Sweeps(sessionmaker, Nothing(), every_seconds=0, forget_dialogs=storage.forget)
    await sweeps.sweep(now=NOW)
    assert await storage.get_state(key) is None
    assert await storage.get_data(key) == {}


async def test_the_settings_reach_the_sweep(fake_api, sqlite_url):
    settings = make_settings(
        fake_api, sqlite_url, retention_months=24, outbox_failed_days=7, dialog_ttl_days=2
    )
    app = create_app(settings)
    try:
        assert app.sweeps.retention == retention.Policy(months=24, failed_days=7, dialog_days=2)
        assert app.sweeps.forget_dialogs == app.dispatcher.storage.forget
    finally:
        await app.close()


async def test_with_redis_dialog_state_expires_after_the_dialog_ttl(
    fake_api, sqlite_url, redis_unavailable
):
    if redis_unavailable:
        pytest.skip(f"Redis at {REDIS_URL} does not answer ({redis_unavailable})")
    app = create_app(make_settings(fake_api, sqlite_url, redis_url=REDIS_URL, dialog_ttl_days=30))
    storage = app.dispatcher.storage
    key = StorageKey(bot_id=424242, chat_id=9001, user_id=9001, destiny="retention-test")
    try:
        await storage.set_state(key, "Receipt:amount")
        await storage.set_data(key, {"description": "typed"})
        month = 30 * 24 * 3600
        for part in ("state", "data"):
            name = storage.key_builder.build(key, part)  # type: ignore[attr-defined]
            ttl = await storage.redis.ttl(name)  # type: ignore[attr-defined]
            assert month - 60 < ttl <= month, part
    finally:
        await storage.set_state(key, None)
        await storage.set_data(key, {})
        await app.close()
