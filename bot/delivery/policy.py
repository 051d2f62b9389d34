"""What a delivery does when Telegram, or anything else, says no.

- 429: the destination's window closes for `retry_after`, and the item waits as long.
- Network errors and 5xx: the item waits, with doubling back-off up to five minutes.
- A staff group refusing the bot itself (403, or 400 for a missing right): the whole group waits
  (bot/delivery/outages.py); no try counts against the item.
- A returnee who blocked the bot: what is for them is held until they write again.
- Telegram refusing the message itself: it fails, keeps no content, and its author is told.
- Any other failure: tried again later, and given up after MAX_ATTEMPTS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import SendMessage
from aiogram.types import ReplyParameters
from aiogram.utils.i18n import I18n
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery.gateway import Gateway
from bot.delivery.outages import GroupOutages
from bot.delivery.refusals import GroupRefusal, group_refusal
from bot.delivery.texts.people import MESSAGE_REFUSED
from bot.delivery.topics import thread_gone
from bot.failures import log_failure
from bot.languages import SHIPPED_LANGUAGES
from bot.services import relay
from bot.services.clock import utcnow
from bot.services.outbox import CopyPayload, neighbour_payload, payload_of
from storage.models import (
    Case,
    Destination,
    Direction,
    OutboxItem,
    OutboxKind,
    OutboxStatus,
    Person,
)

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300
MAX_ATTEMPTS = 12  # unexpected failures only; Telegram's own refusals are handled apart


class DeliveryPolicy:
    def __init__(
        self,
        gateway: Gateway,
        sessionmaker: async_sessionmaker[AsyncSession],
        i18n: I18n,
        outages: GroupOutages,
        *,
        wake: Callable[[], None],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self.gateway = gateway
        self.sessionmaker = sessionmaker
        self.i18n = i18n
        self.outages = outages
        self._wake = wake
        self._spawn = spawn

    async def failed(
        self,
        session: AsyncSession,
        item: OutboxItem,
        case: Case | None,
        chat_id: int,
        error: TelegramAPIError,
    ) -> None:
        """Telegram did not take the item: decide what becomes of it, and commit."""
        now = utcnow()
        if isinstance(error, TelegramRetryAfter):
            self.gateway.limits.window(chat_id).close_for(error.retry_after)
            item.not_before = now + timedelta(seconds=error.retry_after)
        elif isinstance(error, TelegramForbiddenError):
            if chat_id < 0:  # removed from the group: nothing to do with this message
                await self._hold_group(
                    session, item, case, chat_id, group_refusal(error) or GroupRefusal.REMOVED
                )
                return
            await self._forbidden(session, item, case)
        elif isinstance(error, TelegramBadRequest):
            if await self._bad_request(session, item, case, chat_id, error):
                return
        elif isinstance(error, TelegramNetworkError | TelegramServerError):
            item.attempts += 1
            backoff = min(2**item.attempts, MAX_BACKOFF_SECONDS)
            item.not_before = now + timedelta(seconds=backoff)
            logger.warning(
                "outbox item %s: %s, retry in %ss", item.id, type(error).__name__, backoff
            )
        else:
            raise error
        await session.commit()

    async def _bad_request(
        self,
        session: AsyncSession,
        item: OutboxItem,
        case: Case | None,
        chat_id: int,
        error: TelegramBadRequest,
    ) -> bool:
        """A 400. True when it was settled and committed here."""
        refusal = group_refusal(error) if chat_id < 0 else None
        if "not modified" in error.message.lower():
            # The copy already shows this version: done.
            item.status, item.sent_at, item.payload = OutboxStatus.SENT, utcnow(), {}
        elif item.destination is Destination.TOPIC and case is not None and thread_gone(error):
            # Deleted by hand: forget it; the next attempt creates a new topic and card.
            logger.warning("topic of case %s is gone; a new one will be created", case.id)
            case.topic_id = None
            case.card_message_id = None
        elif refusal is not None and item.kind is OutboxKind.PIN:
            # A card left unpinned is no reason to hold a whole group's messages.
            logger.warning("staff group %s may not pin the card of case %s", chat_id, item.case_id)
            item.status = OutboxStatus.FAILED
            item.attempts += 1
        elif refusal is not None:
            await self._hold_group(session, item, case, chat_id, refusal)
            return True
        else:
            await self._refused(session, item, case)
            return True
        return False

    async def back_off(self, item_id: int, *, counted: bool = True) -> None:
        """After an unexpected failure: try again later, and give up after a number of tries
        (`counted` false: a transient database failure, tried again soon and not counted)."""
        try:
            async with self.sessionmaker() as session:
                item = await session.get(OutboxItem, item_id)
                if item is None or item.status is not OutboxStatus.PENDING:
                    return
                if not counted:
                    item.not_before = utcnow() + timedelta(seconds=1)
                    await session.commit()
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

    async def _hold_group(
        self,
        session: AsyncSession,
        item: OutboxItem,
        case: Case | None,
        chat_id: int,
        refusal: GroupRefusal,
    ) -> None:
        first = await self.outages.hold(session, item, chat_id, refusal)
        if first and case is not None:
            self._spawn(self.outages.tell_managers(chat_id, case.office_id, refusal))

    async def _forbidden(self, session: AsyncSession, item: OutboxItem, case: Case | None) -> None:
        if (
            item.destination is Destination.PRIVATE
            and case is not None
            and item.direction is Direction.TO_RETURNEE
        ):
            item.status = OutboxStatus.HELD
            if not case.unreachable:
                case.unreachable = True
                await relay.notice(session, case, "returnee_blocked")
                self._wake()
            return
        # A counsellor who blocked the bot: nothing to retry. (A group's 403 holds the group.)
        logger.error("outbox item %s: the bot may not write to its destination", item.id)
        item.status = OutboxStatus.FAILED

    async def _refused(self, session: AsyncSession, item: OutboxItem, case: Case | None) -> None:
        """Telegram refused the message itself: it fails, keeps no content, and its author is
        told (staff in the case's topic, a returnee or counsellor privately)."""
        parts = [item]
        payload = payload_of(item)
        album = payload.media_group_id if isinstance(payload, CopyPayload) else None
        if album:  # an album goes, and is refused, as one message
            for part in await session.scalars(
                select(OutboxItem).where(
                    OutboxItem.case_id == item.case_id,
                    OutboxItem.status == OutboxStatus.PENDING,
                    OutboxItem.direction == item.direction,
                    OutboxItem.id != item.id,
                )
            ):
                other = neighbour_payload(part)
                if isinstance(other, CopyPayload) and other.media_group_id == album:
                    parts.append(part)
        for part in parts:
            part.status = OutboxStatus.FAILED
            part.attempts += 1
            part.payload = {}  # it will never go: keep no content
        logger.error("outbox item %s refused by Telegram for itself; its author is told", item.id)
        author = await session.get(Person, item.author_id) if item.author_id else None
        private: tuple[Person, int | None] | None = None
        if case is not None and item.direction in (Direction.TO_RETURNEE, Direction.TO_COUNSELLOR):
            in_group = item.source_chat_id is not None and item.source_chat_id < 0
            await relay.notice(
                session,
                case,
                "message_refused",
                reply_to=item.source_message_id if in_group else None,
            )
        elif author is not None and item.direction in (
            Direction.FROM_RETURNEE,
            Direction.FROM_COUNSELLOR,
        ):
            in_chat = item.source_chat_id == author.telegram_user_id
            private = (author, item.source_message_id if in_chat else None)
        await session.commit()
        if private is not None:
            self._spawn(self._tell_author(*private))
        self._wake()

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
            await self.gateway.call(
                target, SendMessage(chat_id=target, text=text, reply_parameters=reply)
            )
        except TelegramAPIError as error:
            logger.warning(
                "person %s could not be told of a refused message: %s",
                author.id,
                type(error).__name__,
            )
