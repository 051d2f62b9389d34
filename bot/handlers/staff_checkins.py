"""Check-ins in the case's topic: /checkins shows the schedule and lets staff ask one now, skip
one, move one (`/checkins move 2 2027-01-20`) or resume paused check-ins (`/checkins resume`);
the button under an alert takes it."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.methods import EditMessageReplyMarkup, SendMessage
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from babel.dates import format_datetime
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.sender import Sender
from bot.delivery.texts.checkins import CHECKIN_STATUS
from bot.middlewares.inbox import InboxMiddleware, Needs, needs
from bot.services import checkins
from bot.services.cases import case_by_id
from bot.services.clock import as_utc, utcnow
from bot.services.errors import NotFound, RuleViolation
from bot.services.inbox import InboxContext
from bot.services.unit_of_work import UnitOfWork
from bot.telegram.callbacks import AlertPress, CheckInStaffPress
from bot.telegram.refusals import in_topic_of, refuse_press
from bot.telegram.topic import reply_in_topic
from storage.models import CheckInAlert, CheckInStatus, Person

USAGE = (
    "/checkins move <month> <YYYY-MM-DD>",
    "/checkins resume",
)


async def checkins_command(
    message: Message,
    command: CommandObject,
    context: InboxContext,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
    i18n: I18n,
) -> None:
    """/checkins, /checkins move <month> <day>, /checkins resume."""
    words = (command.args or "").split()
    case, staff = context.case, context.staff
    try:
        if words[:1] == ["resume"]:
            await checkins.resume(session, case, staff, utcnow())
            await work.commit()
            await reply_in_topic(sender, message, _("Check-ins resumed."))
            return
        if words[:1] == ["move"]:
            if len(words) != 3 or not words[1].isdecimal() or not 1 <= int(words[1]) <= 12:
                raise ValueError  # check-ins are 1 to 12 months after the return
            await checkins.move(session, case, staff, int(words[1]), date.fromisoformat(words[2]))
            await work.commit()
            await reply_in_topic(sender, message, _("Check-in moved."))
    except (RuleViolation, ValueError):
        await work.rollback()
        await reply_in_topic(
            sender,
            message,
            _(
                "Not done. Write /checkins move, the month of a planned check-in and a day "
                "within the first year, e.g. /checkins move 2 2027-01-20; or /checkins resume."
            ),
            copy=list(USAGE),
        )
        return
    await _show(message, context, session, sender, i18n)


async def _show(
    message: Message, context: InboxContext, session: AsyncSession, sender: Sender, i18n: I18n
) -> None:
    # A reply to a staff member's command, in their language, as every command's reply is;
    # the times in the office's zone.
    locale = i18n.current_locale
    zone = ZoneInfo(context.office.timezone)
    rows = await checkins.schedule_of(session, context.case)
    lines = [_("Check-ins of {case}").format(case=context.case.code)]
    if context.case.checkins != checkins.ON:
        lines.append(_("Paused by the returnee: /checkins resume after talking to them."))
    buttons = []
    for row in rows:
        when = format_datetime(
            as_utc(row.due_at).astimezone(zone), "medium", tzinfo=zone, locale=locale
        )
        status = i18n.gettext(CHECKIN_STATUS[row.status.value], locale=locale)
        lines.append(f"{row.month} · {when} · {status}")
        if row.status is CheckInStatus.SCHEDULED:
            buttons.append(
                [
                    InlineKeyboardButton(
                        text=_("Ask now: {month}").format(month=row.month),
                        callback_data=CheckInStaffPress(
                            case=context.case.id, month=row.month, action="now"
                        ).pack(),
                    ),
                    InlineKeyboardButton(
                        text=_("Skip: {month}").format(month=row.month),
                        callback_data=CheckInStaffPress(
                            case=context.case.id, month=row.month, action="skip"
                        ).pack(),
                    ),
                ]
            )
    if not rows:
        lines.append(_("No check-ins: the case has no return date yet."))
    await sender.call(
        message.chat.id,
        SendMessage(
            chat_id=message.chat.id,
            message_thread_id=message.message_thread_id,
            text="\n".join(lines),
            reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None,
        ),
    )


async def checkin_pressed(
    callback: CallbackQuery,
    callback_data: CheckInStaffPress,
    session: AsyncSession,
    work: UnitOfWork,
    person: Person | None = None,
) -> None:
    try:
        # An id of no case (forged) is refused like any other press that may not act.
        case = await case_by_id(session, callback_data.case)
    except NotFound:
        case = None
    try:
        if case is None or person is None or not in_topic_of(callback, case):
            raise RuleViolation("not a press of this case's staff in its topic")
        if callback_data.action == "now":
            await checkins.send_now(session, case, person, callback_data.month, utcnow())
        else:
            await checkins.skip(session, case, person, callback_data.month)
    except RuleViolation:
        await refuse_press(
            callback,
            work,
            "checkin",
            person,
            case_id=case.id if case is not None else None,
            text=_(
                "This cannot be done: the check-in is not planned any more, or only the case's "
                "office's staff may do it."
            ),
        )
        return
    await work.commit()
    await callback.answer(
        _("It goes out at the office's next daytime hour.")
        if callback_data.action == "now"
        else _("Skipped.")
    )


async def alert_taken(
    callback: CallbackQuery,
    callback_data: AlertPress,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
    person: Person | None = None,
) -> None:
    alert = await session.get(CheckInAlert, callback_data.alert)
    case = await case_by_id(session, alert.case_id) if alert is not None else None
    try:
        if case is None or person is None or not in_topic_of(callback, case):
            raise RuleViolation("not a press of this case's staff in its topic")
        await checkins.take_alert(session, callback_data.alert, person)
    except RuleViolation:
        await refuse_press(
            callback,
            work,
            "alert",
            person,
            case_id=case.id if case is not None else None,
            text=_("Taken already, or only the case's office's staff may take it."),
        )
        return
    await work.commit()
    await callback.answer(_("It is yours now."))
    if isinstance(callback.message, Message):
        message = callback.message
        await sender.call(
            message.chat.id,
            EditMessageReplyMarkup(
                chat_id=message.chat.id, message_id=message.message_id, reply_markup=None
            ),
        )
        await reply_in_topic(
            sender,
            message,
            _("{name} takes this alert.").format(name=person.display_name if person else ""),
        )


def build_router() -> Router:
    router = Router(name="staff_checkins")
    router.callback_query.filter(F.message.chat.type == "supergroup")
    router.callback_query.register(checkin_pressed, CheckInStaffPress.filter())
    router.callback_query.register(alert_taken, AlertPress.filter())
    router.message.filter(F.chat.type == "supergroup")
    router.message.middleware(InboxMiddleware())
    router.message.register(checkins_command, Command("checkins"), flags=needs(Needs.CASE))
    return router
