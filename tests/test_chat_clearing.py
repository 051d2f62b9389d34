"""Privacy → "Clear this chat" (issue 14): the bot deletes its own messages and the returnee's
relayed ones from the last 48 hours, marks them deleted, and explains how to delete the whole
chat in Telegram; a request Telegram cannot take at once is finished by the leader's sweep."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from bot.services.clock import utcnow
from dialogs.chat_clearing import HOW_TO_DELETE_THE_CHAT
from storage.models import SentMessage
from tests import test_sensitive_messages
from tests.conftest import RunningBot
from tests.fakes.telegram_user import CONTENT
from tests.test_inbox import GROUP, delivered, relayed, staff_ana

MARIA = test_sensitive_messages.MARIA
# Office RO with staff Ana and returnee Maria, on SQLite and PostgreSQL.
office = test_sensitive_messages.office

DONE = "Done: the bot deleted what it could from this chat."
LATER = "Some messages could not be deleted just now. The bot tries again in a few minutes."


def tr(bot: RunningBot, msgid: str) -> str:
    return bot.app.i18n.gettext(msgid, locale="en")  # Maria reads English


async def conversation(bot: RunningBot) -> tuple[list[int], list[int]]:
    """Maria writes twice, Ana answers, Maria opens the privacy menu. Returns the ids of Maria's
    relayed messages and of every message the bot posted into her chat."""
    api, maria = bot.api, bot.user(MARIA)
    mine = []
    for text in ("Hello", "They found my address"):
        mark = len(api.calls)
        mine.append((await maria.send(text))["message_id"])
        copy = await relayed(api, "copyMessage", GROUP, mark)
        await delivered(bot, GROUP, copy.result["message_id"])
    thread = copy["message_thread_id"]
    mark = len(api.calls)
    await staff_ana(bot).send("We will call you today.", group=GROUP, topic=thread)
    answer = await relayed(api, "sendMessage", MARIA, mark)
    await delivered(bot, MARIA, answer.result["message_id"])
    await maria.send("/menu")
    await maria.press(tr(bot, "Privacy"))
    await maria.press(tr(bot, "Clear this chat"))
    await bot.settled()
    posted = [
        c.result["message_id"]
        for c in api.calls
        if c.method in ("sendMessage", "copyMessage") and c.get("chat_id") == MARIA
    ]
    return mine, posted


async def rows(bot: RunningBot) -> dict[int, SentMessage]:
    async with bot.session() as session:
        found = await session.scalars(select(SentMessage).where(SentMessage.chat_id == MARIA))
        return {row.message_id: row for row in found}


def deleted_ids(bot: RunningBot, after: int = 0) -> list[int]:
    return [
        message_id
        for c in bot.api.calls[after:]
        if c.method == "deleteMessages" and c.get("chat_id") == MARIA
        for message_id in c["message_ids"]
    ]


def shown(bot: RunningBot) -> list[dict[str, Any]]:
    return bot.user(MARIA).messages()


async def test_clear_this_chat_deletes_the_bots_messages_and_the_returnees_relayed_ones(office):
    bot, api, maria = office, office.api, office.user(MARIA)
    mine, posted = await conversation(bot)
    assert maria.last_text().startswith(tr(bot, "Clear this chat?"))
    mark = len(api.calls)
    await maria.press(tr(bot, "Yes, clear this chat"))
    # One deleteMessages call: every message the bot posted here, and Maria's relayed ones.
    assert len(api.calls_to("deleteMessages", chat_id=MARIA)) == 1
    assert sorted(deleted_ids(bot, mark)) == sorted(posted + mine)
    # Her chat now shows only the answer, a new message, with the steps to delete the chat.
    assert len(shown(bot)) == 1
    text = maria.last_text()
    assert tr(bot, DONE) in text
    assert tr(bot, HOW_TO_DELETE_THE_CHAT) in text
    assert tr(bot, LATER) not in text
    assert shown(bot)[0]["has_protected_content"] is True
    # Each deleted message is marked deleted; only the answer is left.
    remembered = await rows(bot)
    assert {m for m, row in remembered.items() if row.deleted_at is None} == {
        shown(bot)[0]["message_id"]
    }
    assert set(posted + mine) <= set(remembered)
    # The office keeps what Maria wrote: nothing was deleted in the staff group.
    assert not [c for c in api.calls if c.method.startswith("delete") and c.get("chat_id") == GROUP]
    # The menu goes on from here.
    await maria.press(tr(bot, "Back to the menu"))
    assert tr(bot, "Clear this chat") in maria.buttons()


async def test_only_messages_of_the_last_48_hours_are_asked_for(office):
    bot, api, maria = office, office.api, office.user(MARIA)
    mine, posted = await conversation(bot)
    old = posted[0]  # say it was sent three days ago
    async with bot.session() as session:
        await session.execute(
            update(SentMessage)
            .where(SentMessage.chat_id == MARIA, SentMessage.message_id == old)
            .values(sent_at=utcnow() - timedelta(days=3))
        )
        await session.commit()
    mark = len(api.calls)
    await maria.press(tr(bot, "Yes, clear this chat"))
    asked = deleted_ids(bot, mark)
    assert old not in asked
    assert sorted(asked) == sorted([*posted[1:], *mine])
    assert (await rows(bot))[old].deleted_at is None


async def test_a_request_telegram_cannot_take_now_is_finished_by_the_sweep(office):
    bot, api, maria = office, office.api, office.user(MARIA)
    mine, posted = await conversation(bot)
    api.fail_next("deleteMessages", 502, "Bad Gateway")
    mark = len(api.calls)
    await maria.press(tr(bot, "Yes, clear this chat"))
    first = deleted_ids(bot, mark)
    assert sorted(first) == sorted(posted + mine)
    assert tr(bot, LATER) in maria.last_text()
    # Nothing was lost: every message is still due.
    waiting = await rows(bot)
    assert all(waiting[m].delete_at is not None for m in posted + mine)
    assert all(waiting[m].deleted_at is None for m in posted + mine)
    mark = len(api.calls)
    assert await bot.app.sweeps.sweep(now=utcnow()) >= len(first)
    assert sorted(deleted_ids(bot, mark)) == sorted(first)
    done = await rows(bot)
    assert all(done[m].deleted_at is not None for m in posted + mine)
    assert len(shown(bot)) == 1  # the answer
    # A later sweep has nothing left to do here.
    mark = len(api.calls)
    await bot.app.sweeps.sweep(now=utcnow() + timedelta(minutes=5))
    assert deleted_ids(bot, mark) == []


async def test_a_message_telegram_will_not_delete_does_not_keep_the_others_nor_tell_staff(office):
    bot, api, maria = office, office.api, office.user(MARIA)
    mine, posted = await conversation(bot)
    stuck = posted[0]
    api.undeletable.add((MARIA, stuck))
    mark = len(api.calls)
    await maria.press(tr(bot, "Yes, clear this chat"))
    # The batch was refused, so each went on its own; only the stuck one stays.
    singles = [c["message_id"] for c in api.calls[mark:] if c.method == "deleteMessage"]
    assert sorted(singles) == sorted(posted + mine)
    assert [m["message_id"] for m in shown(bot)] == [stuck, shown(bot)[-1]["message_id"]]
    remembered = await rows(bot)
    assert remembered[stuck].deleted_at is None
    assert remembered[stuck].delete_at is None  # refused: not tried again
    # The returnee's own clearing is never reported to the office.
    await bot.app.sweeps.sweep(now=utcnow())
    await bot.settled()
    assert not [c for c in api.calls[mark:] if c.get("chat_id") == GROUP]


async def test_a_shared_location_goes_too_once_the_office_has_its_note(office):
    bot, api, maria = office, office.api, office.user(MARIA)
    mark = len(api.calls)
    location = await maria.send(content=CONTENT["location"])
    await relayed(api, "sendMessage", GROUP, mark)  # only a note reaches the topic
    await bot.settled()
    await conversation(bot)
    mark = len(api.calls)
    await maria.press(tr(bot, "Yes, clear this chat"))
    assert location["message_id"] in deleted_ids(bot, mark)
    assert (await rows(bot))[location["message_id"]].deleted_at is not None
