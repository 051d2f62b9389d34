"""Danger phrases: words that mean a returnee may be unsafe right now.

Matched on folded text, word by word from the start of each word, so inflected forms count too
("pericol" finds "pericolul"). A false alarm costs staff a glance; a miss can cost far more. In
scripts written without spaces a phrase is found anywhere in the text.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.knowledge.normalise import WITHOUT_SPACES, fold, without_marks

_PLAIN = {
    "da": str.maketrans({"ø": "o", "æ": "a", "å": "a"}),
    "bg": str.maketrans({"ъ": "а"}),
}


class DangerPhrases:
    def __init__(self, phrases_by_language: dict[str, Iterable[str]]) -> None:
        # Each phrase also as typed with its diacritics left off: Danish "slår" may come as
        # "slaar" (which folding already gives) or as plain "slar", "følger" as "folger";
        # Bulgarian "ъ" is typed "u" (which folding gives) or "a".
        self.phrases = {
            language: tuple(
                {
                    tuple(fold(variant, language).split())
                    for p in phrases
                    for variant in (p, without_marks(p), p.translate(_PLAIN.get(language, {})))
                }
                - {()}
            )
            for language, phrases in phrases_by_language.items()
        }

    def found_in(self, text: str, languages: Iterable[str]) -> bool:
        """Whether the text holds a danger phrase of any of these languages."""
        return any(self._found(text, language) for language in dict.fromkeys(languages))

    def _found(self, text: str, language: str) -> bool:
        folded = fold(text, language)
        if language in WITHOUT_SPACES:
            compact = folded.replace(" ", "")
            return any("".join(p) in compact for p in self.phrases.get(language, ()))
        words = folded.split()
        for phrase in self.phrases.get(language, ()):
            for start in range(len(words) - len(phrase) + 1):
                if all(words[start + i].startswith(part) for i, part in enumerate(phrase)):
                    return True
        return False
