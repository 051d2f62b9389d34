"""Translations: compiling catalogs on start, and the I18n they are read from. Each person's
language is chosen in bot/middlewares/locale.py."""

from __future__ import annotations

from pathlib import Path

from aiogram.utils.i18n import I18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.languages import pick_shipped
from bot.marks import N_ as N_
from bot.paths import LOCALES_DIR

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
