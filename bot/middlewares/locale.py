"""Each person's language: the one they chose, else their Telegram language, else the default."""

from __future__ import annotations

from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18nMiddleware
from sqlalchemy import inspect

from bot.languages import SHIPPED_LANGUAGES, normalise, pick_shipped
from storage.models import Person


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
