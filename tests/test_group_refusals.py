"""One refusal from the staff group loses the returnee's message (issue 13, item 6).

A group that refuses the bot itself (removed: 403; lacking rights: 400) holds its messages and is
tried again with a growing wait; programme managers are told once; everything arrives, in order
and once, when the group works again. Only a refusal of the message itself fails it, and its
author is told.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.delivery.refusals import GroupRefusal
from bot.delivery.texts import MESSAGE_REFUSED, group_refused_text, notice_text
from bot.services import cases, offices, people
from storage.models import OutboxItem, OutboxStatus, Relay
from tests.conftest import RunningBot, make_settings
from tests.fakes.bot_api import Call, FakeBotApi
from tests.fakes.telegram_user import CONTENT
from tests.test_inbox import GROUP, eventually, joined_returnee, relayed, staff_ana
from tests.world import office_with_case

MANAGERS = {901: "ro", 902: None}  # Telegram id: language (None: the default, English)
KICKED = "Forbidden: bot was kicked from the supergroup chat"
NO_TOPIC_RIGHTS = "Bad Request: not enough rights to create a topic"


@pytest.fixture
async def office(fake_api: FakeBotApi, database_url: str) -> AsyncIterator[RunningBot]:
    """Office RO (group GROUP): cases RO-0007 (returnee 501, counsellor 222) and RO-0008
    (returnee 502), staff Ana, two programme managers; on SQLite and PostgreSQL. A refusing
    group is tried again after 0.2 s, doubling up to 0.8 s."""
    settings = make_settings(
        fake_api, database_url, send_group_retry_seconds=0.2, send_group_retry_max_seconds=0.8
    )
    bot = RunningBot(create_app(settings), fake_api)
    await bot.start()
    async with bot.session() as session:
        await office_with_case(session)
        await cases.add_case(session, office_code="RO", code="RO-0008", language="ro")
        await people.add_staff(session, office_code="RO", telegram_user_id=111, name="Ana")
        for user_id, language in MANAGERS.items():
            await people.add_admin(
                session, telegram_user_id=user_id, name=f"Manager {user_id}", language=language
            )
        await session.commit()
    await joined_returnee(bot, 501, "RO-0007")
    await joined_returnee(bot, 502, "RO-0008")
    yield bot
    await bot.stop()


def refused(call: Call) -> bool:
    return call.method != "getUpdates" and call.result is None


def delivered_copies(api: FakeBotApi, user_id: int, after: int = 0) -> list[int]:
    return [
        c["message_id"]
        for c in api.calls[after:]
        if c.method == "copyMessage" and c.get("from_chat_id") == user_id and not refused(c)
    ]


async def outbox(bot: RunningBot) -> list[OutboxItem]:
    async with bot.session() as session:
        return list(await session.scalars(select(OutboxItem).order_by(OutboxItem.id)))


async def a_group_outage_loses_nothing(
    bot: RunningBot,
    caplog: pytest.LogCaptureFixture,
    status: int,
    description: str,
    refusal: GroupRefusal,
) -> list[Call]:
    """Both returnees write while the group refuses; it is fixed; everything arrives.

    Returns the calls made to the group during the outage."""
    api = bot.api
    caplog.set_level(logging.INFO)
    api.refuse_chat(GROUP, status, description)
    mark = len(api.calls)
    sent: dict[int, list[int]] = {501: [], 502: []}
    for n in range(3):
        for user_id in sent:
            # Photos, so that nothing is combined: each message is one copy.
            message = await bot.user(user_id).send(
                content=CONTENT["photo"] | {"caption": f"receipt {n}"}
            )
            sent[user_id].append(message["message_id"])
    # Refused, and tried again after growing waits: not given up.
    await api.wait_for(
        lambda _: len([c for c in api.calls[mark:] if c.get("chat_id") == GROUP]) >= 5,
        after=mark,
    )
    # Posts only: the leader's check of its staff groups at start (getChat, getChatMember,
    # bot/handlers/group_hygiene.py) may fall in the outage too, and is no delivery.
    during = [
        c for c in api.calls[mark:] if c.get("chat_id") == GROUP and not c.method.startswith("get")
    ]
    assert all(refused(c) for c in during)
    told = {user_id: await relayed(api, "sendMessage", user_id, mark) for user_id in MANAGERS}
    # Nothing failed, and no try counted against any message.
    waiting = [i for i in await outbox(bot) if i.source_message_id in sent[501] + sent[502]]
    assert len(waiting) == 6
    assert {(item.status, item.attempts) for item in waiting} == {(OutboxStatus.PENDING, 0)}

    api.lift(GROUP)
    for user_id, ids in sent.items():
        await api.wait_for(
            lambda _, user_id=user_id, ids=ids: (
                len(delivered_copies(api, user_id, mark)) >= len(ids)
            ),
            after=mark,
            timeout=15,
        )
        # Every message, in the order it was written, exactly once.
        assert delivered_copies(api, user_id, mark) == ids

    async def all_sent() -> bool:
        return all(item.status is OutboxStatus.SENT for item in await outbox(bot))

    assert await eventually(all_sent)
    written = sent[501] + sent[502]
    async with bot.session() as session:
        relayed_ids = list(await session.scalars(select(Relay.source_message_id)))
    assert sorted(i for i in relayed_ids if i in written) == sorted(written)

    # Each manager was told once, in their language, which office and what to fix.
    async with bot.session() as session:
        ro = await offices.get_office(session, "RO")
    for user_id, language in MANAGERS.items():
        to_manager = [c for c in api.calls if c.get("chat_id") == user_id]
        assert to_manager == [told[user_id]]
        expected = group_refused_text(bot.app.i18n, language or "en", refusal, ro, GROUP)
        assert told[user_id]["text"] == expected
        assert "IOM RO (RO)" in expected  # the office, never a case or a person
        assert not {"RO-0007", "RO-0008", "Ana", "Mette"} & set(expected.replace(",", " ").split())
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and str(GROUP) in r.getMessage()
    ]
    assert len(warnings) == 1
    assert "receipt" not in caplog.text
    return during


async def test_a_group_that_removed_the_bot_holds_its_messages_until_it_is_back(office, caplog):
    api = office.api
    for user_id in (501, 502):  # both cases have their topics already
        await office.user(user_id).send(content=CONTENT["photo"])
        await relayed(api, "copyMessage", GROUP, from_chat_id=user_id)
    during = await a_group_outage_loses_nothing(office, caplog, 403, KICKED, GroupRefusal.REMOVED)
    assert {c.method for c in during} == {"copyMessage"}
    assert len(api.calls_to("createForumTopic")) == 2  # no topic made anew


async def test_a_group_without_the_right_to_create_topics_gets_every_message_once_fixed(
    office, caplog
):
    during = await a_group_outage_loses_nothing(
        office, caplog, 400, NO_TOPIC_RIGHTS, GroupRefusal.RIGHTS
    )
    assert {c.method for c in during} == {"createForumTopic"}
    api = office.api
    # Once fixed: one topic each, its card pinned, then the messages.
    topics = [c for c in api.calls_to("createForumTopic") if not refused(c)]
    assert sorted(c["name"] for c in topics) == ["RO-0007 · ro", "RO-0008 · ro"]
    await api.wait_for(
        lambda _: len([c for c in api.calls_to("pinChatMessage") if not refused(c)]) == 2
    )


async def test_a_group_that_may_only_not_create_topics_is_held_until_fixed_and_told_once(
    office, caplog
):
    api = office.api
    for user_id in (501, 502):  # both have topics; RO-0008 was served last
        await office.user(user_id).send(content=CONTENT["photo"])
        copy = await relayed(api, "copyMessage", GROUP, from_chat_id=user_id)
    caplog.set_level(logging.INFO)
    # RO-0008's topic is deleted by hand, and the bot may not create one anew.
    api.deleted_topics.add((GROUP, copy["message_thread_id"]))
    api.refuse_chat(GROUP, 400, NO_TOPIC_RIGHTS, method="createForumTopic")
    mark = len(api.calls)
    new_topic = await office.user(502).send(content=CONTENT["photo"])
    await api.wait_for(lambda c: c.method == "createForumTopic", after=mark)
    old_topic = await office.user(501).send(content=CONTENT["photo"])
    # Tried again and again. The topic that cannot be made is what each try probes: a copy into
    # RO-0007's topic (served longer ago, so first in fairness) going through would not mean
    # that the group is fixed.
    await api.wait_for(
        lambda _: len(api.calls_to("createForumTopic")) >= 2 + 4, after=mark, timeout=10
    )
    assert delivered_copies(api, 501, mark) == []
    for user_id in MANAGERS:
        assert len([c for c in api.calls if c.get("chat_id") == user_id]) == 1
    api.lift(GROUP)
    for user_id, message in ((502, new_topic), (501, old_topic)):
        await api.wait_for(
            lambda c, message=message: (
                c.method == "copyMessage"
                and c.get("message_id") == message["message_id"]
                and not refused(c)
            ),
            after=mark,
        )
        assert delivered_copies(api, user_id, mark) == [message["message_id"]]
    for user_id in MANAGERS:
        assert len([c for c in api.calls if c.get("chat_id") == user_id]) == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [str(GROUP) in r.getMessage() for r in warnings if "staff group" in r.getMessage()] == [
        True
    ]


@pytest.mark.parametrize("author", ["returnee", "counsellor", "staff"])
async def test_a_message_refused_for_itself_fails_alone_and_its_author_is_told(office, author):
    api = office.api
    await office.user(501).send(content=CONTENT["photo"])
    copy = await relayed(api, "copyMessage", GROUP, from_chat_id=501)
    thread = copy["message_thread_id"]
    ana = staff_ana(office)
    writer: Any = {
        "returnee": office.user(501),
        "counsellor": office.user(222, first_name="Mette-Marie", last_name="Hansen", username="mh"),
        "staff": ana,
    }[author]
    where = {"group": GROUP, "topic": thread} if author == "staff" else {}
    api.fail_next("copyMessage", 400, "Bad Request: message caption is too long")
    mark = len(api.calls)
    message = await writer.send(content=CONTENT["photo"] | {"caption": "x" * 50}, **where)
    await api.wait_for(lambda c: c.method == "copyMessage" and refused(c), after=mark)

    if author == "staff":
        # A note in the case's topic, replying to the staff member's message.
        expected = notice_text(office.app.i18n, "ro", "message_refused", {})
        note = await relayed(api, "sendMessage", GROUP, mark, text=expected)
        assert note["message_thread_id"] == thread
        assert note["reply_parameters"]["message_id"] == message["message_id"]
    else:
        # One sentence in their own language, replying to the message that did not go.
        language = "da" if author == "counsellor" else "en"
        expected = office.app.i18n.gettext(MESSAGE_REFUSED, locale=language)
        told = await relayed(api, "sendMessage", writer.id, mark, text=expected)
        assert told["reply_parameters"]["message_id"] == message["message_id"]

    async def failed() -> list[OutboxItem]:
        return [item for item in await outbox(office) if item.status is OutboxStatus.FAILED]

    gone = await eventually(failed)
    assert [item.source_message_id for item in gone] == [message["message_id"]]
    assert gone[0].payload == {}  # nothing of it is kept

    # Only that message: the next one from the same author goes, and no manager hears of it.
    mark = len(api.calls)
    later = await writer.send(content=CONTENT["photo"], **where)
    after = await api.wait_for(
        lambda c: c.method == "copyMessage" and c.get("message_id") == later["message_id"],
        after=mark,
    )
    assert not refused(after)
    await asyncio.sleep(0.3)
    assert not [c for c in api.calls if c.get("chat_id") in MANAGERS]
    assert len(await failed()) == 1


async def test_a_topic_reopened_by_hand_does_not_swallow_the_returnees_next_message(office):
    api = office.api
    await office.user(501).send(content=CONTENT["photo"])
    copy = await relayed(api, "copyMessage", GROUP, from_chat_id=501)
    await staff_ana(office).send("/close", group=GROUP, topic=copy["message_thread_id"])
    await relayed(api, "closeForumTopic", GROUP)
    # Someone reopened it in Telegram: the bot's reopen is answered "not modified".
    api.fail_next("reopenForumTopic", 400, "Bad Request: TOPIC_NOT_MODIFIED")
    mark = len(api.calls)
    later = await office.user(501).send(content=CONTENT["photo"])
    await relayed(api, "copyMessage", GROUP, mark, message_id=later["message_id"])
