"""When a monthly check-in after return is sent: the days, and the moment on each day.

Pure: no clock, no database, no Telegram. Every moment handed back is timezone-aware UTC; every
rule about hours and days is judged in the office's local time (an IANA zone, via zoneinfo).

* `schedule` - the calendar days `m` months after the return date (a month end clamps: 31 January
  + 1 month is 28 or 29 February), sorted and de-duplicated; months outside 1..12 are refused.
* `send_moment` - on that day (or the first later day that is not a holiday) at `hour` local, plus
  a deterministic, well-mixed offset within `spread_minutes` so that many check-ins due the same
  day do not leave in the same second; never in quiet hours, never on a holiday.
* `next_allowed` - the earliest moment at or after a given one that is outside quiet hours and
  not on a holiday (reminders, "send now" at night).
* `working_day_after` - the same local time one working day later (no Saturday, Sunday or
  holiday), for repeating an alert nobody took.

Choices:

* Weekends are allowed for check-ins: only holidays move them. A check-in is a message to the
  returnee, who may well answer on a Saturday; the answer waits in the inbox. Repeated alerts for
  staff (`working_day_after`) do skip weekends.
* Quiet hours are local `[quiet_start:00, quiet_end:00)` across midnight; the allowed daytime is
  `[quiet_end:00, quiet_start:00)`, and `0 <= quiet_end < quiet_start <= 24` is required.
* An `hour` outside the daytime is clamped into it (before `quiet_end` -> `quiet_end`; at or after
  `quiet_start` -> `quiet_start - 1`), and the spread window is shortened so that it ends by
  `quiet_start`: the offset is never pushed into the night or to the next day.
* The spread offset is a Fibonacci (multiplicative) hash of `spread_key` scaled into the window:
  consecutive keys (case ids) land far apart and almost never collide.
* Local times are wall-clock times: a time that does not exist (clocks spring forward) is read
  with fold=0 and normalised by a round trip through UTC, i.e. moved forward by the gap; an
  ambiguous time (clocks fall back) takes its first occurrence (fold=0). The result is then
  passed through `next_allowed`, so whatever a time zone does the moment stays in daytime.
"""

from __future__ import annotations

import calendar
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.services.errors import RuleViolation

MAX_MONTHS = 12
DEFAULT_MONTHS = (1, 2, 3, 6, 9)

_GOLDEN = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, odd
_MASK64 = (1 << 64) - 1


def add_months(day: date, months: int) -> date:
    """The same day of the month `months` later, or that month's last day if it is shorter."""
    year, month0 = divmod(day.month - 1 + months, 12)
    year += day.year
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def schedule(return_date: date, months: Sequence[int]) -> list[date]:
    """The check-in days: `m` months after the return date for each m, sorted, without repeats."""
    for m in months:
        if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= MAX_MONTHS:
            raise RuleViolation(f"a check-in month must be between 1 and {MAX_MONTHS}, not {m!r}")
    return sorted({add_months(return_date, m) for m in months})


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleViolation(f"unknown time zone {timezone!r}") from None


def _check_quiet(quiet_start: int, quiet_end: int) -> None:
    if not 0 <= quiet_end < quiet_start <= 24:
        raise RuleViolation(
            f"quiet hours {quiet_start}:00-{quiet_end}:00 must leave a daytime: "
            "0 <= quiet_end < quiet_start <= 24"
        )


def _aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RuleViolation("a moment must be timezone-aware")


def _seconds_of_day(local: datetime) -> int:
    return local.hour * 3600 + local.minute * 60 + local.second


def _resolve(
    day: date, seconds: int, zone: ZoneInfo, not_before: datetime | None = None
) -> datetime:
    """Wall-clock `seconds` after local midnight of `day`, as UTC: fold=0, normalised."""
    wall = datetime.combine(day, time(), tzinfo=zone) + timedelta(seconds=seconds)
    moment = wall.replace(fold=0).astimezone(UTC)
    if not_before is not None and moment < not_before:
        # An ambiguous wall time whose first occurrence lies before the start: take the second.
        moment = max(wall.replace(fold=1).astimezone(UTC), not_before)
    return moment


def spread_offset(spread_key: int, window_seconds: int) -> int:
    """A deterministic, well-mixed offset in [0, window_seconds) for `spread_key`."""
    if window_seconds <= 0:
        return 0
    mixed = (spread_key * _GOLDEN) & _MASK64
    return (mixed * window_seconds) >> 64


def next_allowed(
    moment: datetime,
    *,
    timezone: str,
    holidays: Collection[date],
    quiet_start: int = 20,
    quiet_end: int = 9,
) -> datetime:
    """The earliest moment at or after `moment` outside quiet hours and not on a local holiday."""
    _aware(moment)
    _check_quiet(quiet_start, quiet_end)
    zone = _zone(timezone)
    current = moment.astimezone(UTC)
    # Each turn moves to a later day or to this day's morning, and holidays are finite.
    for _ in range(len(holidays) + 8):
        local = current.astimezone(zone)
        today, seconds = local.date(), _seconds_of_day(local)
        if today in holidays or seconds >= quiet_start * 3600:
            current = _resolve(today + timedelta(days=1), quiet_end * 3600, zone, current)
        elif seconds < quiet_end * 3600:
            current = _resolve(today, quiet_end * 3600, zone, current)
        else:
            return current
    raise AssertionError("next_allowed did not settle")  # pragma: no cover


def send_moment(
    day: date,
    *,
    timezone: str,
    holidays: Collection[date],
    hour: int = 10,
    spread_key: int = 0,
    spread_minutes: int = 120,
    quiet_start: int = 20,
    quiet_end: int = 9,
) -> datetime:
    """When the check-in due on `day` leaves (UTC): the first non-holiday day from `day` on, at
    `hour` local plus the spread offset of `spread_key`, inside the daytime."""
    _check_quiet(quiet_start, quiet_end)
    if not 0 <= hour <= 23:
        raise RuleViolation(f"the sending hour must be between 0 and 23, not {hour}")
    if spread_minutes < 0:
        raise RuleViolation("the spread cannot be negative")
    zone = _zone(timezone)
    while day in holidays:
        day += timedelta(days=1)
    start = min(max(hour, quiet_end), quiet_start - 1) * 3600
    window = min(spread_minutes * 60, quiet_start * 3600 - start)
    seconds = start + spread_offset(spread_key, window)
    return next_allowed(
        _resolve(day, seconds, zone),
        timezone=timezone,
        holidays=holidays,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
    )


def working_day_after(moment: datetime, *, timezone: str, holidays: Collection[date]) -> datetime:
    """The same local time on the next day that is neither a weekend day nor a holiday (UTC)."""
    _aware(moment)
    zone = _zone(timezone)
    local = moment.astimezone(zone)
    day = local.date() + timedelta(days=1)
    while day.weekday() >= 5 or day in holidays:
        day += timedelta(days=1)
    seconds = _seconds_of_day(local)
    return _resolve(day, seconds, zone) + timedelta(microseconds=local.microsecond)
