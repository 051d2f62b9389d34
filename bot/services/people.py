"""People who talk to the bot: returnees, counsellors, office staff and admins."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.languages import SHIPPED_LANGUAGES, normalise
from bot.services import audit
from bot.services.errors import NotFound, RuleViolation
from bot.services.offices import get_office
from storage.models import Person, Role


async def find_by_telegram_id(session: AsyncSession, telegram_user_id: int) -> Person | None:
    return await session.scalar(
        select(Person)
        .where(Person.telegram_user_id == telegram_user_id)
        .options(selectinload(Person.office))
    )


def _display_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise RuleViolation("a display name must be 1-100 characters")
    return name


def _language(code: str | None) -> str | None:
    language = normalise(code)
    if code is not None and language not in SHIPPED_LANGUAGES:
        raise RuleViolation(
            f"language {code!r} is not shipped; choose one of {', '.join(SHIPPED_LANGUAGES)}"
        )
    return language


async def _ensure_unregistered(session: AsyncSession, telegram_user_id: int) -> None:
    if telegram_user_id <= 0:
        raise RuleViolation("a Telegram user id is a positive number")
    existing = await find_by_telegram_id(session, telegram_user_id)
    if existing is not None:
        raise RuleViolation(
            f"Telegram user {telegram_user_id} is already registered as {existing.role}"
        )


async def add_staff(
    session: AsyncSession,
    *,
    office_code: str,
    telegram_user_id: int,
    name: str,
    language: str | None = None,
) -> Person:
    office = await get_office(session, office_code)
    await _ensure_unregistered(session, telegram_user_id)
    person = Person(
        telegram_user_id=telegram_user_id,
        role=Role.STAFF,
        office=office,
        display_name=_display_name(name),
        language=_language(language),
    )
    session.add(person)
    await session.flush()
    audit.record(session, "staff.added", actor_id=None, office_id=office.id)
    return person


async def add_counsellor(
    session: AsyncSession,
    *,
    telegram_user_id: int,
    name: str,
    organisation: str,
    language: str | None = None,
) -> Person:
    await _ensure_unregistered(session, telegram_user_id)
    if not organisation.strip():
        raise RuleViolation("a counsellor's organisation must not be empty")
    person = Person(
        telegram_user_id=telegram_user_id,
        role=Role.COUNSELLOR,
        display_name=_display_name(name),
        organisation=organisation.strip(),
        language=_language(language),
    )
    session.add(person)
    await session.flush()
    audit.record(session, "counsellor.added")
    return person


async def add_admin(
    session: AsyncSession, *, telegram_user_id: int, name: str, language: str | None = None
) -> Person:
    """A programme manager. The bot writes to them privately (in this language) when an office's
    staff group refuses it."""
    await _ensure_unregistered(session, telegram_user_id)
    person = Person(
        telegram_user_id=telegram_user_id,
        role=Role.ADMIN,
        display_name=_display_name(name),
        language=_language(language),
    )
    session.add(person)
    await session.flush()
    audit.record(session, "admin.added")
    return person


async def get_counsellor(session: AsyncSession, telegram_user_id: int) -> Person:
    person = await find_by_telegram_id(session, telegram_user_id)
    if person is None or person.role is not Role.COUNSELLOR:
        raise NotFound(f"no counsellor with Telegram user id {telegram_user_id}")
    return person


async def set_language(session: AsyncSession, person: Person, language: str) -> None:
    person.language = _language(language)
    audit.record(session, "person.language_changed", actor_id=person.id)
