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


def denied(
    session: AsyncSession,
    what: str,
    *,
    actor_id: int | None,
    case_id: int | None = None,
    office_id: int | None = None,
) -> None:
    """A refusal: someone tried what they may not, recorded as "denied.<what>" with ids only.

    Nothing is recorded for someone Homeward does not know outside an office's group: a
    stranger who writes to the bot leaves nothing behind (README), not even this."""
    if actor_id is None and office_id is None:
        return
    record(session, f"denied.{what}", actor_id=actor_id, case_id=case_id, office_id=office_id)
