"""Country offices: the IOM mission or partner NGO that answers a case's returnee."""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.languages import is_known_language, normalise
from bot.services import audit
from bot.services.errors import NotFound, RuleViolation
from bot.services.office_hours import parse_hours
from storage.models import KnowledgeMode, Office, OfficeInbox

_OFFICE_CODE = re.compile(r"^[A-Z]{2,8}$")
# CLDR names these regions, but they are groupings or placeholders, not countries.
_NOT_COUNTRIES = frozenset({"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB"})


async def add_office(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    country: str,
    timezone: str,
    languages: list[str],
    group_chat_id: int | None = None,
) -> Office:
    code = code.strip().upper()
    if not _OFFICE_CODE.match(code):
        raise RuleViolation(f"office code {code!r} must be 2-8 letters, e.g. RO")
    country = country.strip().upper()
    if (
        country not in Locale("en").territories
        or not country.isalpha()
        or country in _NOT_COUNTRIES
    ):
        raise RuleViolation(f"country {country!r} is not an ISO 3166 two-letter code")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleViolation(f"time zone {timezone!r} is unknown, e.g. Europe/Bucharest") from None
    codes = [normalise(language) for language in languages]
    if not codes or not all(code_ and is_known_language(code_) for code_ in codes):
        raise RuleViolation(f"languages {','.join(languages)!r} must be language codes, e.g. ro,en")
    if group_chat_id is not None and group_chat_id >= 0:
        raise RuleViolation("the staff group chat id of a supergroup is negative, e.g. -100123")
    if not name.strip():
        raise RuleViolation("office name must not be empty")
    if await find_office(session, code) is not None:
        raise RuleViolation(f"office {code} already exists")
    office = Office(
        code=code,
        name=name.strip(),
        country=country,
        timezone=timezone,
        languages=list(dict.fromkeys(c for c in codes if c)),
        staff_group_chat_id=group_chat_id,
    )
    session.add(office)
    await session.flush()
    audit.record(session, "office.added", office_id=office.id)
    return office


async def find_office(session: AsyncSession, code: str) -> Office | None:
    return await session.scalar(select(Office).where(Office.code == code.strip().upper()))


async def get_office(session: AsyncSession, code: str) -> Office:
    office = await find_office(session, code)
    if office is None:
        raise NotFound(f"office {code.strip().upper()} does not exist")
    return office


async def list_offices(session: AsyncSession) -> list[Office]:
    return list(
        await session.scalars(
            select(Office).order_by(Office.code).options(selectinload(Office.extra_inboxes))
        )
    )


async def update_office(
    session: AsyncSession,
    code: str,
    *,
    group_chat_id: int | None = None,
    sign_with_staff_name: bool | None = None,
    hours: list[str] | None = None,
    holidays: list[date] | None = None,
    add_inbox: int | None = None,
    emergency_contact: str | None = None,
    knowledge_mode: KnowledgeMode | None = None,
) -> Office:
    """Change what is given; leave the rest. Hours replace the whole week."""
    office = await get_office(session, code)
    if group_chat_id is not None:
        if group_chat_id >= 0:
            raise RuleViolation("the staff group chat id of a supergroup is negative, e.g. -100123")
        office.staff_group_chat_id = group_chat_id
    if sign_with_staff_name is not None:
        office.sign_with_staff_name = sign_with_staff_name
    if hours is not None:
        office.working_hours = parse_hours(hours)
    if holidays is not None:
        office.holidays = sorted({day.isoformat() for day in holidays})
    if add_inbox is not None:
        if add_inbox >= 0:
            raise RuleViolation("a staff group chat id of a supergroup is negative, e.g. -100456")
        taken = await session.scalar(
            select(Office.code).where(Office.staff_group_chat_id == add_inbox)
        ) or await session.scalar(
            select(Office.code).join(OfficeInbox).where(OfficeInbox.chat_id == add_inbox)
        )
        if taken:
            raise RuleViolation(f"group {add_inbox} is already an inbox of office {taken}")
        session.add(OfficeInbox(office_id=office.id, chat_id=add_inbox))
    if emergency_contact is not None:
        if not 3 <= len(emergency_contact.strip()) <= 200:
            raise RuleViolation("the emergency contact needs 3-200 characters")
        office.emergency_contact = emergency_contact.strip()
    if knowledge_mode is not None:
        office.knowledge_mode = knowledge_mode
    audit.record(session, "office.updated", office_id=office.id)
    return office
