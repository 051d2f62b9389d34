"""The ledger always adds up, whatever staff and the returnee do and in whatever order.

A Hypothesis state machine plays random sequences of money actions on one case each (receipts
sent, reviewed, asked about, approved in full or in part, in the programme's currency or another
at a rate, rejected; instalments planned; payouts marked paid or recorded; adjustments,
deductions, reallocations asked for and decided), including actions that must be refused. It
keeps its own running totals in Decimal and after every step compares them with the database.
Every refused step is rolled back and must have changed nothing.

What "adds up" means, for every category of the case's programme:

* left == maximum - deducted - approved - paid, and left >= 0;
* from `ledger.entries`: maximum == base + adjustments + moved_in + moved_out (moved_out lines
  are negative), deducted == the deduction lines, approved == the approved and planned lines,
  paid == the paid lines;
* pending == the open receipts in the category's currency, pending_receipts == all open ones;
* planned instalments count as approved until paid;
* every figure, entry, stored amount is a Decimal, never a float;
* the statement equals the model's running totals; receipts and payouts have the model's
  status (and receipts its version).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import ClassVar, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services import cases, ledger, people, receipts
from bot.services.errors import RuleViolation
from bot.services.receipts import ReceiptFileRef
from storage.db import create_engine, create_sessionmaker
from storage.migrate import upgrade_to_head
from storage.models import (
    Case,
    LedgerLine,
    PaidAs,
    PaymentMethod,
    Payout,
    PayoutStatus,
    Person,
    Receipt,
    ReceiptStatus,
)
from tests.test_money_rules import DK, case_with_returnee, money_state, set_programme_budget
from tests.world import office_with_case

T = TypeVar("T")
CENT = Decimal("0.01")
DAY = date(2026, 10, 2)
OPEN = (ReceiptStatus.SUBMITTED, ReceiptStatus.UNDER_REVIEW, ReceiptStatus.NEEDS_INFO)
CATEGORIES = [c.name for c in DK]
WHO = ["staff", "staff", "staff", "staff", "other_staff", "counsellor", "returnee"]


def money(low: str, high: str) -> st.SearchStrategy[Decimal]:
    return st.decimals(Decimal(low), Decimal(high), places=2)


# Amounts around the budget's figures, so that some fit and some do not.
AMOUNTS = st.one_of(money("0.01", "50"), money("0.01", "3500"), st.sampled_from([Decimal("0")]))
SIGNED = st.one_of(AMOUNTS, money("-100", "-0.01"))


@dataclass
class Figures:
    currency: str
    paid_as: PaidAs
    reallocatable: bool
    ceiling: Decimal | None
    base: Decimal
    maximum: Decimal
    deducted: Decimal = Decimal("0.00")
    approved: Decimal = Decimal("0.00")
    paid: Decimal = Decimal("0.00")

    @property
    def left(self) -> Decimal:
        return self.maximum - self.deducted - self.approved - self.paid


@dataclass
class ModelReceipt:
    number: int
    category: str
    amount: Decimal
    currency: str
    description: str
    file: str
    on: date
    status: ReceiptStatus = ReceiptStatus.SUBMITTED
    version: int = 1


@dataclass
class ModelPayout:
    category: str
    amount: Decimal
    status: PayoutStatus
    receipt_id: int | None = None


@dataclass
class World:
    """What every machine shares: one database, its loop, the people who act."""

    loop: asyncio.AbstractEventLoop
    sessions: async_sessionmaker[AsyncSession]
    staff_id: int
    other_staff_id: int
    counsellor_id: int
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    steps: int = 0
    refusals: int = 0


def _budget() -> dict[str, Figures]:
    figures = {}
    for c in DK:
        base = Decimal(c.maximum) * (c.months or 1)
        figures[c.name] = Figures(
            currency=c.currency,
            paid_as=c.paid_as,
            reallocatable=c.reallocatable,
            ceiling=Decimal(c.ceiling) if c.ceiling else None,
            base=base,
            maximum=base,
        )
    return figures


class LedgerMachine(RuleBasedStateMachine):
    world: ClassVar[World]

    def __init__(self) -> None:
        super().__init__()
        number = next(self.world.numbers)
        self.code = f"RO-{number}"
        self.figures = _budget()
        self.receipts: dict[int, ModelReceipt] = {}
        self.payouts: dict[int, ModelPayout] = {}
        self.requests: dict[int, tuple[str, str, Decimal]] = {}
        self.instalments_planned = False

        async def new_case(session: AsyncSession) -> int:
            _, returnee = await case_with_returnee(
                session, code=self.code, programme="dk", returnee_telegram_id=100_000 + number
            )
            return returnee.id

        self.returnee_id = self.world.loop.run_until_complete(self._in_session(new_case))

    # ---- running one step ----------------------------------------------------------------

    async def _in_session(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.world.sessions() as session:
            return await work(session)

    def person_id(self, who: str) -> int:
        return {
            "staff": self.world.staff_id,
            "other_staff": self.world.other_staff_id,
            "counsellor": self.world.counsellor_id,
            "returnee": self.returnee_id,
        }[who]

    def step(
        self,
        what: str,
        action: Callable[[AsyncSession, Case], Awaitable[T]],
        *,
        refused: bool,
    ) -> T | None:
        """Run `action` in a session of its own: committed when the services accept it, rolled
        back on RuleViolation. The model says whether it must be refused; a refusal changes
        nothing."""
        self.world.steps += 1

        async def run() -> tuple[T | None, str | None]:
            before = None
            if refused:
                async with self.world.sessions() as session:
                    before = await money_state(session, await cases.get_case(session, self.code))
            async with self.world.sessions() as session:
                case = await cases.get_case(session, self.code)
                try:
                    result = await action(session, case)
                except RuleViolation as refusal:
                    await session.rollback()
                    outcome: tuple[T | None, str | None] = (None, str(refusal))
                else:
                    await session.commit()
                    outcome = (result, None)
            if refused and outcome[1] is not None:
                async with self.world.sessions() as session:
                    after = await money_state(session, await cases.get_case(session, self.code))
                assert after == before, f"{what} was refused but changed the case's money"
            return outcome

        result, refusal = self.world.loop.run_until_complete(run())
        if refused:
            assert refusal is not None, f"{what} should have been refused"
            self.world.refusals += 1
        else:
            assert refusal is None, f"{what} was refused: {refusal}"
        return result

    async def person(self, session: AsyncSession, who: str) -> Person:
        found = await session.get(Person, self.person_id(who))
        assert found is not None
        return found

    def open_receipts(self) -> list[int]:
        return sorted(rid for rid, r in self.receipts.items() if r.status in OPEN)

    # ---- the returnee's receipts ---------------------------------------------------------

    @rule(
        category=st.sampled_from([*CATEGORIES, "travel"]),
        value=money("0.01", "4000"),
        currency=st.sampled_from(["DKK", "DKK", "EUR"]),
        description=st.sampled_from(["rent", "Rent", "paint", "desk"]),
        file=st.sampled_from(["f1", "f2", "f3", "f4", "f5"]),
        later=st.booleans(),
    )
    def submit(
        self,
        category: str,
        value: Decimal,
        currency: str,
        description: str,
        file: str,
        later: bool,
    ) -> None:
        on = DAY + timedelta(days=int(later))
        figures = self.figures.get(category)
        must_refuse = figures is None or figures.paid_as is not PaidAs.IN_KIND or figures.left <= 0

        async def act(session: AsyncSession, case: Case) -> tuple[int, int, int | None]:
            receipt = await receipts.submit(
                session,
                case,
                await self.person(session, "returnee"),
                category=category,
                amount=value,
                currency=currency,
                description=description,
                files=[ReceiptFileRef(file_unique_id=file, chat_id=1, message_id=1)],
                on=on,
            )
            return receipt.id, receipt.number, receipt.duplicate_of

        done = self.step(f"submit {value} {currency} to {category}", act, refused=must_refuse)
        if done is None:
            return
        receipt_id, number, duplicate_of = done
        assert number == len(self.receipts) + 1
        same_file = [r.number for r in self.receipts.values() if r.file == file]
        same_text = [
            r.number
            for r in self.receipts.values()
            if (r.amount, r.currency, r.on) == (value, currency, on)
            and r.description.casefold() == description.casefold()
        ]
        if same_file:
            assert duplicate_of == min(same_file)
        elif same_text:
            assert duplicate_of in same_text
        else:
            assert duplicate_of is None
        self.receipts[receipt_id] = ModelReceipt(
            number, category, value, currency, description, file, on
        )

    @precondition(lambda self: self.receipts)
    @rule(data=st.data(), who=st.sampled_from(WHO))
    def start_review(self, data: st.DataObject, who: str) -> None:
        receipt_id = data.draw(st.sampled_from(sorted(self.receipts)))
        model = self.receipts[receipt_id]
        must_refuse = who != "staff" or model.status not in OPEN

        async def act(session: AsyncSession, case: Case) -> bool:
            staff = await self.person(session, who)
            return await receipts.start_review(session, receipt_id, staff) is not None

        changed = self.step(f"review {model.number} by {who}", act, refused=must_refuse)
        if changed is None:
            return
        assert changed == (model.status is ReceiptStatus.SUBMITTED)
        if changed:
            model.status, model.version = ReceiptStatus.UNDER_REVIEW, model.version + 1

    @precondition(lambda self: self.receipts)
    @rule(data=st.data(), who=st.sampled_from(WHO), asks=st.booleans())
    def ask_or_answer(self, data: st.DataObject, who: str, asks: bool) -> None:
        """Staff ask about a receipt, or the returnee answers the office's question."""
        receipt_id = data.draw(st.sampled_from(sorted(self.receipts)))
        model = self.receipts[receipt_id]
        if asks:
            must_refuse = who != "staff" or model.status not in OPEN
        else:
            must_refuse = who != "returnee" or model.status is not ReceiptStatus.NEEDS_INFO

        async def act(session: AsyncSession, case: Case) -> None:
            person = await self.person(session, who)
            if asks:
                await receipts.ask(session, receipt_id, person, "Which flat is it for?")
            else:
                await receipts.answer(session, receipt_id, person, "The one on Main Street.")

        self.step(
            f"{'ask' if asks else 'answer'} on {model.number} by {who}", act, refused=must_refuse
        )
        if must_refuse:
            return
        model.status = ReceiptStatus.NEEDS_INFO if asks else ReceiptStatus.UNDER_REVIEW
        model.version += 1

    # ---- staff decide --------------------------------------------------------------------

    @precondition(lambda self: self.receipts)
    @rule(
        data=st.data(),
        who=st.sampled_from(WHO),
        part=st.one_of(st.none(), AMOUNTS),
        rate=st.one_of(st.none(), st.decimals(Decimal("0.0001"), Decimal("12"), places=4)),
        stale=st.sampled_from([False, False, False, False, True]),
        method=st.sampled_from(list(PaymentMethod)),
    )
    def approve(
        self,
        data: st.DataObject,
        who: str,
        part: Decimal | None,
        rate: Decimal | None,
        stale: bool,
        method: PaymentMethod,
    ) -> None:
        open_ = self.open_receipts()
        choices = open_ if open_ and data.draw(st.integers(0, 4)) else sorted(self.receipts)
        receipt_id = data.draw(st.sampled_from(choices))
        model = self.receipts[receipt_id]
        figures = self.figures[model.category]
        version = (model.version - 1 or model.version + 1) if stale else model.version
        must_refuse = who != "staff" or stale or model.status not in OPEN
        full: Decimal | None
        if model.currency == figures.currency:
            full = model.amount
        elif rate is not None:
            full = (model.amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)
        else:
            full = part  # the amount staff worked out themselves
        value = full if part is None else part.quantize(CENT)
        if full is None or value is None or value > full or value <= 0 or value > figures.left:
            must_refuse = True

        async def act(session: AsyncSession, case: Case) -> tuple[int, Decimal]:
            payout = await receipts.approve(
                session,
                receipt_id,
                await self.person(session, who),
                method=method,
                amount=part,
                rate=rate,
                version=version,
            )
            return payout.id, payout.amount

        what = f"approve {model.number} ({model.amount} {model.currency}) as {part} at {rate}"
        done = self.step(f"{what} by {who}", act, refused=must_refuse)
        if done is None:
            return
        assert value is not None
        payout_id, paid_out = done
        assert paid_out == value
        self.payouts[payout_id] = ModelPayout(
            model.category, value, PayoutStatus.APPROVED, receipt_id
        )
        figures.approved += value
        model.status, model.version = ReceiptStatus.APPROVED, model.version + 1

    @precondition(lambda self: self.receipts)
    @rule(data=st.data(), who=st.sampled_from(WHO))
    def reject(self, data: st.DataObject, who: str) -> None:
        receipt_id = data.draw(st.sampled_from(sorted(self.receipts)))
        model = self.receipts[receipt_id]
        must_refuse = who != "staff" or model.status not in OPEN

        async def act(session: AsyncSession, case: Case) -> None:
            person = await self.person(session, who)
            await receipts.reject(session, receipt_id, person, reason="unreadable")

        self.step(f"reject {model.number} by {who}", act, refused=must_refuse)
        if must_refuse:
            return
        model.status, model.version = ReceiptStatus.REJECTED, model.version + 1

    @precondition(lambda self: self.payouts)
    @rule(data=st.data(), who=st.sampled_from(WHO))
    def mark_paid(self, data: st.DataObject, who: str) -> None:
        payout_id = data.draw(st.sampled_from(sorted(self.payouts)))
        model = self.payouts[payout_id]
        must_refuse = who != "staff" or model.status is PayoutStatus.PAID

        async def act(session: AsyncSession, case: Case) -> None:
            await receipts.mark_paid(session, case, payout_id, await self.person(session, who), DAY)

        self.step(f"mark payout {payout_id} paid by {who}", act, refused=must_refuse)
        if must_refuse:
            return
        figures = self.figures[model.category]
        figures.approved -= model.amount
        figures.paid += model.amount
        model.status = PayoutStatus.PAID
        if model.receipt_id is not None:
            receipt = self.receipts[model.receipt_id]
            receipt.status, receipt.version = ReceiptStatus.PAID, receipt.version + 1

    @rule(category=st.sampled_from(CATEGORIES), value=SIGNED)
    def record_payout(self, category: str, value: Decimal) -> None:
        """The admin CLI records a payout already made."""
        figures = self.figures[category]
        must_refuse = value <= 0 or value > figures.left

        async def act(session: AsyncSession, case: Case) -> tuple[int, Decimal]:
            payout = await ledger.record_payout(session, case, category, str(value), DAY)
            return payout.id, payout.amount

        done = self.step(f"record {value} paid from {category}", act, refused=must_refuse)
        if done is None:
            return
        payout_id, paid_out = done
        assert paid_out == value
        self.payouts[payout_id] = ModelPayout(category, value, PayoutStatus.PAID)
        figures.paid += value

    @rule()
    def plan_instalments(self) -> None:
        """The monthly allowance as instalments: planned once, never beyond what is left."""
        months = {c.name: c.months for c in DK if c.months}
        planned_already = any(p.status is PayoutStatus.DUE for p in self.payouts.values()) or (
            self.instalments_planned
        )
        must_refuse = not planned_already and any(
            self.figures[name].base > self.figures[name].left for name in months
        )

        async def act(session: AsyncSession, case: Case) -> list[tuple[int, str, Decimal]]:
            planned = await ledger.plan_instalments(session, case)
            await session.flush()
            return [(p.id, p.category, p.amount) for p in planned]

        planned = self.step("plan the instalments", act, refused=must_refuse)
        if must_refuse:
            return
        assert planned is not None
        if planned_already:
            assert planned == []
            return
        assert sorted(c for _, c, _ in planned) == sorted(
            name for name, n in months.items() for _ in range(n)
        )
        for payout_id, category, value in planned:
            self.payouts[payout_id] = ModelPayout(category, value, PayoutStatus.DUE)
            self.figures[category].approved += value
        self.instalments_planned = True

    # ---- the case's budget ---------------------------------------------------------------

    @rule(
        category=st.sampled_from(CATEGORIES),
        data=st.data(),
        who=st.sampled_from(["staff", "staff", "admin", "other_staff", "returnee"]),
        typed=st.booleans(),
    )
    def adjust(self, category: str, data: st.DataObject, who: str, typed: bool) -> None:
        figures = self.figures[category]
        taken = figures.deducted + figures.approved + figures.paid
        ceiling = figures.ceiling if figures.ceiling is not None else figures.base
        wanted = data.draw(
            st.one_of(
                money("0", "5000"),
                st.sampled_from([ceiling, taken, figures.maximum, ceiling + CENT, taken - CENT]),
            )
        )
        must_refuse = (
            who not in ("staff", "admin")
            or wanted < 0
            or (typed and wanted == 0)  # a typed amount is more than zero
            or wanted > ceiling
            or wanted < taken
            or wanted == figures.maximum
        )

        async def act(session: AsyncSession, case: Case) -> Decimal:
            actor = None if who == "admin" else await self.person(session, who)
            new = str(wanted) if typed else wanted
            line = await ledger.adjust(session, case, category, new, "agreed with IOM", actor)
            return line.amount

        done = self.step(f"adjust {category} to {wanted} by {who}", act, refused=must_refuse)
        if done is None:
            return
        assert done == wanted - figures.maximum
        figures.maximum = wanted

    @rule(
        category=st.sampled_from(CATEGORIES),
        value=SIGNED,
        who=st.sampled_from(["staff", "staff", "admin", "other_staff", "counsellor"]),
        typed=st.booleans(),
    )
    def deduct(self, category: str, value: Decimal, who: str, typed: bool) -> None:
        figures = self.figures[category]
        must_refuse = who not in ("staff", "admin") or value <= 0 or value > figures.left

        async def act(session: AsyncSession, case: Case) -> None:
            actor = None if who == "admin" else await self.person(session, who)
            taken = str(value) if typed else value
            await ledger.deduct(session, case, category, taken, "partner's fee", actor)

        self.step(f"deduct {value} from {category} by {who}", act, refused=must_refuse)
        if must_refuse:
            return
        figures.deducted += value

    @rule(
        source=st.sampled_from(CATEGORIES),
        into=st.sampled_from(CATEGORIES),
        value=SIGNED,
        who=st.sampled_from(["returnee", "returnee", "returnee", "staff"]),
    )
    def request_reallocation(self, source: str, into: str, value: Decimal, who: str) -> None:
        must_refuse = who != "returnee" or not self._may_move(source, into, value)

        async def act(session: AsyncSession, case: Case) -> int:
            person = await self.person(session, who)
            return (
                await ledger.request_reallocation(session, case, source, into, value, person)
            ).id

        line_id = self.step(
            f"ask to move {value} from {source} to {into}", act, refused=must_refuse
        )
        if line_id is not None:
            self.requests[line_id] = (source, into, value)

    def _may_move(self, source: str, target: str, value: Decimal) -> bool:
        a, b = self.figures[source], self.figures[target]
        return (
            source != target
            and a.reallocatable
            and b.reallocatable
            and a.currency == b.currency
            and 0 < value <= a.left
        )

    @precondition(lambda self: self.requests)
    @rule(data=st.data(), approve=st.booleans(), who=st.sampled_from(WHO))
    def decide_reallocation(self, data: st.DataObject, approve: bool, who: str) -> None:
        line_id = data.draw(st.sampled_from(sorted(self.requests)))
        source, target, value = self.requests[line_id]
        decided = line_id < 0  # see below: a decided request is kept under its negative id
        must_refuse = who != "staff" or decided
        if approve and not must_refuse:
            must_refuse = not self._may_move(source, target, value)

        async def act(session: AsyncSession, case: Case) -> None:
            staff = await self.person(session, who)
            await ledger.decide_reallocation(
                session, case, abs(line_id), approve=approve, staff=staff
            )

        what = f"{'approve' if approve else 'refuse'} moving {value} from {source} to {target}"
        self.step(f"{what} by {who}", act, refused=must_refuse)
        if must_refuse:
            return
        del self.requests[line_id]
        self.requests[-line_id] = (source, target, value)
        if approve:
            self.figures[source].maximum -= value
            self.figures[target].maximum += value

    # ---- after every step ----------------------------------------------------------------

    @invariant()
    def the_ledger_adds_up(self) -> None:
        self.world.loop.run_until_complete(self._in_session(self._check))

    async def _check(self, session: AsyncSession) -> None:
        case = await cases.get_case(session, self.code)
        statement = await ledger.statement(session, case)
        entries = await ledger.entries(session, case)
        assert [b.category for b in statement.balances] == CATEGORIES
        for balance in statement.balances:
            model = self.figures[balance.category]
            figures = (
                balance.maximum,
                balance.deducted,
                balance.approved,
                balance.paid,
                balance.pending,
                balance.left,
                balance.base,
            )
            assert all(type(x) is Decimal for x in figures), balance
            assert balance.left == balance.maximum - balance.deducted - balance.approved - (
                balance.paid
            )
            assert balance.left >= 0, balance
            assert (
                balance.maximum,
                balance.deducted,
                balance.approved,
                balance.paid,
                balance.left,
            ) == (model.maximum, model.deducted, model.approved, model.paid, model.left), (
                balance,
                model,
            )

            def total(*what: str, category: str = balance.category) -> Decimal:
                return sum(
                    (e.amount for e in entries if e.category == category and e.what in what),
                    Decimal("0.00"),
                )

            assert balance.maximum == balance.base + total("adjustment", "moved_in", "moved_out")
            assert balance.deducted == total("deduction")
            assert balance.approved == total("approved", "planned")
            assert balance.paid == total("paid")
            waiting = [
                r
                for r in self.receipts.values()
                if r.category == balance.category and r.status in OPEN
            ]
            assert balance.pending_receipts == len(waiting)
            assert balance.pending == sum(
                (r.amount for r in waiting if r.currency == balance.currency), Decimal("0.00")
            )
        assert all(type(e.amount) is Decimal for e in entries)
        assert all(e.amount <= 0 for e in entries if e.what == "moved_out")
        assert all(e.amount > 0 for e in entries if e.what in ("deduction", "moved_in", "paid"))

        stored = {
            row.id: (row.status, row.version, row.amount)
            for row in (
                await session.execute(
                    select(Receipt.id, Receipt.status, Receipt.version, Receipt.amount).where(
                        Receipt.case_id == case.id
                    )
                )
            ).all()
        }
        assert stored == {rid: (r.status, r.version, r.amount) for rid, r in self.receipts.items()}
        assert all(type(amount) is Decimal for _, _, amount in stored.values())
        payouts = {
            row.id: (row.category, row.amount, row.status, row.receipt_id)
            for row in (
                await session.execute(
                    select(
                        Payout.id, Payout.category, Payout.amount, Payout.status, Payout.receipt_id
                    ).where(Payout.case_id == case.id)
                )
            ).all()
        }
        assert payouts == {
            pid: (p.category, p.amount, p.status, p.receipt_id) for pid, p in self.payouts.items()
        }
        assert all(type(p[1]) is Decimal for p in payouts.values())
        lines = list(
            await session.scalars(select(LedgerLine.amount).where(LedgerLine.case_id == case.id))
        )
        assert all(type(x) is Decimal for x in lines)


async def _the_world(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int, int]:
    async with sessions() as session:
        await office_with_case(session)
        await office_with_case(session, office="BG", counsellor_id=None)
        staff = await people.add_staff(session, office_code="RO", telegram_user_id=301, name="Ana")
        other = await people.add_staff(session, office_code="BG", telegram_user_id=401, name="Ivo")
        await set_programme_budget(session, "dk")
        await session.commit()
        counsellor = await people.get_counsellor(session, 222)
        return staff.id, other.id, counsellor.id


def test_the_ledger_always_adds_up(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}")
    try:
        loop.run_until_complete(upgrade_to_head(engine))
        sessions = create_sessionmaker(engine)
        staff, other, counsellor = loop.run_until_complete(_the_world(sessions))
        world = World(loop, sessions, staff, other, counsellor)
        LedgerMachine.world = world
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(
                max_examples=60,
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
        # The run tried both sides of the rules, not just the refusals.
        assert world.steps > 250
        assert 0.1 < world.refusals / world.steps < 0.9, (world.refusals, world.steps)
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()
