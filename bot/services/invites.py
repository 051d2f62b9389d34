"""Onboarding by invite: a single-use, expiring deep link that binds a Telegram account to a role.

The token carries 128 random bits; only its SHA-256 is stored, so a database leak reveals no
usable link.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.languages import SHIPPED_LANGUAGES, normalise
from bot.services import audit, lost_phone
from bot.services.cases import get_case
from bot.services.clock import as_utc, utcnow
from bot.services.errors import RuleViolation
from bot.services.offices import get_office
from bot.services.people import find_by_telegram_id
from storage.models import Case, CaseStatus, Invite, Person, Role, case_counsellors

_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{22}$")


def new_token() -> str:
    return secrets.token_urlsafe(16)  # 16 bytes = 128 bits, 22 URL-safe characters


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def deep_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username.lstrip('@')}?start={token}"


@dataclass(frozen=True)
class IssuedInvite:
    token: str
    invite: Invite


async def _issue(session: AsyncSession, invite: Invite, ttl_days: int) -> IssuedInvite:
    if ttl_days < 1:
        raise RuleViolation("an invite must be valid for at least one day")
    token = new_token()
    invite.token_hash = hash_token(token)
    invite.expires_at = utcnow() + timedelta(days=ttl_days)
    session.add(invite)
    await session.flush()
    audit.record(
        session, f"invite.created.{invite.role}", case_id=invite.case_id, office_id=invite.office_id
    )
    return IssuedInvite(token=token, invite=invite)


async def invite_returnee(session: AsyncSession, *, case_code: str, ttl_days: int) -> IssuedInvite:
    case = await get_case(session, case_code)
    return await _issue(
        session, Invite(role=Role.RETURNEE, case_id=case.id, office_id=case.office_id), ttl_days
    )


async def revoke_unused(
    session: AsyncSession,
    now: datetime,
    *,
    case_code: str | None = None,
    office_code: str | None = None,
) -> int:
    """Expires every unused invite (of one case, or one office, or all): for links that may
    have been read by someone else. Returns how many; audited once, by ids."""
    statement = update(Invite).where(Invite.used_at.is_(None), Invite.expires_at > now)
    case_id = office_id = None
    if case_code is not None:
        case_id = (await get_case(session, case_code)).id
        statement = statement.where(Invite.case_id == case_id)
    if office_code is not None:
        office_id = (await get_office(session, office_code)).id
        statement = statement.where(Invite.office_id == office_id)
    revoked = await session.execute(
        statement.values(expires_at=now).execution_options(synchronize_session=False)
    )
    audit.record(session, "invite.revoked", case_id=case_id, office_id=office_id)
    return int(revoked.rowcount or 0)  # type: ignore[attr-defined]  # a CursorResult for an UPDATE


async def invite_staff(
    session: AsyncSession, *, office_code: str, name: str, ttl_days: int
) -> IssuedInvite:
    office = await get_office(session, office_code)
    if not name.strip():
        raise RuleViolation("a staff invite needs the staff member's display name")
    return await _issue(
        session, Invite(role=Role.STAFF, office_id=office.id, display_name=name.strip()), ttl_days
    )


async def invite_counsellor(
    session: AsyncSession,
    *,
    name: str,
    organisation: str,
    language: str | None,
    case_code: str | None,
    ttl_days: int,
) -> IssuedInvite:
    if not name.strip() or not organisation.strip():
        raise RuleViolation("a counsellor invite needs a display name and an organisation")
    if language is not None and normalise(language) not in SHIPPED_LANGUAGES:
        raise RuleViolation(f"language {language!r} is not shipped")
    case = await get_case(session, case_code) if case_code else None
    invite = Invite(
        role=Role.COUNSELLOR,
        display_name=name.strip(),
        organisation=organisation.strip(),
        language=normalise(language),
        case_id=case.id if case else None,
    )
    return await _issue(session, invite, ttl_days)


class Outcome(enum.StrEnum):
    JOINED = "joined"
    INVALID = "invalid"
    USED = "used"
    EXPIRED = "expired"
    OTHER_ROLE = "other_role"
    ALREADY_YOURS = "already_yours"  # the account that used the link opened it again


@dataclass(frozen=True)
class Redemption:
    outcome: Outcome
    person: Person | None = None
    case: Case | None = None


def looks_like_token(text: str) -> bool:
    return bool(_TOKEN_SHAPE.match(text))


async def redeem(
    session: AsyncSession, *, token: str, telegram_user_id: int, now: datetime | None = None
) -> Redemption:
    """Bind the account to what the invite grants. Commits nothing; the caller does."""
    now = now or utcnow()
    if not looks_like_token(token):
        return Redemption(Outcome.INVALID)
    invite = await session.scalar(
        select(Invite)
        .where(Invite.token_hash == hash_token(token))
        .options(selectinload(Invite.case).selectinload(Case.office), selectinload(Invite.office))
    )
    if invite is None:
        return Redemption(Outcome.INVALID)
    existing = await find_by_telegram_id(session, telegram_user_id)
    if invite.used_at is not None:
        if existing is not None and await _holds(session, invite, existing):
            return Redemption(Outcome.ALREADY_YOURS, person=existing)
        return Redemption(Outcome.USED)
    if as_utc(invite.expires_at) <= now:
        return Redemption(Outcome.EXPIRED)

    if invite.role is Role.RETURNEE and (
        invite.case is None or invite.case.status in (CaseStatus.CLOSED, CaseStatus.DROPPED_OUT)
    ):
        return Redemption(Outcome.INVALID)
    if not await _may_take(session, invite, existing):
        return Redemption(Outcome.OTHER_ROLE, person=existing)
    if not await _claim(session, invite, now):
        return Redemption(Outcome.USED)

    if invite.role is Role.RETURNEE:
        redemption = await _bind_returnee(session, invite, existing, telegram_user_id, now)
    elif invite.role is Role.STAFF:
        redemption = _bind_staff(session, invite, existing, telegram_user_id)
    else:
        redemption = await _bind_counsellor(session, invite, existing, telegram_user_id)
    await session.flush()
    audit.record(
        session,
        f"invite.redeemed.{invite.role}",
        actor_id=redemption.person.id if redemption.person else None,
        case_id=invite.case_id,
        office_id=invite.office_id,
    )
    return redemption


async def _holds(session: AsyncSession, invite: Invite, person: Person) -> bool:
    """Does this account already have what the invite grants?"""
    if person.role is not invite.role:
        return False
    if invite.role is Role.RETURNEE:
        return invite.case is not None and invite.case.returnee_id == person.id
    if invite.role is Role.STAFF:
        return person.office_id == invite.office_id
    if invite.case_id is None:
        return True
    linked = await session.scalar(
        select(case_counsellors.c.case_id).where(
            case_counsellors.c.case_id == invite.case_id,
            case_counsellors.c.person_id == person.id,
        )
    )
    return linked is not None


async def _may_take(session: AsyncSession, invite: Invite, existing: Person | None) -> bool:
    """An account holds one role: one case as a returnee, one office as staff."""
    if existing is None:
        return True
    if existing.role is not invite.role:
        return False
    if invite.role is Role.RETURNEE:
        other = await session.scalar(select(Case.id).where(Case.returnee_id == existing.id))
        return other is None or other == invite.case_id
    if invite.role is Role.STAFF:
        return existing.office_id == invite.office_id
    return True


async def _claim(session: AsyncSession, invite: Invite, now: datetime) -> bool:
    """Mark the invite used, if nobody else did first: one conditional UPDATE, on any database."""
    claimed = await session.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]  # a CursorResult for an UPDATE
        return False
    invite.used_at = now
    return True


async def _bind_returnee(
    session: AsyncSession,
    invite: Invite,
    existing: Person | None,
    telegram_user_id: int,
    now: datetime,
) -> Redemption:
    assert invite.case is not None
    case = await get_case(session, invite.case.code)
    person = existing or Person(telegram_user_id=telegram_user_id, role=Role.RETURNEE)
    session.add(person)
    await session.flush()
    # A new invite for a case that already had an account moves the case to the new account
    # (a lost or replaced phone). Consent is asked again from the new account.
    old = case.returnee
    if old is not None and old.id != person.id:
        await lost_phone.leave_old_account(
            session, case, old.telegram_user_id, telegram_user_id, now
        )
    case.returnee_id = person.id
    case.returnee = person
    return Redemption(Outcome.JOINED, person=person, case=case)


def _bind_staff(
    session: AsyncSession, invite: Invite, existing: Person | None, telegram_user_id: int
) -> Redemption:
    person = existing or Person(
        telegram_user_id=telegram_user_id,
        role=Role.STAFF,
        office_id=invite.office_id,
        display_name=invite.display_name,
    )
    session.add(person)
    return Redemption(Outcome.JOINED, person=person)


async def _bind_counsellor(
    session: AsyncSession, invite: Invite, existing: Person | None, telegram_user_id: int
) -> Redemption:
    person = existing or Person(
        telegram_user_id=telegram_user_id,
        role=Role.COUNSELLOR,
        display_name=invite.display_name,
        organisation=invite.organisation,
        language=invite.language,
    )
    session.add(person)
    await session.flush()
    case = None
    if invite.case is not None:
        case = await get_case(session, invite.case.code)
        if all(c.id != person.id for c in case.counsellors):
            case.counsellors.append(person)
    return Redemption(Outcome.JOINED, person=person, case=case)
