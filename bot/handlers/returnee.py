"""The returnee's private chat: menu, language, privacy and help."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.state import State
from aiogram.methods import SendMessage
from aiogram.types import Message, Update
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram_dialog import DialogManager, ShowMode, StartMode
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.sender import Sender
from bot.delivery.texts import office_locale
from bot.filters import HasRole
from bot.formatting import opening_hours_text
from bot.handlers.returnee_money import InWizardStep
from bot.knowledge.base import DANGER_ENTRY, KnowledgeBase
from bot.services import knowledge as knowledge_service
from bot.services import relay
from bot.services.cases import case_of_returnee
from bot.services.clock import utcnow
from bot.services.consent import has_consent
from bot.services.office_hours import closed_notice_due
from bot.services.unit_of_work import UnitOfWork
from bot.telegram.incoming import (
    cannot_pass_on,
    describe,
    is_relayable,
    not_passed_on_text,
    revision,
)
from dialogs.home import no_case_text, onboarded, show_home
from dialogs.states import Knowledge, MainMenu
from storage.models import Case, Office, Person, Role


async def _open(
    state: State, dialog_manager: DialogManager, person: Person, session: AsyncSession
) -> None:
    """Open a menu screen, unless language or consent still come first."""
    if onboarded(person, await case_of_returnee(session, person)):
        await dialog_manager.start(state, mode=StartMode.RESET_STACK)
    else:
        await show_home(dialog_manager, person, session)


async def open_menu(
    message: Message, dialog_manager: DialogManager, person: Person, session: AsyncSession
) -> None:
    await _open(MainMenu.main, dialog_manager, person, session)


async def open_questions(
    message: Message, dialog_manager: DialogManager, person: Person, session: AsyncSession
) -> None:
    # On top of the main menu, so that closing the questions leads back to it.
    await _open(MainMenu.main, dialog_manager, person, session)
    if onboarded(person, await case_of_returnee(session, person)):
        await dialog_manager.start(Knowledge.topics)


async def open_privacy(
    message: Message, dialog_manager: DialogManager, person: Person, session: AsyncSession
) -> None:
    # The privacy screen is where consent is given back, so it needs a case and a language only.
    case = await case_of_returnee(session, person)
    if case is None or person.language is None:
        await show_home(dialog_manager, person, session)
    else:
        await dialog_manager.start(MainMenu.privacy, mode=StartMode.RESET_STACK)


async def open_language(message: Message, dialog_manager: DialogManager) -> None:
    # Always allowed: choosing a language leads on to whatever is still missing.
    await dialog_manager.start(MainMenu.language, mode=StartMode.RESET_STACK)


async def returnee_help(message: Message) -> None:
    await message.answer(
        _(
            "Homeward connects you with your office in your home country.\n"
            "/menu opens the menu\n/questions answers questions about the programme\n"
            "/language changes the language\n/privacy shows who sees what you write"
        )
    )


async def returnee_wrote(
    message: Message,
    session: AsyncSession,
    work: UnitOfWork,
    person: Person,
    dialog_manager: DialogManager,
    sender: Sender,
    i18n: I18n,
    knowledge: KnowledgeBase,
) -> None:
    """Anything else the returnee writes goes to their office, once they have agreed."""
    case = await case_of_returnee(session, person)
    if case is None:
        await message.answer(no_case_text())
        return
    if not has_consent(case):
        await message.answer(
            _(
                "You have not agreed yet, so nothing you write here is passed on. "
                "Open /privacy to read what is shared and to agree."
            )
        )
        words = message.text or message.caption
        if words and knowledge.signals_danger((i18n.current_locale, case.language), words):
            # Nothing is passed on without consent, but the way to get help is never withheld.
            await message.answer(
                await knowledge_service.answer_text(
                    session,
                    knowledge,
                    DANGER_ENTRY,
                    case=case,
                    office=case.office,
                    locale=i18n.current_locale,
                    gettext=_,
                    for_returnee=True,
                )
            )
        # The next step right below the explanation, not on an older message up the chat.
        await show_home(dialog_manager, person, session, show_mode=ShowMode.SEND)
        return
    if cannot_pass_on(message):
        noted = await relay.not_passed_on(session, case, person, describe(message, keep_text=False))
        await work.commit()
        if not noted.again:
            text = not_passed_on_text(message)
            await sender.call(message.chat.id, SendMessage(chat_id=message.chat.id, text=text))
        return
    if not is_relayable(message):
        return
    # Text is kept only for short texts that may be combined while they wait (see relay).
    queued = await relay.from_returnee(session, case, person, describe(message, keep_text=True))
    if queued.again:
        return  # Telegram delivered this update before: everything below was done then
    words = message.text or message.caption
    reaction = (
        await knowledge_service.returnee_wrote(
            session, knowledge, case, words, staff_language=office_locale(case.office, i18n)
        )
        if words
        else knowledge_service.Reaction()
    )
    closed_note = (
        closed_office_text(case.office, i18n.current_locale)
        if closed_notice_due(case, utcnow())
        else None
    )
    await work.commit()
    if reaction.entry_id:
        await _automatic_answer(message, session, knowledge, case, reaction, sender, i18n)
    if closed_note:
        await sender.call(message.chat.id, SendMessage(chat_id=message.chat.id, text=closed_note))


async def _automatic_answer(
    message: Message,
    session: AsyncSession,
    knowledge: KnowledgeBase,
    case: Case,
    reaction: knowledge_service.Reaction,
    sender: Sender,
    i18n: I18n,
) -> None:
    assert reaction.entry_id is not None
    answer = await knowledge_service.answer_text(
        session,
        knowledge,
        reaction.entry_id,
        case=case,
        office=case.office,
        locale=i18n.current_locale,
        gettext=_,
        for_returnee=True,
    )
    if reaction.danger:
        header = _("Your message has reached {office}, and their staff have been alerted.")
    else:
        header = _(
            "🤖 Automatic answer. Your message has also reached {office}; they will add to "
            "this if needed."
        )
    text = f"{header.format(office=case.office.name)}\n\n{answer}"
    await sender.call(message.chat.id, SendMessage(chat_id=message.chat.id, text=text))


def closed_office_text(office: Office, locale: str) -> str:
    """When the office will answer, in the returnee's time."""
    return _(
        "Thank you, your message has reached {office}. The office is closed now and will "
        "answer when it opens.\nOpening hours:\n{hours}"
    ).format(office=office.name, hours=opening_hours_text(office, locale))


async def returnee_edited(
    message: Message,
    event_update: Update,
    session: AsyncSession,
    work: UnitOfWork,
    person: Person,
    sender: Sender,
    i18n: I18n,
    knowledge: KnowledgeBase,
) -> None:
    case = await case_of_returnee(session, person)
    if case is None or not has_consent(case) or not is_relayable(message):
        return
    incoming, version = describe(message, keep_text=True), revision(message, event_update)
    await relay.edited(session, case, person, incoming, revision=version)
    # A message changed to say the returnee is in danger is as urgent as a new one.
    words = message.text or message.caption
    reaction = (
        await knowledge_service.alert_danger(session, case, edit=incoming, revision=version)
        if words and knowledge.signals_danger((person.language, case.language), words)
        else None
    )
    await work.commit()
    if reaction is not None and reaction.entry_id:
        await _automatic_answer(message, session, knowledge, case, reaction, sender, i18n)


def build_router() -> Router:
    router = Router(name="returnee")
    router.message.filter(HasRole(Role.RETURNEE))
    router.message.register(open_menu, Command("menu"))
    router.message.register(open_language, Command("language"))
    router.message.register(open_questions, Command("questions"))
    router.message.register(open_privacy, Command("privacy"))
    router.message.register(returnee_help, Command("help"))
    # At a wizard step that reads the next message, the dialog takes it (dialogs/receipt.py).
    router.message.register(returnee_wrote, ~InWizardStep())
    router.edited_message.filter(F.chat.type == "private", HasRole(Role.RETURNEE))
    router.edited_message.register(returnee_edited)
    return router
