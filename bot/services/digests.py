"""The monthly digest for counsellors: what each of their active cases did last month, in a
few lines per case, sent once per counsellor per month.

What is due lives in `digests` rows: a sweep on the due day writes one row per counsellor for
the month (a unique key makes a second write a no-op), then claims rows by a conditional update
in the same transaction that queues the message, so a restart neither loses nor repeats one.
The figures are read when the message is sent (`gather`), so a returnee who withdraws consent
before then is left out, and the digest holds only counts, dates and the programme's own words.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import ledger, lifecycle
from bot.services.case_rows import with_details
from bot.services.clock import as_utc
from bot.services.outbox import CounsellorPayload, queue
from bot.services.sharing import reaches_counsellors, shares_checkins
from storage.models import (
    Case,
    CaseUpdate,
    CheckIn,
    CheckInAlert,
    CheckInStatus,
    Destination,
    Digest,
    Direction,
    Payout,
    PayoutStatus,
    Person,
    Relay,
    Role,
    UpdateKind,
)

BATCH = 100


@dataclass(frozen=True)
class DigestSchedule:
    """When the digest goes: a day of the month and an hour, in the counsellors' time zone."""

    day: int = 1
    hour: int = 9
    timezone: str = "Europe/Copenhagen"

    def due_at(self, year: int, month: int) -> datetime:
        local = datetime.combine(
            date(year, month, self.day), time(self.hour), ZoneInfo(self.timezone)
        )
        return local.astimezone(UTC)

    def due_now(self, now: datetime) -> tuple[str, datetime] | None:
        """The period whose digest is due at `now` (the month before this month's due day),
        or None before this month's due moment."""
        local = as_utc(now).astimezone(ZoneInfo(self.timezone))
        due = self.due_at(local.year, local.month)
        if as_utc(now) < due:
            return None
        return period_of(first_of_previous(local.date())), due


def first_of_previous(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


def period_of(first: date) -> str:
    return f"{first.year:04d}-{first.month:02d}"


def period_bounds(period: str, timezone: str) -> tuple[datetime, datetime]:
    """The month `period` ("2026-11") as UTC moments [start, end) in the given time zone."""
    year, month = (int(part) for part in period.split("-"))
    first = date(year, month, 1)
    following = (first + timedelta(days=32)).replace(day=1)
    zone = ZoneInfo(timezone)
    return (
        datetime.combine(first, time(0), zone).astimezone(UTC),
        datetime.combine(following, time(0), zone).astimezone(UTC),
    )


# ---- what is due ---------------------------------------------------------------------------


async def active_cases(session: AsyncSession, counsellor: Person) -> list[Case]:
    """The counsellor's cases a digest covers: open, and the returnee's consent given."""
    cases = await session.scalars(
        select(Case)
        .where(Case.counsellors.any(Person.id == counsellor.id))
        .order_by(Case.code)
        .options(*with_details())
    )
    return [
        case
        for case in cases
        if lifecycle.is_open(case) and await reaches_counsellors(session, case)
    ]


async def plan(session: AsyncSession, schedule: DigestSchedule, now: datetime) -> int:
    """On or after the due moment, one row per counsellor with an active case, once."""
    due = schedule.due_now(now)
    if due is None:
        return 0
    period, due_at = due
    waiting = await session.scalars(
        select(Person).where(
            Person.role == Role.COUNSELLOR,
            ~select(Digest.id)
            .where(Digest.counsellor_id == Person.id, Digest.period == period)
            .exists(),
        )
    )
    added = 0
    for counsellor in list(waiting):
        if not await active_cases(session, counsellor):
            continue
        insert = (
            postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        )
        starts_at, ends_at = period_bounds(period, schedule.timezone)
        await session.execute(
            insert(Digest)
            .values(
                counsellor_id=counsellor.id,
                period=period,
                starts_at=starts_at,
                ends_at=ends_at,
                due_at=due_at,
            )
            .on_conflict_do_nothing(index_elements=["counsellor_id", "period"])
        )
        added += 1
    return added


async def queue_due(session: AsyncSession, now: datetime) -> int:
    """Claim due rows (a batch at most) and queue each counsellor's digest, once."""
    query = (
        select(Digest.id, Digest.counsellor_id)
        .where(Digest.queued_at.is_(None), Digest.due_at <= now)
        .order_by(Digest.id)
        .limit(BATCH)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    queued = 0
    for digest_id, counsellor_id in (await session.execute(query)).all():
        claimed = await session.execute(
            update(Digest)
            .where(Digest.id == digest_id, Digest.queued_at.is_(None))
            .values(queued_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        counsellor = await session.get(Person, counsellor_id)
        if counsellor is None:
            continue
        await queue(
            session,
            None,
            CounsellorPayload(counsellor_id=counsellor.id, digest_id=digest_id),
            destination=Destination.PRIVATE,
            direction=Direction.TO_COUNSELLOR,
            author=None,
            chat_id=counsellor.telegram_user_id,
        )
        queued += 1
    return queued


# ---- what a digest says --------------------------------------------------------------------


@dataclass(frozen=True)
class LastCheckIn:
    state: CheckInStatus  # answered or missed
    on: date
    month: int
    # How the returnee answered: only when they share their check-ins with the counsellor.
    feeling: str | None = None
    safe: str | None = None


@dataclass(frozen=True)
class CategoryMoney:
    category: str
    currency: str
    paid: Decimal  # in the period
    left: Decimal


@dataclass(frozen=True)
class Contact:
    """Messages between the returnee and the office in the period, and the last one ever."""

    from_returnee: int
    from_office: int
    last: datetime | None


@dataclass(frozen=True)
class CaseDigest:
    code: str
    check_in: LastCheckIn | None
    has_budget: bool
    money: list[CategoryMoney]
    contact: Contact
    open_alerts: int
    statuses: list[tuple[str, date]] = field(default_factory=list)
    plan_changed: date | None = None


async def gather(
    session: AsyncSession, counsellor: Person, start: datetime, end: datetime
) -> list[CaseDigest]:
    """Each active case of the counsellor, as of `end`, its figures for [start, end)."""
    return [
        await case_digest(session, case, start, end)
        for case in await active_cases(session, counsellor)
    ]


async def case_digest(
    session: AsyncSession, case: Case, start: datetime, end: datetime
) -> CaseDigest:
    return CaseDigest(
        code=case.code,
        check_in=await _last_check_in(session, case, end),
        has_budget=bool(case.programme),
        money=await _money(session, case, start, end),
        contact=await _contact(session, case, start, end),
        open_alerts=int(
            await session.scalar(
                select(func.count(CheckInAlert.id)).where(
                    CheckInAlert.case_id == case.id,
                    CheckInAlert.taken_at.is_(None),
                    CheckInAlert.raised_at < end,
                )
            )
            or 0
        ),
        statuses=[
            (row.status or "", as_utc(row.confirmed_at).date())
            for row in await _updates(session, case, UpdateKind.STATUS, start, end)
            if row.confirmed_at is not None
        ],
        plan_changed=max(
            (
                as_utc(row.confirmed_at).date()
                for row in await _updates(session, case, UpdateKind.PLAN, start, end)
                if row.confirmed_at is not None
            ),
            default=None,
        ),
    )


async def _last_check_in(session: AsyncSession, case: Case, end: datetime) -> LastCheckIn | None:
    row = await session.scalar(
        select(CheckIn)
        .where(
            CheckIn.case_id == case.id,
            CheckIn.status.in_((CheckInStatus.ANSWERED, CheckInStatus.MISSED)),
            CheckIn.due_at < end,
        )
        .order_by(CheckIn.due_at.desc())
        .limit(1)
    )
    if row is None:
        return None
    moment = row.answered_at if row.status is CheckInStatus.ANSWERED else row.due_at
    shared = row.status is CheckInStatus.ANSWERED and await shares_checkins(session, case)
    return LastCheckIn(
        state=row.status,
        on=as_utc(moment or row.due_at).date(),
        month=row.month,
        feeling=row.feeling if shared else None,
        safe=row.safe if shared else None,
    )


async def _money(
    session: AsyncSession, case: Case, start: datetime, end: datetime
) -> list[CategoryMoney]:
    if not case.programme:
        return []
    paid: defaultdict[str, Decimal] = defaultdict(Decimal)
    for category, amount in (
        await session.execute(
            select(Payout.category, Payout.amount).where(
                Payout.case_id == case.id,
                Payout.status == PayoutStatus.PAID,
                Payout.paid_on >= start.date(),
                Payout.paid_on < end.date(),
            )
        )
    ).all():
        paid[category] += amount
    figures = await ledger.statement(session, case)
    return [
        CategoryMoney(b.category, b.currency, paid[b.category], b.left) for b in figures.balances
    ]


async def _contact(session: AsyncSession, case: Case, start: datetime, end: datetime) -> Contact:
    counts = dict(
        (
            await session.execute(
                select(Relay.direction, func.count(Relay.id))
                .where(
                    Relay.case_id == case.id,
                    Relay.direction.in_((Direction.FROM_RETURNEE, Direction.TO_RETURNEE)),
                    and_(Relay.at >= start, Relay.at < end),
                )
                .group_by(Relay.direction)
            )
        ).all()
    )
    last = await session.scalar(
        select(func.max(Relay.at)).where(
            Relay.case_id == case.id,
            Relay.direction.in_((Direction.FROM_RETURNEE, Direction.TO_RETURNEE)),
            Relay.at < end,
        )
    )
    return Contact(
        from_returnee=int(counts.get(Direction.FROM_RETURNEE, 0)),
        from_office=int(counts.get(Direction.TO_RETURNEE, 0)),
        last=as_utc(last) if last else None,
    )


async def _updates(
    session: AsyncSession, case: Case, kind: UpdateKind, start: datetime, end: datetime
) -> list[CaseUpdate]:
    return list(
        await session.scalars(
            select(CaseUpdate)
            .where(
                CaseUpdate.case_id == case.id,
                CaseUpdate.kind == kind,
                CaseUpdate.confirmed_at >= start,
                CaseUpdate.confirmed_at < end,
            )
            .order_by(CaseUpdate.confirmed_at)
        )
    )
