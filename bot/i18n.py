"""Translations: compiling catalogs on start, and choosing each user's language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from sqlalchemy import inspect

from bot.languages import SHIPPED_LANGUAGES, normalise, pick_shipped
from bot.marks import N_ as N_
from bot.paths import LOCALES_DIR
from storage.models import Person

DOMAIN = "messages"


def compile_catalogs(locales_dir: Path = LOCALES_DIR) -> list[Path]:
    """Compile each .po whose .mo is missing or older, so nobody has to run a manual step."""
    compiled = []
    for po_path in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        temporary = mo_path.with_suffix(".mo.tmp")
        with temporary.open("wb") as mo_file:
            write_mo(mo_file, catalog)
        temporary.replace(mo_path)  # atomic, so two processes starting at once never read half
        compiled.append(mo_path)
    return compiled


def create_i18n(default_locale: str, locales_dir: Path = LOCALES_DIR) -> I18n:
    compile_catalogs(locales_dir)
    return I18n(path=locales_dir, default_locale=pick_shipped(default_locale, "en"), domain=DOMAIN)


class PersonLocaleMiddleware(I18nMiddleware):
    """The language a person chose, else their Telegram language, else the configured default."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        person: Person | None = data.get("person")
        if person is not None:
            # Never a database read here: on the error path the update's session is gone, and
            # an expired person would be loaded again from a database that may be what failed.
            expired = "language" in inspect(person).unloaded
            language = data.get("person_language") if expired else person.language
            if language in SHIPPED_LANGUAGES:
                return str(language)
        user: User | None = data.get("event_from_user")
        language = normalise(user.language_code) if user else None
        return pick_shipped(language, self.i18n.default_locale)
