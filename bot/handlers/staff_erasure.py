"""A returnee's request to erase their data, decided by the office's staff with one press on
the note in the case's topic (bot/services/erasure.py decides who may, and whether the request
still waits: a forged, replayed or out-of-date press changes nothing)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.methods import EditMessageReplyMarkup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.delivery.sender import Sender
from bot.services import erasure
from bot.services.clock import utcnow
from bot.services.errors import RuleViolation
from bot.services.unit_of_work import UnitOfWork
from bot.telegram.callbacks import ErasePress
from storage.models import Person


async def erase_pressed(
    callback: CallbackQuery,
    callback_data: ErasePress,
    work: UnitOfWork,
    sender: Sender,
    person: Person | None = None,
) -> None:
    if person is None:
        await _refuse(callback)
        return
    try:
        await erasure.decide(
            work.session, callback_data.request, person, erase_it=callback_data.erase, now=utcnow()
        )
    except RuleViolation:
        await work.rollback()
        await _refuse(callback)
        return
    await work.commit()
    if callback_data.erase:
        # The topic, this note with it, is deleted through the outbox in a moment.
        await callback.answer(_("The case is erased. Its topic is deleted now."), show_alert=True)
        return
    await callback.answer(_("Refused. The returnee was told."))
    if isinstance(callback.message, Message):
        await sender.call(
            callback.message.chat.id,
            EditMessageReplyMarkup(
                chat_id=callback.message.chat.id,
                message_id=callback.message.message_id,
                reply_markup=None,
            ),
        )


async def _refuse(callback: CallbackQuery) -> None:
    await callback.answer(
        _(
            "This cannot be done: the request was decided already, or only the case's office's "
            "staff may decide it."
        ),
        show_alert=True,
    )


def build_router() -> Router:
    router = Router(name="staff_erasure")
    router.callback_query.filter(F.message.chat.type == "supergroup")
    router.callback_query.register(erase_pressed, ErasePress.filter())
    return router
