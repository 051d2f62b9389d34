"""Programme managers (the admin role) in their private chat: the programme's statistics.

/stats: all offices, this year so far; /stats RO: one office; /stats RO 2026-01-01 2026-06-30
(or /stats 2026-01-01 2026-06-30 for all offices): a period. The answer is the table, and the
chart where it has something to draw. Both hide what could single out a person
(bot/services/statistics.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.split import CAPTION_LIMIT, TEXT_LIMIT, shortened, split
from bot.filters import HasRole
from bot.i18n import N_
from bot.knowledge.facts import CATEGORY_LABELS
from bot.languages import laid_out_for, normalise
from bot.services import offices, statistics, statistics_chart
from bot.services.clock import utcnow
from bot.services.lifecycle import REASON_LABELS
from storage.models import Role

# What each row measures; placeholders are filled with what it is of.
LABELS = {
    "eligible": N_("Eligible persons"),
    "applicants": N_("Applicants"),
    "returns": N_("Returns"),
    "days_to_return.mean": N_("Days from application to return, mean"),
    "days_to_return.median": N_("Days from application to return, median"),
    "drop_outs": N_("Dropped out"),
    "drop_outs.{reason}": N_("Dropped out: {reason}"),
    "declined": N_("Did not join"),
    "declined.{reason}": N_("Did not join: {reason}"),
    "first_response.median_minutes": N_("First response, median (minutes)"),
    "first_response.p90_minutes": N_("First response, 90th percentile (minutes)"),
    "first_response.{office}.median_minutes": N_("First response at {office}, median (minutes)"),
    "first_response.{office}.p90_minutes": N_(
        "First response at {office}, 90th percentile (minutes)"
    ),
    "check_ins.answered": N_("Check-ins answered"),
    "check_ins.missed": N_("Check-ins missed"),
    "check_ins.response_rate": N_("Check-in response rate"),
    "alerts.raised": N_("Check-in alerts raised"),
    "alerts.untaken": N_("Check-in alerts nobody has taken yet"),
    "alerts.minutes_to_take.median": N_("Minutes until an alert was taken, median"),
    "receipts.approved": N_("Receipts approved"),
    "receipts.rejected": N_("Receipts rejected"),
    "days_receipt_to_payout.mean": N_("Days from receipt to payout, mean"),
    "days_receipt_to_payout.median": N_("Days from receipt to payout, median"),
    "budget": N_("Budget used"),
    "budget.{category}.{currency}.paid": N_("{category} ({currency}): paid to date"),
    "budget.{category}.{currency}.total": N_("{category} ({currency}): the cases' total"),
}
HEADING_ALL = N_("Statistics for all offices, {start} to {end}")
HEADING_OFFICE = N_("Statistics for office {office}, {start} to {end}")
PRIVACY = N_(
    "Counts from 1 to 4, and figures made of fewer than 5 values, are shown as <5, so that "
    "no one can be singled out."
)
USAGE = N_(
    "Write /stats for all offices this year, /stats RO for one office, or "
    "/stats RO 2026-01-01 2026-06-30 for a period."
)
# What the manager typed is repeated in an answer only this long.
ECHOED = 32
# The chart's words are drawn with matplotlib's own font, which has Latin and Cyrillic letters
# but cannot join Arabic script or draw Thai and Devanagari: other languages get it in English,
# with the caption (which Telegram draws) in their language.
CHART_LANGUAGES = frozenset({"bg", "da", "en", "es", "fr", "mk", "pt", "ro", "ru", "sq", "sr"})


class Refusal(Exception):
    """A /stats request the bot cannot answer; the message says why, translated."""


@dataclass(frozen=True)
class Request:
    office: str | None
    start: date
    end: date


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Refusal(
            _("{value} is not a date. Write dates like 2026-01-31.").format(
                value=shortened(value, ECHOED)
            )
        ) from None


def _looks_like_date(value: str) -> bool:
    return value[:1].isdigit()


def parse(arguments: str | None, today: date) -> Request:
    """The office (optional) and the period (two dates, or this year so far)."""
    words = (arguments or "").split()
    office = words.pop(0) if words and not _looks_like_date(words[0]) else None
    if len(words) not in (0, 2):
        raise Refusal(_(USAGE))
    if not words:
        return Request(office, date(today.year, 1, 1), today)
    start, end = _day(words[0]), _day(words[1])
    if start > end:
        raise Refusal(_("The period starts after it ends."))
    return Request(office, start, end)


def _label(row: statistics.Row) -> str:
    about = dict(row.about)
    if "reason" in about:
        about["reason"] = _(REASON_LABELS.get(about["reason"], about["reason"]))
    if "category" in about:
        about["category"] = _(CATEGORY_LABELS.get(about["category"], about["category"]))
    return _(LABELS[row.metric]).format(**about)


def _value(row: statistics.Row) -> str:
    return _(statistics.NO_DATA) if row.value == statistics.NO_DATA else row.value


def statistics_text(figures: statistics.Figures, heading: str) -> str:
    lines = [f"📊 {heading}", ""]
    for row in statistics.table(figures):
        if row.metric == "first_response.median_minutes":
            lines.append("")  # the bot's own figures after the documents' list
        lines.append(f"{_label(row)}: {_value(row)}")
    return "\n".join([*lines, "", _(PRIVACY)])


def _chart_text(heading: str, locale: str) -> statistics_chart.ChartText:
    if normalise(locale) not in CHART_LANGUAGES:
        return statistics_chart.ChartText()
    words = statistics_chart.ChartText()
    return statistics_chart.ChartText(
        heading=heading,
        subtitle=_(words.subtitle),
        response_rate=_(words.response_rate),
        first_response=_(words.first_response),
        budget=_(words.budget),
        no_data=_(words.no_data),
        categories={key: _(label) for key, label in CATEGORY_LABELS.items()},
    )


async def show_statistics(
    message: Message, command: CommandObject, session: AsyncSession, i18n: I18n
) -> None:
    try:
        request = parse(command.args, utcnow().date())
        if request.office and await offices.find_office(session, request.office) is None:
            codes = ", ".join(o.code for o in await offices.list_offices(session)) or "-"
            raise Refusal(
                _("There is no office {code}. Offices: {codes}.").format(
                    code=shortened(request.office.upper(), ECHOED), codes=codes
                )
            )
    except Refusal as refusal:
        await message.answer(str(refusal))
        return
    found = await statistics.figures(
        session, office=request.office, start=request.start, end=request.end
    )
    dates = {"start": request.start.isoformat(), "end": request.end.isoformat()}
    heading = (
        _(HEADING_OFFICE).format(office=found.office, **dates)
        if found.office
        else _(HEADING_ALL).format(**dates)
    )
    locale = i18n.current_locale
    text = laid_out_for(statistics_text(found, heading), locale)
    for part in split(text, [], TEXT_LIMIT):
        await message.answer(part.text)
    if statistics_chart.has_data(found):
        caption = f"📊 {heading}\n{_(statistics_chart.ChartText.subtitle)}"
        # Drawing takes a moment of CPU: off the event loop, so other chats are not kept waiting.
        png = await asyncio.to_thread(statistics_chart.render, found, _chart_text(heading, locale))
        await message.answer_photo(
            BufferedInputFile(png, filename="statistics.png"),
            caption=shortened(laid_out_for(caption, locale), CAPTION_LIMIT),
            protect_content=True,
        )


def build_router() -> Router:
    router = Router(name="manager")
    router.message.filter(F.chat.type == "private", HasRole(Role.ADMIN))
    router.message.register(show_statistics, Command("stats"))
    return router
