"""The office's shared inbox: which group belongs to which office, which topic to which case,
and who may act there."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import Case, Office, Person, Role


async def office_of_chat(session: AsyncSession, chat_id: int) -> Office | None:
    return await session.scalar(select(Office).where(Office.staff_group_chat_id == chat_id))


async def case_of_topic(session: AsyncSession, chat_id: int, topic_id: int) -> Case | None:
    return await session.scalar(
        select(Case)
        .where(Case.inbox_chat_id == chat_id, Case.topic_id == topic_id)
        .options(
            selectinload(Case.office),
            selectinload(Case.returnee),
            selectinload(Case.counsellors),
            selectinload(Case.assigned_staff),
        )
    )


def may_act(person: Person | None, office: Office) -> bool:
    """Only the office's own registered staff answer in its inbox."""
    return person is not None and person.role is Role.STAFF and person.office_id == office.id
