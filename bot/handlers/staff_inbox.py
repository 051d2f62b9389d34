"""The office's staff group: each case's topic, where staff answer returnees and counsellors.

Who may act here, and on which case, is resolved before these handlers run
(bot/middlewares/inbox.py); each handler says with its flags what it needs."""

from __future__ import annotations

from dataclasses import replace

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, Filter
from aiogram.methods import SendMessage
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.sender import Sender
from bot.delivery.split import shortened
from bot.delivery.texts import case_card, office_locale
from bot.handlers.location import LocationAnswer
from bot.i18n import N_
from bot.knowledge.base import KnowledgeBase
from bot.middlewares.inbox import InboxMiddleware, Needs, needs
from bot.services import inbox, relay, saved_replies, updates
from bot.services import knowledge as knowledge_service
from bot.services.cases import returnee_language
from bot.services.errors import RuleViolation
from bot.services.inbox import InboxContext, OfficeStaff
from bot.services.relay import Incoming
from bot.services.unit_of_work import UnitOfWork
from bot.telegram.incoming import describe, is_relayable, revision
from bot.telegram.topic import reply_in_topic

SAVED_REPLY_PROBLEMS = {
    saved_replies.Problem.NAME: N_(
        "A reply name is 1 to 32 of a-z, 0-9, _ and -, and cannot be save or delete."
    ),
    saved_replies.Problem.LANGUAGE: N_("That is not a language code. Use one like ro, en or ar."),
    saved_replies.Problem.TEXT: N_("A saved reply needs a text of 1 to 3,500 characters."),
}
# What someone typed, quoted back in a reply, is cut to this many characters (UTF-16 units):
# a command's argument can be as long as a whole message.
QUOTED = 64


def quoted(words: str) -> str:
    return shortened(words, QUOTED)


async def note(message: Message) -> None:
    """/note: an internal note. It stays in the topic and is never passed on."""


async def card(
    message: Message, context: InboxContext, session: AsyncSession, sender: Sender, i18n: I18n
) -> None:
    plan = await updates.current_plan(session, context.case)
    text = case_card(
        i18n, context.case, office_locale(context.office, i18n), plan.text if plan else None
    )
    await reply_in_topic(sender, message, text)


async def _send_text_to_returnee(
    message: Message,
    context: InboxContext,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
    text: str,
) -> None:
    """A ready text (saved reply, programme answer) sent as if the staff member had typed it."""
    incoming = replace(describe(message, keep_text=True), text=text, entities=[])
    await _pass_on(message, context, session, work, sender, incoming, to_returnee=True)


async def _pass_on(
    message: Message,
    context: InboxContext,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
    incoming: Incoming,
    *,
    to_returnee: bool = False,
) -> None:
    """Queue a staff member's message for the returnee (or the counsellor it answers)."""
    item = await relay.from_staff(
        session,
        context.case,
        context.staff,
        incoming,
        signature=inbox.signature(context.office, context.staff),
        to_returnee=to_returnee,
    )
    if item is None:
        await reply_in_topic(
            sender, message, _("The returnee has not joined yet, so this was not passed on.")
        )
        return
    await work.commit()


async def claim(
    message: Message,
    context: InboxContext,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
) -> None:
    """/claim: I take this case."""
    staff = context.staff
    await inbox.assign(session, context.case, staff, by=staff)
    await work.commit()
    await reply_in_topic(
        sender, message, _("{name} now handles this case.").format(name=staff.display_name)
    )


async def assign(
    message: Message,
    command: CommandObject,
    context: InboxContext,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
) -> None:
    """/assign <name>: give the case to a colleague."""
    office = context.office
    name = (command.args or "").strip()
    matches = await inbox.staff_named(session, office, name) if name else []
    if len(matches) != 1:
        text = (
            _("Several staff members match {name}; please write more of the name.")
            if len(matches) > 1
            else _("No staff member of {office} is called {name}. Write /assign and a name.")
        )
        await reply_in_topic(sender, message, text.format(name=quoted(name), office=office.name))
        return
    await inbox.assign(session, context.case, matches[0], by=context.staff)
    await work.commit()
    await reply_in_topic(
        sender, message, _("{name} now handles this case.").format(name=matches[0].display_name)
    )


async def close(
    message: Message,
    context: InboxContext,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
) -> None:
    """/close: close the topic; the returnee's next message opens it again."""
    await reply_in_topic(
        sender,
        message,
        _("Topic closed. The returnee's next message opens it again."),
    )
    await inbox.close(session, context.case, by=context.staff)
    await work.commit()


class SavedReplyCommand(Filter):
    """/s, parsed (bot/services/saved_replies.py) and handed on as `reply_command`; matches
    only commands that manage saved replies, or only those that use them."""

    def __init__(self, *, managing: bool) -> None:
        self.managing = managing

    async def __call__(
        self, message: Message, command: CommandObject
    ) -> dict[str, saved_replies.Command] | bool:
        parsed = saved_replies.parse_command(command.args)
        if isinstance(parsed, saved_replies.Managing) != self.managing:
            return False
        return {"reply_command": parsed}


async def saved_reply(
    message: Message,
    reply_command: saved_replies.ListReplies | saved_replies.SendReply,
    context: InboxContext,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
) -> None:
    """/s lists the office's saved replies; /s <name> sends one in the returnee's language."""
    office, case = context.office, context.case
    if isinstance(reply_command, saved_replies.ListReplies):
        available = await saved_replies.names(session, office)
        await reply_in_topic(
            sender,
            message,
            _("Saved replies: {names}").format(names=", ".join(available))
            if available
            else _("This office has no saved replies yet."),
        )
        return
    name = reply_command.name
    reply = await saved_replies.pick(session, office, name, returnee_language(case))
    if reply is None:
        await reply_in_topic(
            sender, message, _("There is no saved reply called {name}.").format(name=quoted(name))
        )
        return
    await _send_text_to_returnee(message, context, session, work, sender, reply.text)


async def manage_saved_replies(
    message: Message,
    reply_command: saved_replies.Managing,
    office_staff: OfficeStaff,
    session: AsyncSession,
    sender: Sender,
) -> None:
    """/s save <name> <language> <text> and /s delete <name> [<language>], by the office's staff,
    in any topic of the group."""
    office = office_staff.office
    try:
        if isinstance(reply_command, saved_replies.SaveReply):
            await saved_replies.save(
                session,
                office_code=office.code,
                name=reply_command.name,
                language=reply_command.language,
                text=reply_command.text,
            )
            await session.commit()
            told = _("Saved reply {name} saved in {language}.").format(
                name=reply_command.name.lower(), language=reply_command.language
            )
        elif isinstance(reply_command, saved_replies.DeleteReply):
            name = reply_command.name
            removed = await saved_replies.delete(session, office, name, reply_command.language)
            await session.commit()
            told = (
                _("Saved reply {name} deleted.").format(name=quoted(name.lower()))
                if removed
                else _("There is no saved reply called {name}.").format(name=quoted(name))
            )
        else:
            raise RuleViolation("")
    except saved_replies.SavedReplyRefused as refused:
        await session.rollback()
        told = _(SAVED_REPLY_PROBLEMS[refused.problem])
    except RuleViolation:
        await session.rollback()
        told = _(
            "To save a reply: /s save <name> <language> <text>, for example /s save hours ro "
            "Luni-vineri 9-17. To delete one: /s delete <name>, or /s delete <name> <language>."
        )
    await reply_in_topic(sender, message, told)


async def knowledge_entry(
    message: Message,
    command: CommandObject,
    context: InboxContext,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
    i18n: I18n,
    knowledge: KnowledgeBase,
) -> None:
    """/kb <entry> sends a programme answer in the returnee's language; /kb <words> finds one."""
    office, case = context.office, context.case
    staff_language = office_locale(office, i18n)
    found = knowledge_service.look_up_for_staff(knowledge, command.args or "", staff_language)
    if found.entry_id is None:
        commands = [f"/kb {entry_id}" for entry_id in found.suggestions]
        lines = [
            f"{command} — {knowledge.text(staff_language, entry_id).question}"
            for command, entry_id in zip(commands, found.suggestions, strict=True)
        ]
        await reply_in_topic(
            sender,
            message,
            "\n".join([_("Programme answers that may fit:"), *lines])
            if lines
            else _(
                "Write /kb and a few words of the question, for example /kb receipt, to find "
                "a programme answer."
            ),
            copy=commands,
        )
        return
    language = returnee_language(case)
    text = await knowledge_service.answer_text(
        session,
        knowledge,
        found.entry_id,
        case=case,
        office=office,
        locale=knowledge.language(language),
        gettext=lambda msgid: i18n.gettext(msgid, locale=language),
        for_returnee=True,
    )
    await _send_text_to_returnee(message, context, session, work, sender, text)


async def ask_for_location(
    message: Message,
    context: InboxContext,
    session: AsyncSession,
    sender: Sender,
    i18n: I18n,
) -> None:
    """/location: ask the returnee whether staff may see the location they shared."""
    case = context.case
    location = await relay.last_shared_location(session, case)
    if location is None or case.returnee is None:
        await reply_in_topic(sender, message, _("The returnee has not shared a location."))
        return
    locale = returnee_language(case)
    question = i18n.gettext(
        "Your office asks to see the location you shared. Send it to them?", locale=locale
    )
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=i18n.gettext("Yes, send it", locale=locale),
                    callback_data=LocationAnswer(case_id=case.id, share=True).pack(),
                ),
                InlineKeyboardButton(
                    text=i18n.gettext("No", locale=locale),
                    callback_data=LocationAnswer(case_id=case.id, share=False).pack(),
                ),
            ]
        ]
    )
    chat_id = case.returnee.telegram_user_id
    await sender.call(
        chat_id,
        SendMessage(
            chat_id=chat_id,
            text=question,
            reply_markup=keyboard,
            reply_parameters=ReplyParameters(message_id=location, allow_sending_without_reply=True),
        ),
    )
    await reply_in_topic(sender, message, _("The returnee was asked."))


async def staff_edited(
    message: Message,
    event_update: Update,
    context: InboxContext,
    session: AsyncSession,
    work: UnitOfWork,
) -> None:
    await relay.edited(
        session,
        context.case,
        context.staff,
        describe(message, keep_text=True),
        revision=revision(message, event_update),
        signature=inbox.signature(context.office, context.staff),
    )
    await work.commit()


async def mistyped_command(message: Message, sender: Sender) -> None:
    """A mistyped command must not reach the returnee as a message."""
    await reply_in_topic(
        sender,
        message,
        _(
            "Messages that start with / are commands and are not passed on. Commands here: "
            "/note, /claim, /assign, /close, /card, /s, /kb, /location."
        ),
    )


async def staff_wrote(
    message: Message,
    context: InboxContext,
    session: AsyncSession,
    work: UnitOfWork,
    sender: Sender,
) -> None:
    await _pass_on(message, context, session, work, sender, describe(message, keep_text=True))


def build_router() -> Router:
    router = Router(name="staff_inbox")
    router.message.filter(F.chat.type == "supergroup")
    router.message.middleware(InboxMiddleware())
    in_case = Needs.CASE
    router.message.register(note, Command("note"))
    router.message.register(card, Command("card"), flags=needs(in_case))
    router.message.register(claim, Command("claim"), flags=needs(in_case))
    router.message.register(assign, Command("assign"), flags=needs(in_case))
    router.message.register(close, Command("close"), flags=needs(in_case))
    # Saving and deleting saved replies works in any topic of the group.
    router.message.register(
        manage_saved_replies,
        Command("s"),
        SavedReplyCommand(managing=True),
        flags=needs(Needs.STAFF),
    )
    router.message.register(
        saved_reply, Command("s"), SavedReplyCommand(managing=False), flags=needs(in_case)
    )
    router.message.register(knowledge_entry, Command("kb"), flags=needs(in_case))
    router.message.register(ask_for_location, Command("location"), flags=needs(in_case))
    # Service messages (pins, topic changes, joins) are never relayed, nor answered.
    relayable = F.func(is_relayable)
    router.message.register(
        mistyped_command, relayable, F.text.startswith("/"), flags=needs(in_case)
    )
    router.message.register(staff_wrote, relayable, flags=needs(in_case))
    router.edited_message.filter(F.chat.type == "supergroup")
    router.edited_message.middleware(InboxMiddleware())
    router.edited_message.register(
        staff_edited, relayable, F.edit_date.is_not(None), flags=needs(in_case)
    )
    return router
