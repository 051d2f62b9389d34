"""Reading amounts returnees type (bot/services/amounts.py): their way of writing numbers is read
right, and anything that is not plainly an amount is refused, never misread."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import format_decimal
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.languages import SHIPPED_LANGUAGES
from bot.services.amounts import NotAnAmount, format_for_input, parse_amount
from bot.services.errors import RuleViolation

LOCALES = ["en", "ro", "da", "ar", "fa", "ne", "th", "fr", "ru"]
# Not de_CH: Babel 2.19 writes 10^9 there as "1000000'000.00", which is refused.
ALL_LOCALES = sorted({*LOCALES, *SHIPPED_LANGUAGES, "hi", "en_IN", "ar_EG", "bn"})
INDIAN = ["ne", "hi", "en_IN", "bn"]

ACCEPTED = [
    # text, locale, amount
    ("1.234,50", "ro", "1234.50"),
    ("1.234,50", "da", "1234.50"),
    ("1.234,50", "en", "1234.50"),  # both separators: the last one is the decimal one
    ("1 234,50", "fr", "1234.50"),
    ("1\u00a0234,50", "ru", "1234.50"),
    ("1\u202f234,50", "fr", "1234.50"),
    ("1 234 567,05", "ru", "1234567.05"),
    ("1'234.50", "en", "1234.50"),
    ("1\u2019234.50", "en", "1234.50"),  # a phone's typographic apostrophe
    ("1,234.50", "en", "1234.50"),
    ("1,234.50", "ro", "1234.50"),
    ("1,234,567.89", "th", "1234567.89"),
    ("1.234.567", "da", "1234567.00"),  # a repeated separator groups
    ("1,234,567", "en", "1234567.00"),
    ("1234.5", "en", "1234.50"),
    ("1234.5", "ro", "1234.50"),
    ("1234", "en", "1234.00"),
    ("1234,5", "en", "1234.50"),
    ("1234,5", "da", "1234.50"),
    ("150", "fr", "150.00"),
    (" 150 ", "en", "150.00"),
    ("\u00a0150\n", "ru", "150.00"),
    ("150.00", "ro", "150.00"),
    ("0,5", "ro", "0.50"),
    ("0.05", "en", "0.05"),
    ("007", "en", "7.00"),
    # one separator and three digits: grouping, whatever the reader's decimal symbol
    ("1,234", "en", "1234.00"),
    ("1.234", "ro", "1234.00"),
    ("1,234", "ro", "1234.00"),
    ("1.234", "en", "1234.00"),
    ("150.000", "fr", "150000.00"),
    # digits of other scripts, and the Arabic separators
    ("١٥٠", "ar", "150.00"),
    ("١٬٢٣٤٫٥٠", "ar", "1234.50"),
    ("\u200f١٢٣٤٫٥", "ar", "1234.50"),  # a right-to-left mark before it
    ("۱۵۰", "fa", "150.00"),
    ("۱٬۲۳۴٫۵۰", "fa", "1234.50"),
    ("۱۲۳۴,۵", "fa", "1234.50"),
    ("१५०", "ne", "150.00"),
    ("१,२३४.५०", "ne", "1234.50"),
    ("๑๕๐", "th", "150.00"),
    ("๑,๒๓๔.๕๐", "th", "1234.50"),
    # Indian grouping, for readers whose locale groups that way
    ("1,23,456.00", "ne", "123456.00"),
    ("12,34,567", "hi", "1234567.00"),
    ("१२,३४,५६७.५", "ne", "1234567.50"),
    ("1,23,456.00", "en_IN", "123456.00"),
    ("999999999999.99", "en", "999999999999.99"),
    ("999 999 999 999,99", "fr", "999999999999.99"),
]

REFUSED = [
    # text, locale, why
    ("", "en", "empty"),
    ("   ", "ru", "empty"),
    ("\u200f", "ar", "empty"),
    ("abc", "en", "not_a_number"),
    ("сто", "ru", "not_a_number"),
    ("NaN", "en", "not_a_number"),
    ("Infinity", "en", "not_a_number"),
    ("1e5", "en", "not_a_number"),
    ("1E5", "fr", "not_a_number"),
    ("12a4", "da", "not_a_number"),
    ("1/2", "fa", "not_a_number"),
    ("1٫2٫3", "ar", "separators"),
    ("150 USD", "en", "currency"),
    ("$150", "en", "currency"),
    ("RON 1.234,50", "ro", "currency"),
    ("150 lei", "ro", "currency"),
    ("150 kr.", "da", "currency"),
    ("€ 20", "fr", "currency"),
    ("150 руб.", "ru", "currency"),
    ("١٥٠ ريال", "ar", "currency"),
    ("-150", "en", "not_positive"),
    ("\u200e\u2212150", "fa", "not_positive"),
    ("150-", "ar", "not_positive"),
    ("0", "en", "not_positive"),
    ("0,00", "ro", "not_positive"),
    ("0.001", "en", "decimals"),
    ("1234.567", "en", "decimals"),
    ("0,500", "ro", "decimals"),
    ("1,2345", "en", "decimals"),
    ("1.234,567", "ro", "decimals"),
    ("1 234,567", "fr", "decimals"),
    ("1234567890123", "en", "too_large"),
    ("1.234.567.890.123", "ro", "too_large"),
    ("1.2.3,4,5", "en", "separators"),
    ("1,234.567,89", "en", "separators"),
    ("1 234.567,50", "fr", "separators"),
    ("1..2", "en", "separators"),
    ("1. 234", "en", "separators"),
    (".5", "en", "separators"),
    ("5.", "en", "separators"),
    ("1,23,456.00", "en", "grouping"),
    ("1,23,456.00", "ro", "grouping"),
    ("12,34,567", "th", "grouping"),
    ("1,234,56", "en", "grouping"),
    ("12 34", "fr", "grouping"),
    ("1'23", "en", "grouping"),
    ("0,123,456", "en", "grouping"),
    ("1" * 100, "en", "not_a_number"),
]


@pytest.mark.parametrize(("text", "locale", "amount"), ACCEPTED)
def test_amounts_are_read_the_readers_way(text: str, locale: str, amount: str) -> None:
    value = parse_amount(text, locale)
    assert isinstance(value, Decimal)
    assert value == Decimal(amount)
    assert value.as_tuple().exponent == -2


@pytest.mark.parametrize(("text", "locale", "why"), REFUSED)
def test_anything_else_is_refused_with_a_reason(text: str, locale: str, why: str) -> None:
    with pytest.raises(NotAnAmount) as refused:
        parse_amount(text, locale)
    assert refused.value.why == why
    assert isinstance(refused.value, RuleViolation)
    assert str(refused.value)  # a short English reason
    assert text.strip() == "" or text not in str(refused.value)  # what was typed is not echoed


def test_an_unknown_locale_still_reads_amounts() -> None:
    assert parse_amount("1.234,50", "xx") == Decimal("1234.50")
    assert parse_amount("1,234.50", "pt-BR") == Decimal("1234.50")


# Every amount the bot can take: positive, two decimals, up to 12 integer digits.
amounts = st.integers(min_value=1, max_value=10**14 - 1).map(lambda n: Decimal(n).scaleb(-2))
NATIVE_DIGITS = {
    "ar_EG": "٠١٢٣٤٥٦٧٨٩",
    "fa": "۰۱۲۳۴۵۶۷۸۹",
    "ps": "۰۱۲۳۴۵۶۷۸۹",
    "ne": "०१२३४५६७८९",
    "th": "๐๑๒๓๔๕๖๗๘๙",
    "bn": "০১২৩৪৫৬৭৮৯",
}


@settings(max_examples=300, deadline=None)
@given(amount=amounts, locale=st.sampled_from(ALL_LOCALES))
def test_what_babel_writes_is_read_back(amount: Decimal, locale: str) -> None:
    for pattern in ("#,##0.00", "0.00"):
        written = format_decimal(amount, format=pattern, locale=locale)
        value = parse_amount(written, locale)
        assert isinstance(value, Decimal)
        assert value == amount, (written, locale)
    assert parse_amount(format_for_input(amount, locale), locale) == amount


@settings(max_examples=200, deadline=None)
@given(amount=amounts, locale=st.sampled_from(INDIAN))
def test_indian_grouping_is_read_back(amount: Decimal, locale: str) -> None:
    written = format_decimal(amount, format="#,##,##0.00", locale=locale)
    assert parse_amount(written, locale) == amount, written


@settings(max_examples=200, deadline=None)
@given(amount=amounts, locale=st.sampled_from(sorted(NATIVE_DIGITS)))
def test_native_digits_and_separators_are_read_back(amount: Decimal, locale: str) -> None:
    # Babel writes the locale's own separators (٫ and ٬ for Persian); the digits are swapped in.
    written = format_decimal(amount, format="#,##0.00", locale=locale, numbering_system="default")
    native = written.translate(str.maketrans("0123456789", NATIVE_DIGITS[locale]))
    assert parse_amount(native, locale) == amount, native


def check_result(text: str, locale: str) -> None:
    try:
        value = parse_amount(text, locale)
    except NotAnAmount:
        return
    assert isinstance(value, Decimal)
    assert value.is_finite()
    assert value > 0
    assert value.as_tuple().exponent == -2
    assert value < Decimal(10) ** 12


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=30), locale=st.sampled_from(LOCALES))
def test_any_text_is_an_amount_or_refused(text: str, locale: str) -> None:
    check_result(text, locale)


# Texts close to amounts, where the rules are tested hardest.
NEAR = st.text(
    alphabet=st.sampled_from(
        [
            *"0123456789.,'- eE$",
            *["\u00a0", "\u202f", "\u066b", "\u066c", "\u200f", "٣", "۴", "५", "๖", "−", "a", "л"],
        ]
    ),
    max_size=20,
)


@settings(max_examples=500, deadline=None)
@given(text=NEAR, locale=st.sampled_from(ALL_LOCALES))
def test_any_text_near_an_amount_is_an_amount_or_refused(text: str, locale: str) -> None:
    check_result(text, locale)
