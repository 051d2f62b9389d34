"""A counsellor's message written when it is sent: the returnee's consent and the counsellor's
link to the case are checked at that moment, so nothing queued before a withdrawal goes out."""

from __future__ import annotations

from datetime import date

from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.texts.counsellors import digest_text, event_text, update_text
from bot.languages import pick_shipped
from bot.services import counsellor_news, digests
from bot.services.clock import as_utc
from bot.services.outbox import CounsellorPayload
from bot.services.sharing import reaches_counsellors
from storage.models import Case, CaseUpdate, Digest, Person, Role


def locale_of(counsellor: Person, i18n: I18n) -> str:
    return pick_shipped(counsellor.language, i18n.default_locale)


async def compose(
    session: AsyncSession, i18n: I18n, payload: CounsellorPayload, case_id: int | None
) -> str | None:
    """The text for the counsellor, or None if it may not (or need not) be sent any more."""
    counsellor = await session.get(Person, payload.counsellor_id)
    if counsellor is None or counsellor.role is not Role.COUNSELLOR:
        return None
    locale = locale_of(counsellor, i18n)
    if payload.digest_id is not None:
        digest = await session.get(Digest, payload.digest_id)
        if digest is None or digest.counsellor_id != counsellor.id:
            return None
        cases = await digests.gather(
            session, counsellor, as_utc(digest.starts_at), as_utc(digest.ends_at)
        )
        if not cases:
            return None
        year, month = (int(part) for part in digest.period.split("-"))
        return digest_text(i18n, locale, date(year, month, 1), cases)
    if case_id is None:
        return None
    case = await session.get(Case, case_id)
    if case is None:
        return None
    # Read now, not as the sender loaded the case: consent may have changed since.
    if not await reaches_counsellors(session, case):
        return None
    if counsellor not in await counsellor_news.counsellors_of(session, case):
        return None
    if payload.update_id is not None:
        row = await session.get(CaseUpdate, payload.update_id)
        if row is None or row.case_id != case.id or row.confirmed_at is None:
            return None
        return update_text(i18n, locale, case.code, row)
    if payload.event is None:
        return None
    return event_text(
        i18n,
        locale,
        case.code,
        payload.event,
        reason=payload.reason,
        category=payload.category,
        amount=payload.amount,
    )
