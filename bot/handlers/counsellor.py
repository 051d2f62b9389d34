"""Counsellors (contact persons in the sending country) write to the office about their cases."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram_dialog import DialogManager, StartMode
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.texts import copyable, office_locale
from bot.filters import HasRole
from bot.i18n import N_
from bot.knowledge.base import KnowledgeBase
from bot.services import counsellor_news, relay
from bot.services import knowledge as knowledge_service
from bot.services.cases import cases_of_counsellor
from bot.services.unit_of_work import UnitOfWork
from bot.telegram.callbacks import EventsPress, RowId
from bot.telegram.incoming import (
    cannot_pass_on,
    describe,
    is_relayable,
    not_passed_on_text,
    revision,
)
from bot.telegram.refusals import refuse_press
from dialogs.states import Knowledge
from dialogs.welcome import counsellor_cases_text
from storage.models import Case, Person, Role

HEADER = N_("✉️ From the counsellor {name} ({organisation}):")


class CaseChoice(CallbackData, prefix="about"):
    case_id: RowId


async def list_cases(message: Message, session: AsyncSession, person: Person) -> None:
    await message.answer(await counsellor_cases_text(session, person))


async def counsellor_help(message: Message) -> None:
    await message.answer(
        _(
            "Homeward lets you reach the country office of your returnees directly.\n"
            "/cases shows your cases.\n"
            "/search and a few words finds answers about the programme, for example "
            "/search receipt. /questions lists them by topic."
        )
    )


async def search_knowledge(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    person: Person,
    i18n: I18n,
    knowledge: KnowledgeBase,
) -> None:
    """/search <words>: the programme answer that fits best, and other questions close to it."""
    wanted = (command.args or "").strip()
    locale = i18n.current_locale
    if knowledge.for_audience(wanted.lower(), "counsellor"):
        found = [wanted.lower()]
    elif wanted:
        found = [m.entry_id for m in knowledge.search(locale, wanted, 4, audience="counsellor")]
    else:
        found = []
    if not found:
        await message.answer(
            _("Nothing in the programme answers matches. Try other words, or ask the office.")
            if wanted
            else _("Write /search and a few words, for example /search receipt.")
        )
        return
    cases = await cases_of_counsellor(session, person)
    # With one case its office and budget fill the answer; with several, general words do.
    case = cases[0] if len(cases) == 1 else None
    text = await knowledge_service.answer_text(
        session,
        knowledge,
        found[0],
        case=case,
        office=case.office if case else None,
        locale=locale,
        gettext=_,
        for_returnee=False,
    )
    commands = [f"/search {entry_id}" for entry_id in found[1:]]
    others = [
        f"• {knowledge.text(locale, entry_id).question} — {command}"
        for entry_id, command in zip(found[1:], commands, strict=True)
    ]
    if others:
        text += "\n\n" + "\n".join([_("Other questions:"), *others])
    entities = [MessageEntity(**e) for e in copyable(text, commands)]
    await message.answer(text, entities=entities or None)


def _settings_view(person: Person) -> tuple[str, InlineKeyboardMarkup]:
    text = "\n\n".join(
        [
            _(
                "Each month you get a short status of each of your active cases: check-ins, "
                "payouts, contact with the office, changes in the plan. The office also sends "
                "you status updates and the plan when they change."
            ),
            _(
                "Events as they happen (arrival, first contact, payouts, a difficulty, two "
                "missed check-ins, case closed): on."
            )
            if person.events
            else _(
                "Events as they happen (arrival, first contact, payouts, a difficulty, two "
                "missed check-ins, case closed): off."
            ),
        ]
    )
    label = _("Turn events off") if person.events else _("Turn events on")
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=label, callback_data=EventsPress(on=not person.events).pack()
                )
            ]
        ]
    )
    return text, keyboard


async def settings(message: Message, person: Person) -> None:
    """/settings: what the counsellor is told, and the switch for events."""
    text, keyboard = _settings_view(person)
    await message.answer(text, reply_markup=keyboard)


async def events_switched(
    callback: CallbackQuery, callback_data: EventsPress, work: UnitOfWork, person: Person
) -> None:
    counsellor_news.set_events(person, callback_data.on)
    await work.commit()
    await callback.answer()
    if isinstance(callback.message, Message):
        text, keyboard = _settings_view(person)
        await callback.message.edit_text(text, reply_markup=keyboard)


async def open_questions(message: Message, dialog_manager: DialogManager) -> None:
    await dialog_manager.start(Knowledge.topics, mode=StartMode.RESET_STACK)


def _header(case: Case, person: Person, i18n: I18n) -> str:
    return i18n.gettext(HEADER, locale=office_locale(case.office, i18n)).format(
        name=person.display_name or "", organisation=person.organisation or ""
    )


async def counsellor_edited(
    message: Message,
    event_update: Update,
    session: AsyncSession,
    work: UnitOfWork,
    person: Person,
    i18n: I18n,
) -> None:
    if not is_relayable(message):
        return
    for case in await cases_of_counsellor(session, person):
        await relay.edited(
            session,
            case,
            person,
            describe(message, keep_text=True),
            revision=revision(message, event_update),
            header=_header(case, person, i18n),
        )
    await work.commit()


async def _relay(
    message: Message,
    case: Case,
    person: Person,
    session: AsyncSession,
    work: UnitOfWork,
    i18n: I18n,
) -> None:
    await relay.from_counsellor(
        session,
        case,
        person,
        describe(message, keep_text=True),
        header=_header(case, person, i18n),
    )
    await work.commit()


async def _not_passed_on(
    message: Message, session: AsyncSession, work: UnitOfWork, person: Person
) -> None:
    """Told, and noted in the case's topic; with several cases it concerns none of them."""
    cases = await cases_of_counsellor(session, person)
    if len(cases) == 1:
        noted = await relay.not_passed_on(
            session,
            cases[0],
            person,
            describe(message, keep_text=False),
            name=person.display_name or "",
            organisation=person.organisation or "",
        )
        await work.commit()
        if noted.again:
            return
    await message.answer(not_passed_on_text(message))


async def counsellor_wrote(
    message: Message, session: AsyncSession, work: UnitOfWork, person: Person, i18n: I18n
) -> None:
    if cannot_pass_on(message):
        await _not_passed_on(message, session, work, person)
        return
    if not is_relayable(message):
        return
    cases = await cases_of_counsellor(session, person)
    if not cases:
        await message.answer(_("You have no cases yet, so this was not passed on."))
        return
    if len(cases) == 1:
        await _relay(message, cases[0], person, session, work, i18n)
        return
    # Several cases: ask which one, as a reply to the message, so the answer finds it again.
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=case.code, callback_data=CaseChoice(case_id=case.id).pack())]
            for case in cases
        ]
    )
    await message.answer(
        _("Which case is this message about?"),
        reply_markup=keyboard,
        reply_parameters=ReplyParameters(message_id=message.message_id),
    )


async def case_chosen(
    callback: CallbackQuery,
    callback_data: CaseChoice,
    session: AsyncSession,
    work: UnitOfWork,
    person: Person,
    i18n: I18n,
) -> None:
    cases = {case.id: case for case in await cases_of_counsellor(session, person)}
    case = cases.get(callback_data.case_id)
    question = callback.message if isinstance(callback.message, Message) else None
    original = question.reply_to_message if question else None
    if case is None or original is None or question is None:
        target = await session.get(Case, callback_data.case_id)
        await refuse_press(
            callback,
            work,
            "case_choice",
            person,
            case_id=target.id if target is not None else None,
            text=_("Please send the message again."),
        )
        return
    await _relay(original, case, person, session, work, i18n)
    await callback.answer()
    await question.edit_text(_("Passed on to the office for case {code}.").format(code=case.code))


def build_router() -> Router:
    router = Router(name="counsellor")
    router.message.filter(HasRole(Role.COUNSELLOR))
    # A counsellor's buttons are in their private chat; pressed anywhere else they are refused.
    router.callback_query.filter(F.message.chat.type == "private", HasRole(Role.COUNSELLOR))
    router.message.register(list_cases, Command("cases"))
    router.message.register(search_knowledge, Command("search"))
    router.message.register(open_questions, Command("questions"))
    router.message.register(settings, Command("settings"))
    router.message.register(counsellor_help, Command("help", "start"))
    router.message.register(counsellor_wrote, ~F.text.startswith("/"))
    router.callback_query.register(case_chosen, CaseChoice.filter())
    router.callback_query.register(events_switched, EventsPress.filter())
    router.edited_message.filter(F.chat.type == "private", HasRole(Role.COUNSELLOR))
    router.edited_message.register(counsellor_edited)
    return router
