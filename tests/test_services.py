"""The rules behind onboarding, on SQLite and on PostgreSQL (when it answers)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.formatting import format_date, format_money, format_number
from bot.services import cases, invites, offices, people
from bot.services.clock import utcnow
from bot.services.consent import give_consent, has_consent, withdraw_consent
from bot.services.errors import NotFound, RuleViolation
from bot.services.invite_guard import InviteGuard
from storage.db import create_engine, create_sessionmaker
from storage.migrate import upgrade_to_head
from storage.models import Case, CaseStatus, Invite, Person, Role
from tests.world import office_with_case


async def test_office_case_and_counsellors(session):
    await office_with_case(session)
    case = await cases.get_case(session, "ro-0007")
    assert case.office.code == "RO"
    assert case.office.languages == ["ro", "en"]
    assert case.status is CaseStatus.PREPARING
    assert case.return_date == date(2026, 10, 1)
    assert [c.telegram_user_id for c in case.counsellors] == [222]
    counsellor = await people.get_counsellor(session, 222)
    assert [c.code for c in await cases.cases_of_counsellor(session, counsellor)] == ["RO-0007"]
    summary = await cases.list_cases(session, "RO")
    assert [(s.code, s.returnee_joined, s.consent) for s in summary] == [("RO-0007", False, False)]


async def test_duplicate_and_unknown_references_are_refused(session):
    await office_with_case(session)
    with pytest.raises(RuleViolation, match="already exists"):
        await cases.add_case(session, office_code="RO", code="RO-0007", language="ro")
    with pytest.raises(NotFound):
        await cases.get_case(session, "RO-0404")
    with pytest.raises(RuleViolation, match="already registered"):
        await people.add_staff(session, office_code="RO", telegram_user_id=222, name="Ana")
    with pytest.raises(RuleViolation, match="language"):
        await offices.add_office(
            session,
            code="BG",
            name="IOM Sofia",
            country="BG",
            timezone="Europe/Sofia",
            languages=["klingon"],
        )


async def test_redeeming_binds_once_and_records_consent_history(session):
    token = await office_with_case(session)
    first = await invites.redeem(session, token=token, telegram_user_id=501)
    assert first.outcome is invites.Outcome.JOINED
    assert first.person.role is Role.RETURNEE
    assert first.person.display_name is None
    again = await invites.redeem(session, token=token, telegram_user_id=501)
    assert again.outcome is invites.Outcome.ALREADY_YOURS
    someone_else = await invites.redeem(session, token=token, telegram_user_id=777)
    assert someone_else.outcome is invites.Outcome.USED

    case = await cases.case_of_returnee(session, first.person)
    assert not has_consent(case)
    give_consent(session, case, first.person, language="ro")
    withdraw_consent(session, case, first.person, language="ro")
    give_consent(session, case, first.person, language="ro")
    await session.commit()
    case = await cases.get_case(session, "RO-0007")
    assert [c.granted for c in case.consents] == [True, False, True]
    assert has_consent(case)
    assert {c.text_version for c in case.consents} == {"2026-11"}


async def test_only_the_returnee_decides_on_consent(session):
    token = await office_with_case(session)
    joined = await invites.redeem(session, token=token, telegram_user_id=501)
    counsellor = await people.get_counsellor(session, 222)
    with pytest.raises(PermissionError):
        give_consent(session, joined.case, counsellor, language="da")


async def test_expiry_is_checked_against_the_clock(session):
    token = await office_with_case(session)
    later = utcnow() + timedelta(days=15)
    result = await invites.redeem(session, token=token, telegram_user_id=501, now=later)
    assert result.outcome is invites.Outcome.EXPIRED
    invite = await session.scalar(select(Invite))
    assert invite.used_at is None


def test_invite_guard_waits_after_too_many_failures_and_forgets_later():
    now = [1000.0]
    guard = InviteGuard(attempts=3, window_seconds=600, clock=lambda: now[0])
    for _ in range(3):
        assert guard.seconds_to_wait(42) == 0
        guard.failed(42)
    assert 590 <= guard.seconds_to_wait(42) <= 601
    assert guard.seconds_to_wait(43) == 0
    now[0] += 601
    assert guard.seconds_to_wait(42) == 0
    assert all(str(42) not in repr(key) for key in guard._failures)


def test_dates_numbers_and_money_follow_the_locale():
    day = date(2026, 10, 1)
    assert format_date(day, "en") == "October 1, 2026"
    assert format_date(day, "da") == "1. oktober 2026"
    assert format_date(day, "ro") == "1 octombrie 2026"
    assert format_number(3000, "da") == "3.000"
    assert format_money(150, "USD", "en") == "$150.00"
    assert format_money(150, "USD", "fr") == "150,00\xa0$US"


async def test_two_accounts_racing_for_one_invite_never_both_get_the_case(database_url):
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        token = await office_with_case(session)

    async def redeem_as(telegram_user_id: int) -> str:
        async with sessions() as session:
            try:
                result = await invites.redeem(
                    session, token=token, telegram_user_id=telegram_user_id
                )
                if result.outcome is invites.Outcome.JOINED:
                    await session.commit()
            except OperationalError:  # SQLite refuses the slower writer outright
                return "refused"
            return str(result.outcome)

    outcomes = await asyncio.gather(redeem_as(501), redeem_as(502))
    assert sorted(outcomes).count("joined") == 1
    async with sessions() as session:
        case = await session.scalar(select(Case))
        returnee = await session.get(Person, case.returnee_id)
        assert returnee.telegram_user_id in (501, 502)
        assert outcomes[[501, 502].index(returnee.telegram_user_id)] == "joined"
    await engine.dispose()
