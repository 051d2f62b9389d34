"""Dates, numbers and money in the reader's locale, by Babel."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from babel.dates import format_date as babel_format_date
from babel.dates import format_time, get_day_names
from babel.numbers import format_currency, format_decimal

from bot.services.office_hours import DAYS
from storage.models import Office


def format_date(moment: date | datetime, locale: str) -> str:
    day = moment.date() if isinstance(moment, datetime) else moment
    return babel_format_date(day, format="long", locale=locale)


def format_number(value: int | Decimal, locale: str) -> str:
    return format_decimal(value, locale=locale)


def format_amount(value: Decimal, locale: str) -> str:
    """A number with two decimals, grouped the reader's way: 1,234.50 or 1.234,50."""
    return format_decimal(value, format="#,##0.00", locale=locale)


def format_money(amount: Decimal, currency: str, locale: str) -> str:
    return format_currency(amount, currency, locale=locale)


def opening_hours_text(office: Office, locale: str) -> str:
    """One line per open day, day names and times in the reader's locale."""
    names = get_day_names("wide", locale=locale)
    lines = []
    for index, day in enumerate(DAYS):
        hours = office.working_hours.get(day)
        if hours:
            opens, closes = (
                format_time(time.fromisoformat(h), "short", locale=locale) for h in hours
            )
            lines.append(f"{names[index]}: {opens}–{closes}")
    return "\n".join(lines)
