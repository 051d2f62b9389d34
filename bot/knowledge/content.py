"""The knowledge content under locales/knowledge: loaded once, checked completely.

The format is described in locales/knowledge/README.md. Loading fails with every problem listed
at once, so a translator fixes a file in one pass.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# What an answer may draw from data; the README explains each.
PLACEHOLDERS = frozenset(
    {"office_name", "office_hours", "emergency_contact", "budget", "allowance", "remaining"}
)
# Entries the code looks up by id, and the placeholders each must use.
SPECIAL_ENTRIES = {
    "danger-now": {"emergency_contact"},
    "my-remaining": {"remaining"},
    "office-contact": {"office_name", "office_hours"},
}
AUDIENCES = frozenset({"everyone", "returnee", "counsellor"})
# Telegram holds 4,096 characters a message; the filled-in budget and hours need room too. A
# question is also a button label.
MAX_ANSWER = 2500
MAX_QUESTION = 200
# Ids travel in button data, which Telegram caps at 64 bytes.
MAX_ID = 40
_PLACEHOLDER = re.compile(r"\{(\w*)\}")
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class ContentError(Exception):
    """The knowledge content is incomplete or malformed; the message lists every problem."""


@dataclass(frozen=True)
class Entry:
    id: str
    topic: str
    audience: str


@dataclass(frozen=True)
class EntryText:
    question: str
    phrasings: tuple[str, ...]
    answer: str


@dataclass(frozen=True)
class LanguageContent:
    topics: dict[str, str]
    danger_phrases: tuple[str, ...]
    entries: dict[str, EntryText]


@dataclass(frozen=True)
class Content:
    topics: tuple[str, ...]
    entries: tuple[Entry, ...]  # in menu order
    languages: dict[str, LanguageContent]


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def _read(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        problems.append(f"{path.name}: missing")
    except tomllib.TOMLDecodeError as error:
        problems.append(f"{path.name}: {error}")
    return {}


def _index(raw: dict[str, Any], problems: list[str]) -> tuple[tuple[str, ...], tuple[Entry, ...]]:
    topics = tuple(raw.get("topics", ()))
    entries, seen = [], set()
    for number, item in enumerate(raw.get("entries", []), start=1):
        entry = Entry(str(item.get("id", "")), str(item.get("topic", "")), item.get("audience", ""))
        where = f"index.toml entry {number} ({entry.id or 'no id'})"
        if not _ID.match(entry.id) or len(entry.id) > MAX_ID:
            problems.append(
                f"{where}: id must be up to {MAX_ID} lower case letters, digits and hyphens"
            )
        if entry.id in seen:
            problems.append(f"{where}: id used twice")
        if entry.topic not in topics:
            problems.append(f"{where}: topic {entry.topic!r} is not in topics")
        if entry.audience not in AUDIENCES:
            problems.append(f"{where}: audience must be one of {sorted(AUDIENCES)}")
        seen.add(entry.id)
        entries.append(entry)
    for entry_id in SPECIAL_ENTRIES.keys() - seen:
        problems.append(f"index.toml: the entry {entry_id!r} is required")
    return topics, tuple(entries)


def _language(
    code: str,
    raw: dict[str, Any],
    topics: tuple[str, ...],
    entries: tuple[Entry, ...],
    problems: list[str],
) -> LanguageContent:
    name = f"{code}.toml"
    topic_titles = {key: str(value) for key, value in raw.get("topics", {}).items()}
    for missing in set(topics) - topic_titles.keys():
        problems.append(f"{name}: topic {missing!r} has no title")
    for extra in topic_titles.keys() - set(topics):
        problems.append(f"{name}: topic {extra!r} is not in index.toml")
    phrases = tuple(str(p) for p in raw.get("danger", {}).get("phrases", []) if str(p).strip())
    if not phrases:
        problems.append(f"{name}: [danger] phrases are missing")
    texts: dict[str, EntryText] = {}
    raw_entries = raw.get("entries", {})
    for extra in raw_entries.keys() - {e.id for e in entries}:
        problems.append(f"{name}: entry {extra!r} is not in index.toml")
    for entry in entries:
        item = raw_entries.get(entry.id)
        if item is None:
            problems.append(f"{name}: entry {entry.id!r} is missing")
            continue
        text = EntryText(
            question=str(item.get("question", "")).strip(),
            phrasings=tuple(str(p).strip() for p in item.get("phrasings", []) if str(p).strip()),
            answer=str(item.get("answer", "")).strip(),
        )
        if not text.question or not text.answer:
            problems.append(f"{name}: entry {entry.id!r} needs a question and an answer")
        for field_name, value in (
            ("question", text.question),
            *(("phrasing", p) for p in text.phrasings),
        ):
            if placeholders(value) or "{" in value or "}" in value:
                problems.append(f"{name}: entry {entry.id!r}: braces in a {field_name}")
        unknown = placeholders(text.answer) - PLACEHOLDERS
        if unknown:
            problems.append(f"{name}: entry {entry.id!r}: unknown placeholders {sorted(unknown)}")
        braces = text.answer.count("{") + text.answer.count("}")
        if braces != 2 * len(_PLACEHOLDER.findall(text.answer)):
            problems.append(f"{name}: entry {entry.id!r}: a brace that is not a placeholder")
        if len(text.answer) > MAX_ANSWER or len(text.question) > MAX_QUESTION:
            problems.append(
                f"{name}: entry {entry.id!r}: question over {MAX_QUESTION} or answer over "
                f"{MAX_ANSWER} characters"
            )
        required = SPECIAL_ENTRIES.get(entry.id, set()) - placeholders(text.answer)
        if required:
            problems.append(f"{name}: entry {entry.id!r} must use {sorted(required)}")
        texts[entry.id] = text
    return LanguageContent(topic_titles, phrases, texts)


def load(directory: Path, languages: Iterable[str], source: str = "en") -> Content:
    """Read index.toml and one file per language; raise ContentError listing every problem."""
    problems: list[str] = []
    topics, entries = _index(_read(directory / "index.toml", problems), problems)
    loaded = {
        code: _language(
            code, _read(directory / f"{code}.toml", problems), topics, entries, problems
        )
        for code in dict.fromkeys([source, *languages])
    }
    # A translation keeps exactly the placeholders of the source text.
    for code, content in loaded.items():
        for entry_id, text in content.entries.items():
            original = loaded[source].entries.get(entry_id)
            if original and placeholders(original.answer) != placeholders(text.answer):
                problems.append(
                    f"{code}.toml: entry {entry_id!r}: placeholders differ from {source}"
                )
    if problems:
        raise ContentError("knowledge content:\n" + "\n".join(problems))
    return Content(topics, entries, loaded)
