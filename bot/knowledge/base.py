"""The knowledge base as the bot uses it: content, one search index per language, danger phrases."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bot.knowledge.content import Content, Entry, EntryText, load
from bot.knowledge.danger import DangerPhrases
from bot.knowledge.search import Document, LanguageIndex, Match
from bot.knowledge.sheets import CountrySheet, load_sheets

SOURCE_LANGUAGE = "en"
DANGER_ENTRY = "danger-now"


class KnowledgeBase:
    def __init__(self, content: Content, sheets: dict[str, CountrySheet] | None = None) -> None:
        self.content = content
        self.sheets = sheets or {}
        self.indexes = {
            language: LanguageIndex(
                language,
                (
                    Document(entry_id, " \n".join((text.question, *text.phrasings)), text.answer)
                    for entry_id, text in texts.entries.items()
                ),
            )
            for language, texts in content.languages.items()
        }
        self.danger = DangerPhrases(
            {language: texts.danger_phrases for language, texts in content.languages.items()}
        )
        self._by_id = {entry.id: entry for entry in content.entries}

    @classmethod
    def from_directory(
        cls, directory: Path, languages: Iterable[str], sheets: Path | None = None
    ) -> KnowledgeBase:
        return cls(
            load(directory, languages, source=SOURCE_LANGUAGE),
            load_sheets(sheets) if sheets else None,
        )

    def sheet_of(self, office_code: str | None) -> CountrySheet | None:
        """The office's country sheet; the shipped example belongs to no office."""
        if office_code is None or office_code.upper() == "EXAMPLE":
            return None
        return self.sheets.get(office_code.upper())

    def language(self, code: str | None) -> str:
        return code if code in self.content.languages else SOURCE_LANGUAGE

    def topics(self, audience: str) -> list[str]:
        """The topics that hold at least one entry for this audience, in menu order."""
        return [t for t in self.content.topics if self.entries(t, audience)]

    def topic_title(self, language: str, topic: str) -> str:
        return self.content.languages[self.language(language)].topics[topic]

    def entries(self, topic: str, audience: str) -> list[Entry]:
        return [
            e
            for e in self.content.entries
            if e.topic == topic and e.audience in ("everyone", audience)
        ]

    def has(self, entry_id: str) -> bool:
        return entry_id in self._by_id

    def entry(self, entry_id: str) -> Entry:
        return self._by_id[entry_id]

    def text(self, language: str, entry_id: str) -> EntryText:
        return self.content.languages[self.language(language)].entries[entry_id]

    def for_audience(self, entry_id: str, audience: str) -> bool:
        entry = self._by_id.get(entry_id)
        return entry is not None and entry.audience in ("everyone", audience)

    def search(
        self, language: str, text: str, limit: int = 3, audience: str | None = None
    ) -> list[Match]:
        """Best entries first; with an audience, only entries meant for it."""
        allowed = (
            {e.id for e in self.content.entries if e.audience in ("everyone", audience)}
            if audience
            else None
        )
        return self.indexes[self.language(language)].search(text, limit, allowed)

    def confident_match(self, language: str, text: str, audience: str) -> Match | None:
        """The one entry that answers this message, if the search is sure of it."""
        matches = self.search(language, text, limit=2, audience=audience)
        return matches[0] if matches and matches[0].confident else None

    def signals_danger(self, languages: Iterable[str | None], text: str) -> bool:
        # English too: words like "police" are often typed in English whatever the language.
        wanted = [self.language(code) for code in languages if code]
        return self.danger.found_in(text, (*wanted, SOURCE_LANGUAGE))
