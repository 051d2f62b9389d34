"""What a case's counsellors hear, queued for them: confirmed status updates and plans, and
events as they happen for counsellors who asked for them. Each item names its counsellor and
what it is about; its words are written from translated templates when it is sent
(bot/delivery/texts/counsellors.py), and only if the returnee's consent still allows it then.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.outbox import CounsellorPayload, Money, queue
from bot.services.sharing import reaches_counsellors
from storage.models import Case, Destination, Direction, Person, case_counsellors

# What counsellors who turned events on hear at once (`/settings` in their chat).
EVENTS: tuple[str, ...] = (
    "arrived",
    "first_contact",
    "payout_approved",
    "payout_paid",
    "alert",
    "missed_twice",
    "closed",
    "dropped",
)


async def counsellors_of(session: AsyncSession, case: Case) -> list[Person]:
    """The case's counsellors, read afresh (the case's relationship may be stale or unloaded)."""
    return list(
        await session.scalars(
            select(Person)
            .join(case_counsellors, case_counsellors.c.person_id == Person.id)
            .where(case_counsellors.c.case_id == case.id)
            .order_by(Person.id)
        )
    )


async def _queue(
    session: AsyncSession, case: Case, counsellor: Person, payload: CounsellorPayload
) -> None:
    await queue(
        session,
        case,
        payload,
        destination=Destination.PRIVATE,
        direction=Direction.TO_COUNSELLOR,
        author=None,
        chat_id=counsellor.telegram_user_id,
    )


async def update(session: AsyncSession, case: Case, update_id: int) -> int:
    """A confirmed status update or plan, to every counsellor of the case: how many."""
    if not await reaches_counsellors(session, case):
        return 0
    counsellors = await counsellors_of(session, case)
    for counsellor in counsellors:
        await _queue(
            session,
            case,
            counsellor,
            CounsellorPayload(counsellor_id=counsellor.id, update_id=update_id),
        )
    return len(counsellors)


async def event(
    session: AsyncSession,
    case: Case,
    key: str,
    *,
    reason: str | None = None,
    category: str | None = None,
    amount: Money | None = None,
) -> int:
    """Something happened on the case: told to counsellors who want events. How many."""
    if key not in EVENTS:
        raise ValueError(f"unknown event {key!r}")
    if not await reaches_counsellors(session, case):
        return 0
    told = 0
    for counsellor in await counsellors_of(session, case):
        if not counsellor.events:
            continue
        payload = CounsellorPayload(
            counsellor_id=counsellor.id,
            event=key,
            reason=reason,
            category=category,
            amount=amount,
        )
        await _queue(session, case, counsellor, payload)
        told += 1
    return told


def set_events(counsellor: Person, on: bool) -> None:
    counsellor.events = on
