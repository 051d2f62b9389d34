"""Everything the bot posts into a private chat is protected: it cannot be forwarded or saved.

A returnee's chat holds their case (money, receipts, check-ins, what the office wrote), a
counsellor's holds news of their returnees, and a phone can be taken and searched. Rather than
each handler, renderer and dialog remembering `protect_content`, this request middleware on the
bot's session sets it on every call that posts into a private chat (a positive chat id) and can
carry it. A caller that passes `protect_content=False` on purpose keeps it; none does today.

Group chats are left as they are: staff work with their topic's messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram import Bot

FIELD = "protect_content"


def posts_into_private_chat(method: TelegramMethod[TelegramType]) -> bool:
    chat_id = getattr(method, "chat_id", None)
    # A private chat's id is the person's (positive); groups and channels are negative.
    return isinstance(chat_id, int) and chat_id > 0 and FIELD in type(method).model_fields


class ProtectPrivateChats(BaseRequestMiddleware):
    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        # Unset (None) or left to the bot's default: protected. An explicit bool is a choice.
        if posts_into_private_chat(method) and not isinstance(getattr(method, FIELD), bool):
            method = method.model_copy(update={FIELD: True})
        return await make_request(bot, method)
