"""Long polling that confirms an update only once it is handled.

Telegram confirms every update below the `offset` of the next getUpdates call. aiogram's own
polling asks for the next batch while the last one is still being handled, so a crash (or a stop
that gives up waiting) loses what was in flight. Here the offset sent is the lowest update still
being handled (or waiting to be tried again): updates above it that are already handled come back
in the next answer and are passed over, and everything unfinished is delivered again after a
restart. Handled updates are deduplicated downstream (the outbox is keyed by source message), so
a redelivery relays nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.types import Update

from bot.failures import describe_failure
from bot.intake.handling import Outcome, handle
from bot.intake.reading import RawGetUpdates, read_update, update_id_of
from bot.metrics import Metrics, UpdateOutcome

logger = logging.getLogger(__name__)

BATCH = 100  # Telegram's largest getUpdates answer


@dataclass
class Backoff:
    """Doubling waits between tries, from `first` up to `longest` seconds."""

    first: float = 1.0
    longest: float = 30.0
    current: float = field(default=0.0, init=False)

    def next(self) -> float:
        self.current = self.first if self.current == 0 else min(self.current * 2, self.longest)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


class Poller:
    def __init__(
        self,
        bot: Bot,
        dispatcher: Dispatcher,
        *,
        concurrency: int,
        allowed_updates: list[str],
        polling_timeout: int = 30,
        stop_grace_seconds: float = 8.0,
        retry: Backoff | None = None,
        stop: asyncio.Event | None = None,
        metrics: Metrics | None = None,
        **handler_data: Any,
    ) -> None:
        self.bot = bot
        self.dispatcher = dispatcher
        self.concurrency = concurrency
        self.allowed_updates = allowed_updates
        self.polling_timeout = polling_timeout
        # Docker and systemd kill about ten seconds after SIGTERM: finish or leave unconfirmed.
        self.stop_grace_seconds = stop_grace_seconds
        self.retry = retry or Backoff()
        self.handler_data = handler_data
        self.metrics = metrics
        self.stop = stop or asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._handled: set[int] = set()  # handled, but above the offset sent so far
        self._next: int | None = None  # one past the highest update started
        self._confirmed: int | None = None  # the offset Telegram was last sent
        self._changed = asyncio.Event()  # an update finished: the offset may move
        # Updates waiting to be tried again (the database failed). While there are any, no new
        # update starts: a later one of the same chat would overtake it (an edit before its
        # message), and with the database failing it would fail too.
        self._retrying: set[int] = set()

    # ---- what Telegram is told -------------------------------------------------------------
    @property
    def offset(self) -> int | None:
        """Every update below this is handled; nothing at or above it may be confirmed yet."""
        if self._in_flight:
            return min(self._in_flight)
        return self._next

    def _known(self, update_id: int) -> bool:
        offset = self.offset
        return (
            (offset is not None and update_id < offset)
            or update_id in self._in_flight
            or update_id in self._handled
        )

    # ---- the loop --------------------------------------------------------------------------
    async def run(self) -> None:
        fetch_failures = Backoff(first=1.0, longest=60.0)
        wait_for_a_finish = False
        while not self.stop.is_set():
            if wait_for_a_finish or len(self._in_flight) >= self.concurrency:
                # Until one finishes, or a while: an update waiting to be tried again finishes
                # only when the database is back, and what was handled meanwhile is confirmed.
                await self._until(asyncio.wait_for(self._finished(), self.polling_timeout))
                wait_for_a_finish = False
                continue
            asked = self.offset
            poll = asyncio.ensure_future(self._fetch(asked))
            try:
                answer = await self._poll_until_useful(poll, asked)
            except TelegramUnauthorizedError:
                logger.error("Telegram refused the bot token (401): stopping")
                raise
            except Exception as error:  # noqa: BLE001 - Telegram or the network; retried
                wait = fetch_failures.next()
                logger.warning(
                    "getUpdates failed (%s); trying again in %.0f s", type(error).__name__, wait
                )
                await self._until(asyncio.sleep(wait))
                continue
            if answer is None:
                continue  # stopping, or the offset moved and is being sent now
            fetch_failures.reset()
            self._confirmed = asked if asked is not None else self._confirmed
            started = self._start(answer)
            # An answer of updates all already handled (or no room for any): asking again at
            # once would get the same answer, so wait until one in flight finishes.
            wait_for_a_finish = bool(answer) and not started and bool(self._in_flight)
        await self._finish()

    async def _poll_until_useful(
        self, poll: asyncio.Future[Any], asked: int | None
    ) -> list[dict[str, Any]] | None:
        """The poll's answer; None (the poll dropped) when stopping or when the offset moved, so
        that the new offset confirms the finished updates without waiting out a long poll."""
        while True:
            finished: asyncio.Future[bool] = asyncio.ensure_future(self._changed.wait())
            stopping: asyncio.Future[bool] = asyncio.ensure_future(self.stop.wait())
            try:
                await asyncio.wait({poll, finished, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                finished.cancel()
                stopping.cancel()
            if poll.done():
                answer: list[dict[str, Any]] = poll.result()
                return answer
            if self._changed.is_set():
                self._changed.clear()
                if self.offset == asked:
                    continue
            # An unconfirmed answer dropped here comes back with the next call.
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await poll
            return None

    async def _fetch(self, offset: int | None) -> list[dict[str, Any]]:
        timeout = self.polling_timeout
        return await self.bot(
            RawGetUpdates(
                offset=offset,
                limit=BATCH,
                timeout=timeout,
                allowed_updates=self.allowed_updates,
            ),
            request_timeout=timeout + 10,
        )

    def _start(self, answer: list[dict[str, Any]]) -> int:
        """Start handling the new updates of an answer, in order, as far as there is room."""
        started = 0
        if self._retrying:
            return 0
        for raw in sorted(answer, key=lambda raw: update_id_of(raw) or 0):
            update_id = update_id_of(raw)
            if update_id is None or self._known(update_id):
                continue
            if len(self._in_flight) >= self.concurrency:
                break  # left unconfirmed; it comes again with a later answer
            self._next = max(self._next or 0, update_id + 1)
            started += 1
            update = read_update(raw, self.bot)
            if update is None:
                if self.metrics is not None:
                    self.metrics.update_done(UpdateOutcome.UNREADABLE)
                self._handled.add(update_id)  # unreadable: confirmed, so it blocks nobody
                self._changed.set()
                continue
            task = asyncio.create_task(self._handle(update), name=f"update-{update_id}")
            self._in_flight[update_id] = task
        return started

    async def _handle(self, update: Update) -> None:
        retry = Backoff(self.retry.first, self.retry.longest)
        try:
            while (
                await handle(self.dispatcher, self.bot, update, self.metrics, **self.handler_data)
                is Outcome.TRY_AGAIN
            ):
                self._retrying.add(update.update_id)
                if self.stop.is_set():
                    return  # stays unconfirmed: delivered again after the restart
                await self._until(asyncio.sleep(retry.next()))
                if self.stop.is_set():
                    return
            self._handled.add(update.update_id)
        finally:
            self._retrying.discard(update.update_id)
            if update.update_id in self._handled or not self.stop.is_set():
                self._in_flight.pop(update.update_id, None)
            self._prune()
            self._changed.set()

    def _prune(self) -> None:
        offset = self.offset
        if offset is not None:
            self._handled = {update_id for update_id in self._handled if update_id >= offset}

    async def _finished(self) -> None:
        await self._changed.wait()
        self._changed.clear()

    async def _until(self, waiting: Awaitable[Any]) -> None:
        """Wait for something, or until the stop is asked for, whichever comes first."""
        task = asyncio.ensure_future(waiting)
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, stopping):
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await pending

    async def _finish(self) -> None:
        """Let what is in flight finish for a while; confirm exactly what was handled."""
        running = [task for task in self._in_flight.values() if not task.done()]
        if running:
            _, unfinished = await asyncio.wait(running, timeout=self.stop_grace_seconds)
            if unfinished:
                logger.warning(
                    "stopping with %s updates unfinished; Telegram delivers them again",
                    len(unfinished),
                )
                for task in unfinished:
                    task.cancel()
                await asyncio.gather(*unfinished, return_exceptions=True)
        offset = self.offset
        if offset is None or offset == self._confirmed:
            return
        try:
            # limit=1 and no wait: confirms what was handled without taking anything new.
            await self.bot(RawGetUpdates(offset=offset, limit=1, timeout=0))
        except Exception as error:  # noqa: BLE001 - unconfirmed updates simply come again
            logger.warning("confirming handled updates failed: %s", describe_failure(error))
