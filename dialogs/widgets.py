"""Widgets shared by the dialogs: translated text and the language picker."""

from __future__ import annotations

import operator
from typing import Any

from aiogram.utils.i18n import I18n, gettext
from aiogram_dialog import DialogManager
from aiogram_dialog.widgets.kbd import Group, Select
from aiogram_dialog.widgets.kbd.select import OnItemClick
from aiogram_dialog.widgets.text import Format, Text
from aiogram_dialog.widgets.widget_event import WidgetEventProcessor
from sqlalchemy.ext.asyncio import AsyncSession

from bot.languages import SHIPPED_LANGUAGES, native_name, normalise
from bot.services.people import set_language
from storage.models import Person


class Tr(Text):
    """A gettext message id, translated into the reader's language and filled from window data."""

    def __init__(self, msgid: str, when: Any = None) -> None:
        super().__init__(when=when)
        self.msgid = msgid

    async def _render_text(self, data: dict[str, Any], manager: DialogManager) -> str:
        return gettext(self.msgid).format_map(data)


def language_items(codes: list[str]) -> list[tuple[str, str]]:
    return [(code, native_name(code)) for code in codes]


async def change_language(manager: DialogManager, code: str) -> bool:
    """Store the chosen language and render the rest of this update in it. False for a code
    the picker never shows (a forged button): nothing changes."""
    if normalise(code) not in SHIPPED_LANGUAGES:
        return False
    session: AsyncSession = manager.middleware_data["session"]
    person: Person = manager.middleware_data["person"]
    await set_language(session, person, code)
    await session.commit()
    i18n: I18n = manager.middleware_data["i18n"]
    i18n.current_locale = code
    return True


def language_picker(
    on_click: OnItemClick[Select[str], str] | WidgetEventProcessor,
) -> Group:
    # Two to a row: with seventeen languages a single column would fill the screen.
    return Group(
        Select(
            Format("{item[1]}"),
            id="language",
            item_id_getter=operator.itemgetter(0),
            items="languages",
            on_click=on_click,
        ),
        width=2,
    )
