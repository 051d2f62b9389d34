"""The one door to the Bot API for everything the bot sends: each call waits for room in its
destination's window and in the overall one (bot/delivery/limits.py).

While the Bot API fails (a network error, a timeout, a 5xx), calls go one at a time until one
goes through. A call that timed out may have been carried out by Telegram, and the message is
then sent again: one at a time, an outage of W seconds repeats at most W / timeout messages,
not that many per destination in flight."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramServerError
from aiogram.methods import CopyMessages, ForwardMessages, SendMediaGroup, TelegramMethod
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery.limits import Limits
from bot.failures import log_failure
from bot.services.clock import as_utc, utcnow
from bot.services.outbox import item_chat
from storage.models import Case, Office, OutboxItem, OutboxStatus

logger = logging.getLogger(__name__)
T = TypeVar("T")


def posts_of(method: TelegramMethod[Any]) -> int:
    """How many messages a call posts in its chat: Telegram's limits count messages, and a
    receipt's files or an album are copied in one call."""
    if isinstance(method, CopyMessages | ForwardMessages):
        return max(1, len(method.message_ids))
    if isinstance(method, SendMediaGroup):
        return max(1, len(method.media))
    return 1


class Gateway:
    def __init__(self, bot: Bot, limits: Limits) -> None:
        self.bot = bot
        self.limits = limits
        self._gates: dict[int, asyncio.Lock] = {}
        self._api_failing = False
        self._one_at_a_time = asyncio.Lock()

    async def call(self, chat_id: int, method: TelegramMethod[T]) -> T:
        """Make one Bot API call within the limits of its destination and the overall window."""
        # One queue per destination (asyncio.Lock wakes waiters in order), so calls that wait
        # for the window go in the order they asked: fair between the cases of a group.
        posts = posts_of(method)
        async with self._gates.setdefault(chat_id, asyncio.Lock()):
            while (wait := self.limits.wait(chat_id, posts)) > 0:  # noqa: ASYNC110 - a window
                await asyncio.sleep(wait)
            self.limits.take(chat_id, posts)
        if self._api_failing:
            async with self._one_at_a_time:
                if self._api_failing:
                    return await self._call(method)
        return await self._call(method)

    async def _call(self, method: TelegramMethod[T]) -> T:
        try:
            result = await self.bot(method)
        except (TelegramNetworkError, TelegramServerError):
            self._api_failing = True
            raise
        except TelegramAPIError:
            self._api_failing = False  # an answer, if a refusal: the API works
            raise
        self._api_failing = False
        return result

    async def count_recent_sends(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        """A process that takes over from another (or restarts) counts the groups' recent sends
        in their windows, so the two together stay within a group's limit. An item's delivery
        time stands for one send (parts of a split text count once: an estimate)."""
        window = self.limits.group_window_seconds
        now = utcnow()
        chat = item_chat()
        try:
            async with sessionmaker() as session:
                rows = (
                    await session.execute(
                        select(chat, OutboxItem.sent_at)
                        .distinct()
                        .outerjoin(Case, Case.id == OutboxItem.case_id)
                        .outerjoin(Office, Office.id == Case.office_id)
                        .where(
                            OutboxItem.status == OutboxStatus.SENT,
                            OutboxItem.sent_at >= now - timedelta(seconds=window),
                        )
                    )
                ).all()
        except Exception as error:  # noqa: BLE001 - without the count, 429s are still honoured
            log_failure(logger, "counting recent sends", error)
            return
        ages: dict[int, list[float]] = {}
        for chat_id, sent_at in rows:
            if chat_id is not None and chat_id < 0 and sent_at is not None:
                ages.setdefault(chat_id, []).append((now - as_utc(sent_at)).total_seconds())
        for chat_id, chat_ages in ages.items():
            self.limits.seed(chat_id, chat_ages)
