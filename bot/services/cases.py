"""Cases: one returnee's journey with one country office, identified by a code such as RO-0007."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from bot.languages import is_known_language, normalise
from bot.services import audit, checkins, programmes
from bot.services.budget import programme_code

# Read by other modules through this one; defined apart so check-ins can read cases too.
from bot.services.case_rows import case_by_id as case_by_id
from bot.services.case_rows import returnee_language as returnee_language
from bot.services.case_rows import with_details
from bot.services.clock import utcnow
from bot.services.consent import has_consent
from bot.services.errors import NotFound, RuleViolation
from bot.services.offices import get_office
from bot.services.people import get_counsellor
from storage.models import Case, CaseStatus, LedgerLine, Office, Payout, Person

_CASE_CODE = re.compile(r"^(?P<office>[A-Z]{2,8})-(?P<number>\d{4,6})$")


async def add_case(
    session: AsyncSession,
    *,
    office_code: str,
    code: str,
    language: str,
    return_date: date | None = None,
    status: CaseStatus = CaseStatus.PREPARING,
    counsellor_telegram_ids: list[int] | None = None,
    programme: str | None = None,
) -> Case:
    office = await get_office(session, office_code)
    code = code.strip().upper()
    match = _CASE_CODE.match(code)
    if match is None or match["office"] != office.code:
        raise RuleViolation(f"case code {code!r} must look like {office.code}-0007")
    if await session.scalar(select(Case.id).where(Case.code == code)) is not None:
        raise RuleViolation(f"case {code} already exists")
    case_language = normalise(language)
    if not case_language or not is_known_language(case_language):
        raise RuleViolation(f"language {language!r} is not a language code, e.g. ro")
    counsellors = [
        await get_counsellor(session, telegram_id)
        for telegram_id in dict.fromkeys(counsellor_telegram_ids or [])
    ]
    case = Case(
        code=code,
        office=office,
        language=case_language,
        return_date=return_date,
        status=status,
        counsellors=counsellors,
        programme=programme_code(programme) if programme else None,
        eligible_on=utcnow().date(),  # the day the office learnt of them; the CLI can set it
    )
    session.add(case)
    await session.flush()
    audit.record(session, "case.added", case_id=case.id, office_id=office.id)
    # A programme and a return date are all the allowance plan needs: it is there from the start.
    await programmes.plan(session, case)
    # The check-ins too: asked only once the returnee has agreed (bot/services/checkins.py).
    await checkins.plan(session, case)
    return case


async def get_case(session: AsyncSession, code: str) -> Case:
    case = await session.scalar(
        select(Case).where(Case.code == code.strip().upper()).options(*with_details())
    )
    if case is None:
        raise NotFound(f"case {code.strip().upper()} does not exist")
    return case


async def case_of_returnee(session: AsyncSession, returnee: Person) -> Case | None:
    """The returnee's case with its office and consent history: all a private chat needs.

    One statement (joined, not a query per relationship): this runs for every message."""
    found = await session.scalars(
        select(Case)
        .where(Case.returnee_id == returnee.id)
        .options(joinedload(Case.office), joinedload(Case.consents))
    )
    return found.unique().first()


async def cases_of_counsellor(session: AsyncSession, counsellor: Person) -> list[Case]:
    return list(
        await session.scalars(
            select(Case)
            .where(Case.counsellors.any(Person.id == counsellor.id))
            .order_by(Case.code)
            .options(*with_details())
        )
    )


@dataclass(frozen=True)
class CaseSummary:
    code: str
    office: str
    language: str
    status: CaseStatus
    return_date: date | None
    counsellors: int
    returnee_joined: bool
    consent: bool


async def list_cases(session: AsyncSession, office_code: str | None = None) -> list[CaseSummary]:
    query = select(Case).join(Office).order_by(Case.code).options(*with_details())
    if office_code:
        query = query.where(Office.code == office_code.strip().upper())
    return [
        CaseSummary(
            code=case.code,
            office=case.office.code,
            language=case.language,
            status=case.status,
            return_date=case.return_date,
            counsellors=len(case.counsellors),
            returnee_joined=case.returnee_id is not None,
            consent=has_consent(case),
        )
        for case in await session.scalars(query)
    ]


async def set_return_date(session: AsyncSession, code: str, return_date: date) -> Case:
    """The day the returnee came (or comes) home: the check-ins not yet asked move with it."""
    case = await get_case(session, code)
    case.return_date = return_date
    audit.record(session, "case.return_date_set", case_id=case.id, office_id=case.office_id)
    await checkins.plan(session, case)
    await programmes.plan(session, case)
    return case


async def set_programme(session: AsyncSession, code: str, programme: str) -> Case:
    """Which programme's budget applies to the case; its allowance instalments are planned
    once it has a return date too."""
    case = await get_case(session, code)
    wanted = programme_code(programme)
    if case.programme != wanted and await _has_money(session, case):
        # Its payouts and lines belong to the old programme's categories and currency: moved
        # under another programme they would silently drop out of the statement.
        raise RuleViolation(
            f"case {case.code} has money recorded under programme {case.programme}; "
            "its programme cannot change"
        )
    case.programme = wanted
    audit.record(session, "case.programme_set", case_id=case.id, office_id=case.office_id)
    await programmes.plan(session, case)
    return case


async def _has_money(session: AsyncSession, case: Case) -> bool:
    found = await session.scalar(
        select(Case.id).where(
            Case.id == case.id,
            or_(
                select(Payout.id).where(Payout.case_id == case.id).exists(),
                select(LedgerLine.id).where(LedgerLine.case_id == case.id).exists(),
            ),
        )
    )
    return found is not None
