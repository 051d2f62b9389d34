"""The returnee's answer when staff ask to see a location they shared."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.filters import HasRole
from bot.services import relay
from bot.services.cases import case_of_returnee
from bot.services.unit_of_work import UnitOfWork
from bot.telegram.callbacks import RowId
from bot.telegram.refusals import refuse_press
from storage.models import Case, Person, Role


class LocationAnswer(CallbackData, prefix="loc"):
    case_id: RowId
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
        target = await session.get(Case, callback_data.case_id)
        await refuse_press(
            callback, work, "location", person, case_id=target.id if target is not None else None
        )
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
    # The returnee's buttons are in their private chat; pressed anywhere else they are refused.
    router.callback_query.filter(F.message.chat.type == "private", HasRole(Role.RETURNEE))
    router.callback_query.register(location_answered, LocationAnswer.filter())
    return router
