"""Refusals in one place: a press or a message that may not act is answered to its sender
alone, changes nothing, and is recorded in the audit log as "denied.<what>" (ids only, the case
when known: bot/services/audit.py `denied`).

A staff button acts only from its case's topic: what its data points at is looked up and
checked against who pressed it (the services) and where (here), so data forged to point at
another case, or pressed in another chat, changes nothing."""

from __future__ import annotations

from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import audit, inbox
from bot.services.unit_of_work import UnitOfWork
from storage.models import Case, Person


def in_topic_of(callback: CallbackQuery, case: Case) -> bool:
    """Pressed on a message in the case's own topic, where the bot puts its staff buttons."""
    message = callback.message
    return (
        isinstance(message, Message)
        and case.topic_id is not None
        and message.chat.id == case.inbox_chat_id
        and message.message_thread_id == case.topic_id
    )


def chat_of(callback: CallbackQuery) -> int | None:
    return callback.message.chat.id if callback.message is not None else None


async def record_denial(
    session: AsyncSession,
    what: str,
    *,
    actor_id: int | None,
    chat_id: int | None,
    case_id: int | None = None,
) -> None:
    """The audit line of a refusal; the office is the one whose group it happened in."""
    office = (
        await inbox.office_of_chat(session, chat_id)
        if chat_id is not None and chat_id < 0
        else None
    )
    audit.denied(
        session,
        what,
        actor_id=actor_id,
        case_id=case_id,
        office_id=office.id if office is not None else None,
    )


async def refuse_press(
    callback: CallbackQuery,
    work: UnitOfWork,
    what: str,
    person: Person | None,
    *,
    case_id: int | None = None,
    text: str | None = None,
) -> None:
    """Undo whatever the press began, record the denial and answer the presser alone (with
    `text` as an alert, or just stopping the client's spinner)."""
    # Read before the rollback: it expires what the session loaded.
    actor_id = person.id if person is not None else None
    await work.rollback()
    await record_denial(
        work.session, what, actor_id=actor_id, chat_id=chat_of(callback), case_id=case_id
    )
    await work.commit()
    await callback.answer(text, show_alert=text is not None)
