"""Check-ins asked by a real bot process killed with SIGKILL while it asks them: once in the
middle of the sweep's batches (Telegram not answering), once in the middle of sending. The
process after them asks every due check-in exactly once, and Telegram gets every one's message;
twice at most for a message in flight at a kill (bot/delivery/sender.py: an item Telegram took
but the outbox did not record is sent once more)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.delivery.texts.checkins import CHECKIN_NEWS
from bot.i18n import create_i18n
from bot.services import cases, checkins, invites, offices
from bot.services.consent import give_consent
from bot.telegram.callbacks import CheckInPress
from storage.db import create_engine, create_sessionmaker
from storage.migrate import upgrade_to_head
from storage.models import (
    CheckIn,
    CheckInStatus,
    Destination,
    Direction,
    OutboxItem,
    OutboxKind,
    OutboxStatus,
)
from tests.fakes.bot_api import FakeBotApi
from tests.test_intake_process import Output
from tests.test_process import bot_env, start_bot

RETURNEES = 100  # 500 check-ins: five of the sweep's batches
FIRST_USER = 700_000
WAIT = 60.0  # the longest any one wait below may take
# Deliveries one process has in flight at most (bot/app.py: the sender's max_in_flight).
IN_FLIGHT = Settings.model_fields["update_concurrency"].default


async def seed(url: str) -> None:
    """Office RO with cases that returned long ago, each with a returnee who joined, reads
    English and agreed: every check-in of every case is due now."""
    engine = create_engine(url)
    await upgrade_to_head(engine)
    returned = date.today() - timedelta(days=400)  # month 9 was months ago
    async with create_sessionmaker(engine)() as session:
        await offices.add_office(
            session,
            code="RO",
            name="IOM RO",
            country="RO",
            timezone="Europe/Bucharest",
            languages=["ro", "en"],
            group_chat_id=-1001234,
        )
        for n in range(RETURNEES):
            code = f"RO-{1000 + n:04d}"
            await cases.add_case(
                session, office_code="RO", code=code, language="en", return_date=returned
            )
            issued = await invites.invite_returnee(session, case_code=code, ttl_days=1)
            joined = await invites.redeem(
                session, token=issued.token, telegram_user_id=FIRST_USER + n
            )
            assert joined.person is not None
            assert joined.case is not None
            joined.person.language = "en"
            give_consent(session, joined.case, joined.person, language="en")
        await session.commit()
    await engine.dispose()


async def count(engine: AsyncEngine, model: type, *where: ColumnElement[bool]) -> int:
    async with create_sessionmaker(engine)() as session:
        found = await session.scalar(select(func.count()).select_from(model).where(*where))
        return int(found or 0)


def sends(api: FakeBotApi, text: str) -> dict[int, list[float]]:
    """When Telegram got each check-in's message (the check-in named by its button)."""
    found: dict[int, list[float]] = defaultdict(list)
    for call in api.calls_to("sendMessage", text=text):
        [[button]] = call["reply_markup"]["inline_keyboard"]
        found[CheckInPress.unpack(button["callback_data"]).check_in].append(call.at)
    return found


async def until(what: str, ready: Callable[[], Awaitable[bool] | bool]) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        answer = ready()
        if answer if isinstance(answer, bool) else await answer:
            return
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.02)


async def kill(bot: Output, kills: list[float]) -> str:
    kills.append(time.monotonic())
    bot.process.kill()
    await bot.process.wait()
    await asyncio.wait_for(bot._task, 5)
    return "".join(bot.lines)


async def test_sigkill_in_the_middle_of_check_ins_loses_none_and_repeats_none(
    fake_api: FakeBotApi, tmp_path: Path, database_url: str
) -> None:
    api, url = fake_api, database_url
    started = time.monotonic()
    await seed(url)
    measured: dict[str, object] = {"seed_s": round(time.monotonic() - started, 1)}
    total = RETURNEES * len(checkins.MONTHS)
    text = create_i18n("en").gettext(CHECKIN_NEWS["checkin"], locale="en")
    # Faster than Telegram's 30 a second overall (the fake does not count), so that the test
    # takes seconds; each private chat keeps its own limit.
    env = bot_env(api, url, SEND_OVERALL_PER_SECOND="1000")
    env["SWEEP_SECONDS"] = "1"  # the clock on (bot_env turns it off)
    engine = create_engine(url)
    asked = CheckIn.status == CheckInStatus.ASKED
    kills: list[float] = []
    restarts: list[float] = []
    output = ""
    try:
        assert await count(engine, CheckIn, CheckIn.status == CheckInStatus.SCHEDULED) == total
        assert await count(engine, OutboxItem) == 0

        # 1. Killed once the sweep's first batch is committed, the rest still to claim; every
        # send waits for an answer meanwhile.
        api.pause("sendMessage")
        bot = Output(await start_bot("run", env, tmp_path))
        try:
            await until("a batch asked", lambda: _more(engine, asked))
            output += await kill(bot, kills)
        finally:
            if bot.process.returncode is None:
                bot.process.kill()
        measured["1st_kill_s"] = round(kills[-1] - started, 1)
        measured["asked_at_1st_kill"] = first = await count(engine, CheckIn, asked)
        # A batch takes far longer than a look at the table: the kill came mid-sweep.
        assert 0 < first < total
        measured["held_at_1st_kill"] = api.held
        api.resume()  # what was in flight reaches Telegram after all

        # 2. Killed in the middle of sending: Telegram takes a hundred, then stops answering.
        restarts.append(time.monotonic())
        bot = Output(await start_bot("run", env, tmp_path))
        try:
            await until("a hundred sent", lambda: len(sends(api, text)) >= 100)
            api.pause("sendMessage")
            await until("a send in flight", lambda: api.held > 0)
            output += await kill(bot, kills)
        finally:
            if bot.process.returncode is None:
                bot.process.kill()
        measured["2nd_kill_s"] = round(kills[-1] - started, 1)
        measured["asked_at_2nd_kill"] = await count(engine, CheckIn, asked)
        measured["sent_at_2nd_kill"] = sent = len(sends(api, text))
        assert 100 <= sent < total
        measured["held_at_2nd_kill"] = api.held
        api.resume()

        # 3. The next process finishes the work.
        restarts.append(time.monotonic())
        bot = Output(await start_bot("run", env, tmp_path))
        try:
            await until("every check-in's message sent", lambda: len(sends(api, text)) == total)
            await until(
                "every message recorded as sent",
                lambda: _equal(engine, total, OutboxItem.status == OutboxStatus.SENT),
            )
            measured["all_sent_s"] = round(time.monotonic() - started, 1)
        finally:
            output += await bot.stop()
        assert bot.process.returncode == 0, output
        assert "Traceback" not in output

        # Every due check-in was asked exactly once: asked, with one message queued for it, to
        # its returnee's private chat.
        assert await count(engine, CheckIn, asked) == total
        news = (
            OutboxItem.kind == OutboxKind.NEWS,
            OutboxItem.destination == Destination.PRIVATE,
            OutboxItem.direction == Direction.TO_RETURNEE,
        )
        assert await count(engine, OutboxItem, *news) == total
        assert await count(engine, OutboxItem) == total
        async with create_sessionmaker(engine)() as session:
            ids = set(await session.scalars(select(CheckIn.id)))
            per_chat = dict(
                (
                    await session.execute(
                        select(OutboxItem.chat_id, func.count()).group_by(OutboxItem.chat_id)
                    )
                ).all()
            )
        assert per_chat == {FIRST_USER + n: len(checkins.MONTHS) for n in range(RETURNEES)}

        # Every one reached its returnee's chat, protected from forwarding.
        got = sends(api, text)
        assert set(got) == ids
        calls = api.calls_to("sendMessage")
        assert all(c.get("protect_content") is True for c in calls)
        assert {int(c["chat_id"]) for c in calls} == set(per_chat)
        chats_got: dict[int, int] = defaultdict(int)
        for call in calls:
            chats_got[int(call["chat_id"])] += 1
        assert all(n >= len(checkins.MONTHS) for n in chats_got.values())
        # A message sent twice was in flight at a kill: first sent before it, again after it,
        # and a process has at most IN_FLIGHT deliveries in flight.
        twice = {check_in: at for check_in, at in got.items() if len(at) > 1}
        measured["duplicates"] = len(twice)
        assert all(len(at) == 2 for at in twice.values()), "a check-in sent three times"
        # Telegram takes a killed process's last calls a moment after the kill: the line
        # between two processes is when the next one was started.
        for k, line in enumerate(restarts):
            before = restarts[k - 1] if k else 0.0
            at_this_kill = [at for at in twice.values() if before < at[0] < line < at[1]]
            assert len(at_this_kill) <= IN_FLIGHT
        assert all(any(at[0] < line < at[1] for line in restarts) for at in twice.values()), (
            f"a check-in sent twice by one process: restarts {restarts}, sent {twice}"
        )
        assert not api.violations
    finally:
        await engine.dispose()
        measured["total_s"] = round(time.monotonic() - started, 1)
        print(f"\n{url.split('+')[0]}: {measured}")


async def _more(engine: AsyncEngine, where: ColumnElement[bool]) -> bool:
    return await count(engine, CheckIn, where) > 0


async def _equal(engine: AsyncEngine, total: int, where: ColumnElement[bool]) -> bool:
    return await count(engine, OutboxItem, where) == total
