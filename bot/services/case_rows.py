"""A case read with what services act on: its office, counsellors, consents and returnee.

Apart from bot/services/cases.py so that services cases.py calls (check-ins, planned when a
case is added) can read cases too."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.strategy_options import _AbstractLoad

from bot.services.errors import NotFound
from storage.models import Case


def with_details() -> tuple[_AbstractLoad, ...]:
    return (
        selectinload(Case.office),
        selectinload(Case.counsellors),
        selectinload(Case.consents),
        selectinload(Case.returnee),
    )


async def case_by_id(session: AsyncSession, case_id: int) -> Case:
    """A case with its office, counsellors, consents and returnee loaded."""
    case = await session.get(Case, case_id, options=with_details())
    if case is None:
        raise NotFound("the case does not exist")
    return case


def returnee_language(case: Case) -> str:
    """The language the returnee reads: the one they chose, else the case's."""
    return (case.returnee.language if case.returnee else None) or case.language
