"""Saved replies: an office's ready answers, one text per language, sent with /s <name>."""

from __future__ import annotations

import enum
import re

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
