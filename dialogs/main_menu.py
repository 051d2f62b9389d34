"""The returnee's main menu: the way into everything Homeward does for them."""

from __future__ import annotations

from typing import Any

from aiogram.types import CallbackQuery
from aiogram.utils.i18n import I18n, gettext
from aiogram_dialog import Dialog, DialogManager, Window
from aiogram_dialog.widgets.kbd import Back, Button, Column, Select, Start, SwitchTo
from aiogram_dialog.widgets.text import Format
from sqlalchemy.ext.asyncio import AsyncSession

from bot.formatting import format_date
from bot.services import checkins, erasure, sharing
from bot.services import knowledge as knowledge_service
from bot.services.cases import case_of_returnee
from bot.services.clock import utcnow
from bot.services.consent import current_consent
from bot.services.unit_of_work import UnitOfWork
from dialogs.home import show_home
from dialogs.money import money_getter
from dialogs.onboarding import CONSENT_TEXT, consent_getter, language_getter, record_decision
from dialogs.states import ClearChat, Knowledge, MainMenu, Reallocation, Receipts
from dialogs.widgets import Tr, change_language, language_picker
from storage.models import Person

__all__ = ["main_menu_dialog"]


async def privacy_getter(dialog_manager: DialogManager, **kwargs: Any) -> dict[str, Any]:
    session: AsyncSession = dialog_manager.middleware_data["session"]
    i18n: I18n = dialog_manager.middleware_data["i18n"]
    case = await case_of_returnee(session, dialog_manager.middleware_data["person"])
    decision = current_consent(case) if case else None
    granted = bool(decision and decision.granted)
    shares = bool(case and granted and case.sharing == sharing.CHECKINS)
    return {
        **await consent_getter(dialog_manager),
        "consent_given": granted,
        "consent_missing": not granted,
        "shares_checkins": shares,
        "status_only": granted and not shares,
        "since": format_date(decision.at, i18n.current_locale) if decision else "",
        "can_erase": case is not None,
    }


async def budget_getter(dialog_manager: DialogManager, **kwargs: Any) -> dict[str, Any]:
    """What is left of the returnee's budget: the programme answer filled with their figures."""
    session: AsyncSession = dialog_manager.middleware_data["session"]
    i18n: I18n = dialog_manager.middleware_data["i18n"]
    case = await case_of_returnee(session, dialog_manager.middleware_data["person"])
    answer = await knowledge_service.answer_text(
        session,
        dialog_manager.middleware_data["knowledge"],
        "my-remaining",
        case=case,
        office=case.office if case else None,
        locale=i18n.current_locale,
        gettext=gettext,
        for_returnee=True,
    )
    return {"answer": answer}


async def on_language(
    callback: CallbackQuery, _: Select[str], manager: DialogManager, code: str
) -> None:
    if not await change_language(manager, code):
        return
    await show_home(manager, manager.middleware_data["person"], manager.middleware_data["session"])


async def on_withdraw(callback: CallbackQuery, _: Button, manager: DialogManager) -> None:
    await record_decision(manager, granted=False)
    await manager.switch_to(MainMenu.privacy)


async def on_agree(callback: CallbackQuery, _: Button, manager: DialogManager) -> None:
    # The consent text is already on screen here, so agreeing takes effect at once.
    await record_decision(manager, granted=True)
    await manager.switch_to(MainMenu.privacy)


async def _share(manager: DialogManager, level: str) -> None:
    session: AsyncSession = manager.middleware_data["session"]
    work: UnitOfWork = manager.middleware_data["work"]
    person: Person = manager.middleware_data["person"]
    case = await case_of_returnee(session, person)
    if case is not None:
        sharing.set_level(session, case, person, level)
        await work.commit()


async def on_share_checkins(callback: CallbackQuery, _: Button, manager: DialogManager) -> None:
    await _share(manager, sharing.CHECKINS)


async def on_share_status(callback: CallbackQuery, _: Button, manager: DialogManager) -> None:
    await _share(manager, sharing.STATUS)


async def checkins_getter(dialog_manager: DialogManager, **kwargs: Any) -> dict[str, Any]:
    session: AsyncSession = dialog_manager.middleware_data["session"]
    case = await case_of_returnee(session, dialog_manager.middleware_data["person"])
    on = case is not None and case.checkins == checkins.ON
    return {"checkins_on": on, "checkins_off": not on}


async def _pause(manager: DialogManager, *, stop: bool) -> None:
    session: AsyncSession = manager.middleware_data["session"]
    work: UnitOfWork = manager.middleware_data["work"]
    person: Person = manager.middleware_data["person"]
    case = await case_of_returnee(session, person)
    if case is not None and case.checkins == checkins.ON:
        await checkins.pause(session, case, person, stop=stop)
        await work.commit()


async def on_pause(callback: CallbackQuery, _: Button, manager: DialogManager) -> None:
    await _pause(manager, stop=False)


async def on_stop(callback: CallbackQuery, _: Button, manager: DialogManager) -> None:
    await _pause(manager, stop=True)


async def on_erase(callback: CallbackQuery, _: Button, manager: DialogManager) -> None:
    """The returnee asks to have their data erased: the office decides in the case's topic,
    and the returnee is told here either way (bot/services/erasure.py)."""
    session: AsyncSession = manager.middleware_data["session"]
    work: UnitOfWork = manager.middleware_data["work"]
    person: Person = manager.middleware_data["person"]
    case = await case_of_returnee(session, person)
    if case is not None:
        await erasure.request(session, case, person, utcnow())  # once while one waits
        await work.commit()
    await manager.switch_to(MainMenu.erase_sent)


def main_menu_dialog() -> Dialog:
    return Dialog(
        Window(
            Tr("Main menu. What would you like to do?"),
            Column(
                SwitchTo(Tr("Write to the office"), id="write", state=MainMenu.write),
                Start(Tr("Questions"), id="questions", state=Knowledge.topics),
                SwitchTo(Tr("My money"), id="budget", state=MainMenu.budget),
                Start(Tr("Send a receipt"), id="receipt", state=Receipts.category),
                SwitchTo(Tr("Monthly check-ins"), id="checkins", state=MainMenu.checkins),
                SwitchTo(Tr("Language"), id="language", state=MainMenu.language),
                SwitchTo(Tr("Privacy"), id="privacy", state=MainMenu.privacy),
            ),
            state=MainMenu.main,
        ),
        Window(
            Tr("Please choose your language."),
            language_picker(on_language),
            SwitchTo(Tr("Back"), id="back", state=MainMenu.main),
            state=MainMenu.language,
            getter=language_getter,
        ),
        Window(
            Tr(CONSENT_TEXT),
            Tr("You agreed on {since}. Your messages are passed on.", when="consent_given"),
            Tr(
                "You have not agreed. Nothing you write here is passed on.",
                when="consent_missing",
            ),
            Tr(
                "Your contact person gets the short monthly status only.",
                when="status_only",
            ),
            Tr(
                "Your contact person also sees how you answer the monthly check-ins (how you "
                "feel, whether you feel safe).",
                when="shares_checkins",
            ),
            Button(
                Tr("Also share my check-in answers"),
                id="share_checkins",
                on_click=on_share_checkins,
                when="status_only",
            ),
            Button(
                Tr("Stop sharing my check-in answers"),
                id="share_status",
                on_click=on_share_status,
                when="shares_checkins",
            ),
            SwitchTo(
                Tr("Withdraw my consent"),
                id="withdraw",
                state=MainMenu.withdraw,
                when="consent_given",
            ),
            Button(Tr("I agree"), id="agree", on_click=on_agree, when="consent_missing"),
            Start(Tr("Clear this chat"), id="clear_chat", state=ClearChat.confirm),
            SwitchTo(Tr("Erase my data"), id="erase", state=MainMenu.erase, when="can_erase"),
            SwitchTo(Tr("Back"), id="back", state=MainMenu.main),
            state=MainMenu.privacy,
            getter=privacy_getter,
        ),
        Window(
            Tr(
                "You can ask your office to erase everything Homeward keeps about you and your "
                "case: your messages, receipts, payments, check-ins and budget records. The bot "
                "then deletes what it can in this chat (Telegram lets it delete only messages "
                "from the last two days). Afterwards "
                "your office and your contact person can no longer reach you through Homeward. "
                "Your office confirms the request first, and you are told here. Ask to erase "
                "your data?"
            ),
            Button(Tr("Yes, ask to erase my data"), id="confirm_erase", on_click=on_erase),
            SwitchTo(Tr("No, go back"), id="back", state=MainMenu.privacy),
            state=MainMenu.erase,
        ),
        Window(
            Tr(
                "Your request is with your office. You will get a message here when they have "
                "decided."
            ),
            SwitchTo(Tr("Back"), id="back", state=MainMenu.main),
            state=MainMenu.erase_sent,
        ),
        Window(
            Tr(
                "If you withdraw your consent, nothing you write here is passed on to your office "
                "or your contact person until you agree again. Withdraw?"
            ),
            Button(Tr("Yes, withdraw"), id="confirm_withdraw", on_click=on_withdraw),
            Back(Tr("No, go back")),
            state=MainMenu.withdraw,
        ),
        Window(
            Tr(
                "Just write here in this chat: your message goes to {office}. You can send text, "
                "photos, voice messages and documents. The office answers here too."
            ),
            SwitchTo(Tr("Back"), id="back", state=MainMenu.main),
            state=MainMenu.write,
            getter=consent_getter,
        ),
        Window(
            Format("{statement}"),
            Start(
                Tr("Move money between categories"),
                id="move",
                state=Reallocation.source,
                when="can_move",
            ),
            SwitchTo(Tr("How the money works"), id="how", state=MainMenu.money_rules),
            SwitchTo(Tr("Back"), id="back", state=MainMenu.main),
            state=MainMenu.budget,
            getter=money_getter,
        ),
        Window(
            Tr(
                "Your office asks how you are once a month for the first three months after "
                "your return, then at six and nine months. You can pause or stop this.",
                when="checkins_on",
            ),
            Tr(
                "Monthly check-ins are paused. Your office will talk to you before they start "
                "again.",
                when="checkins_off",
            ),
            Button(Tr("Pause check-ins"), id="pause", on_click=on_pause, when="checkins_on"),
            Button(Tr("Stop check-ins"), id="stop", on_click=on_stop, when="checkins_on"),
            SwitchTo(Tr("Back"), id="back", state=MainMenu.main),
            state=MainMenu.checkins,
            getter=checkins_getter,
        ),
        Window(
            Format("{answer}"),
            SwitchTo(Tr("Back"), id="back", state=MainMenu.budget),
            state=MainMenu.money_rules,
            getter=budget_getter,
        ),
        Window(
            Tr(
                "This part of Homeward is not open yet. Your office will tell you when it is. "
                "Until then, write your question here in the chat."
            ),
            SwitchTo(Tr("Back"), id="back", state=MainMenu.main),
            state=MainMenu.not_ready,
        ),
    )
