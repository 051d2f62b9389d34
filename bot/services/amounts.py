"""Reading a money amount a returnee typed on a phone, written their way.

parse_amount(text, locale) gives a positive Decimal with two decimals, or raises NotAnAmount
with a short English reason (and a code, `why`, a handler can translate). The rules, chosen so
that money is never silently misread:

- Digits: any Unicode decimal digit, so Arabic-Indic (٠-٩), Persian (۰-۹), Devanagari (०-९),
  Thai (๐-๙) as well as 0-9. Invisible marks phones and copying add (LRM/RLM, ALM, ZWJ/ZWNJ,
  BOM, soft hyphen) are ignored; surrounding white space too.
- Separators: "." and ","; the Arabic decimal separator U+066B is always a decimal separator;
  the Arabic thousands separator U+066C, a space (also NBSP U+00A0, narrow NBSP U+202F, thin and
  figure spaces) and an apostrophe (' or ’) only ever group digits. Only one kind may group in
  one amount, and a separator stands between two digits ("1..2", ".5" and "5." are refused).
- Which separator is the decimal one: U+066B if present; else, when both "." and "," appear, the
  last one, which must appear once; a separator kind that appears more than once groups
  ("1.234.567"); one "." or "," followed by 1 or 2 digits at the end is decimal ("1234,5");
  followed by 4 or more digits it is decimal too, and refused for having too many decimals.
- One "." or "," followed by exactly three digits ("1,234", "1.234") is read as grouping, 1234,
  in every locale, whenever the digits are grouped correctly. Where the reader's decimal symbol
  (Babel) is that separator, reading it as a decimal would give three decimals, which no amount
  has, so grouping is the only reading that makes an amount; where it is not, grouping is the
  reader's own reading. So the decimal symbol never changes the result. When the grouping is
  not valid ("0,500", "1234.567") the separator is a decimal and the amount is refused.
- Grouping: the first group has 1-3 digits (not starting with 0), every other group 3. For
  readers whose locale groups the Indian way (Babel's secondary grouping of 2: ne, hi, en_IN,
  bn, mr...) "1,23,456.00" (last group 3, the others 2) is accepted too; elsewhere it is refused.
- A currency code, symbol or word before or after ("150 USD", "$150", "RON 1.234,50",
  "150 lei") is refused: the bot asks in one currency, and silently dropping another one could
  misread the amount. The reason says to write the number only.
- Refused as well: empty text, letters, NaN/Infinity, exponents ("1e5"), a minus sign or zero,
  more than two decimals, more than 12 integer digits, mixed grouping ("1.2.3,4,5").
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from babel import Locale, UnknownLocaleError
from babel.numbers import format_decimal

from bot.services.errors import RuleViolation

Why = Literal[
    "empty",
    "not_a_number",
    "currency",
    "not_positive",
    "decimals",
    "too_large",
    "separators",
    "grouping",
]

REASONS: dict[Why, str] = {
    "empty": "no amount was written",
    "not_a_number": "an amount is written with digits only",
    "currency": "write the number only, without a currency",
    "not_positive": "the amount must be more than zero",
    "decimals": "an amount has at most two decimals",
    "too_large": "an amount has at most 12 digits before the decimal separator",
    "separators": "the separators are not where an amount has them",
    "grouping": "the digits are not grouped correctly",
}

MAX_INTEGER_DIGITS = 12
MAX_DECIMALS = 2
MAX_LENGTH = 64  # far more than any amount, so nothing long is looked at character by character
CENT = Decimal("0.01")

# Marks a phone or a copy adds that the reader does not see.
INVISIBLE = frozenset(
    "\u00ad\u061c\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
MINUS = frozenset("-\u2212\u2010\u2011\u2012\u2013\u2014\ufe63\uff0d")

# Separator kinds. "decimal" only ever ends the integer part; "space", "apostrophe" and
# "arabic_group" only ever group; "." and "," may do either.
DOT = "dot"
COMMA = "comma"
ARABIC_DECIMAL = "decimal"
SEPARATORS: dict[str, str] = {
    ".": DOT,
    ",": COMMA,
    "\u066b": ARABIC_DECIMAL,
    "\u066c": "arabic_group",
    " ": "space",
    "\u00a0": "space",
    "\u202f": "space",
    "\u2009": "space",
    "\u2007": "space",
    "'": "apostrophe",
    "\u2019": "apostrophe",
}


class NotAnAmount(RuleViolation):
    """The text is not an amount; the message is a short English reason, `why` its code."""

    def __init__(self, why: Why) -> None:
        super().__init__(REASONS[why])
        self.why: Why = why


def parse_amount(text: str, locale: str) -> Decimal:
    """The amount the reader wrote, positive and with two decimals (see the module's rules)."""
    cleaned = "".join(c for c in text if c not in INVISIBLE).strip()
    if not cleaned:
        raise NotAnAmount("empty")
    if len(cleaned) > MAX_LENGTH:
        raise NotAnAmount("not_a_number")
    runs, kinds = _tokens(cleaned)
    if not all(runs):
        raise NotAnAmount("separators")  # a separator first, last or next to another
    integer_runs, fraction = _split(runs, kinds, _groups_the_indian_way(locale))
    integer = "".join(integer_runs)
    if len(fraction) > MAX_DECIMALS:
        raise NotAnAmount("decimals")
    if len(integer.lstrip("0")) > MAX_INTEGER_DIGITS:
        raise NotAnAmount("too_large")
    value = Decimal(f"{integer}.{fraction.ljust(MAX_DECIMALS, '0')}")
    if value <= 0:
        raise NotAnAmount("not_positive")
    return value


def format_for_input(value: Decimal, locale: str) -> str:
    """An amount as the reader writes it ("1,234.50", "1.234,50", "1 234,50"), two decimals;
    parse_amount reads it back as the same amount."""
    return format_decimal(value.quantize(CENT), format="#,##0.00", locale=_babel_locale(locale))


def _tokens(cleaned: str) -> tuple[list[str], list[str]]:
    """The digit runs (in ASCII digits) and the separator kinds between them.

    A run is empty where two separators meet or a separator begins or ends the text.
    """
    runs = [""]
    kinds: list[str] = []
    for char in cleaned:
        if unicodedata.category(char) == "Nd":
            runs[-1] += str(unicodedata.decimal(char))
        elif char in SEPARATORS:
            kinds.append(SEPARATORS[char])
            runs.append("")
        else:
            raise NotAnAmount(_why_not(cleaned))
    return runs, kinds


def _why_not(cleaned: str) -> Why:
    """Why a text with a character no amount has is refused."""
    if not any(unicodedata.category(c) == "Nd" for c in cleaned):
        return "not_a_number"
    if cleaned[0] in MINUS or cleaned[-1] in MINUS:
        return "not_positive"
    number = cleaned
    while number and _currency_like(number[0]):
        number = number[1:]
    while number and (_currency_like(number[-1]) or number[-1] == "."):
        number = number[:-1]
    affix = len(cleaned) - len(number.strip())
    number = number.strip()
    if 0 < affix <= 8 and number and all(_is_digit_or_separator(c) for c in number):
        return "currency"
    return "not_a_number"


def _currency_like(char: str) -> bool:
    return char.isalpha() or unicodedata.category(char) == "Sc" or char.isspace()


def _is_digit_or_separator(char: str) -> bool:
    return unicodedata.category(char) == "Nd" or char in SEPARATORS


def _split(runs: list[str], kinds: list[str], indian: bool) -> tuple[list[str], str]:
    """The integer part's groups and the decimals, by the module's rules."""
    if not kinds:
        return runs, ""
    last = kinds[-1]
    if ARABIC_DECIMAL in kinds:
        if kinds.count(ARABIC_DECIMAL) > 1 or last != ARABIC_DECIMAL:
            raise NotAnAmount("separators")
        decimal = True
    elif last in (DOT, COMMA):
        other = COMMA if last == DOT else DOT
        if kinds.count(last) > 1:
            decimal = False  # "1.234.567": a repeated separator groups
        elif other in kinds or len(runs[-1]) != 3:
            decimal = True  # "1,234.50", "1234,5", and "1234.5678" (refused for its decimals)
        else:
            # "1,234" or "1.234": grouping when that is a valid grouping, in any locale.
            decimal = not (len(set(kinds)) == 1 and _grouped(runs, indian))
    else:
        decimal = False  # a space, an apostrophe or U+066C last: "1 234"
    integer_runs, group_kinds = (runs[:-1], kinds[:-1]) if decimal else (runs, kinds)
    fraction = runs[-1] if decimal else ""
    if len(set(group_kinds)) > 1:
        raise NotAnAmount("separators")  # "1.2.3,4,5", "1 234,567.50"
    if len(integer_runs) > 1 and not _grouped(integer_runs, indian):
        raise NotAnAmount("grouping")
    return integer_runs, fraction


def _grouped(runs: list[str], indian: bool) -> bool:
    """Whether the integer part's runs are thousands groups (or Indian groups, if allowed)."""
    first, rest = runs[0], runs[1:]
    if first.startswith("0") or not rest:
        return False
    if 1 <= len(first) <= 3 and all(len(run) == 3 for run in rest):
        return True
    return (
        indian
        and 1 <= len(first) <= 2
        and all(len(run) == 2 for run in rest[:-1])
        and len(rest[-1]) == 3
    )


@lru_cache(maxsize=64)
def _babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return Locale.parse("en")


@lru_cache(maxsize=64)
def _groups_the_indian_way(locale: str) -> bool:
    """Whether the reader's locale groups by two above the thousands (12,34,567)."""
    pattern = _babel_locale(locale).decimal_formats.get(None)
    return pattern is not None and pattern.grouping[1] == 2
