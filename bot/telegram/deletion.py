"""Deleting messages from a chat through the Bot API, within the sender's limits, and saying
what became of each (bot/services/chat_clearing.py decides what to delete and records it).

Up to 100 ids go in one deleteMessages call; Telegram skips those it no longer has. If such a
call is refused, the ids are tried one by one (deleteMessage), so that one message Telegram will
not delete (older than 48 hours, say) does not keep the others; a single id goes by
deleteMessage at once. A 403 (the person blocked the bot) refuses them all. Telegram's words
are never logged: they can quote a request.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence

from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
)
from aiogram.methods import DeleteMessage, DeleteMessages

from bot.delivery.sender import Sender
from bot.services.chat_clearing import PER_CALL, DeletionOutcome

logger = logging.getLogger(__name__)


class Fate(enum.Enum):
    DELETED = "deleted"
    REFUSED = "refused"
    LATER = "later"


def _gone(error: TelegramAPIError) -> bool:
    """Telegram no longer has the message: it was deleted already (by the person, or a call
    whose answer was lost). That is what was asked."""
    return "not found" in error.message.lower()


class MessageDeleter:
    def __init__(self, sender: Sender) -> None:
        self.sender = sender

    async def delete(self, chat_id: int, message_ids: Sequence[int]) -> DeletionOutcome:
        deleted: list[int] = []
        refused: list[int] = []
        later: list[int] = []
        ids = sorted(set(message_ids))
        for start in range(0, len(ids), PER_CALL):
            batch = ids[start : start + PER_CALL]
            if len(batch) > 1:
                try:
                    await self.sender.call(
                        chat_id, DeleteMessages(chat_id=chat_id, message_ids=batch)
                    )
                except TelegramForbiddenError:  # about the chat (blocked), not a message
                    refused += batch
                    continue
                except TelegramBadRequest:
                    pass  # which one? each on its own, below
                except TelegramAPIError:  # a network error, a 5xx, a 429: the sweep tries again
                    later += batch
                    continue
                else:
                    deleted += batch
                    continue
            for message_id in batch:
                fate = await self._one(chat_id, message_id)
                if fate is Fate.DELETED:
                    deleted.append(message_id)
                elif fate is Fate.REFUSED:
                    refused.append(message_id)
                else:
                    later.append(message_id)
        if refused or later:
            logger.info(
                "chat deletion: %s deleted, %s refused, %s for later",
                len(deleted),
                len(refused),
                len(later),
            )
        return DeletionOutcome(tuple(deleted), tuple(refused), tuple(later))

    async def _one(self, chat_id: int, message_id: int) -> Fate:
        try:
            await self.sender.call(chat_id, DeleteMessage(chat_id=chat_id, message_id=message_id))
        except (TelegramBadRequest, TelegramForbiddenError) as error:
            return Fate.DELETED if _gone(error) else Fate.REFUSED
        except TelegramAPIError:
            return Fate.LATER
        return Fate.DELETED
