"""A staff group that refuses the bot itself (removed, or missing a right): its work waits, one
try at a time probes it with a doubling wait, programme managers are told once, and everything
follows once a try goes through.

Kept in memory only: the waiting items themselves are in the outbox (their not_before pushed), so
a restart loses nothing; it merely finds the outage again with one try and tells the managers
once more.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiogram.exceptions import TelegramAPIError
from aiogram.methods import SendMessage
from aiogram.utils.i18n import I18n
from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery.gateway import Gateway
from bot.delivery.refusals import GroupRefusal
from bot.delivery.texts.managers import group_refused_text
from bot.failures import log_failure
from bot.languages import SHIPPED_LANGUAGES
from bot.services.clock import utcnow
from storage.models import (
    Case,
    Destination,
    Office,
    OutboxItem,
    OutboxStatus,
    Person,
    Role,
)

logger = logging.getLogger(__name__)


@dataclass
class Outage:
    since: float  # monotonic; a delivery launched before this proves nothing about the group
    delay: float  # seconds until the next try, doubled after each refused try
    until: float  # monotonic; no try before this
    until_at: datetime  # the same moment in UTC, as written to the outbox
    # The case whose try was refused last: it probes first, so that a refusal of only some
    # calls (no right to create topics, one closed topic) is not taken for a recovery.
    case_id: int | None


def in_group(chat_id: int) -> ColumnElement[bool]:
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
            OutboxItem.destination == Destination.TOPIC,
            OutboxItem.case_id.in_(cases_here),
        ),
    )


class GroupOutages:
    def __init__(
        self,
        gateway: Gateway,
        sessionmaker: async_sessionmaker[AsyncSession],
        i18n: I18n,
        *,
        first_wait: float,
        longest_wait: float,
        wake: Callable[[], None],
    ) -> None:
        self.gateway = gateway
        self.sessionmaker = sessionmaker
        self.i18n = i18n
        self.first_wait = first_wait
        self.longest_wait = longest_wait
        self._wake = wake
        self.outages: dict[int, Outage] = {}

    def __contains__(self, chat_id: int) -> bool:
        return chat_id in self.outages

    def held(self, probing: set[int]) -> list[int]:
        """Groups that may not be tried now: before their next try, or while that one try (a
        delivery to the group now in flight) is on its way."""
        clock = time.monotonic()
        return [
            chat_id
            for chat_id, outage in self.outages.items()
            if outage.until > clock or chat_id in probing
        ]

    def next_try_in(self) -> float | None:
        clock = time.monotonic()
        waits = [o.until - clock for o in self.outages.values() if o.until > clock]
        return min(waits) if waits else None

    def probing_case(self, chat_id: int) -> int | None:
        return self.outages[chat_id].case_id

    async def hold(
        self, session: AsyncSession, item: OutboxItem, chat_id: int, refusal: GroupRefusal
    ) -> bool:
        """The staff group refused the bot itself: all its work waits, no try is counted
        against any item, and the next try comes after a doubling wait. True the first time."""
        clock = time.monotonic()
        outage = self.outages.get(chat_id)
        first = outage is None
        if outage is None:
            delay = self.first_wait
            until_at = utcnow() + timedelta(seconds=delay)
            outage = Outage(clock, delay, clock + delay, until_at, item.case_id)
            self.outages[chat_id] = outage
        elif clock >= outage.until:
            # The try after the last wait was refused too: wait twice as long.
            outage.case_id = item.case_id
            outage.delay = min(outage.delay * 2, self.longest_wait)
            outage.until = clock + outage.delay
            outage.until_at = utcnow() + timedelta(seconds=outage.delay)
            logger.info(
                "staff group %s still refuses the bot; next try in %.1f s", chat_id, outage.delay
            )
        # Otherwise a try that left before the group was found refusing: the wait stands.
        # Every waiting item of the group, this one included: one case's lane keeps its order,
        # and none overtakes. One statement, and no row of it locked before (no other write
        # first): deliveries refused at the same moment then wait for each other instead of
        # deadlocking on PostgreSQL.
        await session.execute(
            update(OutboxItem)
            .where(
                OutboxItem.status == OutboxStatus.PENDING,
                OutboxItem.not_before < outage.until_at,
                in_group(chat_id),
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
        return first

    async def works(self, session: AsyncSession, chat_id: int, started: float) -> bool:
        """A try launched during the outage went through: what waited goes now. True if this
        ended an outage."""
        outage = self.outages.get(chat_id)
        if outage is None or started < outage.since:
            return False  # it left before the group refused: that proves nothing
        del self.outages[chat_id]
        logger.info("staff group %s takes the bot's messages again", chat_id)
        now = utcnow()
        await session.execute(
            update(OutboxItem)
            .where(
                OutboxItem.status == OutboxStatus.PENDING,
                OutboxItem.not_before > now,
                OutboxItem.not_before <= outage.until_at,
                in_group(chat_id),
            )
            .values(not_before=now)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
        self._wake()
        return True

    async def tell_managers(self, chat_id: int, office_id: int, refusal: GroupRefusal) -> None:
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
                await self.gateway.call(target, SendMessage(chat_id=target, text=text))
            except TelegramAPIError as error:
                logger.warning(
                    "programme manager %s could not be told about staff group %s: %s",
                    manager.id,
                    chat_id,
                    type(error).__name__,
                )
