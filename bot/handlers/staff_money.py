"""Money in the office's staff group: the buttons on a receipt's card, the bot's prompts that
staff answer by replying, and /paid, /budget, /reject, /ask.

Each press and command is translated into one call of bot/services/receipts.py (or the ledger),
which checks who may do it; a button acts only from its case's topic. A refusal is answered to
the presser alone, nothing changes, and it is audited (bot/telegram/refusals.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject, Filter
from aiogram.methods import EditMessageReplyMarkup, SendMessage
from aiogram.types import (
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.sender import Sender
from bot.delivery.texts import office_locale
from bot.delivery.texts.money import (
    PROMPTS,
)
from bot.formatting import format_money
from bot.i18n import N_
from bot.knowledge.facts import CATEGORY_LABELS
from bot.middlewares.inbox import InboxMiddleware, Needs, needs
from bot.services import ledger, reallocations, receipts
from bot.services.cases import case_by_id
from bot.services.errors import RuleViolation
from bot.services.inbox import InboxContext
from bot.services.unit_of_work import UnitOfWork
from bot.telegram.callbacks import MovePress, PayoutPress, ReceiptPress
from bot.telegram.refusals import in_topic_of, refuse_press
from bot.telegram.topic import reply_in_topic
from storage.models import Case, LedgerLine, PaymentMethod, Payout, Person, Receipt


async def _refuse(
    callback: CallbackQuery,
    work: UnitOfWork,
    what: str,
    person: Person | None,
    case_id: int | None,
) -> None:
    # The service's reason is for admins and in English; the presser gets a translated one.
    await refuse_press(
        callback,
        work,
        what,
        person,
        case_id=case_id,
        text=_(
            "This cannot be done: the button is out of date, the receipt is decided already, "
            "or only the case's office's staff may do it."
        ),
    )


# The actions that carry a way of paying in their value.
METHOD_ACTIONS = ("method", "full", "amount")


async def _prompt(
    sender: Sender,
    session: AsyncSession,
    i18n: I18n,
    case: Case,
    receipt: Receipt,
    staff: Person,
    prompt: str,
    currency: str,
) -> None:
    """A message staff answer by replying: the reply is taken for this receipt."""
    assert receipt.card_chat_id is not None
    locale = office_locale(case.office, i18n)
    text = i18n.gettext(PROMPTS[prompt.split(":")[0]], locale=locale).format(
        receipt=ledger.receipt_code(case, receipt.number),
        currency=currency,
        receipt_currency=receipt.currency,
    )
    sent = await sender.call(
        receipt.card_chat_id,
        SendMessage(
            chat_id=receipt.card_chat_id,
            message_thread_id=case.topic_id,
            text=text,
            reply_parameters=ReplyParameters(
                message_id=receipt.card_message_id or 0, allow_sending_without_reply=True
            ),
            reply_markup=ForceReply(force_reply=True),
        ),
    )
    await receipts.set_prompt(session, receipt.id, staff, prompt, sent.message_id, receipt.version)


async def receipt_pressed(
    callback: CallbackQuery,
    callback_data: ReceiptPress,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
    i18n: I18n,
    person: Person | None = None,
) -> None:
    press = callback_data
    receipt = await session.get(Receipt, press.receipt)
    case = await case_by_id(session, receipt.case_id) if receipt is not None else None
    if receipt is None or case is None or person is None or not in_topic_of(callback, case):
        await _refuse(callback, work, "receipt", person, case.id if case else None)
        return
    # Only a decision must be made on the newest card; finding one's way to it need not.
    version: int | None = press.version if press.action in ("full", "reason") else None
    try:
        # A way of paying is one of the list, before anything is asked or decided with it.
        method = PaymentMethod(press.value) if press.action in METHOD_ACTIONS else None
        # Opening a decision puts the receipt under review (the returnee is told once); the
        # buttons of this press are then those of the receipt's new version.
        if await receipts.start_review(session, receipt.id, person, version) is not None:
            version = None
        currency = (await ledger.statement(session, case)).of(receipt.category).currency
        match press.action:
            case "approve":
                await receipts.show_step(session, receipt.id, person, "methods", version=version)
            case "method" if receipt.currency == currency:
                await receipts.show_step(
                    session, receipt.id, person, "amount", method=method, version=version
                )
            case "method":
                assert method is not None
                await _prompt(
                    sender, session, i18n, case, receipt, person, f"rate:{method.value}", currency
                )
            case "full":
                assert method is not None
                await receipts.approve(session, receipt.id, person, method=method, version=version)
            case "amount":
                assert method is not None
                await _prompt(
                    sender, session, i18n, case, receipt, person, f"amount:{method.value}", currency
                )
            case "reject":
                await receipts.show_step(session, receipt.id, person, "reasons", version=version)
            case "reason":
                await receipts.reject(
                    session, receipt.id, person, reason=press.value, version=version
                )
            case "other" | "ask":
                await _prompt(sender, session, i18n, case, receipt, person, press.action, currency)
            case _:  # back
                await receipts.show_step(session, receipt.id, person, "main", version=version)
    except (RuleViolation, ValueError):
        await _refuse(callback, work, "receipt", person, case.id)
        return
    await work.commit()
    await callback.answer()


# Why a reply to a prompt was not taken; the reply stays in the topic to be corrected and sent
# again as a new reply.
PROMPT_REFUSED = {
    "ask": N_(
        "Not sent: the receipt was decided already, or the question is empty or longer than "
        "500 characters."
    ),
    "other": N_(
        "Not rejected: the receipt was decided already, or the reason is empty or longer than "
        "300 characters."
    ),
    "rate": N_(
        "Not approved: write the rate as a number like 0.22, as a reply to the question. The "
        "amount it gives cannot be more than what is left in the category."
    ),
    "amount": N_(
        "Not approved: write the amount as a number like 150, as a reply to the question. It "
        "cannot be more than the receipt's amount or than what is left in the category."
    ),
}


class ReplyToBot(Filter):
    """A reply to a message of the bot's: perhaps an answer to one of its prompts."""

    async def __call__(self, message: Message) -> bool:
        reply = message.reply_to_message
        return reply is not None and reply.from_user is not None and reply.from_user.is_bot


async def prompt_answered(
    message: Message,
    context: InboxContext,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
) -> None:
    assert message.reply_to_message is not None
    prompted = await receipts.prompted(session, context.case, message.reply_to_message.message_id)
    if prompted is None:
        raise SkipHandler  # an ordinary reply: the inbox passes it on
    text = (message.text or "").strip()
    prompt, _sep, method = (prompted.prompt or "").partition(":")
    try:
        if prompt == "ask":
            await receipts.ask(session, prompted.id, context.staff, text, prompted.version)
            done = _("Sent to the returnee.")
        elif prompt == "other":
            await receipts.reject(session, prompted.id, context.staff, note=text)
            done = _("Rejected; the returnee was told the reason.")
        elif prompt == "rate":
            await receipts.approve(
                session,
                prompted.id,
                context.staff,
                method=PaymentMethod(method),
                rate=receipts.positive_decimal(text),
            )
            done = _("Approved.")
        else:  # amount
            await receipts.approve(
                session,
                prompted.id,
                context.staff,
                method=PaymentMethod(method),
                amount=receipts.positive_decimal(text),
            )
            done = _("Approved.")
    except RuleViolation:
        await work.rollback()
        await reply_in_topic(sender, message, _(PROMPT_REFUSED[prompt]))
        return
    await work.commit()
    await reply_in_topic(sender, message, done)


# ---- /paid and the Paid button ------------------------------------------------------------


async def paid_list(
    message: Message, context: InboxContext, session: AsyncSession, sender: Sender, i18n: I18n
) -> None:
    """/paid: what may be marked paid, one button each."""
    locale = office_locale(context.office, i18n)
    balances = {b.category: b for b in (await ledger.statement(session, context.case)).balances}
    rows = []
    for payout, code in await receipts.unpaid_of(session, context.case):
        currency = balances[payout.category].currency if payout.category in balances else ""
        what = code or i18n.gettext(CATEGORY_LABELS.get(payout.category, ""), locale=locale)
        if payout.instalment:
            what += f" #{payout.instalment}"
            if payout.due_on:
                what += f" · {payout.due_on.isoformat()}"
        rows.append(
            [
                InlineKeyboardButton(
                    text=f"💸 {what} · {format_money(payout.amount, currency, locale)}",
                    callback_data=PayoutPress(payout=payout.id, action="paid").pack(),
                )
            ]
        )
    if not rows:
        await reply_in_topic(sender, message, _("Nothing is waiting to be paid on this case."))
        return
    await sender.call(
        message.chat.id,
        SendMessage(
            chat_id=message.chat.id,
            message_thread_id=message.message_thread_id,
            text=_("Press what has been paid:"),
            reply_markup=InlineKeyboardMarkup(inline_keyboard=rows[:20]),
        ),
    )


async def payout_pressed(
    callback: CallbackQuery,
    callback_data: PayoutPress,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
    person: Person | None = None,
) -> None:
    """Paid, pressed by staff in the topic (received and not received are the returnee's)."""
    payout = await session.get(Payout, callback_data.payout)
    case = await case_by_id(session, payout.case_id) if payout is not None else None
    if case is None or person is None or not in_topic_of(callback, case):
        await _refuse(callback, work, "payout", person, case.id if case else None)
        return
    try:
        await receipts.mark_paid(
            session,
            case,
            callback_data.payout,
            person,
            datetime.now(ZoneInfo(case.office.timezone)).date(),
        )
    except RuleViolation:
        await _refuse(callback, work, "payout", person, case.id)
        return
    await work.commit()
    await callback.answer(_("Marked paid. The returnee was told."))
    message = callback.message
    if isinstance(message, Message) and message.reply_markup is not None:
        # On the /paid list, the pressed line goes; on a card, the card is redrawn by the outbox.
        rows = [
            row
            for row in message.reply_markup.inline_keyboard
            if all(button.callback_data != callback.data for button in row)
        ]
        if rows != message.reply_markup.inline_keyboard and message.text != "":
            await sender.call(
                message.chat.id,
                EditMessageReplyMarkup(
                    chat_id=message.chat.id,
                    message_id=message.message_id,
                    reply_markup=InlineKeyboardMarkup(inline_keyboard=rows) if rows else None,
                ),
            )


async def move_pressed(
    callback: CallbackQuery,
    callback_data: MovePress,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
    person: Person | None = None,
) -> None:
    line = await session.get(LedgerLine, callback_data.line)
    case = await case_by_id(session, line.case_id) if line is not None else None
    if case is None or person is None or not in_topic_of(callback, case):
        await _refuse(callback, work, "move", person, case.id if case else None)
        return
    try:
        await reallocations.decide(session, callback_data.line, person, allow=callback_data.approve)
    except RuleViolation:
        await _refuse(callback, work, "move", person, case.id)
        return
    await work.commit()
    await callback.answer(_("Done. The returnee was told."))
    if isinstance(callback.message, Message):
        await sender.call(
            callback.message.chat.id,
            EditMessageReplyMarkup(
                chat_id=callback.message.chat.id,
                message_id=callback.message.message_id,
                reply_markup=None,
            ),
        )


# ---- typed commands -----------------------------------------------------------------------


TypedDecision = Callable[[AsyncSession, int, Person, str], Awaitable[object]]


async def _typed_decision(
    message: Message,
    command: CommandObject,
    context: InboxContext,
    work: UnitOfWork,
    sender: Sender,
    decide: TypedDecision,
    *,
    refused: str,
    done: str,
) -> None:
    """/reject and /ask: the receipt's number, then the words that go to the returnee."""
    reference, _sep, words = (command.args or "").strip().partition(" ")
    session = work.session
    try:
        receipt = await receipts.receipt_of_case(session, context.case, reference)
        await decide(session, receipt.id, context.staff, words)
    except RuleViolation:
        await work.rollback()
        await reply_in_topic(sender, message, refused)
        return
    await work.commit()
    await reply_in_topic(sender, message, done)


async def reject_command(
    message: Message,
    command: CommandObject,
    context: InboxContext,
    work: UnitOfWork,
    sender: Sender,
) -> None:
    """/reject <number> <reason>"""

    async def decide(session: AsyncSession, receipt_id: int, staff: Person, words: str) -> None:
        await receipts.reject(session, receipt_id, staff, note=words)

    await _typed_decision(
        message,
        command,
        context,
        work,
        sender,
        decide,
        refused=_(
            "Not rejected. Write /reject, the number of an open receipt of this case and "
            "the reason, e.g. /reject 2 the receipt is for another person."
        ),
        done=_("Rejected; the returnee was told the reason."),
    )


async def ask_command(
    message: Message,
    command: CommandObject,
    context: InboxContext,
    work: UnitOfWork,
    sender: Sender,
) -> None:
    """/ask <number> <question>"""
    await _typed_decision(
        message,
        command,
        context,
        work,
        sender,
        receipts.ask,
        refused=_(
            "Not sent. Write /ask, the number of an open receipt of this case and the "
            "question, e.g. /ask 2 which shop is this from?"
        ),
        done=_("Sent to the returnee."),
    )


async def budget_command(
    message: Message,
    command: CommandObject,
    context: InboxContext,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
    i18n: I18n,
) -> None:
    """/budget: the case's money; /budget adjust|deduct <category> <amount> <reason>."""
    words = (command.args or "").split(maxsplit=3)
    if words and words[0] in ("adjust", "deduct"):
        if len(words) < 4:
            await reply_in_topic(
                sender,
                message,
                _("Write /budget {action} <category> <amount> <reason>.").format(action=words[0]),
            )
            return
        action, category, amount, reason = words
        figures_before = await ledger.statement(session, context.case)
        try:
            if action == "adjust":
                await ledger.adjust(session, context.case, category, amount, reason, context.staff)
            else:
                await ledger.deduct(session, context.case, category, amount, reason, context.staff)
        except RuleViolation:
            await work.rollback()
            await reply_in_topic(
                sender,
                message,
                _(
                    "Not done. The category is one of: {categories}; the amount a number like "
                    "150; the reason 3 to 200 characters. A new amount cannot be above the "
                    "programme's ceiling or below what is already taken, and a deduction not "
                    "above what is left."
                ).format(categories=", ".join(b.category for b in figures_before.balances)),
            )
            return
        await work.commit()
    locale = office_locale(context.office, i18n)
    figures = await ledger.statement(session, context.case)
    lines = [_("Budget of {case}").format(case=context.case.code)]
    for b in figures.balances:
        label = i18n.gettext(CATEGORY_LABELS.get(b.category, b.category), locale=locale)
        lines.append(
            f"{label} ({b.category}): "
            + _(
                "{left} left of {maximum}; approved {approved}, paid {paid}, deducted "
                "{deducted}, receipts waiting {waiting}"
            ).format(
                left=format_money(b.left, b.currency, locale),
                maximum=format_money(b.maximum, b.currency, locale),
                approved=format_money(b.approved, b.currency, locale),
                paid=format_money(b.paid, b.currency, locale),
                deducted=format_money(b.deducted, b.currency, locale),
                waiting=b.pending_receipts,
            )
        )
    if not figures.balances:
        lines.append(_("The case has no programme budget yet."))
    await reply_in_topic(sender, message, "\n".join(lines))


def build_router() -> Router:
    router = Router(name="staff_money")
    router.callback_query.filter(F.message.chat.type == "supergroup")
    router.callback_query.register(receipt_pressed, ReceiptPress.filter())
    router.callback_query.register(payout_pressed, PayoutPress.filter(F.action == "paid"))
    router.callback_query.register(move_pressed, MovePress.filter())
    router.message.filter(F.chat.type == "supergroup")
    router.message.middleware(InboxMiddleware())
    in_case = needs(Needs.CASE)
    router.message.register(paid_list, Command("paid"), flags=in_case)
    router.message.register(reject_command, Command("reject"), flags=needs(Needs.CASE))
    router.message.register(ask_command, Command("ask"), flags=needs(Needs.CASE))
    router.message.register(budget_command, Command("budget"), flags=needs(Needs.CASE))
    router.message.register(prompt_answered, F.text, ReplyToBot(), flags=needs(Needs.CASE))
    return router
