"""Remembers the bot's own messages in private chats, by ids only, whatever sent them (the
outbox, a dialog, an answer): "clear this chat", an erasure and a sensitive message's deletion
can only delete what they know of, and the Bot API cannot list a chat's messages."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Message, MessageId
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.failures import describe_failure
from bot.services.clock import utcnow
from storage.models import SentMessage

if TYPE_CHECKING:
    from aiogram import Bot

logger = logging.getLogger(__name__)
# Calls that post new messages. An edit (editMessageText, editMessageReplyMarkup...) also answers
# with the Message, but it is one the bot posted before: remembered then, not again.
POSTING = ("send", "copy", "forward")


def message_ids(result: Any) -> list[int]:
    """The ids of the messages a call's result says were posted."""
    results = result if isinstance(result, list) else [result]
    return [r.message_id for r in results if isinstance(r, Message | MessageId)]


class RememberPrivateMessages(BaseRequestMiddleware):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        # The chain hands back the call's result itself, whatever the annotation says.
        result = await make_request(bot, method)
        chat_id = getattr(method, "chat_id", None)
        # A private chat's id is the person's (positive); groups and channels are negative.
        if isinstance(chat_id, int) and chat_id > 0 and method.__api_method__.startswith(POSTING):
            ids = message_ids(result)
            if ids:
                await self._remember(chat_id, ids)
        return result

    async def _remember(self, chat_id: int, ids: list[int]) -> None:
        try:
            async with self.sessionmaker() as session:
                now = utcnow()
                session.add_all(
                    SentMessage(chat_id=chat_id, message_id=message_id, sent_at=now)
                    for message_id in ids
                )
                await session.commit()
        except Exception as error:  # noqa: BLE001 - Telegram has the message; never undo the send
            # Only a deletion later misses it; failing here would send it again.
            logger.warning("a sent message was not remembered: %s", describe_failure(error))
