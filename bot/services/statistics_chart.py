"""The statistics as a picture, where one reads better than a table: check-in response rate and
first-response time month by month, and how much of each budget category is paid.

Drawn with matplotlib's object-oriented API on the Agg canvas: no display, no pyplot and its
global state, so it is safe in a worker thread. matplotlib is imported only when a chart is
drawn, so the admin command line and the bot start without it.

Privacy, as in the table (bot/services/statistics.py): a month made of fewer than 5 values is
left out of the lines, and a budget category summed over fewer than 5 cases is left out of the
bars; the subtitle says so.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.marks import N_
from bot.services.statistics import FEWEST, BudgetUse, Figures, MonthValue, period_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes


@dataclass(frozen=True)
class ChartText:
    """The chart's words; the bot passes them translated, the command line in English."""

    heading: str = ""  # which office and period; empty: said in English from the figures
    subtitle: str = N_(
        "Months with fewer than 5 values and categories of fewer than 5 cases are left out, "
        "so that no one can be singled out."
    )
    response_rate: str = N_("Check-in response rate by month (%)")
    first_response: str = N_("First response by month, median (minutes)")
    budget: str = N_("Budget used by category: paid of total")
    no_data: str = N_("no data")
    categories: Mapping[str, str] = field(default_factory=dict)  # budget.CATEGORIES to names


def shown_months(values: Sequence[MonthValue]) -> list[MonthValue]:
    """The months the chart draws: those made of at least 5 values."""
    return [month for month in values if month.count >= FEWEST]


def shown_budget(figures: Figures) -> list[BudgetUse]:
    return [use for use in figures.budget if use.cases >= FEWEST and use.total > 0]


def has_data(figures: Figures) -> bool:
    """Whether any panel would show something: else there is no chart worth sending."""
    return bool(
        shown_months(figures.response_rate_by_month)
        or shown_months(figures.first_response_by_month)
        or shown_budget(figures)
    )


def _months_between(first: str, last: str) -> list[str]:
    """Each month from `first` to `last`, both included: 2026-11 to 2027-02 gives four."""
    year, month = map(int, first.split("-"))
    months = []
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _line(axes: Axes, title: str, months: Sequence[MonthValue], text: ChartText) -> None:
    axes.set_title(title, fontsize=11, loc="left")
    if not months:
        axes.text(0.5, 0.5, text.no_data, ha="center", va="center", transform=axes.transAxes)
        axes.set_xticks([])
        axes.set_yticks([])
        return
    # Every month from the first to the last drawn, so a month left out shows as a gap in the
    # line rather than drawing its neighbours together.
    values = {month.month: float(month.value) for month in months}
    labels = _months_between(months[0].month, months[-1].month)
    points = [values.get(label, math.nan) for label in labels]
    axes.plot(labels, points, marker="o", color="#1f5f99")
    axes.set_ylim(bottom=0)
    axes.grid(axis="y", alpha=0.3)
    axes.tick_params(axis="x", labelrotation=45, labelsize=8)


def _bars(axes: Axes, title: str, uses: Sequence[BudgetUse], text: ChartText) -> None:
    axes.set_title(title, fontsize=11, loc="left")
    if not uses:
        axes.text(0.5, 0.5, text.no_data, ha="center", va="center", transform=axes.transAxes)
        axes.set_xticks([])
        axes.set_yticks([])
        return
    names = [f"{text.categories.get(u.category, u.category)} ({u.currency})" for u in uses]
    # Categories are in different currencies, so each bar is the share paid of its own total;
    # the amounts themselves are written beside it, as Decimals, never rounded through float.
    shares = [float(u.paid * 100 / u.total) for u in uses]
    rows = list(range(len(uses)))
    axes.barh(rows, [100.0] * len(uses), color="#dde6ee")
    axes.barh(rows, shares, color="#1f5f99")
    for row, use in zip(rows, uses, strict=True):
        axes.text(
            101,
            row,
            f"{use.paid.quantize(Decimal('0.01'))} / {use.total.quantize(Decimal('0.01'))}",
            va="center",
            fontsize=8,
        )
    axes.set_yticks(rows, names, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, 140)
    axes.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])


def render(figures: Figures, text: ChartText | None = None) -> bytes:
    """A PNG of the three panels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure, SubFigure

    text = text or ChartText()
    figure = Figure(figsize=(8, 11), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    parts = figure.subfigures(2, 1, squeeze=False, height_ratios=(1, 14))
    head: SubFigure = parts[0, 0]  # the heading and the privacy note under it
    body: SubFigure = parts[1, 0]
    head.suptitle(text.heading or period_text(figures), fontsize=13)
    head.supxlabel(text.subtitle, fontsize=8, color="#555555", wrap=True)
    top, middle, bottom = body.subplots(3, 1, squeeze=True)
    _line(top, text.response_rate, shown_months(figures.response_rate_by_month), text)
    _line(middle, text.first_response, shown_months(figures.first_response_by_month), text)
    _bars(bottom, text.budget, shown_budget(figures), text)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
