"""The languages Homeward ships, and how a language code from anywhere maps onto them."""

from __future__ import annotations

from collections.abc import Iterable

from babel import Locale, UnknownLocaleError

# Each shipped language has a complete gettext catalog under locales/<code>/LC_MESSAGES/.
SHIPPED_LANGUAGES: tuple[str, ...] = (
    "en", "da", "ar", "fr", "ro", "th", "pt", "ne", "bg",
    "ru", "sq", "sr", "mk", "fa", "ps", "ur", "es",
)  # fmt: skip
RIGHT_TO_LEFT: frozenset[str] = frozenset({"ar", "fa", "ps", "ur", "he"})


def normalise(code: str | None) -> str | None:
    """Reduce 'en-US', 'pt_BR' or 'sr-Latn' to its language part, lower case."""
    if not code:
        return None
    language = code.replace("-", "_").split("_")[0].strip().lower()
    return language or None


def pick_shipped(code: str | None, default: str) -> str:
    language = normalise(code)
    return language if language in SHIPPED_LANGUAGES else default


def native_name(code: str) -> str:
    """The language's name in itself, e.g. 'Română' for ro."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def choices_for(office_languages: Iterable[str]) -> list[str]:
    """The office's shipped languages first, in the office's order, then every other one."""
    first = [code for code in dict.fromkeys(map(normalise, office_languages)) if code]
    first = [code for code in first if code in SHIPPED_LANGUAGES]
    return first + [code for code in SHIPPED_LANGUAGES if code not in first]


def is_known_language(code: str) -> bool:
    try:
        Locale.parse(code)
    except (ValueError, TypeError, UnknownLocaleError):
        return False
    return True


RIGHT_TO_LEFT_MARK = "\u200f"


def laid_out_for(text: str, language: str) -> str:
    """Right-to-left text with every line marked as such.

    Telegram sets each line's direction from its first strong letter, so a line that begins with
    an amount, a name in Latin letters or a time would otherwise be laid out left to right.
    """
    if normalise(language) not in RIGHT_TO_LEFT:
        return text
    return "\n".join(RIGHT_TO_LEFT_MARK + line if line else line for line in text.split("\n"))
