"""The monthly check-in: six questions with buttons, each skippable, then anything else in the
returnee's words. Each answer is kept as it is given (bot/services/checkins.py); one that says
the returnee is not safe brings the safety answer with the office's emergency contact at once."""

from __future__ import annotations

import operator
from typing import Any

from aiogram.enums import ContentType
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n, gettext
from aiogram_dialog import Dialog, DialogManager, ShowMode, Window
from aiogram_dialog.widgets.input import MessageInput
from aiogram_dialog.widgets.kbd import Button, Cancel, Column, Select
from aiogram_dialog.widgets.text import Format
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.texts.checkins import ANSWER_LABELS, QUESTION_TEXTS
from bot.knowledge.base import DANGER_ENTRY, KnowledgeBase
from bot.services import checkins
from bot.services import knowledge as knowledge_service
from bot.services.cases import case_of_returnee
from bot.services.clock import utcnow
from bot.services.unit_of_work import UnitOfWork
from dialogs.states import CheckIns
from dialogs.widgets import Tr
from storage.models import Person

__all__ = ["checkin_dialog"]

STEPS: list[tuple[str, State]] = [
    ("feeling", CheckIns.feeling),
    ("safe", CheckIns.safe),
    ("housing", CheckIns.housing),
    ("activity", CheckIns.activity),
    ("money", CheckIns.money),
    ("contact", CheckIns.contact),
]


def _check_in(manager: DialogManager) -> int:
    start: dict[str, Any] = manager.start_data or {}  # type: ignore[assignment]
    return int(start["check_in"])


async def _next(manager: DialogManager, question: str) -> None:
    names = [name for name, _ in STEPS]
    position = names.index(question) + 1
    await manager.switch_to(STEPS[position][1] if position < len(STEPS) else CheckIns.note)


def _question_getter(question: str) -> Any:
    async def getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
        return {
            "question": gettext(QUESTION_TEXTS[question]),
            "answers": [
                (value, gettext(ANSWER_LABELS[f"{question}.{value}"]))
                for value in checkins.QUESTIONS[question]
            ],
        }

    return getter


def _on_answer(question: str) -> Any:
    async def on_answer(
        callback: CallbackQuery, _: Select[str], manager: DialogManager, value: str
    ) -> None:
        session: AsyncSession = manager.middleware_data["session"]
        work: UnitOfWork = manager.middleware_data["work"]
        person: Person = manager.middleware_data["person"]
        try:
            answered = await checkins.answer(session, _check_in(manager), person, question, value)
        except ValueError:
            await session.rollback()
            await manager.switch_to(CheckIns.closed)
            return
        await work.commit()
        if answered.safety and isinstance(callback.message, Message):
            await callback.message.answer(await _safety_answer(manager, person))
            manager.show_mode = ShowMode.SEND  # the next question below the safety answer
        await _next(manager, question)

    return on_answer


async def _safety_answer(manager: DialogManager, person: Person) -> str:
    session: AsyncSession = manager.middleware_data["session"]
    knowledge: KnowledgeBase = manager.middleware_data["knowledge"]
    i18n: I18n = manager.middleware_data["i18n"]
    case = await case_of_returnee(session, person)
    return await knowledge_service.answer_text(
        session,
        knowledge,
        DANGER_ENTRY,
        case=case,
        office=case.office if case else None,
        locale=i18n.current_locale,
        gettext=gettext,
        for_returnee=True,
    )


def _on_skip(question: str) -> Any:
    async def on_skip(callback: CallbackQuery, _: Button, manager: DialogManager) -> None:
        await _next(manager, question)

    return on_skip


async def _finish(manager: DialogManager, note: str | None) -> None:
    session: AsyncSession = manager.middleware_data["session"]
    work: UnitOfWork = manager.middleware_data["work"]
    person: Person = manager.middleware_data["person"]
    try:
        await checkins.finish(session, _check_in(manager), person, note, utcnow())
    except ValueError:
        await session.rollback()
        await manager.switch_to(CheckIns.closed)
        return
    await work.commit()
    await manager.switch_to(CheckIns.done)


async def on_note(message: Message, _: MessageInput, manager: DialogManager) -> None:
    manager.show_mode = ShowMode.SEND
    await _finish(manager, message.text)


async def on_nothing_more(callback: CallbackQuery, _: Button, manager: DialogManager) -> None:
    await _finish(manager, None)


async def on_not_text(message: Message, _: MessageInput, manager: DialogManager) -> None:
    await message.answer(gettext("Please write it as text."))
    manager.show_mode = ShowMode.SEND


def _question_window(question: str, state: State) -> Window:
    return Window(
        Format("{question}"),
        Column(
            Select(
                Format("{item[1]}"),
                id=f"answer_{question}",
                item_id_getter=operator.itemgetter(0),
                items="answers",
                on_click=_on_answer(question),
            )
        ),
        Button(Tr("Skip"), id=f"skip_{question}", on_click=_on_skip(question)),
        state=state,
        getter=_question_getter(question),
    )


def checkin_dialog() -> Dialog:
    return Dialog(
        *[_question_window(question, state) for question, state in STEPS],
        Window(
            Tr("Anything else you want to tell the office? Write it here, or press Nothing more."),
            MessageInput(on_note, content_types=[ContentType.TEXT]),
            MessageInput(on_not_text),
            Button(Tr("Nothing more"), id="nothing_more", on_click=on_nothing_more),
            state=CheckIns.note,
        ),
        Window(
            Tr("Thank you. Your answers have reached your office."),
            Cancel(Tr("Back to the menu")),
            state=CheckIns.done,
        ),
        Window(
            Tr("This check-in is already answered or closed. Write to the office here."),
            Cancel(Tr("Back to the menu")),
            state=CheckIns.closed,
        ),
    )
