"""Reading updates one by one, leniently, and never logging what they contain.

aiogram parses a whole getUpdates answer at once: one update it cannot read (for example a
forward from a hidden account without `sender_user_name`, aiogram#1840) fails the batch, and
the error quotes the update. Here the answer is taken as plain JSON and each update is read on
its own. A field aiogram cannot read is left out and the rest is handled; an update that still
cannot be read is skipped, recorded by its id and the names of the fields, never their values.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from aiogram import Bot
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from pydantic import ValidationError

logger = logging.getLogger(__name__)

# Each repair leaves out one field; an update needing more than this is not worth guessing at.
MAX_REPAIRS = 8
# Fields that decide where a message goes: never left out, only cut down to the ids that route
# (a staff reply to a counsellor's message must not go to the returnee for want of it).
ROUTING = frozenset({"reply_to_message"})
ROUTING_KEEPS = ("message_id", "date", "chat")


class RawGetUpdates(TelegramMethod[list[dict[str, Any]]]):
    """getUpdates whose answer stays plain JSON, so that it is read update by update."""

    __returning__ = list[dict[str, Any]]
    __api_method__ = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


def update_id_of(raw: object) -> int | None:
    if isinstance(raw, dict):
        update_id = raw.get("update_id")
        if isinstance(update_id, int) and not isinstance(update_id, bool):
            return update_id
    return None


def _unreadable_field(error: ValidationError) -> tuple[str, str] | None:
    """The field of the update's event (message, callback...) that holds the first problem."""
    for problem in error.errors(include_input=False, include_url=False, include_context=False):
        location = problem["loc"]
        if len(location) >= 2 and isinstance(location[0], str) and isinstance(location[1], str):
            return location[0], location[1]
    return None


# A ChatMember's administrator rights: the Bot API leaves out a right that is not granted, and
# aiogram may require one the specification does not list (can_send_welcome_messages); read
# as not granted, so that a bot's promotion or demotion is still handled.
MEMBER_EVENTS = frozenset({"my_chat_member", "chat_member"})
MEMBER_FIELDS = frozenset({"old_chat_member", "new_chat_member"})


def _absent_right(error: ValidationError) -> tuple[str, str, str] | None:
    """(event, member field, right) of the first right missing from a ChatMember."""
    for problem in error.errors(include_input=False, include_url=False, include_context=False):
        location = problem["loc"]
        if (
            problem["type"] == "missing"
            and len(location) == 4
            and location[0] in MEMBER_EVENTS
            and location[1] in MEMBER_FIELDS
            and location[2] == "administrator"
            and isinstance(location[3], str)
            and location[3].startswith("can_")
        ):
            return location[0], location[1], location[3]
    return None


def read_update(raw: object, bot: Bot) -> Update | None:
    """The update as aiogram's model, with unreadable fields left out; None if it cannot be."""
    update_id = update_id_of(raw)
    if update_id is None:
        logger.warning("an update without an id was skipped")
        return None
    assert isinstance(raw, dict)
    candidate: dict[str, Any] = raw
    left_out: list[str] = []
    for _ in range(MAX_REPAIRS + 1):
        try:
            update = Update.model_validate(candidate, context={"bot": bot})
        except ValidationError as error:
            right = _absent_right(error)
            holder = candidate.get(right[0]) if right else None
            member = holder.get(right[1]) if right and isinstance(holder, dict) else None
            if right is not None and isinstance(member, dict) and right[2] not in member:
                if candidate is raw:
                    candidate = copy.deepcopy(raw)
                candidate[right[0]][right[1]][right[2]] = False
                continue
            field = _unreadable_field(error)
            event = candidate.get(field[0]) if field else None
            if field is None or not isinstance(event, dict) or field[1] not in event:
                break
            if candidate is raw:
                candidate = copy.deepcopy(raw)
            event = candidate[field[0]]
            if field[1] in ROUTING:
                nested = event[field[1]]
                kept = (
                    {key: nested[key] for key in ROUTING_KEEPS if key in nested}
                    if isinstance(nested, dict)
                    else {}
                )
                if kept == nested or set(kept) != set(ROUTING_KEEPS):
                    break  # even its ids cannot be read: better not handled than misrouted
                event[field[1]] = kept
            else:
                del event[field[1]]
            left_out.append(".".join(field))
            continue
        if left_out:
            logger.warning(
                "update %s: unreadable fields left out: %s", update_id, ", ".join(left_out)
            )
        return update
    logger.warning("update %s could not be read and was skipped", update_id)
    return None
