"""Test data made through the real services, the way the admin command line makes it."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import cases, invites, offices, people
from tests.fakes.telegram_user import TelegramUser


async def office_with_case(
    session: AsyncSession,
    *,
    office: str = "RO",
    languages: tuple[str, ...] = ("ro", "en"),
    case_code: str | None = None,
    counsellor_id: int | None = 222,
) -> str:
    """An office, a counsellor and a case; returns a fresh returnee invite token for the case."""
    await offices.add_office(
        session,
        code=office,
        name=f"IOM {office}",
        country=office if len(office) == 2 else "RO",
        timezone="Europe/Bucharest",
        languages=list(languages),
        group_chat_id=-1001234,
    )
    if counsellor_id is not None:
        await people.add_counsellor(
            session, telegram_user_id=counsellor_id, name="Mette", organisation="CMM", language="da"
        )
    code = case_code or f"{office}-0007"
    await cases.add_case(
        session,
        office_code=office,
        code=code,
        language=languages[0],
        return_date=date(2026, 10, 1),
        counsellor_telegram_ids=[counsellor_id] if counsellor_id is not None else [],
    )
    issued = await invites.invite_returnee(session, case_code=code, ttl_days=14)
    await session.commit()
    return issued.token


async def onboard(user: TelegramUser, token: str) -> None:
    """Open the invite, choose English and agree, as a returnee does."""
    await user.send(f"/start {token}")
    await user.press("English")
    await user.press("I agree")


async def consented_returnee_in(database_url: str) -> None:
    """A migrated database with office RO, its case RO-0007 and returnee 501, who joined,
    chose English and agreed: what the process tests start from."""
    from bot.services.consent import give_consent
    from storage.db import create_engine, create_sessionmaker
    from storage.migrate import upgrade_to_head

    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    async with create_sessionmaker(engine)() as session:
        token = await office_with_case(session)
        joined = await invites.redeem(session, token=token, telegram_user_id=501)
        joined.person.language = "en"
        give_consent(session, joined.case, joined.person, language="en")
        await session.commit()
    await engine.dispose()
