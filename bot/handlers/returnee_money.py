"""The returnee's side of money and check-ins: /receipt, answering the office's question about
a receipt, saying whether a payout arrived, and opening a check-in."""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, Filter
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.i18n import gettext as _
from aiogram_dialog import DialogManager, StartMode
from sqlalchemy.ext.asyncio import AsyncSession

from bot.filters import HasRole
from bot.services import ledger, receipts
from bot.services.cases import case_of_returnee
from bot.services.errors import RuleViolation
from bot.services.unit_of_work import UnitOfWork
from bot.telegram.callbacks import AnswerPress, CheckInPress, PayoutPress
from bot.telegram.refusals import refuse_press
from dialogs.home import onboarded, show_home
from dialogs.states import CheckIns, Reallocation, ReceiptAnswer, Receipts
from storage.models import CheckIn, CheckInStatus, Payout, Person, Receipt, ReceiptStatus, Role

# Wizard steps that read what the returnee types or sends: there it is an answer to the step,
# not a message for the office.
TYPED_STEPS = frozenset(
    {
        Receipts.files,
        Receipts.amount,
        Receipts.description,
        ReceiptAnswer.text,
        Reallocation.amount,
        CheckIns.note,
    }
)


class InWizardStep(Filter):
    """The returnee is at a wizard step that takes their next message."""

    async def __call__(self, event: TelegramObject, **data: Any) -> bool:
        context = data.get("aiogd_context")
        return context is not None and context.state in TYPED_STEPS


async def open_receipt(
    message: Message, dialog_manager: DialogManager, person: Person, session: AsyncSession
) -> None:
    """/receipt: the receipt wizard, once language and consent are settled."""
    if onboarded(person, await case_of_returnee(session, person)):
        await dialog_manager.start(Receipts.category, mode=StartMode.RESET_STACK)
    else:
        await show_home(dialog_manager, person, session)


async def answer_pressed(
    callback: CallbackQuery,
    callback_data: AnswerPress,
    session: AsyncSession,
    work: UnitOfWork,
    person: Person,
    dialog_manager: DialogManager,
) -> None:
    case = await case_of_returnee(session, person)
    receipt = await session.get(Receipt, callback_data.receipt)
    if case is None or receipt is None or receipt.case_id != case.id:
        await refuse_press(
            callback,
            work,
            "receipt_answer",
            person,
            case_id=receipt.case_id if receipt is not None else None,
        )
        return
    if receipt.status is not ReceiptStatus.NEEDS_INFO:
        await callback.answer(_("This question is already answered or closed."), show_alert=True)
        return
    await callback.answer()
    await dialog_manager.start(
        ReceiptAnswer.text,
        data={"receipt": receipt.id, "code": ledger.receipt_code(case, receipt.number)},
        mode=StartMode.RESET_STACK,
    )


async def received_pressed(
    callback: CallbackQuery,
    callback_data: PayoutPress,
    session: AsyncSession,
    work: UnitOfWork,
    person: Person,
) -> None:
    case = await case_of_returnee(session, person)
    arrived = callback_data.action == "received"
    try:
        if case is None:
            raise RuleViolation("no case")
        await receipts.received(session, case, callback_data.payout, person, arrived=arrived)
    except RuleViolation:
        target = await session.get(Payout, callback_data.payout)
        await refuse_press(
            callback, work, "payout", person, case_id=target.case_id if target else None
        )
        return
    await work.commit()
    await callback.answer()
    if isinstance(callback.message, Message):
        # The buttons go, the answer stays readable under the news.
        await callback.message.edit_reply_markup(reply_markup=None)
        await callback.message.answer(
            _("Thank you. We told the office that the money arrived.")
            if arrived
            else _("Thank you. The office has been alerted and will contact you.")
        )


async def checkin_pressed(
    callback: CallbackQuery,
    callback_data: CheckInPress,
    session: AsyncSession,
    work: UnitOfWork,
    person: Person,
    dialog_manager: DialogManager,
) -> None:
    """The returnee opens this month's check-in (from its message or a reminder)."""
    check_in = await session.get(CheckIn, callback_data.check_in)
    case = await case_of_returnee(session, person)
    if check_in is None or case is None or check_in.case_id != case.id:
        await refuse_press(
            callback,
            work,
            "checkin_answer",
            person,
            case_id=check_in.case_id if check_in is not None else None,
        )
        return
    if check_in.status is not CheckInStatus.ASKED:
        await callback.answer(_("This check-in is already answered or closed."), show_alert=True)
        return
    await callback.answer()
    await dialog_manager.start(
        CheckIns.feeling, data={"check_in": check_in.id}, mode=StartMode.RESET_STACK
    )


def build_router() -> Router:
    router = Router(name="returnee_money")
    router.message.filter(HasRole(Role.RETURNEE))
    router.message.register(open_receipt, Command("receipt"))
    # The returnee's buttons are in their private chat; pressed anywhere else they are refused.
    router.callback_query.filter(F.message.chat.type == "private", HasRole(Role.RETURNEE))
    router.callback_query.register(answer_pressed, AnswerPress.filter())
    router.callback_query.register(checkin_pressed, CheckInPress.filter())
    router.callback_query.register(
        received_pressed,
        PayoutPress.filter(F.action != "paid"),
    )
    return router
