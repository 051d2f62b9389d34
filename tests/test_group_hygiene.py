"""Staff-group hygiene (issue 14): an office's inbox group that lacks what the bot needs is told
so, once per change; strangers and other bots joining it are pointed out by user id; a group
that is no office's inbox is left.

Through the real bot against the fake Bot API: getChat, getChatMember and leaveChat answered as
the specification describes them, membership changes delivered as my_chat_member and
chat_member updates.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.app import ALLOWED_UPDATES, App, create_app
from bot.handlers.group_hygiene import FIXED, FOREIGN_GROUP, HEADER, LACK_LINES, NEWCOMERS
from bot.intake.reading import read_update
from bot.services import offices, people
from bot.services.group_checks import (
    ChatKind,
    Lack,
    Membership,
    MemberStatus,
    Newcomer,
    Standing,
    Told,
    lacks,
)
from storage.models import FsmRecord, Person
from tests.conftest import RunningBot, make_settings
from tests.fakes.bot_api import BOT_USER, Call, FakeBotApi, administrator, member_in
from tests.world import office_with_case

GROUP = -1001234  # office RO's inbox (tests/world.py)
SECOND_INBOX = -1009876  # office RO's second inbox
FOREIGN = -1005555  # no office's
ANA = {"id": 111, "is_bot": False, "first_name": "Ana", "last_name": "Ionescu"}
STRANGER = {
    "id": 555,
    "is_bot": False,
    "first_name": "Nicolae",
    "last_name": "Strainu",
    "username": "nicu_s",
}
OTHER_BOT = {"id": 8000, "is_bot": True, "first_name": "SpyBot", "username": "spy_helper_bot"}
NAMES = ("Nicolae", "Strainu", "nicu_s", "SpyBot", "spy_helper_bot", "Ionescu")


async def started(api: FakeBotApi, database_url: str) -> RunningBot:
    """Office RO (groups GROUP and SECOND_INBOX, languages ro and en) with staff Ana, set up
    before the bot starts, so that the check at start sees it; returns once that check ended."""
    app = create_app(make_settings(api, database_url))
    await app.prepare_database()
    async with app.sessionmaker() as session:
        await office_with_case(session)
        await offices.update_office(session, "RO", add_inbox=SECOND_INBOX)
        await people.add_staff(session, office_code="RO", telegram_user_id=111, name="Ana")
        await session.commit()
    bot = RunningBot(app, api)
    await bot.start()
    await checked_at_start(app)
    return bot


async def checked_at_start(app: App) -> None:
    # On PostgreSQL the process leads (and checks) once it holds the leader's lock.
    await asyncio.wait_for(app.group_hygiene.checked.wait(), 20)


@pytest.fixture
async def office_bot(fake_api: FakeBotApi, database_url: str) -> AsyncIterator[RunningBot]:
    bot = await started(fake_api, database_url)
    yield bot
    await bot.stop()


def said_in(api: FakeBotApi, chat_id: int, after: int = 0) -> list[Call]:
    return [
        c
        for c in api.calls[after:]
        if c.method == "sendMessage" and c.get("chat_id") == chat_id and c.result is not None
    ]


def lacks_text(app: App, *missing: Lack, locale: str = "ro") -> str:
    lines = [app.i18n.gettext(HEADER, locale=locale)]
    lines += ["• " + app.i18n.gettext(LACK_LINES[lack], locale=locale) for lack in missing]
    return "\n".join(lines)


async def recheck_as_at_start(app: App) -> None:
    """What the leading process does when it (again) starts to lead."""
    await app.group_hygiene.stop()
    app.group_hygiene.start()
    await checked_at_start(app)


# ---- at start -------------------------------------------------------------------------------


async def test_missing_rights_are_told_once_and_not_again_at_the_next_start(
    fake_api: FakeBotApi, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake_api.set_bot_rights(GROUP, can_manage_topics=False, can_pin_messages=False)
    bot = await started(fake_api, database_url)
    try:
        told = said_in(fake_api, GROUP)
        assert [c["text"] for c in told] == [
            lacks_text(bot.app, Lack.MANAGE_TOPICS, Lack.PIN_MESSAGES)
        ]
        # In General: no topic.
        assert told[0].get("message_thread_id") is None
        # The second group has every right: nothing said there.
        assert said_in(fake_api, SECOND_INBOX) == []
        asked = len(fake_api.calls_to("getChatMember", chat_id=GROUP))

        await recheck_as_at_start(bot.app)
        assert len(fake_api.calls_to("getChatMember", chat_id=GROUP)) > asked  # checked again
        assert len(said_in(fake_api, GROUP)) == 1  # and nothing told: nothing changed
    finally:
        await bot.stop()
    assert "staff group -1001234: the bot lacks manage_topics, pin_messages" in caplog.text
    assert caplog.text.count("the bot lacks") == 1


async def test_a_new_process_tells_once_more_what_is_still_missing(
    fake_api: FakeBotApi, sqlite_url: str
) -> None:
    """What was told is kept in memory only (documented): a restarted process tells again."""
    fake_api.set_bot_rights(GROUP, can_delete_messages=False)
    first = await started(fake_api, sqlite_url)
    await first.stop()
    app = create_app(make_settings(fake_api, sqlite_url))
    second = RunningBot(app, fake_api)
    await second.start()
    await checked_at_start(app)
    await second.stop()
    assert [c["text"] for c in said_in(fake_api, GROUP)] == [
        lacks_text(app, Lack.DELETE_MESSAGES)
    ] * 2


async def test_a_group_without_topics_or_where_the_bot_is_no_admin_is_told_all_it_lacks(
    fake_api: FakeBotApi, sqlite_url: str
) -> None:
    fake_api.group_chats[GROUP] = {"is_forum": False}
    fake_api.members[(GROUP, BOT_USER["id"])] = member_in("member", BOT_USER)
    fake_api.group_chats[SECOND_INBOX] = {"type": "group", "title": "Old basic group"}
    bot = await started(fake_api, sqlite_url)
    await bot.stop()
    everything = (
        Lack.NOT_A_FORUM,
        Lack.NOT_ADMIN,
        Lack.MANAGE_TOPICS,
        Lack.DELETE_MESSAGES,
        Lack.PIN_MESSAGES,
    )
    assert [c["text"] for c in said_in(fake_api, GROUP)] == [lacks_text(bot.app, *everything)]
    assert [c["text"] for c in said_in(fake_api, SECOND_INBOX)] == [
        lacks_text(bot.app, Lack.NOT_A_FORUM)
    ]


async def test_a_slow_telegram_does_not_hold_the_start(
    fake_api: FakeBotApi, sqlite_url: str
) -> None:
    fake_api.set_bot_rights(GROUP, can_pin_messages=False)
    fake_api.pause("getChat")
    app = create_app(make_settings(fake_api, sqlite_url))
    await app.prepare_database()
    async with app.sessionmaker() as session:
        await office_with_case(session)
        await session.commit()
    bot = RunningBot(app, fake_api)
    try:
        await bot.start()  # returns while the check waits for Telegram
        await fake_api.wait_for(lambda c: c.method == "getUpdates")
        assert fake_api.held == 1
        assert not app.group_hygiene.checked.is_set()
        fake_api.resume()
        await checked_at_start(app)
        assert [c["text"] for c in said_in(fake_api, GROUP)] == [lacks_text(app, Lack.PIN_MESSAGES)]
    finally:
        fake_api.resume()
        await bot.stop()


async def test_the_bot_asks_telegram_for_membership_updates(office_bot: RunningBot) -> None:
    """chat_member updates come only when asked for by name (polling and webhook alike)."""
    assert {"my_chat_member", "chat_member"} <= set(ALLOWED_UPDATES)
    poll = await office_bot.api.wait_for(lambda c: c.method == "getUpdates")
    assert {"my_chat_member", "chat_member"} <= set(poll["allowed_updates"])


# ---- the bot's own membership changes -----------------------------------------------------------


async def test_rights_fixed_then_lost_again_are_told_again(
    fake_api: FakeBotApi, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake_api.set_bot_rights(GROUP, can_delete_messages=False)
    bot = await started(fake_api, database_url)
    try:
        app = bot.app
        promoted = await fake_api.change_member(GROUP, administrator(BOT_USER), by=ANA)
        await fake_api.handled(promoted)
        # Delivered once more (a restart before it was confirmed): told once all the same.
        await fake_api.redeliver(promoted)
        demoted = await fake_api.change_member(GROUP, member_in("member", BOT_USER), by=ANA)
        await fake_api.handled(demoted)
        await recheck_as_at_start(app)  # the same rights: nothing more
        assert [c["text"] for c in said_in(fake_api, GROUP)] == [
            lacks_text(app, Lack.DELETE_MESSAGES),
            app.i18n.gettext(FIXED, locale="ro"),
            lacks_text(
                app, Lack.NOT_ADMIN, Lack.MANAGE_TOPICS, Lack.DELETE_MESSAGES, Lack.PIN_MESSAGES
            ),
        ]
        assert fake_api.calls_to("leaveChat") == []
    finally:
        await bot.stop()
    assert "staff group -1001234: the bot has everything it needs" in caplog.text
    for name in NAMES:
        assert name not in caplog.text


async def test_added_to_the_offices_group_the_bot_stays_and_says_what_it_lacks(
    fake_api: FakeBotApi, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The office was registered before the bot was in its group: at start nobody can be told
    (only the log); added, it stays; made an administrator, it says it has what it needs."""
    caplog.set_level(logging.INFO)
    fake_api.members[(GROUP, BOT_USER["id"])] = member_in("left", BOT_USER)
    bot = await started(fake_api, database_url)
    try:
        app = bot.app
        assert said_in(fake_api, GROUP) == []
        assert "staff group -1001234: the bot is not in it" in caplog.text
        added = await fake_api.change_member(GROUP, member_in("member", BOT_USER), by=ANA)
        await fake_api.handled(added)
        promoted = await fake_api.change_member(GROUP, administrator(BOT_USER), by=ANA)
        await fake_api.handled(promoted)
        assert [c["text"] for c in said_in(fake_api, GROUP)] == [
            lacks_text(
                app, Lack.NOT_ADMIN, Lack.MANAGE_TOPICS, Lack.DELETE_MESSAGES, Lack.PIN_MESSAGES
            ),
            app.i18n.gettext(FIXED, locale="ro"),
        ]
        assert fake_api.calls_to("leaveChat") == []
        # Removed from the group: only the log; added back lacking a right: told again.
        removed = await fake_api.change_member(GROUP, member_in("kicked", BOT_USER), by=ANA)
        await fake_api.handled(removed)
        back = await fake_api.change_member(
            GROUP, administrator(BOT_USER, can_pin_messages=False), by=ANA
        )
        await fake_api.handled(back)
        assert said_in(fake_api, GROUP)[-1]["text"] == lacks_text(app, Lack.PIN_MESSAGES)
        assert len(said_in(fake_api, GROUP)) == 3
        assert fake_api.calls_to("leaveChat") == []
    finally:
        await bot.stop()


async def test_added_to_a_foreign_group_the_bot_says_one_line_and_leaves(
    office_bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api = office_bot.api
    mark = len(api.calls)
    adder = STRANGER | {"language_code": "fr"}
    added = await api.change_member(
        FOREIGN, member_in("member", BOT_USER), by=adder, old=member_in("left", BOT_USER)
    )
    await api.handled(added)
    line = office_bot.app.i18n.gettext(FOREIGN_GROUP, locale="fr").format(chat_id=FOREIGN)
    assert [c["text"] for c in said_in(api, FOREIGN, mark)] == [line]
    left = [i for i, c in enumerate(api.calls) if c.method == "leaveChat"]
    assert [api.calls[i]["chat_id"] for i in left] == [FOREIGN]
    said = next(i for i, c in enumerate(api.calls) if c in said_in(api, FOREIGN, mark))
    assert said < left[0]  # said before leaving
    # Telegram tells the bot it left: nothing more happens.
    gone = await api.change_member(FOREIGN, member_in("left", BOT_USER), by=BOT_USER)
    await api.handled(gone)
    assert len(api.calls_to("leaveChat")) == 1
    assert len(said_in(api, FOREIGN, mark)) == 1
    assert "group -1005555 is no office's staff group" in caplog.text
    for name in NAMES:
        assert name not in caplog.text


async def test_a_basic_group_is_left_but_a_private_chat_or_a_channel_never(
    office_bot: RunningBot,
) -> None:
    api = office_bot.api
    basic = -4001
    api.group_chats[basic] = {"type": "group", "title": "Friends"}
    added = await api.change_member(
        basic, member_in("member", BOT_USER), by=ANA, old=member_in("left", BOT_USER)
    )
    await api.handled(added)
    channel = -1007777
    api.group_chats[channel] = {"type": "channel", "title": "News"}
    in_channel = await api.change_member(
        channel, administrator(BOT_USER), by=ANA, old=member_in("left", BOT_USER)
    )
    await api.handled(in_channel)
    # A private chat: the user blocks the bot, then unblocks it.
    for status in ("kicked", "member"):
        private = {
            "chat": {"id": 777, "type": "private", "first_name": "Dana"},
            "from": {"id": 777, "is_bot": False, "first_name": "Dana"},
            "date": 1,
            "old_chat_member": member_in("member" if status == "kicked" else "kicked", BOT_USER),
            "new_chat_member": member_in(status, BOT_USER),
        }
        await api.handled(await api.push_update("my_chat_member", private))
    assert [c["chat_id"] for c in api.calls_to("leaveChat")] == [basic]
    assert said_in(api, channel) == []
    assert said_in(api, 777) == []


# ---- others joining ------------------------------------------------------------------------------


async def test_a_stranger_and_another_bot_joining_are_reported_by_user_id_only(
    fake_api: FakeBotApi, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bot = await started(fake_api, database_url)
    try:
        app, api = bot.app, fake_api
        async with app.sessionmaker() as session:
            fsm_before = await session.scalar(select(func.count()).select_from(FsmRecord))
        mark = len(api.calls)
        # A stranger joins by a link; another bot is added by Ana; Ana herself joins.
        joins = [
            (member_in("member", STRANGER), STRANGER),
            (member_in("member", OTHER_BOT), ANA),
            (member_in("member", ANA), ANA),
        ]
        for new, by in joins:
            await api.handled(await api.change_member(GROUP, new, by=by))
        # The stranger is made an administrator, and leaves: no join, nothing said.
        for new in (administrator(STRANGER), member_in("left", STRANGER)):
            await api.handled(await api.change_member(GROUP, new, by=ANA))
        office_name = "IOM RO"
        assert [c["text"] for c in said_in(api, GROUP, mark)] == [
            app.i18n.gettext(NEWCOMERS[Newcomer.NOT_STAFF], locale="ro").format(
                office=office_name, user_id=555
            ),
            app.i18n.gettext(NEWCOMERS[Newcomer.BOT], locale="ro").format(user_id=8000),
        ]
        assert all(c.get("message_thread_id") is None for c in said_in(api, GROUP, mark))
        # Nothing of theirs reached Telegram again, the database or the log.
        sent = json.dumps([c.params for c in api.calls[mark:]], ensure_ascii=False)
        for name in NAMES:
            assert name not in sent
        async with app.sessionmaker() as session:
            assert (
                await session.scalar(select(Person).where(Person.telegram_user_id == 555)) is None
            )
            fsm_after = await session.scalar(select(func.count()).select_from(FsmRecord))
        assert fsm_after == fsm_before
    finally:
        await bot.stop()
    assert "staff group -1001234: a member who is not registered staff of the office joined" in (
        caplog.text
    )
    assert "staff group -1001234: another bot joined" in caplog.text
    for private in (*NAMES, "555", "8000"):
        assert private not in caplog.text


async def test_a_returnee_or_another_offices_staff_joining_is_no_staff_here(
    office_bot: RunningBot,
) -> None:
    api = office_bot.api
    async with office_bot.session() as session:
        await office_with_case(session, office="BG", languages=("bg",), counsellor_id=None)
        await people.add_staff(session, office_code="BG", telegram_user_id=333, name="Boris")
        await session.commit()
    mark = len(api.calls)
    boris = {"id": 333, "is_bot": False, "first_name": "Boris"}
    await api.handled(await api.change_member(GROUP, member_in("member", boris), by=boris))
    # The same join delivered again is reported once.
    update_id = await api.change_member(SECOND_INBOX, member_in("member", STRANGER), by=STRANGER)
    await api.handled(update_id)
    await api.redeliver(update_id)
    assert [(c["chat_id"], "user id 333" in c["text"]) for c in said_in(api, GROUP, mark)] == [
        (GROUP, True)
    ]
    assert len(said_in(api, SECOND_INBOX, mark)) == 1


async def test_joins_in_a_group_that_is_no_inbox_are_none_of_the_bots_business(
    office_bot: RunningBot,
) -> None:
    api = office_bot.api
    mark = len(api.calls)
    await api.handled(await api.change_member(FOREIGN, member_in("member", STRANGER), by=STRANGER))
    assert [c for c in api.calls[mark:] if c.method not in ("getUpdates",)] == []


# ---- reading Telegram's words --------------------------------------------------------------------


def test_an_administrator_without_a_right_aiogram_requires_is_still_read(
    office_bot: RunningBot,
) -> None:
    """The specification's ChatMemberAdministrator has no can_send_welcome_messages, which
    aiogram 3.31 requires: a promotion must not be skipped for it."""
    raw = {
        "update_id": 1,
        "my_chat_member": {
            "chat": {"id": GROUP, "type": "supergroup", "title": "x", "is_forum": True},
            "from": ANA,
            "date": 1,
            "old_chat_member": member_in("member", BOT_USER),
            "new_chat_member": administrator(BOT_USER, can_pin_messages=False),
        },
    }
    update = read_update(raw, office_bot.app.bot)
    assert update is not None
    assert update.my_chat_member is not None
    new = update.my_chat_member.new_chat_member
    assert new.status == "administrator"
    assert getattr(new, "can_send_welcome_messages", None) is False
    assert getattr(new, "can_pin_messages", None) is not True
    assert "can_send_welcome_messages" not in raw["my_chat_member"]["new_chat_member"]


# ---- the rules ---------------------------------------------------------------------------------


def admin(**rights: bool) -> Membership:
    granted = {"can_manage_topics": True, "can_delete_messages": True, "can_pin_messages": True}
    return Membership(MemberStatus.ADMINISTRATOR, **(granted | rights))


def test_what_a_group_lacks() -> None:
    forum = ChatKind.SUPERGROUP
    assert lacks(Standing(forum, True, admin())) == frozenset()
    assert lacks(Standing(forum, True, admin(can_pin_messages=False))) == {Lack.PIN_MESSAGES}
    assert lacks(Standing(forum, False, admin())) == {Lack.NOT_A_FORUM}
    assert lacks(Standing(ChatKind.GROUP, False, admin())) == {Lack.NOT_A_FORUM}
    assert lacks(Standing(forum, True, Membership(MemberStatus.MEMBER))) == {
        Lack.NOT_ADMIN,
        Lack.MANAGE_TOPICS,
        Lack.DELETE_MESSAGES,
        Lack.PIN_MESSAGES,
    }
    restricted_in = Membership(MemberStatus.RESTRICTED, is_member=True)
    assert Lack.NOT_ADMIN in lacks(Standing(forum, True, restricted_in))
    for gone in (
        Membership(MemberStatus.LEFT),
        Membership(MemberStatus.KICKED),
        Membership(MemberStatus.RESTRICTED, is_member=False),
    ):
        assert lacks(Standing(forum, True, gone)) == {Lack.NOT_IN_GROUP}
    assert lacks(None) == {Lack.NOT_IN_GROUP}


lack_sets = st.frozensets(st.sampled_from(list(Lack)))


@given(st.lists(st.tuples(st.sampled_from([GROUP, SECOND_INBOX]), lack_sets), max_size=30))
def test_told_exactly_when_a_groups_lacks_change(seen: list[tuple[int, frozenset[Lack]]]) -> None:
    told = Told()
    last: dict[int, frozenset[Lack]] = {}
    for chat_id, missing in seen:
        change = told.change(chat_id, missing)
        # Told when different from what was last told; a first look lacking nothing is silent.
        assert (change is not None) == (missing != last.get(chat_id, frozenset()))
        if change is not None:
            assert change.missing == missing
            assert change.chat_id == chat_id
            assert change.fixed == (not missing)
        last[chat_id] = missing
