"""The programme's reintegration budget: its categories, what they pay and what is left.

The categories and their maxima are settings of each programme (for example "dk" or "no"); a
case belongs to one programme. What is left is the category's maximum less what was paid out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import audit
from bot.services.errors import RuleViolation
from storage.models import BudgetCategory, PaidAs

# The categories the documents name; their labels are translated in bot/knowledge/facts.py.
CATEGORIES = (
    "allowance",  # monthly subsistence allowance, in cash
    "housing",
    "business",  # income-generating activity
    "education",
    "medical",
    "basic_needs",  # cash earmarked for food, clothing, hygiene
)


@dataclass(frozen=True)
class Remaining:
    category: str
    total: Decimal  # the most the category pays over the whole programme
    paid: Decimal
    currency: str

    @property
    def left(self) -> Decimal:
        return max(self.total - self.paid, Decimal(0))


def total_of(category: BudgetCategory) -> Decimal:
    return category.maximum * (category.months or 1)


_AMOUNT = re.compile(r"^(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d{1,2})?$")
_PROGRAMME = re.compile(r"^[a-z0-9_-]{1,16}$")


def amount(value: str) -> Decimal:
    # A comma only groups thousands ("3,000.50"): "2500,50" is refused, not read as 250050.
    if not _AMOUNT.match(value.strip()):
        raise RuleViolation(f"{value!r} is not an amount like 900 or 3,000.50")
    try:
        parsed = Decimal(value.strip().replace(",", ""))
    except InvalidOperation:
        raise RuleViolation(f"{value!r} is not an amount") from None
    if not parsed.is_finite() or parsed <= 0 or parsed != parsed.quantize(Decimal("0.01")):
        raise RuleViolation(f"{value!r} must be a positive amount with at most two decimals")
    return parsed


def programme_code(value: str) -> str:
    """Programme codes are compared as lower case: "DK" on a case meets "dk" in the budget."""
    code = value.strip().lower()
    if not _PROGRAMME.match(code):
        raise RuleViolation(f"programme {value!r} must be 1-16 of a-z, 0-9, _ and -, e.g. dk")
    return code


def _ceiling(value: str | None, total: Decimal) -> Decimal | None:
    # Below the programme's own amount no case could ever be within it.
    if value is None:
        return None
    ceiling = amount(value)
    if ceiling < total:
        raise RuleViolation(f"the ceiling {ceiling} is below the category's total {total}")
    return ceiling


async def categories(session: AsyncSession, programme: str | None) -> list[BudgetCategory]:
    if programme is None:
        return []
    rows = await session.scalars(
        select(BudgetCategory)
        .where(BudgetCategory.programme == programme)
        .order_by(BudgetCategory.position, BudgetCategory.id)
    )
    return list(rows)


async def set_category(
    session: AsyncSession,
    *,
    programme: str,
    category: str,
    maximum: str,
    currency: str,
    paid_as: PaidAs,
    months: int | None = None,
    ceiling: str | None = None,
    reallocatable: bool = False,
    example: bool = False,
) -> BudgetCategory:
    """Add a category to a programme's budget, or change it; every setting is given each time,
    like the category's months, so what is not given is cleared."""
    programme = programme_code(programme)
    if category not in CATEGORIES:
        raise RuleViolation(f"category must be one of: {', '.join(CATEGORIES)}")
    if len(currency) != 3 or not currency.isalpha():
        raise RuleViolation(f"{currency!r} is not a three-letter currency code")
    if months is not None and not 1 <= months <= 36:
        raise RuleViolation("months must be between 1 and 36")
    row = await session.scalar(
        select(BudgetCategory).where(
            BudgetCategory.programme == programme, BudgetCategory.category == category
        )
    )
    if row is None:
        row = BudgetCategory(
            programme=programme, category=category, position=CATEGORIES.index(category)
        )
        session.add(row)
    row.maximum, row.currency = amount(maximum), currency.upper()
    row.paid_as, row.months = paid_as, months
    row.ceiling = _ceiling(ceiling, total_of(row))
    row.reallocatable, row.example = reallocatable, example
    audit.record(session, "budget.category_set")
    return row
