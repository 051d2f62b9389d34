"""The one way out: every relayed message leaves through this sender, within Telegram's limits.

Work waits in the outbox table until Telegram confirms it, so a crash or restart loses nothing.
This module is the scheduler: it finds the lanes that may go and launches their deliveries.
Per lane (one case's topic, or one private chat) one item is in flight at a time, so order is
kept; each destination has its own window and all share one overall window (gateway.py); within
a group, the case served longest ago goes first, so one chatty returnee cannot starve the others.
While the outbound switch is on (bot/services/outbound.py), lanes to private chats are left
alone: their items stay pending, and go in their order once it is off.

The parts, one job each: gateway.py (windows and the call), delivery.py (one item, start to
end), renderers.py (one per kind), topics.py (topic, card, pin), policy.py (retries and
refusals), outages.py (a staff group that refuses the bot), lag.py (late messages).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.methods import TelegramMethod
from aiogram.utils.i18n import I18n
from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot.delivery.delivery import Delivery
from bot.delivery.gateway import Gateway
from bot.delivery.lag import LagWatch
from bot.delivery.limits import Limits
from bot.delivery.outages import GroupOutages
from bot.delivery.policy import MAX_BACKOFF_SECONDS, DeliveryPolicy
from bot.delivery.renderers import ForgetChat, Renderers
from bot.delivery.topics import Topics
from bot.failures import is_transient, log_failure
from bot.metrics import ErrorPlace, Metrics
from bot.services.clock import as_utc, utcnow
from bot.services.outbound import CACHE_SECONDS, OutboundSwitch
from bot.services.outbox import CopyPayload, MalformedOutboxItem, item_chat, parse_payload
from storage.models import Case, Destination, Office, OutboxItem, OutboxKind, OutboxStatus

logger = logging.getLogger(__name__)
T = TypeVar("T")
Lane = tuple[int, int | None]  # (destination chat, case for a group topic)

ALBUM_WAIT_SECONDS = 1.0  # an album's parts arrive as separate updates within about a second
NO_INBOX_RETRY = timedelta(minutes=5)
HEADS_PER_QUERY = 500
LANES_FRESH_SECONDS = 1.0  # lanes found by one query are launched for at most this long
STOP_GRACE_SECONDS = 5.0  # a stop waits this long for deliveries in flight


def _waits_for_album(kind: OutboxKind, payload: dict[str, Any], age: float) -> bool:
    """An album's first part waits a moment, so that all its parts go as one album."""
    if kind is not OutboxKind.COPY or age >= ALBUM_WAIT_SECONDS or "media_group_id" not in payload:
        return False
    try:
        parsed = parse_payload(kind, payload, None)
    except MalformedOutboxItem:
        return False  # the delivery reports it
    return isinstance(parsed, CopyPayload) and parsed.media_group_id is not None


def _may_go(paused: bool) -> list[ColumnElement[bool]]:
    """Which items may be sent at all: while the outbound switch is on, none for a private
    chat."""
    return [OutboxItem.destination != Destination.PRIVATE] if paused else []


class Sender:
    def __init__(
        self,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        i18n: I18n,
        limits: Limits,
        max_in_flight: int = 8,
        lag_alert_seconds: float = 300,
        group_retry_seconds: tuple[float, float] = (5.0, float(MAX_BACKOFF_SECONDS)),
        switch_seconds: float = CACHE_SECONDS,
        metrics: Metrics | None = None,
        forget_chat: ForgetChat | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        # Deliveries at once, overall: each holds a database connection while Telegram answers.
        self.max_in_flight = max_in_flight
        self.sessionmaker = sessionmaker
        self.limits = limits
        self.gateway = Gateway(bot, limits)
        # The kill switch: while on, nothing leaves for a private chat (it waits, in order).
        self.outbound = OutboundSwitch(sessionmaker, switch_seconds)
        self.outages = GroupOutages(
            self.gateway,
            sessionmaker,
            i18n,
            first_wait=group_retry_seconds[0],
            longest_wait=group_retry_seconds[1],
            wake=self.wake,
        )
        topics = Topics(self.gateway, i18n)
        # An erasure clears the returnee's dialog state in this process's storage too.
        self.renderers = Renderers(self.gateway, topics, i18n, forget_chat)
        self.lag_watch = LagWatch(self.gateway, i18n, lag_alert_seconds)
        self._served_at: dict[int, float] = {}
        self.delivery = Delivery(
            topics,
            self.renderers,
            DeliveryPolicy(
                self.gateway, sessionmaker, i18n, self.outages, wake=self.wake, spawn=self._spawn
            ),
            self.outages,
            self.lag_watch,
            self._served_at,
            self.metrics,
        )
        self._wake = asyncio.Event()
        self._busy: set[Lane] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        # Heads of lanes found by the last query, per destination chat, not yet launched.
        self._lanes: dict[int, dict[Lane, tuple[int, int | None]]] = {}
        self._lanes_at = 0.0
        self._stopping = False

    @property
    def combined_saved(self) -> int:
        """Sends saved by combining short texts."""
        return self.renderers.combined_saved

    @property
    def lag(self) -> dict[int, float]:
        return self.lag_watch.lag

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        await self.gateway.count_recent_sends(self.sessionmaker)
        self._loop_task = asyncio.create_task(self._run(), name="homeward-sender")

    async def stop(self) -> None:
        """Launch nothing more; let deliveries in flight finish for a while, then cancel them
        (an item Telegram took but the outbox did not record is sent once more later)."""
        self._stopping = True
        self.wake()
        if self._loop_task is not None:
            await self._loop_task
        if self._tasks:
            _, unfinished = await asyncio.wait(set(self._tasks), timeout=STOP_GRACE_SECONDS)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)

    async def has_work_now(self) -> bool:
        """Whether a delivery is in flight or an item could go now. Tests wait for this to be
        False before asserting that nothing more is sent."""
        if self._busy or self._tasks:
            return True
        paused = await self.outbound.paused()
        async with self.sessionmaker() as session:
            due = await session.scalar(
                select(OutboxItem.id)
                .where(
                    OutboxItem.status == OutboxStatus.PENDING,
                    OutboxItem.not_before <= utcnow(),
                    *_may_go(paused),
                )
                .limit(1)
            )
        return due is not None

    def wake(self) -> None:
        """Something new is in the outbox: look now rather than at the next tick."""
        self._wake.set()

    async def call(self, chat_id: int, method: TelegramMethod[T]) -> T:
        """One Bot API call within the limits (for answers that are not relayed messages)."""
        return await self.gateway.call(chat_id, method)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        """Every spawned task's failure is taken here, so asyncio never logs it with its text."""
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log_failure(logger, f"sender task {task.get_name()}", error)

    # ---- scheduling --------------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._stopping:
            try:
                pause = await self._round()
            except Exception as error:  # noqa: BLE001 - the loop must outlive any one failure
                log_failure(logger, "sender round", error)
                pause = 1.0
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    async def _round(self) -> float:
        """Start what may go now; return how long until something else may."""
        if self._stopping:
            return 0.0
        if len(self._busy) >= self.max_in_flight:
            return 1.0  # every slot is taken; a finishing delivery wakes the sender
        now = utcnow()
        paused = await self.outbound.paused()
        if paused and any(chat_id > 0 for chat_id in self._lanes):
            self._lanes = {}  # found before the switch turned: found again after it
        fresh = bool(self._lanes) and time.monotonic() - self._lanes_at < LANES_FRESH_SECONDS
        if not fresh:
            await self._find_lanes(now, paused)
        pause, launched = await self._launch(now, paused)
        if fresh and not launched:
            # What was left cannot go now; something that arrived since may.
            await self._find_lanes(now, paused)
            pause, _ = await self._launch(now, paused)
        return pause

    def _held_chats(self) -> list[int]:
        return self.outages.held({chat_id for chat_id, _ in self._busy})

    async def _find_lanes(self, now: datetime, paused: bool) -> None:
        """Read the head of every lane that may go now into `self._lanes`.

        One query serves many launches: a lane found here stays until it is launched or the
        list is more than LANES_FRESH_SECONDS old. Before a launch, `_launch` checks that the
        item is still waiting, due, and the oldest of its lane.
        """
        destination = item_chat()
        # Lanes: a case in a group (or still without one), a private chat as a whole.
        lane_case = sql_case(
            (or_(destination.is_(None), destination < 0), OutboxItem.case_id), else_=None
        )
        # Groups with no room now, and groups that refuse the bot (until their next try).
        full = self.limits.full_chats() + self._held_chats()
        async with self.sessionmaker() as session:
            # One head per lane: the lane's oldest waiting item, due or not, so that an item
            # waiting after a failure is never overtaken by a later one of its lane. Lanes of
            # groups with no room now are left out, so they cannot crowd out everyone else.
            heads_query = (
                select(func.min(OutboxItem.id), func.min(OutboxItem.case_id), destination)
                .outerjoin(Case, Case.id == OutboxItem.case_id)
                .outerjoin(Office, Office.id == Case.office_id)
                .where(OutboxItem.status == OutboxStatus.PENDING, *_may_go(paused))
                .group_by(destination, lane_case)
                .order_by(func.min(OutboxItem.id))
                .limit(HEADS_PER_QUERY)
            )
            if full:
                heads_query = heads_query.where(
                    or_(destination.is_(None), destination.not_in(full))
                )
            heads = (await session.execute(heads_query)).all()
            due = set(
                await session.scalars(
                    select(OutboxItem.id).where(
                        OutboxItem.id.in_([head for head, _, _ in heads]),
                        OutboxItem.not_before <= now,
                    )
                )
            )
            # A lane keeps order: one case's topic, or one private chat. Lanes of one group
            # may go side by side, as far as the group's window allows.
            lanes: dict[int, dict[Lane, tuple[int, int | None]]] = {}
            no_inbox: list[int] = []
            for item_id, case_id, chat_id in heads:
                if item_id not in due:
                    continue
                if chat_id is None:
                    if case_id is not None:
                        no_inbox.append(case_id)  # the office has no inbox group yet
                    continue
                lane = (chat_id, case_id if chat_id < 0 else None)
                if lane not in self._busy:
                    lanes.setdefault(chat_id, {})[lane] = (item_id, case_id)
            if no_inbox:
                # The whole lane waits, so that its order holds once a group is linked.
                await session.execute(
                    update(OutboxItem)
                    .where(
                        OutboxItem.case_id.in_(no_inbox),
                        OutboxItem.status == OutboxStatus.PENDING,
                    )
                    .values(not_before=now + NO_INBOX_RETRY)
                )
                await session.commit()
        self._lanes = lanes
        self._lanes_at = time.monotonic()

    async def _launch(self, now: datetime, paused: bool) -> tuple[float, int]:
        """Start deliveries from the lanes found, within the free slots and each chat's room."""
        pause, launched = 1.0, 0
        next_try = self.outages.next_try_in()
        if next_try is not None:
            pause = min(pause, next_try)
        for chat_id, firsts in list(self._lanes.items()):
            free = self.max_in_flight - len(self._busy)
            if free <= 0 or self._stopping:
                break  # a finishing delivery wakes the sender
            room = min(self.limits.room(chat_id), free)
            if chat_id in self.outages:
                if chat_id in self._held_chats():
                    del self._lanes[chat_id]  # found before the group refused; found again later
                    continue
                room = min(room, 1)  # one try probes the group; if it goes, everything follows
            if room == 0:
                pause = min(pause, max(self.limits.wait(chat_id), 0.01))
                continue
            # Fair share within a group: the case that was served longest ago goes first.
            ordered = sorted(
                firsts.items(),
                key=lambda lane: (self._served_at.get(lane[1][1] or 0, 0.0), lane[1][0]),
            )
            if chat_id in self.outages:
                refused_case = self.outages.probing_case(chat_id)
                ordered.sort(key=lambda lane: lane[1][1] != refused_case)  # stable
            chosen = ordered[:room]
            older = aliased(OutboxItem)
            async with self.sessionmaker() as session:
                items = {
                    item_id: (created_at, kind, payload)
                    for item_id, created_at, kind, payload in await session.execute(
                        select(
                            OutboxItem.id,
                            OutboxItem.created_at,
                            OutboxItem.kind,
                            OutboxItem.payload,
                        ).where(
                            OutboxItem.id.in_([first[0] for _, first in chosen]),
                            OutboxItem.status == OutboxStatus.PENDING,
                            *_may_go(paused),
                            # Still the head and still due: since the lanes were found, an
                            # older item may have been released or this one set to wait.
                            OutboxItem.not_before <= now,
                            ~select(older.id)
                            .where(
                                older.case_id == OutboxItem.case_id,
                                older.destination == OutboxItem.destination,
                                func.coalesce(older.chat_id, 0)
                                == func.coalesce(OutboxItem.chat_id, 0),
                                older.status == OutboxStatus.PENDING,
                                older.id < OutboxItem.id,
                            )
                            .exists(),
                        )
                    )
                }
            for lane, (item_id, _case_id) in chosen:
                found = items.get(item_id)
                if found is None:
                    del firsts[lane]  # delivered or given up meanwhile
                    continue
                created_at, kind, payload = found
                album_age = (now - as_utc(created_at)).total_seconds()
                if _waits_for_album(kind, payload, album_age):
                    pause = min(pause, ALBUM_WAIT_SECONDS - album_age)
                    continue
                del firsts[lane]
                self._busy.add(lane)
                launched += 1
                self._spawn(self._deliver(item_id, chat_id, lane))
            if not firsts:
                del self._lanes[chat_id]
        return pause, launched

    async def _deliver(self, item_id: int, chat_id: int, lane: Lane) -> None:
        try:
            async with self.sessionmaker() as session:
                await self.delivery.deliver(session, item_id, chat_id)
        except Exception as error:  # noqa: BLE001 - one broken item must not stop the others
            log_failure(logger, f"delivery of outbox item {item_id}", error)
            self.metrics.error(ErrorPlace.SENDER, error)
            # The database failing for now (a deadlock, a lock) is no fault of the item's.
            await self.delivery.policy.back_off(item_id, counted=not is_transient(error))
        finally:
            self._busy.discard(lane)
            self.wake()
