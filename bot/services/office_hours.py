"""When an office answers: weekly opening hours and holidays, in the office's time zone."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from bot.services.errors import RuleViolation
from storage.models import Case, Office

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC = re.compile(
    r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+(?P<open>\d{2}:\d{2})-(?P<close>\d{2}:\d{2})$"
)


def parse_hours(specs: list[str]) -> dict[str, list[str]]:
    """["mon-fri 09:00-17:00", "sat 10:00-12:00"] -> {"mon": ["09:00", "17:00"], ...}."""
    hours: dict[str, list[str]] = {}
    for spec in specs:
        match = _SPEC.match(spec.strip().lower())
        if not match or match["first"] not in DAYS or (match["last"] or "mon") not in DAYS:
            raise RuleViolation(f"hours {spec!r} must look like 'mon-fri 09:00-17:00'")
        try:
            opens, closes = time.fromisoformat(match["open"]), time.fromisoformat(match["close"])
        except ValueError:
            raise RuleViolation(f"hours {spec!r} hold a time that does not exist") from None
        if opens >= closes:
            raise RuleViolation(f"hours {spec!r} close before they open")
        first = DAYS.index(match["first"])
        last = DAYS.index(match["last"] or match["first"])
        if last < first:
            raise RuleViolation(f"hours {spec!r} run backwards through the week")
        for day in DAYS[first : last + 1]:
            hours[day] = [match["open"], match["close"]]
    return hours


def local_now(office: Office, moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(office.timezone))


def is_open(office: Office, moment: datetime) -> bool:
    """An office without hours is always open."""
    if not office.working_hours:
        return True
    local = local_now(office, moment)
    if local.date().isoformat() in (office.holidays or []):
        return False
    hours = office.working_hours.get(DAYS[local.weekday()])
    if not hours:
        return False
    return time.fromisoformat(hours[0]) <= local.time() < time.fromisoformat(hours[1])


def office_day(office: Office, moment: datetime) -> date:
    return local_now(office, moment).date()


def closed_notice_due(case: Case, now: datetime) -> bool:
    """Whether a returnee writing now is told when the office opens: only outside its hours, and
    once a day (the office's day), which is recorded on the case."""
    office = case.office
    today = office_day(office, now)
    if is_open(office, now) or case.closed_reply_on == today:
        return False
    case.closed_reply_on = today
    return True
