"""Staff-group hygiene: each office's inbox group is a forum where the bot is an administrator
that may manage topics, delete and pin messages; whoever joins it who is not the office's
registered staff, or another bot, is pointed out; a group that is no office's inbox is left.

Checked by the leading process at start (a task, so a slow Telegram does not hold the start)
and whenever the bot's own membership of a group changes (`my_chat_member`); joins come as
`chat_member` updates, which Telegram sends only to an administrator that asked for them
(bot/app.py ALLOWED_UPDATES). Staff are told in the group's General topic, in the office's
language, once per change (bot/services/group_checks.py, in memory); the log gets the group's id
and what is missing, never a name. Texts name people by their Telegram user id only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import LeaveChat, SendMessage, TelegramMethod
from aiogram.types import ChatMember, ChatMemberUpdated
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery.refusals import GroupRefusal, group_refusal
from bot.delivery.sender import Sender
from bot.delivery.texts.staff import office_locale
from bot.failures import log_failure
from bot.i18n import N_
from bot.languages import pick_shipped
from bot.once import Once
from bot.services import group_checks, inbox
from bot.services.group_checks import (
    Change,
    ChatKind,
    Lack,
    Membership,
    MemberStatus,
    Newcomer,
    Standing,
    Told,
)
from bot.services.people import find_by_telegram_id

logger = logging.getLogger(__name__)

# What a group lacks, one line each, under HEADER.
HEADER = N_("⚠️ This group is not yet ready for the bot's work. Please fix:")
LACK_LINES = {
    Lack.NOT_A_FORUM: N_(
        "Topics are off: turn on Topics in the group's settings (each case gets its own topic)."
    ),
    Lack.NOT_ADMIN: N_("The bot is not an administrator: make it one, with the rights below."),
    Lack.MANAGE_TOPICS: N_("Missing administrator right: Manage topics"),
    Lack.DELETE_MESSAGES: N_("Missing administrator right: Delete messages"),
    Lack.PIN_MESSAGES: N_("Missing administrator right: Pin messages"),
}
FIXED = N_("✅ The bot now has everything it needs in this group.")
NEWCOMERS = {
    Newcomer.NOT_STAFF: N_(
        "⚠️ A member who is not registered staff of {office} joined this group (user id "
        "{user_id}). Returnees' cases are discussed here: remove them unless they should be "
        "here; new staff are registered by your programme manager."
    ),
    Newcomer.BOT: N_(
        "⚠️ Another bot joined this group (user id {user_id}). It may see the cases discussed "
        "here: remove it unless you know why it is here."
    ),
}
FOREIGN_GROUP = N_(
    "This bot works only in the staff groups of its offices, and this group (chat id "
    "{chat_id}) is none of them, so it leaves. A programme manager can register the group "
    "and add the bot again."
)

GROUP_KINDS = (ChatKind.GROUP.value, ChatKind.SUPERGROUP.value)


class RawGetChat(TelegramMethod[dict[str, Any]]):
    """getChat whose answer stays plain JSON: only the chat's type and whether it is a forum are
    read (never its title), and a field aiogram's model would refuse cannot stop the check."""

    __returning__ = dict[str, Any]
    __api_method__ = "getChat"

    chat_id: int


class RawGetChatMember(TelegramMethod[dict[str, Any]]):
    """getChatMember whose answer stays plain JSON: aiogram's ChatMemberAdministrator requires
    rights the Bot API specification does not list, so its model could refuse a true answer."""

    __returning__ = dict[str, Any]
    __api_method__ = "getChatMember"

    chat_id: int
    user_id: int


def membership(raw: Mapping[str, Any]) -> Membership | None:
    """A ChatMember as the rules read it; a right Telegram leaves out is not granted."""
    try:
        status = MemberStatus(str(raw.get("status")))
    except ValueError:
        return None
    return Membership(
        status=status,
        is_member=raw.get("is_member") is True,
        can_manage_topics=raw.get("can_manage_topics") is True,
        can_delete_messages=raw.get("can_delete_messages") is True,
        can_pin_messages=raw.get("can_pin_messages") is True,
    )


def membership_of(member: ChatMember) -> Membership | None:
    return membership(member.model_dump())


class GroupHygiene:
    """The checks' Telegram side: asks Telegram, applies the rules, tells the group."""

    def __init__(
        self,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        i18n: I18n,
        sender: Sender,
    ) -> None:
        self.bot = bot
        self.sessionmaker = sessionmaker
        self.i18n = i18n
        self.sender = sender
        self.told = Told()
        self.task: asyncio.Task[None] | None = None
        # Set when the check of every group at start has ended (tests wait for it).
        self.checked = asyncio.Event()

    # ---- at start ------------------------------------------------------------------------------
    def start(self) -> None:
        """Check every office's inbox groups in the background."""
        self.checked.clear()
        self.task = asyncio.create_task(self.check_all(), name="homeward-group-checks")

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def check_all(self) -> None:
        try:
            await self._check_all()
        finally:
            self.checked.set()

    async def _check_all(self) -> None:
        try:
            async with self.sessionmaker() as session:
                groups = [
                    (chat_id, office_locale(office, self.i18n))
                    for office, chat_id in await group_checks.inbox_groups(session)
                ]
        except Exception as error:  # noqa: BLE001 - the next start, or a membership update, checks
            log_failure(logger, "listing the staff groups to check", error)
            return
        for chat_id, locale in groups:
            await self.check(chat_id, locale)

    # ---- one group -----------------------------------------------------------------------------
    async def standing(self, chat_id: int) -> Standing | None:
        """What Telegram says about the group and the bot in it; None if the bot is not there.
        Other failures (network, 5xx, 429, another refusal) are raised: nothing is known then."""
        try:
            chat = await self.bot(RawGetChat(chat_id=chat_id))
            member = await self.bot(RawGetChatMember(chat_id=chat_id, user_id=self.bot.id))
        except TelegramAPIError as error:
            if group_refusal(error) is GroupRefusal.REMOVED:
                return None  # removed, never added, or no such chat
            raise
        bot = membership(member)
        if bot is None:
            raise ValueError("getChatMember answered a status the Bot API does not list")
        return Standing(
            kind=ChatKind(str(chat.get("type"))), is_forum=chat.get("is_forum") is True, bot=bot
        )

    async def check(self, chat_id: int, locale: str) -> Change | None:
        """Ask Telegram about the group, and tell what changed since it was last told."""
        try:
            standing = await self.standing(chat_id)
        except Exception as error:  # noqa: BLE001 - unknown now; checked again on the next change
            # Not a warning: a group that refuses the bot's messages is warned about once, by
            # the sender (bot/delivery/outages.py).
            logger.info("staff group %s could not be checked: %s", chat_id, type(error).__name__)
            return None
        return await self.found(chat_id, group_checks.lacks(standing), locale)

    async def found(self, chat_id: int, missing: frozenset[Lack], locale: str) -> Change | None:
        change = self.told.change(chat_id, missing)
        if change is None:
            return None
        if change.fixed:
            logger.info("staff group %s: the bot has everything it needs", chat_id)
        elif not change.can_be_told_in_group:
            # Only the log can hear it; the sender warns once if messages wait for the group.
            logger.info("staff group %s: the bot is not in it", chat_id)
        else:
            logger.warning(
                "staff group %s: the bot lacks %s",
                chat_id,
                ", ".join(lack.value for lack in group_checks.in_order(missing)),
            )
        if change.can_be_told_in_group:
            await self.tell(chat_id, self.lacks_text(change, locale))
        return change

    def lacks_text(self, change: Change, locale: str) -> str:
        if change.fixed:
            return self.i18n.gettext(FIXED, locale=locale)
        lines = [self.i18n.gettext(HEADER, locale=locale)]
        lines += [
            "• " + self.i18n.gettext(LACK_LINES[lack], locale=locale)
            for lack in group_checks.in_order(change.missing)
        ]
        return "\n".join(lines)

    async def tell(self, chat_id: int, text: str) -> None:
        """A message in the group's General topic, counted against the group's window."""
        try:
            await self.sender.call(chat_id, SendMessage(chat_id=chat_id, text=text))
        except TelegramAPIError as error:
            logger.warning("staff group %s could not be told: %s", chat_id, type(error).__name__)

    async def leave(self, chat_id: int, locale: str) -> None:
        """One line in a group that is no office's inbox, then leave it."""
        logger.warning("group %s is no office's staff group: the bot leaves it", chat_id)
        text = self.i18n.gettext(FOREIGN_GROUP, locale=locale).format(chat_id=chat_id)
        await self.tell(chat_id, text)
        try:
            await self.bot(LeaveChat(chat_id=chat_id))
        except TelegramAPIError as error:
            logger.warning("group %s could not be left: %s", chat_id, type(error).__name__)


# ---- handlers ----------------------------------------------------------------------------------
async def bot_membership_changed(
    event: ChatMemberUpdated, session: AsyncSession, group_hygiene: GroupHygiene
) -> None:
    """The bot was added to a group, promoted, restricted or removed."""
    if event.chat.type not in GROUP_KINDS:
        return  # a private chat (blocked or unblocked) or a channel: not left, nothing to check
    new = membership_of(event.new_chat_member)
    office = await inbox.office_of_chat(session, event.chat.id)
    locale = (
        office_locale(office, group_hygiene.i18n)
        if office is not None
        else pick_shipped(event.from_user.language_code, group_hygiene.i18n.default_locale)
    )
    # Nothing is written; the connection goes back before Telegram is asked anything.
    await session.rollback()
    if office is None:
        if new is not None and new.present:
            await group_hygiene.leave(event.chat.id, locale)
        return
    if new is None or not new.present:
        await group_hygiene.found(event.chat.id, frozenset({Lack.NOT_IN_GROUP}), locale)
        return
    await group_hygiene.check(event.chat.id, locale)


async def member_changed(
    event: ChatMemberUpdated,
    session: AsyncSession,
    group_hygiene: GroupHygiene,
    once: Once,
) -> None:
    """Someone else's membership changed: a newcomer who is not the office's staff is named by
    their user id, once."""
    if event.chat.type not in GROUP_KINDS:
        return
    user = event.new_chat_member.user
    old, new = membership_of(event.old_chat_member), membership_of(event.new_chat_member)
    if user.id == group_hygiene.bot.id or old is None or new is None:
        return
    if not group_checks.joined(old, new):
        return
    office = await inbox.office_of_chat(session, event.chat.id)
    if office is None:
        return
    person = None if user.is_bot else await find_by_telegram_id(session, user.id)
    found = group_checks.newcomer(office, person, is_bot=user.is_bot)
    locale = office_locale(office, group_hygiene.i18n)
    office_name = office.name
    await session.rollback()
    # A join delivered twice (a restart before it was confirmed) is told once.
    if found is None or not once.first_time(("joined", event.chat.id, user.id, event.date)):
        return
    logger.warning("staff group %s: %s joined", event.chat.id, found.value)
    text = group_hygiene.i18n.gettext(NEWCOMERS[found], locale=locale)
    await group_hygiene.tell(event.chat.id, text.format(office=office_name, user_id=user.id))


def build_router() -> Router:
    router = Router(name="group_hygiene")
    router.my_chat_member.register(bot_membership_changed)
    router.chat_member.register(member_changed)
    return router
