"""Issue 13, item 4: a text ending in invisible characters is a message, not a button press.

aiogram-dialog marks reply-keyboard buttons with these characters and took any text ending in two
or more of them for a press, so it was never passed on. Persian, Urdu, Pashto and Arabic typing
produces them (ZWNJ above all)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram_dialog import Dialog
from aiogram_dialog.widgets.markup.reply_keyboard import ReplyKeyboardFactory
from sqlalchemy import select

from bot.app import create_app
from bot.services import people
from dialogs import dialogs_router
from storage.models import Relay
from tests.conftest import RunningBot, make_settings
from tests.fakes.bot_api import FakeBotApi
from tests.test_inbox import GROUP, eventually, first_topic, joined_returnee, relayed, staff_ana
from tests.world import office_with_case

# Every character aiogram-dialog uses to mark its reply-keyboard buttons.
INVISIBLE = [
    "\u200c",  # zero width non-joiner, in Persian, Urdu and Pashto words
    "\u200d",  # zero width joiner
    "\u2060",
    "\u2061",
    "\u2062",
    "\u2063",
    "\u2064",
    "\u00ad",  # soft hyphen
    *(chr(code) for code in range(0x1D173, 0x1D17B)),
]
TEXTS = [f"می‌خواهم بدانم {n}{mark}{mark}" for n, mark in enumerate(INVISIBLE)]


@pytest.fixture
async def roomy_inbox(fake_api: FakeBotApi, sqlite_url: str) -> AsyncIterator[RunningBot]:
    """The inbox of test_inbox, with room to send many messages at once to one chat."""
    settings = make_settings(
        fake_api, sqlite_url, send_group_per_minute=1000, send_private_burst=100
    )
    bot = RunningBot(create_app(settings), fake_api)
    await bot.start()
    async with bot.session() as session:
        await office_with_case(session)
        await people.add_staff(session, office_code="RO", telegram_user_id=111, name="Ana")
        await session.commit()
    await joined_returnee(bot)
    yield bot
    await bot.stop()


async def test_texts_ending_in_each_invisible_character_reach_the_topic(
    roomy_inbox: RunningBot,
) -> None:
    maria = roomy_inbox.user(501, language_code="fa")
    sent = [await maria.send(text) for text in TEXTS]

    async def relayed_sources() -> list[int] | None:
        async with roomy_inbox.session() as session:
            rows = list(await session.scalars(select(Relay.source_message_id)))
        return rows if len(rows) >= len(sent) else None

    assert await eventually(relayed_sources, timeout=15) == [m["message_id"] for m in sent]
    in_topic = str(roomy_inbox.api.chats[GROUP].messages)
    # Each text as written, invisible characters and all (combined or copied).
    assert all(repr(text)[1:-1] in in_topic for text in TEXTS)


async def test_staff_answers_ending_in_each_invisible_character_reach_the_returnee(
    roomy_inbox: RunningBot,
) -> None:
    thread = await first_topic(roomy_inbox)
    ana = staff_ana(roomy_inbox)
    mark = len(roomy_inbox.api.calls)
    for text in TEXTS:
        await ana.send(text, group=GROUP, topic=thread)
    for text in TEXTS:
        await relayed(roomy_inbox.api, "sendMessage", 501, mark, text=f"{text}\n\n— IOM RO")


async def test_a_counsellors_texts_ending_in_each_invisible_character_reach_the_topic(
    roomy_inbox: RunningBot,
) -> None:
    thread = await first_topic(roomy_inbox)
    mette = roomy_inbox.user(
        222, first_name="Mette-Marie", last_name="Hansen", username="mette_cmm"
    )
    mark = len(roomy_inbox.api.calls)
    for text in TEXTS:
        await mette.send(text)
    header = roomy_inbox.app.i18n.gettext(
        "✉️ From the counsellor {name} ({organisation}):", locale="ro"
    ).format(name="Mette", organisation="CMM")
    for text in TEXTS:
        await relayed(
            roomy_inbox.api,
            "sendMessage",
            GROUP,
            mark,
            text=f"{header}\n{text}",
            message_thread_id=thread,
        )


def test_no_dialog_shows_a_reply_keyboard() -> None:
    """What makes "no text is a press" right (bot/middlewares/reply_press.py): a dialog with a
    reply keyboard needs its buttons known to the guard."""
    dialogs = [router for router in dialogs_router().sub_routers if isinstance(router, Dialog)]
    assert dialogs
    for dialog in dialogs:
        for state, window in dialog.windows.items():
            factory = getattr(window, "markup_factory", None)
            assert not isinstance(factory, ReplyKeyboardFactory), state
