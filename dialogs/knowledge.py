"""Browsing the programme questions: topics, then questions, then the answer.

Every answer offers "ask a person": the office's topic for the case is told which question it is
about, and the returnee's next message there follows it.
"""

from __future__ import annotations

import operator
from typing import Any

from aiogram.types import CallbackQuery
from aiogram.utils.i18n import I18n, gettext
from aiogram_dialog import Dialog, DialogManager, Window
from aiogram_dialog.widgets.kbd import Button, Cancel, Column, Select, SwitchTo
from aiogram_dialog.widgets.text import Format
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.texts import office_locale
from bot.knowledge.base import KnowledgeBase
from bot.services import knowledge as knowledge_service
from bot.services import relay
from bot.services.cases import case_of_returnee, cases_of_counsellor
from bot.services.consent import has_consent
from bot.services.unit_of_work import UnitOfWork
from dialogs.home import show_home
from dialogs.states import Knowledge
from dialogs.widgets import Tr
from storage.models import Case, Person, Role

__all__ = ["knowledge_dialog"]


def _knowledge(manager: DialogManager) -> KnowledgeBase:
    knowledge: KnowledgeBase = manager.middleware_data["knowledge"]
    return knowledge


def _audience(manager: DialogManager) -> str:
    person: Person = manager.middleware_data["person"]
    return "counsellor" if person.role is Role.COUNSELLOR else "returnee"


async def _case(manager: DialogManager) -> Case | None:
    """The case whose data fills the answers: the returnee's, or a counsellor's only one."""
    session: AsyncSession = manager.middleware_data["session"]
    person: Person = manager.middleware_data["person"]
    if person.role is Role.RETURNEE:
        return await case_of_returnee(session, person)
    cases = await cases_of_counsellor(session, person)
    return cases[0] if len(cases) == 1 else None


async def topics_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    knowledge, locale = _knowledge(dialog_manager), _locale(dialog_manager)
    topics = knowledge.topics(_audience(dialog_manager))
    return {"topics": [(t, knowledge.topic_title(locale, t)) for t in topics]}


async def questions_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    knowledge, locale = _knowledge(dialog_manager), _locale(dialog_manager)
    topics = knowledge.topics(_audience(dialog_manager))
    # A dialog saved before the content changed may name a topic that is gone.
    topic = dialog_manager.dialog_data.get("topic")
    topic = topic if topic in topics else topics[0]
    entries = knowledge.entries(topic, _audience(dialog_manager))
    case = await _case(dialog_manager)
    sheet = knowledge.sheet_of(case.office.code if case else None)
    return {
        "topic_title": knowledge.topic_title(locale, topic),
        "questions": [(e.id, knowledge.text(locale, e.id).question) for e in entries],
        "office": case.office.name if case else "",
        "has_sheet": topic == "contact" and sheet is not None,
    }


async def sheet_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    case = await _case(dialog_manager)
    sheet = _knowledge(dialog_manager).sheet_of(case.office.code if case else None)
    text = sheet.render(_locale(dialog_manager), gettext) if sheet else ""
    return {"sheet": text or gettext("Your office has not described itself here yet.")}


async def answer_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    entry = dialog_manager.dialog_data.get("entry", "")
    if not _knowledge(dialog_manager).for_audience(entry, _audience(dialog_manager)):
        # Saved before the content changed: the entry is gone; Back leads to the questions.
        return {"answer": gettext("This button is from an earlier conversation."), "may_ask": False}
    case = await _case(dialog_manager)
    answer = await knowledge_service.answer_text(
        dialog_manager.middleware_data["session"],
        _knowledge(dialog_manager),
        entry,
        case=case,
        office=case.office if case else None,
        locale=_locale(dialog_manager),
        gettext=gettext,
        for_returnee=_audience(dialog_manager) == "returnee",
    )
    return {"answer": answer, "may_ask": _audience(dialog_manager) == "returnee"}


async def asked_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    case = await _case(dialog_manager)
    return {"office": case.office.name if case else ""}


def _locale(manager: DialogManager) -> str:
    i18n: I18n = manager.middleware_data["i18n"]
    return i18n.current_locale


async def on_topic(
    callback: CallbackQuery, _: Select[str], manager: DialogManager, topic: str
) -> None:
    if topic not in _knowledge(manager).topics(_audience(manager)):
        return  # a button from an older version of the content: the topics stay on screen
    manager.dialog_data["topic"] = topic
    await manager.switch_to(Knowledge.questions)


async def on_question(
    callback: CallbackQuery, _: Select[str], manager: DialogManager, entry: str
) -> None:
    # A button from an older version of the content, or not meant for this reader: start over.
    if not _knowledge(manager).for_audience(entry, _audience(manager)):
        await manager.switch_to(Knowledge.topics)
        return
    manager.dialog_data["entry"] = entry
    await manager.switch_to(Knowledge.answer)


async def on_ask(callback: CallbackQuery, _: Button, manager: DialogManager) -> None:
    """Tell the office which question the returnee wants to talk about; they write next."""
    session: AsyncSession = manager.middleware_data["session"]
    case = await _case(manager)
    if case is None or not has_consent(case):
        # Without consent nothing reaches the office: back to where consent is asked.
        await show_home(manager, manager.middleware_data["person"], session)
        return
    i18n: I18n = manager.middleware_data["i18n"]
    entry = manager.dialog_data.get("entry", "")
    if not _knowledge(manager).has(entry):
        await manager.switch_to(Knowledge.topics)
        return
    staff_language = office_locale(case.office, i18n)
    await relay.notice(
        session,
        case,
        "knowledge_asked",
        entry=entry,
        question=_knowledge(manager).text(staff_language, entry).question,
    )
    work: UnitOfWork = manager.middleware_data["work"]
    await work.commit()
    await manager.switch_to(Knowledge.asked)


def knowledge_dialog() -> Dialog:
    return Dialog(
        Window(
            Tr("Questions about the programme. Choose a topic."),
            Column(
                Select(
                    Format("{item[1]}"),
                    id="topic",
                    item_id_getter=operator.itemgetter(0),
                    items="topics",
                    on_click=on_topic,
                )
            ),
            Cancel(Tr("Back")),
            state=Knowledge.topics,
            getter=topics_getter,
        ),
        Window(
            Format("{topic_title}"),
            Column(
                Select(
                    Format("{item[1]}"),
                    id="entry",
                    item_id_getter=operator.itemgetter(0),
                    items="questions",
                    on_click=on_question,
                )
            ),
            SwitchTo(Tr("About {office}"), id="sheet", state=Knowledge.sheet, when="has_sheet"),
            SwitchTo(Tr("Back"), id="back", state=Knowledge.topics),
            state=Knowledge.questions,
            getter=questions_getter,
        ),
        Window(
            Format("{answer}"),
            Button(Tr("Ask a person"), id="ask", on_click=on_ask, when="may_ask"),
            SwitchTo(Tr("Back"), id="back", state=Knowledge.questions),
            Cancel(Tr("Main menu"), when="may_ask"),  # counsellors have no main menu
            state=Knowledge.answer,
            getter=answer_getter,
        ),
        Window(
            Format("{sheet}"),
            SwitchTo(Tr("Back"), id="back", state=Knowledge.questions),
            state=Knowledge.sheet,
            getter=sheet_getter,
        ),
        Window(
            Tr(
                "{office} has been told which question this is about. Write your message here in "
                "the chat and it goes to them together with the question."
            ),
            SwitchTo(Tr("Back"), id="back", state=Knowledge.answer),
            Cancel(Tr("Main menu")),
            state=Knowledge.asked,
            getter=asked_getter,
        ),
    )
