"""The command menus Telegram shows, per audience and per language (setMyCommands)."""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat
from aiogram.utils.i18n import I18n

from bot.i18n import N_
from bot.languages import SHIPPED_LANGUAGES
from storage.models import Person, Role

RETURNEE_COMMANDS = (
    ("menu", N_("Open the menu")),
    ("questions", N_("Questions about the programme")),
    ("receipt", N_("Send a receipt")),
    ("language", N_("Change the language")),
    ("privacy", N_("Who sees what I write")),
    ("help", N_("How Homeward works")),
)
COUNSELLOR_COMMANDS = (
    ("cases", N_("Show my cases")),
    ("questions", N_("Questions about the programme")),
    ("search", N_("Search the programme answers")),
    ("settings", N_("What I am told about my cases")),
    ("help", N_("How Homeward works")),
)
STAFF_COMMANDS = (("help", N_("How Homeward works")),)
MANAGER_COMMANDS = (
    ("stats", N_("The programme's statistics")),
    ("help", N_("How Homeward works")),
)

_BY_ROLE = {
    Role.COUNSELLOR: COUNSELLOR_COMMANDS,
    Role.STAFF: STAFF_COMMANDS,
    Role.ADMIN: MANAGER_COMMANDS,
}


def _translated(i18n: I18n, commands: tuple[tuple[str, str], ...], locale: str) -> list[BotCommand]:
    return [
        BotCommand(command=name, description=i18n.gettext(description, locale=locale))
        for name, description in commands
    ]


async def register_default_commands(bot: Bot, i18n: I18n) -> None:
    """Private chats see the returnee's commands, in each shipped language."""
    scope = BotCommandScopeAllPrivateChats()
    await bot.set_my_commands(
        _translated(i18n, RETURNEE_COMMANDS, i18n.default_locale), scope=scope
    )
    for language in SHIPPED_LANGUAGES:
        await bot.set_my_commands(
            _translated(i18n, RETURNEE_COMMANDS, language), scope=scope, language_code=language
        )


async def register_person_commands(bot: Bot, i18n: I18n, person: Person) -> None:
    """Counsellors and staff get their own commands in their private chat with the bot."""
    commands = _BY_ROLE.get(person.role)
    if commands is None:
        return
    locale = person.language or i18n.default_locale
    await bot.set_my_commands(
        _translated(i18n, commands, locale),
        scope=BotCommandScopeChat(chat_id=person.telegram_user_id),
    )
