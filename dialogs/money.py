""" "My money": each budget category with its maximum, what is approved, paid, waiting and
deducted, what is left, and the last changes with their reasons. Nothing is hidden inside
another amount: a deduction is a line of its own."""

from __future__ import annotations

from typing import Any

from aiogram.utils.i18n import I18n, gettext
from aiogram_dialog import DialogManager
from sqlalchemy.ext.asyncio import AsyncSession

from bot.formatting import format_date, format_money
from bot.knowledge.facts import CATEGORY_LABELS
from bot.marks import N_
from bot.services import ledger
from bot.services.cases import case_of_returnee

LAST_LINES = 5
WHAT = {
    "adjustment": N_("changed by the office"),
    "deduction": N_("deducted"),
    "moved_in": N_("moved in"),
    "moved_out": N_("moved out"),
    "planned": N_("planned"),
    "approved": N_("approved"),
    "paid": N_("paid"),
}


def statement_text(figures: ledger.Statement, lines: list[ledger.Entry], locale: str) -> str:
    if not figures.balances:
        return gettext(
            "Your office has not set up your budget here yet. Write to them here to ask."
        )
    parts = [gettext("💰 My money")]
    for b in figures.balances:

        def money(value: Any, currency: str = b.currency) -> str:
            return format_money(value, currency, locale)

        parts.append(
            "\n"
            + gettext("{category}: {left} left of {maximum}").format(
                category=gettext(CATEGORY_LABELS.get(b.category, b.category)),
                left=money(b.left),
                maximum=money(b.maximum),
            )
        )
        parts.append(
            gettext("approved {approved} · paid {paid} · deducted {deducted}").format(
                approved=money(b.approved), paid=money(b.paid), deducted=money(b.deducted)
            )
        )
        if b.pending_receipts:
            parts.append(
                gettext("receipts waiting for the office: {count}").format(count=b.pending_receipts)
            )
    shown = [line for line in lines if line.what != "planned"][-LAST_LINES:]
    if shown:
        parts.append("\n" + gettext("Last changes:"))
        for line in shown:
            label = gettext(CATEGORY_LABELS.get(line.category, line.category))
            text = f"{format_date(line.at, locale)} · {label} · {gettext(WHAT[line.what])} "
            text += format_money(abs(line.amount), line.currency, locale)
            if line.what in ("adjustment", "deduction") and line.reason:
                text += f" · {line.reason}"
            if line.reference:
                text += f" · {line.reference}"
            parts.append(text)
    return "\n".join(parts)


async def money_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    session: AsyncSession = dialog_manager.middleware_data["session"]
    i18n: I18n = dialog_manager.middleware_data["i18n"]
    case = await case_of_returnee(session, dialog_manager.middleware_data["person"])
    if case is None:
        return {"statement": "", "can_move": False}
    figures = await ledger.statement(session, case)
    lines = await ledger.entries(session, case)
    movable = [b for b in figures.balances if b.reallocatable]
    return {
        "statement": statement_text(figures, lines, i18n.current_locale),
        "can_move": len(movable) >= 2 and ledger.takes_new_receipts(case),
    }
