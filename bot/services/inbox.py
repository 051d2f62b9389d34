"""The office's shared inbox: which group belongs to which office, which topic to which case,
and who may act there."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.services import audit, relay
from bot.services.outbox import Mention
from storage.models import Case, Office, OfficeInbox, OutboxKind, Person, Role


async def office_of_chat(session: AsyncSession, chat_id: int) -> Office | None:
    """The office whose staff group (main or added) this chat is."""
    return await session.scalar(
        select(Office).where(
            or_(
                Office.staff_group_chat_id == chat_id,
                Office.id.in_(select(OfficeInbox.office_id).where(OfficeInbox.chat_id == chat_id)),
            )
        )
    )


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


@dataclass(frozen=True)
class OfficeStaff:
    """A registered staff member of the office whose group this is."""

    office: Office
    staff: Person


@dataclass(frozen=True)
class InboxContext:
    """A registered staff member of the office, writing in the topic of one of its cases."""

    office: Office
    case: Case
    staff: Person


class Refusal(enum.Enum):
    """Why a message in an office's group is not acted on."""

    ANONYMOUS = "sent anonymously as the group, so no staff member can be linked to it"
    STRANGER = "not written by the office's registered staff"
    NO_CASE = "written in a topic that belongs to no case"


def staff_of(office: Office, person: Person | None) -> OfficeStaff | None:
    return OfficeStaff(office, person) if person is not None and may_act(person, office) else None


async def context_of_topic(
    session: AsyncSession,
    office: Office,
    chat_id: int,
    topic_id: int | None,
    person: Person | None,
    *,
    anonymous: bool,
) -> InboxContext | Refusal:
    """The case a staff member works on in this topic of the office's group, or why not."""
    if anonymous:
        return Refusal.ANONYMOUS
    staff = staff_of(office, person)
    if staff is None:
        return Refusal.STRANGER
    case = await case_of_topic(session, chat_id, topic_id) if topic_id else None
    if case is None:
        return Refusal.NO_CASE
    return InboxContext(office, case, staff.staff)


def signature(office: Office, staff: Person) -> str:
    """How staff answers are signed: the office, with the first name when the office wants it."""
    if office.sign_with_staff_name and staff.display_name:
        return f"{staff.display_name.split()[0]}, {office.name}"
    return office.name


async def staff_named(session: AsyncSession, office: Office, name: str) -> list[Person]:
    """Staff of this office whose registered name starts with `name` (case-insensitive)."""
    wanted = name.strip().casefold()
    staff = await session.scalars(
        select(Person).where(Person.office_id == office.id, Person.role == Role.STAFF)
    )
    return [p for p in staff if (p.display_name or "").casefold().startswith(wanted)]


async def assign(session: AsyncSession, case: Case, staff: Person, by: Person) -> None:
    """Make `staff` responsible for the case; the card in the topic follows."""
    case.assigned_staff_id = staff.id
    case.assigned_staff = staff
    audit.record(
        session, "case.assigned", actor_id=by.id, case_id=case.id, office_id=case.office_id
    )
    await relay.topic_work(session, case, OutboxKind.CARD)


async def close(session: AsyncSession, case: Case, by: Person) -> None:
    """Close the topic; the returnee's next message opens it again."""
    case.topic_closed = True
    audit.record(
        session, "case.topic_closed", actor_id=by.id, case_id=case.id, office_id=case.office_id
    )
    await relay.topic_work(session, case, OutboxKind.CLOSE_TOPIC)


async def alerted_staff(session: AsyncSession, case: Case) -> list[Mention]:
    """Who the urgent alert names: the assigned staff member, or else all the office's staff."""
    office_staff = list(
        await session.scalars(
            select(Person)
            .where(Person.office_id == case.office_id, Person.role == Role.STAFF)
            .order_by(Person.id)
        )
    )
    # The assigned staff member if they are still on the office's staff; else everyone.
    staff = [p for p in office_staff if p.id == case.assigned_staff_id] or office_staff
    # Staff always have an admin-typed name; the id only stands in should one be missing.
    return [
        Mention(user_id=p.telegram_user_id, name=p.display_name or str(p.telegram_user_id))
        for p in staff
    ]
