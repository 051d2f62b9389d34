"""Words about money: a receipt's card for staff (in the office's language), the news a
returnee gets about their receipts and payouts (in theirs), and the buttons under both."""

from __future__ import annotations

from decimal import Decimal

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import I18n

from bot.delivery.texts.checkins import CHECKIN_NEWS
from bot.delivery.texts.erasure import ERASE_BUTTONS, ERASURE_NEWS
from bot.formatting import format_date, format_money
from bot.knowledge.facts import CATEGORY_LABELS
from bot.marks import N_
from bot.services.ledger import Balance, receipt_code
from bot.services.outbox import Money, NewsButton, NewsPayload, NoticeButton
from bot.telegram.callbacks import (
    AlertPress,
    AnswerPress,
    CheckInPress,
    ErasePress,
    MovePress,
    PayoutPress,
    ReceiptPress,
)
from storage.models import Case, PaymentMethod, Receipt, ReceiptStatus

RECEIPT_STATUS = {
    ReceiptStatus.SUBMITTED: N_("submitted"),
    ReceiptStatus.UNDER_REVIEW: N_("under review"),
    ReceiptStatus.NEEDS_INFO: N_("needs information"),
    ReceiptStatus.APPROVED: N_("approved"),
    ReceiptStatus.PAID: N_("paid"),
    ReceiptStatus.REJECTED: N_("rejected"),
}
METHODS = {
    PaymentMethod.BANK: N_("bank transfer"),
    PaymentMethod.MOBILE_MONEY: N_("mobile money"),
    PaymentMethod.CASH: N_("cash"),
    PaymentMethod.SUPPLIER: N_("paid to the supplier"),
}
REJECTION_REASONS = {
    "unreadable": N_("the receipt cannot be read"),
    "wrong_category": N_("the purchase does not belong to this budget category"),
    "not_a_receipt": N_("it is not a receipt, invoice or purchase agreement with a price"),
    "duplicate": N_("this receipt was sent before"),
    "over_budget": N_("the amount is more than what is left in the category"),
}

# To the returnee. {receipt} is R-<case>-<n>; {amount} and {left} are money in their locale.
NEWS = {
    "under_review": N_("🔎 The office is now looking at your receipt {receipt}."),
    "question": N_(
        "❓ The office has a question about your receipt {receipt}:\n\n{note}\n\n"
        "Press Answer to reply."
    ),
    "approved": N_(
        "✅ Your receipt {receipt} is approved: {amount} from {category}, to be paid by "
        "{method}. Left in {category}: {left}. You get a message here when it is paid."
    ),
    "rejected": N_(
        "❌ Your receipt {receipt} ({category}) was not approved: {reason}. Nothing was taken "
        "from your budget. You can send a new receipt, or write to the office here."
    ),
    "paid": N_(
        "💸 {amount} from {category} has been paid ({method}). Left in {category}: {left}. "
        "Did you receive it?"
    ),
    "adjusted": N_(
        "ℹ️ The office changed your budget: {category} is now {amount}. Reason: {note}. "
        "Left in {category}: {left}."
    ),
    "deducted": N_(
        "ℹ️ {amount} was deducted from {category}. Reason: {note}. Left in {category}: {left}."
    ),
    "moved": N_(
        "🔁 The office moved {amount} to {category}, as you asked. Open My money to see it."
    ),
    "move_refused": N_(
        "The office did not move the money as you asked. Write to them here to talk about it."
    ),
}


def _money(value: Money | None, locale: str) -> str:
    if value is None:
        return ""
    return format_money(Decimal(value.amount), value.currency, locale)


def news_text(i18n: I18n, news: NewsPayload) -> str:
    """The news in the returnee's language, every placeholder from a template or a number;
    only `note` (a question or a reason staff typed) carries words of a person."""
    locale = news.language

    def _(msgid: str) -> str:
        return i18n.gettext(msgid, locale=locale)

    category = _(CATEGORY_LABELS[news.category]) if news.category in CATEGORY_LABELS else ""
    method = ""
    if news.reason in {m.value for m in PaymentMethod}:
        method = _(METHODS[PaymentMethod(news.reason)])
    reason = _(REJECTION_REASONS[news.reason]) if news.reason in REJECTION_REASONS else ""
    if news.note and news.news == "rejected":
        reason = f"{reason}. {news.note}" if reason else news.note
    template = NEWS.get(news.news) or CHECKIN_NEWS.get(news.news) or ERASURE_NEWS[news.news]
    text = _(template).format(
        receipt=news.receipt or "",
        category=category,
        amount=_money(news.amount, locale),
        left=_money(news.left, locale),
        method=method or "—",
        reason=reason,
        note=news.note or "",
    )
    if news.news == "paid" and news.receipt:
        text = f"{news.receipt}\n{text}"
    return text


def news_keyboard(i18n: I18n, news: NewsPayload) -> InlineKeyboardMarkup | None:
    labels = {
        "received": N_("✅ Received"),
        "not_received": N_("⚠️ Not received"),
        "answer": N_("Answer"),
        "checkin": N_("Answer now"),
    }
    buttons = [_news_button(i18n, news.language, labels[b.action], b) for b in news.buttons]
    return InlineKeyboardMarkup(inline_keyboard=[buttons]) if buttons else None


def _news_button(i18n: I18n, locale: str, label: str, button: NewsButton) -> InlineKeyboardButton:
    if button.action == "answer":
        data = AnswerPress(receipt=button.target).pack()
    elif button.action == "checkin":
        data = CheckInPress(check_in=button.target).pack()
    else:
        data = PayoutPress(payout=button.target, action=button.action).pack()
    return InlineKeyboardButton(text=i18n.gettext(label, locale=locale), callback_data=data)


def notice_keyboard(
    i18n: I18n, locale: str, buttons: list[NoticeButton]
) -> InlineKeyboardMarkup | None:
    labels = {
        "move_yes": N_("✅ Allow the move"),
        "move_no": N_("❌ Refuse"),
        "take_alert": N_("🙋 I take it"),
        **ERASE_BUTTONS,
    }
    row = [_button(i18n, locale, labels[b.action], _notice_data(b)) for b in buttons]
    return InlineKeyboardMarkup(inline_keyboard=[row]) if row else None


def _notice_data(button: NoticeButton) -> str:
    if button.action == "take_alert":
        return AlertPress(alert=button.target).pack()
    if button.action in ("erase_yes", "erase_no"):
        return ErasePress(request=button.target, erase=button.action == "erase_yes").pack()
    return MovePress(line=button.target, approve=button.action == "move_yes").pack()


def receipt_card(
    i18n: I18n, locale: str, case: Case, receipt: Receipt, balance: Balance | None
) -> str:
    """The card staff decide on: what, how much, whether it may repeat an earlier one."""

    def _(msgid: str) -> str:
        return i18n.gettext(msgid, locale=locale)

    label = CATEGORY_LABELS.get(receipt.category)
    lines = [
        "🧾 "
        + _("Receipt {receipt} · {category}").format(
            receipt=receipt_code(case, receipt.number),
            category=_(label) if label else receipt.category,
        ),
        _("Status: {status}").format(status=_(RECEIPT_STATUS[receipt.status])),
        _("Amount: {amount}").format(amount=format_money(receipt.amount, receipt.currency, locale)),
        _("What was bought: {description}").format(description=receipt.description),
        _("Sent on {date} · files: {files}").format(
            date=format_date(receipt.submitted_on, locale), files=len(receipt.files)
        ),
    ]
    if receipt.duplicate_of is not None:
        lines.append(
            "⚠️ "
            + _("Possibly the same as {receipt}: the same file, or amount, day and text.").format(
                receipt=receipt_code(case, receipt.duplicate_of)
            )
        )
    if receipt.status is ReceiptStatus.NEEDS_INFO and receipt.question:
        lines.append("❓ " + _("Asked: {question}").format(question=receipt.question))
    if receipt.status is ReceiptStatus.REJECTED:
        reason = (
            _(REJECTION_REASONS[receipt.rejection_reason])
            if receipt.rejection_reason in REJECTION_REASONS
            else ""
        )
        lines.append(
            "❌ "
            + _("Reason: {reason}").format(
                reason=" ".join(p for p in (reason, receipt.rejection_note or "") if p)
            )
        )
    if balance is not None:
        lines.append(
            _("Left in the category: {left}").format(
                left=format_money(balance.left, balance.currency, locale)
            )
        )
        if receipt.currency != balance.currency and receipt.status in (
            ReceiptStatus.SUBMITTED,
            ReceiptStatus.UNDER_REVIEW,
            ReceiptStatus.NEEDS_INFO,
        ):
            lines.append(
                _(
                    "The receipt is in {receipt}, the budget in {budget}: approving asks for the "
                    "rate."
                ).format(receipt=receipt.currency, budget=balance.currency)
            )
    return "\n".join(lines)


def _press(receipt: Receipt, action: str, value: str = "") -> str:
    return ReceiptPress(
        receipt=receipt.id,
        version=receipt.version,
        action=action,
        value=value,
    ).pack()


def _button(i18n: I18n, locale: str, label: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=i18n.gettext(label, locale=locale), callback_data=data)


def receipt_keyboard(
    i18n: I18n, locale: str, receipt: Receipt, payout_id: int | None
) -> InlineKeyboardMarkup | None:
    """The card's own buttons: decide while it is open, record the payment once approved."""
    if receipt.status in (
        ReceiptStatus.SUBMITTED,
        ReceiptStatus.UNDER_REVIEW,
        ReceiptStatus.NEEDS_INFO,
    ):
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    _button(i18n, locale, N_("✅ Approve"), _press(receipt, "approve")),
                    _button(i18n, locale, N_("❌ Reject"), _press(receipt, "reject")),
                    _button(i18n, locale, N_("❓ Ask"), _press(receipt, "ask")),
                ]
            ]
        )
    if receipt.status is ReceiptStatus.APPROVED and payout_id is not None:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    _button(
                        i18n,
                        locale,
                        N_("💸 Paid"),
                        PayoutPress(payout=payout_id, action="paid").pack(),
                    )
                ]
            ]
        )
    return None


def step_keyboard(
    i18n: I18n,
    locale: str,
    receipt: Receipt,
    balance: Balance | None,
    step: str,
    method: str | None,
) -> InlineKeyboardMarkup | None:
    """The buttons of the step a staff member is at; the card's own once it is decided."""
    if receipt.status not in (
        ReceiptStatus.SUBMITTED,
        ReceiptStatus.UNDER_REVIEW,
        ReceiptStatus.NEEDS_INFO,
    ):
        step = "main"
    if step == "methods":
        return methods_keyboard(i18n, locale, receipt)
    if step == "reasons":
        return reasons_keyboard(i18n, locale, receipt)
    if step == "amount" and method is not None:
        full = format_money(receipt.amount, receipt.currency, locale)
        return amount_keyboard(i18n, locale, receipt, method, full)
    return receipt_keyboard(i18n, locale, receipt, receipt.payout_id)


def methods_keyboard(i18n: I18n, locale: str, receipt: Receipt) -> InlineKeyboardMarkup:
    rows = [
        [_button(i18n, locale, label, _press(receipt, "method", method.value))]
        for method, label in METHODS.items()
    ]
    rows.append([_button(i18n, locale, N_("← Back"), _press(receipt, "back"))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


FULL_AMOUNT = N_("Full amount: {amount}")


def amount_keyboard(
    i18n: I18n, locale: str, receipt: Receipt, method: str, full: str
) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=i18n.gettext(FULL_AMOUNT, locale=locale).format(amount=full),
                    callback_data=_press(receipt, "full", method),
                )
            ],
            [_button(i18n, locale, N_("Less: type the amount"), _press(receipt, "amount", method))],
            [_button(i18n, locale, N_("← Back"), _press(receipt, "back"))],
        ]
    )


def reasons_keyboard(i18n: I18n, locale: str, receipt: Receipt) -> InlineKeyboardMarkup:
    rows = [
        [_button(i18n, locale, label, _press(receipt, "reason", key))]
        for key, label in REJECTION_REASONS.items()
    ]
    rows.append([_button(i18n, locale, N_("Another reason: type it"), _press(receipt, "other"))])
    rows.append([_button(i18n, locale, N_("← Back"), _press(receipt, "back"))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


PROMPTS = {
    "ask": N_("Reply to this message with your question about {receipt}. The returnee gets it."),
    "other": N_("Reply to this message with the reason {receipt} is not approved."),
    "amount": N_("Reply to this message with the amount to approve for {receipt}, in {currency}."),
    "rate": N_(
        "{receipt} is in {receipt_currency}. Reply to this message with the exchange rate: how "
        "many {currency} is 1 {receipt_currency}?"
    ),
}
