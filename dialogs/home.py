"""Where a returnee belongs: language first, then consent, then the main menu."""

from __future__ import annotations

from aiogram import Bot
from aiogram.fsm.state import State
from aiogram.utils.i18n import gettext as _
from aiogram_dialog import DialogManager, ShowMode, StartMode
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.cases import case_of_returnee
from bot.services.consent import has_consent
from dialogs.states import MainMenu, Onboarding
from storage.models import Case, Person


def no_case_text() -> str:
    return _(
        "This Telegram account is no longer linked to a case, for example because the case moved "
        "to a new phone. If you think this is a mistake, please contact your counsellor."
    )


def home_state(person: Person, case: Case) -> State:
    if person.language is None:
        return Onboarding.language
    if not has_consent(case):
        # Declined or withdrawn: the consent screen, which also offers another language.
        return Onboarding.consent
    return MainMenu.main


def onboarded(person: Person, case: Case | None) -> bool:
    return case is not None and home_state(person, case) is MainMenu.main


async def show_home(
    manager: DialogManager,
    person: Person,
    session: AsyncSession,
    show_mode: ShowMode | None = None,
) -> None:
    case = await case_of_returnee(session, person)
    if case is None:
        await manager.reset_stack()
        bot: Bot = manager.middleware_data["bot"]
        await bot.send_message(person.telegram_user_id, no_case_text())
        return
    await manager.start(home_state(person, case), mode=StartMode.RESET_STACK, show_mode=show_mode)
