"""How long Homeward keeps a person's words, and the daily purge that enforces it.

A case closed or dropped out, or whose person declined to join, more than `months`
(RETENTION_MONTHS, 12) months ago loses what holds a person's words and files:

- its relays (which message was copied where) and every outbox item of the case;
- its receipts' descriptions, staff's questions and rejection notes, and the receipt files
  (the file ids and where the files lie in the returnee's chat);
- its check-ins' free notes, its status updates' notes and plans, its ledger lines' reasons.

What the programme's statistics count stays: the case with its lifecycle dates and reasons, the
receipts' amounts, currencies, days and statuses, payouts, ledger amounts, the check-ins'
statuses and chosen answers, alerts, response times, consents and the audit log (ids only), so
`bot/services/statistics.py figures` gives the same figures before and after.

Everywhere, whatever the case: a failed outbox item loses its payload `failed_days`
(OUTBOX_FAILED_DAYS, 30) after it was queued, and dialog state (`fsm_records`) untouched for
`dialog_days` (DIALOG_TTL_DAYS, 30) is deleted (with Redis, the keys expire on their own).

A case that ended before its ending's day was recorded (cases closed before migration 0009) is
given one first: the day of its last audited event, or the purge's day when it has none, so
that it too is purged in time and never kept for ever.

A purge changes only what still holds something, so a second run finds nothing to do. The
leader's sweep runs it at most once a UTC day (`purge_daily`): the day of the last run is the
`changed_at` of the `switches` row RAN, claimed by a conditional update in the purge's own
transaction, so two sweepers run it once and a failed run is tried again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, Select, Text, and_, cast, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.ledger import months_after
from storage.models import (
    AuditEvent,
    Case,
    CaseStatus,
    CaseUpdate,
    CheckIn,
    FsmRecord,
    LedgerLine,
    OutboxItem,
    OutboxStatus,
    Receipt,
    ReceiptFile,
    Relay,
    Switch,
)

RAN = "retention_last_run"
NEVER = datetime(2000, 1, 1, tzinfo=UTC)
KEYS_PER_STATEMENT = 500


@dataclass(frozen=True)
class Policy:
    months: int = 12
    failed_days: int = 30
    dialog_days: int = 30


@dataclass(frozen=True)
class Purged:
    """What one purge changed, as counts of rows; `dialog_keys` are the FSM keys deleted (for
    the process's cache; never logged)."""

    cases: int = 0
    endings_dated: int = 0
    relays: int = 0
    receipts: int = 0
    receipt_files: int = 0
    check_in_notes: int = 0
    update_texts: int = 0
    ledger_reasons: int = 0
    outbox_items: int = 0
    failed_payloads: int = 0
    dialogs: int = 0
    dialog_keys: tuple[str, ...] = field(default=(), repr=False)

    def counts(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "dialog_keys"}

    @property
    def changed(self) -> bool:
        return any(self.counts().values())

    def summary(self) -> str:
        """One line of counts, for the log."""
        return " ".join(f"{name}={count}" for name, count in self.counts().items())


def cutoff(now: datetime, months: int) -> date:
    """Cases that ended before this day are past their time."""
    return months_after(now.astimezone(UTC).date(), -months)


def ended_before(day: date) -> Select[Any]:
    """The ids of the cases closed, dropped out or declined before `day`."""
    return select(Case.id).where(
        or_(
            and_(Case.status == CaseStatus.CLOSED, Case.closed_on < day),
            and_(Case.status == CaseStatus.DROPPED_OUT, Case.dropped_on < day),
            and_(Case.applied_on.is_(None), Case.declined_on < day),
        )
    )


async def _date_endings(session: AsyncSession, today: date) -> int:
    """Gives an ending day to the cases that ended without one: how many."""
    last_event = (
        select(func.max(AuditEvent.at)).where(AuditEvent.case_id == Case.id).scalar_subquery()
    )
    # date() gives 'YYYY-MM-DD' on SQLite (how it stores a Date) and a date on PostgreSQL.
    day = func.coalesce(func.date(last_event), today, type_=Date)
    dated = 0
    for status, column in (
        (CaseStatus.CLOSED, Case.closed_on),
        (CaseStatus.DROPPED_OUT, Case.dropped_on),
    ):
        dated += await _count(
            session,
            update(Case).where(Case.status == status, column.is_(None)).values({column: day}),
        )
    return dated


async def _cases_holding(session: AsyncSession, ended: Select[Any]) -> set[int]:
    """The ended cases that still hold anything the purge removes."""
    found: set[int] = set()
    for column, *holding in (
        (Relay.case_id,),
        (ReceiptFile.case_id,),
        (OutboxItem.case_id,),
        (
            Receipt.case_id,
            or_(
                Receipt.description != "",
                Receipt.question.is_not(None),
                Receipt.rejection_note.is_not(None),
            ),
        ),
        (CheckIn.case_id, CheckIn.note.is_not(None)),
        (CaseUpdate.case_id, CaseUpdate.text.is_not(None)),
        (LedgerLine.case_id, LedgerLine.reason != ""),
    ):
        found.update(
            case_id
            for case_id in await session.scalars(
                select(column).distinct().where(column.in_(ended), *holding)
            )
            if case_id is not None
        )
    return found


async def _count(session: AsyncSession, statement: Any) -> int:
    result = await session.execute(statement.execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def _purge_cases(session: AsyncSession, now: datetime, day: date) -> dict[str, int]:
    ended = ended_before(day)
    holding = await _cases_holding(session, ended)
    if not holding:
        return {}
    done = {
        "cases": len(holding),
        "relays": await _count(session, delete(Relay).where(Relay.case_id.in_(ended))),
        "receipt_files": await _count(
            session, delete(ReceiptFile).where(ReceiptFile.case_id.in_(ended))
        ),
        "receipts": await _count(
            session,
            update(Receipt)
            .where(
                Receipt.case_id.in_(ended),
                or_(
                    Receipt.description != "",
                    Receipt.question.is_not(None),
                    Receipt.rejection_note.is_not(None),
                ),
            )
            .values(description="", question=None, rejection_note=None),
        ),
        "check_in_notes": await _count(
            session,
            update(CheckIn)
            .where(CheckIn.case_id.in_(ended), CheckIn.note.is_not(None))
            .values(note=None),
        ),
        "update_texts": await _count(
            session,
            update(CaseUpdate)
            .where(CaseUpdate.case_id.in_(ended), CaseUpdate.text.is_not(None))
            .values(text=None),
        ),
        "ledger_reasons": await _count(
            session,
            update(LedgerLine)
            .where(LedgerLine.case_id.in_(ended), LedgerLine.reason != "")
            .values(reason=""),
        ),
        "outbox_items": await _count(
            session, delete(OutboxItem).where(OutboxItem.case_id.in_(ended))
        ),
    }
    offices = dict(
        (await session.execute(select(Case.id, Case.office_id).where(Case.id.in_(holding)))).all()
    )
    for case_id in sorted(holding):
        session.add(
            AuditEvent(
                action="retention.purged", case_id=case_id, office_id=offices[case_id], at=now
            )
        )
    return done


async def _empty_failed(session: AsyncSession, before: datetime) -> int:
    return await _count(
        session,
        update(OutboxItem)
        .where(
            OutboxItem.status == OutboxStatus.FAILED,
            OutboxItem.created_at < before,
            cast(OutboxItem.payload, Text) != "{}",
        )
        .values(payload={}),
    )


async def _old_dialogs(session: AsyncSession, before: datetime) -> tuple[int, list[str]]:
    """Deletes dialog state untouched since `before`: how many, and the keys looked at (for the
    process's cache: forgetting a key that stayed only makes its next read go to the table)."""
    keys = list(await session.scalars(select(FsmRecord.key).where(FsmRecord.updated_at < before)))
    deleted = 0
    for start in range(0, len(keys), KEYS_PER_STATEMENT):
        # Touched since it was read (someone came back to the dialog): it stays.
        deleted += await _count(
            session,
            delete(FsmRecord).where(
                FsmRecord.key.in_(keys[start : start + KEYS_PER_STATEMENT]),
                FsmRecord.updated_at < before,
            ),
        )
    return deleted, keys


async def purge(session: AsyncSession, now: datetime, policy: Policy | None = None) -> Purged:
    """Remove what is past its time at `now`; audited per case (ids only) and, when anything
    changed, once for the run. The caller commits."""
    policy = policy or Policy()
    dated = await _date_endings(session, now.astimezone(UTC).date())
    by_case = await _purge_cases(session, now, cutoff(now, policy.months))
    failed = await _empty_failed(session, now - timedelta(days=policy.failed_days))
    dialogs, keys = await _old_dialogs(session, now - timedelta(days=policy.dialog_days))
    purged = Purged(
        **by_case,
        endings_dated=dated,
        failed_payloads=failed,
        dialogs=dialogs,
        dialog_keys=tuple(keys),
    )
    if purged.changed:
        session.add(AuditEvent(action="retention.purged", at=now))
    await session.flush()
    return purged


async def _claim_day(session: AsyncSession, now: datetime) -> bool:
    """Whether no purge has run yet on `now`'s UTC day; claims the day if so."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(Switch)
        .values(name=RAN, on=False, changed_at=NEVER)
        .on_conflict_do_nothing(index_elements=[Switch.name])
    )
    midnight = datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)
    claimed = await _count(
        session,
        update(Switch)
        .where(Switch.name == RAN, Switch.changed_at < midnight)
        .values(on=True, changed_at=now),
    )
    return claimed == 1


async def purge_daily(
    session: AsyncSession, now: datetime, policy: Policy | None = None
) -> Purged | None:
    """The purge, unless it ran already on `now`'s day (None then). The caller commits: the
    claim of the day and the purge together, or neither."""
    if not await _claim_day(session, now):
        return None
    return await purge(session, now, policy)
