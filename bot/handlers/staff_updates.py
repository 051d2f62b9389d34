"""Status updates, the plan and the case's end, in the case's topic: `/update` (a status from
the list, an optional note as a reply, a preview, then send), `/plan <text>` (checked, previewed,
sent), `/close case` and `/drop` (a reason from the documents' list).

Each step is one call of bot/services/updates.py or lifecycle.py, which check who may do it;
the preview is the counsellors' own text in their languages, written by the same function
that writes it when it is sent."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject
from aiogram.methods import EditMessageReplyMarkup, SendMessage
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.counsellor_messages import locale_of
from bot.delivery.sender import Sender
from bot.delivery.texts.counsellors import DROP_REASON_LABELS, STATUS_LABELS, update_text
from bot.handlers.staff_money import ReplyToBot
from bot.i18n import N_
from bot.middlewares.inbox import InboxMiddleware, Needs, needs
from bot.services import counsellor_news, disclosure, lifecycle, updates
from bot.services.case_rows import case_by_id
from bot.services.clock import utcnow
from bot.services.errors import NotFound, RuleViolation
from bot.services.inbox import InboxContext
from bot.services.sharing import reaches_counsellors
from bot.services.unit_of_work import UnitOfWork
from bot.telegram.callbacks import LifecyclePress, StatusPress, UpdatePress
from bot.telegram.refusals import in_topic_of, refuse_press
from bot.telegram.topic import reply_in_topic
from storage.models import Case, CaseUpdate, Person

FOUND = {
    disclosure.Kind.PHONE: N_("a phone number"),
    disclosure.Kind.EMAIL: N_("an e-mail address"),
    disclosure.Kind.LINK: N_("a link"),
    disclosure.Kind.ADDRESS: N_("an address"),
    disclosure.Kind.DATE: N_("a date"),
    disclosure.Kind.HANDLE: N_("a Telegram username"),
    disclosure.Kind.NAME: N_("a person's name"),
}


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


async def _say(
    sender: Sender,
    message: Message,
    text: str,
    buttons: list[list[InlineKeyboardButton]] | None = None,
) -> Message:
    """A message in the same topic, with buttons for the next step."""
    return await sender.call(
        message.chat.id,
        SendMessage(
            chat_id=message.chat.id,
            message_thread_id=message.message_thread_id if message.is_topic_message else None,
            text=text,
            reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None,
        ),
    )


async def _done_with(sender: Sender, message: Message) -> None:
    """The buttons of a step taken are removed, so nobody presses them again."""
    await sender.call(
        message.chat.id,
        EditMessageReplyMarkup(
            chat_id=message.chat.id, message_id=message.message_id, reply_markup=None
        ),
    )


def _findings_text(checked: updates.Checked) -> str:
    lines = [
        _(
            "Not sent: this must not leave the office. Remove it and try again (the returnee's "
            "safety depends on it):"
        )
    ]
    lines += [
        f"• {_(FOUND[kind])}: {fragment}"
        for kind, fragment in disclosure.describe(checked.findings, checked.text)
    ]
    return "\n".join(lines)


async def _preview(
    session: AsyncSession,
    sender: Sender,
    message: Message,
    i18n: I18n,
    case: Case,
    draft: CaseUpdate,
) -> None:
    """What each counsellor will read, in their language, and the buttons to send or cancel."""
    counsellors = await counsellor_news.counsellors_of(session, case)
    locales = list(dict.fromkeys(locale_of(c, i18n) for c in counsellors))
    if not counsellors:
        head = _("The case has no counsellor: it is kept on the case only.")
    elif not await reaches_counsellors(session, case):
        head = _(
            "The returnee has not agreed to share: it is kept on the case and not sent to the "
            "counsellor."
        )
    else:
        head = _("Preview: exactly what the counsellor gets ({count}):").format(
            count=len(counsellors)
        )
    shown = [head]
    shown += [update_text(i18n, locale, case.code, draft) for locale in locales]
    await _say(
        sender,
        message,
        "\n\n".join(shown),
        [
            [
                _button(_("Send"), UpdatePress(update=draft.id, action="send").pack()),
                _button(_("Cancel"), UpdatePress(update=draft.id, action="cancel").pack()),
            ]
        ],
    )


async def update_command(message: Message, context: InboxContext, sender: Sender) -> None:
    """/update: the statuses to choose from."""
    buttons = [
        [_button(_(label), StatusPress(case=context.case.id, status=status).pack())]
        for status, label in STATUS_LABELS.items()
    ]
    await _say(
        sender,
        message,
        _("Status update for the counsellor of {case}: choose the status.").format(
            case=context.case.code
        ),
        buttons,
    )


async def _refuse(
    callback: CallbackQuery,
    work: UnitOfWork,
    what: str,
    person: Person | None,
    case: Case | None,
) -> None:
    await refuse_press(
        callback,
        work,
        what,
        person,
        case_id=case.id if case is not None else None,
        text=_(
            "This cannot be done: the button is out of date, the case is closed, or only the "
            "case's office's staff may do it."
        ),
    )


def _pressable(callback: CallbackQuery, case: Case | None, person: Person | None) -> bool:
    """A staff member's press in the case's own topic (who may act is the service's rule)."""
    return (
        case is not None
        and person is not None
        and isinstance(callback.message, Message)
        and in_topic_of(callback, case)
    )


async def _case(session: AsyncSession, case_id: int) -> Case | None:
    try:
        return await case_by_id(session, case_id)
    except NotFound:
        return None


async def status_chosen(
    callback: CallbackQuery,
    callback_data: StatusPress,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
    person: Person | None = None,
) -> None:
    case = await _case(session, callback_data.case)
    if not _pressable(callback, case, person):
        await _refuse(callback, work, "status", person, case)
        return
    assert case is not None
    assert person is not None
    assert isinstance(callback.message, Message)
    try:
        draft = await updates.draft_status(session, case, person, callback_data.status)
    except RuleViolation:
        await _refuse(callback, work, "status", person, case)
        return
    await work.commit()
    await callback.answer()
    message = callback.message
    await _done_with(sender, message)
    prompt = await _say(
        sender,
        message,
        _(
            "{status}. To add a note for the counsellor (at most {limit} characters), reply to "
            "this message with it; or press No note."
        ).format(status=_(STATUS_LABELS[callback_data.status]), limit=updates.NOTE_LIMIT),
        [
            [
                _button(_("No note"), UpdatePress(update=draft.id, action="no_note").pack()),
                _button(_("Cancel"), UpdatePress(update=draft.id, action="cancel").pack()),
            ]
        ],
    )
    await updates.set_prompt(session, draft.id, prompt.message_id)
    await work.commit()


async def note_answered(
    message: Message,
    context: InboxContext,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
    i18n: I18n,
) -> None:
    """A reply to the bot's question for a note: the note, checked, then the preview."""
    assert message.reply_to_message is not None
    draft = await updates.prompted(session, context.case, message.reply_to_message.message_id)
    if draft is None:
        raise SkipHandler  # an ordinary reply: the inbox passes it on
    try:
        checked = await updates.add_note(
            session, context.case, context.staff, draft.id, message.text or ""
        )
    except RuleViolation:
        await work.rollback()
        await reply_in_topic(
            sender,
            message,
            _("Not kept: a note has 1 to {limit} characters. Reply again.").format(
                limit=updates.NOTE_LIMIT
            ),
        )
        return
    if not checked.clean:
        await work.rollback()
        await reply_in_topic(sender, message, _findings_text(checked))
        return
    await work.commit()
    await _preview(session, sender, message, i18n, context.case, draft)


async def update_pressed(
    callback: CallbackQuery,
    callback_data: UpdatePress,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
    i18n: I18n,
    person: Person | None = None,
) -> None:
    draft = await session.get(CaseUpdate, callback_data.update)
    case = await _case(session, draft.case_id) if draft else None
    if draft is None or not _pressable(callback, case, person):
        await _refuse(callback, work, "update", person, case)
        return
    assert case is not None
    assert person is not None
    assert isinstance(callback.message, Message)
    message = callback.message
    try:
        match callback_data.action:
            case "cancel":
                await updates.cancel(session, case, person, draft.id)
                done = _("Cancelled; nothing was sent.")
            case "send":
                told = await updates.confirm(session, case, person, draft.id)
                done = _("Kept on the case; sent to {count} counsellor(s).").format(count=told)
            case "no_note":
                updates.must_wait(draft)
                updates.staff_of(case, person)
                done = ""
    except RuleViolation:
        await _refuse(callback, work, "update", person, case)
        return
    await work.commit()
    await callback.answer(done or None)
    await _done_with(sender, message)
    if callback_data.action == "no_note":
        await _preview(session, sender, message, i18n, case, draft)
    else:
        await _say(sender, message, done)


async def plan_command(
    message: Message,
    command: CommandObject,
    context: InboxContext,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
    i18n: I18n,
) -> None:
    """/plan shows the current plan; /plan <text> proposes a new one."""
    words = (command.args or "").strip()
    if not words:
        current = await updates.current_plan(session, context.case)
        await reply_in_topic(
            sender,
            message,
            (
                _("Reintegration plan of {case}:").format(case=context.case.code)
                + "\n"
                + current.text
            )
            if current and current.text
            else _(
                "No plan yet. Write /plan and the plan, e.g. /plan tailoring course, then a shop."
            ),
        )
        return
    try:
        checked = await updates.draft_plan(session, context.case, context.staff, words)
        if not checked.clean:
            await reply_in_topic(sender, message, _findings_text(checked))
            return
        draft = await updates.keep_plan(session, context.case, context.staff, checked)
    except RuleViolation:
        await work.rollback()
        await reply_in_topic(
            sender,
            message,
            _("Not kept: a plan has 1 to {limit} characters, and the case must be open.").format(
                limit=updates.PLAN_LIMIT
            ),
        )
        return
    await work.commit()
    await _preview(session, sender, message, i18n, context.case, draft)


async def close_command(
    message: Message, command: CommandObject, context: InboxContext, sender: Sender
) -> None:
    """/close case: the case ends (plain /close only closes the topic, bot/handlers/staff_inbox)."""
    if (command.args or "").strip().lower() != "case":
        raise SkipHandler
    await _say(
        sender,
        message,
        _("Close case {case}? Check-ins stop and the case counts as closed.").format(
            case=context.case.code
        ),
        [
            [
                _button(
                    _("Close the case"), LifecyclePress(case=context.case.id, action="close").pack()
                )
            ]
        ],
    )


async def drop_command(message: Message, context: InboxContext, sender: Sender) -> None:
    await _say(
        sender,
        message,
        _("Why did the returnee of {case} leave the programme?").format(case=context.case.code),
        [
            [
                _button(
                    _(label),
                    LifecyclePress(case=context.case.id, action="drop", reason=reason).pack(),
                )
            ]
            for reason, label in DROP_REASON_LABELS.items()
        ],
    )


async def lifecycle_pressed(
    callback: CallbackQuery,
    callback_data: LifecyclePress,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
    person: Person | None = None,
) -> None:
    case = await _case(session, callback_data.case)
    if not _pressable(callback, case, person):
        await _refuse(callback, work, "lifecycle", person, case)
        return
    assert case is not None
    assert person is not None
    assert isinstance(callback.message, Message)
    today = utcnow().date()
    try:
        updates.staff_of(case, person)
        if callback_data.action == "close":
            await lifecycle.close(session, case, today, person)
            done = _("Case {case} is closed.").format(case=case.code)
        else:
            await lifecycle.drop(session, case, callback_data.reason, today, person)
            done = _("Case {case} is marked as dropped out.").format(case=case.code)
    except RuleViolation:
        await _refuse(callback, work, "lifecycle", person, case)
        return
    await work.commit()
    await callback.answer(done)
    await _done_with(sender, callback.message)
    await _say(sender, callback.message, done)


def build_router() -> Router:
    router = Router(name="staff_updates")
    router.callback_query.filter(F.message.chat.type == "supergroup")
    router.callback_query.register(status_chosen, StatusPress.filter())
    router.callback_query.register(update_pressed, UpdatePress.filter())
    router.callback_query.register(lifecycle_pressed, LifecyclePress.filter())
    router.message.filter(F.chat.type == "supergroup")
    router.message.middleware(InboxMiddleware())
    in_case = needs(Needs.CASE)
    router.message.register(update_command, Command("update"), flags=in_case)
    router.message.register(plan_command, Command("plan"), flags=needs(Needs.CASE))
    router.message.register(close_command, Command("close"), flags=needs(Needs.CASE))
    router.message.register(drop_command, Command("drop"), flags=needs(Needs.CASE))
    router.message.register(note_answered, F.text, ReplyToBot(), flags=needs(Needs.CASE))
    return router
