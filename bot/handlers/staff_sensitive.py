"""`/sensitive`, as a reply in a case's topic to a staff message that went to the returnee: its
copy leaves the returnee's chat some hours later (SENSITIVE_HOURS), deleted by the leader's sweep
(bot/services/chat_clearing.py). Staff are told when; if Telegram refuses, the topic is told."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from babel.dates import format_datetime, format_timedelta
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.delivery.sender import Sender
from bot.i18n import N_
from bot.middlewares.inbox import InboxMiddleware, Needs, needs
from bot.services import chat_clearing
from bot.services.chat_clearing import Marked, NotMarked
from bot.services.clock import utcnow
from bot.services.inbox import InboxContext
from bot.services.unit_of_work import UnitOfWork
from bot.telegram.incoming import replied_to
from bot.telegram.topic import reply_in_topic

NOT_MARKED = {
    NotMarked.NOT_TO_RETURNEE: N_(
        "That message did not go to the returnee, so there is nothing to delete from their "
        "chat. /sensitive works on your messages that were sent to the returnee."
    ),
    NotMarked.ON_ITS_WAY: N_(
        "That message has not reached the returnee yet. Write /sensitive as a reply to it again "
        "once it has been delivered."
    ),
    NotMarked.TOO_OLD: N_(
        "That message is more than 48 hours old: Telegram no longer lets the bot delete it. "
        "Ask the returnee to delete it themselves."
    ),
    NotMarked.ALREADY_DELETED: N_("That message is already deleted from the returnee's chat."),
}


async def sensitive(
    message: Message,
    context: InboxContext,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
    settings: Settings,
    i18n: I18n,
) -> None:
    """/sensitive as a reply: delete that message's copy from the returnee's chat later."""
    target = replied_to(message)
    if target is None:
        await reply_in_topic(
            sender,
            message,
            _(
                "Write /sensitive as a reply to your message that went to the returnee: it will "
                "be deleted from their chat after {duration}."
            ).format(duration=_duration(settings.sensitive_hours, i18n.current_locale)),
        )
        return
    marked = await chat_clearing.mark_sensitive(
        session,
        context.case,
        context.staff,
        message.chat.id,
        target,
        now=utcnow(),
        hours=settings.sensitive_hours,
    )
    if isinstance(marked, Marked):
        await work.commit()
        zone = ZoneInfo(context.office.timezone)
        when = format_datetime(
            marked.delete_at.astimezone(zone), "medium", tzinfo=zone, locale=i18n.current_locale
        )
        text = _(
            "🔒 Marked sensitive: this message will be deleted from the returnee's chat on "
            "{when} ({zone})."
        ).format(when=when, zone=context.office.timezone)
    else:
        await work.rollback()
        text = _(NOT_MARKED[marked])
    await reply_in_topic(sender, message, text)


def _duration(hours: float, locale: str) -> str:
    """The hours in the reader's language: "24 hours", never rounded up to "1 day"."""
    return format_timedelta(timedelta(hours=hours), threshold=2, locale=locale)


def build_router() -> Router:
    router = Router(name="staff_sensitive")
    router.message.filter(F.chat.type == "supergroup")
    router.message.middleware(InboxMiddleware())
    router.message.register(sensitive, Command("sensitive"), flags=needs(Needs.CASE))
    return router
