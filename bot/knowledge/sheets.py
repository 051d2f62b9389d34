"""Country sheets: an office's own words about contact, partner organisations and services.

The format is described in locales/offices/README.md.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.knowledge.content import ContentError
from bot.languages import is_known_language, laid_out_for

Texts = dict[str, str]  # language code -> text


@dataclass(frozen=True)
class Named:
    name: str
    about: Texts


@dataclass(frozen=True)
class CountrySheet:
    office_code: str
    example: bool
    contact: Texts
    partners: tuple[Named, ...]
    services: tuple[Named, ...]

    def render(self, language: str, gettext: Callable[[str], str]) -> str:
        _ = gettext
        parts = []
        if self.example:
            parts.append(_("⚠️ Example only: this sheet is not real information."))
        contact = _pick(self.contact, language)
        if contact:
            parts.append(contact)
        for title, items in ((_("Partners"), self.partners), (_("Services"), self.services)):
            if items:
                lines = [f"• {item.name}: {_pick(item.about, language)}" for item in items]
                parts.append("\n".join([title, *lines]))
        return laid_out_for("\n\n".join(parts), language)


def _pick(texts: Texts, language: str) -> str:
    return texts.get(language) or texts.get("en") or next(iter(texts.values()), "")


def _texts(raw: object, where: str, problems: list[str]) -> Texts:
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected language = text lines")
        return {}
    texts = {str(k): str(v).strip() for k, v in raw.items() if k != "name"}
    for code in texts:
        if not is_known_language(code):
            problems.append(f"{where}: {code!r} is not a language code")
    return texts


def _named(raw: object, where: str, problems: list[str]) -> tuple[Named, ...]:
    if not isinstance(raw, list):
        problems.append(f"{where}: expected [[{where.split()[-1]}]] sections")
        return ()
    found = []
    for number, item in enumerate(raw, start=1):
        name = str(item.get("name", "")).strip() if isinstance(item, dict) else ""
        if not name:
            problems.append(f"{where} {number}: needs a name")
            continue
        found.append(Named(name, _texts(item, f"{where} {number}", problems)))
    return tuple(found)


def load_sheets(directory: Path) -> dict[str, CountrySheet]:
    """Every sheet in the folder, by office code; the example is checked but belongs to nobody."""
    problems: list[str] = []
    sheets = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            with path.open("rb") as file:
                raw = tomllib.load(file)
        except tomllib.TOMLDecodeError as error:
            problems.append(f"{path.name}: {error}")
            continue
        sheet = CountrySheet(
            office_code=path.stem.upper(),
            example=bool(raw.get("example", False)),
            contact=_texts(raw.get("contact", {}), f"{path.name} contact", problems),
            partners=_named(raw.get("partners", []), f"{path.name} partners", problems),
            services=_named(raw.get("services", []), f"{path.name} services", problems),
        )
        sheets[sheet.office_code] = sheet
    if problems:
        raise ContentError("country sheets:\n" + "\n".join(problems))
    return sheets
