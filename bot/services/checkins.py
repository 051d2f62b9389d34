"""Monthly check-ins after return: planned as rows, asked when due, reminded, acted on.

International guidelines (../shared/domain.md): ask monthly for the first three months, then
twice more at three-month intervals, and stop after a year. Each check-in is a row; the sweep
(bot/scheduled.py) claims what is due with a conditional update, in the same transaction that
queues the message, so two processes never ask the same one and a crash loses none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import audit, counsellor_news, relay
from bot.services.case_rows import case_by_id, returnee_language
from bot.services.checkin_times import next_allowed, schedule, send_moment, working_day_after
from bot.services.clock import as_utc, utcnow
from bot.services.consent import has_consent
from bot.services.errors import RuleViolation
from bot.services.inbox import alerted_staff, may_act
from bot.services.outbox import NewsButton, NewsPayload, NoticeButton, queue_news
from storage.models import (
    Case,
    CaseStatus,
    CheckIn,
    CheckInAlert,
    CheckInStatus,
    Person,
    ProgrammeSchedule,
)

MONTHS = (1, 2, 3, 6, 9)
ON, PAUSED, STOPPED = "on", "paused", "stopped"
REMIND_AFTER_DAYS = (3, 7)
MISSED_AFTER_DAYS = 10
BATCH = 100  # one write transaction each: short, so other writers are not kept waiting

# Each question, its answers (the first of a question's answers listed is the good one), and
# which answers raise an alert in the topic.
QUESTIONS: dict[str, tuple[str, ...]] = {
    "feeling": ("good", "so_so", "bad"),
    "safe": ("yes", "no", "talk"),
    "housing": ("fine", "problems", "none"),
    "activity": ("going_well", "difficult", "not_started"),
    "money": ("yes", "partly", "no", "none_planned"),
    "contact": ("no", "yes"),
}
ALERTING = {("safe", "no"), ("safe", "talk"), ("money", "no"), ("money", "partly")}
NOTE_LIMIT = 1000


def _office_holidays(case: Case) -> set[date]:
    return {date.fromisoformat(day) for day in case.office.holidays}


def _eligible(case: Case) -> bool:
    return (
        case.return_date is not None
        and case.returnee_id is not None
        and case.status not in (CaseStatus.CLOSED, CaseStatus.DROPPED_OUT)
        and has_consent(case)
        and case.checkins == ON
    )


async def months_of(session: AsyncSession, programme: str | None) -> tuple[int, ...]:
    """The months after return a programme asks in; the guidelines' by default."""
    if programme is None:
        return MONTHS
    row = await session.get(ProgrammeSchedule, programme)
    return tuple(row.checkin_months) if row is not None else MONTHS


async def set_months(session: AsyncSession, programme: str, months: Sequence[int]) -> int:
    """A programme's own schedule (never past a year); its cases' plans follow at once.
    Returns how many check-ins were planned, moved or dropped."""
    wanted = sorted(set(months))
    if not wanted or any(not 1 <= m <= 12 for m in wanted):
        raise RuleViolation("check-in months are 1 to 12 after the return")
    row = await session.get(ProgrammeSchedule, programme)
    if row is None:
        session.add(ProgrammeSchedule(programme=programme, checkin_months=wanted))
    else:
        row.checkin_months = wanted
    await session.flush()
    changed = 0
    for case_id in await session.scalars(
        select(Case.id).where(Case.programme == programme, Case.return_date.is_not(None))
    ):
        changed += await plan(session, await case_by_id(session, case_id), wanted)
    audit.record(session, "checkins.months_set")
    return changed


async def plan(session: AsyncSession, case: Case, months: Sequence[int] | None = None) -> int:
    """Rows for the case's check-ins from its return date (the programme's months); those not
    yet asked move with a changed return date, and a month the programme no longer asks in is
    dropped. Returns how many are planned, moved or dropped."""
    if case.return_date is None:
        return 0
    if months is None:
        months = await months_of(session, case.programme)
    existing = {
        row.month: row
        for row in await session.scalars(select(CheckIn).where(CheckIn.case_id == case.id))
    }
    holidays = _office_holidays(case)
    changed = 0
    for month, day in zip(sorted(set(months)), schedule(case.return_date, months), strict=True):
        due = send_moment(day, timezone=case.office.timezone, holidays=holidays, spread_key=case.id)
        row = existing.get(month)
        if row is None:
            session.add(CheckIn(case_id=case.id, month=month, due_at=due, reminders=0))
            changed += 1
        elif row.status is CheckInStatus.SCHEDULED and row.due_at != due:
            row.due_at = due
            changed += 1
    for month, row in existing.items():
        if month not in months and row.status is CheckInStatus.SCHEDULED:
            row.status = CheckInStatus.CANCELLED
            changed += 1
    if changed:
        audit.record(session, "checkins.planned", case_id=case.id)
    return changed


async def cancel(session: AsyncSession, case: Case) -> None:
    """A closed case, or one whose returnee withdrew consent, is asked nothing more."""
    await session.execute(
        update(CheckIn)
        .where(
            CheckIn.case_id == case.id,
            CheckIn.status.in_((CheckInStatus.SCHEDULED, CheckInStatus.ASKED)),
        )
        .values(status=CheckInStatus.CANCELLED)
    )


async def _claim(
    session: AsyncSession, check_in_id: int, frm: CheckInStatus, to: CheckInStatus, **values: object
) -> bool:
    done = await session.execute(
        update(CheckIn)
        .where(CheckIn.id == check_in_id, CheckIn.status == frm)
        .values(status=to, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


async def _due(session: AsyncSession, *conditions: object) -> list[int]:
    """Ids of rows that match, oldest first; on PostgreSQL rows another sweep holds are
    passed over (SKIP LOCKED), and the conditional update settles any race on SQLite."""
    query = select(CheckIn.id).where(*conditions).order_by(CheckIn.due_at).limit(BATCH)  # type: ignore[arg-type]
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(await session.scalars(query))


async def ask_due(session: AsyncSession, now: datetime) -> int:
    """Queue the check-ins due at `now`, a batch at most; each is claimed once. Returns how
    many were claimed (asked, or cancelled for a case that may no longer be asked)."""
    claimed = 0
    for check_in_id in await _due(
        session, CheckIn.status == CheckInStatus.SCHEDULED, CheckIn.due_at <= now
    ):
        if not await _claim(
            session, check_in_id, CheckInStatus.SCHEDULED, CheckInStatus.ASKED, asked_at=now
        ):
            continue
        claimed += 1
        check_in = await session.get(CheckIn, check_in_id, populate_existing=True)
        assert check_in is not None
        case = await case_by_id(session, check_in.case_id)
        if not _eligible(case) or case.returnee is None:
            check_in.status = CheckInStatus.CANCELLED
            continue
        await _ask(session, case, case.returnee, check_in, "checkin")
        audit.record(session, "checkin.asked", case_id=case.id)
    return claimed


async def _ask(
    session: AsyncSession, case: Case, returnee: Person, check_in: CheckIn, news: str
) -> None:
    await queue_news(
        session,
        case,
        returnee,
        NewsPayload(
            news=news,
            language=returnee_language(case),
            buttons=[NewsButton(action="checkin", target=check_in.id)],
        ),
    )


async def remind_or_miss(session: AsyncSession, now: datetime) -> int:
    """Reminders 3 and 7 days after asking; after 10 days the check-in is missed and the
    topic is told. Each step is claimed by a conditional update, so it happens once."""
    done = 0
    first, second = (now - timedelta(days=days) for days in REMIND_AFTER_DAYS)
    # Only rows with a step due now: those waiting quietly between steps never fill a batch.
    for check_in_id in await _due(
        session,
        CheckIn.status == CheckInStatus.ASKED,
        or_(
            and_(CheckIn.reminders < 1, CheckIn.asked_at <= first),
            and_(CheckIn.reminders < 2, CheckIn.asked_at <= second),
            CheckIn.asked_at <= now - timedelta(days=MISSED_AFTER_DAYS),
        ),
    ):
        check_in = await session.get(CheckIn, check_in_id, populate_existing=True)
        assert check_in is not None
        assert check_in.asked_at is not None
        waited = now - as_utc(check_in.asked_at)
        case = await case_by_id(session, check_in.case_id)
        if waited >= timedelta(days=MISSED_AFTER_DAYS):
            if await _claim(session, check_in.id, CheckInStatus.ASKED, CheckInStatus.MISSED):
                await relay.notice(session, case, "checkin_missed", month=str(check_in.month))
                audit.record(session, "checkin.missed", case_id=case.id)
                if await _missed_before(session, check_in):
                    await counsellor_news.event(session, case, "missed_twice")
                done += 1
            continue
        due_reminders = sum(waited >= timedelta(days=d) for d in REMIND_AFTER_DAYS)
        if check_in.reminders >= due_reminders or case.returnee is None:
            continue
        reminded = await session.execute(
            update(CheckIn)
            .where(CheckIn.id == check_in.id, CheckIn.reminders == check_in.reminders)
            .values(reminders=due_reminders)
            .execution_options(synchronize_session=False)
        )
        if reminded.rowcount == 1:  # type: ignore[attr-defined]
            await _ask(session, case, case.returnee, check_in, "checkin_reminder")
            done += 1
    return done


async def _missed_before(session: AsyncSession, check_in: CheckIn) -> bool:
    """Was the case's check-in before this one missed too (two in a row)?"""
    before = await session.scalar(
        select(CheckIn.status)
        .where(CheckIn.case_id == check_in.case_id, CheckIn.month < check_in.month)
        .order_by(CheckIn.month.desc())
        .limit(1)
    )
    return before is CheckInStatus.MISSED


async def _alert(
    session: AsyncSession, case: Case, alert: CheckInAlert, month: int, key: str
) -> None:
    """The alert in the topic, naming the assigned staff member (or all the office's staff),
    with the button that takes it."""
    await relay.notice(
        session,
        case,
        key,
        mentions=await alerted_staff(session, case),
        buttons=[NoticeButton(action="take_alert", target=alert.id)],
        month=str(month),
        answer=alert.answer,
    )


async def take_alert(
    session: AsyncSession, alert_id: int, staff: Person, now: datetime | None = None
) -> CheckInAlert:
    """A staff member takes the alert: it is theirs, and it is not repeated."""
    alert = await session.get(CheckInAlert, alert_id)
    if alert is None:
        raise RuleViolation("no such alert")
    case = await case_by_id(session, alert.case_id)
    if not may_act(staff, case.office):
        raise RuleViolation("only the case's office's registered staff take its alerts")
    done = await session.execute(
        update(CheckInAlert)
        .where(CheckInAlert.id == alert_id, CheckInAlert.taken_at.is_(None))
        .values(taken_at=now or utcnow(), taken_by_id=staff.id)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise RuleViolation("this alert was taken already")
    await session.refresh(alert)
    audit.record(session, "checkin.alert_taken", actor_id=staff.id, case_id=case.id)
    return alert


async def repeat_alerts(session: AsyncSession, now: datetime) -> int:
    """Alerts nobody took within a working day are repeated, once."""
    repeated = 0
    for alert in list(
        await session.scalars(
            select(CheckInAlert).where(
                CheckInAlert.taken_at.is_(None),
                CheckInAlert.repeated.is_(False),
                CheckInAlert.repeat_at <= now,
            )
        )
    ):
        done = await session.execute(
            update(CheckInAlert)
            .where(CheckInAlert.id == alert.id, CheckInAlert.repeated.is_(False))
            .values(repeated=True)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            continue
        case = await case_by_id(session, alert.case_id)
        check_in = await session.get(CheckIn, alert.check_in_id)
        assert check_in is not None
        await _alert(session, case, alert, check_in.month, "checkin_alert_again")
        repeated += 1
    return repeated


# ---- pausing, and staff's hand on the schedule ----------------------------------------------


async def pause(session: AsyncSession, case: Case, returnee: Person, *, stop: bool) -> None:
    """The returnee pauses (or stops) check-ins; the office sees it and resumes after talking
    to them. Nothing is asked meanwhile."""
    if case.returnee_id != returnee.id:
        raise RuleViolation("only the case's returnee pauses its check-ins")
    case.checkins = STOPPED if stop else PAUSED
    await session.execute(
        update(CheckIn)
        .where(CheckIn.case_id == case.id, CheckIn.status == CheckInStatus.ASKED)
        .values(status=CheckInStatus.CANCELLED)
    )
    await relay.notice(session, case, "checkins_stopped" if stop else "checkins_paused")
    audit.record(session, "checkins." + case.checkins, actor_id=returnee.id, case_id=case.id)


async def resume(session: AsyncSession, case: Case, staff: Person, now: datetime) -> int:
    """Staff resume check-ins: those still ahead are asked again as planned."""
    if not may_act(staff, case.office):
        raise RuleViolation("only the case's office's registered staff resume check-ins")
    case.checkins = ON
    again = await session.execute(
        update(CheckIn)
        .where(
            CheckIn.case_id == case.id,
            CheckIn.status == CheckInStatus.CANCELLED,
            CheckIn.due_at > now,
        )
        .values(status=CheckInStatus.SCHEDULED)
    )
    audit.record(session, "checkins.resumed", actor_id=staff.id, case_id=case.id)
    return int(again.rowcount)  # type: ignore[attr-defined]


async def _staff_row(session: AsyncSession, case: Case, staff: Person, month: int) -> CheckIn:
    if not may_act(staff, case.office):
        raise RuleViolation("only the case's office's registered staff change its check-ins")
    row = await session.scalar(
        select(CheckIn).where(CheckIn.case_id == case.id, CheckIn.month == month)
    )
    if row is None or row.status is not CheckInStatus.SCHEDULED:
        raise RuleViolation("that check-in is not waiting to be asked")
    return row


async def skip(session: AsyncSession, case: Case, staff: Person, month: int) -> CheckIn:
    row = await _staff_row(session, case, staff, month)
    row.status = CheckInStatus.SKIPPED
    audit.record(session, "checkin.skipped", actor_id=staff.id, case_id=case.id)
    return row


async def move(session: AsyncSession, case: Case, staff: Person, month: int, day: date) -> CheckIn:
    """Ask this one on another day (at the office's daytime hour); not after the first year."""
    row = await _staff_row(session, case, staff, month)
    if case.return_date is not None and day > case.return_date.replace(
        year=case.return_date.year + 1
    ):
        raise RuleViolation("check-ins stop a year after the return")
    row.due_at = send_moment(
        day, timezone=case.office.timezone, holidays=_office_holidays(case), spread_key=case.id
    )
    audit.record(session, "checkin.moved", actor_id=staff.id, case_id=case.id)
    return row


async def send_now(
    session: AsyncSession, case: Case, staff: Person, month: int, now: datetime
) -> CheckIn:
    """Ask this one at the next daytime moment of the office: now, unless it is night there."""
    row = await _staff_row(session, case, staff, month)
    row.due_at = next_allowed(now, timezone=case.office.timezone, holidays=_office_holidays(case))
    audit.record(session, "checkin.sent_now", actor_id=staff.id, case_id=case.id)
    return row


@dataclass(frozen=True)
class Answered:
    """What an answer led to: an alert in the topic, the safety answer for the returnee."""

    alert: bool = False
    safety: bool = False


async def answer(
    session: AsyncSession,
    check_in_id: int,
    returnee: Person,
    question: str,
    value: str,
    now: datetime | None = None,
) -> Answered:
    """One answer, kept at once (a returnee who stops half-way has said what they said); an
    alarming one alerts the office now, not at the end."""
    moment = now or utcnow()
    check_in, case = await _own(session, check_in_id, returnee)
    if question not in QUESTIONS or value not in QUESTIONS[question]:
        raise ValueError("not an answer to a check-in question")
    setattr(check_in, question, value)
    alert = (question, value) in ALERTING
    if question == "feeling" and value == "bad":
        alert = await _bad_before(session, check_in)
    if alert:
        raised = CheckInAlert(
            case_id=case.id,
            check_in_id=check_in.id,
            answer=f"{question}.{value}",
            raised_at=moment,
            repeat_at=working_day_after(
                moment, timezone=case.office.timezone, holidays=_office_holidays(case)
            ),
            repeated=False,
        )
        session.add(raised)
        await session.flush()
        await _alert(session, case, raised, check_in.month, "checkin_alert")
        audit.record(session, "checkin.alert", actor_id=returnee.id, case_id=case.id)
        await counsellor_news.event(session, case, "alert")
    return Answered(alert=alert, safety=question == "safe" and value in ("no", "talk"))


async def _bad_before(session: AsyncSession, check_in: CheckIn) -> bool:
    """ "Bad" twice in a row: the case's previous answered check-in said bad too."""
    previous = await session.scalar(
        select(CheckIn.feeling)
        .where(
            CheckIn.case_id == check_in.case_id,
            CheckIn.month < check_in.month,
            CheckIn.status == CheckInStatus.ANSWERED,
        )
        .order_by(CheckIn.month.desc())
        .limit(1)
    )
    return previous == "bad"


async def finish(
    session: AsyncSession, check_in_id: int, returnee: Person, note: str | None, now: datetime
) -> CheckIn:
    """The returnee is done: the answers are final and a short summary goes to the topic."""
    check_in, case = await _own(session, check_in_id, returnee)
    if note:
        check_in.note = " ".join(note.split())[:NOTE_LIMIT]
    if not await _claim(
        session, check_in.id, CheckInStatus.ASKED, CheckInStatus.ANSWERED, answered_at=now
    ):
        raise ValueError("this check-in is not waiting for an answer")

    def said(question: str) -> str:
        # The answer's key ("safe.no"), worded in the office's language when the note is sent.
        value = getattr(check_in, question)
        return f"{question}.{value}" if value else "-"

    await relay.notice(
        session,
        case,
        "checkin_summary",
        month=str(check_in.month),
        feeling=said("feeling"),
        safe=said("safe"),
        housing=said("housing"),
        activity=said("activity"),
        money=said("money"),
        contact=said("contact"),
        note=check_in.note or "-",
    )
    audit.record(session, "checkin.answered", actor_id=returnee.id, case_id=case.id)
    return check_in


async def _own(session: AsyncSession, check_in_id: int, returnee: Person) -> tuple[CheckIn, Case]:
    check_in = await session.get(CheckIn, check_in_id)
    if check_in is None or check_in.status is not CheckInStatus.ASKED:
        raise ValueError("this check-in is not waiting for an answer")
    case = await case_by_id(session, check_in.case_id)
    if case.returnee_id != returnee.id:
        raise ValueError("not this returnee's check-in")
    return check_in, case


async def schedule_of(session: AsyncSession, case: Case) -> list[CheckIn]:
    return list(
        await session.scalars(
            select(CheckIn).where(CheckIn.case_id == case.id).order_by(CheckIn.month)
        )
    )
