"""The data an answer is filled with, formatted for the reader: names, hours, money.

Answers never carry figures typed by hand; they come from the programme's budget settings and the
office's settings, so a changed maximum is right in every language at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from babel.dates import get_timezone, get_timezone_location

from bot.formatting import format_money, format_number, opening_hours_text
from bot.marks import N_
from bot.services.budget import Remaining, total_of
from storage.models import BudgetCategory, Office, PaidAs

Gettext = Callable[[str], str]

CATEGORY_LABELS = {
    "allowance": N_("Monthly allowance"),
    "housing": N_("Housing"),
    "business": N_("Income-generating activity"),
    "education": N_("Education"),
    "medical": N_("Medical"),
    "basic_needs": N_("Food, clothing and hygiene"),
}


@dataclass(frozen=True)
class Facts:
    office_name: str
    office_hours: str
    emergency_contact: str
    budget: str
    allowance: str
    remaining: str

    def fill(self, answer: str) -> str:
        return answer.format_map(asdict(self))


def _category_line(category: BudgetCategory, locale: str, _: Gettext) -> str:
    label = _(CATEGORY_LABELS[category.category])
    if category.months:
        return _("{category}: {amount} a month for {months} months, in cash").format(
            category=label,
            amount=format_money(category.maximum, category.currency, locale),
            months=format_number(category.months, locale),
        )
    maximum = format_money(total_of(category), category.currency, locale)
    if category.paid_as is PaidAs.CASH:
        return _("{category}: up to {amount}, in cash").format(category=label, amount=maximum)
    return _("{category}: up to {amount}, paid against receipts").format(
        category=label, amount=maximum
    )


def _hours(office: Office, locale: str, _: Gettext) -> str:
    """Opening hours with their time zone named, since counsellors read them from abroad."""
    hours = opening_hours_text(office, locale)
    if not hours:
        return _("Every day, at any time")
    # The office's city, not Babel's zone name: CLDR calls some zones "summer time" all year.
    city = get_timezone_location(get_timezone(office.timezone), locale=locale, return_city=True)
    return f"{hours}\n🕘 {city}"


def collect(
    *,
    office: Office | None,
    categories: Sequence[BudgetCategory],
    remaining: Sequence[Remaining] | None,
    locale: str,
    gettext: Gettext,
) -> Facts:
    """Everything an answer may use, in the reader's language; sensible words where data is
    missing (a counsellor with no single office, a case with no programme yet)."""
    _ = gettext
    not_set = _("your office has not set this up yet; please ask them")
    allowance = next((c for c in categories if c.category == "allowance"), None)
    if remaining is None:
        left = _("Open Homeward as a returnee to see your own amounts.")
    elif not remaining:
        left = not_set
    else:
        left = "\n".join(
            _("{category}: {amount} left").format(
                category=_(CATEGORY_LABELS[r.category]),
                amount=format_money(r.left, r.currency, locale),
            )
            for r in remaining
        )
    return Facts(
        office_name=office.name if office else _("your office in your home country"),
        office_hours=_hours(office, locale, _) if office else not_set,
        emergency_contact=(office.emergency_contact if office else None) or not_set,
        budget="\n".join(_category_line(c, locale, _) for c in categories) or not_set,
        allowance=_("{amount} a month for {months} months").format(
            amount=format_money(allowance.maximum, allowance.currency, locale),
            months=format_number(allowance.months or 1, locale),
        )
        if allowance
        else _("no monthly allowance in your programme"),
        remaining=left,
    )
