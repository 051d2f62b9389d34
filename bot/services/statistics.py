"""The programme's figures per office and period: the documents' own list (eligible persons,
applicants, returns, days from application to return, reasons for dropping out and for not
joining) and the bot's own (how fast offices answer, how returnees answer check-ins, alerts,
receipts, payouts, budget used).

Privacy: a figure must never single out a person. Every count from 1 to 4 is shown as "<5"
(0 is shown as 0), and every mean, median or percentile computed from fewer than 5 values is
shown as "<5" too: the median of two response times points at two people. A budget category's
amounts summed over fewer than 5 cases are shown as "<5" for the same reason. The bot's own
figures where the bot has recorded nothing are shown as "no data". The hiding happens where a
figure is shown (`table`, `rows`); `Figures` holds the exact numbers.
A total is shown beside its parts (drop-outs, and drop-outs per reason): where the total is 5
or more and one part is hidden, that part may be worked out by subtraction. Only small counts
are hidden; nothing else is suppressed to prevent that.

How the numbers are computed:
- median: the middle value of the sorted values; with an even number of values, the mean of
  the two middle ones;
- 90th percentile: nearest rank, the value at position ceil(0.9 * n) (1-based) of the sorted
  values; e.g. of 10 values the 9th, of 11 values the 10th;
- check-in response rate: answered / (answered + missed) of the check-ins due in the period
  (those still waiting, not asked, skipped or cancelled are not counted);
- means, medians and rates are exact fractions, shown with one decimal (half up).

Periods are inclusive dates. Date columns (eligible_on, paid_on, ...) are compared as they are;
moments (answered_at, due_at, raised_at, decided_at) by their day in UTC. Budget used is the
state today of every case of the office that has a programme and did not decline to join,
whatever the period: money paid and what the cases have in each category, per currency.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot.services import ledger, offices
from bot.services.clock import as_utc
from bot.services.errors import RuleViolation
from bot.services.lifecycle import DECLINE_REASONS, DROP_REASONS
from storage.models import (
    Case,
    CheckIn,
    CheckInAlert,
    CheckInStatus,
    ErasedCase,
    Office,
    Payout,
    PayoutStatus,
    Receipt,
    ReceiptStatus,
    ResponseTime,
)

FEWEST = 5  # a figure from fewer people than this is not shown
FEW = "<5"
NO_DATA = "no data"
APPROVED = (ReceiptStatus.APPROVED, ReceiptStatus.PAID)  # a paid receipt was approved first
CHECKED = (CheckInStatus.ANSWERED, CheckInStatus.MISSED)  # asked, and the wait is over
LIFECYCLES = (Case, ErasedCase)  # an erased case still counts in the documents' figures


@dataclass(frozen=True)
class Spread:
    """Several values summed up: how many, their mean, median and 90th percentile (nearest
    rank). None where there are no values."""

    count: int
    mean: Fraction | None
    median: Fraction | None
    p90: Fraction | None

    @classmethod
    def of(cls, values: Iterable[Fraction | int]) -> Spread:
        ordered = sorted(Fraction(v) for v in values)
        n = len(ordered)
        if n == 0:
            return cls(0, None, None, None)
        middle = n // 2
        median = ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        rank = -(-90 * n // 100)  # ceil(0.9 * n) in integers
        return cls(n, sum(ordered, Fraction(0)) / n, median, ordered[rank - 1])


def _median(values: Sequence[Fraction]) -> Fraction:
    median = Spread.of(values).median
    assert median is not None, "a month is listed only with values"
    return median


@dataclass(frozen=True)
class MonthValue:
    """One month of a line in the chart: the value and how many values it is made of."""

    month: str  # "2026-03"
    count: int
    value: Fraction


@dataclass(frozen=True)
class BudgetUse:
    """One budget category in one currency, summed over the cases that have it."""

    category: str
    currency: str
    cases: int
    paid: Decimal
    total: Decimal  # what the cases have in the category, after adjustments and moves


@dataclass(frozen=True)
class Figures:
    office: str | None  # the office's code; None: all offices
    start: date | None
    end: date | None
    # The documents' own.
    eligible: int
    applicants: int
    returns: int
    days_to_return: Spread
    drop_outs: Mapping[str, int]  # every one of DROP_REASONS
    declines: Mapping[str, int]  # every one of DECLINE_REASONS
    # The bot's own. First response in seconds, overall and (all offices) per office code.
    first_response: Spread
    first_response_by_office: Mapping[str, Spread]
    check_ins_answered: int
    check_ins_missed: int
    alerts_raised: int
    alerts_untaken: int
    minutes_to_take: Spread  # of the alerts raised in the period and taken
    receipts_approved: int
    receipts_rejected: int
    days_to_payout: Spread
    budget: tuple[BudgetUse, ...]
    # For the chart: per month, check-in response rate (percent) and first-response median
    # (minutes), each with the number of values it is made of.
    response_rate_by_month: tuple[MonthValue, ...] = field(default=())
    first_response_by_month: tuple[MonthValue, ...] = field(default=())

    @property
    def drop_outs_total(self) -> int:
        return sum(self.drop_outs.values())

    @property
    def declines_total(self) -> int:
        return sum(self.declines.values())

    @property
    def check_ins_counted(self) -> int:
        return self.check_ins_answered + self.check_ins_missed

    @property
    def response_rate(self) -> Fraction | None:
        """Answered check-ins as a percentage of those answered or missed."""
        counted = self.check_ins_counted
        return Fraction(100 * self.check_ins_answered, counted) if counted else None


def _on_days(
    column: InstrumentedAttribute[Any], start: date | None, end: date | None
) -> list[ColumnElement[bool]]:
    """A date column within the inclusive period."""
    conditions: list[ColumnElement[bool]] = [column.is_not(None)]
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column <= end)
    return conditions


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _during(
    column: InstrumentedAttribute[Any], start: date | None, end: date | None
) -> list[ColumnElement[bool]]:
    """A moment within the inclusive period, by its day in UTC."""
    conditions: list[ColumnElement[bool]] = [column.is_not(None)]
    if start is not None:
        conditions.append(column >= _midnight(start))
    if end is not None:
        conditions.append(column < _midnight(end + timedelta(days=1)))
    return conditions


def _month(moment: datetime) -> str:
    return as_utc(moment).astimezone(UTC).strftime("%Y-%m")


def _by_reason(reasons: Sequence[str], given: Iterable[str | None]) -> dict[str, int]:
    counts = dict.fromkeys(reasons, 0)
    for reason in given:
        # A reason outside the list (none is accepted today) is still a drop-out: "other".
        counts[reason if reason in counts else "other"] += 1
    return counts


async def figures(
    session: AsyncSession, *, office: str | None, start: date | None, end: date | None
) -> Figures:
    """Every figure for one office (by code, any case) or all offices (None), for the
    inclusive period from `start` to `end` (None: no limit on that side)."""
    if start is not None and end is not None and start > end:
        raise RuleViolation(f"the period starts ({start}) after it ends ({end})")
    chosen = await offices.get_office(session, office) if office is not None else None
    known = {o.id: o.code for o in await offices.list_offices(session)}

    def of_office(column: InstrumentedAttribute[Any]) -> list[ColumnElement[bool]]:
        return [column == chosen.id] if chosen is not None else []

    # The documents' own, from the lifecycle dates of the cases and of the erased cases'
    # tombstones (bot/services/erasure.py), which keep exactly those columns.
    async def count(name: str) -> int:
        total = 0
        for model in LIFECYCLES:
            found = await session.scalar(
                select(func.count())
                .select_from(model)
                .where(*of_office(model.office_id), *_on_days(getattr(model, name), start, end))
            )
            total += int(found or 0)
        return total

    returned: list[tuple[date | None, date | None]] = []
    dropped: list[str | None] = []
    declined: list[str | None] = []
    for model in LIFECYCLES:
        returned += [
            (applied, back)
            for applied, back in await session.execute(
                select(model.applied_on, model.returned_on).where(
                    *of_office(model.office_id), *_on_days(model.returned_on, start, end)
                )
            )
        ]
        dropped += await session.scalars(
            select(model.drop_reason).where(
                *of_office(model.office_id), *_on_days(model.dropped_on, start, end)
            )
        )
        declined += await session.scalars(
            select(model.decline_reason).where(
                *of_office(model.office_id), *_on_days(model.declined_on, start, end)
            )
        )

    # First responses, overall, per office and per month.
    answers = (
        await session.execute(
            select(ResponseTime.office_id, ResponseTime.answered_at, ResponseTime.seconds).where(
                *of_office(ResponseTime.office_id),
                *_during(ResponseTime.answered_at, start, end),
            )
        )
    ).all()
    seconds_by_office: dict[int, list[int]] = defaultdict(list)
    minutes_by_month: dict[str, list[Fraction]] = defaultdict(list)
    for office_id, answered_at, seconds in answers:
        seconds_by_office[office_id].append(seconds)
        minutes_by_month[_month(answered_at)].append(Fraction(seconds, 60))
    by_office = (
        {code: Spread.of(seconds_by_office[office_id]) for office_id, code in known.items()}
        if chosen is None
        else {}
    )

    # Check-ins due in the period whose answer came or whose wait ended.
    checked = (
        await session.execute(
            select(CheckIn.status, CheckIn.due_at)
            .join(Case, Case.id == CheckIn.case_id)
            .where(
                *of_office(Case.office_id),
                CheckIn.status.in_(CHECKED),
                *_during(CheckIn.due_at, start, end),
            )
        )
    ).all()
    month_checks: dict[str, list[bool]] = defaultdict(list)
    for status, due_at in checked:
        month_checks[_month(due_at)].append(status is CheckInStatus.ANSWERED)

    alerts = (
        await session.execute(
            select(CheckInAlert.raised_at, CheckInAlert.taken_at)
            .join(Case, Case.id == CheckInAlert.case_id)
            .where(*of_office(Case.office_id), *_during(CheckInAlert.raised_at, start, end))
        )
    ).all()
    taken = [
        Fraction(int((as_utc(taken_at) - as_utc(raised_at)).total_seconds()), 60)
        for raised_at, taken_at in alerts
        if taken_at is not None
    ]

    decided = (
        await session.scalars(
            select(Receipt.status)
            .join(Case, Case.id == Receipt.case_id)
            .where(*of_office(Case.office_id), *_during(Receipt.decided_at, start, end))
        )
    ).all()
    # submitted_on is the office's day of submitted_at: the same calendar as paid_on.
    paid = (
        await session.execute(
            select(Receipt.submitted_on, Payout.paid_on)
            .join(Payout, Payout.id == Receipt.payout_id)
            .join(Case, Case.id == Receipt.case_id)
            .where(
                *of_office(Case.office_id),
                Payout.status == PayoutStatus.PAID,
                *_on_days(Payout.paid_on, start, end),
            )
        )
    ).all()

    return Figures(
        office=chosen.code if chosen is not None else None,
        start=start,
        end=end,
        eligible=await count("eligible_on"),
        applicants=await count("applied_on"),
        returns=len(returned),
        days_to_return=Spread.of(
            (back - applied).days for applied, back in returned if applied and back
        ),
        drop_outs=_by_reason(DROP_REASONS, dropped),
        declines=_by_reason(DECLINE_REASONS, declined),
        first_response=Spread.of(seconds for *_, seconds in answers),
        first_response_by_office=by_office,
        check_ins_answered=sum(1 for status, _ in checked if status is CheckInStatus.ANSWERED),
        check_ins_missed=sum(1 for status, _ in checked if status is CheckInStatus.MISSED),
        alerts_raised=len(alerts),
        alerts_untaken=len(alerts) - len(taken),
        minutes_to_take=Spread.of(taken),
        receipts_approved=sum(1 for status in decided if status in APPROVED),
        receipts_rejected=sum(1 for status in decided if status is ReceiptStatus.REJECTED),
        days_to_payout=Spread.of(
            (paid_on - submitted).days for submitted, paid_on in paid if paid_on
        ),
        budget=await _budget(session, chosen),
        response_rate_by_month=tuple(
            MonthValue(month, len(marks), Fraction(100 * sum(marks), len(marks)))
            for month, marks in sorted(month_checks.items())
        ),
        first_response_by_month=tuple(
            MonthValue(month, len(values), _median(values))
            for month, values in sorted(minutes_by_month.items())
        ),
    )


async def _budget(session: AsyncSession, office: Office | None) -> tuple[BudgetUse, ...]:
    """Paid and held per category and currency, from each case's ledger statement."""
    cases = await session.scalars(
        select(Case)
        .where(
            Case.programme.is_not(None),
            Case.declined_on.is_(None),
            *([Case.office_id == office.id] if office is not None else []),
        )
        .order_by(Case.id)
    )
    paid: dict[tuple[str, str], Decimal] = {}
    total: dict[tuple[str, str], Decimal] = {}
    counted: dict[tuple[str, str], int] = defaultdict(int)
    for case in cases.all():
        for balance in (await ledger.statement(session, case)).balances:
            key = (balance.category, balance.currency)
            paid[key] = paid.get(key, Decimal("0.00")) + balance.paid
            total[key] = total.get(key, Decimal("0.00")) + balance.maximum
            counted[key] += 1
    return tuple(BudgetUse(c, cur, counted[c, cur], paid[c, cur], total[c, cur]) for c, cur in paid)


# ---- what is shown -------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the table. `metric` names what is measured, with placeholders for what it is
    of (`about`: a reason, an office, a category and currency); `key` fills them in."""

    metric: str
    value: str
    about: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.metric.format(**self.about)


def _decimal(value: Fraction) -> str:
    shown = (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP
    )
    return f"{shown:f}"


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


def shown_count(count: int, *, known: bool = True) -> str:
    """A count as shown: 0, "<5" for 1 to 4, or the number; "no data" when not `known`."""
    if not known:
        return NO_DATA
    return FEW if 0 < count < FEWEST else str(count)


def _shown(value: Fraction | None, count: int, unit: str = "") -> str:
    """A mean, median, percentile or rate made of `count` values."""
    if value is None or count == 0:
        return NO_DATA
    if count < FEWEST:
        return FEW
    return _decimal(value) + unit


def _spread(prefix: str, spread: Spread, about: Mapping[str, str] | None = None) -> list[Row]:
    return [
        Row(f"{prefix}.mean", _shown(spread.mean, spread.count), about or {}),
        Row(f"{prefix}.median", _shown(spread.median, spread.count), about or {}),
    ]


def _minutes(value: Fraction | None) -> Fraction | None:
    return value / 60 if value is not None else None


def _first_response(prefix: str, spread: Spread, about: Mapping[str, str]) -> list[Row]:
    return [
        Row(f"{prefix}.median_minutes", _shown(_minutes(spread.median), spread.count), about),
        Row(f"{prefix}.p90_minutes", _shown(_minutes(spread.p90), spread.count), about),
    ]


def table(figures: Figures) -> list[Row]:
    """Every figure as it may be shown, in the order of the documents' list, then the bot's."""
    rows = [
        Row("eligible", shown_count(figures.eligible)),
        Row("applicants", shown_count(figures.applicants)),
        Row("returns", shown_count(figures.returns)),
        *_spread("days_to_return", figures.days_to_return),
        Row("drop_outs", shown_count(figures.drop_outs_total)),
        *(
            Row("drop_outs.{reason}", shown_count(n), {"reason": reason})
            for reason, n in figures.drop_outs.items()
        ),
        Row("declined", shown_count(figures.declines_total)),
        *(
            Row("declined.{reason}", shown_count(n), {"reason": reason})
            for reason, n in figures.declines.items()
        ),
        *_first_response("first_response", figures.first_response, {}),
    ]
    for code, spread in figures.first_response_by_office.items():
        rows += _first_response("first_response.{office}", spread, {"office": code})
    checked = figures.check_ins_counted > 0
    # Alerts come from answered check-ins; a period without any has nothing to count.
    alerting = figures.check_ins_answered > 0 or figures.alerts_raised > 0
    receipts = figures.receipts_approved + figures.receipts_rejected > 0
    rows += [
        Row("check_ins.answered", shown_count(figures.check_ins_answered, known=checked)),
        Row("check_ins.missed", shown_count(figures.check_ins_missed, known=checked)),
        Row(
            "check_ins.response_rate",
            _shown(figures.response_rate, figures.check_ins_counted, "%"),
        ),
        Row("alerts.raised", shown_count(figures.alerts_raised, known=alerting)),
        Row("alerts.untaken", shown_count(figures.alerts_untaken, known=alerting)),
        Row(
            "alerts.minutes_to_take.median",
            _shown(figures.minutes_to_take.median, figures.minutes_to_take.count),
        ),
        Row("receipts.approved", shown_count(figures.receipts_approved, known=receipts)),
        Row("receipts.rejected", shown_count(figures.receipts_rejected, known=receipts)),
        *_spread("days_receipt_to_payout", figures.days_to_payout),
    ]
    if not figures.budget:
        rows.append(Row("budget", NO_DATA))
    for use in figures.budget:
        about = {"category": use.category, "currency": use.currency}
        few = use.cases < FEWEST
        rows += [
            Row("budget.{category}.{currency}.paid", FEW if few else _money(use.paid), about),
            Row("budget.{category}.{currency}.total", FEW if few else _money(use.total), about),
        ]
    return rows


def rows(figures: Figures) -> list[tuple[str, str]]:
    """(metric key, shown value) for every figure: what the CLI prints, the CSV holds and the
    chat shows (with translated labels)."""
    return [(row.key, row.value) for row in table(figures)]


def period_text(figures: Figures) -> str:
    """Which office and days the figures cover, in plain English for the command line."""
    office = f"office {figures.office}" if figures.office else "all offices"
    start = figures.start.isoformat() if figures.start else "the first record"
    end = figures.end.isoformat() if figures.end else "the last"
    return f"{office}, {start} to {end}"
