"""Erasure (issue 14): a case seeded with marker strings in every place that holds words of a
person is erased, from the command line or at the returnee's request from the privacy menu
(staff confirm in the topic). Afterwards no table, no Redis key or value and no log line holds
the returnee's Telegram id, the case's code or any marker. Two things keep the code on purpose:
the message telling the counsellor that case X was erased (telling them the code is the point)
and the fake Bot API's own record of calls (Telegram's side, not ours). Telegram was asked to
delete the topic and the messages; a tombstone keeps what the statistics count."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.cli import main
from bot.delivery.texts.erasure import (
    ERASE_BUTTONS,
    ERASED_FOR_COUNSELLOR,
    ERASED_FOR_RETURNEE,
    ERASURE_NEWS,
)
from bot.services import (
    budget,
    cases,
    checkins,
    erasure,
    invites,
    ledger,
    lifecycle,
    offices,
    people,
    receipts,
    statistics,
    updates,
)
from bot.services.cases import get_case
from bot.services.clock import utcnow
from bot.telegram.callbacks import ErasePress
from storage.db import create_engine, create_sessionmaker
from storage.fsm import SqlStorage
from storage.fsm_keys import is_chat_key
from storage.migrate import upgrade_to_head
from storage.models import (
    AuditEvent,
    Base,
    Case,
    CheckIn,
    Digest,
    ErasedCase,
    Office,
    OutboxItem,
    OutboxKind,
    OutboxStatus,
    PaidAs,
    PaymentMethod,
    Person,
    Receipt,
    SentMessage,
)
from tests.conftest import REDIS_URL, RunningBot, make_settings
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.telegram_user import TelegramUser
from tests.test_counsellor_news import COUNSELLOR, events_on
from tests.test_inbox import GROUP, OTHER_GROUP, eventually, relayed
from tests.test_receipts import PHOTO, _any_keyboard, ana_of, press_data, tr
from tests.world import office_with_case

# Numbers and words found nowhere else, so that finding one anywhere means a trace was left.
RETURNEE = 7_310_442_981
CASE = "RO-0917"
MARKERS = {
    "message": "MK-ERASE-MESSAGE-61",
    "caption": "MK-ERASE-CAPTION-62",
    "staff_answer": "MK-ERASE-STAFF-63",
    "receipt": "MK-ERASE-RECEIPT-64",
    "check_in": "MK-ERASE-CHECKIN-65",
    "status_note": "MK-ERASE-NOTE-66",
    "plan": "MK-ERASE-PLAN-67",
    "ledger_adjust": "MK-ERASE-REASON-68",
    "ledger_deduct": "MK-ERASE-DEDUCT-69",
    "half_typed": "MK-ERASE-TYPING-70",  # typed into the receipt wizard, left in dialog state
}
NEEDLES = [str(RETURNEE), CASE, *MARKERS.values()]
STRANGER = 999
OTHER_STAFF = 333  # staff of another office


def maria_of(bot: RunningBot) -> TelegramUser:
    return bot.user(RETURNEE)


async def office_and_case(bot: RunningBot) -> str:
    """Office RO (group GROUP) with staff Ana, counsellor Mette (events on), the case on
    programme dk; office BG with its own staff member. Returns the returnee's invite token."""
    async with bot.session() as session:
        token = await office_with_case(session, case_code=CASE)
        await people.add_staff(session, office_code="RO", telegram_user_id=111, name="Ana")
        for category, maximum, paid_as, months in (
            ("allowance", "150", PaidAs.CASH, 3),
            ("housing", "900", PaidAs.IN_KIND, None),
            ("business", "3,000", PaidAs.IN_KIND, None),
        ):
            await budget.set_category(
                session,
                programme="dk",
                category=category,
                maximum=maximum,
                currency="USD",
                paid_as=paid_as,
                months=months,
            )
        case = await get_case(session, CASE)
        case.programme = "dk"
        await offices.add_office(
            session,
            code="BG",
            name="IOM BG",
            country="BG",
            timezone="Europe/Sofia",
            languages=["bg", "en"],
            group_chat_id=OTHER_GROUP,
        )
        await people.add_staff(session, office_code="BG", telegram_user_id=OTHER_STAFF, name="Iva")
        await session.commit()
    await events_on(bot)
    return token


async def send_receipt(bot: RunningBot, description: str, *, send: bool = True) -> None:
    """The returnee goes through the receipt wizard (and leaves it before sending if not
    `send`: what they typed then stays in their dialog state)."""
    maria = maria_of(bot)
    await maria.send("/receipt")
    await maria.press(next(b for b in maria.buttons() if b.startswith("Housing (left: ")))
    await maria.send(content=PHOTO)
    await maria.press("Next")
    await maria.send("250")
    await maria.press("USD")
    await maria.send(description)
    if send:
        await maria.press("Send")


async def seeded(bot: RunningBot) -> int:
    """The case with words of the returnee and of staff in every place: messages, a caption,
    the office's answer, a receipt, payouts and ledger lines with reasons, a check-in note and
    an alert, a confirmed status update's note, the plan, and a half-typed receipt in the
    returnee's dialog state. Returns the case's topic."""
    token = await office_and_case(bot)
    maria, ana = maria_of(bot), ana_of(bot)
    await maria.send(f"/start {token}")
    await maria.press("English")
    await maria.press("I agree")

    mark = len(bot.api.calls)
    await maria.send(f"{MARKERS['message']} I stay with my aunt")
    copy = await relayed(bot.api, "copyMessage", GROUP, mark)
    thread = copy["message_thread_id"]
    await maria.send(content=PHOTO | {"caption": MARKERS["caption"]})
    mark = len(bot.api.calls)
    await ana.send(f"{MARKERS['staff_answer']} we call you at 10", group=GROUP, topic=thread)
    await relayed(bot.api, "sendMessage", RETURNEE, mark)

    await send_receipt(bot, MARKERS["receipt"])
    await bot.settled()
    async with bot.session() as session:
        staff = await session.scalar(select(Person).where(Person.telegram_user_id == 111))
        returnee = await session.scalar(select(Person).where(Person.telegram_user_id == RETURNEE))
        case = await get_case(session, CASE)
        receipt = await session.scalar(select(Receipt))
        payout = await receipts.approve(session, receipt.id, staff, method=PaymentMethod.BANK)
        await ledger.mark_paid(session, case, payout.id, staff, date(2026, 11, 20))
        await ledger.adjust(session, case, "business", "2500", MARKERS["ledger_adjust"], staff)
        await ledger.deduct(session, case, "housing", "10", MARKERS["ledger_deduct"], staff)
        await lifecycle.returned(session, case, date(2026, 10, 1), staff)
        shared = await updates.draft_status(session, case, staff, "settling_in")
        assert (
            await updates.add_note(session, case, staff, shared.id, MARKERS["status_note"])
        ).clean
        await updates.confirm(session, case, staff, shared.id)
        plan = await updates.draft_plan(session, case, staff, MARKERS["plan"])
        await updates.keep_plan(session, case, staff, plan)
        first = await session.scalar(select(CheckIn).where(CheckIn.month == 1))
        due = first.due_at.replace(tzinfo=UTC)
        await session.commit()
    # The first check-in asked by the sweep, answered "not safe" (an alert), with a note.
    await bot.app.sweeps.sweep(now=due)
    async with bot.session() as session:
        returnee = await session.scalar(select(Person).where(Person.telegram_user_id == RETURNEE))
        await checkins.answer(session, first.id, returnee, "safe", "no", due)
        await checkins.finish(session, first.id, returnee, MARKERS["check_in"], due)
        await session.commit()
    await bot.settled()
    # A second receipt, half-way: what was typed waits in the returnee's dialog state.
    await send_receipt(bot, MARKERS["half_typed"], send=False)
    await bot.settled()
    return thread


# ---- looking for traces ---------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


async def database_traces(bot: RunningBot, needles: Iterable[str] = NEEDLES) -> set[str]:
    """Every needle found in any column of any row of any table, as "table.column: needle"."""
    found: set[str] = set()
    async with bot.session() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).mappings():
                for column, value in row.items():
                    text = _text(value)
                    found |= {f"{table.name}.{column}: {n}" for n in needles if n in text}
    return found


async def redis_traces(url: str, needles: Iterable[str] = NEEDLES) -> set[str]:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    found: set[str] = set()
    try:
        async for key in client.scan_iter(count=500):
            kind = (await client.type(key)).decode()
            if kind == "string":
                value = await client.get(key) or b""
            elif kind == "hash":
                value = json.dumps(
                    {k.decode(): v.decode() for k, v in (await client.hgetall(key)).items()}
                ).encode()
            else:
                value = b""
            text = key.decode() + " " + value.decode(errors="replace")
            found |= {f"{key.decode()}: {n}" for n in needles if n in text}
    finally:
        await client.aclose()
    return found


def log_traces(caplog: pytest.LogCaptureFixture, output: str) -> set[str]:
    texts = caplog.text + "\n".join(r.getMessage() for r in caplog.records) + output
    return {n for n in NEEDLES if n in texts}


@dataclass
class Before:
    """What the test remembers of the case before it is erased."""

    thread: int
    bot_messages: set[int]  # the bot's messages in the returnee's chat
    relayed_sources: set[int]  # the returnee's messages copied to the topic
    figures: statistics.Figures
    person_id: int
    case_id: int
    audit_lines: int


async def before_erasure(bot: RunningBot, thread: int) -> Before:
    calls = [c for c in bot.api.calls if c.result is not None]
    posted: set[int] = set()
    for call in calls:
        if call.get("chat_id") != RETURNEE:
            continue
        if call.method in ("sendMessage", "copyMessage"):
            posted.add(call.result["message_id"])
        elif call.method == "copyMessages":
            posted |= {r["message_id"] for r in call.result}
    sources: set[int] = set()
    for call in calls:
        if call.get("from_chat_id") == RETURNEE and call.get("chat_id") == GROUP:
            if call.method == "copyMessage":
                sources.add(call["message_id"])
            elif call.method == "copyMessages":
                sources |= set(call["message_ids"])
    async with bot.session() as session:
        case = await get_case(session, CASE)
        figures = await statistics.figures(session, office="RO", start=None, end=None)
        lines = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.case_id == case.id)
        )
        return Before(thread, posted, sources, figures, case.returnee_id, case.id, lines)


async def assert_erased(bot: RunningBot, before: Before, caplog, output: str) -> None:
    await bot.settled()
    api, i18n = bot.api, bot.app.i18n
    # Telegram: the topic deleted, the chat cleared as far as the bot knows it, counsellor told.
    assert [(c["chat_id"], c["message_thread_id"]) for c in api.calls_to("deleteForumTopic")] == [
        (GROUP, before.thread)
    ]
    deletions = [c["message_ids"] for c in api.calls_to("deleteMessages")]
    assert all(1 <= len(ids) <= 100 for ids in deletions)
    assert all(c["chat_id"] == RETURNEE for c in api.calls_to("deleteMessages"))
    deleted = [m for ids in deletions for m in ids]
    assert len(deleted) == len(set(deleted))
    assert set(deleted) >= before.bot_messages | before.relayed_sources
    last = await relayed(api, "sendMessage", RETURNEE, text=tr(bot, ERASED_FOR_RETURNEE, "en"))
    assert last["protect_content"] is True
    assert [m.get("text") for m in maria_of(bot).messages()] == [last["text"]]
    told = [
        c
        for c in api.calls_to("sendMessage", chat_id=COUNSELLOR)
        if c["text"] == i18n.gettext(ERASED_FOR_COUNSELLOR, locale="da").format(code=CASE)
    ]
    assert len(told) == 1
    assert before.thread not in api.topics.get(GROUP, {})
    # What Telegram shows: the topic went with every message in it, the chat is cleared.
    for chat in (GROUP, RETURNEE):
        shown = json.dumps(list(api.chats[chat].messages.values()), ensure_ascii=False)
        assert not [m for m in MARKERS.values() if m in shown], chat

    # The database: no trace; the tombstone, the counsellor's digests and the audit lines stay.
    assert await database_traces(bot) == set()
    async with bot.session() as session:
        tombstones = list(await session.scalars(select(ErasedCase)))
        assert len(tombstones) == 1
        office = await session.scalar(select(Office).where(Office.code == "RO"))
        assert tombstones[0].office_id == office.id
        assert tombstones[0].programme == "dk"
        assert tombstones[0].returned_on == date(2026, 10, 1)
        assert tombstones[0].applied_on is not None
        assert await session.scalar(select(func.count()).select_from(Case)) == 0
        assert await session.get(Person, before.person_id) is None
        assert await session.scalar(select(func.count()).select_from(Digest)) >= 1
        assert not await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                (AuditEvent.case_id == before.case_id)
                | (AuditEvent.actor_person_id == before.person_id)
            )
        )
        kept = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.case_id.is_(None))
        )
        assert kept >= before.audit_lines  # each keeps its action and time, not the case
        assert await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "case.erased")
        )
        items = list(
            await session.scalars(select(OutboxItem).where(OutboxItem.kind == OutboxKind.ERASURE))
        )
        assert {i.status for i in items} == {OutboxStatus.SENT}
        assert all(i.case_id is None and i.payload == {} for i in items)
        # The documents' figures count the erased case as before.
        after = await statistics.figures(session, office="RO", start=None, end=None)
    documents = ("eligible", "applicants", "returns", "days_to_return", "drop_outs", "declines")
    for figure in documents:
        assert getattr(after, figure) == getattr(before.figures, figure), figure
    assert after.returns == 1
    # Nor does the bot process remember their dialog: its cache would write it back.
    storage = bot.app.dispatcher.storage
    if isinstance(storage, SqlStorage):
        assert not [key for key in storage._cache if is_chat_key(key, RETURNEE)]
    # The logs and what was printed.
    assert log_traces(caplog, output) == set()


# ---- the tests ----------------------------------------------------------------------------


@pytest.fixture
async def bot_on(fake_api: FakeBotApi, database_url: str):
    bot = RunningBot(create_app(make_settings(fake_api, database_url)), fake_api)
    await bot.start()
    yield bot
    await bot.stop()


def run_cli(monkeypatch, database_url: str, *argv: str, typed: str = "") -> int:
    """`python -m bot admin ...` in this process (from a thread: it runs its own loop)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    try:
        return main(["admin", *argv])
    except SystemExit as exit_:
        return int(exit_.code or 0)


async def test_a_case_erased_from_the_command_line_leaves_no_trace(
    bot_on, database_url, monkeypatch, caplog, capfd
):
    caplog.set_level(logging.INFO)
    bot = bot_on
    thread = await seeded(bot)
    monkeypatch.delenv("REDIS_URL", raising=False)
    # The check finds what is there: before the erasure the database holds every needle but
    # the texts that only passed through it (relayed, then emptied from the outbox).
    found = {trace.split(": ", 1)[1] for trace in await database_traces(bot)}
    passed = {MARKERS[m] for m in ("message", "caption", "staff_answer")}
    assert found == set(NEEDLES) - passed
    before = await before_erasure(bot, thread)

    code = await asyncio.to_thread(
        run_cli, monkeypatch, database_url, "erase", "--case", CASE, typed="ro-0917\n"
    )
    assert code == 0
    bot.app.sender.wake()
    output = "".join(capfd.readouterr())
    assert "case erased" in output
    await assert_erased(bot, before, caplog, output)


async def request_erasure(bot: RunningBot, *, posted: bool = True) -> Any:
    """The returnee asks from the privacy menu; returns the note in the topic (if `posted`)."""
    maria = maria_of(bot)
    await maria.send("/menu")
    await maria.press("Privacy")
    await maria.press("Erase my data")
    assert maria.buttons() == ["Yes, ask to erase my data", "No, go back"]
    mark = len(bot.api.calls)
    await maria.press("Yes, ask to erase my data")
    assert maria.last_text() == (
        "Your request is with your office. You will get a message here when they have decided."
    )
    if not posted:
        return None
    return await relayed(bot.api, "sendMessage", GROUP, mark, reply_markup=_any_keyboard())


def erase_data(bot: RunningBot, note: Any, *, erase: bool = True) -> str:
    """The callback data of the note's button (staff read the office's language, ro)."""
    buttons = [b for row in note.result["reply_markup"]["inline_keyboard"] for b in row]
    label = tr(bot, ERASE_BUTTONS["erase_yes" if erase else "erase_no"], "ro")
    return next(b["callback_data"] for b in buttons if b["text"] == label)


async def press(bot: RunningBot, user_id: int, note: Any, data: str) -> None:
    await press_data(bot, bot.user(user_id), note.result, data)


def refusals(bot: RunningBot) -> int:
    """Presses answered that nothing could be done."""
    refused = "This cannot be done: the request was decided already"
    return sum(
        c.get("text", "").startswith(refused) for c in bot.api.calls_to("answerCallbackQuery")
    )


async def cases_left(bot: RunningBot) -> int:
    async with bot.session() as session:
        return await session.scalar(select(func.count()).select_from(Case))


async def test_the_returnee_asks_from_the_privacy_menu_and_staff_erase_with_one_press(
    bot_on, caplog, capfd
):
    caplog.set_level(logging.INFO)
    bot = bot_on
    thread = await seeded(bot)
    note = await request_erasure(bot)
    # Asking again while the request waits posts nothing more.
    notes = len(bot.api.calls_to("sendMessage", chat_id=GROUP))
    await request_erasure(bot, posted=False)
    await bot.settled()
    assert len(bot.api.calls_to("sendMessage", chat_id=GROUP)) == notes
    before = await before_erasure(bot, thread)

    # Nobody but the office's own staff, and no forged request, erases anything.
    await press(bot, STRANGER, note, erase_data(bot, note))
    await press(bot, OTHER_STAFF, note, erase_data(bot, note))
    forged = ErasePress(request=ErasePress.unpack(erase_data(bot, note)).request + 1, erase=True)
    await press(bot, 111, note, forged.pack())
    assert await cases_left(bot) == 1
    assert refusals(bot) == 3

    await press(bot, 111, note, erase_data(bot, note))
    await bot.settled()
    assert await cases_left(bot) == 0
    # A replayed press finds nothing to erase: one tombstone (assert_erased counts them).
    await press(bot, 111, note, erase_data(bot, note))
    assert refusals(bot) == 4
    await assert_erased(bot, before, caplog, "".join(capfd.readouterr()))


async def test_staff_refuse_the_returnee_is_told_and_an_old_note_cannot_erase_later(bot_on):
    bot = bot_on
    await seeded(bot)
    first = await request_erasure(bot)
    mark = len(bot.api.calls)
    await press(bot, 111, first, erase_data(bot, first, erase=False))
    refused = await relayed(
        bot.api, "sendMessage", RETURNEE, mark, text=tr(bot, ERASURE_NEWS["erasure_refused"], "en")
    )
    assert refused["protect_content"] is True
    # The note's buttons are gone; pressing its Erase anyway does nothing.
    assert "reply_markup" not in bot.api.chats[GROUP].messages[first.result["message_id"]]
    await press(bot, 111, first, erase_data(bot, first))
    assert await cases_left(bot) == 1
    assert refusals(bot) == 1
    # Asked again: only the new note's button erases.
    second = await request_erasure(bot)
    assert erase_data(bot, second) != erase_data(bot, first)
    await press(bot, 111, first, erase_data(bot, first))
    assert await cases_left(bot) == 1
    await press(bot, 111, second, erase_data(bot, second))
    assert await cases_left(bot) == 0


@pytest.mark.parametrize("way", ["command line", "privacy menu"])
async def test_dialog_state_in_redis_is_erased_too(
    fake_api, sqlite_url, redis_unavailable, monkeypatch, caplog, capfd, way
):
    if redis_unavailable:
        pytest.skip(f"Redis at {REDIS_URL} does not answer ({redis_unavailable})")
    from redis.asyncio import Redis

    # A database of its own on the same server: other tests empty theirs while this one runs.
    url = REDIS_URL.rsplit("/", 1)[0] + "/13"
    client = Redis.from_url(url)
    await client.flushdb()
    await client.aclose()
    caplog.set_level(logging.INFO)
    bot = RunningBot(create_app(make_settings(fake_api, sqlite_url, redis_url=url)), fake_api)
    await bot.start()
    try:
        thread = await seeded(bot)
        # The half-typed receipt is in Redis, under keys that name the returnee's chat.
        assert {t.split(": ", 1)[1] for t in await redis_traces(url)} >= {
            str(RETURNEE),
            MARKERS["half_typed"],
        }
        if way == "command line":
            before = await before_erasure(bot, thread)
            # The bot's own clearing waits behind the chat's deletions, held here: what is
            # gone from Redis now, the command line removed itself.
            bot.api.pause("deleteMessages")
            monkeypatch.setenv("REDIS_URL", url)
            code = await asyncio.to_thread(
                run_cli, monkeypatch, sqlite_url, "erase", "--case", CASE, "--yes"
            )
            assert code == 0
            assert await redis_traces(url) == set()
            bot.api.resume()
            bot.app.sender.wake()
        else:
            note = await request_erasure(bot)
            before = await before_erasure(bot, thread)
            await press(bot, 111, note, erase_data(bot, note))
        await assert_erased(bot, before, caplog, "".join(capfd.readouterr()))
        assert await redis_traces(url) == set()
    finally:
        await bot.stop()


# ---- the command line's confirmation ------------------------------------------------------


async def _case_count(database_url: str) -> tuple[int, int]:
    engine = create_engine(database_url)
    async with create_sessionmaker(engine)() as session:
        counts = (
            await session.scalar(select(func.count()).select_from(Case)),
            await session.scalar(select(func.count()).select_from(ErasedCase)),
        )
    await engine.dispose()
    return counts


async def _office_and_case_in(database_url: str) -> None:
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    async with create_sessionmaker(engine)() as session:
        await office_with_case(session, case_code=CASE)
    await engine.dispose()


def test_without_yes_the_code_must_be_typed_again_or_nothing_is_erased(
    database_url, monkeypatch, capsys
):
    monkeypatch.delenv("REDIS_URL", raising=False)
    asyncio.run(_office_and_case_in(database_url))
    for typed in ("RO-0007\n", "", "\n"):
        assert run_cli(monkeypatch, database_url, "erase", "--case", CASE, typed=typed) == 2
        assert "the code typed again does not match; nothing was erased" in capsys.readouterr().err
    assert asyncio.run(_case_count(database_url)) == (1, 0)
    assert run_cli(monkeypatch, database_url, "erase", "--case", "RO-9999", "--yes") == 2
    assert "case RO-9999 does not exist" in capsys.readouterr().err
    assert run_cli(monkeypatch, database_url, "erase", "--case", CASE, typed=f" {CASE}\n") == 0
    out, err = capsys.readouterr()
    assert "Type the case's code again" in err
    assert CASE not in out + err  # nothing printed names the case
    assert asyncio.run(_case_count(database_url)) == (0, 1)
    assert run_cli(monkeypatch, database_url, "erase", "--case", CASE, "--yes") == 2


def test_erasing_from_the_command_line_does_not_load_the_telegram_framework(tmp_path):
    import os
    import subprocess
    import sys

    from bot.paths import PROJECT_ROOT

    program = (
        "import sys\n"
        "from bot.cli import main\n"
        "main(['admin', 'office', 'add', '--code', 'RO', '--name', 'IOM RO', '--country', 'RO',"
        " '--timezone', 'Europe/Bucharest', '--languages', 'ro', '--group-chat-id', '-100123'])\n"
        f"main(['admin', 'case', 'add', '--office', 'RO', '--code', '{CASE}',"
        " '--language', 'ro'])\n"
        f"assert main(['admin', 'erase', '--case', '{CASE}', '--yes']) == 0\n"
        "print('aiogram loaded' if any(m.startswith('aiogram') for m in sys.modules) else 'lean')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "REDIS_"))}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'hw.db'}", PYTHONPATH=str(PROJECT_ROOT)
    )
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "lean"


# ---- the statistics -----------------------------------------------------------------------


async def test_the_documents_figures_count_erased_cases_as_before(session):
    """Eligible, applicants, returns, days to return, drop-outs and declines are the same after
    three of six cases are erased, for all time, a period and the office."""
    await offices.add_office(
        session,
        code="RO",
        name="IOM RO",
        country="RO",
        timezone="Europe/Bucharest",
        languages=["ro"],
        group_chat_id=GROUP,
    )
    lives = [
        # eligible, applied, returned, dropped (reason), declined (reason)
        (date(2026, 1, 5), date(2026, 1, 20), date(2026, 3, 1), None, None),
        (date(2026, 1, 6), date(2026, 2, 1), date(2026, 4, 15), None, None),
        (date(2026, 2, 1), date(2026, 2, 10), None, (date(2026, 3, 3), "changed_mind"), None),
        (date(2026, 2, 2), None, None, None, (date(2026, 2, 20), "fear_of_reprisals")),
        (date(2026, 3, 1), date(2026, 3, 2), date(2026, 5, 2), None, None),
        (date(2026, 4, 1), date(2026, 4, 3), None, (date(2026, 6, 1), "disappeared"), None),
    ]
    for number, (eligible, applied, back, dropped, declined) in enumerate(lives, start=1):
        case = await cases.add_case(
            session, office_code="RO", code=f"RO-{number:04d}", language="ro", programme="dk"
        )
        case.eligible_on, case.applied_on, case.returned_on = eligible, applied, back
        if dropped:
            case.dropped_on, case.drop_reason = dropped
        if declined:
            case.declined_on, case.decline_reason = declined
    await session.commit()
    periods = [(None, None), (date(2026, 2, 1), date(2026, 4, 30))]
    documents = ("eligible", "applicants", "returns", "days_to_return", "drop_outs", "declines")

    async def figures() -> list[tuple[object, ...]]:
        found = []
        for office in ("RO", None):
            for start, end in periods:
                f = await statistics.figures(session, office=office, start=start, end=end)
                found.append(tuple(getattr(f, name) for name in documents))
        return found

    before = await figures()
    assert before[0][:3] == (6, 5, 3)
    for code in ("RO-0001", "RO-0003", "RO-0004"):  # a return, a drop-out, a decline
        await erasure.erase(session, await get_case(session, code), actor=None, now=utcnow())
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(Case)) == 3
    assert await figures() == before


# ---- what Telegram refuses does not keep an erasure waiting -------------------------------


async def test_many_old_and_new_messages_a_blocked_returnee_and_a_topic_gone_already(running_bot):
    """180 messages: the 150 under two days old go first, 100 and 50, then the 30 older ones;
    a 429 on the first call is waited out; the returnee who blocked the bot cannot be told, and
    the topic deleted by hand is not missed. Nothing of theirs stays."""
    bot = running_bot
    now = utcnow()
    async with bot.session() as session:
        token = await office_with_case(session, case_code=CASE, counsellor_id=COUNSELLOR)
        joined = await invites.redeem(session, token=token, telegram_user_id=RETURNEE)
        joined.case.inbox_chat_id, joined.case.topic_id = GROUP, 777
        recent = list(range(5000, 5150))
        older = list(range(4000, 4030))
        session.add_all(
            SentMessage(chat_id=RETURNEE, message_id=m, sent_at=now - timedelta(hours=1))
            for m in recent
        )
        session.add_all(
            SentMessage(chat_id=RETURNEE, message_id=m, sent_at=now - timedelta(days=3))
            for m in older
        )
        await session.commit()
    bot.api.topics[GROUP] = {777: f"{CASE} · ro"}
    bot.api.deleted_topics.add((GROUP, 777))
    bot.api.blocked.add(RETURNEE)
    bot.api.fail_next(
        "deleteMessages", 429, "Too Many Requests: retry after 1", parameters={"retry_after": 1}
    )
    async with bot.session() as session:
        await erasure.erase(session, await get_case(session, CASE), actor=None, now=now)
        await session.commit()
    bot.app.sender.wake()

    async def done() -> bool:
        async with bot.session() as session:
            return not await session.scalar(
                select(func.count())
                .select_from(OutboxItem)
                .where(OutboxItem.status != OutboxStatus.SENT)
            )

    assert await eventually(done, timeout=15)
    calls = bot.api.calls_to("deleteMessages", chat_id=RETURNEE)
    assert [c.result for c in calls] == [None, True, True, True]  # the 429, then three calls
    assert [c["message_ids"] for c in calls[1:]] == [
        sorted(recent, reverse=True)[:100],
        sorted(recent, reverse=True)[100:],
        sorted(older, reverse=True),
    ]
    assert calls[0]["message_ids"] == calls[1]["message_ids"]
    assert [c.result for c in bot.api.calls_to("sendMessage", chat_id=RETURNEE)] == [None]
    assert [c.result for c in bot.api.calls_to("deleteForumTopic")] == [None]  # gone already
    assert bot.api.calls_to("sendMessage", chat_id=COUNSELLOR)
    assert await database_traces(bot, [str(RETURNEE), CASE]) == set()
    async with bot.session() as session:
        items = list(await session.scalars(select(OutboxItem)))
        assert len(items) == 3
        assert all(i.payload == {} and i.case_id is None for i in items)
        assert {i.chat_id for i in items} == {None, GROUP, COUNSELLOR}
