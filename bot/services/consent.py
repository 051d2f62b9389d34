"""Consent: nothing about a returnee is relayed until they agree, and they can change their mind."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import audit
from bot.services.clock import utcnow
from storage.models import Case, Consent, Person

# Bump when the consent text changes in substance; each decision records the version it answered.
CONSENT_TEXT_VERSION = "2026-11"


def current_consent(case: Case) -> Consent | None:
    """The latest decision by the case's current returnee account, if any."""
    decisions = [c for c in case.consents if c.person_id == case.returnee_id]
    return decisions[-1] if decisions else None


def has_consent(case: Case) -> bool:
    decision = current_consent(case)
    return decision is not None and decision.granted


def _decide(
    session: AsyncSession, case: Case, returnee: Person, *, granted: bool, language: str
) -> Consent:
    if case.returnee_id != returnee.id:
        raise PermissionError("only the case's returnee decides on consent")
    decision = Consent(
        person_id=returnee.id,
        granted=granted,
        text_version=CONSENT_TEXT_VERSION,
        language=language,
        at=utcnow(),
    )
    case.consents.append(decision)
    if granted and case.applied_on is None:
        case.applied_on = decision.at.date()  # the day they applied, for the statistics
    audit.record(
        session,
        "consent.given" if granted else "consent.withdrawn",
        actor_id=returnee.id,
        case_id=case.id,
        office_id=case.office_id,
    )
    return decision


def give_consent(session: AsyncSession, case: Case, returnee: Person, *, language: str) -> Consent:
    """`language`: the one the consent text was shown in."""
    return _decide(session, case, returnee, granted=True, language=language)


def withdraw_consent(
    session: AsyncSession, case: Case, returnee: Person, *, language: str
) -> Consent:
    return _decide(session, case, returnee, granted=False, language=language)
