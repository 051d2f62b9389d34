"""Status updates and the reintegration plan: written by the office's staff in the case's topic,
checked for what must never leave the office (bot/services/disclosure.py), previewed exactly as
each counsellor will read it, and only then confirmed and sent.

A row starts as a draft; `confirm` is the one step that makes it count: a status update goes to
the case's counsellors, a plan becomes the case's current plan and goes to them too. A draft can
be confirmed once (a conditional update), by the case's office's staff only."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import audit, counsellor_news, disclosure, lifecycle, relay
from bot.services.clock import utcnow
from bot.services.errors import RuleViolation
from bot.services.inbox import may_act
from storage.models import (
    Case,
    CaseUpdate,
    OutboxKind,
    Person,
    Role,
    UpdateKind,
    case_counsellors,
)

# The documents' milestones, in the order a case usually meets them.
STATUSES: tuple[str, ...] = (
    "arrived",
    "settling_in",
    "housing_found",
    "training_started",
    "business_started",
    "payout_made",
    "needs_follow_up",
    "hard_to_reach",
    "case_closed",
)
NOTE_LIMIT = 300
PLAN_LIMIT = 2000


@dataclass(frozen=True)
class Checked:
    """A text staff wrote, and what in it must not leave the office (empty: it may)."""

    text: str
    findings: list[disclosure.Finding]

    @property
    def clean(self) -> bool:
        return not self.findings


async def names_around(session: AsyncSession, case: Case) -> tuple[list[str], list[str]]:
    """Names the check knows: those that must not go (the office's staff, other cases'
    counsellors) and those that may (this case's counsellors, who get the text)."""
    own = set(
        await session.scalars(
            select(case_counsellors.c.person_id).where(case_counsellors.c.case_id == case.id)
        )
    )
    people = await session.execute(
        select(Person.id, Person.display_name).where(
            Person.display_name.is_not(None),
            (Person.office_id == case.office_id) | (Person.role == Role.COUNSELLOR),
        )
    )
    known: list[str] = []
    allowed: list[str] = []
    for person_id, name in people.all():
        if name:
            (allowed if person_id in own else known).append(name)
    return known, allowed


async def check(session: AsyncSession, case: Case, text: str) -> Checked:
    known, allowed = await names_around(session, case)
    return Checked(text, disclosure.findings(text, known_names=known, allowed_names=allowed))


def staff_of(case: Case, staff: Person) -> None:
    if not may_act(staff, case.office):
        raise RuleViolation("only the case's office's staff write its updates")


def _open(case: Case) -> None:
    if not lifecycle.is_open(case):
        raise RuleViolation(f"case {case.code} is {case.status.value}")


async def draft_status(session: AsyncSession, case: Case, staff: Person, status: str) -> CaseUpdate:
    staff_of(case, staff)
    _open(case)
    if status not in STATUSES:
        raise RuleViolation(f"unknown status {status!r}")
    draft = CaseUpdate(
        case_id=case.id,
        kind=UpdateKind.STATUS,
        status=status,
        author_id=staff.id,
        created_at=utcnow(),
        cancelled=False,
    )
    session.add(draft)
    await session.flush()
    return draft


async def draft_plan(session: AsyncSession, case: Case, staff: Person, text: str) -> Checked:
    """A new version of the plan, checked; the draft is kept only if nothing must be removed
    (`draft` then returns it)."""
    staff_of(case, staff)
    _open(case)
    text = text.strip()
    if not text:
        raise RuleViolation("a plan needs words")
    if len(text) > PLAN_LIMIT:
        raise RuleViolation(f"a plan has at most {PLAN_LIMIT} characters")
    return await check(session, case, text)


async def keep_plan(
    session: AsyncSession, case: Case, staff: Person, checked: Checked
) -> CaseUpdate:
    staff_of(case, staff)
    if not checked.clean:
        raise RuleViolation("the plan holds what must not leave the office")
    draft = CaseUpdate(
        case_id=case.id,
        kind=UpdateKind.PLAN,
        text=checked.text,
        author_id=staff.id,
        created_at=utcnow(),
        cancelled=False,
    )
    session.add(draft)
    await session.flush()
    return draft


def must_wait(draft: CaseUpdate) -> None:
    """A draft still to be decided: neither sent nor cancelled."""
    if draft.confirmed_at is not None or draft.cancelled:
        raise RuleViolation("the update is sent or cancelled already")


async def _draft(session: AsyncSession, case: Case, update_id: int) -> CaseUpdate:
    draft = await session.get(CaseUpdate, update_id)
    if draft is None or draft.case_id != case.id:
        raise RuleViolation("no such update on this case")
    must_wait(draft)
    return draft


async def add_note(
    session: AsyncSession, case: Case, staff: Person, update_id: int, text: str
) -> Checked:
    """The note of a status update: kept only when nothing in it must be removed."""
    staff_of(case, staff)
    draft = await _draft(session, case, update_id)
    if draft.kind is not UpdateKind.STATUS:
        raise RuleViolation("only a status update has a note")
    text = text.strip()
    if not text:
        raise RuleViolation("an empty note")
    if len(text) > NOTE_LIMIT:
        raise RuleViolation(f"a note has at most {NOTE_LIMIT} characters")
    checked = await check(session, case, text)
    if checked.clean:
        draft.text = text
    return checked


async def set_prompt(session: AsyncSession, update_id: int, message_id: int) -> None:
    draft = await session.get(CaseUpdate, update_id)
    if draft is not None:
        draft.prompt_message_id = message_id


async def prompted(session: AsyncSession, case: Case, message_id: int) -> CaseUpdate | None:
    """The draft whose note the bot asked for in this message, if it still waits."""
    return await session.scalar(
        select(CaseUpdate).where(
            CaseUpdate.case_id == case.id,
            CaseUpdate.prompt_message_id == message_id,
            CaseUpdate.confirmed_at.is_(None),
            CaseUpdate.cancelled.is_(False),
        )
    )


async def confirm(session: AsyncSession, case: Case, staff: Person, update_id: int) -> int:
    """Staff saw the preview and confirmed: the update counts and goes to the counsellors.
    How many counsellors it was queued for. Pressing twice, or after a cancel, does nothing
    (RuleViolation)."""
    staff_of(case, staff)
    _open(case)
    draft = await _draft(session, case, update_id)
    if draft.text is not None and not (await check(session, case, draft.text)).clean:
        # Names known to the check may have changed since the draft (a new staff member).
        raise RuleViolation("the text holds what must not leave the office")
    now = utcnow()
    claimed = await session.execute(
        update(CaseUpdate)
        .where(
            CaseUpdate.id == draft.id,
            CaseUpdate.confirmed_at.is_(None),
            CaseUpdate.cancelled.is_(False),
        )
        .values(confirmed_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise RuleViolation("the update is sent or cancelled already")
    draft.confirmed_at = now
    audit.record(
        session,
        f"update.{draft.kind.value}",
        actor_id=staff.id,
        case_id=case.id,
        office_id=case.office_id,
    )
    told = await counsellor_news.update(session, case, draft.id)
    if draft.kind is UpdateKind.PLAN:
        await relay.topic_work(session, case, OutboxKind.CARD)  # the card shows the plan
    # The status update is itself the counsellors' message: the lifecycle's own event is not
    # sent as well.
    if draft.status == "arrived" and case.returned_on is None:
        await lifecycle.returned(session, case, now.date(), staff, tell=False)
    elif draft.status == "case_closed":
        await lifecycle.close(session, case, now.date(), staff, tell=False)
    return told


async def cancel(session: AsyncSession, case: Case, staff: Person, update_id: int) -> None:
    staff_of(case, staff)
    draft = await _draft(session, case, update_id)
    draft.cancelled = True


async def current_plan(session: AsyncSession, case: Case) -> CaseUpdate | None:
    return await session.scalar(
        select(CaseUpdate)
        .where(
            CaseUpdate.case_id == case.id,
            CaseUpdate.kind == UpdateKind.PLAN,
            CaseUpdate.confirmed_at.is_not(None),
        )
        .order_by(CaseUpdate.confirmed_at.desc(), CaseUpdate.id.desc())
        .limit(1)
    )
