"""Money from the admin command line: programme templates, adjustments, deductions, planned
instalments and the ledger, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.services import programmes
from bot.services.errors import RuleViolation
from bot.services.ledger import months_after
from storage.db import create_engine, create_sessionmaker
from storage.models import AuditEvent, BudgetCategory, LedgerLine, Payout, PayoutStatus
from tests.test_admin_cli import OFFICE
from tests.test_admin_cli import cli as cli  # the fixture

DK = ["admin", "budget", "apply-template", "--programme", "dk"]
NO = ["admin", "budget", "apply-template", "--programme", "no"]


def case_add(code: str, *extra: str) -> list[str]:
    return ["admin", "case", "add", "--office", "RO", "--code", code, "--language", "ro", *extra]


def adjust(case: str, category: str, value: str, reason: str = "surgery after return") -> list[str]:
    return ["admin", "budget", "adjust", "--case", case, "--category", category,
            "--amount", value, "--reason", reason]  # fmt: skip


def deduct(case: str, category: str, value: str, reason: str = "partner NGO fee") -> list[str]:
    return ["admin", "budget", "deduct", "--case", case, "--category", category,
            "--amount", value, "--reason", reason]  # fmt: skip


def query(database_url: str, statement):
    async def run():
        engine = create_engine(database_url)
        async with create_sessionmaker(engine)() as session:
            result = list((await session.execute(statement)).all())
        await engine.dispose()
        return result

    return asyncio.run(run())


def money_rows(database_url: str) -> list[int]:
    """Everything a money command may write."""
    return [
        query(database_url, select(func.count()).select_from(model))[0][0]
        for model in (BudgetCategory, LedgerLine, Payout, AuditEvent)
    ]


def ledger_csv(cli, case: str) -> list[dict[str, str]]:
    code, out, err = cli("admin", "ledger", "--case", case, "--csv")
    assert code == 0, err
    return list(csv.DictReader(io.StringIO(out)))


@pytest.fixture
def dk_case(cli):
    """Office RO, the Danish template, and case RO-0007 returning on 31 January 2026."""
    assert cli(*OFFICE)[0] == 0
    assert cli(*DK)[0] == 0
    code, _, err = cli(*case_add("RO-0007", "--programme", "dk", "--return-date", "2026-01-31"))
    assert code == 0, err
    return "RO-0007"


def test_templates_give_the_documents_figures_and_mark_examples(cli, database_url):
    code, out, _ = cli(*DK)
    assert code == 0
    assert "medical added: 500.00 USD, in_kind, ceiling 1000.00, reallocatable, EXAMPLE" in out
    code, out, _ = cli("admin", "budget", "list", "--programme", "dk")
    assert out.splitlines() == [
        "allowance\t150.00 USD\tcash\t3",
        "housing\t900.00 USD\tin_kind\t\tceiling=900.00\treallocatable",
        "business\t3000.00 USD\tin_kind\t\tceiling=3000.00\treallocatable",
        "medical\t500.00 USD\tin_kind\t\tceiling=1000.00\treallocatable\texample",
    ]
    assert cli(*NO)[0] == 0
    code, out, _ = cli("admin", "budget", "list", "--programme", "no")
    assert out.splitlines() == [
        "housing\t5000.00 NOK\tin_kind\t\treallocatable",
        "business\t25000.00 NOK\tin_kind\t\treallocatable",
        "medical\t2000.00 NOK\tin_kind\t\treallocatable",
        "basic_needs\t250.00 NOK\tcash\t12\texample",
    ]
    # Norway's categories add up to the documents' NOK 35,000.
    rows = query(
        database_url,
        select(BudgetCategory.maximum, BudgetCategory.months).where(
            BudgetCategory.programme == "no"
        ),
    )
    assert sum(maximum * (months or 1) for maximum, months in rows) == Decimal(35000)


def test_applying_a_template_twice_changes_nothing(cli, database_url):
    assert cli(*OFFICE)[0] == 0
    assert cli(*DK)[0] == 0
    before = money_rows(database_url)
    code, out, _ = cli(*DK)
    assert (code, out.strip()) == (0, "programme dk: nothing changed")
    assert money_rows(database_url) == before

    # A category changed by hand is set back, and only it.
    assert cli("admin", "budget", "set", "--programme", "dk", "--category", "housing",
               "--maximum", "800", "--currency", "USD", "--paid-as", "in_kind")[0] == 0  # fmt: skip
    code, out, _ = cli(*DK)
    assert out.strip() == (
        "programme dk: housing changed: 800.00 USD, in_kind -> "
        "900.00 USD, in_kind, ceiling 900.00, reallocatable"
    )


def test_adjust_within_the_ceiling_is_a_ledger_line_with_its_reason(cli, database_url, dk_case):
    assert cli("admin", "staff", "add", "--office", "RO", "--telegram-id", "111",
               "--name", "Ana")[0] == 0  # fmt: skip
    code, out, _ = cli(*adjust(dk_case, "medical", "800"), "--by-telegram-id", "111")
    assert (code, out.strip()) == (
        0,
        "case RO-0007: medical is 800.00 USD now (+300.00), 800.00 left",
    )
    lines = [row for row in ledger_csv(cli, dk_case) if row["record"] == "line"]
    assert [(r["category"], r["what"], r["amount"], r["reason"]) for r in lines][-1] == (
        "medical",
        "adjustment",
        "300.00",
        "surgery after return",
    )
    actors = query(database_url, select(LedgerLine.actor_id))
    assert actors[0][0] is not None
    # Lowering to zero is a choice too: the returnee lives with family and takes no housing.
    code, out, _ = cli(*adjust(dk_case, "housing", "0", "lives with her family"))
    assert (code, out.strip()) == (0, "case RO-0007: housing is 0.00 USD now (-900.00), 0.00 left")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (adjust("RO-0007", "medical", "1000.01"), "at most 1000.00 USD"),
        (adjust("RO-0007", "housing", "901"), "at most 900.00 USD"),
        (adjust("RO-0007", "housing", "40"), "50.00 USD is already taken"),
        (adjust("RO-0007", "allowance", "400"), "450.00 USD is already taken"),
        (adjust("RO-0007", "housing", "700", "x"), "reason of 3 to 200"),
        ([*adjust("RO-0007", "medical", "600"), "--by-telegram-id", "999"], "Telegram user id 999"),
        (adjust("RO-0007", "education", "100"), "no category 'education'"),
        (deduct("RO-0007", "housing", "851"), "only 850.00 USD is left in housing"),
        (deduct("RO-0007", "housing", "2500,50"), "not an amount"),
    ],
)
def test_money_outside_the_rules_fails_and_writes_nothing(
    cli, database_url, dk_case, argv, message
):
    assert cli(*deduct(dk_case, "housing", "50"))[0] == 0
    before = money_rows(database_url)
    code, out, err = cli(*argv)
    assert (code, out) == (2, "")
    assert err.startswith("error: ")
    assert message in err
    assert money_rows(database_url) == before


def test_a_deduction_is_its_own_line(cli, dk_case):
    assert cli(*adjust(dk_case, "housing", "800", "smaller flat"))[0] == 0
    code, out, _ = cli(*deduct(dk_case, "housing", "50"))
    assert (code, out.strip()) == (0, "case RO-0007: 50.00 USD deducted from housing, 750.00 left")
    housing = [r for r in ledger_csv(cli, dk_case) if r["category"] == "housing"]
    assert [(r["record"], r["what"], r["amount"], r["reason"]) for r in housing] == [
        ("line", "adjustment", "-100.00", "smaller flat"),
        ("line", "deduction", "50.00", "partner NGO fee"),
        ("total", "", "", ""),
    ]
    assert (housing[-1]["maximum"], housing[-1]["deducted"], housing[-1]["left"]) == (
        "800.00",
        "50.00",
        "750.00",
    )


def test_the_ledger_csv_has_a_header_and_its_balances_add_up(cli, dk_case):
    assert cli(*deduct(dk_case, "business", "120", "administration fee"))[0] == 0
    assert cli("admin", "payout", "add", "--case", dk_case, "--category", "housing",
               "--amount", "300", "--paid-on", "2026-02-10")[0] == 0  # fmt: skip
    assert cli(*adjust(dk_case, "medical", "650.50"))[0] == 0
    out = cli("admin", "ledger", "--case", dk_case, "--csv")[1]
    header = next(csv.reader(io.StringIO(out)))
    assert header == [
        "record", "at", "category", "what", "amount", "currency", "reason", "reference",
        "maximum", "approved", "paid", "deducted", "pending", "left",
    ]  # fmt: skip
    rows = ledger_csv(cli, dk_case)
    totals = {r["category"]: r for r in rows if r["record"] == "total"}
    assert set(totals) == {"allowance", "housing", "business", "medical"}
    for row in totals.values():
        figures = {name: Decimal(row[name]) for name in ("maximum", "deducted", "approved", "paid")}
        assert figures["maximum"] - figures["deducted"] - figures["approved"] - figures[
            "paid"
        ] == Decimal(row["left"])
    assert (totals["business"]["deducted"], totals["business"]["left"]) == ("120.00", "2880.00")
    assert (totals["housing"]["paid"], totals["housing"]["left"]) == ("300.00", "600.00")
    assert (totals["medical"]["maximum"], totals["medical"]["left"]) == ("650.50", "650.50")
    assert (totals["allowance"]["approved"], totals["allowance"]["left"]) == ("450.00", "0.00")
    # Every line's amounts are there: the lines of a category explain its total.
    lines = [r for r in rows if r["record"] == "line"]
    assert {r["what"] for r in lines} == {"planned", "deduction", "paid", "adjustment"}
    # The plain output has the same lines and totals.
    out = cli("admin", "ledger", "--case", dk_case)[1]
    assert "business\tdeduction\t120.00\tUSD\tadministration fee" in out
    assert "housing\tUSD\t900.00\t0.00\t300.00\t0.00\t0.00\t600.00" in out


def test_instalments_are_due_monthly_from_the_return_date(cli, database_url, dk_case):
    due = query(
        database_url,
        select(Payout.category, Payout.instalment, Payout.amount, Payout.due_on, Payout.status)
        .where(Payout.instalment.is_not(None))
        .order_by(Payout.instalment),
    )
    # 31 January: then the months' last days, as ledger.months_after counts.
    assert [(d[0], d[1], d[2], d[3]) for d in due] == [
        ("allowance", n + 1, Decimal("150.00"), months_after(date(2026, 1, 31), n))
        for n in range(3)
    ]
    assert [d[3] for d in due] == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)]
    assert {d[4] for d in due} == {PayoutStatus.DUE}
    code, out, _ = cli("admin", "payout", "plan", "--case", dk_case)
    assert (code, out.strip()) == (
        0,
        "case RO-0007: instalments planned already, or none are monthly",
    )


def test_instalments_are_planned_when_a_case_gets_its_programme(cli, database_url):
    assert cli(*OFFICE)[0] == 0
    # The cases come first, the budget after: applying the template plans for them.
    assert cli(*case_add("RO-0001", "--programme", "no", "--return-date", "2026-03-15"))[0] == 0
    assert cli(*case_add("RO-0002", "--return-date", "2026-05-31"))[0] == 0
    assert cli(*case_add("RO-0003"))[0] == 0
    code, out, _ = cli(*NO)
    assert "case RO-0001: 12 instalments planned" in out
    assert cli("admin", "case", "set", "--code", "RO-0003", "--programme", "no")[0] == 0
    code, _, err = cli("admin", "payout", "plan", "--case", "RO-0003")
    assert code == 2
    assert "needs a programme and a return date" in err
    assert cli("admin", "case", "set", "--code", "RO-0002", "--programme", "no")[0] == 0
    due = query(
        database_url,
        select(Payout.due_on, Payout.amount).where(Payout.category == "basic_needs"),
    )
    assert len(due) == 24
    assert sorted(d for d, _ in due)[-1] == date(2027, 4, 30)  # RO-0002: 31 May + 11 months
    assert {amount for _, amount in due} == {Decimal("250.00")}

    # A case with money recorded keeps its programme: its lines would vanish under another.
    assert cli(*DK)[0] == 0
    code, _, err = cli("admin", "case", "set", "--code", "RO-0001", "--programme", "dk")
    assert code == 2
    assert "money recorded under programme no" in err
    # The same programme again plans nothing new.
    assert cli("admin", "case", "set", "--code", "RO-0001", "--programme", "NO")[0] == 0
    assert len(query(database_url, select(Payout.id))) == 24


def test_planning_refuses_to_take_more_than_is_left(cli, database_url):
    assert cli(*OFFICE)[0] == 0
    assert cli(*DK)[0] == 0
    assert cli(*case_add("RO-0004", "--return-date", "2026-06-01"))[0] == 0

    # The case had no programme yet; its first allowance was paid by hand at departure.
    async def set_programme_without_plan() -> None:
        from storage.models import Case

        engine = create_engine(database_url)
        async with create_sessionmaker(engine)() as session:
            case = await session.scalar(select(Case))
            case.programme = "dk"
            await session.commit()
        await engine.dispose()

    asyncio.run(set_programme_without_plan())
    assert cli("admin", "payout", "add", "--case", "RO-0004", "--category", "allowance",
               "--amount", "150", "--paid-on", "2026-06-01")[0] == 0  # fmt: skip
    code, _, err = cli("admin", "payout", "plan", "--case", "RO-0004")
    assert code == 2
    assert "only 300.00 USD is left in allowance, 450.00 would be planned" in err
    code, out, _ = cli(*DK)
    assert "not planned: case RO-0004" in out


def write(directory: Path, name: str, text: str) -> None:
    (directory / f"{name}.toml").write_text(text, encoding="utf-8")


GOOD = """
code = "xx"
name = "Test"
total = 600
[[category]]
category = "housing"
maximum = 500
currency = "EUR"
paid_as = "in_kind"
[[category]]
category = "allowance"
maximum = "50.00"
currency = "EUR"
paid_as = "cash"
months = 2
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("maximum = 500", "maximum = 500.5"), "maximum must be a whole number"),
        (("maximum = 500", "maximum = -5"), "not an amount"),
        (("maximum = 500", 'maximum = "2500,50"'), "not an amount"),
        (("total = 600", "total = 35000"), "add up to 600.00, not 35000.00"),
        (('category = "housing"', 'category = "gifts"'), "category must be one of"),
        (('paid_as = "in_kind"', 'paid_as = "bank"'), "paid_as must be one of"),
        (("months = 2", "months = 40"), "months must be a whole number from 1 to 36"),
        (("months = 2", "months = 2\nceiling = 60"), "ceiling 60.00 is below its total 100.00"),
        (("months = 2", "months = 2\nceilling = 200"), "unknown key 'ceilling'"),
        (('code = "xx"', 'code = "yy"'), "code must be 'xx'"),
        (('currency = "EUR"', 'currency = "EURO"'), "three-letter code"),
        (('category = "allowance"', 'category = "housing"'), "'housing' is given twice"),
        (("months = 2", "months = 2\nexample = 1"), "must be true or false"),
    ],
)
def test_a_bad_template_is_refused_with_a_clear_message(tmp_path, change, message):
    write(tmp_path, "xx", GOOD)
    assert [c.total for c in programmes.load("xx", tmp_path).categories] == [500, 100]
    write(tmp_path, "xx", GOOD.replace(*change, 1))
    with pytest.raises(RuleViolation, match=r"programme template xx\.toml: ") as error:
        programmes.load("xx", tmp_path)
    assert message in str(error.value)


def test_an_unknown_or_unsafe_template_code_is_refused(tmp_path):
    write(tmp_path, "xx", GOOD)
    with pytest.raises(RuleViolation, match="no programme template 'zz'; there are: xx"):
        programmes.load("zz", tmp_path)
    with pytest.raises(RuleViolation, match="must be 1-16 of a-z"):
        programmes.load("../xx", tmp_path)
    write(tmp_path, "broken", "code = ")
    with pytest.raises(RuleViolation, match=r"programme template broken\.toml"):
        programmes.load("broken", tmp_path)


def test_the_shipped_templates_load():
    assert programmes.codes() == ["dk", "no"]
    for code in programmes.codes():
        template = programmes.load(code)
        assert template.code == code
    examples = {
        (code, c.category)
        for code in programmes.codes()
        for c in programmes.load(code).categories
        if c.example
    }
    assert examples == {("dk", "medical"), ("no", "basic_needs")}
