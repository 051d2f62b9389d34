"""Saved replies: an office's ready answers, one text per language, sent with /s <name>."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.languages import is_known_language, normalise
from bot.services import audit
from bot.services.errors import RuleViolation
from bot.services.offices import get_office
from storage.models import Office, SavedReply

_NAME = re.compile(r"^[a-z0-9_-]{1,32}$")
# Words of the /s command itself, so they cannot name a reply.
RESERVED = frozenset({"save", "delete"})


MAX_TEXT = 3500


class Problem(enum.Enum):
    """What is wrong with a saved reply, so each place can say it in its own words."""

    NAME = "reply name must be 1-32 of a-z, 0-9, _ and -, and not save or delete"
    LANGUAGE = "language is not a language code, e.g. ro"
    TEXT = f"a saved reply needs 1-{MAX_TEXT} characters of text"


class SavedReplyRefused(RuleViolation):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True)
class ListReplies:
    """/s: which saved replies the office has."""


@dataclass(frozen=True)
class SendReply:
    """/s <name>: send one to the returnee, in their language."""

    name: str


@dataclass(frozen=True)
class SaveReply:
    """/s save <name> <language> <text>"""

    name: str
    language: str
    text: str


@dataclass(frozen=True)
class DeleteReply:
    """/s delete <name> [<language>]: in one language, or in all."""

    name: str
    language: str | None


@dataclass(frozen=True)
class Unfinished:
    """/s save or /s delete without what it needs."""


Command = ListReplies | SendReply | SaveReply | DeleteReply | Unfinished
# Commands that change the office's saved replies rather than use them: they need no case.
Managing = SaveReply | DeleteReply | Unfinished


def parse_command(args: str | None) -> Command:
    """What follows /s. A name is kept as typed; the text keeps its inner spacing."""
    words = (args or "").split(maxsplit=3)
    action = words[0].lower() if words else ""
    if action == "save":
        return SaveReply(*words[1:4]) if len(words) == 4 else Unfinished()
    if action == "delete":
        if len(words) < 2:
            return Unfinished()
        return DeleteReply(words[1], words[2] if len(words) > 2 else None)
    name = (args or "").strip()
    return SendReply(name) if name else ListReplies()


async def save(
    session: AsyncSession, *, office_code: str, name: str, language: str, text: str
) -> SavedReply:
    """Add the text for one language, or replace it."""
    office = await get_office(session, office_code)
    name = name.strip().lower()
    if not _NAME.match(name) or name in RESERVED:
        raise SavedReplyRefused(Problem.NAME)
    code = normalise(language)
    if not code or not is_known_language(code):
        raise SavedReplyRefused(Problem.LANGUAGE)
    if not text.strip() or len(text) > MAX_TEXT:
        raise SavedReplyRefused(Problem.TEXT)
    reply = await session.scalar(
        select(SavedReply).where(
            SavedReply.office_id == office.id, SavedReply.name == name, SavedReply.language == code
        )
    )
    if reply is None:
        reply = SavedReply(office_id=office.id, name=name, language=code, text=text.strip())
        session.add(reply)
    else:
        reply.text = text.strip()
    audit.record(session, "saved_reply.saved", office_id=office.id)
    return reply


async def names(session: AsyncSession, office: Office) -> list[str]:
    rows = await session.scalars(
        select(SavedReply.name).where(SavedReply.office_id == office.id).distinct()
    )
    return sorted(rows)


async def pick(
    session: AsyncSession, office: Office, name: str, language: str
) -> SavedReply | None:
    """The text in the returnee's language, else in the office's languages in order."""
    texts = {
        reply.language: reply
        for reply in await session.scalars(
            select(SavedReply).where(
                SavedReply.office_id == office.id, SavedReply.name == name.strip().lower()
            )
        )
    }
    for code in (language, *office.languages):
        if code in texts:
            return texts[code]
    return next(iter(texts.values()), None)


async def delete(session: AsyncSession, office: Office, name: str, language: str | None) -> int:
    """Remove a saved reply in one language, or in all; returns how many texts went."""
    query = select(SavedReply).where(
        SavedReply.office_id == office.id, SavedReply.name == name.strip().lower()
    )
    if language:
        query = query.where(SavedReply.language == normalise(language))
    replies = list(await session.scalars(query))
    for reply in replies:
        await session.delete(reply)
    if replies:
        audit.record(session, "saved_reply.deleted", office_id=office.id)
    return len(replies)
