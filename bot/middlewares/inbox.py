"""The staff group: before a staff-inbox handler runs, the office of the chat, the staff member
and the case of the topic are resolved once, and whoever may not act there is told why, once;
every such refusal is in the audit log ("denied.<why>", bot/telegram/refusals.py).

A handler says what it needs with a flag (`flags=needs(Needs.CASE)`) and receives it typed:
`context: InboxContext` (office, case, staff) or `office_staff: OfficeStaff` (office, staff).
Handlers without the flag run as they are. In a chat that is no office's group nothing is said.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
from aiogram.types import Message, TelegramObject
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.sender import Sender
from bot.once import Once
from bot.services import inbox
from bot.services.inbox import Refusal
from bot.services.unit_of_work import UnitOfWork
from bot.telegram.refusals import record_denial
from bot.telegram.topic import reply_in_topic
from storage.models import Person

FLAG = "inbox"
# How each refusal is named in the audit log.
DENIALS = {
    Refusal.ANONYMOUS: "anonymous",
    Refusal.STRANGER: "not_staff",
    Refusal.NO_CASE: "no_case",
}


class Needs(enum.Enum):
    # The office's registered staff, in the topic of a case; anyone else is told why, once.
    CASE = "case"
    # The office's registered staff, in any topic; anyone else is ignored.
    STAFF = "staff"


def needs(what: Needs) -> dict[str, Any]:
    """The handler's flags. A new dict each time: aiogram adds each handler's commands to it."""
    return {FLAG: what}


class InboxMiddleware(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        wanted: Needs | None = get_flag(data, FLAG)
        if wanted is None or not isinstance(event, Message):
            return await handler(event, data)
        session: AsyncSession = data["session"]
        person: Person | None = data.get("person")
        office = await inbox.office_of_chat(session, event.chat.id)
        if office is None:
            return None  # not an inbox of ours: stay silent
        thread = event.message_thread_id if event.is_topic_message else None
        if wanted is Needs.STAFF:
            staff = inbox.staff_of(office, person)
            if staff is None:
                await self._record(data, Refusal.STRANGER, event.chat.id, thread, person)
                return None
            data["office_staff"] = staff
            return await handler(event, data)
        found = await inbox.context_of_topic(
            session, office, event.chat.id, thread, person, anonymous=event.sender_chat is not None
        )
        if isinstance(found, Refusal):
            await self._record(data, found, event.chat.id, thread, person)
            await self._explain(found, event, thread, office.name, data["sender"], data["once"])
            return None
        data["context"] = found
        return await handler(event, data)

    @staticmethod
    async def _record(
        data: dict[str, Any],
        refusal: Refusal,
        chat_id: int,
        thread: int | None,
        person: Person | None,
    ) -> None:
        """The refusal in the audit log: who (if known), in which office's group, and the case
        whose topic it was."""
        work: UnitOfWork = data["work"]
        case = await inbox.case_of_topic(work.session, chat_id, thread) if thread else None
        await record_denial(
            work.session,
            DENIALS[refusal],
            actor_id=person.id if person is not None else None,
            chat_id=chat_id,
            case_id=case.id if case is not None else None,
        )
        await work.commit()

    @staticmethod
    async def _explain(
        refusal: Refusal,
        message: Message,
        thread: int | None,
        office_name: str,
        sender: Sender,
        once: Once,
    ) -> None:
        """Why the message was not acted on: once per topic (or per stranger) and hour."""
        chat_id = message.chat.id
        if refusal is Refusal.ANONYMOUS:
            key: tuple[object, ...] = ("anonymous", chat_id, thread)
            text = _(
                "Messages sent anonymously as the group cannot be linked to a staff member, "
                'so they are not passed on. Please turn off "Remain anonymous" in your '
                "admin rights."
            )
        elif refusal is Refusal.STRANGER:
            key = ("stranger", chat_id, message.from_user.id if message.from_user else 0)
            text = _(
                "Only registered staff of {office} can answer here. This message was not passed on."
            ).format(office=office_name)
        else:
            key = ("no case", chat_id, thread)
            text = _(
                "This topic belongs to no case, so nothing written here is passed on. Each "
                "case has its own topic: answer the returnee there. /note keeps a message in "
                "the topic only."
            )
        if once.first_time(key):
            await reply_in_topic(sender, message, text)
