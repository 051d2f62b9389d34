"""What counsellors, staff and admins are told when they join or come back, and what a stranger
is told."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.texts import STATUS
from bot.services.cases import cases_of_counsellor
from storage.models import CaseStatus, Office, Person, Role


def status_label(status: CaseStatus) -> str:
    return _(STATUS[status])


async def counsellor_cases_text(session: AsyncSession, counsellor: Person) -> str:
    cases = await cases_of_counsellor(session, counsellor)
    if not cases:
        return _("You have no cases yet. An admin adds you to a case.")
    lines = [f"{case.code} · {case.office.name} · {status_label(case.status)}" for case in cases]
    return _("Your cases:") + "\n" + "\n".join(lines)


async def welcome_text(session: AsyncSession, person: Person) -> str:
    """For a registered counsellor, staff member or admin."""
    name = person.display_name or ""
    if person.role is Role.STAFF:
        office = await session.get(Office, person.office_id) if person.office_id else None
        return _(
            "Welcome, {name}. You are registered as staff of {office}. Case conversations will "
            "appear in your office's staff group."
        ).format(name=name, office=office.name if office else "")
    if person.role is Role.COUNSELLOR:
        text = _(
            "Welcome, {name}. You are registered as a contact person ({organisation})."
        ).format(name=name, organisation=person.organisation or "")
        return text + "\n\n" + await counsellor_cases_text(session, person)
    return _(
        "Welcome, {name}. You are registered as an admin. Offices, cases and invites are "
        "managed from the command line."
    ).format(name=name)


def unknown_text() -> str:
    return _(
        "Hello. This is Homeward, a service of your return programme. It works only with a "
        "personal invitation link from your counsellor or your office. If you have one, "
        "please open it again."
    )
