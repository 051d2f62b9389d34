"""Programme templates: a programme's budget categories as a data file (bot/programmes/*.toml),
so the documents' figures are read and checked in one place and set with one command.

The format is described at the top of bot/programmes/dk.toml.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import budget, checkins, ledger
from bot.services.errors import RuleViolation
from storage.models import BudgetCategory, Case, PaidAs, Payout

TEMPLATES = Path(__file__).resolve().parent.parent / "programmes"

_CATEGORY_KEYS = frozenset(
    {"category", "maximum", "currency", "paid_as", "months", "ceiling", "reallocatable", "example"}
)
_TEMPLATE_KEYS = frozenset({"code", "name", "total", "category", "checkin_months"})


@dataclass(frozen=True)
class CategoryTemplate:
    category: str
    maximum: Decimal  # per month when `months` is set
    currency: str
    paid_as: PaidAs
    months: int | None = None
    ceiling: Decimal | None = None
    reallocatable: bool = False
    example: bool = False

    @property
    def total(self) -> Decimal:
        return self.maximum * (self.months or 1)

    def matches(self, row: BudgetCategory) -> bool:
        return (row.maximum, row.currency, row.paid_as, row.months, row.ceiling) == (
            self.maximum,
            self.currency,
            self.paid_as,
            self.months,
            self.ceiling,
        ) and (row.reallocatable, row.example) == (self.reallocatable, self.example)


@dataclass(frozen=True)
class Template:
    code: str
    name: str
    categories: tuple[CategoryTemplate, ...]
    checkin_months: tuple[int, ...] | None = None  # None: the default schedule


@dataclass
class Applied:
    """What applying a template did: the categories it set, and the instalments it planned."""

    programme: str
    changed: list[str] = field(default_factory=list)  # "housing added: ..." lines
    kept: list[str] = field(default_factory=list)  # in the database, not in the template
    planned: list[tuple[str, int]] = field(default_factory=list)  # (case code, instalments)
    not_planned: list[str] = field(default_factory=list)  # why a case got no plan


def codes(directory: Path = TEMPLATES) -> list[str]:
    return sorted(path.stem for path in directory.glob("*.toml"))


def load(code: str, directory: Path = TEMPLATES) -> Template:
    """The template of a programme, checked: any mistake in the file is one clear error."""
    # The code is checked before it names a file: it cannot reach outside the folder.
    code = budget.programme_code(code)
    path = directory / f"{code}.toml"
    if not path.is_file():
        known = ", ".join(codes(directory)) or "none"
        raise RuleViolation(f"no programme template {code!r}; there are: {known}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise RuleViolation(f"programme template {path.name}: {error}") from None
    return parse(raw, code, path.name)


def parse(raw: dict[str, object], code: str, where: str) -> Template:
    problems: list[str] = [f"unknown key {key!r}" for key in sorted(raw.keys() - _TEMPLATE_KEYS)]
    if raw.get("code") != code:
        problems.append(f"code must be {code!r}, as the file's name")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("name must be a text")
    items = raw.get("category")
    if not isinstance(items, list) or not items:
        problems.append("needs [[category]] sections")
        items = []
    found: list[CategoryTemplate] = []
    for number, item in enumerate(items, start=1):
        parsed = _category(item, f"category {number}", problems)
        if parsed is not None and any(c.category == parsed.category for c in found):
            problems.append(f"category {number}: {parsed.category!r} is given twice")
        elif parsed is not None:
            found.append(parsed)
    _check_total(raw.get("total"), found, problems)
    months = raw.get("checkin_months")
    if months is not None and not (
        isinstance(months, list) and months and all(type(m) is int and 1 <= m <= 12 for m in months)
    ):
        problems.append("checkin_months must be a list of months from 1 to 12, e.g. [1, 2, 3]")
    if problems:
        raise RuleViolation(f"programme template {where}: " + "; ".join(problems))
    return Template(
        code,
        str(name).strip(),
        tuple(found),
        tuple(sorted(set(months))) if isinstance(months, list) else None,
    )


def _category(item: object, where: str, problems: list[str]) -> CategoryTemplate | None:
    if not isinstance(item, dict):
        problems.append(f"{where}: expected a [[category]] section")
        return None
    before = len(problems)
    problems.extend(f"{where}: unknown key {key!r}" for key in sorted(item.keys() - _CATEGORY_KEYS))
    category = item.get("category")
    if category not in budget.CATEGORIES:
        problems.append(f"{where}: category must be one of {', '.join(budget.CATEGORIES)}")
    where = f"{where} ({category})"
    maximum = _money(item.get("maximum"), f"{where}: maximum", problems)
    currency = item.get("currency")
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
        problems.append(f"{where}: currency must be a three-letter code such as USD")
    paid_as = item.get("paid_as")
    if paid_as not in [p.value for p in PaidAs]:
        problems.append(f"{where}: paid_as must be one of {', '.join(p.value for p in PaidAs)}")
    months = item.get("months")
    if months is not None and (type(months) is not int or not 1 <= months <= 36):
        problems.append(f"{where}: months must be a whole number from 1 to 36")
    ceiling = item.get("ceiling")
    ceiling_value = None if ceiling is None else _money(ceiling, f"{where}: ceiling", problems)
    flags = [item.get(key, False) for key in ("reallocatable", "example")]
    if not all(isinstance(flag, bool) for flag in flags):
        problems.append(f"{where}: reallocatable and example must be true or false")
    if len(problems) > before or maximum is None:
        return None
    found = CategoryTemplate(
        category=str(category),
        maximum=maximum,
        currency=str(currency).upper(),
        paid_as=PaidAs(str(paid_as)),
        months=months if isinstance(months, int) else None,
        ceiling=ceiling_value,
        reallocatable=bool(flags[0]),
        example=bool(flags[1]),
    )
    if found.ceiling is not None and found.ceiling < found.total:
        problems.append(
            f"{where}: the ceiling {found.ceiling:.2f} is below its total {found.total:.2f}"
        )
        return None
    return found


def _money(value: object, where: str, problems: list[str]) -> Decimal | None:
    # A float is refused: 0.1 has no exact binary value, and money must be what was written.
    if isinstance(value, bool) or not isinstance(value, int | str):
        problems.append(f'{where} must be a whole number or a text such as "150.50"')
        return None
    try:
        return budget.amount(str(value))
    except RuleViolation as error:
        problems.append(f"{where}: {error}")
        return None


def _check_total(total: object, found: list[CategoryTemplate], problems: list[str]) -> None:
    """A programme's stated total (Norway's NOK 35,000) must be what its categories add up to."""
    if total is None or problems:
        return
    stated = _money(total, "total", problems)
    if stated is None:
        return
    if len({c.currency for c in found}) != 1:
        problems.append("total: the categories are in more than one currency")
    elif sum((c.total for c in found), Decimal(0)) != stated:
        added = sum((c.total for c in found), Decimal(0))
        problems.append(f"total: the categories add up to {added:.2f}, not {stated:.2f}")


def describe(row: BudgetCategory | CategoryTemplate) -> str:
    """A category's figures in one line, for the admin's output."""
    text = f"{row.maximum:.2f} {row.currency}"
    if row.months:
        text += f" a month for {row.months} months"
    text += f", {row.paid_as.value}"
    if row.ceiling is not None:
        text += f", ceiling {row.ceiling:.2f}"
    if row.reallocatable:
        text += ", reallocatable"
    if row.example:
        text += ", EXAMPLE figure"
    return text


async def apply_template(session: AsyncSession, code: str, directory: Path = TEMPLATES) -> Applied:
    """Set every category of the template; a category already as the template says is left
    alone, so applying twice changes (and audits) nothing. Categories the template does not
    name are kept: cases may have money in them. Then the programme's cases with a return date
    get their allowance instalments, once."""
    template = load(code, directory)
    applied = Applied(template.code)
    rows = {row.category: row for row in await budget.categories(session, template.code)}
    for wanted in template.categories:
        row = rows.get(wanted.category)
        if row is not None and wanted.matches(row):
            continue
        before = describe(row) if row is not None else None
        await budget.set_category(
            session,
            programme=template.code,
            category=wanted.category,
            maximum=str(wanted.maximum),
            currency=wanted.currency,
            paid_as=wanted.paid_as,
            months=wanted.months,
            ceiling=None if wanted.ceiling is None else str(wanted.ceiling),
            reallocatable=wanted.reallocatable,
            example=wanted.example,
        )
        after = describe(wanted)
        applied.changed.append(
            f"{wanted.category} added: {after}"
            if before is None
            else f"{wanted.category} changed: {before} -> {after}"
        )
    months = template.checkin_months
    if months is not None and await checkins.months_of(session, template.code) != months:
        await checkins.set_months(session, template.code, months)
        applied.changed.append("check-ins at months " + ", ".join(map(str, months)))
    named = {c.category for c in template.categories}
    applied.kept = [category for category in rows if category not in named]
    await session.flush()
    for case in await session.scalars(
        select(Case)
        .where(Case.programme == template.code, Case.return_date.is_not(None))
        .order_by(Case.code)
    ):
        try:
            planned = await plan(session, case)
        except RuleViolation as error:
            # Refused before anything was added: the other cases and the budget still apply.
            applied.not_planned.append(str(error))
            continue
        if planned:
            applied.planned.append((case.code, len(planned)))
    return applied


async def plan(session: AsyncSession, case: Case) -> list[Payout]:
    """Plan the case's allowance instalments (ledger.plan_instalments: once, from the return
    date), refusing where they would take more than is left: the allowance may have been lowered
    or paid in part by hand before the plan."""
    if case.return_date is None or case.programme is None:
        return []
    await ledger.hold_case_money(session, case)
    if await _has_instalments(session, case):
        return []  # planned once: plan_instalments would plan nothing either
    figures = await ledger.statement(session, case)
    for row in await budget.categories(session, case.programme):
        left = figures.of(row.category).left
        if row.months and budget.total_of(row) > left:
            raise RuleViolation(
                f"case {case.code}: only {left} {row.currency} is left in {row.category}, "
                f"{budget.total_of(row)} would be planned; record its payouts by hand"
            )
    return await ledger.plan_instalments(session, case)


async def _has_instalments(session: AsyncSession, case: Case) -> bool:
    found = await session.scalar(
        select(Payout.id).where(Payout.case_id == case.id, Payout.instalment.is_not(None)).limit(1)
    )
    return found is not None
