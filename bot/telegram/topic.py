"""The bot's own short replies in a staff group's topic."""

from __future__ import annotations

from aiogram.methods import SendMessage
from aiogram.types import Message, MessageEntity, ReplyParameters

from bot.delivery.sender import Sender
from bot.delivery.texts import copyable


async def reply_in_topic(
    sender: Sender, message: Message, text: str, copy: list[str] | None = None
) -> None:
    """A short reply in the same topic, counted against the group's sending budget; the
    `copy` fragments are set so that one tap copies them."""
    entities = [MessageEntity(**e) for e in copyable(text, copy or [])]
    await sender.call(
        message.chat.id,
        SendMessage(
            chat_id=message.chat.id,
            message_thread_id=message.message_thread_id if message.is_topic_message else None,
            text=text,
            entities=entities or None,
            reply_parameters=ReplyParameters(
                message_id=message.message_id, allow_sending_without_reply=True
            ),
        ),
    )
