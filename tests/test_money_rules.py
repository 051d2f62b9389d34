"""The money rules, one test each, through the services on a real database (SQLite, and
PostgreSQL when it answers). Two staff racing on PostgreSQL decide once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services import budget, cases, invites, ledger, people, receipts
from bot.services.case_rows import with_details as cases_details
from bot.services.clock import utcnow
from bot.services.errors import RuleViolation
from bot.services.receipts import ReceiptFileRef
from storage.db import create_engine, create_sessionmaker
from storage.migrate import upgrade_to_head
from storage.models import (
    BudgetCategory,
    Case,
    CaseStatus,
    LedgerLine,
    OutboxItem,
    PaidAs,
    PaymentMethod,
    Payout,
    PayoutStatus,
    Person,
    Receipt,
    ReceiptStatus,
)
from tests.world import office_with_case

DAY = date(2026, 10, 2)
BANK = PaymentMethod.BANK


@dataclass(frozen=True)
class Category:
    name: str
    maximum: str
    currency: str
    paid_as: PaidAs
    months: int | None = None
    reallocatable: bool = False
    ceiling: str | None = None


# Programme "dk": housing and business paid against receipts and movable between them;
# education against receipts in euro; the allowance in cash, monthly.
DK = (
    Category("allowance", "500", "DKK", PaidAs.CASH, months=3),
    Category("housing", "3000", "DKK", PaidAs.IN_KIND, reallocatable=True, ceiling="4000"),
    Category("business", "5000", "DKK", PaidAs.IN_KIND, reallocatable=True),
    Category("education", "1000", "EUR", PaidAs.IN_KIND, reallocatable=True),
    Category("medical", "200", "DKK", PaidAs.IN_KIND),
)


async def set_programme_budget(
    session: AsyncSession, programme: str, categories: tuple[Category, ...] = DK
) -> None:
    for c in categories:
        row: BudgetCategory = await budget.set_category(
            session,
            programme=programme,
            category=c.name,
            maximum=c.maximum,
            currency=c.currency,
            paid_as=c.paid_as,
            months=c.months,
        )
        row.reallocatable = c.reallocatable
        row.ceiling = Decimal(c.ceiling) if c.ceiling else None
    await session.flush()


async def case_with_returnee(
    session: AsyncSession, *, code: str, programme: str, returnee_telegram_id: int
) -> tuple[Case, Person]:
    """A case of office RO on `programme` whose returnee has joined; committed. Its return
    date is set after the case is added, so that its instalments are planned only where a
    test plans them."""
    case = await cases.add_case(
        session,
        office_code="RO",
        code=code,
        language="en",
        counsellor_telegram_ids=[222],
        programme=programme,
    )
    case.return_date = date(2026, 10, 1)
    issued = await invites.invite_returnee(session, case_code=code, ttl_days=14)
    joined = await invites.redeem(
        session, token=issued.token, telegram_user_id=returnee_telegram_id
    )
    assert joined.person is not None
    await session.commit()
    return await cases.get_case(session, code), joined.person


@dataclass
class MoneyWorld:
    case: Case
    returnee: Person
    staff: Person  # registered staff of the case's office, RO
    other_staff: Person  # registered staff of office BG
    counsellor: Person  # the case's counsellor


async def money_world(session: AsyncSession) -> MoneyWorld:
    """Offices RO and BG with a staff member each, programme "dk", case RO-0007 on it whose
    returnee (501) has joined, and its counsellor (222). Committed."""
    await office_with_case(session)
    await office_with_case(session, office="BG", counsellor_id=None)
    staff = await people.add_staff(session, office_code="RO", telegram_user_id=301, name="Ana")
    other = await people.add_staff(session, office_code="BG", telegram_user_id=401, name="Ivan")
    await set_programme_budget(session, "dk")
    issued_case = await cases.get_case(session, "RO-0007")
    # Set directly, not with cases.set_programme: that plans the allowance's instalments, and
    # these tests plan them only where they test planning.
    issued_case.programme = "dk"
    assert issued_case.returnee_id is None
    issued = await invites.invite_returnee(session, case_code="RO-0007", ttl_days=14)
    joined = await invites.redeem(session, token=issued.token, telegram_user_id=501)
    assert joined.person is not None
    await session.commit()
    counsellor = await people.get_counsellor(session, 222)
    case = await cases.get_case(session, "RO-0007")
    return MoneyWorld(case, joined.person, staff, other, counsellor)


async def send(
    session: AsyncSession,
    world: MoneyWorld,
    amount: str,
    *,
    category: str = "housing",
    currency: str = "DKK",
    description: str = "rent for October",
    file: str = "file-1",
    on: date = DAY,
    commit: bool = True,
) -> Receipt:
    receipt = await receipts.submit(
        session,
        world.case,
        world.returnee,
        category=category,
        amount=Decimal(amount),
        currency=currency,
        description=description,
        files=[ReceiptFileRef(file_unique_id=file, chat_id=501, message_id=1)],
        on=on,
    )
    if commit:
        await session.commit()
    return receipt


async def money_state(session: AsyncSession, case: Case) -> tuple[Any, ...]:
    """Everything money about the case, as plain values: to see that a refusal changed nothing."""
    figures = tuple(
        (b.category, b.maximum, b.deducted, b.approved, b.paid, b.pending, b.pending_receipts)
        for b in (await ledger.statement(session, case)).balances
    )
    receipt_rows = (
        await session.execute(
            select(
                Receipt.number,
                Receipt.status,
                Receipt.version,
                Receipt.payout_id,
                Receipt.decided_by_id,
            )
            .where(Receipt.case_id == case.id)
            .order_by(Receipt.number)
        )
    ).all()
    payout_rows = (
        await session.execute(
            select(Payout.id, Payout.category, Payout.amount, Payout.status)
            .where(Payout.case_id == case.id)
            .order_by(Payout.id)
        )
    ).all()
    line_rows = (
        await session.execute(
            select(LedgerLine.id, LedgerLine.kind, LedgerLine.amount, LedgerLine.status)
            .where(LedgerLine.case_id == case.id)
            .order_by(LedgerLine.id)
        )
    ).all()
    queued = await session.scalar(
        select(func.count()).select_from(OutboxItem).where(OutboxItem.case_id == case.id)
    )
    return (
        figures,
        tuple(tuple(r) for r in receipt_rows),
        tuple(tuple(r) for r in payout_rows),
        tuple(tuple(r) for r in line_rows),
        queued,
    )


async def refused(session: AsyncSession, action: Any, match: str | None = None) -> None:
    """`action` raises RuleViolation; its transaction is rolled back, as a handler does, and
    the objects the test holds are read again (a rollback expires them)."""
    with pytest.raises(RuleViolation, match=match):
        await action
    held = [(type(o), inspect(o).identity) for o in list(session.identity_map.values())]
    await session.rollback()
    for kind, identity in held:
        if identity is not None:
            options = cases_details() if kind is Case else ()
            await session.get(kind, identity, populate_existing=True, options=options)


@pytest.fixture
async def world(session: AsyncSession) -> MoneyWorld:
    return await money_world(session)


# ---- no approval above what is left ---------------------------------------------------------


async def test_no_approval_goes_above_what_is_left(session, world):
    await ledger.deduct(session, world.case, "housing", "2800", "partner's fee", world.staff)
    await session.commit()
    receipt = await send(session, world, "300")
    euro = await send(session, world, "100", currency="EUR", file="file-2", description="desk")
    before = await money_state(session, world.case)

    await refused(session, receipts.approve(session, receipt.id, world.staff, method=BANK), "left")
    # 100 EUR at 7.4567 is 745.67 DKK, more than the 200 left.
    await refused(
        session,
        receipts.approve(session, euro.id, world.staff, method=BANK, rate=Decimal("7.4567")),
        "left",
    )
    assert await money_state(session, world.case) == before

    payout = await receipts.approve(
        session, receipt.id, world.staff, method=BANK, amount=Decimal("200")
    )
    await session.commit()
    assert payout.amount == Decimal("200.00")
    housing = (await ledger.statement(session, world.case)).of("housing")
    assert (housing.approved, housing.deducted, housing.left) == (
        Decimal("200.00"),
        Decimal("2800.00"),
        Decimal("0.00"),
    )
    await refused(
        session,
        receipts.approve(session, euro.id, world.staff, method=BANK, rate=Decimal("0.01")),
        "left",
    )
    # Nor may anything else take the category below zero.
    await refused(session, ledger.deduct(session, world.case, "housing", "0.01", "fee", None))
    await refused(
        session, ledger.record_payout(session, world.case, "housing", "0.01", DAY), "left"
    )
    await refused(
        session, ledger.adjust(session, world.case, "housing", "2999.99", "lower", None), "taken"
    )


async def test_a_refused_approval_writes_nothing_even_if_the_caller_commits(session, world):
    receipt = await send(session, world, "3500")
    with pytest.raises(RuleViolation, match="left"):
        await receipts.approve(session, receipt.id, world.staff, method=BANK)
    await session.commit()  # RuleViolation promises that nothing was written
    status = await session.scalar(select(Receipt.status).where(Receipt.id == receipt.id))
    assert status is ReceiptStatus.SUBMITTED


# ---- which categories take receipts ---------------------------------------------------------


async def test_receipts_only_in_receipt_categories_with_money_left(session, world):
    await refused(session, send(session, world, "100", category="allowance"), "no receipts")
    await refused(session, send(session, world, "100", category="travel"), "no receipts")
    await ledger.deduct(session, world.case, "medical", "200", "the whole of it", world.staff)
    await session.commit()
    before = await money_state(session, world.case)
    await refused(session, send(session, world, "10", category="medical"), "no money left")
    assert await money_state(session, world.case) == before
    # A receipt over what is left is still taken: staff approve part of it.
    receipt = await send(session, world, "9000", category="housing")
    assert receipt.status is ReceiptStatus.SUBMITTED
    balances = (await ledger.statement(session, world.case)).balances
    assert [b.category for b in receipts.receipt_categories(balances)] == [
        "housing",
        "business",
        "education",
    ]


# ---- possible duplicates --------------------------------------------------------------------


async def test_the_same_file_or_amount_day_and_text_is_flagged_as_a_possible_duplicate(
    session, world
):
    first = await send(session, world, "120.50", description="Rent  for October", file="A")
    assert first.duplicate_of is None
    same_file = await send(session, world, "99", description="something else", file="A")
    same_text = await send(session, world, "120.5", description="rent for october", file="B")
    other_day = await send(
        session, world, "120.50", description="rent for october", file="C", on=DAY + timedelta(1)
    )
    other_amount = await send(session, world, "120.51", description="rent for october", file="D")
    other_currency = await send(
        session, world, "120.50", description="rent for october", file="E", currency="EUR"
    )
    assert (same_file.duplicate_of, same_text.duplicate_of) == (first.number, first.number)
    assert other_day.duplicate_of is None
    assert other_amount.duplicate_of is None
    assert other_currency.duplicate_of is None
    # The flag is a hint for staff: the receipt is still taken, numbered in turn.
    assert [r.number for r in (first, same_file, same_text)] == [1, 2, 3]


# ---- a closed case --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [CaseStatus.CLOSED, CaseStatus.DROPPED_OUT])
async def test_a_closed_or_dropped_out_case_takes_no_new_receipts(session, world, status):
    world.case.status = status
    await session.commit()
    before = await money_state(session, world.case)
    await refused(session, send(session, world, "100"), "closed")
    assert await money_state(session, world.case) == before
    world.case.status = CaseStatus.RETURNED
    await session.commit()
    assert (await send(session, world, "100")).number == 1


# ---- who decides ----------------------------------------------------------------------------


async def test_only_the_case_offices_registered_staff_decide(session, world):
    receipt = await send(session, world, "100")
    second = await send(session, world, "50", file="file-2", description="paint")
    payout = await receipts.approve(session, second.id, world.staff, method=BANK)
    request = await ledger.request_reallocation(
        session, world.case, "business", "housing", "500", world.returnee
    )
    await session.commit()
    before = await money_state(session, world.case)
    for outsider in (world.other_staff, world.returnee, world.counsellor):
        actions = [
            receipts.start_review(session, receipt.id, outsider),
            receipts.approve(session, receipt.id, outsider, method=BANK),
            receipts.reject(session, receipt.id, outsider, reason="unreadable"),
            receipts.ask(session, receipt.id, outsider, "Which flat?"),
            receipts.mark_paid(session, world.case, payout.id, outsider, DAY),
            ledger.decide_reallocation(
                session, world.case, request.id, approve=True, staff=outsider
            ),
            ledger.decide_reallocation(
                session, world.case, request.id, approve=False, staff=outsider
            ),
            ledger.adjust(session, world.case, "housing", "3500", "more rent", outsider),
            ledger.deduct(session, world.case, "housing", "10", "partner's fee", outsider),
        ]
        for action in actions:
            await refused(session, action, "staff")
            assert await money_state(session, world.case) == before, (outsider.role, action)
    # A request on someone else's case is not the returnee's to make.
    await refused(
        session,
        ledger.request_reallocation(
            session, world.case, "business", "housing", "10", world.other_staff
        ),
    )
    assert await money_state(session, world.case) == before
    # The office's own staff may.
    await ledger.decide_reallocation(
        session, world.case, request.id, approve=True, staff=world.staff
    )
    await receipts.approve(session, receipt.id, world.staff, method=BANK)
    await session.commit()
    housing = (await ledger.statement(session, world.case)).of("housing")
    assert (housing.maximum, housing.approved) == (Decimal("3500.00"), Decimal("150.00"))


# ---- one decision ---------------------------------------------------------------------------


async def test_a_stale_button_changes_nothing(session, world):
    receipt = await send(session, world, "100")
    assert receipt.version == 1
    await receipts.start_review(session, receipt.id, world.staff, version=1)
    await session.commit()
    before = await money_state(session, world.case)
    for action in (
        receipts.approve(session, receipt.id, world.staff, method=BANK, version=1),
        receipts.reject(session, receipt.id, world.staff, reason="unreadable", version=1),
        receipts.ask(session, receipt.id, world.staff, "Which flat?", version=1),
        receipts.start_review(session, receipt.id, world.staff, version=1),
    ):
        await refused(session, action, "out of date")
        assert await money_state(session, world.case) == before
    payout = await receipts.approve(session, receipt.id, world.staff, method=BANK, version=2)
    await session.commit()
    assert payout.amount == Decimal("100.00")


async def test_a_second_approval_changes_nothing(session, world):
    receipt = await send(session, world, "100")
    await receipts.approve(session, receipt.id, world.staff, method=BANK)
    await session.commit()
    before = await money_state(session, world.case)
    await refused(
        session, receipts.approve(session, receipt.id, world.staff, method=BANK), "decided"
    )
    await refused(
        session,
        receipts.approve(session, receipt.id, world.staff, method=BANK, amount=Decimal(1)),
        "decided",
    )
    await refused(
        session, receipts.reject(session, receipt.id, world.staff, reason="duplicate"), "decided"
    )
    assert await money_state(session, world.case) == before
    assert await session.scalar(select(func.count()).select_from(Payout)) == 1


async def test_a_payout_is_marked_paid_once(session, world):
    receipt = await send(session, world, "100")
    payout = await receipts.approve(session, receipt.id, world.staff, method=BANK)
    await session.commit()
    await receipts.mark_paid(session, world.case, payout.id, world.staff, DAY)
    await session.commit()
    before = await money_state(session, world.case)
    await refused(
        session, receipts.mark_paid(session, world.case, payout.id, world.staff, DAY), "paid"
    )
    assert await money_state(session, world.case) == before
    housing = (await ledger.statement(session, world.case)).of("housing")
    assert (housing.approved, housing.paid) == (Decimal("0.00"), Decimal("100.00"))


# ---- amounts --------------------------------------------------------------------------------


async def test_stored_amounts_read_back_as_decimal(session, world, database_url):
    for number, cents in enumerate(("0.10", "0.20", "12.34"), start=1):
        receipt = await send(session, world, cents, file=f"f{number}", description=f"d{number}")
        await receipts.approve(session, receipt.id, world.staff, method=BANK)
    await ledger.deduct(session, world.case, "business", "0.07", "bank fee", world.staff)
    await ledger.adjust(session, world.case, "housing", "3999.99", "a larger flat", world.staff)
    await session.commit()
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as fresh:
            case = await cases.get_case(fresh, world.case.code)
            stored = [
                *(await fresh.scalars(select(Receipt.amount))),
                *(await fresh.scalars(select(Payout.amount))),
                *(await fresh.scalars(select(LedgerLine.amount))),
            ]
            assert all(type(x) is Decimal for x in stored), stored
            statement = await ledger.statement(fresh, case)
            for b in statement.balances:
                values = (b.maximum, b.deducted, b.approved, b.paid, b.pending, b.left, b.base)
                assert all(type(x) is Decimal for x in values), b
            assert all(type(e.amount) is Decimal for e in await ledger.entries(fresh, case))
            housing, business = statement.of("housing"), statement.of("business")
            assert (housing.maximum, housing.approved, housing.left) == (
                Decimal("3999.99"),
                Decimal("12.64"),
                Decimal("3987.35"),
            )
            assert (business.deducted, business.left) == (Decimal("0.07"), Decimal("4999.93"))
    finally:
        await engine.dispose()


# ---- overdue --------------------------------------------------------------------------------


async def test_an_overdue_payout_is_told_once(session, world):
    receipt = await send(session, world, "100")
    await receipts.approve(session, receipt.id, world.staff, method=BANK)
    paid = await send(session, world, "50", file="file-2", description="paint")
    paid_payout = await receipts.approve(session, paid.id, world.staff, method=BANK)
    await receipts.mark_paid(session, world.case, paid_payout.id, world.staff, DAY)
    await session.commit()

    def notices() -> Any:
        return select(func.count()).select_from(OutboxItem).where(OutboxItem.kind == "notice")

    told_before = await session.scalar(notices())
    assert await receipts.tell_overdue(session, utcnow() + timedelta(days=9)) == 0
    later = utcnow() + timedelta(days=11)
    assert await receipts.tell_overdue(session, later) == 1
    await session.commit()
    assert await receipts.tell_overdue(session, later) == 0
    assert await receipts.tell_overdue(session, later + timedelta(days=30)) == 0
    await session.commit()
    assert await session.scalar(notices()) == (told_before or 0) + 1


# ---- PostgreSQL: two staff at the same moment -----------------------------------------------


@pytest.fixture
async def pg_sessions(postgres_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(postgres_url)
    await upgrade_to_head(engine)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def _approve_in_own_session(
    sessions: async_sessionmaker[AsyncSession],
    receipt_id: int,
    staff_id: int,
    start: asyncio.Barrier,
) -> str:
    async with sessions() as session:
        staff = await session.get(Person, staff_id)
        assert staff is not None
        await session.get(Receipt, receipt_id)  # both have read the open receipt
        await start.wait()
        try:
            await receipts.approve(session, receipt_id, staff, method=BANK)
        except RuleViolation:
            await session.rollback()
            return "refused"
        await session.commit()
        return "approved"


async def test_two_staff_approving_one_receipt_at_once_make_one_payout(pg_sessions):
    async with pg_sessions() as session:
        world = await money_world(session)
        colleague = await people.add_staff(
            session, office_code="RO", telegram_user_id=302, name="Dan"
        )
        sent = [
            await send(session, world, "100", file=f"f{n}", description=f"d{n}") for n in range(5)
        ]
        staff_ids = (world.staff.id, colleague.id)
        await session.commit()
    for receipt in sent:
        start = asyncio.Barrier(2)
        outcomes = await asyncio.gather(
            *(_approve_in_own_session(pg_sessions, receipt.id, s, start) for s in staff_ids)
        )
        assert sorted(outcomes) == ["approved", "refused"]
    async with pg_sessions() as session:
        payouts = list(await session.scalars(select(Payout).order_by(Payout.receipt_id)))
        assert [p.receipt_id for p in payouts] == [r.id for r in sent]
        assert all(p.status is PayoutStatus.APPROVED for p in payouts)
        statuses = set(await session.scalars(select(Receipt.status)))
        assert statuses == {ReceiptStatus.APPROVED}
        housing = (await ledger.statement(session, world.case)).of("housing")
        assert housing.approved == Decimal("500.00")


async def test_two_approvals_over_what_is_left_at_once_let_one_through(pg_sessions):
    async with pg_sessions() as session:
        world = await money_world(session)
        colleague = await people.add_staff(
            session, office_code="RO", telegram_user_id=302, name="Dan"
        )
        staff_ids = (world.staff.id, colleague.id)
        rounds = []
        for n in range(3):  # a case each: housing has 3000; 2000 and 1500 do not both fit
            case, returnee = await case_with_returnee(
                session, code=f"RO-010{n}", programme="dk", returnee_telegram_id=600 + n
            )
            there = MoneyWorld(case, returnee, world.staff, world.other_staff, world.counsellor)
            first = await send(session, there, "2000", file="a", description="a")
            second = await send(session, there, "1500", file="b", description="b")
            rounds.append((case.code, first.id, second.id))
    for code, first, second in rounds:
        start = asyncio.Barrier(2)
        outcomes = await asyncio.gather(
            _approve_in_own_session(pg_sessions, first, staff_ids[0], start),
            _approve_in_own_session(pg_sessions, second, staff_ids[1], start),
        )
        assert sorted(outcomes) == ["approved", "refused"], code
        async with pg_sessions() as session:
            case = await cases.get_case(session, code)
            housing = (await ledger.statement(session, case)).of("housing")
            assert housing.left in (Decimal("1000.00"), Decimal("1500.00"))
            assert (
                await session.scalar(
                    select(func.count()).select_from(Payout).where(Payout.case_id == case.id)
                )
                == 1
            )
            still_open = await session.scalar(
                select(func.count())
                .select_from(Receipt)
                .where(Receipt.case_id == case.id, Receipt.status == ReceiptStatus.SUBMITTED)
            )
            assert still_open == 1


# ---- planned instalments --------------------------------------------------------------------


async def test_instalments_are_planned_once_and_never_beyond_what_is_left(session, world):
    planned = await ledger.plan_instalments(session, world.case)
    await session.commit()
    assert [(p.instalment, p.amount, p.status) for p in planned] == [
        (n, Decimal("500.00"), PayoutStatus.DUE) for n in (1, 2, 3)
    ]
    assert await ledger.plan_instalments(session, world.case) == []
    allowance = (await ledger.statement(session, world.case)).of("allowance")
    assert (allowance.approved, allowance.left) == (Decimal("1500.00"), Decimal("0.00"))

    # A case whose allowance was partly paid already: the instalments would not fit.
    case, _ = await case_with_returnee(
        session, code="RO-0008", programme="dk", returnee_telegram_id=502
    )
    await ledger.record_payout(session, case, "allowance", "0.01", DAY)
    await session.commit()
    before = await money_state(session, case)
    await refused(session, ledger.plan_instalments(session, case), "left")
    assert await money_state(session, case) == before
    assert (await ledger.statement(session, case)).of("allowance").left == Decimal("1499.99")
