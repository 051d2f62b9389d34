"""Dates, numbers and money in the reader's locale, by Babel."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_date as babel_format_date
from babel.numbers import format_currency, format_decimal


def format_date(moment: date | datetime, locale: str) -> str:
    day = moment.date() if isinstance(moment, datetime) else moment
    return babel_format_date(day, format="long", locale=locale)


def format_number(value: int | Decimal, locale: str) -> str:
    return format_decimal(value, locale=locale)


def format_money(amount: Decimal, currency: str, locale: str) -> str:
    return format_currency(amount, currency, locale=locale)
