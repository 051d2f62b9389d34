"""A case's way through the programme, dated for the statistics the programme is judged by:
eligible, applied (first consent), returned (arrival confirmed), then closed or dropped out
with a reason; or never joined, with a reason.

The reasons are the documents' own (the Danish evaluation, chapter 6): drop-outs "disappeared
or changed their mind", an unsafe return postponed, hopes of a residence permit; and for not
joining at all, fear of reprisals or debts, the family's expectations, the situation at home,
hopes of a residence permit, support too small to be worth it.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from bot.marks import N_
from bot.services import audit, checkins, counsellor_news, relay
from bot.services.errors import RuleViolation
from storage.models import Case, CaseStatus, OutboxKind, Person

DROP_REASONS: tuple[str, ...] = (
    "disappeared",
    "changed_mind",
    "unsafe_to_return",
    "residence_permit",
    "other",
)
DECLINE_REASONS: tuple[str, ...] = (
    "fear_of_reprisals",
    "family_expectations",
    "home_situation",
    "hopes_for_permit",
    "support_too_small",
    "other",
)
# Words for both lists' reasons, translated where they are shown (staff, counsellors, managers).
REASON_LABELS = {
    "disappeared": N_("disappeared"),
    "changed_mind": N_("changed their mind"),
    "unsafe_to_return": N_("unsafe to return"),
    "residence_permit": N_("got a residence permit"),
    "fear_of_reprisals": N_("fear of reprisals or debts"),
    "family_expectations": N_("the family's expectations"),
    "home_situation": N_("the situation at home"),
    "hopes_for_permit": N_("hopes of a residence permit"),
    "support_too_small": N_("support too small to be worth it"),
    "other": N_("another reason"),
}
ENDED = (CaseStatus.CLOSED, CaseStatus.DROPPED_OUT)


def is_open(case: Case) -> bool:
    return case.status not in ENDED and case.declined_on is None


def _actor(actor: Person | None) -> int | None:
    return actor.id if actor else None


def applied(case: Case, on: date) -> None:
    """The returnee agreed for the first time: the day they applied."""
    if case.applied_on is None:
        case.applied_on = on


async def returned(
    session: AsyncSession, case: Case, on: date, actor: Person | None, *, tell: bool = True
) -> bool:
    """Arrival confirmed. False if it was already; `tell` False when the confirmation is
    itself a message to the counsellors (a status update "arrived")."""
    if not is_open(case):
        raise RuleViolation(f"case {case.code} is {case.status.value}")
    if case.returned_on is not None:
        return False
    case.returned_on = on
    case.status = CaseStatus.RETURNED
    if case.return_date is None:
        case.return_date = on
        await checkins.plan(session, case)
    await relay.topic_work(session, case, OutboxKind.CARD)  # its status changed
    audit.record(
        session, "case.returned", actor_id=_actor(actor), case_id=case.id, office_id=case.office_id
    )
    if tell:
        await counsellor_news.event(session, case, "arrived")
    return True


async def close(
    session: AsyncSession, case: Case, on: date, actor: Person | None, *, tell: bool = True
) -> None:
    """The programme is over for this returnee: nothing more is asked of them."""
    if not is_open(case):
        raise RuleViolation(f"case {case.code} is already {case.status.value}")
    case.status = CaseStatus.CLOSED
    case.closed_on = on
    await checkins.cancel(session, case)
    await relay.topic_work(session, case, OutboxKind.CARD)  # its status changed
    audit.record(
        session, "case.closed", actor_id=_actor(actor), case_id=case.id, office_id=case.office_id
    )
    if tell:
        await counsellor_news.event(session, case, "closed")


async def drop(
    session: AsyncSession, case: Case, reason: str, on: date, actor: Person | None
) -> None:
    """The returnee left the programme, for one of the documents' reasons."""
    if reason not in DROP_REASONS:
        raise RuleViolation(f"unknown reason {reason!r}; one of {', '.join(DROP_REASONS)}")
    if not is_open(case):
        raise RuleViolation(f"case {case.code} is already {case.status.value}")
    case.status = CaseStatus.DROPPED_OUT
    case.dropped_on = on
    case.drop_reason = reason
    await checkins.cancel(session, case)
    await relay.topic_work(session, case, OutboxKind.CARD)  # its status changed
    audit.record(
        session, "case.dropped", actor_id=_actor(actor), case_id=case.id, office_id=case.office_id
    )
    await counsellor_news.event(session, case, "dropped", reason=reason)


def decline(case: Case, reason: str, on: date) -> None:
    """An eligible person chose not to join: counted, with the reason, and nothing more."""
    if reason not in DECLINE_REASONS:
        raise RuleViolation(f"unknown reason {reason!r}; one of {', '.join(DECLINE_REASONS)}")
    if case.applied_on is not None:
        raise RuleViolation(f"case {case.code} has joined; close it or mark it dropped out")
    case.declined_on = on
    case.decline_reason = reason


def eligible(case: Case, on: date) -> None:
    case.eligible_on = on
