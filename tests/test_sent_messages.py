"""The bot's own messages in private chats are remembered by ids (for "clear this chat",
erasure and sensitive messages), whoever sent them; groups' messages are not."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import SentMessage
from tests.test_inbox import GROUP, relayed
from tests.test_receipts import _topic_of_case, ana_of, money_office


async def test_every_message_the_bot_posts_into_a_private_chat_is_remembered(running_bot):
    bot = running_bot
    await money_office(bot)
    maria, ana = bot.user(501), ana_of(bot)
    await maria.send("/menu")  # a dialog's answer, sent at once
    thread = await _topic_of_case(bot)
    mark = len(bot.api.calls)
    await ana.send("We call you tomorrow.", group=GROUP, topic=thread)  # through the outbox
    answer = await relayed(bot.api, "sendMessage", 501, mark)
    await bot.settled()
    async with bot.session() as session:
        rows = list(await session.scalars(select(SentMessage).order_by(SentMessage.id)))
    posted = [
        c.result["message_id"]
        for c in bot.api.calls
        if c.method in ("sendMessage", "copyMessage") and c.params.get("chat_id") == 501
    ]
    assert {r.chat_id for r in rows} == {501}
    assert [r.message_id for r in rows] == posted
    assert answer.result["message_id"] in posted


async def test_an_edited_message_is_remembered_once(running_bot):
    bot = running_bot
    await money_office(bot)
    maria = bot.user(501)
    await maria.send("/menu")
    await maria.press("Privacy")  # the menu's message is edited in place, twice
    await maria.press("Back")
    assert bot.api.calls_to("editMessageText", chat_id=501)
    async with bot.session() as session:
        rows = list(await session.scalars(select(SentMessage.message_id)))
    assert len(rows) == len(set(rows))
    assert sorted(rows) == sorted(
        c.result["message_id"] for c in bot.api.calls_to("sendMessage", chat_id=501)
    )
