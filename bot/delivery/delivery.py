"""Delivering one outbox item: its topic made ready, its kind's renderer, and what Telegram made
of it recorded (a Relay row per message, so replies and edits find their way; the payload
emptied; the audit line)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime

from aiogram.exceptions import TelegramAPIError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from bot.delivery.lag import LagWatch
from bot.delivery.outages import GroupOutages
from bot.delivery.policy import DeliveryPolicy
from bot.delivery.renderers import Renderers, Sent
from bot.delivery.topics import Topics
from bot.failures import describe_failure, is_transient
from bot.metrics import ErrorPlace, Metrics
from bot.services import audit, relay
from bot.services.clock import as_utc, utcnow
from bot.services.outbox import EditFollowsPayload, MalformedOutboxItem, payload_of
from storage.models import Case, Destination, Direction, OutboxItem, OutboxStatus, Relay

logger = logging.getLogger(__name__)

# Waits between tries to record a send Telegram took (doubling), while the database is away.
RECORD_FIRST_WAIT = 0.5
RECORD_LONGEST_WAIT = 10.0


class Delivery:
    def __init__(
        self,
        topics: Topics,
        renderers: Renderers,
        policy: DeliveryPolicy,
        outages: GroupOutages,
        lag: LagWatch,
        served_at: dict[int, float],
        metrics: Metrics,
    ) -> None:
        self.metrics = metrics
        self.topics = topics
        self.renderers = renderers
        self.policy = policy
        self.outages = outages
        self.lag = lag
        self.served_at = served_at  # per case, when it was last served: fairness in a group

    async def deliver(self, session: AsyncSession, item_id: int, chat_id: int) -> None:
        started = time.monotonic()
        item = await session.get(OutboxItem, item_id)
        if item is None or item.status is not OutboxStatus.PENDING:
            return
        try:
            payload = payload_of(item)
        except MalformedOutboxItem as error:
            # Never sent half right: it fails at once, named in the log (field names only).
            # str(): its message is written on purpose (the log filter withholds an exception's).
            logger.error("%s; it fails", str(error))
            item.status, item.attempts = OutboxStatus.FAILED, item.attempts + 1
            item.payload = {}  # it will never go: keep no content
            await session.commit()
            return
        case = await self._case(session, item.case_id)
        if isinstance(payload, EditFollowsPayload):
            await self._edit_follows(session, item, case)
            return
        now = utcnow()
        try:
            thread = None
            # An erased case's topic has no case any more: its item names the thread itself.
            if item.destination is Destination.TOPIC and case is not None:
                thread = await self.topics.ensure(session, case, chat_id, item)
            # When the copy was made, not when delivery began: an edit that arrived meanwhile
            # is compared with this (edits.follow_edit).
            now = utcnow()
            sent = await self.renderers.send(session, item, payload, case, chat_id, thread)
        except TelegramAPIError as error:
            self.metrics.error(ErrorPlace.DELIVERY, error)
            await self.policy.failed(session, item, case, chat_id, error)
            return
        await self._keep_record(session, sent, case, chat_id, now)
        if case is not None:
            self.served_at[case.id] = time.monotonic()
        for done in {part.id: part for part, _, _ in sent}.values():
            self.metrics.sent(done.destination, (now - as_utc(done.created_at)).total_seconds())
        ended_outage = chat_id in self.outages and await self.outages.works(
            session, chat_id, started
        )
        if ended_outage:
            self.lag.quiet_for_a_while(chat_id)
        if item.direction is Direction.FROM_RETURNEE and chat_id < 0:
            await self.lag.observe(chat_id, (now - as_utc(item.created_at)).total_seconds(), case)

    async def _edit_follows(
        self, session: AsyncSession, item: OutboxItem, case: Case | None
    ) -> None:
        assert case is not None
        if await relay.held_original(session, item):
            item.status = OutboxStatus.HELD  # released with its original, behind it
        else:
            # Its original went first in this lane and is delivered: correct the copy.
            await relay.follow_edit(session, case, item)
            item.status, item.sent_at, item.payload = OutboxStatus.SENT, utcnow(), {}
        await session.commit()

    async def _keep_record(
        self,
        session: AsyncSession,
        sent: list[Sent],
        case: Case | None,
        chat_id: int,
        now: datetime,
    ) -> None:
        """Telegram took it: the outbox must say so, or the item goes a second time. A database
        away for now (SQLite locked past its busy timeout, PostgreSQL restarting) is waited for
        and the record written then; a stop of the sender cancels the wait (the item is then
        sent once more after the restart, which nothing can rule out)."""
        items = list({part.id: part for part, _, _ in sent}.values())
        case_id = case.id if case is not None else None
        first_id = items[0].id if items else None
        wait = 0.0
        while True:
            try:
                if wait:
                    await asyncio.sleep(wait)
                    # The rollback expired what this session had read: read it again.
                    for item in items:
                        await session.refresh(item)
                    if case_id is not None:
                        await session.execute(
                            select(Case)
                            .where(Case.id == case_id)
                            .options(joinedload(Case.office))
                            .execution_options(populate_existing=True)
                        )
                self._record(session, sent, case, chat_id, now)
                await session.commit()
                return
            except Exception as error:
                if not is_transient(error):
                    raise
                if not wait:
                    logger.warning(
                        "outbox item %s went to Telegram; its record waits for the database: %s",
                        first_id,
                        describe_failure(error),
                    )
                with contextlib.suppress(Exception):
                    await session.rollback()
                wait = min(wait * 2, RECORD_LONGEST_WAIT) if wait else RECORD_FIRST_WAIT

    @staticmethod
    def _record(
        session: AsyncSession, sent: list[Sent], case: Case | None, chat_id: int, now: datetime
    ) -> None:
        done: dict[int, OutboxItem] = {}
        for item, source_message_id, copy_message_id in sent:
            # One row per message sent: a reply to any part of a text sent in parts finds it.
            if case is not None and source_message_id is not None:
                assert item.source_chat_id is not None
                session.add(
                    Relay(
                        case_id=case.id,
                        direction=item.direction,
                        author_id=item.author_id,
                        source_chat_id=item.source_chat_id,
                        source_message_id=source_message_id,
                        copy_chat_id=chat_id,
                        copy_message_id=copy_message_id,
                        at=now,
                    )
                )
            done[item.id] = item
        for item in done.values():
            item.status = OutboxStatus.SENT
            item.sent_at = now
            item.attempts += 1
            item.payload = {}  # delivered: keep no content
            if case is not None:
                audit.record(
                    session,
                    f"relay.sent.{item.direction}",
                    actor_id=item.author_id,
                    case_id=case.id,
                    office_id=case.office_id,
                )

    @staticmethod
    async def _case(session: AsyncSession, case_id: int | None) -> Case | None:
        """The case with its office; the people on its card are loaded only for the card."""
        if case_id is None:
            return None
        return await session.scalar(
            select(Case).where(Case.id == case_id).options(joinedload(Case.office))
        )
