"""How long returnees wait for their office's answer (for the statistics)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.clock import as_utc, utcnow
from storage.models import Case, Direction, OutboxItem, Person, ResponseTime


async def record_response_time(session: AsyncSession, case: Case, staff: Person) -> None:
    """The returnee's oldest message since the office last answered, and how long it waited."""
    last_answer = await session.scalar(
        select(func.max(OutboxItem.created_at)).where(
            OutboxItem.case_id == case.id, OutboxItem.direction == Direction.TO_RETURNEE
        )
    )
    waiting = select(func.min(OutboxItem.created_at)).where(
        OutboxItem.case_id == case.id, OutboxItem.direction == Direction.FROM_RETURNEE
    )
    if last_answer is not None:
        waiting = waiting.where(OutboxItem.created_at > last_answer)
    asked = await session.scalar(waiting)
    if asked is None:
        return
    now = utcnow()
    session.add(
        ResponseTime(
            case_id=case.id,
            office_id=case.office_id,
            staff_id=staff.id,
            asked_at=asked,
            answered_at=now,
            seconds=int((now - as_utc(asked)).total_seconds()),
        )
    )
