"""The office's staff group: each case's topic, where staff answer returnees and counsellors."""

from __future__ import annotations

from dataclasses import replace

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.methods import SendMessage
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.sender import Sender
from bot.delivery.split import shortened
from bot.delivery.texts import case_card, copyable, office_locale
from bot.handlers.location import LocationAnswer
from bot.i18n import N_
from bot.knowledge.base import KnowledgeBase
from bot.once import Once
from bot.services import inbox, relay, saved_replies
from bot.services import knowledge as knowledge_service
from bot.services.errors import RuleViolation
from bot.services.relay import Incoming
from bot.telegram.incoming import describe, is_relayable, revision
from storage.models import Case, Office, Person

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


async def _answer(
    sender: Sender, message: Message, text: str, copy: list[str] | None = None
) -> None:
    """A short reply in the same topic, counted against the group's sending budget; the
    `copy` fragments are set so that one tap copies them."""
    entities = [MessageEntity(**e) for e in copyable(text, copy or [])]
    await sender.call(
        message.chat.id,
        SendMessage(
            chat_id=message.chat.id,
            message_thread_id=message.message_thread_id if message.is_topic_message else None,
            text=text,
            entities=entities or None,
            reply_parameters=ReplyParameters(
                message_id=message.message_id, allow_sending_without_reply=True
            ),
        ),
    )


async def _checked(
    message: Message, session: AsyncSession, person: Person | None, sender: Sender, once: Once
) -> tuple[Office, Case, Person] | None:
    """The office, case and staff member of this message, or None after explaining why not."""
    office = await inbox.office_of_chat(session, message.chat.id)
    if office is None:
        return None  # not an inbox of ours: stay silent
    thread = message.message_thread_id if message.is_topic_message else None
    if message.sender_chat is not None:
        if once.first_time(("anonymous", message.chat.id, thread)):
            await _answer(
                sender,
                message,
                _(
                    "Messages sent anonymously as the group cannot be linked to a staff member, "
                    'so they are not passed on. Please turn off "Remain anonymous" in your '
                    "admin rights."
                ),
            )
        return None
    if not inbox.may_act(person, office):
        user_id = message.from_user.id if message.from_user else 0
        if once.first_time(("stranger", message.chat.id, user_id)):
            await _answer(
                sender,
                message,
                _(
                    "Only registered staff of {office} can answer here. This message was not "
                    "passed on."
                ).format(office=office.name),
            )
        return None
    case = await inbox.case_of_topic(session, message.chat.id, thread) if thread else None
    if case is None:
        if once.first_time(("no case", message.chat.id, thread)):
            await _answer(
                sender,
                message,
                _(
                    "This topic belongs to no case, so nothing written here is passed on. Each "
                    "case has its own topic: answer the returnee there. /note keeps a message in "
                    "the topic only."
                ),
            )
        return None
    assert person is not None  # may_act let them through
    return office, case, person


async def note(message: Message) -> None:
    """/note: an internal note. It stays in the topic and is never passed on."""


async def card(
    message: Message,
    session: AsyncSession,
    person: Person | None,
    sender: Sender,
    once: Once,
    i18n: I18n,
) -> None:
    checked = await _checked(message, session, person, sender, once)
    if checked is not None:
        office, case, _staff = checked
        await _answer(sender, message, case_card(i18n, case, office_locale(office, i18n)))


def _signature(office: Office, staff: Person) -> str:
    if office.sign_with_staff_name and staff.display_name:
        return f"{staff.display_name.split()[0]}, {office.name}"
    return office.name


async def _send_text_to_returnee(
    message: Message,
    session: AsyncSession,
    sender: Sender,
    office: Office,
    case: Case,
    staff: Person,
    text: str,
) -> None:
    """A ready text (saved reply, programme answer) sent as if the staff member had typed it."""
    incoming = replace(describe(message, keep_text=True), text=text, entities=[])
    await _pass_on(message, session, sender, office, case, staff, incoming, to_returnee=True)


async def _pass_on(
    message: Message,
    session: AsyncSession,
    sender: Sender,
    office: Office,
    case: Case,
    staff: Person,
    incoming: Incoming,
    *,
    to_returnee: bool = False,
) -> None:
    """Queue a staff member's message for the returnee (or the counsellor it answers)."""
    item = await relay.from_staff(
        session,
        case,
        staff,
        incoming,
        signature=_signature(office, staff),
        to_returnee=to_returnee,
    )
    if item is None:
        await _answer(
            sender, message, _("The returnee has not joined yet, so this was not passed on.")
        )
        return
    await session.commit()
    sender.wake()


async def claim(
    message: Message, session: AsyncSession, person: Person | None, sender: Sender, once: Once
) -> None:
    """/claim: I take this case."""
    checked = await _checked(message, session, person, sender, once)
    if checked is None:
        return
    _office, case, person = checked
    await inbox.assign(session, case, person, by=person)
    await session.commit()
    sender.wake()
    await _answer(
        sender, message, _("{name} now handles this case.").format(name=person.display_name)
    )


async def assign(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    person: Person | None,
    sender: Sender,
    once: Once,
) -> None:
    """/assign <name>: give the case to a colleague."""
    checked = await _checked(message, session, person, sender, once)
    if checked is None:
        return
    office, case, person = checked
    name = (command.args or "").strip()
    matches = await inbox.staff_named(session, office, name) if name else []
    if len(matches) != 1:
        text = (
            _("Several staff members match {name}; please write more of the name.")
            if len(matches) > 1
            else _("No staff member of {office} is called {name}. Write /assign and a name.")
        )
        await _answer(sender, message, text.format(name=quoted(name), office=office.name))
        return
    await inbox.assign(session, case, matches[0], by=person)
    await session.commit()
    sender.wake()
    await _answer(
        sender, message, _("{name} now handles this case.").format(name=matches[0].display_name)
    )


async def close(
    message: Message, session: AsyncSession, person: Person | None, sender: Sender, once: Once
) -> None:
    """/close: close the topic; the returnee's next message opens it again."""
    checked = await _checked(message, session, person, sender, once)
    if checked is None:
        return
    _office, case, person = checked
    await _answer(
        sender,
        message,
        _("Topic closed. The returnee's next message opens it again."),
    )
    await inbox.close(session, case, by=person)
    await session.commit()
    sender.wake()


async def saved_reply(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    person: Person | None,
    sender: Sender,
    once: Once,
) -> None:
    """/s lists the office's saved replies; /s <name> sends one in the returnee's language;
    /s save and /s delete manage them, in any topic of the group."""
    words = (command.args or "").split(maxsplit=3)
    if words and words[0].lower() in saved_replies.RESERVED:
        await _manage_saved_replies(message, words, session, person, sender)
        return
    checked = await _checked(message, session, person, sender, once)
    if checked is None:
        return
    office, case, person = checked
    name = (command.args or "").strip()
    if not name:
        available = await saved_replies.names(session, office)
        await _answer(
            sender,
            message,
            _("Saved replies: {names}").format(names=", ".join(available))
            if available
            else _("This office has no saved replies yet."),
        )
        return
    language = (case.returnee.language if case.returnee else None) or case.language
    reply = await saved_replies.pick(session, office, name, language)
    if reply is None:
        await _answer(
            sender, message, _("There is no saved reply called {name}.").format(name=quoted(name))
        )
        return
    await _send_text_to_returnee(message, session, sender, office, case, person, reply.text)


async def _manage_saved_replies(
    message: Message,
    words: list[str],
    session: AsyncSession,
    person: Person | None,
    sender: Sender,
) -> None:
    """/s save <name> <language> <text> and /s delete <name> [<language>], by the office's staff."""
    office = await inbox.office_of_chat(session, message.chat.id)
    if office is None or not inbox.may_act(person, office):
        return  # strangers are told once by every other command; nothing is changed here
    action = words[0].lower()
    try:
        if action == "save":
            if len(words) < 4:
                raise RuleViolation("")
            name, language, text = words[1], words[2], words[3]
            await saved_replies.save(
                session, office_code=office.code, name=name, language=language, text=text
            )
            await session.commit()
            told = _("Saved reply {name} saved in {language}.").format(
                name=name.lower(), language=language
            )
        else:
            if len(words) < 2:
                raise RuleViolation("")
            language = words[2] if len(words) > 2 else None
            removed = await saved_replies.delete(session, office, words[1], language)
            await session.commit()
            told = (
                _("Saved reply {name} deleted.").format(name=quoted(words[1].lower()))
                if removed
                else _("There is no saved reply called {name}.").format(name=quoted(words[1]))
            )
    except saved_replies.SavedReplyRefused as refused:
        await session.rollback()
        told = _(SAVED_REPLY_PROBLEMS[refused.problem])
    except RuleViolation:
        await session.rollback()
        told = _(
            "To save a reply: /s save <name> <language> <text>, for example /s save hours ro "
            "Luni-vineri 9-17. To delete one: /s delete <name>, or /s delete <name> <language>."
        )
    await _answer(sender, message, told)


async def knowledge_entry(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    person: Person | None,
    sender: Sender,
    once: Once,
    i18n: I18n,
    knowledge: KnowledgeBase,
) -> None:
    """/kb <entry> sends a programme answer in the returnee's language; /kb <words> finds one."""
    checked = await _checked(message, session, person, sender, once)
    if checked is None:
        return
    office, case, person = checked
    wanted = (command.args or "").strip()
    staff_language = office_locale(office, i18n)
    # Only entries written for returnees: this goes to the returnee.
    if not knowledge.for_audience(wanted.lower(), "returnee"):
        # In the office's language first; staff often type the English word as well.
        matches = (
            (
                knowledge.search(staff_language, wanted, 5, audience="returnee")
                or knowledge.search("en", wanted, 5, audience="returnee")
            )
            if wanted
            else []
        )
        commands = [f"/kb {m.entry_id}" for m in matches]
        lines = [
            f"{command} — {knowledge.text(staff_language, m.entry_id).question}"
            for command, m in zip(commands, matches, strict=True)
        ]
        await _answer(
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
    language = (case.returnee.language if case.returnee else None) or case.language
    text = await knowledge_service.answer_text(
        session,
        knowledge,
        wanted.lower(),
        case=case,
        office=office,
        locale=knowledge.language(language),
        gettext=lambda msgid: i18n.gettext(msgid, locale=language),
        for_returnee=True,
    )
    await _send_text_to_returnee(message, session, sender, office, case, person, text)


async def ask_for_location(
    message: Message,
    session: AsyncSession,
    person: Person | None,
    sender: Sender,
    once: Once,
    i18n: I18n,
) -> None:
    """/location: ask the returnee whether staff may see the location they shared."""
    checked = await _checked(message, session, person, sender, once)
    if checked is None:
        return
    _office, case, person = checked
    location = await relay.last_shared_location(session, case)
    if location is None or case.returnee is None:
        await _answer(sender, message, _("The returnee has not shared a location."))
        return
    locale = case.returnee.language or case.language
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
    await _answer(sender, message, _("The returnee was asked."))


async def staff_edited(
    message: Message,
    event_update: Update,
    session: AsyncSession,
    person: Person | None,
    sender: Sender,
    once: Once,
) -> None:
    if not is_relayable(message) or message.edit_date is None:
        return
    checked = await _checked(message, session, person, sender, once)
    if checked is None:
        return
    office, case, person = checked
    await relay.edited(
        session,
        case,
        person,
        describe(message, keep_text=True),
        revision=revision(message, event_update),
        signature=_signature(office, person),
    )
    await session.commit()
    sender.wake()


async def staff_wrote(
    message: Message, session: AsyncSession, person: Person | None, sender: Sender, once: Once
) -> None:
    if not is_relayable(message):
        return
    checked = await _checked(message, session, person, sender, once)
    if checked is None:
        return
    office, case, person = checked
    if (message.text or "").startswith("/"):
        # A mistyped command must not reach the returnee as a message.
        await _answer(
            sender,
            message,
            _(
                "Messages that start with / are commands and are not passed on. Commands here: "
                "/note, /claim, /assign, /close, /card, /s, /kb, /location."
            ),
        )
        return
    await _pass_on(
        message, session, sender, office, case, person, describe(message, keep_text=True)
    )


def build_router() -> Router:
    router = Router(name="staff_inbox")
    router.message.filter(F.chat.type == "supergroup")
    router.message.register(note, Command("note"))
    router.message.register(card, Command("card"))
    router.message.register(claim, Command("claim"))
    router.message.register(assign, Command("assign"))
    router.message.register(close, Command("close"))
    router.message.register(saved_reply, Command("s"))
    router.message.register(knowledge_entry, Command("kb"))
    router.message.register(ask_for_location, Command("location"))
    router.message.register(staff_wrote)
    router.edited_message.filter(F.chat.type == "supergroup")
    router.edited_message.register(staff_edited)
    return router
