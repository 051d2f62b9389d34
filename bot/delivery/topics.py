"""A case's topic in its staff group: created on the case's first message, with its card posted
and pinned, reopened when the returnee writes, and created anew when deleted by hand."""

from __future__ import annotations

import logging

from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import CreateForumTopic, PinChatMessage, ReopenForumTopic, SendMessage
from aiogram.utils.i18n import I18n
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.delivery.gateway import Gateway
from bot.delivery.texts import case_card, office_locale, topic_name
from bot.services import relay, updates
from bot.services.clock import utcnow
from storage.models import Case, Direction, OutboxItem, OutboxKind, OutboxStatus

logger = logging.getLogger(__name__)


def thread_gone(error: TelegramBadRequest) -> bool:
    text = error.message.lower()
    return "thread not found" in text or "topic_deleted" in text or "topic deleted" in text


class Topics:
    def __init__(self, gateway: Gateway, i18n: I18n) -> None:
        self.gateway = gateway
        self.i18n = i18n

    async def ensure(
        self, session: AsyncSession, case: Case, chat_id: int, item: OutboxItem
    ) -> int:
        """The case's topic in this group, made ready for the item: its thread id."""
        if case.topic_id is not None and case.inbox_chat_id == chat_id:
            if case.topic_closed and item.direction is Direction.FROM_RETURNEE:
                # Closing a topic never silences the returnee: their next message reopens it.
                try:
                    await self.gateway.call(
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
            topic = await self.gateway.call(
                chat_id, CreateForumTopic(chat_id=chat_id, name=topic_name(case))
            )
            case.inbox_chat_id = chat_id
            case.topic_id = topic.message_thread_id
            case.topic_closed = False
            case.card_message_id = None
            await session.commit()  # a crash after this point must not create a second topic
        if case.card_message_id is None:
            # A new topic, or one whose card could not be posted last time.
            card = await self.gateway.call(
                chat_id,
                SendMessage(
                    chat_id=chat_id,
                    message_thread_id=case.topic_id,
                    text=await self.card_text(session, case),
                ),
            )
            case.card_message_id = card.message_id
            # The pin is queued with the card, so a crash or refusal from here on cannot lose it;
            # it is then tried at once rather than waiting its turn.
            pin = await relay.topic_work(session, case, OutboxKind.PIN)
            await session.commit()
            await self._pin_new_card(session, case, chat_id, pin)
        assert case.topic_id is not None
        return case.topic_id

    async def card_text(self, session: AsyncSession, case: Case) -> str:
        await session.scalar(
            select(Case)
            .where(Case.id == case.id)
            .options(selectinload(Case.counsellors), selectinload(Case.assigned_staff))
        )
        plan = await updates.current_plan(session, case)
        return case_card(
            self.i18n, case, office_locale(case.office, self.i18n), plan.text if plan else None
        )

    async def pin(self, chat_id: int, case: Case) -> None:
        assert case.card_message_id is not None
        await self.gateway.call(
            chat_id,
            PinChatMessage(
                chat_id=chat_id, message_id=case.card_message_id, disable_notification=True
            ),
        )

    async def _pin_new_card(
        self, session: AsyncSession, case: Case, chat_id: int, pin: OutboxItem
    ) -> None:
        """Pin a new card now; if Telegram refuses, the queued pin item stays for later."""
        try:
            await self.pin(chat_id, case)
        except TelegramRetryAfter:
            raise  # the message waits too; its delivery sets when to try again
        except (TelegramBadRequest, TelegramNetworkError, TelegramServerError) as error:
            logger.warning("pinning the card of case %s: %s", case.id, type(error).__name__)
            return
        pin.status, pin.sent_at, pin.attempts = OutboxStatus.SENT, utcnow(), pin.attempts + 1
        await session.commit()
