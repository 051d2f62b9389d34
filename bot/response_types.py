"""Keeps aiogram's parsed response types alive for the whole run.

aiogram parses every Bot API answer as `Response[<method's result type>]`. pydantic keeps such
parametrised models only through weak references, so after each garbage collection the next
call builds the model again, schema and validator included: milliseconds of CPU per call under
load. Holding one strong reference per result type makes that a dictionary lookup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram import Bot


class KeepResponseTypes(BaseRequestMiddleware):
    def __init__(self) -> None:
        self._kept: dict[Any, type] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in self._kept:
            self._kept[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)
