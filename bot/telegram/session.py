"""The HTTP session to the Bot API: aiogram's, but a 5xx whose body is not the Bot API's JSON
(the error page of a proxy in front of Telegram, such as nginx's 502) is a server error like any
other 5xx. aiogram calls it an undecodable answer, which the sender counts against the message
as an unexpected failure: a long enough outage of that kind would give messages up."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramServerError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response

if TYPE_CHECKING:
    from aiogram import Bot


class BotApiSession(AiohttpSession):
    def check_response(
        self, bot: Bot, method: TelegramMethod[Any], status_code: int, content: str
    ) -> Response[Any]:
        if status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
            try:
                json.loads(content)
            except ValueError:
                raise TelegramServerError(
                    method=method, message=f"HTTP {status_code} without a Bot API answer"
                ) from None
        return super().check_response(bot, method, status_code, content)
