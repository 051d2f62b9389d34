"""Looks up who is speaking, from the database, before any handler acts."""

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.people import find_by_telegram_id


class IdentityMiddleware(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        session: AsyncSession = data["session"]
        person = await find_by_telegram_id(session, user.id) if user and not user.is_bot else None
        data["person"] = person
        data["role"] = person.role if person else None
        # Kept apart from the person, whose attributes expire with a failed transaction.
        data["person_language"] = person.language if person else None
        return await handler(event, data)
