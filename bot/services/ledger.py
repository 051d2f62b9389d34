"""A case's money: what each budget category holds for the returnee, and every line that
changed it.

Per category: its *maximum* for this case is the programme's amount, changed by staff
adjustments and by reallocations in and out. *Deducted* (a partner's fee) and the payouts,
*approved* (planned instalments included) and *paid*, are taken from it; what remains is *left*,
which no action may take below zero. Every rule is checked here, whoever asks: the admin CLI,
staff in the topic or the returnee.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import audit, counsellor_news
from bot.services.budget import Remaining, amount, categories, total_of
from bot.services.clock import utcnow
from bot.services.errors import RuleViolation
from bot.services.outbox import Money, NewsPayload, queue_news
from storage.models import (
    BudgetCategory,
    Case,
    CaseStatus,
    LedgerKind,
    LedgerLine,
    LineStatus,
    PaidAs,
    PaymentMethod,
    Payout,
    PayoutStatus,
    Person,
    Receipt,
    ReceiptStatus,
    Role,
)

ZERO = Decimal("0.00")
OPEN_RECEIPTS = (ReceiptStatus.SUBMITTED, ReceiptStatus.UNDER_REVIEW, ReceiptStatus.NEEDS_INFO)


@dataclass
class Balance:
    """One category of one case's budget, as the statement shows it."""

    category: str
    currency: str
    paid_as: PaidAs
    maximum: Decimal = ZERO
    approved: Decimal = ZERO  # decided or planned, not yet paid
    paid: Decimal = ZERO
    deducted: Decimal = ZERO
    pending: Decimal = ZERO  # receipts in this currency waiting for a decision
    pending_receipts: int = 0
    reallocatable: bool = False
    ceiling: Decimal | None = None
    base: Decimal = ZERO  # the programme's amount before this case's changes

    @property
    def left(self) -> Decimal:
        return self.maximum - self.deducted - self.approved - self.paid

    @property
    def takes_receipts(self) -> bool:
        return self.paid_as is PaidAs.IN_KIND


@dataclass
class Statement:
    balances: list[Balance] = field(default_factory=list)

    def of(self, category: str) -> Balance:
        for balance in self.balances:
            if balance.category == category:
                return balance
        raise RuleViolation(f"the case's programme has no category {category!r}")


async def hold_case_money(session: AsyncSession, case: Case) -> None:
    """Serialise money actions on one case: a row lock on PostgreSQL, the write lock on
    SQLite, taken before anything is read, so two staff acting at once decide in turn."""
    await session.execute(update(Case).where(Case.id == case.id).values(programme=Case.programme))


async def statement(session: AsyncSession, case: Case) -> Statement:
    """Every category of the case's programme with its figures; they always add up."""
    rows: Sequence[BudgetCategory] = await categories(session, case.programme)
    balances = {
        row.category: Balance(
            category=row.category,
            currency=row.currency,
            paid_as=row.paid_as,
            maximum=total_of(row),
            base=total_of(row),
            reallocatable=row.reallocatable,
            ceiling=row.ceiling,
        )
        for row in rows
    }
    for line in await session.scalars(
        select(LedgerLine).where(
            LedgerLine.case_id == case.id, LedgerLine.status == LineStatus.DONE
        )
    ):
        if line.kind is LedgerKind.ADJUSTMENT and line.category in balances:
            balances[line.category].maximum += line.amount
        elif line.kind is LedgerKind.DEDUCTION and line.category in balances:
            balances[line.category].deducted += line.amount
        elif line.kind is LedgerKind.REALLOCATION:
            if line.category in balances:
                balances[line.category].maximum += line.amount
            if line.from_category in balances:
                balances[line.from_category].maximum -= line.amount
    for category, status, total in await session.execute(
        select(Payout.category, Payout.status, func.sum(Payout.amount))
        .where(Payout.case_id == case.id)
        .group_by(Payout.category, Payout.status)
    ):
        if category in balances:
            if status is PayoutStatus.PAID:
                balances[category].paid += Decimal(total)
            else:
                balances[category].approved += Decimal(total)
    for category, currency, total, count in await session.execute(
        select(Receipt.category, Receipt.currency, func.sum(Receipt.amount), func.count())
        .where(Receipt.case_id == case.id, Receipt.status.in_(OPEN_RECEIPTS))
        .group_by(Receipt.category, Receipt.currency)
    ):
        if category in balances:
            balances[category].pending_receipts += count
            if currency == balances[category].currency:
                balances[category].pending += Decimal(total)
    return Statement(list(balances.values()))


def _check_staff(case: Case, person: Person | None) -> None:
    """Only the case's office's registered staff change its money (None: the admin CLI)."""
    if person is not None and not (
        person.role is Role.STAFF and person.office_id == case.office_id
    ):
        raise RuleViolation("only the case's office's registered staff change its money")


def _value(value: str | Decimal, *, zero: bool = False) -> Decimal:
    """An amount typed (a string) or computed (a Decimal): more than zero (or zero, when
    `zero` allows it), with at most two decimals, as the database stores it."""
    if isinstance(value, str):
        return amount(value)
    if not isinstance(value, Decimal) or not value.is_finite():
        raise RuleViolation("an amount is a finite Decimal")
    if value < 0 or (value == 0 and not zero):
        raise RuleViolation("the amount must be more than zero")
    if value != value.quantize(Decimal("0.01")) or value >= Decimal("1e10"):
        raise RuleViolation("an amount has at most two decimals and ten digits before them")
    return value


async def _tell_returnee(
    session: AsyncSession,
    case: Case,
    news: Literal["adjusted", "deducted"],
    category: str,
    value: Decimal,
    currency: str,
    line: LedgerLine,
) -> None:
    """Every change to the returnee's budget reaches them with its reason, in their language."""
    returnee = await session.get(Person, case.returnee_id) if case.returnee_id else None
    if returnee is None:
        return
    await session.flush()
    left = (await statement(session, case)).of(category).left
    await queue_news(
        session,
        case,
        returnee,
        NewsPayload(
            news=news,
            language=returnee.language or case.language,
            category=category,
            amount=Money(amount=str(value), currency=currency),
            left=Money(amount=str(left), currency=currency),
            note=line.reason,
        ),
    )


def _reason(text: str) -> str:
    reason = " ".join(text.split())
    if not 3 <= len(reason) <= 200:
        raise RuleViolation("give a reason of 3 to 200 characters; the returnee reads it")
    return reason


def _line(
    case: Case,
    kind: LedgerKind,
    category: str,
    value: Decimal,
    reason: str,
    actor: Person | None,
    *,
    from_category: str | None = None,
    status: LineStatus = LineStatus.DONE,
) -> LedgerLine:
    return LedgerLine(
        case_id=case.id,
        kind=kind,
        category=category,
        from_category=from_category,
        amount=value,
        reason=reason,
        status=status,
        actor_id=actor.id if actor else None,
        at=utcnow(),
    )


async def adjust(
    session: AsyncSession,
    case: Case,
    category: str,
    new_maximum: str | Decimal,
    reason: str,
    actor: Person | None,
) -> LedgerLine:
    """Set the case's amount in a category, within the programme's ceiling and never below what
    is already taken from it."""
    _check_staff(case, actor)
    wanted = _value(new_maximum, zero=True)
    await hold_case_money(session, case)
    balance = (await statement(session, case)).of(category)
    ceiling = balance.ceiling if balance.ceiling is not None else balance.base
    taken = balance.deducted + balance.approved + balance.paid
    if wanted > ceiling:
        raise RuleViolation(f"the programme allows at most {ceiling} {balance.currency} here")
    if wanted < taken:
        raise RuleViolation(f"{taken} {balance.currency} is already taken from this category")
    if wanted == balance.maximum:
        raise RuleViolation(f"the amount is {wanted} {balance.currency} already")
    line = _line(
        case, LedgerKind.ADJUSTMENT, category, wanted - balance.maximum, _reason(reason), actor
    )
    session.add(line)
    audit.record(session, "money.adjusted", actor_id=_id(actor), case_id=case.id)
    await _tell_returnee(session, case, "adjusted", category, wanted, balance.currency, line)
    return line


async def deduct(
    session: AsyncSession,
    case: Case,
    category: str,
    value: str | Decimal,
    reason: str,
    actor: Person | None,
) -> LedgerLine:
    """A deduction (a partner's fee, say) is its own line with its reason, shown to the returnee."""
    _check_staff(case, actor)
    taken = _value(value)
    await hold_case_money(session, case)
    balance = (await statement(session, case)).of(category)
    if taken > balance.left:
        raise RuleViolation(f"only {balance.left} {balance.currency} is left in {category}")
    line = _line(case, LedgerKind.DEDUCTION, category, taken, _reason(reason), actor)
    session.add(line)
    audit.record(session, "money.deducted", actor_id=_id(actor), case_id=case.id)
    await _tell_returnee(session, case, "deducted", category, taken, balance.currency, line)
    return line


async def request_reallocation(
    session: AsyncSession,
    case: Case,
    from_category: str,
    to_category: str,
    value: str | Decimal,
    returnee: Person | None,
) -> LedgerLine:
    """The returnee asks to move money between two categories the programme lets them move."""
    if returnee is not None and returnee.id != case.returnee_id:
        raise RuleViolation("only the case's returnee asks to move its money")
    moved = _value(value)
    figures = await statement(session, case)
    source, target = figures.of(from_category), figures.of(to_category)
    _check_move(source, target, moved)
    line = _line(
        case,
        LedgerKind.REALLOCATION,
        to_category,
        moved,
        "",
        returnee,
        from_category=from_category,
        status=LineStatus.REQUESTED,
    )
    session.add(line)
    audit.record(session, "money.reallocation_requested", actor_id=_id(returnee), case_id=case.id)
    return line


def _check_move(source: Balance, target: Balance, moved: Decimal) -> None:
    if source.category == target.category:
        raise RuleViolation("choose two different categories")
    if not (source.reallocatable and target.reallocatable):
        raise RuleViolation("the programme does not let money move between these categories")
    if source.currency != target.currency:
        raise RuleViolation("the two categories are in different currencies")
    if moved > source.left:
        raise RuleViolation(f"only {source.left} {source.currency} is left in {source.category}")


async def decide_reallocation(
    session: AsyncSession, case: Case, line_id: int, *, approve: bool, staff: Person
) -> LedgerLine:
    """Staff approve or refuse a requested reallocation; only one decision counts."""
    _check_staff(case, staff)
    await hold_case_money(session, case)
    line = await session.get(LedgerLine, line_id)
    if line is None or line.case_id != case.id or line.kind is not LedgerKind.REALLOCATION:
        raise RuleViolation("no such reallocation on this case")
    if line.status is not LineStatus.REQUESTED:
        raise RuleViolation("this reallocation was decided already")
    if approve:
        figures = await statement(session, case)
        assert line.from_category is not None
        _check_move(figures.of(line.from_category), figures.of(line.category), line.amount)
    line.status = LineStatus.DONE if approve else LineStatus.REFUSED
    line.actor_id = staff.id
    audit.record(
        session,
        "money.reallocation_" + ("approved" if approve else "refused"),
        actor_id=staff.id,
        case_id=case.id,
    )
    return line


async def approve_payout(
    session: AsyncSession,
    case: Case,
    category: str,
    value: Decimal,
    *,
    method: PaymentMethod | None,
    staff: Person | None,
    receipt_id: int | None = None,
    rate: Decimal | None = None,
    tell: bool = True,
) -> Payout:
    """Money decided for the returnee, to be paid; never more than is left. The caller holds
    the case's money (`hold_case_money`) from before it read what is left. `tell`: counsellors
    who follow events hear of it."""
    balance = (await statement(session, case)).of(category)
    if value <= 0:
        raise RuleViolation("the amount must be more than zero")
    if value > balance.left:
        raise RuleViolation(f"only {balance.left} {balance.currency} is left in {category}")
    payout = Payout(
        case_id=case.id,
        category=category,
        amount=value,
        status=PayoutStatus.APPROVED,
        method=method,
        receipt_id=receipt_id,
        rate=rate,
        approved_by_id=_id(staff),
        approved_at=utcnow(),
    )
    session.add(payout)
    await session.flush()
    audit.record(session, "money.payout_approved", actor_id=_id(staff), case_id=case.id)
    if tell:
        await counsellor_news.event(
            session,
            case,
            "payout_approved",
            category=category,
            amount=Money(amount=str(value), currency=balance.currency),
        )
    return payout


async def record_payout(
    session: AsyncSession, case: Case, category: str, value: str, paid_on: date
) -> Payout:
    """A payout already made (the admin CLI): approved and paid at once."""
    await hold_case_money(session, case)
    payout = await approve_payout(
        session, case, category, amount(value), method=None, staff=None, tell=False
    )
    payout.status, payout.paid_on = PayoutStatus.PAID, paid_on
    audit.record(session, "money.payout_paid", case_id=case.id)
    await _tell_paid(session, case, payout)
    return payout


async def _tell_paid(session: AsyncSession, case: Case, payout: Payout) -> None:
    currency = (await statement(session, case)).of(payout.category).currency
    await counsellor_news.event(
        session,
        case,
        "payout_paid",
        category=payout.category,
        amount=Money(amount=str(payout.amount), currency=currency),
    )


async def mark_paid(
    session: AsyncSession, case: Case, payout_id: int, staff: Person | None, paid_on: date
) -> Payout:
    """Staff confirm that a decided payout or a planned instalment has been paid. Only the
    first confirmation counts: a second press finds it paid already."""
    await hold_case_money(session, case)
    done = await session.execute(
        update(Payout)
        .where(
            Payout.id == payout_id,
            Payout.case_id == case.id,
            Payout.status.in_((PayoutStatus.APPROVED, PayoutStatus.DUE)),
        )
        .values(status=PayoutStatus.PAID, paid_on=paid_on, paid_by_id=_id(staff))
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise RuleViolation("this payout is paid already, or is not this case's")
    payout = await session.get(Payout, payout_id, populate_existing=True)
    assert payout is not None
    audit.record(session, "money.payout_paid", actor_id=_id(staff), case_id=case.id)
    await _tell_paid(session, case, payout)
    return payout


async def unpaid(session: AsyncSession, case: Case) -> list[Payout]:
    """Decided payouts and planned instalments not paid yet, oldest first."""
    return list(
        await session.scalars(
            select(Payout)
            .where(
                Payout.case_id == case.id,
                Payout.status.in_((PayoutStatus.APPROVED, PayoutStatus.DUE)),
            )
            .order_by(Payout.due_on.is_(None), Payout.due_on, Payout.id)
        )
    )


async def plan_instalments(session: AsyncSession, case: Case) -> list[Payout]:
    """The monthly allowance as instalments due from the return date (the first at return).
    Planned once; a case without a programme or return date gets none yet. The instalments
    are taken from what is left like any payout: when a deduction or a payout already took
    part of the category, planning is refused rather than taking it below zero."""
    if case.return_date is None or case.programme is None:
        return []
    await hold_case_money(session, case)
    existing = await session.scalar(
        select(func.count()).where(Payout.case_id == case.id, Payout.instalment.is_not(None))
    )
    if existing:
        return []
    figures = await statement(session, case)
    planned: list[Payout] = []
    for row in await categories(session, case.programme):
        needed = row.maximum * (row.months or 0)
        if needed and needed > figures.of(row.category).left:
            raise RuleViolation(
                f"{row.category} has {figures.of(row.category).left} {row.currency} left; "
                f"its instalments need {needed}"
            )
        for number in range(row.months or 0):
            planned.append(
                Payout(
                    case_id=case.id,
                    category=row.category,
                    amount=row.maximum,
                    status=PayoutStatus.DUE,
                    method=PaymentMethod.CASH if row.paid_as is PaidAs.CASH else None,
                    instalment=number + 1,
                    due_on=months_after(case.return_date, number),
                )
            )
    session.add_all(planned)
    if planned:
        audit.record(session, "money.instalments_planned", case_id=case.id)
    return planned


async def answer_received(
    session: AsyncSession, case: Case, payout_id: int, *, received: bool, returnee: Person
) -> Payout:
    """The returnee says whether a paid instalment or payout reached them: once (a second
    press, even of the other button, changes nothing and alerts nobody again)."""
    payout = await session.get(Payout, payout_id)
    if payout is None or payout.case_id != case.id or case.returnee_id != returnee.id:
        raise RuleViolation("not a payout of this returnee's case")
    if payout.status is not PayoutStatus.PAID:
        raise RuleViolation("this payout is not marked paid yet")
    answered = await session.execute(
        update(Payout)
        .where(Payout.id == payout.id, Payout.received.is_(None))
        .values(received=received)
        .execution_options(synchronize_session=False)
    )
    if answered.rowcount != 1:  # type: ignore[attr-defined]
        raise RuleViolation("the returnee has answered for this payout already")
    payout.received = received
    audit.record(
        session,
        "money.received" if received else "money.not_received",
        actor_id=returnee.id,
        case_id=case.id,
    )
    return payout


async def overdue(session: AsyncSession, now: datetime, days: int) -> list[Payout]:
    """Approved payouts still unpaid after `days`, not yet told to the topic; each is claimed
    here (a conditional update), so it is told once whichever process looks."""
    cutoff = now - timedelta(days=days)
    found = list(
        await session.scalars(
            select(Payout.id).where(
                Payout.status == PayoutStatus.APPROVED,
                Payout.approved_at <= cutoff,
                Payout.overdue_told_at.is_(None),
            )
        )
    )
    claimed: list[Payout] = []
    for payout_id in found:
        done = await session.execute(
            update(Payout)
            .where(Payout.id == payout_id, Payout.overdue_told_at.is_(None))
            .values(overdue_told_at=now)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount == 1:  # type: ignore[attr-defined]
            payout = await session.get(Payout, payout_id, populate_existing=True)
            assert payout is not None
            claimed.append(payout)
    return claimed


@dataclass(frozen=True)
class Entry:
    """One line of the full ledger, for the statement and the admin's CSV."""

    at: datetime | date
    category: str
    what: str  # adjustment, deduction, reallocation in/out, approved, paid, planned
    amount: Decimal
    currency: str
    reason: str
    reference: str


async def entries(session: AsyncSession, case: Case) -> list[Entry]:
    """Every money line of the case, oldest first. Deductions and reallocations are lines of
    their own, never folded into another amount."""
    currency = {row.category: row.currency for row in await categories(session, case.programme)}
    lines: list[Entry] = []
    for line in await session.scalars(
        select(LedgerLine)
        .where(LedgerLine.case_id == case.id, LedgerLine.status == LineStatus.DONE)
        .order_by(LedgerLine.id)
    ):
        cur = currency.get(line.category, "")
        if line.kind is LedgerKind.REALLOCATION:
            assert line.from_category is not None
            lines.append(Entry(line.at, line.from_category, "moved_out", -line.amount, cur, "", ""))
            lines.append(Entry(line.at, line.category, "moved_in", line.amount, cur, "", ""))
        else:
            lines.append(
                Entry(line.at, line.category, line.kind.value, line.amount, cur, line.reason, "")
            )
    receipts = dict(
        (
            await session.execute(
                select(Receipt.id, Receipt.number).where(Receipt.case_id == case.id)
            )
        ).all()
    )
    for payout in await session.scalars(
        select(Payout).where(Payout.case_id == case.id).order_by(Payout.id)
    ):
        reference = (
            receipt_code(case, receipts[payout.receipt_id])
            if payout.receipt_id in receipts
            else (f"#{payout.instalment}" if payout.instalment else "")
        )
        when: datetime | date = payout.approved_at or payout.created_at or utcnow()
        if payout.status is PayoutStatus.PAID and payout.paid_on:
            when = payout.paid_on
        elif payout.status is PayoutStatus.DUE and payout.due_on:
            when = payout.due_on  # a planned instalment shows when it is due
        what = {
            PayoutStatus.DUE: "planned",
            PayoutStatus.APPROVED: "approved",
            PayoutStatus.PAID: "paid",
        }[payout.status]
        lines.append(
            Entry(
                when,
                payout.category,
                what,
                payout.amount,
                currency.get(payout.category, ""),
                payout.method.value if payout.method else "",
                reference,
            )
        )
    return sorted(lines, key=lambda e: _moment(e.at))


def _moment(at: datetime | date) -> datetime:
    if isinstance(at, datetime):
        return at if at.tzinfo else at.replace(tzinfo=utcnow().tzinfo)
    return datetime(at.year, at.month, at.day, tzinfo=utcnow().tzinfo)


def months_after(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day (31 January + 1 = 28 February)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


async def remaining(session: AsyncSession, case: Case) -> list[Remaining]:
    """What is left in each category, for the programme answers."""
    return [
        Remaining(b.category, b.maximum, b.maximum - b.left, b.currency)
        for b in (await statement(session, case)).balances
    ]


def receipt_code(case: Case, number: int) -> str:
    return f"R-{case.code}-{number}"


def takes_new_receipts(case: Case) -> bool:
    return case.status not in (CaseStatus.CLOSED, CaseStatus.DROPPED_OUT)


def _id(person: Person | None) -> int | None:
    return person.id if person else None
