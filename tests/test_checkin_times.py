"""When monthly check-ins after return are sent: days, local hours, holidays, DST, spread."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.checkin_times import (
    next_allowed,
    schedule,
    send_moment,
    spread_offset,
    working_day_after,
)
from bot.services.errors import RuleViolation

BANGKOK, SAO_PAULO, BUCHAREST = "Asia/Bangkok", "America/Sao_Paulo", "Europe/Bucharest"
ZONES = (BANGKOK, SAO_PAULO, BUCHAREST)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


# --- schedule ---------------------------------------------------------------------------------


def test_schedule_default_months():
    assert schedule(date(2026, 3, 15), [1, 2, 3, 6, 9]) == [
        date(2026, 4, 15),
        date(2026, 5, 15),
        date(2026, 6, 15),
        date(2026, 9, 15),
        date(2026, 12, 15),
    ]


def test_schedule_sorts_and_drops_repeats():
    assert schedule(date(2026, 3, 15), [6, 1, 6, 12]) == [
        date(2026, 4, 15),
        date(2026, 9, 15),
        date(2027, 3, 15),
    ]
    assert schedule(date(2026, 3, 15), []) == []


def test_month_ends_clamp_to_the_last_day():
    assert schedule(date(2026, 1, 31), [1]) == [date(2026, 2, 28)]
    assert schedule(date(2028, 1, 31), [1]) == [date(2028, 2, 29)]  # leap year
    assert schedule(date(2027, 2, 28), [12]) == [date(2028, 2, 28)]
    assert schedule(date(2026, 8, 31), [1, 3, 6]) == [
        date(2026, 9, 30),
        date(2026, 11, 30),
        date(2027, 2, 28),
    ]
    assert schedule(date(2026, 10, 31), [3, 4]) == [date(2027, 1, 31), date(2027, 2, 28)]


@pytest.mark.parametrize("months", [[0], [13], [1, 13], [-1], [True]])
def test_months_outside_one_to_twelve_are_refused(months: list[int]):
    with pytest.raises(RuleViolation):
        schedule(date(2026, 1, 1), months)


# --- send_moment: examples --------------------------------------------------------------------


def test_send_moment_at_ten_local_in_each_zone():
    day = date(2026, 6, 15)
    assert send_moment(day, timezone=BANGKOK, holidays=(), spread_minutes=0) == utc(2026, 6, 15, 3)
    assert send_moment(day, timezone=SAO_PAULO, holidays=(), spread_minutes=0) == utc(
        2026, 6, 15, 13
    )  # UTC-3 all year: Brazil has had no summer time since 2019
    assert send_moment(date(2026, 1, 15), timezone=SAO_PAULO, holidays=(), spread_minutes=0) == (
        utc(2026, 1, 15, 13)
    )
    assert send_moment(day, timezone=BUCHAREST, holidays=(), spread_minutes=0) == utc(
        2026, 6, 15, 7
    )  # EEST, UTC+3
    assert send_moment(date(2026, 1, 15), timezone=BUCHAREST, holidays=(), spread_minutes=0) == (
        utc(2026, 1, 15, 8)
    )  # EET, UTC+2


def test_send_moment_on_bucharest_dst_days():
    spring, autumn = date(2026, 3, 29), date(2026, 10, 25)
    assert send_moment(spring, timezone=BUCHAREST, holidays=(), spread_minutes=0) == utc(
        2026, 3, 29, 7
    )
    assert send_moment(autumn, timezone=BUCHAREST, holidays=(), spread_minutes=0) == utc(
        2026, 10, 25, 8
    )
    # With the night open, 03:00 on 29 March does not exist: moved forward by the gap, 04:00.
    at_three = {"hour": 3, "quiet_end": 0, "spread_minutes": 0}
    moment = send_moment(spring, timezone=BUCHAREST, holidays=(), **at_three)
    assert moment == utc(2026, 3, 29, 1)
    assert local(moment, BUCHAREST).hour == 4
    # 03:00 on 25 October happens twice: the first time (still EEST, UTC+3).
    moment = send_moment(autumn, timezone=BUCHAREST, holidays=(), **at_three)
    assert moment == utc(2026, 10, 25, 0)
    assert (local(moment, BUCHAREST).hour, local(moment, BUCHAREST).fold) == (3, 0)


def test_a_holiday_moves_the_check_in_to_the_next_day_at_the_same_time():
    christmas = date(2026, 12, 25)
    plain = send_moment(date(2026, 12, 28), timezone=BUCHAREST, holidays=(), spread_key=42)
    moved = send_moment(christmas, timezone=BUCHAREST, holidays={christmas}, spread_key=42)
    assert local(moved, BUCHAREST).date() == date(2026, 12, 26)  # a Saturday: weekends are allowed
    assert local(moved, BUCHAREST).time() == local(plain, BUCHAREST).time()


def test_a_run_of_two_holidays_is_skipped():
    holidays = {date(2026, 12, 25), date(2026, 12, 26)}
    moment = send_moment(date(2026, 12, 25), timezone=BANGKOK, holidays=holidays, spread_minutes=0)
    assert moment == utc(2026, 12, 27, 3)
    # A holiday before the day changes nothing.
    assert send_moment(
        date(2026, 12, 27), timezone=BANGKOK, holidays=holidays, spread_minutes=0
    ) == utc(2026, 12, 27, 3)


def test_the_sending_hour_and_spread_stay_in_daytime():
    # 19:00 with two hours of spread: the window is cut at 20:00, not carried into the night.
    for key in range(200):
        moment = local(
            send_moment(
                date(2026, 6, 15), timezone=SAO_PAULO, holidays=(), hour=19, spread_key=key
            ),
            SAO_PAULO,
        )
        assert moment.date() == date(2026, 6, 15)
        assert moment.hour == 19
    # An hour in the night is clamped into the daytime.
    early = send_moment(
        date(2026, 6, 15), timezone=SAO_PAULO, holidays=(), hour=6, spread_minutes=0
    )
    assert local(early, SAO_PAULO).hour == 9
    late = send_moment(
        date(2026, 6, 15), timezone=SAO_PAULO, holidays=(), hour=23, spread_minutes=0
    )
    assert local(late, SAO_PAULO).hour == 19


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hour": 24},
        {"hour": -1},
        {"spread_minutes": -1},
        {"quiet_start": 9, "quiet_end": 9},
        {"quiet_start": 8, "quiet_end": 9},
        {"quiet_start": 25},
        {"timezone": "Mars/Olympus_Mons"},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object]):
    args: dict[str, object] = {"timezone": BANGKOK, "holidays": ()} | kwargs
    with pytest.raises(RuleViolation):
        send_moment(date(2026, 6, 15), **args)  # type: ignore[arg-type]


def test_spread_of_a_thousand_consecutive_keys():
    day = date(2026, 10, 25)  # a DST day in Bucharest, for good measure
    for zone in ZONES:
        moments = [
            send_moment(day, timezone=zone, holidays=(), spread_key=key) for key in range(1000)
        ]
        assert len(set(moments)) >= 900
        for moment in moments:
            here = local(moment, zone)
            assert here.date() == day
            assert 10 <= here.hour < 12
    # Keys need not be small or positive; the offset is always inside the window.
    for key in (-1, -(10**12), 2**70, 123_456_789):
        assert 0 <= spread_offset(key, 7200) < 7200
    # Consecutive keys do not land in consecutive seconds.
    assert abs(spread_offset(1, 7200) - spread_offset(0, 7200)) > 60


# --- next_allowed and working_day_after: examples ---------------------------------------------


def test_next_allowed_moves_the_night_to_the_morning():
    tz = ZoneInfo(BUCHAREST)
    evening = datetime(2026, 6, 15, 22, 30, tzinfo=tz)
    assert next_allowed(evening, timezone=BUCHAREST, holidays=()) == datetime(
        2026, 6, 16, 9, tzinfo=tz
    )
    early = datetime(2026, 6, 16, 5, 0, tzinfo=tz)
    assert next_allowed(early, timezone=BUCHAREST, holidays=()) == datetime(
        2026, 6, 16, 9, tzinfo=tz
    )
    # The next morning is a holiday, and so is the one after.
    holidays = {date(2026, 6, 16), date(2026, 6, 17)}
    assert next_allowed(evening, timezone=BUCHAREST, holidays=holidays) == datetime(
        2026, 6, 18, 9, tzinfo=tz
    )
    # Daytime on a working day is left alone (only turned into UTC).
    noon = datetime(2026, 6, 15, 12, 0, 7, tzinfo=tz)
    result = next_allowed(noon, timezone=BUCHAREST, holidays=())
    assert result == noon
    assert result.tzinfo is UTC
    # The night into the spring-forward day: 09:00 EEST.
    night = datetime(2026, 3, 28, 22, 30, tzinfo=tz)
    assert next_allowed(night, timezone=BUCHAREST, holidays=()) == utc(2026, 3, 29, 6)
    # 20:00 is already quiet; 09:00 is not.
    assert next_allowed(
        datetime(2026, 6, 15, 20, tzinfo=tz), timezone=BUCHAREST, holidays=()
    ) == datetime(2026, 6, 16, 9, tzinfo=tz)
    nine = datetime(2026, 6, 15, 9, tzinfo=tz)
    assert next_allowed(nine, timezone=BUCHAREST, holidays=()) == nine


def test_next_allowed_refuses_a_naive_moment():
    with pytest.raises(RuleViolation):
        next_allowed(datetime(2026, 6, 15, 12), timezone=BANGKOK, holidays=())


def test_working_day_after_skips_weekends_and_holidays():
    tz = ZoneInfo(BANGKOK)
    friday = datetime(2026, 12, 18, 15, 45, tzinfo=tz)
    assert working_day_after(friday, timezone=BANGKOK, holidays=()) == datetime(
        2026, 12, 21, 15, 45, tzinfo=tz
    )
    thursday = datetime(2026, 12, 24, 15, 45, tzinfo=tz)
    holidays = {date(2026, 12, 25), date(2026, 12, 28)}
    result = working_day_after(thursday, timezone=BANGKOK, holidays=holidays)
    assert result == datetime(2026, 12, 29, 15, 45, tzinfo=tz)
    assert result.tzinfo is UTC
    # Across the Bucharest change of clocks the local time is kept, not the UTC one.
    tzb = ZoneInfo(BUCHAREST)
    before = datetime(2026, 3, 27, 11, 0, tzinfo=tzb)  # Friday, EET
    after = working_day_after(before, timezone=BUCHAREST, holidays=())
    assert local(after, BUCHAREST).replace(tzinfo=None) == datetime(2026, 3, 30, 11, 0)
    assert after - before == timedelta(days=3, hours=-1)


# --- properties -------------------------------------------------------------------------------

return_dates = st.dates(date(2024, 1, 1), date(2030, 12, 31))
month_sets = st.lists(st.integers(1, 12), min_size=1, max_size=12, unique=True)
# Holidays as days after the return date, so that they fall on check-in days often enough.
holiday_offsets = st.frozensets(st.integers(0, 400), max_size=40)
spread_keys = st.integers(-(2**63), 2**63)


@settings(max_examples=200, deadline=None)
@given(
    return_date=return_dates,
    months=month_sets,
    zone=st.sampled_from(ZONES),
    offsets=holiday_offsets,
    extra_holidays=st.frozensets(st.dates(date(2024, 1, 1), date(2032, 12, 31)), max_size=10),
    spread_key=spread_keys,
    hour=st.integers(0, 23),
)
def test_every_send_moment_is_in_daytime_on_a_working_day(
    return_date: date,
    months: list[int],
    zone: str,
    offsets: frozenset[int],
    extra_holidays: frozenset[date],
    spread_key: int,
    hour: int,
):
    holidays = {return_date + timedelta(days=n) for n in offsets} | extra_holidays
    days = schedule(return_date, months)
    assert days == sorted(set(days))
    assert len(days) == len(months)
    moments = []
    for day in days:
        moment = send_moment(
            day, timezone=zone, holidays=holidays, spread_key=spread_key, hour=hour
        )
        assert moment.tzinfo is UTC
        here = local(moment, zone)
        assert 9 <= here.hour < 20
        assert here.date() not in holidays
        assert here.date() >= day
        again = send_moment(
            day, timezone=zone, holidays=frozenset(holidays), spread_key=spread_key, hour=hour
        )
        assert again == moment
        moments.append(moment)
    assert moments == sorted(moments)


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(
        datetime(2024, 1, 1), datetime(2030, 12, 31), timezones=st.sampled_from([UTC])
    ),
    zone=st.sampled_from(ZONES),
    offsets=st.frozensets(st.integers(-2, 5), max_size=6),
    quiet=st.tuples(st.integers(0, 23), st.integers(1, 24)).filter(lambda q: q[0] < q[1]),
)
def test_next_allowed_is_idempotent_and_never_earlier(
    moment: datetime, zone: str, offsets: frozenset[int], quiet: tuple[int, int]
):
    quiet_end, quiet_start = quiet
    today = local(moment, zone).date()
    holidays = {today + timedelta(days=n) for n in offsets}
    kwargs = {"timezone": zone, "holidays": holidays, "quiet_start": quiet_start}
    allowed = next_allowed(moment, quiet_end=quiet_end, **kwargs)  # type: ignore[arg-type]
    assert allowed >= moment
    assert allowed.tzinfo is UTC
    here = local(allowed, zone)
    assert quiet_end <= here.hour < quiet_start
    assert here.date() not in holidays
    assert next_allowed(allowed, quiet_end=quiet_end, **kwargs) == allowed  # type: ignore[arg-type]
    if moment == allowed:
        return
    # Nothing in between would have done: the moved-to moment starts the daytime.
    assert (here.hour, here.minute, here.second, here.microsecond) == (quiet_end, 0, 0, 0)


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(
        datetime(2024, 1, 1), datetime(2030, 12, 31), timezones=st.sampled_from([UTC])
    ),
    zone=st.sampled_from(ZONES),
    offsets=st.frozensets(st.integers(1, 10), max_size=6),
)
def test_working_day_after_lands_on_a_working_day(
    moment: datetime, zone: str, offsets: frozenset[int]
):
    start = local(moment, zone)
    holidays = {start.date() + timedelta(days=n) for n in offsets}
    result = working_day_after(moment, timezone=zone, holidays=holidays)
    here = local(result, zone)
    assert result.tzinfo is UTC
    assert here.date() > start.date()
    assert here.weekday() < 5
    assert here.date() not in holidays
    for n in range(1, (here.date() - start.date()).days):
        skipped = start.date() + timedelta(days=n)
        assert skipped.weekday() >= 5 or skipped in holidays
