"""What must never leave a country office in a note or plan sent to a returnee's counsellor.

Staff write short status notes and reintegration plans that go to the counsellor in Denmark. The
returnees are victims of trafficking and former unaccompanied minors: in one case the traffickers
knew every detail of a woman's return, including where she would live. So before such a text
leaves the office, `findings(text)` lists each piece that could locate or identify someone, and
staff remove every one before going on. This module only finds; it never rewrites a text.

What each kind covers:
- PHONE: 7 or more digits in one run, with spaces, dots, dashes, slashes or parentheses between
  them and "+" or "00" before them or not ("+40 721 234 567", "0721-234-567", "(02) 123 4567").
  Not a phone: an amount, with a currency beside it or written as one ("1 200 000 lei",
  "4.500.000", "12.345,50"; amounts never start with 0), years ("2026-2027"), a time range
  ("10.00-12.00"), a code joined to letters ("R-RO-0001234-3").
- EMAIL: local@domain. LINK: any "scheme://", "www.", and a bare domain ending in a common or a
  programme country's top-level domain ("example.ro/path", "fb.me", "t.me/someone").
- HANDLE: "@" and 4 or more letters, digits or underscores, not inside an e-mail.
- DATE: a calendar date: numeric ("12.03.2027", "12/3", "2027-03-12", "12-03-27", "12.03"), a day
  next to a month name ("12 martie", "March 12th", "12 มีนาคม", "den 12. marts") in every shipped
  language (Babel's wide and abbreviated names, both contexts, plus Iraqi Arabic, Serbian Latin,
  the Persian solar and the Nepali Bikram Sambat months), a weekday with a day ("Monday the
  12th"), "วันที่ 12" and "12 числа". A weekday before a date is part of it. Not a date: a month
  alone ("in March"), "month 3", "3 months", a year, a time.
- ADDRESS: a street word with a name or a number ("Strada Florilor", "ул. Ленина 5", "12 Baker
  Street", "Nørregade 12", "ซอย 5", "شارع الرشيد"), a building, staircase, floor or flat number
  ("bl. A3", "ap. 12", "Block 4", "nr. 12", "№ 5", "پلاک 12", "เลขที่ 12"). Pieces of one address
  next to each other are one finding.
- NAME: each word (3+ letters) of a name Homeward knows (`known_names`: staff, other
  counsellors), found whole-word and case- and accent-insensitively; an honorific and the name
  after it ("Mr Popescu", "dna. Ionescu", "г-жа Петрова", "السيد أحمد", "คุณสมชาย"); and two or
  more capitalised words in a row that are not at the start of a sentence, less a list of words
  staff use that are not names (IOM, Red Cross, the programme's countries and cities, months,
  weekdays...). The counsellor's own names (`allowed_names`) are never a finding.

Digits are any Unicode decimal digits (Arabic-Indic, Persian, Thai, Devanagari...); marks that
phones and copying add and the reader does not see (LRM, ZWJ...) are ignored. Offsets are indices
in the text as given.

Known limits, so nobody relies on more than there is:
- Names in scripts without capital letters (Thai, Arabic, Persian, Urdu, Pashto, Nepali) are found
  only through known_names or after an honorific ("คุณ" takes the Thai letters up to the next
  space). Known Thai names are matched inside words (Thai has no spaces), so a short one can also
  hit an ordinary word.
- A name at the very start of a sentence ("Ion Popescu came") is not seen unless it is in
  known_names; one capitalised word alone ("Popescu") is not seen either. A name written all in
  lower case is not seen. Title Case headings, organisation and place names outside the list are
  reported as names ("works at Sunrise Bakery"): staff judge those.
- A word of the counsellor's name makes that word allowed everywhere: if the counsellor is Maria
  Jensen, "Maria Popescu" reports only "Popescu".
- Addresses: a street written all in lower case after a full street word ("strada florilor") is
  not seen; village, district or postal code alone, landmarks ("near the market") and Nepali
  addresses other than "वडा नं." are not seen. "nr. 12", "No. 5" and "№ 5" are reported even when
  they number a file, not a house.
- Dates: a fraction ("3/4 of the budget"; "24/7" aside) and a number with two decimals ("1.05
  kg", "Python 3.11") read as dates. "Monday 3 people came" and "in March 3 people came" do not,
  "By March 3 people came" does. A date written in words ("the twelfth") is not seen.
- Phones: a row of numbers ("ages 12 14 16 18", a table) can read as a phone; a phone with fewer
  than 7 digits, or with letters or words between its digits, is not seen.
- Links: bare domains ending in a top-level domain that is also a common word ("in", "it", "is",
  "at", "to", "de", "es", "se", "us", "so", "do", "my") are not seen; "ok.No" typed without a space
  reads as a link.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache

from babel import Locale

from bot.languages import SHIPPED_LANGUAGES
from bot.services.amounts import INVISIBLE


class Kind(enum.StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    LINK = "link"
    ADDRESS = "address"
    DATE = "date"
    HANDLE = "handle"
    NAME = "name"


@dataclass(frozen=True)
class Finding:
    kind: Kind
    start: int
    end: int

    def fragment(self, text: str) -> str:
        """The offending piece of the text the finding was made in."""
        return text[self.start : self.end]


DESCRIBED_LENGTH = 40


def findings(
    text: str, *, known_names: Iterable[str] = (), allowed_names: Iterable[str] = ()
) -> list[Finding]:
    """Every piece of the text that must not leave the office, sorted, none overlapping."""
    plain, folded = _views(text)
    allowed = frozenset(word for name in allowed_names for word in _name_words(name))
    found: list[Finding] = []

    def add(kind: Kind, spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        kept = [(start, _past_marks(text, end)) for start, end in spans if start < end]
        found.extend(Finding(kind, start, end) for start, end in kept)
        return kept

    # Each step hides what earlier ones found from the later ones that would misread it: an
    # e-mail is not also a link and a handle, a link's or a date's digits are not a phone.
    emails = add(Kind.EMAIL, _emails(plain))
    links = add(Kind.LINK, _links(plain.masked(emails)))
    handles = add(Kind.HANDLE, _handles(plain.masked(emails + links)))
    hidden = emails + links + handles
    plain_phones = add(Kind.PHONE, _phones(plain.masked(hidden), before_dates=True))
    dates = add(Kind.DATE, _dates(folded.masked(hidden + plain_phones)))
    add(Kind.PHONE, _phones(plain.masked(hidden + plain_phones + dates), before_dates=False))
    add(Kind.ADDRESS, _addresses(plain.masked(hidden)))
    add(Kind.NAME, _known_names(folded.masked(hidden), known_names, allowed))
    add(Kind.NAME, _honorific_names(plain.masked(hidden), allowed))
    add(Kind.NAME, _capitalised_names(plain.masked(hidden), allowed))
    return _merged(found, text)


def describe(found: list[Finding], text: str) -> list[tuple[Kind, str]]:
    """Each finding's kind and piece, on one line and cut short: what staff are told to remove."""
    described: list[tuple[Kind, str]] = []
    for finding in found:
        piece = " ".join(finding.fragment(text).split())
        if len(piece) > DESCRIBED_LENGTH:
            piece = piece[: DESCRIBED_LENGTH - 1] + "…"
        described.append((finding.kind, piece))
    return described


# ---------------------------------------------------------------------------------------------
# Views of the text: one character of a view comes from one character of the text, so every
# match maps back to the text's own offsets whatever was normalised.

MASK = "\ufffc"  # stands for something already found: neither a letter, a digit nor a space
LINE_BREAKS = frozenset("\n\r\v\f\x85\u2028\u2029")
DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d")
APOSTROPHES = frozenset("\u2018\u2019\u02bc\u0060\u00b4")


@dataclass(frozen=True)
class _View:
    text: str
    origin: tuple[int, ...]  # origin[i]: where text[i] came from in the original text
    size: int  # the original text's length

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.origin[start], self.origin[end - 1] + 1

    def masked(self, spans: Iterable[tuple[int, int]]) -> _View:
        hide = bytearray(self.size)
        for start, end in spans:
            hide[start:end] = b"\x01" * (end - start)
        if not any(hide):
            return self
        text = "".join(
            MASK if hide[where] else char
            for char, where in zip(self.text, self.origin, strict=True)
        )
        return _View(text, self.origin, self.size)


def _plain(char: str) -> str:
    """The character as the detectors read it: ASCII digits and punctuation, one kind of space."""
    if char in INVISIBLE:
        return ""
    if unicodedata.category(char) == "Nd":
        return str(unicodedata.decimal(char))
    if char in LINE_BREAKS:
        return "\n"
    if char.isspace():
        return " "
    if char in DASHES:
        return "-"
    if char in APOSTROPHES:
        return "'"
    if char == "\u066b":  # Arabic decimal separator
        return "."
    if char == "\u066c":  # Arabic thousands separator
        return ","
    if not char.isascii():
        # Full-width and other look-alike punctuation ("＋", "＠", "：").
        compatible = unicodedata.normalize("NFKC", char)
        if len(compatible) == 1 and compatible.isascii() and not compatible.isalnum():
            return compatible
    return char


def _fold_char(char: str) -> str:
    """Lower case without accents, so "Ștefan" matches "stefan" and "أحمد" matches "احمد".

    Only for scripts whose marks are optional (Latin, Greek, Cyrillic, Arabic): in Thai or
    Devanagari a vowel or tone mark makes another word.
    """
    if len(char) != 1:
        return char
    code = ord(char)
    if not (code < 0x0700 or 0x1E00 <= code <= 0x1FFF):
        return char.lower()
    decomposed = unicodedata.normalize("NFD", char.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def _fold(text: str) -> str:
    return "".join(_fold_char(_plain(char)) for char in text)


def _views(text: str) -> tuple[_View, _View]:
    """The plain view (case kept, for capitals) and the folded one (for words in any case)."""
    plain: list[str] = []
    plain_origin: list[int] = []
    folded: list[str] = []
    folded_origin: list[int] = []
    for index, char in enumerate(text):
        simple = _plain(char)
        if not simple:
            continue
        plain.append(simple)
        plain_origin.append(index)
        for piece in _fold_char(simple):
            folded.append(piece)
            folded_origin.append(index)
    return (
        _View("".join(plain), tuple(plain_origin), len(text)),
        _View("".join(folded), tuple(folded_origin), len(text)),
    )


def _past_marks(text: str, end: int) -> int:
    """A finding that ends before combining marks (a Thai tone mark, say) takes them along."""
    while end < len(text) and (unicodedata.category(text[end]) == "Mn" or text[end] in INVISIBLE):
        end += 1
    return end


def _is_letter(char: str) -> bool:
    return unicodedata.category(char)[0] in "LM"


def _is_wordish(char: str) -> bool:
    return unicodedata.category(char)[0] in "LMN" or char == "_"


def _is_cased(char: str) -> bool:
    return char.isupper() or char.islower()


SPACELESS = (
    ("\u0e00", "\u0eff"),  # Thai, Lao
    ("\u1000", "\u109f"),  # Myanmar
    ("\u1780", "\u17ff"),  # Khmer
    ("\u3040", "\u30ff"),  # Japanese kana
    ("\u3400", "\u9fff"),  # CJK
)


def _spaceless(char: str) -> bool:
    """A script written without spaces between words, where a word has no visible bounds."""
    return any(low <= char <= high for low, high in SPACELESS)


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(word) for word in sorted(set(words), key=lambda w: (-len(w), w)))


# ---------------------------------------------------------------------------------------------
# E-mails, links, handles

LOCAL_CHARS = r"A-Za-z0-9\u00c0-\u024f._%+\-"
EMAIL = re.compile(
    rf"(?<![{LOCAL_CHARS}])[{LOCAL_CHARS}]+@(?=[^\W\d_])[\w\-]+(?:\.[\w\-]+)*",
)
# Top-level domains: common ones and the programme's countries (Romania, Moldova, Thailand,
# Nigeria, Uganda, Nepal, Iraq, Gambia, Brazil, Bulgaria, Mali, Cameroon, Denmark, Norway, the
# Western Balkans...). Those that are also common words ("in", "it", "de", "se"...) are left out:
# a missing space after a full stop ("done.It") must not read as a link.
TLDS = (
    "com", "org", "net", "info", "biz", "io", "co", "me", "app", "dev", "xyz", "online", "site",
    "ly", "gl", "tv", "cc", "be", "eu", "int", "gov", "edu", "ngo", "top", "club", "shop", "live",
    "news", "link", "page", "blog", "store", "tk", "ro", "md", "th", "ng", "ug", "np", "iq", "gm",
    "br", "bg", "ml", "cm", "dk", "no", "rs", "mk", "al", "ba", "xk", "ru", "ua", "by", "kz", "ir",
    "af", "pk", "uk", "fr", "pt", "nl", "ch", "gr", "tr", "pl", "ke", "gh", "sn",
    "sy", "lb", "jo", "eg", "ma", "tn", "dz", "vn", "ph", "cn", "lk", "bd",
)  # fmt: skip
URL = re.compile(r"(?i)(?:\b[a-z][a-z0-9+.\-]*://|\bwww\.)[^\s<>\"]+")
HOST_CHARS = r"A-Za-z0-9\u00c0-\u024f\-"
BARE_DOMAIN = re.compile(
    rf"(?i)(?<![{HOST_CHARS}.@])[{HOST_CHARS}]+(?:\.[{HOST_CHARS}]+)*"
    rf"\.(?:{'|'.join(TLDS)})(?![{HOST_CHARS}])(?:[/?#][^\s<>\"]*)?"
)
TRAILING = ".,;:!?)]}>'\"»”’…"
HANDLE = re.compile(rf"(?<![{LOCAL_CHARS}])@\w{{4,}}")


def _emails(view: _View) -> Iterator[tuple[int, int]]:
    for match in EMAIL.finditer(view.text):
        yield view.span(*match.span())


def _links(view: _View) -> Iterator[tuple[int, int]]:
    for pattern in (URL, BARE_DOMAIN):
        for match in pattern.finditer(view.text):
            start, end = match.span()
            while end > start and view.text[end - 1] in TRAILING:
                end -= 1
            host = view.text[start:end].split("/")[0]
            # "1.5.ro" is not a link; a host needs a letter before its top-level domain.
            if pattern is BARE_DOMAIN and not any(c.isalpha() for c in host.rsplit(".", 1)[0]):
                continue
            yield view.span(start, end)


def _handles(view: _View) -> Iterator[tuple[int, int]]:
    for match in HANDLE.finditer(view.text):
        yield view.span(*match.span())


# ---------------------------------------------------------------------------------------------
# Phones

PHONE_RUN = re.compile(r"(?<![\d+])(?:\+ ?)?\(?\d(?:[ ./\-()]{1,3}\d|\d)*")
MIN_PHONE_DIGITS = 7
CURRENCY_WORDS = (
    "usd", "eur", "euro", "euros", "gbp", "ron", "lei", "leu", "nok", "dkk", "sek", "kr", "kroner",
    "thb", "baht", "ngn", "naira", "ugx", "npr", "iqd", "gmd", "dalasi", "brl", "reais", "bgn",
    "leva", "lev", "mdl", "xof", "xaf", "cfa", "fcfa", "rsd", "mkd", "lek", "lekë", "rub", "uah",
    "irr", "afn", "pkr", "inr", "chf", "dollars", "dollar", "rupees", "shillings", "лв", "лева",
    "руб", "рублей", "ден", "дин", "บาท", "دينار", "ريال", "تومان", "روپے", "افغانی", "रुपैयाँ",
)  # fmt: skip
CURRENCY_AFTER = re.compile(rf"(?i)[ ]*(?:{_alternation(CURRENCY_WORDS)})\.?(?![^\W\d_])")
CURRENCY_BEFORE = re.compile(rf"(?i)(?<![^\W\d_])(?:{_alternation(CURRENCY_WORDS)})\.?[ ]*$")
GROUPED_AMOUNT = re.compile(r"[1-9]\d{0,2}([ .])\d{3}(?:\1\d{3})*")
DECIMALS_AFTER = re.compile(r"[.,]\d{1,2}(?!\d)")
TIME_RANGE = re.compile(r"\d{1,2}[.:]\d{2} ?- ?\d{1,2}[.:]\d{2}")


def _beside_currency(text: str, start: int, end: int) -> bool:
    """An amount: a currency code, word or symbol just before or after, or a percent sign."""
    before = text[max(0, start - 16) : start]
    after = text[end : end + 16]
    nearest_before = before.rstrip()[-1:]
    nearest_after = after.lstrip()[:1]
    return (
        any(unicodedata.category(c) == "Sc" for c in nearest_before + nearest_after)
        or nearest_after == "%"
        or CURRENCY_AFTER.match(after) is not None
        or CURRENCY_BEFORE.search(before) is not None
    )


def _phones(view: _View, *, before_dates: bool) -> Iterator[tuple[int, int]]:
    """Phone numbers. Those that plainly are one ("+40...", "0040...", "0721...", "(02)...")
    before dates are looked for, since "+40 21.03.2027" or "(01) 12.03.27" is a phone, unless a
    date starts the run ("01.03.2027"); the rest after, with dates hidden: "12.03.2027" is one."""
    text = view.text
    for match in PHONE_RUN.finditer(text):
        start, end = match.span()
        run = match.group()
        if sum(c.isdigit() for c in run) < MIN_PHONE_DIGITS:
            continue
        groups = re.findall(r"\d+", run)
        if all(len(g) == 4 and 1900 <= int(g) <= 2100 for g in groups) or TIME_RANGE.fullmatch(run):
            continue
        international = run.startswith(("+", "00"))
        plainly = international or (run.startswith(("0", "(0")) and not _starts_with_date(run))
        if before_dates and not plainly:
            continue  # the second look, with dates hidden, takes it
        if _joined_to_letters(text, start, end):
            continue
        if not international and _amount(text, start, end, run):
            continue
        yield view.span(start, end)


def _starts_with_date(run: str) -> bool:
    return any(
        pattern.match(run) is not None
        for pattern in (*NUMERIC_DATES, ISO_DATE, SLASH_DATE, DOT_DATE)
    )


def _joined_to_letters(text: str, start: int, end: int) -> bool:
    """A code joined to Latin or Cyrillic letters ("R-RO-0001234-3", "RO0001234") is no phone.
    Thai letters do touch a phone's digits, as Thai has no spaces."""
    before = text[max(0, start - 2) : start]
    return (
        (before[-1:] != "" and _is_cased(before[-1]))
        or (len(before) == 2 and before[1] == "-" and _is_cased(before[0]))
        or (end + 1 < len(text) and text[end] == "-" and _is_cased(text[end + 1]))
    )


def _amount(text: str, start: int, end: int, run: str) -> bool:
    """Whether a run of digits is an amount; amounts never start with 0."""
    if run.lstrip("( ")[0] not in "123456789":
        return False
    return (
        _beside_currency(text, start, end)
        or DECIMALS_AFTER.match(text, end) is not None
        or (GROUPED_AMOUNT.fullmatch(run) is not None and run.endswith("000"))
    )


# ---------------------------------------------------------------------------------------------
# Dates

EXTRA_LOCALES = ("ar_IQ", "sr_Latn", "pt_PT", "en_GB")
EXTRA_MONTHS = (
    "sept",
    # The Persian solar months, the ones Iran and Afghanistan write dates in.
    "فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور", "مهر", "آبان", "آذر", "دی", "بهمن",
    "اسفند",
    # The Bikram Sambat months, the ones Nepal writes dates in.
    "बैशाख", "वैशाख", "जेठ", "असार", "साउन", "श्रावण", "भदौ", "असोज", "कात्तिक", "कार्तिक", "मंसिर",
    "पुस", "माघ", "फागुन", "चैत",
    # "12 числа": the 12th of this month.
    "числа",
)  # fmt: skip
# Abbreviations that are also words ("3 out of 5", "3 mai mult"): not a month when one of these
# words comes right after them.
AMBIGUOUS_MONTHS = frozenset({"out", "set", "ago", "mar", "mai", "may", "maj", "dec", "sht", "tet"})
NOT_A_MONTH_AFTER = re.compile(
    r" +(?:of|mult|multe|multi|multa|putin|putine|putini|bine|tarziu|devreme|mare|mari|mic|mici"
    r"|departe|ales|jos|sus)(?![^\W\d_])"
)
DAY = r"(?:3[01]|[12]\d|0?[1-9])(?!\d)"
DAY_SUFFIX = r"(?:st|nd|rd|th|er|eme|e|º|ª|°|\.|-?го|-?ого|-?е)?"
YEAR_AFTER = r"(?: *,? *(?:(?:de|del) +)?\d{4}(?!\d))?"
MONTH_ONLY_BEFORE = re.compile(r"(?<![^\W\d_])(?:in|i|en|em|since)\s+$")
TIME_WORD_BEFORE = re.compile(r"(?<![^\W\d_])(?:kl|klokken|at|ora|orele|um|a las|as)\.? *$")
NUMERIC_DATES = (
    # 1.1.2010-31.12.2012: a range is one date, not a phone
    re.compile(
        r"(?<![\d.,/:\-])(\d{1,2})([./])(\d{1,2})\2\d{2,4} ?- ?\d{1,2}([./])\d{1,2}\4\d{2,4}(?!\d)"
    ),
    # 12.03.2027, 12/3/27, 12-03-2027, 3/12/2027
    re.compile(r"(?<![\d.,/:\-])(\d{1,2})([./\-])(\d{1,2})\2(\d{4}|\d{2})(?!\d|[./\-]\d)"),
    # 12. 3. 2027 (Serbian, Macedonian)
    re.compile(r"(?<![\d.,/:\-])(\d{1,2})(\.) (\d{1,2})\. ?(\d{4}|\d{2})(?!\d)"),
)
ISO_DATE = re.compile(r"(?<![\d.,/:\-])(\d{4})([./\-])(\d{1,2})\2(\d{1,2})(?!\d|[./\-]\d)")
SLASH_DATE = re.compile(r"(?<![\d.,/:\-])(\d{1,2})/(\d{1,2})(?!\d|[./\-]\d)")
DOT_DATE = re.compile(r"(?<![\d.,/:\-])(\d{1,2})\.(\d{2}|\d\.)(?!\d|[.,]\d)")


@dataclass(frozen=True)
class _Calendar:
    day_month: re.Pattern[str]
    month_day: re.Pattern[str]
    weekday_day: re.Pattern[str]
    weekday_before: re.Pattern[str]
    day_word: re.Pattern[str]
    words: frozenset[str]  # month and weekday names, folded: not names of people
    full_months: frozenset[str]  # the month names that are no abbreviation


@cache
def _calendar() -> _Calendar:
    """Month and weekday names of every shipped language, as patterns over folded text."""
    months: set[str] = {_fold(m) for m in EXTRA_MONTHS}
    weekdays: set[str] = set()
    wide_weekdays: set[str] = set()
    wide_months: set[str] = set()
    for code in (*SHIPPED_LANGUAGES, *EXTRA_LOCALES):
        locale = Locale.parse(code)
        for context in ("format", "stand-alone"):
            for width in ("wide", "abbreviated"):
                months.update(
                    _fold(name).rstrip(".") for name in locale.months[context][width].values()
                )
                days = {_fold(name).rstrip(".") for name in locale.days[context][width].values()}
                weekdays.update(days)
                if width == "wide":
                    wide_weekdays.update(days)
                    wide_months.update(_fold(m) for m in locale.months[context][width].values())
    months = {m for m in months if len(m) >= 2}
    weekdays = {d for d in weekdays if len(d) >= 2}
    bounded = [m for m in months if not any(map(_spaceless, m))]
    unbounded = [m for m in months if any(map(_spaceless, m))]
    month = (
        rf"(?:(?P<month>{_alternation(bounded)})(?P<dot>\.)?(?![^\W\d_])"
        rf"|(?P<thai>{_alternation(unbounded)})\.?)"
    )
    articles = r"(?:(?:the|den|le|el|o|pe|" + re.escape(_fold("ที่")) + r") *)?"
    return _Calendar(
        day_month=re.compile(
            rf"(?<![\d.,/:])(?<!\d-)(?P<day>{DAY}){DAY_SUFFIX}(?: *- *{DAY}{DAY_SUFFIX})?"
            rf"\s*(?:(?:of|de|del|di) +)?{month}{YEAR_AFTER}"
        ),
        month_day=re.compile(
            rf"(?<![^\W\d_])(?P<month>{_alternation(bounded)})(?P<dot>\.)? *,? *(?:the +)?"
            rf"(?P<day>{DAY})(?P<suffix>{DAY_SUFFIX})(?![:.,]\d){YEAR_AFTER}"
        ),
        weekday_day=re.compile(
            rf"(?<![^\W\d_])(?:{_alternation(wide_weekdays)}) *,? *(?P<article>{articles})"
            rf"(?P<day>{DAY})(?P<suffix>{DAY_SUFFIX})(?![:.,]\d)"
        ),
        weekday_before=re.compile(
            rf"(?<![^\W\d_])(?:{_alternation(weekdays)})\.? *,? *{articles}$"
        ),
        day_word=re.compile(rf"{re.escape(_fold('วันที่'))} *{DAY}"),
        # Only whole names: abbreviations like "sam", "ned", "tor" are also people's names.
        words=frozenset(wide_months | wide_weekdays),
        full_months=frozenset(wide_months | {_fold(m) for m in EXTRA_MONTHS} - {"sept"}),
    )


def _valid_day_month(day: int, month: int) -> bool:
    return 1 <= day <= 31 and 1 <= month <= 12


def _dates(view: _View) -> Iterator[tuple[int, int]]:
    text = view.text
    calendar = _calendar()
    spans: list[tuple[int, int]] = []
    for pattern in NUMERIC_DATES:
        for match in pattern.finditer(text):
            first, second = int(match.group(1)), int(match.group(3))
            if _valid_day_month(first, second) or _valid_day_month(second, first):
                spans.append(match.span())
    for match in ISO_DATE.finditer(text):
        if _valid_day_month(int(match.group(4)), int(match.group(3))):
            spans.append(match.span())
    for match in SLASH_DATE.finditer(text):
        first, second = int(match.group(1)), int(match.group(2))
        if match.group() == "24/7" or _beside_currency(text, *match.span()):
            continue
        if _valid_day_month(first, second) or _valid_day_month(second, first):
            spans.append(match.span())
    for match in DOT_DATE.finditer(text):
        day, month = int(match.group(1)), int(match.group(2).rstrip("."))
        start, end = match.span()
        if not _valid_day_month(day, month) or _beside_currency(text, start, end):
            continue
        if TIME_WORD_BEFORE.search(text, max(0, start - 12), start):
            continue
        spans.append((start, end))
    day_first: list[tuple[int, int]] = []
    for match in calendar.day_month.finditer(text):
        if not _ambiguous_month(match, text):
            day_first.append(_without_full_stop(match, calendar))
    spans.extend(day_first)
    for match in calendar.month_day.finditer(text):
        if _ambiguous_month(match, text):
            continue
        # "12 martie, 12 mai": the first month belongs to its own day, not to the next one.
        if any(start <= match.start() < end for start, end in day_first):
            continue
        # "in March 3 people came": the month alone, then a number.
        window = max(0, match.start() - 12)
        if not match.group("suffix") and MONTH_ONLY_BEFORE.search(text, window, match.start()):
            continue
        spans.append(_without_full_stop(match, calendar))
    for match in calendar.weekday_day.finditer(text):
        # "Monday the 12th", "mandag den 12.", "Friday 13." but not "on Monday 3 people came".
        rest = text[match.end() :]
        if match.group("suffix") or match.group("article") or re.match(r" *(?:$|[,;:!?)\n])", rest):
            spans.append(match.span())
    for match in calendar.day_word.finditer(text):
        spans.append(match.span())
    for start, end in spans:
        before = calendar.weekday_before.search(text, max(0, start - 40), start)
        yield view.span(before.start() if before else start, end)


def _without_full_stop(match: re.Match[str], calendar: _Calendar) -> tuple[int, int]:
    """The span without the full stop after a whole month name ("pe 3 mai.")."""
    start, end = match.span()
    if match.end() == match.end("dot") and match.group("month") in calendar.full_months:
        end -= 1
    return start, end


def _ambiguous_month(match: re.Match[str], text: str) -> bool:
    name = match.group("month")
    return (
        name is not None
        and name in AMBIGUOUS_MONTHS
        and not match.group("dot")
        and NOT_A_MONTH_AFTER.match(text, match.end("month")) is not None
    )


# ---------------------------------------------------------------------------------------------
# Addresses

# A street word followed by the street's name: the name must be capitalised (or in a script
# without capitals) or a number, since "pe stradă", "dans la rue" and "на улице" are no address.
STREET_BEFORE = (
    "strada", "stradă", "stradela", "calea", "bulevardul", "bulevard", "aleea", "șoseaua",
    "şoseaua", "soseaua", "splaiul", "intrarea", "piața", "piaţa", "piata", "drumul", "rue",
    "avenue", "boulevard", "chemin", "impasse", "allée", "rua", "avenida", "travessa", "calle",
    "carrera", "paseo", "ulica", "ulice", "ulici", "ulicu", "bulevar", "bulevardi", "rruga",
    "rrugës", "rrugen", "lagjja", "lagja", "улица", "улице", "улицу", "улицы", "улици", "улицата",
    "булевард", "булевар", "булеварот",
    "проспект", "переулок", "шоссе", "soi", "thanon", "пр.", "пр-т", "просп.", "пер.", "al.",
    "blvd.", "bld.", "spl.",
)  # fmt: skip
# Abbreviations that mean nothing but a street: the name after them may be in lower case.
STREET_BEFORE_SHORT = (
    "str.", "str", "bd.", "b-dul", "bdul.", "bdul", "șos.", "şos.", "sos.", "ul.", "ул.", "ул",
    "бул.", "ж.к.", "жк", "rr.", "av.", "avda.", "c/",
)  # fmt: skip
STREET_BEFORE_CASELESS = ("شارع", "خیابان", "کوچه", "زقاق", "جادة", "ซอย", "ถนน")
# After a street's capitalised name: "12 Baker Street", "Falkoner Allé 1".
STREET_AFTER = (
    "street", "st.", "st", "road", "rd.", "rd", "avenue", "ave.", "ave", "lane", "ln.", "boulevard",
    "blvd.", "blvd", "square", "sq.", "crescent", "highway", "hwy.", "allé", "plads", "vej", "gade",
    "torv",
)  # fmt: skip
# The ends of a street's one-word name: "Nørregade 12", "Strandvejen 5", "Storgata 3".
STREET_SUFFIXES = (
    "gade", "gaden", "vej", "vejen", "allé", "plads", "pladsen", "stræde", "strædet", "torv",
    "torvet", "vænge", "vænget", "gata", "gate", "gaten", "veien", "vegen", "straße", "strasse",
)  # fmt: skip
NUMBERED = (
    "apartment", "apartament", "apartamentul", "apt.", "apt", "ap.", "ap", "flat", "bloc", "blocul",
    "block", "blok", "bl.", "bl", "sc.", "scara", "et.", "etaj", "etajul", "nr.", "nr", "no.", "nº",
    "n°", "№", "кв.", "кв", "квартира", "д.", "дом", "корп.", "корпус", "бл.", "блок", "вх.",
    "вход", "ет.", "етаж", "ап.", "апартамент", "стан", "lejl.", "lejlighed", "piso", "apto.",
    "apto", "apartamento", "appartement", "appt.", "bâtiment", "bât.", "shkalla", "pallati",
    "hyrja", "kati", "เลขที่", "บ้านเลขที่", "หมู่", "वडा नं.", "वडा नं", "वडा नम्बर", "नं.", "شقة", "عمارة",
    "پلاک", "طبقه", "بلوک", "house no.",
)  # fmt: skip
CONNECTORS = frozenset(
    {"de", "la", "des", "du", "da", "do", "dos", "das", "del", "della", "di", "lui", "of", "e", "y"}
)
NOT_STREET_NAMES = frozenset(
    {"the", "a", "an", "this", "that", "these", "those", "our", "her", "his", "their", "my", "its",
     "your", "each", "every", "one", "same", "any", "no", "on", "in", "at", "of"}
)  # fmt: skip


def _keyword_pattern(words: Iterable[str]) -> str:
    """Whole words; an abbreviation's dot ends it."""
    alternatives = []
    for word in sorted(set(words), key=lambda w: (-len(w), w)):
        bound = "" if not word[-1].isalpha() else r"(?![^\W\d_])"
        alternatives.append(re.escape(word) + bound)
    return "(?:" + "|".join(alternatives) + ")"


HOUSE_NUMBER = re.compile(r"\d+(?:[A-Za-z](?![^\W\d_]))?(?: ?[/\-] ?\d+(?:[A-Za-z](?![^\W\d_]))?)?")
STREET_WORD = re.compile(
    rf"(?i)(?<![^\W\d_])(?:(?P<short>{_keyword_pattern(STREET_BEFORE_SHORT)})"
    rf"|(?P<full>{_keyword_pattern(STREET_BEFORE)}))"
)
STREET_WORD_CASELESS = re.compile(rf"(?:{_alternation(STREET_BEFORE_CASELESS)})")
STREET_AFTER_WORD = re.compile(rf"(?i)(?<![^\W\d_]){_keyword_pattern(STREET_AFTER)}")
STREET_COMPOUND = re.compile(
    rf"(?<![^\W\d_])[^\W\d_]*(?:{_alternation(STREET_SUFFIXES)}) +{HOUSE_NUMBER.pattern}"
)
NUMBERED_WORD = re.compile(
    rf"(?<![^\W\d_])(?i:{_keyword_pattern(NUMBERED)}) *"
    r"(?:\d+(?:[A-Za-z](?![^\W\d_]))?(?: ?[/\-] ?\d+)?|[A-ZА-Я]\d*(?![^\W\d_]))"
)
ADDRESS_GAP = re.compile(r"[\s,;،؛]*")


def _word_at(text: str, position: int) -> int:
    """The end of the word (letters, with inner hyphens and apostrophes) starting at position."""
    end = position
    while end < len(text) and (
        _is_letter(text[end])
        or (
            text[end] in "-'"
            and end > position
            and end + 1 < len(text)
            and _is_letter(text[end + 1])
        )
    ):
        end += 1
    return end


def _skip_spaces(text: str, position: int) -> int:
    while position < len(text) and text[position] == " ":
        position += 1
    return position


def _street_name_end(text: str, position: int, *, any_case: bool) -> int | None:
    """Where the street's name (and house number) after a street word ends, or None if the
    street word is not followed by one."""
    at = _skip_spaces(text, position)
    number = HOUSE_NUMBER.match(text, at)
    if number:
        return number.end()
    end: int | None = None
    taken = 0
    while taken < 4:
        word_end = _word_at(text, at)
        if word_end == at:
            break
        word = text[at:word_end]
        if not _is_cased(word[0]):
            end = word_end  # a script without capitals: its one word is the name
            break
        if word[0].isupper() or (any_case and taken == 0):
            end = word_end
        elif word.lower() not in CONNECTORS:
            break
        taken += 1
        at = _skip_spaces(text, word_end)
    if end is None:
        return None
    number = HOUSE_NUMBER.match(text, _skip_spaces(text, end))
    return number.end() if number else end


def _addresses(view: _View) -> Iterator[tuple[int, int]]:
    text = view.text
    spans: list[tuple[int, int]] = []
    for match in STREET_WORD.finditer(text):
        end = _street_name_end(text, match.end(), any_case=match.group("short") is not None)
        if end is not None:
            spans.append((match.start(), end))
    for match in STREET_WORD_CASELESS.finditer(text):
        at = _skip_spaces(text, match.end())
        number = HOUSE_NUMBER.match(text, at)
        if number:
            spans.append((match.start(), number.end()))
            continue
        # "ข้ามถนนใหญ่" (crossing a big road) is not an address: a road's name counts only where
        # the road word starts a word.
        before = text[match.start() - 1 : match.start()]
        if before and _is_letter(before):
            continue
        word_end = _word_at(text, at)
        if word_end > at:
            spans.append((match.start(), word_end))
    for match in STREET_AFTER_WORD.finditer(text):
        start = _street_name_start(text, match.start())
        if start is None:
            continue
        number = HOUSE_NUMBER.match(text, _skip_spaces(text, match.end()))
        spans.append((start, number.end() if number else match.end()))
    for match in STREET_COMPOUND.finditer(text):
        word = text[match.start() : _word_at(text, match.start())]
        if word[0].isupper() and not any(word.lower() == s for s in STREET_SUFFIXES):
            spans.append(match.span())
    for match in NUMBERED_WORD.finditer(text):
        spans.append(match.span())
    for start, end in spans:
        yield view.span(start, end)


def _street_name_start(text: str, position: int) -> int | None:
    """Where the capitalised street name before a word like "Street" starts, with a house
    number before it ("12 Baker Street"), or None if there is no such name."""
    start: int | None = None
    at = position
    for _ in range(3):
        gap_start = at
        while gap_start > 0 and text[gap_start - 1] == " ":
            gap_start -= 1
        if gap_start == at:
            break
        word_start = gap_start
        while word_start > 0 and (_is_letter(text[word_start - 1]) or text[word_start - 1] in "-'"):
            word_start -= 1
        word = text[word_start:gap_start]
        if not word or not word[0].isupper() or word.lower() in NOT_STREET_NAMES:
            break
        start = at = word_start
    if start is None:
        return None
    number = re.search(r"\d+[A-Za-z]? +$", text[max(0, start - 12) : start])
    return start - len(number.group()) if number else start


# ---------------------------------------------------------------------------------------------
# Names

# Words staff write that are not people: organisations, the programme's countries, capitals and
# large cities (in English and at home), nationalities, and the words of a case's paperwork. With
# the month and weekday names of every shipped language.
NOT_NAMES = (
    "IOM", "OIM", "MOM", "МОМ", "Homeward", "Office", "Country Office", "NGO", "ONG", "CMM", "AVR",
    "AVRR", "UN", "UNHCR", "UNICEF", "UNODC", "EU", "ID", "SMS", "PDF", "OK", "TV", "Red Cross",
    "Danish Red Cross", "Red Crescent", "Crucea Roșie", "Crucea Roșie Română", "Røde Kors",
    "Dansk Røde Kors", "Красный Крест", "Danish Refugee Council", "Danish Immigration Service",
    "Immigration Service", "Udlændingestyrelsen", "Danish Centre", "Human Trafficking",
    "Centre", "Center", "Caritas", "Save the Children", "ANITP", "DIICOT", "ANOFM", "NAPTIP",
    "Western Union", "MoneyGram", "Mobile Money", "Orange Money", "MTN", "Telegram", "WhatsApp",
    "Viber", "Facebook", "Messenger", "Signal", "Google", "Zoom", "Skype",
    "Case", "Receipt", "Payout", "Plan", "Reintegration", "Programme", "Program", "Return",
    "Counsellor", "Counselor", "Caseworker", "Status", "Update", "Note", "Business", "Housing",
    "Medical", "Education", "Ministry", "Police", "Embassy", "Consulate", "Municipality",
    "Primăria", "Asistența Socială", "DGASPC", "SRL", "Ltd", "Inc",
    "USD", "EUR", "RON", "LEI", "NOK", "DKK", "SEK", "THB", "NGN", "UGX", "NPR", "IQD", "GMD",
    "BRL", "BGN", "MDL", "XOF", "XAF", "CFA", "RSD", "MKD",
    "Romania", "România", "Bucharest", "București", "Cluj", "Cluj-Napoca", "Iași", "Timișoara",
    "Constanța", "Craiova", "Brașov", "Galați", "Thailand", "Bangkok", "Chiang Mai", "Pattaya",
    "Udon Thani", "Nigeria", "Lagos", "Abuja", "Benin City", "Edo", "Uganda", "Kampala", "Nepal",
    "Kathmandu", "Pokhara", "Iraq", "Baghdad", "Erbil", "Mosul", "Basra", "Kurdistan", "Gambia",
    "The Gambia", "Banjul", "Serekunda", "Brazil", "Brasil", "Sao Paulo", "Rio", "Janeiro",
    "Brasília", "Bulgaria", "България", "Sofia", "София", "Plovdiv", "Varna", "Moldova",
    "Молдова", "Chisinau", "Chișinău", "Кишинёв", "Кишинев", "Mali", "Bamako", "Cameroon",
    "Cameroun", "Yaounde", "Yaoundé", "Douala", "Denmark", "Danmark", "Danemarca", "Дания",
    "Copenhagen", "København", "Aarhus", "Odense", "Aalborg", "Norway", "Norge", "Oslo", "Sweden",
    "Europe", "Africa", "Asia", "Serbia", "Србија", "Belgrade", "Beograd", "Београд", "Albania",
    "Shqipëri", "Shqipëria", "Tirana", "Tiranë", "North Macedonia", "Macedonia", "Македонија",
    "Skopje", "Скопје", "Kosovo", "Pristina", "Prishtina", "Bosnia", "Herzegovina", "Sarajevo",
    "Montenegro", "Podgorica", "Russia", "Россия", "Moscow", "Москва", "Ukraine", "Kyiv",
    "Afghanistan", "Kabul", "Iran", "Tehran", "Pakistan", "Islamabad", "Lahore", "Syria",
    "Damascus", "Eritrea", "Somalia", "Ethiopia", "Ghana", "Accra", "Senegal", "Dakar", "Morocco",
    "Algeria", "Tunisia", "Egypt", "Cairo", "Vietnam", "Philippines", "China", "India",
    "Sri Lanka", "Colombia", "Venezuela", "Mexico", "Spain", "Portugal", "France", "Paris",
    "Germany", "Berlin", "Italy", "Rome", "United Kingdom", "UK", "London", "United States", "USA",
    "Greece", "Athens", "Turkey", "Istanbul",
    "Romanian", "Română", "Thai", "Nigerian", "Ugandan", "Nepali", "Nepalese", "Iraqi", "Kurdish",
    "Gambian", "Brazilian", "Bulgarian", "Moldovan", "Malian", "Cameroonian", "Danish", "Dansk",
    "Norwegian", "English", "French", "Arabic", "Russian", "Serbian", "Albanian", "Macedonian",
    "Persian", "Farsi", "Dari", "Pashto", "Urdu", "Spanish", "Portuguese", "Hausa", "Yoruba",
    "Igbo", "Luganda", "Swahili", "European", "African",
)  # fmt: skip
HONORIFICS = (
    "mrs", "mr", "ms", "miss", "mx", "dr", "mister", "dl", "dna", "d-na", "d-l", "dlui", "domnul",
    "doamna", "domnișoara", "domnisoara", "domnului", "doamnei", "hr.", "herr", "fru", "frk",
    "frøken", "frau", "mme", "mlle", "madame", "monsieur", "sr", "sra", "srta", "señor", "señora",
    "senhor", "senhora", "dona", "don", "zoti", "zonja", "znj", "z.", "г-н", "г-жа", "г-ца",
    "господин", "госпожа", "господине", "госпођа", "госпоѓа", "господинот", "khun",
)  # fmt: skip
HONORIFICS_CASELESS = (
    "السيد", "السيدة", "الأستاذ", "الأستاذة", "الاستاذ", "الحاج", "الحاجة", "آقای", "خانم", "جناب",
    "محترمہ", "محترم", "ښاغلی", "ښاغلې", "میرمن", "श्री", "श्रीमती", "सुश्री",
)  # fmt: skip
HONORIFIC = re.compile(rf"(?<![^\W\d_])(?:(?i:{_keyword_pattern(HONORIFICS)})|M\.)\.? +")
HONORIFIC_CASELESS = re.compile(rf"(?<![^\W\d_])(?:{_alternation(HONORIFICS_CASELESS)}) +")
THAI_HONORIFIC = re.compile(r"(?<![\u0e00-\u0e7f])คุณ *")
# "คุณภาพ" is quality, "คุณค่า" value, "คุณสมบัติ" qualification, "คุณแม่" mother: no names.
THAI_NOT_NAMES = ("ภาพ", "ค่า", "สมบัติ", "ประโยชน์", "ธรรม", "แม่", "พ่อ", "ครู", "หมอ", "ยาย", "ตา")
THAI_NAME_LENGTH = 30
ARABIC_PROCLITICS = frozenset("وبلفك")
SENTENCE_ENDS = frozenset(".!?…\n؟۔।。")
OPENERS = frozenset(" \t\"'«„“‘([{-•*>¿¡")


def _name_words(name: str) -> list[str]:
    """The words of a name, folded: "Ștefan-Ion O'Neill" gives stefan, ion, o, neill."""
    folded = _fold(name)
    words: list[str] = []
    current: list[str] = []
    for char in folded + " ":
        if _is_letter(char):
            current.append(char)
        elif current:
            words.append("".join(current))
            current = []
    return words


@cache
def _not_names() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Phrases that are not names, by their first word, longest first."""
    phrases = {tuple(_fold(phrase).split()) for phrase in NOT_NAMES}
    phrases |= {(word,) for word in _calendar().words}
    by_first: dict[str, list[tuple[str, ...]]] = {}
    for phrase in phrases:
        by_first.setdefault(phrase[0], []).append(phrase)
    return {first: tuple(sorted(found, key=len, reverse=True)) for first, found in by_first.items()}


def _free_before(text: str, start: int) -> bool:
    if start == 0 or not _is_wordish(text[start - 1]):
        return True
    # Arabic writes "and", "with", "for" as one letter joined to the next word: "وأحمد".
    return text[start - 1] in ARABIC_PROCLITICS and (start == 1 or not _is_wordish(text[start - 2]))


def _known_names(
    folded: _View, names: Iterable[str], allowed: frozenset[str]
) -> Iterator[tuple[int, int]]:
    words = {word for name in names for word in _name_words(name) if word not in allowed}
    text = folded.text
    for word in words:
        if sum(map(_is_letter, word)) < 3:
            continue
        bounded = not any(map(_spaceless, word))  # Thai has no word bounds to check
        for match in re.finditer(re.escape(word), text):
            start, end = match.span()
            if bounded and not (
                _free_before(text, start) and (end == len(text) or not _is_wordish(text[end]))
            ):
                continue
            yield folded.span(start, end)


@dataclass(frozen=True)
class _Word:
    start: int
    end: int
    text: str


def _words(text: str) -> list[_Word]:
    words: list[_Word] = []
    position = 0
    while position < len(text):
        if _is_letter(text[position]):
            end = _word_at(text, position)
            words.append(_Word(position, end, text[position:end]))
            position = end
        else:
            position += 1
    return words


def _is_allowed(word: str, allowed: frozenset[str]) -> bool:
    parts = _name_words(word)
    return bool(parts) and all(part in allowed for part in parts)


def _honorific_names(view: _View, allowed: frozenset[str]) -> Iterator[tuple[int, int]]:
    text = view.text
    not_names = _not_names()
    for match in HONORIFIC.finditer(text):
        end: int | None = None
        at = match.end()
        while True:
            word_end = _word_at(text, at)
            word = text[at:word_end]
            if not word or not word[0].isupper() or _is_allowed(word, allowed):
                break
            if (_fold(word),) in not_names.get(_fold(word), ()):
                break
            end = word_end
            at = word_end + 1
            if text[word_end : word_end + 1] != " ":
                break
        if end is not None:
            yield view.span(match.start(), end)
    for match in HONORIFIC_CASELESS.finditer(text):
        word_end = _word_at(text, match.end())
        word = text[match.end() : word_end]
        if word and not _is_allowed(word, allowed):
            yield view.span(match.start(), word_end)
    for match in THAI_HONORIFIC.finditer(text):
        at = match.end()
        if text.startswith(THAI_NOT_NAMES, at):
            continue
        end = at
        while end < len(text) and end - at < THAI_NAME_LENGTH and "\u0e00" <= text[end] <= "\u0e7f":
            end += 1
        if end > at and not _is_allowed(text[at:end], allowed):
            yield view.span(match.start(), end)


def _starts_sentence(text: str, position: int) -> bool:
    at = position
    while at > 0 and text[at - 1] in OPENERS:
        at -= 1
    if at == 0:
        return True
    end = text[at - 1]
    if end != ".":
        return end in SENTENCE_ENDS
    # "dl. Popescu", "J. Smith", "nr. 3": a short abbreviation's dot ends no sentence.
    word_start = at - 1
    while word_start > 0 and _is_letter(text[word_start - 1]):
        word_start -= 1
    word = text[word_start : at - 1]
    return not (word and len(word) <= 3 and (word.islower() or len(word) == 1))


def _joined_to_digits(text: str, word: _Word) -> bool:
    """A word joined to digits is part of a code ("RO-0001", "R-RO-0001-3"), not a name."""
    after = text[word.end : word.end + 2]
    before = text[max(0, word.start - 2) : word.start]
    return (
        after[:1].isdigit()
        or (after[:1] == "-" and after[1:].isdigit())
        or before[-1:].isdigit()
        or (before[-1:] == "-" and before[:1].isdigit())
    )


def _capitalised_names(view: _View, allowed: frozenset[str]) -> Iterator[tuple[int, int]]:
    """Two or more capitalised words in a row, not at the start of a sentence."""
    text = view.text
    honorifics = {_fold(h).rstrip(".") for h in HONORIFICS} | {"m"}
    runs: list[list[_Word]] = []
    previous: _Word | None = None
    for word in _words(text):
        name_like = (
            word.text[0].isupper()
            and sum(map(_is_letter, word.text)) >= 2
            and not _joined_to_digits(text, word)
        )
        if not name_like:
            previous = None
            continue
        adjacent = previous is not None and text[previous.end : word.start].strip(" ") == ""
        if adjacent and runs:
            runs[-1].append(word)
        else:
            runs.append([word])
        previous = word
    for run in runs:
        for start, end in _names_in_run(text, run, allowed, honorifics):
            yield view.span(start, end)


def _names_in_run(
    text: str, run: list[_Word], allowed: frozenset[str], honorifics: set[str]
) -> Iterator[tuple[int, int]]:
    not_names = _not_names()
    folded = [_fold(word.text) for word in run]
    neutral = [False] * len(run)
    if _starts_sentence(text, run[0].start):
        neutral[0] = True
    index = 0
    while index < len(run):
        if folded[index] in honorifics:
            neutral[index] = True
        for phrase in not_names.get(folded[index], ()):
            if tuple(folded[index : index + len(phrase)]) == phrase:
                for covered in range(index, index + len(phrase)):
                    neutral[covered] = True
                index += len(phrase) - 1
                break
        index += 1
    piece: list[_Word] = []
    for word, is_neutral in [*zip(run, neutral, strict=True), (None, True)]:
        if not is_neutral and word is not None:
            piece.append(word)
            continue
        if len(piece) >= 2:
            # The counsellor's own name is never a finding; the rest of the piece is.
            for kept in piece:
                if not _is_allowed(kept.text, allowed):
                    yield kept.start, kept.end
        piece = []


PRIORITY = (Kind.EMAIL, Kind.LINK, Kind.HANDLE, Kind.PHONE, Kind.ADDRESS, Kind.DATE, Kind.NAME)
JOINED = {Kind.ADDRESS: ADDRESS_GAP, Kind.NAME: re.compile(r"[ \t\u00a0]*")}


def _merged(found: list[Finding], text: str) -> list[Finding]:
    """Findings sorted and none overlapping. Overlapping ones become one, of the kind that says
    most ("ion@example.ro" is an e-mail, not also a link); the pieces of one address, and the
    words of one name, standing next to each other become one too."""
    merged: list[Finding] = []
    for finding in sorted(found, key=lambda f: (f.start, f.end)):
        if merged:
            last = merged[-1]
            if finding.start < last.end:
                kind = min(last.kind, finding.kind, key=PRIORITY.index)
                merged[-1] = Finding(kind, last.start, max(last.end, finding.end))
                continue
            gap = JOINED.get(finding.kind) if finding.kind is last.kind else None
            if gap is not None and gap.fullmatch(text, last.end, finding.start):
                merged[-1] = Finding(finding.kind, last.start, finding.end)
                continue
        merged.append(finding)
    return merged
