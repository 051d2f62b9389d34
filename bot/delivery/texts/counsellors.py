"""What counsellors read: status updates, the plan, events and the monthly digest, in the
counsellor's language. Every word here is a translated template, a number, a date or a case
code; the only words of a person are a status update's note or a plan that staff confirmed
after seeing this very text as a preview."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from aiogram.utils.i18n import I18n
from babel.dates import format_date as babel_format_date

from bot.formatting import format_date, format_money
from bot.knowledge.facts import CATEGORY_LABELS
from bot.marks import N_
from bot.services.digests import CaseDigest, CategoryMoney
from bot.services.lifecycle import DROP_REASONS, REASON_LABELS
from bot.services.outbox import Money
from storage.models import CaseUpdate, CheckInStatus, UpdateKind

STATUS_LABELS = {
    "arrived": N_("Arrived"),
    "settling_in": N_("Settling in"),
    "housing_found": N_("Housing found"),
    "training_started": N_("Training or school started"),
    "business_started": N_("Business started"),
    "payout_made": N_("Payout made"),
    "needs_follow_up": N_("Needs follow-up"),
    "hard_to_reach": N_("Hard to reach"),
    "case_closed": N_("Case closed"),
}

# The documents' reasons for dropping out, in their order (the staff's buttons, the event).
DROP_REASON_LABELS = {reason: REASON_LABELS[reason] for reason in DROP_REASONS}

EVENTS = {
    "arrived": N_("Case {code}: the office confirms the arrival in the home country."),
    "first_contact": N_("Case {code}: the office is now in direct contact with the returnee."),
    "payout_approved": N_("Case {code}: a payout of {amount} ({category}) was approved."),
    "payout_paid": N_("Case {code}: {amount} ({category}) was paid out."),
    "alert": N_(
        "Case {code}: the monthly check-in raised a difficulty. The office is following it up."
    ),
    "missed_twice": N_("Case {code}: two monthly check-ins in a row went unanswered."),
    "closed": N_("Case {code}: the case is closed."),
    "dropped": N_("Case {code}: the returnee left the programme ({reason})."),
}

FEELING = {"good": N_("feels good"), "so_so": N_("feels so-so"), "bad": N_("feels bad")}
SAFE = {
    "yes": N_("feels safe"),
    "no": N_("does not feel safe"),
    "talk": N_("wants to talk to someone"),
}

Gettext = Callable[[str], str]


def _gettext(i18n: I18n, locale: str) -> Gettext:
    def gettext(msgid: str) -> str:
        return i18n.gettext(msgid, locale=locale)

    return gettext


def update_text(i18n: I18n, locale: str, code: str, row: CaseUpdate) -> str:
    """A confirmed status update or plan, as the counsellor reads it (and staff preview it)."""
    _ = _gettext(i18n, locale)
    if row.kind is UpdateKind.PLAN:
        head = _("📋 Case {code}: the reintegration plan, as updated by the office").format(
            code=code
        )
        return f"{head}\n\n{row.text or ''}"
    head = _("📋 Case {code}: status update from the office").format(code=code)
    lines = [head, _(STATUS_LABELS[row.status or ""])]
    if row.text:
        lines += ["", _("Note: {note}").format(note=row.text)]
    return "\n".join(lines)


def event_text(
    i18n: I18n,
    locale: str,
    code: str,
    event: str,
    *,
    reason: str | None = None,
    category: str | None = None,
    amount: Money | None = None,
) -> str:
    _ = _gettext(i18n, locale)
    return "🔔 " + _(EVENTS[event]).format(
        code=code,
        reason=_(DROP_REASON_LABELS.get(reason or "other", DROP_REASON_LABELS["other"])),
        category=_(CATEGORY_LABELS[category]) if category in CATEGORY_LABELS else "",
        amount=format_money(Decimal(amount.amount), amount.currency, locale) if amount else "",
    )


def digest_text(i18n: I18n, locale: str, period_start: date, cases: list[CaseDigest]) -> str:
    """One message for all the counsellor's active cases: a few lines each."""
    _ = _gettext(i18n, locale)
    month = babel_format_date(period_start, "LLLL y", locale=locale)
    blocks = [_("🗓 Monthly status, {month}").format(month=month)]
    blocks += [_case_block(_, locale, case) for case in cases]
    blocks.append(
        _("Shared as the returnee agreed. What the returnee writes to the office is never shared.")
    )
    return "\n\n".join(blocks)


def _case_block(_: Gettext, locale: str, case: CaseDigest) -> str:
    lines = [_("Case {code}").format(code=case.code)]
    lines.append("• " + _check_in_line(_, locale, case))
    lines += ["• " + line for line in _money_lines(_, locale, case)]
    lines.append(
        "• "
        + _("Contact: {incoming} messages from the returnee, {outgoing} from the office").format(
            incoming=case.contact.from_returnee, outgoing=case.contact.from_office
        )
        + (
            "; " + _("last on {day}").format(day=format_date(case.contact.last, locale))
            if case.contact.last
            else ""
        )
    )
    if case.open_alerts:
        lines.append("• " + _("Open difficulties: {count}").format(count=case.open_alerts))
    for status, day in case.statuses:
        lines.append(
            "• "
            + _("Status: {status} ({day})").format(
                status=_(STATUS_LABELS.get(status, status)), day=format_date(day, locale)
            )
        )
    if case.plan_changed:
        lines.append(
            "• " + _("Plan updated on {day}").format(day=format_date(case.plan_changed, locale))
        )
    return "\n".join(lines)


def _check_in_line(_: Gettext, locale: str, case: CaseDigest) -> str:
    last = case.check_in
    if last is None:
        return _("Check-in: no check-ins yet")
    day = format_date(last.on, locale)
    if last.state is CheckInStatus.MISSED:
        return _("Check-in: month {month} not answered (due {day})").format(
            month=last.month, day=day
        )
    text = _("Check-in: month {month} answered on {day}").format(month=last.month, day=day)
    how = [_(FEELING[last.feeling])] if last.feeling in FEELING else []
    how += [_(SAFE[last.safe])] if last.safe in SAFE else []
    return f"{text} ({', '.join(how)})" if how else text


def _money_lines(_: Gettext, locale: str, case: CaseDigest) -> list[str]:
    """What was paid in the month, and what is left: two lines, so no punctuation of ours
    stands next to an amount the locale formatted (some end in a full stop)."""
    if not case.has_budget or not case.money:
        return [_("Money: no budget yet")]

    def items(pick: Callable[[CategoryMoney], Decimal], money: list[CategoryMoney]) -> str:
        return ", ".join(
            f"{_(CATEGORY_LABELS.get(m.category, m.category))} "
            f"{format_money(pick(m), m.currency, locale)}"
            for m in money
        )

    paid = [m for m in case.money if m.paid]
    return [
        _("Paid this month: {items}").format(items=items(lambda m: m.paid, paid))
        if paid
        else _("Money: no payouts this month"),
        _("Left: {items}").format(items=items(lambda m: m.left, case.money)),
    ]
