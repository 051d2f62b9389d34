"""A returnee's shared location: staff get a note, and the location itself only on request."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.outbox import CopyPayload, Source, queue
from storage.models import Case, Destination, Direction, OutboxItem, OutboxKind, Person


async def last_shared_location(session: AsyncSession, case: Case) -> int | None:
    """The message id of the location the returnee shared last (only a note went to staff)."""
    return await session.scalar(
        select(OutboxItem.source_message_id)
        .where(
            OutboxItem.case_id == case.id,
            OutboxItem.direction == Direction.FROM_RETURNEE,
            OutboxItem.kind == OutboxKind.NOTICE,
            OutboxItem.source_message_id.is_not(None),
        )
        .order_by(OutboxItem.id.desc())
        .limit(1)
    )


async def share_location(
    session: AsyncSession, case: Case, returnee: Person, message_id: int
) -> OutboxItem:
    """The returnee agreed that staff may see the location: now it is copied to the topic."""
    queued = await queue(
        session,
        case,
        CopyPayload(from_chat_id=returnee.telegram_user_id, message_id=message_id),
        destination=Destination.TOPIC,
        direction=Direction.FROM_RETURNEE,
        author=returnee,
        source=Source(returnee.telegram_user_id, message_id),
        revision=-1,  # the same message once more, on request; -1 keeps it apart from the note
    )
    return queued.item
