"""The audit log: ids and actions only, never message text or personal details."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.clock import utcnow
from storage.models import AuditEvent


def record(
    session: AsyncSession,
    action: str,
    *,
    actor_id: int | None = None,
    case_id: int | None = None,
    office_id: int | None = None,
) -> None:
    session.add(
        AuditEvent(
            action=action,
            actor_person_id=actor_id,
            case_id=case_id,
            office_id=office_id,
            at=utcnow(),
        )
    )
