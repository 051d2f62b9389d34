"""What the bot does with programme questions: answers, suggestions to staff, danger alerts.

A returnee's message always reaches the office; this only adds to it. Danger phrases come first
and are acted on whatever the office's setting: the returnee gets the safety answer at once and the
topic gets an urgent alert naming the staff who must look.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.knowledge.base import DANGER_ENTRY, KnowledgeBase
from bot.knowledge.facts import Facts, Gettext, collect
from bot.languages import laid_out_for
from bot.services import audit, budget, ledger, relay
from bot.services.cases import returnee_language
from bot.services.inbox import alerted_staff
from storage.models import Case, KnowledgeMode, Office


@dataclass(frozen=True)
class StaffLookup:
    """What staff asked for with /kb: a programme answer by its id, or answers that may fit."""

    entry_id: str | None = None
    suggestions: tuple[str, ...] = ()


def look_up_for_staff(
    knowledge: KnowledgeBase, wanted: str, staff_language: str, limit: int = 5
) -> StaffLookup:
    """Only entries written for returnees: what staff pick here goes to the returnee."""
    wanted = wanted.strip()
    if knowledge.for_audience(wanted.lower(), "returnee"):
        return StaffLookup(entry_id=wanted.lower())
    if not wanted:
        return StaffLookup()
    # In the office's language first; staff often type the English word as well.
    matches = knowledge.search(
        staff_language, wanted, limit, audience="returnee"
    ) or knowledge.search("en", wanted, limit, audience="returnee")
    return StaffLookup(suggestions=tuple(m.entry_id for m in matches))


@dataclass(frozen=True)
class Reaction:
    entry_id: str | None = None  # the entry whose answer the returnee gets now, if any
    danger: bool = False


async def facts_for(
    session: AsyncSession,
    case: Case | None,
    office: Office | None,
    locale: str,
    gettext: Gettext,
    *,
    for_returnee: bool,
) -> Facts:
    """The data answers are filled with, for this reader: their case's, or general words.

    What is left of a budget is the returnee's own business: anyone else gets general words."""
    return collect(
        office=office,
        categories=await budget.categories(session, case.programme if case else None),
        remaining=await ledger.remaining(session, case) if case and for_returnee else None,
        locale=locale,
        gettext=gettext,
    )


async def alert_danger(
    session: AsyncSession, case: Case, *, edit: relay.Incoming | None = None, revision: int = 0
) -> Reaction:
    """An urgent alert in the case's topic; the returnee is to get the safety answer at once.

    For an `edit` (that version of the message), once however often Telegram delivers it."""
    mentions = await alerted_staff(session, case)
    if edit is None:
        await relay.notice(session, case, "danger", mentions=mentions)
    elif (
        await relay.notice_about(
            session, case, "danger", edit, revision=revision, mentions=mentions
        )
    ).again:
        return Reaction()
    audit.record(session, "knowledge.danger_alert", case_id=case.id, office_id=case.office_id)
    return Reaction(entry_id=DANGER_ENTRY, danger=True)


async def returnee_wrote(
    session: AsyncSession,
    knowledge: KnowledgeBase,
    case: Case,
    text: str,
    *,
    staff_language: str,
) -> Reaction:
    """React to a returnee's words after they were queued for the topic."""
    language = returnee_language(case)
    # The case's language too: a returnee may read the menus in English and write in Romanian.
    if knowledge.signals_danger((language, case.language), text):
        return await alert_danger(session, case)
    mode = case.office.knowledge_mode
    if mode is KnowledgeMode.OFF:
        return Reaction()
    match = knowledge.confident_match(language, text, audience="returnee")
    if match is None:
        return Reaction()
    answered = mode is KnowledgeMode.ANSWER
    await relay.notice(
        session,
        case,
        "knowledge_answered" if answered else "knowledge_suggested",
        entry=match.entry_id,
        question=knowledge.text(staff_language, match.entry_id).question,
    )
    audit.record(
        session,
        "knowledge.answered" if answered else "knowledge.suggested",
        case_id=case.id,
        office_id=case.office_id,
    )
    return Reaction(entry_id=match.entry_id if answered else None)


async def answer_text(
    session: AsyncSession,
    knowledge: KnowledgeBase,
    entry_id: str,
    *,
    case: Case | None,
    office: Office | None,
    locale: str,
    gettext: Gettext,
    for_returnee: bool,
) -> str:
    """An entry's question and answer in the reader's language, filled from their data."""
    text = knowledge.text(locale, entry_id)
    facts = await facts_for(session, case, office, locale, gettext, for_returnee=for_returnee)
    return laid_out_for(f"{text.question}\n\n{facts.fill(text.answer)}", locale)
