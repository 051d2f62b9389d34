"""Every shipped catalog is complete, current with the code, and keeps the source's placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.languages import SHIPPED_LANGUAGES
from bot.paths import LOCALES_DIR, PROJECT_ROOT

KEYWORDS = {"_": None, "gettext": None, "N_": None, "Tr": None, "__": None}
PLACEHOLDER = re.compile(r"\{\w*\}")
COMMAND = re.compile(r"(?<!\w)/[a-z]+")


def template_ids() -> set[str]:
    with (LOCALES_DIR / "messages.pot").open("rb") as pot:
        return {m.id for m in read_po(pot) if m.id}


def code_ids() -> set[str]:
    found = set()
    for folder in ("bot", "dialogs"):
        for _, _, message, _, _ in extract_from_dir(
            PROJECT_ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_template_matches_the_code():
    in_code, in_template = code_ids(), template_ids()
    assert in_code - in_template == set(), "run `make catalogs`: strings missing from the template"
    assert in_template - in_code == set(), (
        "run `make catalogs`: template has strings no longer used"
    )


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_catalog_is_complete_and_keeps_placeholders(language: str, tmp_path: Path):
    path = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=language)
    translated = {m.id: m for m in catalog if m.id}
    problems = []
    for msgid in sorted(template_ids()):
        message = translated.get(msgid)
        if message is None or not message.string:
            problems.append(f"missing: {msgid[:50]!r}")
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {msgid[:50]!r}")
        if sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(message.string)):
            problems.append(f"placeholders differ: {msgid[:50]!r}")
        if sorted(COMMAND.findall(msgid)) != sorted(COMMAND.findall(message.string)):
            problems.append(f"commands differ: {msgid[:50]!r}")
    assert not problems, f"{language}:\n" + "\n".join(problems)
    with (tmp_path / "messages.mo").open("wb") as mo:
        write_mo(mo, catalog)


def test_no_catalog_ships_without_being_listed():
    on_disk = {p.parent.parent.name for p in LOCALES_DIR.glob("*/LC_MESSAGES/messages.po")}
    assert on_disk == set(SHIPPED_LANGUAGES)
