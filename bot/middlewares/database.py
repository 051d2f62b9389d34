"""One database session per update, closed (and rolled back if uncommitted) when it is handled,
and the unit of work that commits it and then wakes the sender."""

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.unit_of_work import UnitOfWork, Wakeable


class DatabaseMiddleware(BaseMiddleware):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], sender: Wakeable) -> None:
        self._sessionmaker = sessionmaker
        self._sender = sender

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        async with self._sessionmaker() as session:
            data["session"] = session
            data["work"] = UnitOfWork(session, self._sender)
            return await handler(event, data)
