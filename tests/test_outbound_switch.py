"""The kill switch (issue 14): `pause-outbound` stops everything the outbox sends to private
chats in every process, while staff-group topics keep working; nothing is lost, and
`resume-outbound` sends what waited once each, in order. Audited by ids only."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.cli import main
from bot.delivery.texts.counsellors import event_text
from bot.paths import PROJECT_ROOT
from bot.services import cases, counsellor_news, offices, outbound, people
from bot.services.clock import utcnow
from bot.services.outbound import OUTBOUND_PAUSED, OutboundSwitch
from storage.db import create_engine, create_sessionmaker
from storage.migrate import upgrade_to_head
from storage.models import (
    AuditEvent,
    Destination,
    KnowledgeMode,
    OutboxItem,
    OutboxStatus,
    Person,
    Switch,
)
from tests.conftest import RunningBot, make_settings
from tests.test_inbox import GROUP, case_row, joined_returnee, relayed, staff_ana
from tests.world import office_with_case

RETURNEE, COUNSELLOR = 501, 222
PRIVATE = (RETURNEE, COUNSELLOR)


def to_private(bot: RunningBot, after: int) -> list[tuple[int, str]]:
    """(chat, text) of every call after `after` that posts into a private chat."""
    return [
        (c.get("chat_id"), c.get("text") or c.get("caption") or c.method)
        for c in bot.api.calls[after:]
        if c.get("chat_id") in PRIVATE and c.method != "answerCallbackQuery"
    ]


async def set_switch(bot: RunningBot, paused: bool) -> outbound.Turned:
    async with bot.session() as session:
        turn = outbound.pause if paused else outbound.resume
        turned = await turn(session, utcnow())
        await session.commit()
    return turned


@pytest.fixture
async def office(fake_api, sqlite_url):
    """Office RO with staff Ana, returnee 501 who agreed, and counsellor Mette (222) who gets
    events; automatic programme answers off, so every private message comes from the outbox."""
    # The switch is read afresh at every round here; the default caches it for 3 seconds.
    settings = make_settings(fake_api, sqlite_url, outbound_switch_seconds=0)
    bot = RunningBot(create_app(settings), fake_api)
    await bot.start()
    async with bot.session() as session:
        await office_with_case(session)
        await people.add_staff(session, office_code="RO", telegram_user_id=111, name="Ana")
        await offices.update_office(session, "RO", knowledge_mode=KnowledgeMode.OFF)
        mette = await session.scalar(select(Person).where(Person.telegram_user_id == COUNSELLOR))
        counsellor_news.set_events(mette, True)
        await session.commit()
    await joined_returnee(bot)
    yield bot
    await bot.stop()


async def test_paused_private_chats_get_nothing_and_after_resume_everything_once_in_order(office):
    bot, api = office, office.api
    maria, ana = bot.user(RETURNEE), staff_ana(bot)
    await maria.send("Hello")
    await relayed(api, "copyMessage", GROUP)
    thread = (await case_row(bot)).topic_id
    await bot.settled()

    turned = await set_switch(bot, paused=True)
    assert (turned.changed, turned.paused, turned.waiting) == (True, True, 0)
    mark = len(api.calls)
    # Staff answer twice (the first is also the office's first contact: an event for Mette),
    # and the case's arrival is confirmed (another event).
    await ana.send("First answer", group=GROUP, topic=thread)
    await ana.send("Second answer", group=GROUP, topic=thread)
    async with bot.session() as session:
        case = await cases.get_case(session, "RO-0007")
        assert await counsellor_news.event(session, case, "arrived") == 1
        await session.commit()
    bot.app.sender.wake()
    # The office keeps working: what the returnee writes still reaches the topic.
    said = await maria.send("Is anyone there?")
    copy = await relayed(api, "copyMessage", GROUP, mark)
    assert copy["message_id"] == said["message_id"]
    await bot.settled()
    assert to_private(bot, mark) == []
    async with bot.session() as session:
        waiting = await session.scalar(
            select(func.count())
            .select_from(OutboxItem)
            .where(
                OutboxItem.status == OutboxStatus.PENDING,
                OutboxItem.destination == Destination.PRIVATE,
            )
        )
    assert waiting == 4  # two answers, two events: kept, not failed

    turned = await set_switch(bot, paused=False)
    assert (turned.changed, turned.paused, turned.waiting) == (True, False, 4)
    bot.app.sender.wake()
    await relayed(api, "sendMessage", RETURNEE, mark, text="Second answer\n\n— IOM RO")
    await relayed(api, "sendMessage", COUNSELLOR, mark)
    await bot.settled()
    i18n = bot.app.i18n
    assert [text for chat, text in to_private(bot, mark) if chat == RETURNEE] == [
        "First answer\n\n— IOM RO",
        "Second answer\n\n— IOM RO",
    ]
    assert [text for chat, text in to_private(bot, mark) if chat == COUNSELLOR] == [
        event_text(i18n, "da", "RO-0007", "first_contact"),
        event_text(i18n, "da", "RO-0007", "arrived"),
    ]
    async with bot.session() as session:
        actions = [
            (e.action, e.case_id, e.actor_person_id)
            for e in await session.scalars(
                select(AuditEvent).where(AuditEvent.action.like("outbound.%"))
            )
        ]
    assert actions == [("outbound.paused", None, None), ("outbound.resumed", None, None)]


async def test_a_pause_while_messages_wait_keeps_them_and_the_log_has_one_line_without_words(
    office, caplog
):
    bot, api = office, office.api
    maria, ana = bot.user(RETURNEE), staff_ana(bot)
    await maria.send("Hello")
    await relayed(api, "copyMessage", GROUP)
    thread = (await case_row(bot)).topic_id
    await bot.settled()
    caplog.set_level("INFO")
    await set_switch(bot, paused=True)
    mark = len(api.calls)
    await ana.send("A private matter: the address is Strada Lunga 5", group=GROUP, topic=thread)
    await bot.settled()
    assert to_private(bot, mark) == []
    await set_switch(bot, paused=False)
    bot.app.sender.wake()
    await relayed(api, "sendMessage", RETURNEE, mark)
    await bot.settled()
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.services.outbound"]
    assert lines == [
        "outbound to private chats paused: their messages wait",
        "outbound to private chats resumed: what waited goes now",
    ]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Strada" not in logged


async def test_each_process_sees_the_switch_within_its_cache_time(database_url):
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    sessionmaker = create_sessionmaker(engine)
    moment = [100.0]
    switch = OutboundSwitch(sessionmaker, cache_seconds=3.0, clock=lambda: moment[0])
    assert await switch.paused() is False
    async with sessionmaker() as session:
        await outbound.pause(session, utcnow())
        await session.commit()
    moment[0] += 2.9
    assert await switch.paused() is False  # still the answer read 2.9 seconds ago
    moment[0] += 0.1
    assert await switch.paused() is True
    async with sessionmaker() as session:
        await outbound.resume(session, utcnow())
        await session.commit()
    moment[0] += 3.0
    assert await switch.paused() is False
    await engine.dispose()


@pytest.fixture
def cli(database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("BOT_USERNAME", "homeward_test_bot")
    monkeypatch.delenv("REDIS_URL", raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def switch_and_audit(database_url: str) -> tuple[bool | None, list[str]]:
    async def read() -> tuple[bool | None, list[str]]:
        engine = create_engine(database_url)
        async with create_sessionmaker(engine)() as session:
            on = await session.scalar(select(Switch.on).where(Switch.name == OUTBOUND_PAUSED))
            actions = list(
                await session.scalars(
                    select(AuditEvent.action)
                    .where(AuditEvent.action.like("outbound.%"))
                    .order_by(AuditEvent.id)
                )
            )
        await engine.dispose()
        return on, actions

    return asyncio.run(read())


def test_the_command_line_pauses_and_resumes(cli, database_url):
    code, out, _ = cli("admin", "pause-outbound")
    assert code == 0
    assert out.startswith("outbound to private chats paused: 0 messages wait")
    assert switch_and_audit(database_url) == (True, ["outbound.paused"])
    code, out, _ = cli("admin", "pause-outbound")
    assert code == 0
    assert "was paused already" in out
    assert switch_and_audit(database_url) == (True, ["outbound.paused"])  # audited once
    code, out, _ = cli("admin", "resume-outbound")
    assert code == 0
    assert out.strip() == "outbound to private chats resumed: 0 waiting messages go now"
    assert switch_and_audit(database_url) == (False, ["outbound.paused", "outbound.resumed"])
    code, out, _ = cli("admin", "resume-outbound")
    assert (code, "was not paused" in out) == (0, True)
    assert switch_and_audit(database_url)[1] == ["outbound.paused", "outbound.resumed"]


def test_the_switch_commands_do_not_load_the_telegram_framework(tmp_path):
    program = (
        "import sys\n"
        "from bot.cli import main\n"
        "main(['admin', 'office', 'add', '--code', 'RO', '--name', 'IOM', '--country', 'RO',"
        " '--timezone', 'Europe/Bucharest', '--languages', 'ro'])\n"
        "main(['admin', 'case', 'add', '--office', 'RO', '--code', 'RO-0001',"
        " '--language', 'ro'])\n"
        "main(['admin', 'pause-outbound'])\n"
        "main(['admin', 'resume-outbound'])\n"
        f"main(['admin', 'export', '--case', 'RO-0001', '--out', {str(tmp_path / 'e.json')!r}])\n"
        "print('aiogram loaded' if any(m.startswith('aiogram') for m in sys.modules) else 'lean')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'hw.db'}", PYTHONPATH=str(PROJECT_ROOT)
    )
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "lean"
