"""The one way out: every relayed message leaves through this sender, within Telegram's limits.

Work waits in the outbox table until Telegram confirms it, so a crash or restart loses nothing.
Per destination chat one message is in flight at a time (order is kept), each destination has its
own window (about one a second per private chat, 20 a minute per group, where topic creation and
pins count too) and all share one overall window. Within a group, the case served longest ago goes
first, so one chatty returnee cannot starve the others.

A staff group that refuses the bot itself (removed, or lacking a right) loses nothing: its work
waits, one try at a time probes it with a doubling back-off, programme managers are told once,
and everything follows once a try goes through. Only a refusal of the message itself fails an
item, and its author is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    CloseForumTopic,
    CopyMessage,
    CopyMessages,
    CreateForumTopic,
    EditMessageText,
    PinChatMessage,
    ReopenForumTopic,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import MessageEntity, ReplyParameters
from aiogram.utils.i18n import I18n
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased, joinedload, selectinload

from bot.delivery.limits import Limits
from bot.delivery.refusals import GroupRefusal, group_refusal
from bot.delivery.split import CAPTION_LIMIT, TEXT_LIMIT, Part, split, split_head, utf16_length
from bot.delivery.texts import (
    MESSAGE_REFUSED,
    case_card,
    copyable,
    group_refused_text,
    notice_text,
    office_locale,
    topic_name,
    with_mentions,
)
from bot.failures import log_failure
from bot.languages import SHIPPED_LANGUAGES
from bot.services import audit, relay
from bot.services.clock import as_utc, utcnow
from storage.models import (
    Case,
    Direction,
    Office,
    OutboxItem,
    OutboxStatus,
    Person,
    Relay,
    Role,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")
Lane = tuple[int, int | None]  # (destination chat, case for a group topic)

ALBUM_WAIT_SECONDS = 1.0  # an album's parts arrive as separate updates within about a second
NO_INBOX_RETRY = timedelta(minutes=5)
MAX_BACKOFF_SECONDS = 300
HEADS_PER_QUERY = 500
LANES_FRESH_SECONDS = 1.0  # lanes found by one query are launched for at most this long
MAX_ATTEMPTS = 12  # unexpected failures only; Telegram's own refusals are handled apart


def _entities(entities: list[dict[str, Any]]) -> list[MessageEntity] | None:
    return [MessageEntity(**entity) for entity in entities] or None


def _thread_gone(error: TelegramBadRequest) -> bool:
    text = error.message.lower()
    return "thread not found" in text or "topic_deleted" in text or "topic deleted" in text


@dataclass
class _Outage:
    """A staff group that refuses the bot. Kept in memory only: the waiting items themselves are
    in the outbox (their not_before pushed), so a restart loses nothing; it merely finds the
    outage again with one try and tells the managers once more."""

    since: float  # monotonic; a delivery launched before this proves nothing about the group
    delay: float  # seconds until the next try, doubled after each refused try
    until: float  # monotonic; no try before this
    until_at: datetime  # the same moment in UTC, as written to the outbox
    # The case whose try was refused last: it probes first, so that a refusal of only some
    # calls (no right to create topics, one closed topic) is not taken for a recovery.
    case_id: int | None


def _in_group(chat_id: int) -> Any:
    """Outbox items bound for this staff group: its topics' items, wherever their case is."""
    cases_here = (
        select(Case.id)
        .join(Office, Office.id == Case.office_id)
        .where(func.coalesce(Case.inbox_chat_id, Office.staff_group_chat_id) == chat_id)
    )
    return or_(
        OutboxItem.chat_id == chat_id,
        and_(
            OutboxItem.chat_id.is_(None),
            OutboxItem.destination == "topic",
            OutboxItem.case_id.in_(cases_here),
        ),
    )


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
    ) -> None:
        # A staff group that refuses the bot: first wait, and the most it doubles to.
        self.group_retry_first, self.group_retry_max = group_retry_seconds
        self._outages: dict[int, _Outage] = {}
        self.lag_alert_seconds = lag_alert_seconds
        # Per group: the latest relay lag (seconds from receiving to posting) and the last alert.
        self.lag: dict[int, float] = {}
        self._lag_alerted: dict[int, float] = {}
        self.combined_saved = 0  # sends saved by combining short texts
        # Deliveries at once, overall: each holds a database connection while Telegram answers.
        self.max_in_flight = max_in_flight
        self.bot = bot
        self.sessionmaker = sessionmaker
        self.i18n = i18n
        self.limits = limits
        self._wake = asyncio.Event()
        self._busy: set[Lane] = set()
        self._gates: dict[int, asyncio.Lock] = {}
        self._served_at: dict[int, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        # Heads of lanes found by the last query, per destination chat, not yet launched.
        self._lanes: dict[int, dict[Lane, tuple[int, int | None]]] = {}
        self._lanes_at = 0.0
        self._stopping = False

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        await self._count_recent_sends()
        self._loop_task = asyncio.create_task(self._run(), name="homeward-sender")

    async def _count_recent_sends(self) -> None:
        """A process that takes over from another (or restarts) counts the groups' recent sends
        in their windows, so the two together stay within a group's limit. An item's delivery
        time stands for one send (parts of a split text count once: an estimate)."""
        window = self.limits.group_window_seconds
        now = utcnow()
        destination = func.coalesce(
            OutboxItem.chat_id, Case.inbox_chat_id, Office.staff_group_chat_id
        )
        try:
            async with self.sessionmaker() as session:
                rows = (
                    await session.execute(
                        select(destination, OutboxItem.sent_at)
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

    async def stop(self) -> None:
        self._stopping = True
        self.wake()
        if self._loop_task is not None:
            await self._loop_task
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def has_work_now(self) -> bool:
        """Whether a delivery is in flight or an item could go now. Tests wait for this to be
        False before asserting that nothing more is sent."""
        if self._busy or self._tasks:
            return True
        async with self.sessionmaker() as session:
            due = await session.scalar(
                select(OutboxItem.id)
                .where(OutboxItem.status == OutboxStatus.PENDING, OutboxItem.not_before <= utcnow())
                .limit(1)
            )
        return due is not None

    def wake(self) -> None:
        """Something new is in the outbox: look now rather than at the next tick."""
        self._wake.set()

    async def call(self, chat_id: int, method: TelegramMethod[T]) -> T:
        """Make one Bot API call within the limits of its destination and the overall window."""
        # One queue per destination (asyncio.Lock wakes waiters in order), so calls that wait
        # for the window go in the order they asked: fair between the cases of a group.
        async with self._gates.setdefault(chat_id, asyncio.Lock()):
            while (wait := self.limits.wait(chat_id)) > 0:  # noqa: ASYNC110 - a window, not an event
                await asyncio.sleep(wait)
            self.limits.take(chat_id)
        return await self.bot(method)

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
        if len(self._busy) >= self.max_in_flight:
            return 1.0  # every slot is taken; a finishing delivery wakes the sender
        now = utcnow()
        fresh = bool(self._lanes) and time.monotonic() - self._lanes_at < LANES_FRESH_SECONDS
        if not fresh:
            await self._find_lanes(now)
        pause, launched = await self._launch(now)
        if fresh and not launched:
            # What was left cannot go now; something that arrived since may.
            await self._find_lanes(now)
            pause, _ = await self._launch(now)
        return pause

    async def _find_lanes(self, now: datetime) -> None:
        """Read the head of every lane that may go now into `self._lanes`.

        One query serves many launches: a lane found here stays until it is launched or the
        list is more than LANES_FRESH_SECONDS old. Before a launch, `_launch` checks that the
        item is still waiting, due, and the oldest of its lane.
        """
        destination = func.coalesce(
            OutboxItem.chat_id, Case.inbox_chat_id, Office.staff_group_chat_id
        )
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
                .where(OutboxItem.status == OutboxStatus.PENDING)
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
            no_inbox = []
            for item_id, case_id, chat_id in heads:
                if item_id not in due:
                    continue
                if chat_id is None:
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

    async def _launch(self, now: datetime) -> tuple[float, int]:
        """Start deliveries from the lanes found, within the free slots and each chat's room."""
        pause, launched = 1.0, 0
        clock = time.monotonic()
        for outage in self._outages.values():
            if outage.until > clock:
                pause = min(pause, outage.until - clock)
        for chat_id, firsts in list(self._lanes.items()):
            free = self.max_in_flight - len(self._busy)
            if free <= 0:
                break  # a finishing delivery wakes the sender
            room = min(self.limits.room(chat_id), free)
            if chat_id in self._outages:
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
            if chat_id in self._outages:
                refused_case = self._outages[chat_id].case_id
                ordered.sort(key=lambda lane: lane[1][1] != refused_case)  # stable
            chosen = ordered[:room]
            older = aliased(OutboxItem)
            async with self.sessionmaker() as session:
                items = {
                    item_id: (created_at, payload)
                    for item_id, created_at, payload in await session.execute(
                        select(OutboxItem.id, OutboxItem.created_at, OutboxItem.payload).where(
                            OutboxItem.id.in_([first[0] for _, first in chosen]),
                            OutboxItem.status == OutboxStatus.PENDING,
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
                created_at, payload = found
                album_age = (now - as_utc(created_at)).total_seconds()
                if payload.get("media_group_id") and album_age < ALBUM_WAIT_SECONDS:
                    pause = min(pause, ALBUM_WAIT_SECONDS - album_age)
                    continue
                del firsts[lane]
                self._busy.add(lane)
                launched += 1
                task = asyncio.create_task(self._deliver(item_id, chat_id, lane))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if not firsts:
                del self._lanes[chat_id]
        return pause, launched

    # ---- delivery ----------------------------------------------------------------------------
    async def _deliver(self, item_id: int, chat_id: int, lane: Lane) -> None:
        try:
            async with self.sessionmaker() as session:
                await self._deliver_in(session, item_id, chat_id)
        except Exception as error:  # noqa: BLE001 - one broken item must not stop the others
            log_failure(logger, f"delivery of outbox item {item_id}", error)
            await self._back_off(item_id)
        finally:
            self._busy.discard(lane)
            self.wake()

    async def _back_off(self, item_id: int) -> None:
        """After an unexpected failure: try again later, and give up after a number of tries."""
        try:
            async with self.sessionmaker() as session:
                item = await session.get(OutboxItem, item_id)
                if item is None or item.status is not OutboxStatus.PENDING:
                    return
                item.attempts += 1
                if item.attempts >= MAX_ATTEMPTS:
                    item.status = OutboxStatus.FAILED
                item.not_before = utcnow() + timedelta(
                    seconds=min(2**item.attempts, MAX_BACKOFF_SECONDS)
                )
                await session.commit()
        except Exception as error:  # noqa: BLE001 - the database itself may be what failed
            log_failure(logger, f"backing off outbox item {item_id}", error)

    async def _deliver_in(self, session: AsyncSession, item_id: int, chat_id: int) -> None:
        started = time.monotonic()
        item = await session.get(OutboxItem, item_id)
        if item is None or item.status is not OutboxStatus.PENDING:
            return
        case = await self._case(session, item.case_id)
        now = utcnow()
        if item.kind == "edit_follows":
            assert case is not None
            if await relay.held_original(session, item):
                item.status = OutboxStatus.HELD  # released with its original, behind it
            else:
                # Its original went first in this lane and is delivered: correct the copy.
                await relay.follow_edit(session, case, item)
                item.status, item.sent_at, item.payload = OutboxStatus.SENT, now, {}
            await session.commit()
            return
        try:
            thread = (
                await self._ensure_topic(session, case, chat_id, item)
                if item.destination == "topic"
                else None
            )
            # When the copy was made, not when delivery began: an edit that arrived meanwhile
            # is compared with this (relay.follow_edit).
            now = utcnow()
            delivered = await self._send(session, item, case, chat_id, thread)
        except TelegramRetryAfter as error:
            self.limits.window(chat_id).close_for(error.retry_after)
            item.not_before = now + timedelta(seconds=error.retry_after)
            await session.commit()
            return
        except TelegramForbiddenError as error:
            if chat_id < 0:  # removed from the group: nothing to do with this message
                await self._hold_group(
                    session, item, case, chat_id, group_refusal(error) or GroupRefusal.REMOVED
                )
                return
            await self._forbidden(session, item, case)
            await session.commit()
            return
        except TelegramBadRequest as error:
            refusal = group_refusal(error) if chat_id < 0 else None
            if "not modified" in error.message.lower():
                # The copy already shows this version: done.
                item.status, item.sent_at, item.payload = OutboxStatus.SENT, now, {}
            elif item.destination == "topic" and case is not None and _thread_gone(error):
                # Deleted by hand: forget it; the next attempt creates a new topic and card.
                logger.warning("topic of case %s is gone; a new one will be created", case.id)
                case.topic_id = None
                case.card_message_id = None
            elif refusal is not None and item.kind == "pin":
                # A card left unpinned is no reason to hold a whole group's messages.
                logger.warning(
                    "staff group %s may not pin the card of case %s", chat_id, item.case_id
                )
                item.status = OutboxStatus.FAILED
                item.attempts += 1
            elif refusal is not None:
                await self._hold_group(session, item, case, chat_id, refusal)
                return
            else:
                await self._refused(session, item, case)
                return
            await session.commit()
            return
        except (TelegramNetworkError, TelegramServerError) as error:
            item.attempts += 1
            backoff = min(2**item.attempts, MAX_BACKOFF_SECONDS)
            item.not_before = now + timedelta(seconds=backoff)
            logger.warning(
                "outbox item %s: %s, retry in %ss", item.id, type(error).__name__, backoff
            )
            await session.commit()
            return
        done: dict[int, OutboxItem] = {}
        for item_done, source_id, copy_id in delivered:
            # One row per message sent: a reply to any part of a text sent in parts finds it.
            if case is not None and source_id is not None:
                session.add(
                    Relay(
                        case_id=case.id,
                        direction=item_done.direction,
                        author_id=item_done.author_id,
                        source_chat_id=int(item_done.payload["from_chat_id"]),
                        source_message_id=source_id,
                        copy_chat_id=chat_id,
                        copy_message_id=copy_id,
                        at=now,
                    )
                )
            done[item_done.id] = item_done
        for item_done in done.values():
            item_done.status = OutboxStatus.SENT
            item_done.sent_at = now
            item_done.attempts += 1
            item_done.payload = {}  # delivered: keep no content
            if case is not None:
                audit.record(
                    session,
                    f"relay.sent.{item_done.direction}",
                    actor_id=item_done.author_id,
                    case_id=case.id,
                    office_id=case.office_id,
                )
        if case is not None:
            self._served_at[case.id] = time.monotonic()
        await session.commit()
        if chat_id < 0 and chat_id in self._outages:
            await self._group_works(session, chat_id, started)
        if item.direction is Direction.FROM_RETURNEE and chat_id < 0:
            await self._watch_lag(chat_id, (now - as_utc(item.created_at)).total_seconds(), case)

    async def _watch_lag(self, chat_id: int, lag: float, case: Case | None) -> None:
        """Tell the office, at most once an hour, when returnees' messages arrive late."""
        self.lag[chat_id] = lag
        if lag < self.lag_alert_seconds or case is None:
            return
        if time.monotonic() - self._lag_alerted.get(chat_id, -3600.0) < 3600:
            return
        self._lag_alerted[chat_id] = time.monotonic()
        logger.warning("relay lag in group %s is %.0f s", chat_id, lag)
        text = notice_text(
            self.i18n,
            office_locale(case.office, self.i18n),
            "relay_late",
            {"minutes": max(1, round(lag / 60))},
        )
        # Office-wide, so in General; it names no case and no person.
        await self.call(chat_id, SendMessage(chat_id=chat_id, text=text))

    async def _case(self, session: AsyncSession, case_id: int | None) -> Case | None:
        """The case with its office; the people on its card are loaded only for the card."""
        if case_id is None:
            return None
        return await session.scalar(
            select(Case).where(Case.id == case_id).options(joinedload(Case.office))
        )

    async def _card_text(self, session: AsyncSession, case: Case) -> str:
        await session.scalar(
            select(Case)
            .where(Case.id == case.id)
            .options(selectinload(Case.counsellors), selectinload(Case.assigned_staff))
        )
        return case_card(self.i18n, case, office_locale(case.office, self.i18n))

    async def _forbidden(self, session: AsyncSession, item: OutboxItem, case: Case | None) -> None:
        if (
            item.destination == "private"
            and case is not None
            and item.direction is Direction.TO_RETURNEE
        ):
            item.status = OutboxStatus.HELD
            if not case.unreachable:
                case.unreachable = True
                await relay.notice(session, case, "returnee_blocked")
                self.wake()
            return
        # A counsellor who blocked the bot: nothing to retry. (A group's 403 holds the group.)
        logger.error("outbox item %s: the bot may not write to its destination", item.id)
        item.status = OutboxStatus.FAILED

    # ---- refusals ----------------------------------------------------------------------------
    def _held_chats(self) -> list[int]:
        """Groups that refuse the bot and may not be tried now: before their next try, or while
        that one try is on its way."""
        clock = time.monotonic()
        probing = {chat_id for chat_id, _ in self._busy}
        return [
            chat_id
            for chat_id, outage in self._outages.items()
            if outage.until > clock or chat_id in probing
        ]

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _hold_group(
        self,
        session: AsyncSession,
        item: OutboxItem,
        case: Case | None,
        chat_id: int,
        refusal: GroupRefusal,
    ) -> None:
        """The staff group refused the bot itself: all its work waits, no try is counted against
        any item, and the next try comes after a doubling wait."""
        clock = time.monotonic()
        outage = self._outages.get(chat_id)
        first = outage is None
        if outage is None:
            delay = self.group_retry_first
            until_at = utcnow() + timedelta(seconds=delay)
            outage = _Outage(clock, delay, clock + delay, until_at, item.case_id)
            self._outages[chat_id] = outage
        elif clock >= outage.until:
            # The try after the last wait was refused too: wait twice as long.
            outage.case_id = item.case_id
            outage.delay = min(outage.delay * 2, self.group_retry_max)
            outage.until = clock + outage.delay
            outage.until_at = utcnow() + timedelta(seconds=outage.delay)
            logger.info(
                "staff group %s still refuses the bot; next try in %.1f s", chat_id, outage.delay
            )
        # Otherwise a try that left before the group was found refusing: the wait stands.
        item.not_before = max(as_utc(item.not_before), outage.until_at)
        # Every waiting item of the group: one case's lane keeps its order, and none overtakes.
        await session.execute(
            update(OutboxItem)
            .where(
                OutboxItem.status == OutboxStatus.PENDING,
                OutboxItem.not_before < outage.until_at,
                _in_group(chat_id),
            )
            .values(not_before=outage.until_at)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
        if first:
            logger.warning(
                "staff group %s refuses the bot (%s): its messages wait, next try in %.1f s",
                chat_id,
                refusal,
                outage.delay,
            )
            if case is not None:
                self._spawn(self._tell_managers(chat_id, case.office_id, refusal))

    async def _group_works(self, session: AsyncSession, chat_id: int, started: float) -> None:
        """A try launched during the outage went through: what waited goes now."""
        outage = self._outages.get(chat_id)
        if outage is None or started < outage.since:
            return  # it left before the group refused: that proves nothing
        del self._outages[chat_id]
        # What waited arrives late because of the outage, not Telegram's rate: no lag alert.
        self._lag_alerted[chat_id] = time.monotonic()
        logger.info("staff group %s takes the bot's messages again", chat_id)
        now = utcnow()
        await session.execute(
            update(OutboxItem)
            .where(
                OutboxItem.status == OutboxStatus.PENDING,
                OutboxItem.not_before > now,
                OutboxItem.not_before <= outage.until_at,
                _in_group(chat_id),
            )
            .values(not_before=now)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
        self.wake()

    async def _tell_managers(self, chat_id: int, office_id: int, refusal: GroupRefusal) -> None:
        """Once per outage, each programme manager in their private chat and language: which
        office's group, and what to fix. No case and no person is named."""
        try:
            async with self.sessionmaker() as session:
                office = await session.get(Office, office_id)
                managers = list(
                    await session.scalars(
                        select(Person).where(Person.role == Role.ADMIN).order_by(Person.id)
                    )
                )
        except Exception as error:  # noqa: BLE001 - the database itself may be what failed
            log_failure(logger, f"finding the managers to tell about staff group {chat_id}", error)
            return
        if office is None or not managers:
            logger.warning("no programme manager is registered to hear about group %s", chat_id)
            return
        for manager in managers:
            locale = (
                manager.language
                if manager.language in SHIPPED_LANGUAGES
                else self.i18n.default_locale
            )
            text = group_refused_text(self.i18n, locale, refusal, office, chat_id)
            target = manager.telegram_user_id
            try:
                await self.call(target, SendMessage(chat_id=target, text=text))
            except TelegramAPIError as error:
                logger.warning(
                    "programme manager %s could not be told about staff group %s: %s",
                    manager.id,
                    chat_id,
                    type(error).__name__,
                )

    async def _refused(self, session: AsyncSession, item: OutboxItem, case: Case | None) -> None:
        """Telegram refused the message itself: it fails, keeps no content, and its author is
        told (staff in the case's topic, a returnee or counsellor privately)."""
        parts = [item]
        album = item.payload.get("media_group_id")
        if album:  # an album goes, and is refused, as one message
            parts += [
                part
                for part in await session.scalars(
                    select(OutboxItem).where(
                        OutboxItem.case_id == item.case_id,
                        OutboxItem.status == OutboxStatus.PENDING,
                        OutboxItem.direction == item.direction,
                        OutboxItem.id != item.id,
                    )
                )
                if part.payload.get("media_group_id") == album
            ]
        for part in parts:
            part.status = OutboxStatus.FAILED
            part.attempts += 1
            part.payload = {}  # it will never go: keep no content
        logger.error("outbox item %s refused by Telegram for itself; its author is told", item.id)
        author = await session.get(Person, item.author_id) if item.author_id else None
        private: tuple[Person, int | None] | None = None
        if case is not None and item.direction in (Direction.TO_RETURNEE, Direction.TO_COUNSELLOR):
            in_group = item.source_chat_id is not None and item.source_chat_id < 0
            reply = {"reply_to": item.source_message_id} if in_group else {}
            await relay.notice(session, case, "message_refused", **reply)
        elif author is not None and item.direction in (
            Direction.FROM_RETURNEE,
            Direction.FROM_COUNSELLOR,
        ):
            in_chat = item.source_chat_id == author.telegram_user_id
            private = (author, item.source_message_id if in_chat else None)
        await session.commit()
        if private is not None:
            self._spawn(self._tell_author(*private))
        self.wake()

    async def _tell_author(self, author: Person, reply_to: int | None) -> None:
        """One sentence in the author's language, replying to the message that did not go."""
        locale = author.language if author.language in SHIPPED_LANGUAGES else None
        text = self.i18n.gettext(MESSAGE_REFUSED, locale=locale or self.i18n.default_locale)
        target = author.telegram_user_id
        reply = (
            ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
            if reply_to
            else None
        )
        try:
            await self.call(target, SendMessage(chat_id=target, text=text, reply_parameters=reply))
        except TelegramAPIError as error:
            logger.warning(
                "person %s could not be told of a refused message: %s",
                author.id,
                type(error).__name__,
            )

    async def _ensure_topic(
        self, session: AsyncSession, case: Case | None, chat_id: int, item: OutboxItem
    ) -> int:
        assert case is not None
        if case.topic_id is not None and case.inbox_chat_id == chat_id:
            if case.topic_closed and item.direction is Direction.FROM_RETURNEE:
                # Closing a topic never silences the returnee: their next message reopens it.
                try:
                    await self.call(
                        chat_id,
                        ReopenForumTopic(chat_id=chat_id, message_thread_id=case.topic_id),
                    )
                except TelegramBadRequest as error:
                    # Reopened by hand already: that "not modified" is no answer to the message.
                    if "not_modified" not in error.message.lower():  # TOPIC_NOT_MODIFIED
                        raise
                case.topic_closed = False
                await session.commit()
        else:
            topic = await self.call(
                chat_id, CreateForumTopic(chat_id=chat_id, name=topic_name(case))
            )
            case.inbox_chat_id = chat_id
            case.topic_id = topic.message_thread_id
            case.topic_closed = False
            case.card_message_id = None
            await session.commit()  # a crash after this point must not create a second topic
        if case.card_message_id is None:
            # A new topic, or one whose card could not be posted last time.
            card = await self.call(
                chat_id,
                SendMessage(
                    chat_id=chat_id,
                    message_thread_id=case.topic_id,
                    text=await self._card_text(session, case),
                ),
            )
            case.card_message_id = card.message_id
            # The pin is queued with the card, so a crash or refusal from here on cannot lose it;
            # it is then tried at once rather than waiting its turn.
            pin = await relay.topic_work(session, case, "pin")
            await session.commit()
            await self._pin_card(session, case, chat_id, pin)
        return case.topic_id

    async def _pin_card(
        self, session: AsyncSession, case: Case, chat_id: int, pin: OutboxItem
    ) -> None:
        """Pin a new card now; if Telegram refuses, the queued pin item stays for later."""
        try:
            await self._pin(chat_id, case)
        except TelegramRetryAfter:
            raise  # the message waits too; its delivery sets when to try again
        except (TelegramBadRequest, TelegramNetworkError, TelegramServerError) as error:
            logger.warning("pinning the card of case %s: %s", case.id, type(error).__name__)
            return
        pin.status, pin.sent_at, pin.attempts = OutboxStatus.SENT, utcnow(), pin.attempts + 1
        await session.commit()

    async def _pin(self, chat_id: int, case: Case) -> None:
        assert case.card_message_id is not None
        await self.call(
            chat_id,
            PinChatMessage(
                chat_id=chat_id, message_id=case.card_message_id, disable_notification=True
            ),
        )

    async def _send(
        self,
        session: AsyncSession,
        item: OutboxItem,
        case: Case | None,
        chat_id: int,
        thread: int | None,
    ) -> list[tuple[OutboxItem, int | None, int]]:
        """Send one item (or a whole album); return (item, source message id, copy id) triples."""
        payload: dict[str, Any] = item.payload
        common: dict[str, Any] = {"chat_id": chat_id, "message_thread_id": thread}
        if payload.get("protect"):
            common["protect_content"] = True
        reply = (
            ReplyParameters(message_id=payload["reply_to"], allow_sending_without_reply=True)
            if payload.get("reply_to")
            else None
        )
        if item.kind == "edit_text":
            await self.call(
                chat_id,
                EditMessageText(
                    chat_id=payload["copy_chat_id"],
                    message_id=payload["copy_message_id"],
                    text=payload["text"],
                    entities=[MessageEntity(**e) for e in payload.get("entities", [])] or None,
                ),
            )
            return [(item, None, 0)]
        if item.kind == "card":
            if case is not None and case.card_message_id is not None:
                text = await self._card_text(session, case)
                await self.call(
                    chat_id,
                    EditMessageText(chat_id=chat_id, message_id=case.card_message_id, text=text),
                )
            return [(item, None, 0)]
        if item.kind == "pin":
            if case is not None and case.card_message_id is not None:
                await self._pin(chat_id, case)
            return [(item, None, 0)]
        if item.kind == "close_topic":
            await self.call(chat_id, CloseForumTopic(chat_id=chat_id, message_thread_id=thread))
            return [(item, None, 0)]
        if item.kind == "notice":
            locale = (
                office_locale(case.office, self.i18n)
                if case and item.destination == "topic"
                else self.i18n.default_locale
            )
            text = notice_text(self.i18n, locale, payload["notice"], payload)
            text, mentions = with_mentions(text, payload.get("mentions", []))
            if "entry" in payload:
                mentions += copyable(text, [f"/kb {payload['entry']}"])
            await self.call(
                chat_id,
                SendMessage(
                    **common,
                    text=text,
                    entities=[MessageEntity(**e) for e in mentions] or None,
                    reply_parameters=reply,
                ),
            )
            return [(item, None, 0)]
        if item.kind == "text":
            parts = split(payload["text"], payload.get("entities", []), TEXT_LIMIT)
            sent = await self._send_parts(session, item, chat_id, common, parts, reply)
            return [(item, payload.get("message_id"), message_id) for message_id in sent]
        if payload.get("header"):
            await self.call(chat_id, SendMessage(**common, text=payload["header"]))
        if payload.get("media_group_id"):
            return await self._send_album(session, item, chat_id, common)
        if payload.get("combinable") and case is not None:
            combined = await self._send_combined(session, item, case, chat_id, common)
            if combined:
                return combined
        caption: Part | None = None
        rest: list[Part] = []
        if payload.get("caption") is not None:
            # Too long with the bot's additions: the longest caption that fits goes with the
            # media, the rest (the signature, say) follows as a text replying to it.
            caption, after = split_head(
                payload["caption"], payload.get("caption_entities", []), CAPTION_LIMIT
            )
            if after is not None:
                rest = split(after.text, after.entities, TEXT_LIMIT)
        sent = list(payload.get("sent", []))
        if not sent:
            copy = await self.call(
                chat_id,
                CopyMessage(
                    **common,
                    from_chat_id=payload["from_chat_id"],
                    message_id=payload["message_id"],
                    caption=caption.text if caption else None,
                    caption_entities=_entities(caption.entities if caption else []),
                    reply_parameters=reply,
                ),
            )
            sent = [copy.message_id]
            if rest:
                self._progress(item, sent)
                await session.commit()
        if rest:
            to_copy = ReplyParameters(message_id=sent[0], allow_sending_without_reply=True)
            sent = await self._send_parts(session, item, chat_id, common, rest, to_copy, after=1)
        return [(item, payload["message_id"], message_id) for message_id in sent]

    @staticmethod
    def _progress(item: OutboxItem, sent: list[int]) -> None:
        """Note in the item which of its messages Telegram has: a retry goes on from there."""
        item.payload = {**item.payload, "sent": list(sent)}

    async def _send_parts(
        self,
        session: AsyncSession,
        item: OutboxItem,
        chat_id: int,
        common: dict[str, Any],
        parts: list[Part],
        reply: ReplyParameters | None,
        *,
        after: int = 0,
    ) -> list[int]:
        """Send a text's parts in order, the first replying as asked; return the ids of all the
        item's messages, including the `after` sent before the text (a copy whose caption it
        goes on).

        Each part sent is noted in the item, so a part refused for a moment (429, a network
        error) is tried again without sending the ones before it twice.
        """
        sent: list[int] = list(item.payload.get("sent", []))
        for number, part in enumerate(parts):
            if after + number < len(sent):
                continue  # Telegram has it already
            message = await self.call(
                chat_id,
                SendMessage(
                    **common,
                    text=part.text,
                    entities=_entities(part.entities),
                    reply_parameters=reply if number == 0 else None,
                ),
            )
            sent.append(message.message_id)
            if number < len(parts) - 1:
                self._progress(item, sent)
                await session.commit()
        return sent

    async def _send_combined(
        self,
        session: AsyncSession,
        item: OutboxItem,
        case: Case,
        chat_id: int,
        common: dict[str, Any],
    ) -> list[tuple[OutboxItem, int | None, int]]:
        """Consecutive short texts still waiting go as one topic message, each with its time.

        Returns nothing when there is only this one: it is then copied as it is.
        """
        following = await session.scalars(
            select(OutboxItem)
            .where(
                OutboxItem.case_id == case.id,
                OutboxItem.status == OutboxStatus.PENDING,
                OutboxItem.destination == "topic",
                OutboxItem.id >= item.id,
            )
            .order_by(OutboxItem.id)
            .limit(20)
        )
        zone = ZoneInfo(case.office.timezone)
        parts: list[OutboxItem] = []
        lines: list[str] = []
        for part in following:
            combinable = part.payload.get("combinable")
            if part.direction is not Direction.FROM_RETURNEE or not combinable:
                break  # keep the order: stop at the first message that cannot join
            at = datetime.fromtimestamp(combinable.get("at") or 0, tz=zone)
            line = f"[{at:%H:%M}] {combinable['text']}"
            if utf16_length("\n".join([*lines, line])) > TEXT_LIMIT:
                break
            parts.append(part)
            lines.append(line)
        if len(parts) < 2:
            return []
        sent = await self.call(chat_id, SendMessage(**common, text="\n".join(lines)))
        self.combined_saved += len(parts) - 1
        return [(part, int(part.payload["message_id"]), sent.message_id) for part in parts]

    async def _send_album(
        self, session: AsyncSession, item: OutboxItem, chat_id: int, common: dict[str, Any]
    ) -> list[tuple[OutboxItem, int | None, int]]:
        parts = [
            part
            for part in await session.scalars(
                select(OutboxItem)
                .where(
                    OutboxItem.case_id == item.case_id,
                    OutboxItem.status == OutboxStatus.PENDING,
                    OutboxItem.direction == item.direction,
                )
                .order_by(OutboxItem.id)
            )
            if part.payload.get("media_group_id") == item.payload["media_group_id"]
        ]
        parts.sort(key=lambda part: int(part.payload["message_id"]))
        copies = await self.call(
            chat_id,
            CopyMessages(
                **{k: v for k, v in common.items()},
                from_chat_id=item.payload["from_chat_id"],
                message_ids=[int(part.payload["message_id"]) for part in parts],
            ),
        )
        return [
            (part, int(part.payload["message_id"]), copy.message_id)
            for part, copy in zip(parts, copies, strict=False)
        ]
