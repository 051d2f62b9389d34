"""The kill switch: `python -m bot admin pause-outbound` stops everything the outbox would send
to private chats (returnees, counsellors, managers: `Destination.PRIVATE`), in every process at
once, because each reads the switch from the database. Nothing is lost: the items stay pending
and go, in their order, after `resume-outbound`. Staff-group topics keep working, so the office
can go on reading and answering while the cause is found.

The switch is a row of `switches` (storage/models.py `Switch`): on means paused. The sender reads
it through `OutboundSwitch`, which caches the answer for a few seconds only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import AuditEvent, Destination, OutboxItem, OutboxStatus, Switch

logger = logging.getLogger(__name__)

OUTBOUND_PAUSED = "outbound_paused"
CACHE_SECONDS = 3.0  # how stale a process's view of the switch may be, at most


@dataclass(frozen=True)
class Turned:
    """What a pause or resume did: whether it changed anything, and what waits meanwhile."""

    changed: bool
    paused: bool
    waiting: int  # items for private chats still pending


async def is_paused(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(Switch.on).where(Switch.name == OUTBOUND_PAUSED)))


async def waiting_for_private_chats(session: AsyncSession) -> int:
    found = await session.scalar(
        select(func.count())
        .select_from(OutboxItem)
        .where(
            OutboxItem.status == OutboxStatus.PENDING,
            OutboxItem.destination == Destination.PRIVATE,
        )
    )
    return int(found or 0)


async def _turn(session: AsyncSession, paused: bool, now: datetime, actor_id: int | None) -> Turned:
    row = await session.get(Switch, OUTBOUND_PAUSED, with_for_update=True)
    changed = (row.on != paused) if row is not None else paused
    if row is None:
        session.add(Switch(name=OUTBOUND_PAUSED, on=paused, changed_at=now))
    elif changed:
        row.on, row.changed_at = paused, now
    if changed:
        session.add(
            AuditEvent(
                action="outbound.paused" if paused else "outbound.resumed",
                actor_person_id=actor_id,
                at=now,
            )
        )
    await session.flush()
    return Turned(changed, paused, await waiting_for_private_chats(session))


async def pause(session: AsyncSession, now: datetime, actor_id: int | None = None) -> Turned:
    """Stop sending to private chats, in every process within CACHE_SECONDS. The caller
    commits."""
    return await _turn(session, True, now, actor_id)


async def resume(session: AsyncSession, now: datetime, actor_id: int | None = None) -> Turned:
    """Send again: what waited goes in its order. The caller commits."""
    return await _turn(session, False, now, actor_id)


class OutboundSwitch:
    """The switch as the sender sees it: read from the database at most every `cache_seconds`,
    so a process notices a pause or a resume within that time whoever turned it."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._paused = False
        self._read_at: float | None = None

    async def paused(self) -> bool:
        now = self.clock()
        if self._read_at is not None and now - self._read_at < self.cache_seconds:
            return self._paused
        async with self.sessionmaker() as session:
            paused = await is_paused(session)
        if paused != self._paused:
            # One line when this process sees the switch turn.
            if paused:
                logger.warning("outbound to private chats paused: their messages wait")
            else:
                logger.warning("outbound to private chats resumed: what waited goes now")
        self._paused, self._read_at = paused, now
        return paused
