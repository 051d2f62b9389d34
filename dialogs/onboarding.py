"""A returnee's first steps after the invite: choose a language, then answer the consent."""

from __future__ import annotations

from typing import Any

from aiogram.types import CallbackQuery
from aiogram.utils.i18n import I18n
from aiogram_dialog import Dialog, DialogManager, StartMode, Window
from aiogram_dialog.widgets.kbd import Button, Row, Select, SwitchTo
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import N_
from bot.languages import choices_for
from bot.services import sharing
from bot.services.cases import case_of_returnee
from bot.services.consent import give_consent
from dialogs.home import show_home
from dialogs.states import MainMenu, Onboarding
from dialogs.widgets import Tr, change_language, language_items, language_picker
from storage.models import Person

CONSENT_TEXT = N_(
    "Before you write to your office, please read how Homeward handles your messages.\n\n"
    "• Everything you write here goes to the staff of {office}, your office in your home "
    "country. They read it and answer you here.\n"
    "• Your contact person in the country you came back from gets a very short status once a "
    "month: payments, meetings, changes in your plan, difficulties. They do not see your "
    "messages unless you allow it.\n"
    "• Homeward does not store your name. The office knows you by your case number {case_code}.\n"
    "• Nothing is passed on to anyone else.\n"
    "• You can change your mind at any time: open the menu, then Privacy.\n\n"
    "Do you agree that your messages are passed on in this way?"
)


async def language_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    session: AsyncSession = dialog_manager.middleware_data["session"]
    person: Person = dialog_manager.middleware_data["person"]
    case = await case_of_returnee(session, person)
    office_languages = case.office.languages if case else []
    return {"languages": language_items(choices_for(office_languages))}


async def consent_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    session: AsyncSession = dialog_manager.middleware_data["session"]
    case = await case_of_returnee(session, dialog_manager.middleware_data["person"])
    return {
        "office": case.office.name if case else "",
        "case_code": case.code if case else "",
    }


async def on_language(
    callback: CallbackQuery, _: Select[str], manager: DialogManager, code: str
) -> None:
    if await change_language(manager, code):
        await manager.switch_to(Onboarding.consent)


async def record_decision(manager: DialogManager, *, granted: bool) -> bool:
    """Store the returnee's consent decision, in the language the text was shown in.

    False if the account has no case any more; the returnee is then told so.
    """
    session: AsyncSession = manager.middleware_data["session"]
    person: Person = manager.middleware_data["person"]
    case = await case_of_returnee(session, person)
    if case is None:
        await show_home(manager, person, session)
        return False
    i18n: I18n = manager.middleware_data["i18n"]
    if granted:
        give_consent(session, case, person, language=i18n.current_locale)
    else:
        await sharing.withdraw(session, case, person, language=i18n.current_locale)
    await session.commit()
    return True


async def on_agree(callback: CallbackQuery, _: Button, manager: DialogManager) -> None:
    if await record_decision(manager, granted=True):
        await manager.start(MainMenu.main, mode=StartMode.RESET_STACK)


async def on_decline(callback: CallbackQuery, _: Button, manager: DialogManager) -> None:
    if await record_decision(manager, granted=False):
        await manager.switch_to(Onboarding.declined)


def onboarding_dialog() -> Dialog:
    return Dialog(
        Window(
            Tr("Please choose your language."),
            language_picker(on_language),
            state=Onboarding.language,
            getter=language_getter,
        ),
        Window(
            Tr(CONSENT_TEXT),
            Row(
                Button(Tr("I agree"), id="agree", on_click=on_agree),
                Button(Tr("I do not agree"), id="decline", on_click=on_decline),
            ),
            SwitchTo(Tr("Change language"), id="to_language", state=Onboarding.language),
            state=Onboarding.consent,
            getter=consent_getter,
        ),
        Window(
            Tr(
                "You did not agree, so nothing you write here is passed on to anyone. "
                "You can read the text again and agree at any time."
            ),
            SwitchTo(Tr("Read again"), id="read_again", state=Onboarding.consent),
            state=Onboarding.declined,
        ),
    )
