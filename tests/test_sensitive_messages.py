"""Sensitive messages (issue 14): `/sensitive` as a reply in the case's topic marks a staff
message's copy in the returnee's chat; the leader's sweep deletes it SENSITIVE_HOURS later, once;
if Telegram refuses, the topic is told; every wrong use gets a clear answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime
from pydantic import ValidationError
from sqlalchemy import select, update

from bot.app import create_app
from bot.config import Settings
from bot.delivery.texts.staff import NOTICES
from bot.handlers.staff_sensitive import NOT_MARKED
from bot.services import people
from bot.services.chat_clearing import NotMarked, deletion_moment
from bot.services.clock import as_utc, utcnow
from storage.models import AuditEvent, SentMessage
from tests.conftest import RunningBot, make_settings
from tests.fakes.bot_api import FakeBotApi
from tests.test_inbox import (
    GROUP,
    delivered,
    first_topic,
    joined_returnee,
    relayed,
    staff_ana,
)
from tests.world import office_with_case

MARIA = 501
STAFF_LOCALE = "en"  # Ana has no language of her own: the bot's default


@pytest.fixture
async def office(fake_api: FakeBotApi, database_url: str) -> AsyncIterator[RunningBot]:
    """Office RO (group GROUP, Europe/Bucharest) with staff Ana and returnee Maria (501), who
    agreed; on SQLite and PostgreSQL."""
    bot = RunningBot(create_app(make_settings(fake_api, database_url)), fake_api)
    await bot.start()
    async with bot.session() as session:
        await office_with_case(session)
        await people.add_staff(session, office_code="RO", telegram_user_id=111, name="Ana")
        await session.commit()
    await joined_returnee(bot)
    yield bot
    await bot.stop()


def tr(bot: RunningBot, msgid: str, locale: str = STAFF_LOCALE) -> str:
    return bot.app.i18n.gettext(msgid, locale=locale)


async def answer_maria(bot: RunningBot, thread: int, text: str) -> tuple[dict[str, Any], int]:
    """Ana answers in the topic; returns her message and the id of its copy in Maria's chat,
    once the sender has recorded the copy."""
    mark = len(bot.api.calls)
    message = await staff_ana(bot).send(text, group=GROUP, topic=thread)
    copy = await relayed(bot.api, "sendMessage", MARIA, mark)
    await delivered(bot, MARIA, copy.result["message_id"])
    await bot.settled()
    return message, copy.result["message_id"]


async def mark_sensitive(bot: RunningBot, thread: int, message_id: int | None) -> str:
    """Ana writes /sensitive (as a reply to `message_id`); returns the bot's answer."""
    mark = len(bot.api.calls)
    await staff_ana(bot).send("/sensitive", group=GROUP, topic=thread, reply_to=message_id)
    answer = await bot.api.wait_for(
        lambda c: (
            c.method == "sendMessage"
            and c.get("chat_id") == GROUP
            and c.get("message_thread_id") == thread
        ),
        after=mark,
    )
    return str(answer["text"])


async def row_of(bot: RunningBot, message_id: int) -> SentMessage:
    async with bot.session() as session:
        row = await session.scalar(
            select(SentMessage).where(
                SentMessage.chat_id == MARIA, SentMessage.message_id == message_id
            )
        )
    assert row is not None
    return row


def deletions_of(bot: RunningBot, message_id: int) -> int:
    """How often the bot asked Telegram to delete this message from Maria's chat."""
    return sum(
        1
        for c in bot.api.calls
        if c.get("chat_id") == MARIA
        and (
            (c.method == "deleteMessage" and c.get("message_id") == message_id)
            or (c.method == "deleteMessages" and message_id in c.get("message_ids", []))
        )
    )


async def test_a_sensitive_message_leaves_the_returnee_chat_at_its_time_and_once(office):
    bot, api = office, office.api
    thread = await first_topic(bot)
    secret, copy_id = await answer_maria(bot, thread, "The safe house is at Strada Florilor 3.")
    before = utcnow()
    answer = await mark_sensitive(bot, thread, secret["message_id"])
    after = utcnow()
    row = await row_of(bot, copy_id)
    assert row.delete_at is not None
    assert row.deleted_at is None
    delete_at = as_utc(row.delete_at)
    assert before + timedelta(hours=24) <= delete_at <= after + timedelta(hours=24)
    # Staff are told when, in the office's time zone.
    zone = ZoneInfo("Europe/Bucharest")
    when = format_datetime(delete_at.astimezone(zone), "medium", tzinfo=zone, locale="en")
    assert answer == tr(
        bot,
        "🔒 Marked sensitive: this message will be deleted from the returnee's chat on "
        "{when} ({zone}).",
    ).format(when=when, zone="Europe/Bucharest")
    async with bot.session() as session:
        actions = list(await session.scalars(select(AuditEvent.action)))
    assert "message.sensitive" in actions

    # An hour early: nothing happens.
    await bot.app.sweeps.sweep(now=delete_at - timedelta(hours=1))
    await bot.settled()
    assert deletions_of(bot, copy_id) == 0
    assert copy_id in api.chats[MARIA].messages
    # Due: deleted from Maria's chat, and recorded.
    await bot.app.sweeps.sweep(now=delete_at + timedelta(minutes=5))
    assert deletions_of(bot, copy_id) == 1
    assert copy_id not in api.chats[MARIA].messages
    row = await row_of(bot, copy_id)
    assert row.deleted_at is not None
    assert as_utc(row.deleted_at) == delete_at + timedelta(minutes=5)
    # Later sweeps leave it alone: it was deleted once.
    await bot.app.sweeps.sweep(now=delete_at + timedelta(hours=2))
    await bot.settled()
    assert deletions_of(bot, copy_id) == 1
    # Nothing else of Maria's chat was touched.
    deletions = [
        c for c in api.calls if c.method.startswith("delete") and c.get("chat_id") == MARIA
    ]
    assert [(c.method, c.get("message_id")) for c in deletions] == [("deleteMessage", copy_id)]


async def test_every_part_of_a_long_message_is_deleted(office):
    bot, api = office, office.api
    thread = await first_topic(bot)
    long_text = "Your documents are ready. " * 160  # with the signature: over 4,096, two parts
    mark = len(api.calls)
    secret = await staff_ana(bot).send(long_text, group=GROUP, topic=thread)
    await relayed(api, "sendMessage", MARIA, mark)
    await bot.settled()
    parts = [
        c.result["message_id"]
        for c in api.calls[mark:]
        if c.method == "sendMessage" and c.get("chat_id") == MARIA
    ]
    assert len(parts) == 2
    for part in parts:
        await delivered(bot, MARIA, part)
    await mark_sensitive(bot, thread, secret["message_id"])
    delete_at = as_utc((await row_of(bot, parts[0])).delete_at)  # type: ignore[arg-type]
    await bot.app.sweeps.sweep(now=delete_at + timedelta(minutes=1))
    assert [deletions_of(bot, part) for part in parts] == [1, 1]
    assert not set(parts) & set(api.chats[MARIA].messages)


async def test_a_deletion_telegram_refuses_alerts_the_topic_once(office):
    bot, api = office, office.api
    thread = await first_topic(bot)
    secret, copy_id = await answer_maria(bot, thread, "Your case number at the police: 4411.")
    await mark_sensitive(bot, thread, secret["message_id"])
    delete_at = as_utc((await row_of(bot, copy_id)).delete_at)  # type: ignore[arg-type]
    api.undeletable.add((MARIA, copy_id))
    mark = len(api.calls)
    await bot.app.sweeps.sweep(now=delete_at + timedelta(minutes=1))
    told = tr(bot, NOTICES["sensitive_not_deleted"], "ro")  # in the office's language
    alert = await relayed(api, "sendMessage", GROUP, mark, text=told)
    assert alert["message_thread_id"] == thread
    assert alert["reply_parameters"]["message_id"] == secret["message_id"]
    row = await row_of(bot, copy_id)
    assert (row.delete_at, row.deleted_at) == (None, None)  # not due any more, not deleted
    async with bot.session() as session:
        actions = list(await session.scalars(select(AuditEvent.action)))
    assert actions.count("message.sensitive_not_deleted") == 1
    # Not tried again, and the topic is not told again.
    await bot.app.sweeps.sweep(now=delete_at + timedelta(hours=1))
    await bot.settled()
    assert deletions_of(bot, copy_id) == 1
    alerts = [c for c in api.calls_to("sendMessage", chat_id=GROUP) if c["text"] == alert["text"]]
    assert len(alerts) == 1


async def test_telegram_unreachable_for_a_moment_only_delays_the_deletion(office):
    bot, api = office, office.api
    thread = await first_topic(bot)
    secret, copy_id = await answer_maria(bot, thread, "Meet Ana at the station at 10.")
    await mark_sensitive(bot, thread, secret["message_id"])
    delete_at = as_utc((await row_of(bot, copy_id)).delete_at)  # type: ignore[arg-type]
    api.fail_next("deleteMessage", 502, "Bad Gateway")
    await bot.app.sweeps.sweep(now=delete_at + timedelta(minutes=1))
    assert (await row_of(bot, copy_id)).deleted_at is None
    assert copy_id in api.chats[MARIA].messages
    await bot.app.sweeps.sweep(now=delete_at + timedelta(minutes=6))
    assert deletions_of(bot, copy_id) == 2
    assert copy_id not in api.chats[MARIA].messages
    assert (await row_of(bot, copy_id)).deleted_at is not None
    assert not [c for c in api.calls_to("sendMessage", chat_id=GROUP) if "⚠️" in c["text"]]


async def test_wrong_uses_of_sensitive_get_a_clear_answer_and_mark_nothing(office):
    bot, api = office, office.api
    maria = bot.user(MARIA)
    thread = await first_topic(bot)
    # Not as a reply.
    answer = await mark_sensitive(bot, thread, None)
    assert answer == tr(
        bot,
        "Write /sensitive as a reply to your message that went to the returnee: it will be "
        "deleted from their chat after {duration}.",
    ).format(duration="24 hours")
    # On the returnee's own message (its copy in the topic), and on an internal note.
    mark = len(api.calls)
    await maria.send("I moved last week")
    copy = await relayed(api, "copyMessage", GROUP, mark)
    await delivered(bot, GROUP, copy.result["message_id"])
    not_to_returnee = tr(bot, NOT_MARKED[NotMarked.NOT_TO_RETURNEE])
    assert await mark_sensitive(bot, thread, copy.result["message_id"]) == not_to_returnee
    note = await staff_ana(bot).send("/note call her back", group=GROUP, topic=thread)
    assert await mark_sensitive(bot, thread, note["message_id"]) == not_to_returnee
    # On a message still on its way to the returnee.
    api.pause("sendMessage", chat_id=MARIA)
    waiting = await staff_ana(bot).send("Your appointment is on Friday.", group=GROUP, topic=thread)
    await api.wait_for(lambda c: api.held > 0)
    assert await mark_sensitive(bot, thread, waiting["message_id"]) == tr(
        bot, NOT_MARKED[NotMarked.ON_ITS_WAY]
    )
    api.resume()
    await bot.settled()
    # On a message older than 48 hours: Telegram would refuse.
    old, copy_id = await answer_maria(bot, thread, "Bring your ID card.")
    async with bot.session() as session:
        await session.execute(
            update(SentMessage)
            .where(SentMessage.message_id == copy_id)
            .values(sent_at=utcnow() - timedelta(hours=49))
        )
        await session.commit()
    assert await mark_sensitive(bot, thread, old["message_id"]) == tr(
        bot, NOT_MARKED[NotMarked.TOO_OLD]
    )
    async with bot.session() as session:
        marked = list(
            await session.scalars(select(SentMessage).where(SentMessage.delete_at.is_not(None)))
        )
        actions = list(await session.scalars(select(AuditEvent.action)))
    assert marked == []
    assert "message.sensitive" not in actions


async def test_a_message_already_deleted_says_so(office):
    bot = office
    thread = await first_topic(bot)
    secret, copy_id = await answer_maria(bot, thread, "Your new phone number works.")
    await mark_sensitive(bot, thread, secret["message_id"])
    delete_at = as_utc((await row_of(bot, copy_id)).delete_at)  # type: ignore[arg-type]
    await bot.app.sweeps.sweep(now=delete_at + timedelta(minutes=1))
    assert await mark_sensitive(bot, thread, secret["message_id"]) == tr(
        bot, NOT_MARKED[NotMarked.ALREADY_DELETED]
    )


def test_the_deletion_moment_stays_within_what_telegram_allows():
    sent = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    # Marked at once: 24 hours later.
    assert deletion_moment(sent, sent, 24) == sent + timedelta(hours=24)
    # Marked 30 hours after sending: 24 more would pass Telegram's 48; 47 hours after sending.
    assert deletion_moment(sent, sent + timedelta(hours=30), 24) == sent + timedelta(hours=47)
    # Marked after 47.5 hours: at once, while Telegram still allows it.
    late = sent + timedelta(hours=47, minutes=30)
    assert deletion_moment(sent, late, 24) == late
    # 48 hours on: too late.
    assert deletion_moment(sent, sent + timedelta(hours=48), 24) is None


@pytest.mark.parametrize("hours", [0, 48, 72])
def test_sensitive_hours_must_be_under_48(hours):
    with pytest.raises(ValidationError):
        Settings(_env_file=None, sensitive_hours=hours)  # type: ignore[call-arg]
    assert Settings(_env_file=None).sensitive_hours == 24  # type: ignore[call-arg]
