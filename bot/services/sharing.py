"""What a case's counsellors may get, as the returnee decided.

Without consent, nothing. With it, "status": status updates and the plan staff confirmed,
events, and a monthly digest of counts and dates (check-in answered or missed, payouts, how
often the office and the returnee were in touch, open difficulties). The returnee may also
share how they answer the check-ins ("checkins"), and take it back. Never message text,
locations, addresses or documents, at any level.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import audit
from bot.services.consent import withdraw_consent
from storage.models import Case, Consent, Direction, OutboxItem, OutboxStatus, Person

STATUS = "status"
CHECKINS = "checkins"
LEVELS = (STATUS, CHECKINS)


async def reaches_counsellors(session: AsyncSession, case: Case) -> bool:
    """Read from the database at the moment of asking (a decision made in this transaction
    included), never from a case loaded earlier."""
    granted = await session.scalar(
        select(Consent.granted)
        .where(Consent.case_id == case.id, Consent.person_id == case.returnee_id)
        .order_by(Consent.id.desc())
        .limit(1)
    )
    return bool(granted)


async def shares_checkins(session: AsyncSession, case: Case) -> bool:
    return case.sharing == CHECKINS and await reaches_counsellors(session, case)


def set_level(session: AsyncSession, case: Case, returnee: Person, level: str) -> None:
    """Only the returnee decides, from their privacy menu."""
    if level not in LEVELS:
        raise ValueError(f"unknown sharing level {level!r}")
    if case.returnee_id != returnee.id:
        raise PermissionError("only the case's returnee decides what is shared")
    case.sharing = level
    audit.record(
        session,
        f"sharing.{level}",
        actor_id=returnee.id,
        case_id=case.id,
        office_id=case.office_id,
    )


async def stop_queued(session: AsyncSession, case: Case) -> int:
    """Consent withdrawn: whatever waits for the case's counsellors is removed, not sent.
    (A monthly digest covers several cases and is not the case's: it leaves the case out
    when it is written.)"""
    removed = await session.execute(
        delete(OutboxItem)
        .where(
            OutboxItem.case_id == case.id,
            OutboxItem.direction == Direction.TO_COUNSELLOR,
            OutboxItem.status.in_((OutboxStatus.PENDING, OutboxStatus.HELD)),
        )
        .execution_options(synchronize_session=False)
    )
    return int(removed.rowcount)  # type: ignore[attr-defined]


async def withdraw(session: AsyncSession, case: Case, returnee: Person, *, language: str) -> None:
    """The returnee withdraws consent: it stops everything at once, what is queued too."""
    withdraw_consent(session, case, returnee, language=language)
    await stop_queued(session, case)
