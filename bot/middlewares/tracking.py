"""Counts updates in flight and remembers the last one finished, for a clean polling shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update


class UpdateTracker(BaseMiddleware):
    def __init__(self) -> None:
        self.in_flight = 0
        self.last_finished: int | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        self.in_flight += 1
        self._idle.clear()
        try:
            return await handler(event, data)
        finally:
            self.in_flight -= 1
            if isinstance(event, Update):
                self.last_finished = max(self.last_finished or 0, event.update_id)
            if self.in_flight == 0:
                self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()
