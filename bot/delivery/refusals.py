"""Which of Telegram's refusals concern a staff group, and which concern one message.

A refusal that concerns the group (the bot removed, or lacking a right) says nothing about the
message: the group's work waits until the group is fixed. Only a refusal of the message itself
may fail an item. Telegram's descriptions are matched here and never logged: they may quote
what a person wrote.
"""

from __future__ import annotations

import enum

from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError

# The bot is not in the group (any more), or the group is not there.
_REMOVED = (
    "bot was kicked",
    "bot is not a member",
    "chat not found",
    "group chat was deactivated",
)
# The bot is in the group but may not do what it must: post, open topics, post in a closed one.
_RIGHTS = (
    "not enough rights",
    "have no rights",
    "chat_admin_required",
    "need administrator rights",
    "chat_write_forbidden",
    "chat_restricted",
    "topic_closed",  # a bot with Manage topics may post in a closed topic; this one may not
    "not a forum",  # Topics were turned off
)


class GroupRefusal(enum.StrEnum):
    REMOVED = "removed"  # add the bot to the group again, as an administrator
    RIGHTS = "rights"  # give the bot its administrator rights (and turn Topics on)


def group_refusal(error: TelegramAPIError) -> GroupRefusal | None:
    """How a staff group's refusal concerns the group itself; None if it concerns the message."""
    text = error.message.lower()
    if any(words in text for words in _RIGHTS):
        return GroupRefusal.RIGHTS
    if isinstance(error, TelegramForbiddenError) or any(words in text for words in _REMOVED):
        # Every 403 from a group is about the bot's place in it, never about one message.
        return GroupRefusal.REMOVED
    return None
