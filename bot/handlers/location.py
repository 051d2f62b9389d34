"""The returnee's answer when staff ask to see a location they shared."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.filters import HasRole
from bot.services import relay
from bot.services.cases import case_of_returnee
from bot.services.unit_of_work import UnitOfWork
from storage.models import Person, Role


class LocationAnswer(CallbackData, prefix="loc"):
    case_id: int
    share: bool


async def location_answered(
    callback: CallbackQuery,
    callback_data: LocationAnswer,
    session: AsyncSession,
    work: UnitOfWork,
    person: Person,
) -> None:
    case = await case_of_returnee(session, person)
    location = await relay.last_shared_location(session, case) if case else None
    if case is None or case.id != callback_data.case_id or location is None:
        await callback.answer()
        return
    if callback_data.share:
        await relay.share_location(session, case, person, location)
        answer = _("Sent to your office.")
    else:
        await relay.notice(session, case, "location_declined")
        answer = _("Not sent. Your office only knows that you said no.")
    await work.commit()
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.edit_text(answer)


def build_router() -> Router:
    router = Router(name="location")
    router.callback_query.filter(HasRole(Role.RETURNEE))
    router.callback_query.register(location_answered, LocationAnswer.filter())
    return router
