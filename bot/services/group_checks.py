"""Staff-group hygiene: what an office's inbox group lacks for the bot to work there, who joined
it that should not have, and when staff are told (once per change, never at every start).

The rules only: what Telegram says about the group and the bot's membership comes in as
`Standing` (read by bot/handlers/group_hygiene.py), and what to tell comes out as plain values.
What was last told is kept in memory (`Told`): a restart, or a new leading process, tells once
more what is still missing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.services.inbox import may_act
from storage.models import Office, Person


class MemberStatus(enum.StrEnum):
    """A chat member's status, in the Bot API's words (ChatMember.status)."""

    CREATOR = "creator"
    ADMINISTRATOR = "administrator"
    MEMBER = "member"
    RESTRICTED = "restricted"
    LEFT = "left"
    KICKED = "kicked"


class ChatKind(enum.StrEnum):
    """A chat's type, in the Bot API's words (Chat.type)."""

    PRIVATE = "private"
    GROUP = "group"
    SUPERGROUP = "supergroup"
    CHANNEL = "channel"


class Lack(enum.StrEnum):
    """Something an inbox group lacks for the bot to do its work there, in the order told."""

    NOT_IN_GROUP = "not_in_group"  # the bot is not a member: nobody can be told in the group
    NOT_A_FORUM = "not_a_forum"  # Topics are off (or a basic group): no topic per case
    NOT_ADMIN = "not_admin"
    MANAGE_TOPICS = "manage_topics"  # ChatMemberAdministrator.can_manage_topics
    DELETE_MESSAGES = "delete_messages"  # ChatMemberAdministrator.can_delete_messages
    PIN_MESSAGES = "pin_messages"  # ChatMemberAdministrator.can_pin_messages


RIGHTS = (Lack.MANAGE_TOPICS, Lack.DELETE_MESSAGES, Lack.PIN_MESSAGES)


@dataclass(frozen=True)
class Membership:
    """One member's place in a chat: their status and, for an administrator, the rights the
    bot needs. A right Telegram does not mention is not granted."""

    status: MemberStatus
    is_member: bool = False  # ChatMemberRestricted only: still in the chat
    can_manage_topics: bool = False
    can_delete_messages: bool = False
    can_pin_messages: bool = False

    @property
    def present(self) -> bool:
        """In the chat, whatever their rights."""
        if self.status is MemberStatus.RESTRICTED:
            return self.is_member
        return self.status in (
            MemberStatus.CREATOR,
            MemberStatus.ADMINISTRATOR,
            MemberStatus.MEMBER,
        )


@dataclass(frozen=True)
class Standing:
    """What Telegram says about an inbox group and the bot's place in it."""

    kind: ChatKind
    is_forum: bool
    bot: Membership


def lacks(standing: Standing | None) -> frozenset[Lack]:
    """What the group lacks; `None` when Telegram would not tell (the bot is not in the chat)."""
    if standing is None or not standing.bot.present:
        return frozenset({Lack.NOT_IN_GROUP})
    missing: set[Lack] = set()
    if standing.kind is not ChatKind.SUPERGROUP or not standing.is_forum:
        missing.add(Lack.NOT_A_FORUM)
    bot = standing.bot
    if bot.status is MemberStatus.CREATOR:
        return frozenset(missing)  # every right (a bot cannot create a group; for completeness)
    if bot.status is not MemberStatus.ADMINISTRATOR:
        # Not an administrator: it has none of the rights; each is named so staff know what
        # to tick when they promote it.
        return frozenset(missing | {Lack.NOT_ADMIN, *RIGHTS})
    if not bot.can_manage_topics:
        missing.add(Lack.MANAGE_TOPICS)
    if not bot.can_delete_messages:
        missing.add(Lack.DELETE_MESSAGES)
    if not bot.can_pin_messages:
        missing.add(Lack.PIN_MESSAGES)
    return frozenset(missing)


def in_order(missing: frozenset[Lack]) -> list[Lack]:
    return [lack for lack in Lack if lack in missing]


@dataclass(frozen=True)
class Change:
    """What to tell about a group whose lacks changed since they were last told."""

    chat_id: int
    missing: frozenset[Lack]

    @property
    def fixed(self) -> bool:
        """Nothing is missing any more (and something was before)."""
        return not self.missing

    @property
    def can_be_told_in_group(self) -> bool:
        return Lack.NOT_IN_GROUP not in self.missing


class Told:
    """What each group was last told it lacks, in memory only (one process's)."""

    def __init__(self) -> None:
        self._last: dict[int, frozenset[Lack]] = {}

    def change(self, chat_id: int, missing: frozenset[Lack]) -> Change | None:
        """The change to tell, or None if this is what was last told. The first look at a group
        that lacks nothing is no change: there is nothing to tell."""
        before = self._last.get(chat_id, frozenset())
        self._last[chat_id] = missing
        if missing == before:
            return None
        return Change(chat_id, missing)

    def last(self, chat_id: int) -> frozenset[Lack] | None:
        return self._last.get(chat_id)


def joined(old: Membership, new: Membership) -> bool:
    """The member was not in the chat and now is."""
    return not old.present and new.present


class Newcomer(enum.Enum):
    """Someone who joined an office's inbox group and should be looked at."""

    NOT_STAFF = "a member who is not registered staff of the office"
    BOT = "another bot"


def newcomer(office: Office, person: Person | None, *, is_bot: bool) -> Newcomer | None:
    """Whether a member who just joined the office's group should be reported: another bot
    always, a person unless they are the office's registered staff."""
    if is_bot:
        return Newcomer.BOT
    return None if may_act(person, office) else Newcomer.NOT_STAFF


async def inbox_groups(session: AsyncSession) -> list[tuple[Office, int]]:
    """Every office's inbox groups (Office.inbox_chat_ids), office by office."""
    offices = await session.scalars(
        select(Office).options(selectinload(Office.extra_inboxes)).order_by(Office.id)
    )
    return [(office, chat_id) for office in offices for chat_id in office.inbox_chat_ids()]
