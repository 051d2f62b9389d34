"""The programme's statistics (issue 12, part 7): every figure of a seeded data set checked
against a value worked out by hand, the "<5" rule, period and office filters, the admin
command line with its CSV and chart, and /stats through the real bot for programme managers
only. On SQLite and PostgreSQL.

The data set (two offices, 20 cases) and the hand computations are in `seed` below; the
figures for 2026 are worked out next to the rows they are checked against.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from aiohttp import web
from matplotlib.image import imread
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import create_app
from bot.handlers import manager
from bot.knowledge.facts import CATEGORY_LABELS
from bot.services import budget, invites, offices, people
from bot.services.consent import give_consent
from bot.services.errors import RuleViolation
from bot.services.lifecycle import DECLINE_REASONS, DROP_REASONS, REASON_LABELS
from bot.services.statistics import Spread, figures, rows, table
from bot.services.statistics_chart import _months_between, has_data, render
from storage.db import create_engine, create_sessionmaker
from storage.migrate import upgrade_to_head
from storage.models import (
    Case,
    CaseStatus,
    CheckIn,
    CheckInAlert,
    CheckInStatus,
    LedgerKind,
    LedgerLine,
    PaidAs,
    Payout,
    PayoutStatus,
    Receipt,
    ReceiptStatus,
    ResponseTime,
)
from tests.conftest import RunningBot, make_settings
from tests.fakes.bot_api import FakeBotApi
from tests.test_admin_cli import cli as cli  # the fixture

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
YEAR = (date(2026, 1, 1), date(2026, 12, 31))
MANAGER, STAFF, COUNSELLOR, RETURNEE = 900, 111, 222, 501


def day(text: str) -> date:
    return date.fromisoformat(text)


def at(text: str) -> datetime:
    """A moment in UTC, e.g. "2026-03-10 10:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ---- the data set ----------------------------------------------------------------------------

# code, eligible, applied, returned, dropped (reason), declined (reason). Days from application
# to return are in the last column, counted by hand.
CASES: list[tuple[str, str, str | None, str | None, str | None, str | None]] = [
    ("RO-01", "2026-01-05", "2026-01-10", "2026-02-19", None, None),  # 40 days
    ("RO-02", "2026-01-05", "2026-01-12", "2026-02-23", None, None),  # 42
    ("RO-03", "2026-01-08", "2026-01-15", "2026-03-01", None, None),  # 16 + 28 + 1 = 45
    ("RO-04", "2026-02-01", "2026-02-03", "2026-03-05", None, None),  # 28 + 2 = 30
    ("RO-05", "2026-02-01", "2026-02-10", "2026-04-01", None, None),  # 28 + 22 = 50
    ("RO-06", "2026-02-15", "2026-02-20", "2026-03-27", None, None),  # 28 + 7 = 35
    ("RO-07", "2026-03-01", "2026-03-02", None, "2026-04-10 disappeared", None),
    ("RO-08", "2026-03-01", "2026-03-03", None, "2026-04-12 changed_mind", None),
    ("RO-09", "2026-03-05", "2026-03-06", None, "2026-05-01 disappeared", None),
    ("RO-10", "2026-03-05", None, None, None, "2026-03-20 fear_of_reprisals"),
    ("RO-11", "2026-04-01", None, None, None, "2026-04-05 fear_of_reprisals"),
    ("RO-12", "2026-04-01", None, None, None, "2026-04-06 support_too_small"),
    ("RO-13", "2025-11-10", "2025-11-20", "2026-01-09", None, None),  # 30 + 20 = 50
    ("RO-14", "2025-11-10", "2025-11-25", "2025-12-30", None, None),  # 35, in 2025
    ("TH-01", "2026-01-10", "2026-01-20", "2026-03-01", None, None),  # 31 + 9 = 40
    ("TH-02", "2026-01-10", "2026-01-21", "2026-03-03", None, None),  # 31 + 10 = 41
    ("TH-03", "2026-01-10", "2026-01-22", None, "2026-02-15 unsafe_to_return", None),
    ("TH-04", "2026-02-01", "2026-02-02", None, "2026-03-01 residence_permit", None),
    ("TH-05", "2026-02-01", None, None, None, "2026-02-10 home_situation"),
    ("TH-06", "2026-02-02", None, None, None, "2026-02-11 other"),
]
# First responses in seconds, by office and the moment the office answered.
RESPONSES = [
    ("RO", "2026-01-10 12:00", 300),
    ("RO", "2026-01-11 12:00", 600),
    ("RO", "2026-01-12 12:00", 900),
    ("RO", "2026-01-13 12:00", 1200),
    ("RO", "2026-01-14 12:00", 1800),  # January: 5 values, median 900 s = 15 minutes
    ("RO", "2026-02-05 12:00", 120),
    ("RO", "2026-02-06 12:00", 240),
    ("RO", "2026-02-07 12:00", 360),
    ("RO", "2026-02-08 12:00", 3600),  # February: 4 values, left out of the chart
    ("RO", "2025-12-15 12:00", 7200),  # before 2026
    ("TH", "2026-03-10 12:00", 60),
    ("TH", "2026-03-11 12:00", 90),
    ("TH", "2026-03-12 12:00", 30000),
]
A, M = CheckInStatus.ANSWERED, CheckInStatus.MISSED
# case, month after return, due, status.
CHECK_INS = [
    ("RO-14", 1, "2026-01-30 10:00", A),
    ("RO-01", 1, "2026-03-19 10:00", A),
    ("RO-02", 1, "2026-03-23 10:00", A),
    ("RO-03", 1, "2026-03-01 10:00", A),
    ("RO-04", 1, "2026-03-05 10:00", M),
    ("RO-06", 1, "2026-03-31 23:00", A),  # the last hour of the quarter still counts in it
    ("RO-13", 2, "2026-03-09 10:00", A),  # March: 5 answered, 1 missed
    ("RO-01", 2, "2026-04-19 10:00", A),
    ("RO-02", 2, "2026-04-23 10:00", M),
    ("RO-03", 2, "2026-04-01 10:00", M),
    ("TH-01", 1, "2026-04-01 10:00", A),
    ("TH-02", 1, "2026-04-03 10:00", M),  # April: 2 answered, 3 missed
    # Not counted: waiting for an answer, not asked yet, skipped by staff.
    ("RO-05", 1, "2026-04-28 10:00", CheckInStatus.ASKED),
    ("RO-06", 2, "2026-05-01 10:00", CheckInStatus.SCHEDULED),
    ("RO-04", 2, "2026-04-04 10:00", CheckInStatus.SKIPPED),
]
# case, raised, taken (None: nobody yet).
ALERTS = [
    ("RO-01", "2026-03-10 10:00", "2026-03-10 10:30"),  # 30 minutes
    ("RO-01", "2026-03-11 09:00", "2026-03-11 10:00"),  # 60
    ("RO-01", "2026-03-12 09:00", "2026-03-12 09:10"),  # 10
    ("RO-01", "2026-03-12 12:00", "2026-03-12 14:00"),  # 120
    ("RO-01", "2026-03-13 08:00", "2026-03-13 08:45"),  # 45
    ("RO-01", "2026-04-02 09:00", None),
    ("RO-01", "2026-04-03 09:00", None),
    ("TH-01", "2026-04-01 10:00", "2026-04-01 10:20"),  # 20
]
PAID = ReceiptStatus.PAID
# case, number, category, amount, status, submitted, decided, paid on.
RECEIPTS: list[tuple[str, int, str, str, ReceiptStatus, str, str | None, str | None]] = [
    ("RO-01", 1, "housing", "300.00", PAID, "2026-03-01", "2026-03-03", "2026-03-06"),
    ("RO-02", 1, "housing", "400.00", PAID, "2026-03-02", "2026-03-04", "2026-03-12"),
    ("RO-03", 1, "business", "1000.00", PAID, "2026-03-05", "2026-03-06", "2026-03-08"),
    ("RO-04", 1, "housing", "250.00", PAID, "2026-03-10", "2026-03-11", "2026-03-17"),
    ("RO-05", 1, "housing", "200.00", PAID, "2026-04-02", "2026-04-03", "2026-04-22"),
    # Approved, its payout not paid yet.
    ("RO-06", 1, "business", "500.00", ReceiptStatus.APPROVED, "2026-04-05", "2026-04-06", None),
    ("RO-01", 2, "housing", "80.00", ReceiptStatus.REJECTED, "2026-03-15", "2026-03-16", None),
    ("RO-02", 2, "housing", "90.00", ReceiptStatus.REJECTED, "2026-03-19", "2026-03-20", None),
    ("RO-03", 2, "housing", "60.00", ReceiptStatus.SUBMITTED, "2026-04-10", None, None),
    ("TH-01", 1, "housing", "700.00", PAID, "2026-03-02", "2026-03-03", "2026-03-04"),
]
# Receipt days to payout: RO 5, 10, 3, 7, 20; TH 2.


async def seed(session: AsyncSession) -> None:
    """Offices RO (programme dk: housing 900 USD, business 3,000 USD) and TH (programme no:
    housing 5,000 NOK), and everything above. RO-01's housing is raised by 100 USD, and
    RO-07 got 100 USD of housing without a receipt."""
    for code, group in (("RO", -1001234), ("TH", -1005678)):
        await offices.add_office(
            session,
            code=code,
            name=f"IOM {code}",
            country=code,
            timezone="UTC",
            languages=["en"],
            group_chat_id=group,
        )
    for programme, category, maximum, currency in (
        ("dk", "housing", "900", "USD"),
        ("dk", "business", "3,000", "USD"),
        ("no", "housing", "5,000", "NOK"),
    ):
        await budget.set_category(
            session,
            programme=programme,
            category=category,
            maximum=maximum,
            currency=currency,
            paid_as=PaidAs.IN_KIND,
        )
    office_ids = {o.code: o.id for o in await offices.list_offices(session)}
    cases: dict[str, Case] = {}
    for code, eligible, applied, returned, dropped, declined in CASES:
        office = code[:2]
        drop_day, drop_reason = dropped.split() if dropped else (None, None)
        decline_day, decline_reason = declined.split() if declined else (None, None)
        case = Case(
            code=code,
            office_id=office_ids[office],
            language="en",
            programme="dk" if office == "RO" and code not in ("RO-13", "RO-14") else None,
            status=(
                CaseStatus.RETURNED
                if returned
                else CaseStatus.DROPPED_OUT
                if dropped
                else CaseStatus.PREPARING
            ),
            eligible_on=day(eligible),
            applied_on=day(applied) if applied else None,
            returned_on=day(returned) if returned else None,
            dropped_on=day(drop_day) if drop_day else None,
            drop_reason=drop_reason,
            declined_on=day(decline_day) if decline_day else None,
            decline_reason=decline_reason,
        )
        if office == "TH":
            case.programme = "no"
        session.add(case)
        cases[code] = case
    await session.flush()

    for office, answered, seconds in RESPONSES:
        case = cases[f"{office}-01"]
        session.add(
            ResponseTime(
                case_id=case.id,
                office_id=office_ids[office],
                asked_at=at(answered) - timedelta(seconds=seconds),
                answered_at=at(answered),
                seconds=seconds,
            )
        )
    check_ins: dict[tuple[str, int], CheckIn] = {}
    for code, month, due, status in CHECK_INS:
        check_in = CheckIn(case_id=cases[code].id, month=month, due_at=at(due), status=status)
        if status is A:
            check_in.asked_at = check_in.answered_at = at(due)
        session.add(check_in)
        check_ins[code, month] = check_in
    await session.flush()
    for code, raised, taken in ALERTS:
        session.add(
            CheckInAlert(
                case_id=cases[code].id,
                check_in_id=check_ins[code, 1].id,
                answer="safe.no",
                raised_at=at(raised),
                repeat_at=at(raised) + timedelta(days=1),
                taken_at=at(taken) if taken else None,
            )
        )

    for code, number, category, amount, status, submitted, decided, paid_on in RECEIPTS:
        case = cases[code]
        payout = None
        if status in (ReceiptStatus.PAID, ReceiptStatus.APPROVED):
            payout = Payout(
                case_id=case.id,
                category=category,
                amount=Decimal(amount),
                status=PayoutStatus.PAID if paid_on else PayoutStatus.APPROVED,
                paid_on=day(paid_on) if paid_on else None,
            )
            session.add(payout)
            await session.flush()
        receipt = Receipt(
            case_id=case.id,
            number=number,
            category=category,
            amount=Decimal(amount),
            currency="NOK" if code.startswith("TH") else "USD",
            description="materials",
            status=status,
            submitted_at=at(f"{submitted} 09:00"),
            submitted_on=day(submitted),
            decided_at=at(f"{decided} 15:00") if decided else None,
            payout_id=payout.id if payout else None,
        )
        session.add(receipt)
        await session.flush()
        if payout is not None:
            payout.receipt_id = receipt.id
    session.add(
        LedgerLine(
            case_id=cases["RO-01"].id,
            kind=LedgerKind.ADJUSTMENT,
            category="housing",
            amount=Decimal("100.00"),
            reason="a larger flat for the family",
            at=at("2026-02-20 10:00"),
        )
    )
    session.add(
        Payout(
            case_id=cases["RO-07"].id,
            category="housing",
            amount=Decimal("100.00"),
            status=PayoutStatus.PAID,
            paid_on=day("2026-04-20"),
        )
    )
    await session.commit()


async def seed_database(database_url: str) -> None:
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    async with create_sessionmaker(engine)() as session:
        await seed(session)
    await engine.dispose()


# ---- the figures -----------------------------------------------------------------------------

# Office RO in 2026, worked out by hand from the data set:
RO_2026 = [
    ("eligible", "12"),  # RO-01 to RO-12; RO-13 and RO-14 in 2025
    ("applicants", "9"),  # RO-01 to RO-09
    ("returns", "7"),  # RO-01 to RO-06 and RO-13 (RO-14 returned in 2025)
    # Days 40, 42, 45, 30, 50, 35, 50: sum 292, 292 / 7 = 41.71; sorted 30 35 40 [42] 45 50 50.
    ("days_to_return.mean", "41.7"),
    ("days_to_return.median", "42.0"),
    ("drop_outs", "<5"),  # 3
    ("drop_outs.disappeared", "<5"),  # 2
    ("drop_outs.changed_mind", "<5"),  # 1
    ("drop_outs.unsafe_to_return", "0"),
    ("drop_outs.residence_permit", "0"),
    ("drop_outs.other", "0"),
    ("declined", "<5"),  # 3
    ("declined.fear_of_reprisals", "<5"),  # 2
    ("declined.family_expectations", "0"),
    ("declined.home_situation", "0"),
    ("declined.hopes_for_permit", "0"),
    ("declined.support_too_small", "<5"),  # 1
    ("declined.other", "0"),
    # Seconds 120 240 300 360 [600] 900 1200 1800 3600 (9, December 2025 left out): median the
    # 5th, 600 s = 10 minutes; 90th percentile rank ceil(0.9 * 9) = 9: 3600 s = 60 minutes.
    ("first_response.median_minutes", "10.0"),
    ("first_response.p90_minutes", "60.0"),
    # January 1 answered; March 5 answered, 1 missed; April 1 answered, 2 missed: 7 of 10.
    ("check_ins.answered", "7"),
    ("check_ins.missed", "<5"),
    ("check_ins.response_rate", "70.0%"),
    ("alerts.raised", "7"),
    ("alerts.untaken", "<5"),  # 2
    ("alerts.minutes_to_take.median", "45.0"),  # 10 30 [45] 60 120
    ("receipts.approved", "6"),  # five paid, one approved and not paid yet
    ("receipts.rejected", "<5"),  # 2
    # Days 5, 10, 3, 7, 20: sum 45, 45 / 5 = 9; sorted 3 5 [7] 10 20.
    ("days_receipt_to_payout.mean", "9.0"),
    ("days_receipt_to_payout.median", "7.0"),
    # RO-01 to RO-09 have programme dk (RO-10 to RO-12 declined; RO-13, RO-14 have none):
    # housing 9 x 900 + 100 (RO-01's raise) = 8,200, paid 300 + 400 + 250 + 200 + 100 (RO-07)
    # = 1,250; business 9 x 3,000 = 27,000, paid 1,000 (RO-06's 500 is approved, not paid).
    ("budget.housing.USD.paid", "1250.00"),
    ("budget.housing.USD.total", "8200.00"),
    ("budget.business.USD.paid", "1000.00"),
    ("budget.business.USD.total", "27000.00"),
]

# All offices in 2026, worked out by hand:
ALL_2026 = [
    ("eligible", "18"),  # RO 12 + TH 6
    ("applicants", "13"),  # RO 9 + TH 4
    ("returns", "9"),  # RO 7 + TH 2
    # Days 30 35 40 40 [41] 42 45 50 50: sum 373, 373 / 9 = 41.44; median the 5th, 41.
    ("days_to_return.mean", "41.4"),
    ("days_to_return.median", "41.0"),
    ("drop_outs", "5"),
    ("drop_outs.disappeared", "<5"),  # 2
    ("drop_outs.changed_mind", "<5"),  # 1
    ("drop_outs.unsafe_to_return", "<5"),  # 1
    ("drop_outs.residence_permit", "<5"),  # 1
    ("drop_outs.other", "0"),
    ("declined", "5"),
    ("declined.fear_of_reprisals", "<5"),  # 2
    ("declined.family_expectations", "0"),
    ("declined.home_situation", "<5"),  # 1
    ("declined.hopes_for_permit", "0"),
    ("declined.support_too_small", "<5"),  # 1
    ("declined.other", "<5"),  # 1
    # Seconds 60 90 120 240 300 [360 600] 900 1200 1800 3600 30000 (12): median
    # (360 + 600) / 2 = 480 s = 8 minutes; rank ceil(0.9 * 12) = 11: 3600 s = 60 minutes.
    ("first_response.median_minutes", "8.0"),
    ("first_response.p90_minutes", "60.0"),
    ("first_response.RO.median_minutes", "10.0"),
    ("first_response.RO.p90_minutes", "60.0"),
    ("first_response.TH.median_minutes", "<5"),  # a median of 3 values points at people
    ("first_response.TH.p90_minutes", "<5"),
    # RO 7 of 10, TH 1 of 2: 8 answered, 4 missed, 8 / 12 = 66.67%.
    ("check_ins.answered", "8"),
    ("check_ins.missed", "<5"),
    ("check_ins.response_rate", "66.7%"),
    ("alerts.raised", "8"),
    ("alerts.untaken", "<5"),
    ("alerts.minutes_to_take.median", "37.5"),  # 10 20 [30 45] 60 120: (30 + 45) / 2
    ("receipts.approved", "7"),
    ("receipts.rejected", "<5"),
    # Days 2 3 [5 7] 10 20: sum 47, 47 / 6 = 7.83; median (5 + 7) / 2 = 6.
    ("days_receipt_to_payout.mean", "7.8"),
    ("days_receipt_to_payout.median", "6.0"),
    ("budget.housing.USD.paid", "1250.00"),
    ("budget.housing.USD.total", "8200.00"),
    ("budget.business.USD.paid", "1000.00"),
    ("budget.business.USD.total", "27000.00"),
    # TH-01 to TH-04 have programme no (TH-05, TH-06 declined): 4 cases.
    ("budget.housing.NOK.paid", "<5"),
    ("budget.housing.NOK.total", "<5"),
]


async def test_every_figure_of_one_office_matches_the_hand_computation(session):
    await seed(session)
    found = await figures(session, office="ro", start=YEAR[0], end=YEAR[1])
    assert found.office == "RO"
    assert (found.eligible, found.applicants, found.returns) == (12, 9, 7)
    assert found.days_to_return == Spread(7, Fraction(292, 7), Fraction(42), Fraction(50))
    assert dict(found.drop_outs) == {
        "disappeared": 2,
        "changed_mind": 1,
        "unsafe_to_return": 0,
        "residence_permit": 0,
        "other": 0,
    }
    assert found.declines["fear_of_reprisals"] == 2
    assert found.declines["support_too_small"] == 1
    assert found.first_response == Spread(9, Fraction(9120, 9), Fraction(600), Fraction(3600))
    assert found.first_response_by_office == {}  # one office: its figures are the overall ones
    assert (found.check_ins_answered, found.check_ins_missed) == (7, 3)
    assert found.response_rate == Fraction(70)
    assert (found.alerts_raised, found.alerts_untaken) == (7, 2)
    assert found.minutes_to_take.median == Fraction(45)
    assert (found.receipts_approved, found.receipts_rejected) == (6, 2)
    assert found.days_to_payout == Spread(5, Fraction(9), Fraction(7), Fraction(20))
    housing, business = found.budget
    assert (housing.category, housing.currency, housing.cases) == ("housing", "USD", 9)
    assert (housing.paid, housing.total) == (Decimal("1250.00"), Decimal("8200.00"))
    assert isinstance(housing.paid, Decimal)
    assert (business.paid, business.total) == (Decimal("1000.00"), Decimal("27000.00"))
    assert rows(found) == RO_2026


async def test_all_offices_list_each_office_and_hide_what_fewer_than_five_make(session):
    await seed(session)
    found = await figures(session, office=None, start=YEAR[0], end=YEAR[1])
    assert found.office is None
    assert found.first_response_by_office["TH"] == Spread(
        3, Fraction(30150, 3), Fraction(90), Fraction(30000)
    )
    assert rows(found) == ALL_2026
    # Months for the chart: check-ins January 1 (100%), March 6 (5 of 6), April 5 (2 of 5);
    # first responses January 5 (median 15 minutes), February 4, March 3.
    assert [(m.month, m.count, m.value) for m in found.response_rate_by_month] == [
        ("2026-01", 1, Fraction(100)),
        ("2026-03", 6, Fraction(250, 3)),
        ("2026-04", 5, Fraction(40)),
    ]
    assert [(m.month, m.count, m.value) for m in found.first_response_by_month] == [
        ("2026-01", 5, Fraction(15)),
        ("2026-02", 4, Fraction(5)),  # 120 240 | 360 3600: (240 + 360) / 2 s
        ("2026-03", 3, Fraction(3, 2)),
    ]


async def test_one_office_with_few_cases_shows_counts_of_one_to_four_as_fewer_than_five(session):
    await seed(session)
    shown = dict(rows(await figures(session, office="TH", start=YEAR[0], end=YEAR[1])))
    assert shown["eligible"] == "6"
    assert shown["applicants"] == shown["returns"] == "<5"  # 4 and 2
    assert shown["days_to_return.mean"] == shown["days_to_return.median"] == "<5"  # 40, 41
    assert shown["drop_outs.unsafe_to_return"] == "<5"  # 1
    assert shown["drop_outs.disappeared"] == "0"  # nobody: 0, not hidden
    # A median and a percentile of three response times (60, 90, 30000 s) are hidden.
    assert shown["first_response.median_minutes"] == shown["first_response.p90_minutes"] == "<5"
    assert shown["check_ins.answered"] == shown["check_ins.missed"] == "<5"
    assert shown["check_ins.response_rate"] == "<5"  # from 2 check-ins
    assert (shown["alerts.raised"], shown["alerts.untaken"]) == ("<5", "0")
    assert shown["alerts.minutes_to_take.median"] == "<5"
    assert (shown["receipts.approved"], shown["receipts.rejected"]) == ("<5", "0")
    assert shown["days_receipt_to_payout.median"] == "<5"
    assert shown["budget.housing.NOK.paid"] == shown["budget.housing.NOK.total"] == "<5"
    assert not [key for key in shown if key.startswith("first_response.TH")]


async def test_the_period_is_inclusive_and_limits_every_dated_figure(session):
    await seed(session)
    quarter = dict(rows(await figures(session, office="RO", start=YEAR[0], end=day("2026-03-31"))))
    # Eligible RO-01 to RO-10; applied RO-01 to RO-09; returned RO-01 to RO-04, RO-06 and RO-13
    # (RO-05 on 1 April): days 40 42 45 30 35 50, sum 242 / 6 = 40.33, median (40 + 42) / 2.
    assert [quarter[k] for k in ("eligible", "applicants", "returns")] == ["10", "9", "6"]
    assert quarter["days_to_return.mean"] == "40.3"
    assert quarter["days_to_return.median"] == "41.0"
    assert quarter["drop_outs"] == "0"  # the drop-outs came in April and May
    assert quarter["declined"] == "<5"  # RO-10, on 20 March
    # January 1 answered, March 5 answered (RO-06's at 23:00 on the 31st included), 1 missed:
    # 6 / 7 = 85.71%.
    assert quarter["check_ins.answered"] == "6"
    assert quarter["check_ins.response_rate"] == "85.7%"
    assert (quarter["alerts.raised"], quarter["alerts.untaken"]) == ("5", "0")
    assert quarter["alerts.minutes_to_take.median"] == "45.0"
    assert (quarter["receipts.approved"], quarter["receipts.rejected"]) == ("<5", "<5")
    assert quarter["days_receipt_to_payout.mean"] == "<5"  # four paid in March
    # Without limits: every case; days 30 35 35 40 40 41 42 45 50 50, sum 408 / 10 = 40.8,
    # median (40 + 41) / 2 = 40.5; 13 first responses (December 2025's too).
    everything = await figures(session, office=None, start=None, end=None)
    assert (everything.eligible, everything.applicants, everything.returns) == (20, 15, 10)
    assert everything.days_to_return.mean == Fraction(408, 10)
    assert everything.days_to_return.median == Fraction(81, 2)
    assert everything.first_response.count == 13


async def test_what_the_bot_has_not_recorded_is_shown_as_no_data(session):
    await seed(session)
    shown = dict(rows(await figures(session, office=None, start=day("2024-01-01"), end=None)))
    assert shown["eligible"] == "20"
    empty = dict(rows(await figures(session, office=None, start=day("2024-01-01"),
                                    end=day("2024-12-31"))))  # fmt: skip
    assert [empty[k] for k in ("eligible", "applicants", "returns", "drop_outs")] == ["0"] * 4
    for key in (
        "days_to_return.mean",
        "first_response.median_minutes",
        "first_response.TH.p90_minutes",
        "check_ins.answered",
        "check_ins.response_rate",
        "alerts.raised",
        "alerts.minutes_to_take.median",
        "receipts.approved",
        "days_receipt_to_payout.median",
    ):
        assert empty[key] == "no data", key
    # The budget is the state today, whatever the period.
    assert empty["budget.housing.USD.paid"] == "1250.00"


async def test_an_office_without_cases_has_no_budget_data(session):
    await offices.add_office(
        session, code="NP", name="IOM NP", country="NP", timezone="UTC", languages=["en"]
    )
    found = await figures(session, office="NP", start=None, end=None)
    assert ("budget", "no data") in rows(found)
    assert ("eligible", "0") in rows(found)
    assert not has_data(found)


async def test_an_unknown_office_or_a_period_ending_before_it_starts_is_refused(session):
    with pytest.raises(RuleViolation, match="office XX does not exist"):
        await figures(session, office="xx", start=None, end=None)
    with pytest.raises(RuleViolation, match="starts"):
        await figures(session, office=None, start=day("2026-02-01"), end=day("2026-01-01"))


def test_median_is_the_middle_and_the_percentile_the_nearest_rank():
    assert Spread.of([]) == Spread(0, None, None, None)
    # 1..10: median (5 + 6) / 2; rank ceil(9.0) = 9.
    assert Spread.of(range(1, 11)) == Spread(10, Fraction(11, 2), Fraction(11, 2), Fraction(9))
    # 1..11: median the 6th; rank ceil(9.9) = 10.
    assert Spread.of(range(1, 12)) == Spread(11, Fraction(6), Fraction(6), Fraction(10))
    # One value is its own everything; order does not matter.
    assert Spread.of([7]) == Spread(1, Fraction(7), Fraction(7), Fraction(7))
    assert Spread.of([3, 1, 2]).median == Fraction(2)


def test_every_figure_and_reason_has_a_label_for_the_chat():
    metrics = {
        "eligible", "applicants", "returns", "days_to_return.mean", "days_to_return.median",
        "drop_outs", "drop_outs.{reason}", "declined", "declined.{reason}",
        "first_response.median_minutes", "first_response.p90_minutes",
        "first_response.{office}.median_minutes", "first_response.{office}.p90_minutes",
        "check_ins.answered", "check_ins.missed", "check_ins.response_rate", "alerts.raised",
        "alerts.untaken", "alerts.minutes_to_take.median", "receipts.approved",
        "receipts.rejected", "days_receipt_to_payout.mean", "days_receipt_to_payout.median",
        "budget", "budget.{category}.{currency}.paid", "budget.{category}.{currency}.total",
    }  # fmt: skip
    assert set(manager.LABELS) == metrics
    assert set(DROP_REASONS) | set(DECLINE_REASONS) == set(REASON_LABELS)
    assert set(budget.CATEGORIES) <= set(CATEGORY_LABELS)


async def test_the_table_names_each_metric_the_labels_know(session):
    await seed(session)
    found = await figures(session, office=None, start=None, end=None)
    assert {row.metric for row in table(found)} <= set(manager.LABELS)


# ---- the chart -------------------------------------------------------------------------------


def png_size(content: bytes) -> tuple[int, int]:
    """Width and height from the PNG's header (IHDR), after checking the signature."""
    assert content[:8] == PNG_SIGNATURE
    assert content[12:16] == b"IHDR"
    return int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")


def decodes(content: bytes) -> bool:
    pixels = imread(io.BytesIO(content), format="png")
    return pixels.shape[0] > 0 and pixels.shape[1] > 0


async def test_the_chart_is_a_png_drawn_without_a_display(session):
    await seed(session)
    found = await figures(session, office=None, start=YEAR[0], end=YEAR[1])
    assert has_data(found)
    content = render(found)
    width, height = png_size(content)
    assert (width, height) == (800, 1100)
    assert decodes(content)
    # An office whose months are all made of fewer than 5 values has nothing to draw.
    assert not has_data(await figures(session, office="TH", start=YEAR[0], end=YEAR[1]))


def test_a_month_left_out_is_a_gap_in_the_line_not_a_join():
    assert _months_between("2026-11", "2027-02") == ["2026-11", "2026-12", "2027-01", "2027-02"]
    assert _months_between("2026-03", "2026-03") == ["2026-03"]


# ---- the admin command line ------------------------------------------------------------------


def test_the_command_line_prints_the_table_and_writes_the_same_rows_as_csv(
    cli, database_url, tmp_path
):
    asyncio.run(seed_database(database_url))
    target, chart = tmp_path / "ro.csv", tmp_path / "ro.png"
    code, out, err = cli(
        "admin", "stats", "--office", "ro", "--from", "2026-01-01", "--to", "2026-12-31",
        "--csv", str(target), "--chart", str(chart),
    )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:2] == ["statistics for office RO, 2026-01-01 to 2026-12-31", ""]
    width = max(len(key) for key, _ in RO_2026)
    assert lines[2 : 2 + len(RO_2026)] == [f"{key:<{width}}  {value}" for key, value in RO_2026]
    assert lines[2 + len(RO_2026) :] == [f"CSV written to {target}", f"chart written to {chart}"]
    with target.open(newline="", encoding="utf-8") as file:
        assert list(csv.reader(file)) == [["metric", "value"], *map(list, RO_2026)]
    assert png_size(chart.read_bytes())[0] > 0
    assert decodes(chart.read_bytes())


def test_the_command_line_covers_every_office_and_all_time_by_default(cli, database_url):
    asyncio.run(seed_database(database_url))
    code, out, err = cli("admin", "stats")
    assert code == 0, err
    shown = dict(line.split(None, 1) for line in out.splitlines()[2:])
    assert out.splitlines()[0] == "statistics for all offices, the first record to the last"
    assert (shown["eligible"], shown["returns"]) == ("20", "10")
    assert shown["days_to_return.median"] == "40.5"
    assert shown["first_response.TH.median_minutes"] == "<5"


def test_the_command_line_refuses_an_unknown_office_a_reversed_period_and_bad_dates(
    cli, database_url, tmp_path
):
    asyncio.run(seed_database(database_url))
    target = tmp_path / "never.csv"
    code, _, err = cli("admin", "stats", "--office", "XX", "--csv", str(target))
    assert (code, err.strip()) == (2, "error: office XX does not exist")
    assert not target.exists()
    code, _, err = cli("admin", "stats", "--from", "2026-06-30", "--to", "2026-01-01")
    assert code == 2
    assert "the period starts (2026-06-30) after it ends (2026-01-01)" in err
    code, _, err = cli("admin", "stats", "--from", "2026-13-01")
    assert code == 2
    assert "'2026-13-01' is not a date like 2026-10-01" in err
    code, _, err = cli("admin", "stats", "--csv", str(tmp_path / "missing" / "x.csv"))
    assert code == 2
    assert "cannot write" in err


# ---- /stats in the bot -----------------------------------------------------------------------


class PhotoBotApi(FakeBotApi):
    """The fake Bot API, also answering sendPhoto as Telegram does and keeping the file."""

    def __init__(self) -> None:
        super().__init__()
        self.photos: list[bytes] = []

    async def _params(self, request: web.Request, method: str) -> dict[str, Any]:
        params = await super()._params(request, method)
        if method == "sendPhoto":
            form = await request.post()  # read once by the parent; aiohttp keeps it
            upload = form[str(params["photo"]).removeprefix("attach://")]
            assert isinstance(upload, web.FileField)
            self.photos.append(upload.file.read())
        return params

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method != "sendPhoto":
            return super()._answer(method, params)
        chat_id = int(params["chat_id"])
        message = self._new_message(chat_id, params)
        message["photo"] = [
            {"file_id": "stats", "file_unique_id": "ustats", "width": 800, "height": 1100}
        ]
        if params.get("caption"):
            message["caption"] = params["caption"]
        return self._store(chat_id, message)


@pytest.fixture
async def fake_api() -> AsyncIterator[PhotoBotApi]:
    """The conftest's fake_api, with photos answered."""
    api = PhotoBotApi()
    await api.start()
    yield api
    await api.stop()
    assert not api.violations, "calls that break the Bot API spec:\n" + "\n".join(api.violations)
    assert not api.refused_texts, f"Telegram refused texts or captions: {api.refused_texts}"
    assert not api.calls_to("forwardMessage"), "the bot must copy, never forward"
    assert not api.names_in_groups(), "a Telegram name reached a staff group"


@pytest.fixture
async def bot(fake_api: PhotoBotApi, database_url: str) -> AsyncIterator[RunningBot]:
    """The real bot on the seeded data set, with a programme manager, a staff member of RO, a
    counsellor and a returnee of RO-01 who agreed."""
    running = RunningBot(create_app(make_settings(fake_api, database_url)), fake_api)
    await running.start()
    async with running.session() as session:
        await seed(session)
        await people.add_admin(session, telegram_user_id=MANAGER, name="Programme", language="en")
        await people.add_staff(session, office_code="RO", telegram_user_id=STAFF, name="Ana")
        await people.add_counsellor(
            session, telegram_user_id=COUNSELLOR, name="Mette", organisation="CMM", language="en"
        )
        issued = await invites.invite_returnee(session, case_code="RO-01", ttl_days=1)
        joined = await invites.redeem(session, token=issued.token, telegram_user_id=RETURNEE)
        joined.person.language = "en"
        give_consent(session, joined.case, joined.person, language="en")
        await session.commit()
    yield running
    await running.stop()


def texts_to(api: FakeBotApi, chat_id: int, after: int = 0) -> list[str]:
    return [
        c["text"]
        for c in api.calls[after:]
        if c.method == "sendMessage" and c["chat_id"] == chat_id
    ]


async def test_a_programme_manager_gets_the_table_and_the_chart(bot, monkeypatch):
    api: PhotoBotApi = bot.api
    # "This year so far" on the last day of 2026.
    monkeypatch.setattr(manager, "utcnow", lambda: datetime(2026, 12, 31, 18, tzinfo=UTC))
    await bot.user(MANAGER).send("/stats")
    (text,) = texts_to(api, MANAGER)
    lines = text.splitlines()
    assert lines[0] == "📊 Statistics for all offices, 2026-01-01 to 2026-12-31"
    assert lines[-1].startswith("Counts from 1 to 4, and figures made of fewer than 5 values")
    shown = [line for line in lines[1:-1] if line]
    # One line per row, in the same order, with the shown value after the label.
    assert [line.rsplit(": ", 1)[1] for line in shown] == [value for _, value in ALL_2026]
    for line in (
        "Eligible persons: 18",
        "Days from application to return, mean: 41.4",
        "Dropped out: disappeared: <5",
        "Did not join: the situation at home: <5",
        "First response at TH, median (minutes): <5",
        "First response, 90th percentile (minutes): 60.0",
        "Check-in response rate: 66.7%",
        "Minutes until an alert was taken, median: 37.5",
        "Housing (USD): paid to date: 1250.00",
        "Housing (NOK): the cases' total: <5",
    ):
        assert line in shown
    (photo,) = api.calls_to("sendPhoto")
    assert photo["chat_id"] == MANAGER
    assert photo["protect_content"] is True
    assert photo["caption"].startswith("📊 Statistics for all offices")
    (content,) = api.photos
    assert png_size(content)[0] > 0
    assert decodes(content)


async def test_one_office_and_a_period_and_no_chart_where_nothing_can_be_drawn(bot):
    api: PhotoBotApi = bot.api
    await bot.user(MANAGER).send("/stats ro 2026-01-01 2026-12-31")
    (text,) = texts_to(api, MANAGER)
    assert text.startswith("📊 Statistics for office RO, 2026-01-01 to 2026-12-31\n")
    assert "Eligible persons: 12" in text
    assert "Receipts approved: 6" in text
    assert "First response at" not in text
    assert len(api.calls_to("sendPhoto")) == 1
    mark = len(api.calls)
    await bot.user(MANAGER).send("/stats TH 2026-01-01 2026-12-31")
    (text,) = texts_to(api, MANAGER, mark)
    assert "Applicants: <5" in text
    assert len(api.calls_to("sendPhoto")) == 1  # TH has nothing made of 5 or more to draw
    mark = len(api.calls)
    await bot.user(MANAGER).send("/stats 2024-01-01 2024-12-31")
    (text,) = texts_to(api, MANAGER, mark)
    assert "Check-in response rate: no data" in text
    assert "Returns: 0" in text


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("/stats XX", "There is no office XX. Offices: RO, TH."),
        ("/stats RO 2026-13-01 2026-12-31",
         "2026-13-01 is not a date. Write dates like 2026-01-31."),
        ("/stats RO 2026-06-30 2026-01-01", "The period starts after it ends."),
        ("/stats RO 2026-01-01", manager.USAGE),
        ("/stats " + "Z" * 100, f"There is no office {'Z' * 31}…. Offices: RO, TH."),
    ],
)  # fmt: skip
async def test_a_bad_office_or_date_gets_a_clear_answer(bot, command, answer):
    await bot.user(MANAGER).send(command)
    assert texts_to(bot.api, MANAGER) == [answer]
    assert not bot.api.calls_to("sendPhoto")


@pytest.mark.parametrize("who", [STAFF, COUNSELLOR, RETURNEE])
async def test_staff_counsellors_and_returnees_get_no_statistics(bot, who):
    mark = len(bot.api.calls)
    await bot.user(who).send("/stats 2026-01-01 2026-12-31")
    await bot.settled()
    answers = texts_to(bot.api, who, mark)
    assert not [text for text in answers if "Statistics" in text or "Eligible" in text]
    assert not bot.api.calls_to("sendPhoto")
    everywhere = [c.get("text", "") for c in bot.api.calls[mark:] if c.method == "sendMessage"]
    assert not [text for text in everywhere if "Eligible persons" in text]


async def test_a_manager_still_gets_the_staff_help_for_anything_else(bot):
    await bot.user(MANAGER).send("hello")
    assert texts_to(bot.api, MANAGER) == [
        "Case conversations are handled in your office's staff group, not in this chat."
    ]


async def test_a_long_table_comes_in_parts_that_telegram_accepts(bot):
    """Forty more offices add two rows each to the table for all offices."""
    async with bot.session() as session:
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        codes = [a + b for a, b in itertools.product(letters, repeat=2)][:40]
        for code in codes:
            await offices.add_office(
                session, code=code, name=code, country="RO", timezone="UTC", languages=["en"]
            )
        await session.commit()
    await bot.user(MANAGER).send("/stats 2026-01-01 2026-12-31")
    parts = texts_to(bot.api, MANAGER)
    assert len(parts) >= 2
    assert all(len(part.encode("utf-16-le")) // 2 <= 4096 for part in parts)
    joined = "\n".join(parts)
    assert f"First response at {codes[-1]}, median (minutes): no data" in joined
    assert not bot.api.refused_texts
