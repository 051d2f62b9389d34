"""Text folded for matching: case, diacritics, script variants and word forms.

Both the content and what people type pass through the same folding, so a message typed without
diacritics ("cand primesc banii") meets the entry written with them ("când primesc banii").
"""

from __future__ import annotations

import re
import unicodedata

# Written without spaces between words: searched by overlapping character pairs instead.
WITHOUT_SPACES = frozenset({"th"})
# Languages written in Cyrillic that people often type in Latin letters as well (Bulgarian too,
# with its own spelling below).
CYRILLIC_OR_LATIN = frozenset({"sr", "mk"})
# Word forms vary by ending in most shipped languages; the start of a word carries its meaning.
STEM_LENGTH = 5
# Arabic fixes pronouns and particles to both ends of a word and forms plurals inside it, so the
# start of a word says little; overlapping letter triples inside each word match its forms better.
# The same holds, measured on their evaluation sets, for Persian, Urdu and Pashto, whose spelling
# also varies with the keyboard.
BY_LETTER_TRIPLES = frozenset({"ar", "fa", "ur", "ps"})

_CYRILLIC_TO_LATIN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "ђ": "dj", "е": "e", "ж": "z",
    "з": "z", "ѕ": "dz", "и": "i", "ј": "j", "к": "k", "л": "l", "љ": "lj", "м": "m", "н": "n",
    "њ": "nj", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "ћ": "c", "у": "u",
    "ф": "f", "х": "h", "ц": "c", "ч": "c", "џ": "dz", "ш": "s",
}  # fmt: skip
# Bulgarian typed in Latin letters, the way chats write it ("parite mi zakusnqvat"): both scripts
# meet in that spelling, with the common variants of a few letters made one.
_BULGARIAN_TO_LATIN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "j", "з": "z", "и": "i",
    "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s",
    "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "c", "ч": "ch", "ш": "sh", "щ": "sht", "ъ": "u",
    "ь": "", "ю": "iu", "я": "q",
}  # fmt: skip
_BULGARIAN_LATIN_VARIANTS = (
    ("zh", "j"), ("ya", "q"), ("ia", "q"), ("iq", "q"), ("yu", "iu"), ("ts", "c"), ("y", "i"),
)  # fmt: skip
# Macedonian ѓ and ќ lose their accent with the other marks; typed as "gj" and "kj" they meet them.
_MACEDONIAN_LATIN_VARIANTS = (("gj", "g"), ("kj", "k"))
# Danish typed without its letters spells them out: "maa" for "må", "oe" for "ø".
# Pashto typed on a Persian or Urdu keyboard loses its own letters: each meets its nearest one.
_SPELLED_OUT = {
    "da": str.maketrans({"å": "aa", "ø": "oe", "æ": "ae"}),
    "ps": str.maketrans(
        {"ې": "ی", "ۍ": "ی", "ښ": "ش", "ږ": "ژ", "ړ": "ر", "ډ": "د", "ځ": "ز", "څ": "س", "ګ": "گ",
         "ټ": "ت", "ڼ": "ن"}
    ),
}  # fmt: skip
# Latin letters that Unicode does not decompose into a base letter and a mark.
_LATIN_FOLDS = str.maketrans({"ø": "o", "æ": "ae", "đ": "dj", "ł": "l", "ß": "ss", "œ": "oe"})
# Arabic-script letters typed differently on Arabic, Persian, Urdu and Pashto keyboards.
_ARABIC_FOLDS = str.maketrans(
    {"ي": "ی", "ى": "ی", "ك": "ک", "ة": "ه", "ە": "ه", "ہ": "ه", "ھ": "ه", "ـ": ""}
)  # fmt: skip
_ARABIC_ARTICLE = re.compile(r"^(?:وال|بال|فال|كال|کال|لل|ال)(?=\w{2,})")


def fold(text: str, language: str) -> str:
    """Lower case, no diacritics, one script per language, words separated by single spaces."""
    # Composed first, so "å" is one letter however the keyboard sent it.
    text = unicodedata.normalize("NFC", text.casefold())
    if language in _SPELLED_OUT:
        text = text.translate(_SPELLED_OUT[language])
    text = unicodedata.normalize("NFKD", text)
    # Marks go, and so do zero-width joiners: Persian is typed with and without them.
    text = "".join(c for c in text if unicodedata.category(c) not in ("Mn", "Cf"))
    text = text.translate(_LATIN_FOLDS).translate(_ARABIC_FOLDS)
    if language in CYRILLIC_OR_LATIN:
        text = "".join(_CYRILLIC_TO_LATIN.get(c, c) for c in text)
        if language == "mk":
            for variant, canonical in _MACEDONIAN_LATIN_VARIANTS:
                text = text.replace(variant, canonical)
    elif language == "bg":
        text = "".join(_BULGARIAN_TO_LATIN.get(c, c) for c in text)
        for variant, canonical in _BULGARIAN_LATIN_VARIANTS:
            text = text.replace(variant, canonical)
    # Letters, digits and the spacing marks of scripts like Devanagari; all else separates words.
    kept = (c if unicodedata.category(c)[0] in "LNM" else " " for c in text)
    return " ".join("".join(kept).split())


def without_marks(text: str) -> str:
    """The text with its diacritics simply left off, as someone typing in a hurry writes it."""
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if unicodedata.category(c) != "Mn"
    )


def terms(text: str, language: str) -> list[str]:
    """The search terms of a text: word stems, or character pairs where words are not spaced."""
    folded = fold(text, language)
    if language in WITHOUT_SPACES:
        found: list[str] = []
        for chunk in folded.split():
            if not chunk.isdigit():
                found.extend(chunk[i : i + 2] for i in range(max(len(chunk) - 1, 1)))
        return found
    # Numbers (amounts, dates, step numbers in an answer) say nothing about what is asked.
    words = [word for word in folded.split() if not word.isdigit()]
    if language in BY_LETTER_TRIPLES:
        found = []
        for word in words:
            marked = f"_{_ARABIC_ARTICLE.sub('', word) if language == 'ar' else word}_"
            found.extend(marked[i : i + 3] for i in range(len(marked) - 2))
        return found
    return [word[:STEM_LENGTH] for word in words]
