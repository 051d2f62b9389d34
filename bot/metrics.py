"""What the bot counts for Prometheus, and the text it answers `/metrics` with.

The exposition format (text, version 0.0.4) is written here rather than with prometheus-client:
the bot needs two counters and one histogram, and the client's default registry is one per
process, made at import, where each `create_app` (every test builds several) needs its own.

The intake counts updates by outcome, the errors router tells the intake which updates failed
(`UpdateReport`), and the sender counts its failures and how long each outbox item waited. What
lives in the database (the outbox, the check-ins) is read when Prometheus asks, with one GROUP BY
each. No label carries personal data: outcomes, exception type names, destination kinds, outbox
and check-in statuses, and staff groups' chat ids (groups, never a person's private chat). A case
code or a person's chat id is never a label.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CheckIn, CheckInStatus, Destination, OutboxItem, OutboxStatus, Switch

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# From a message sent at once (tens of milliseconds) to one that waited out a group's window,
# a refusing group or a blocked returnee (an hour and more).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
)

# The switch `python -m bot admin pause-outbound` turns (storage/models.py `Switch`).
OUTBOUND_PAUSED = "outbound_paused"


class UpdateOutcome(enum.StrEnum):
    OK = "ok"  # handled
    FAILED = "failed"  # a failure of the update itself (a bug): counted as handled, logged
    RETRIED = "retried"  # the database failed: not confirmed, Telegram sends it again
    UNREADABLE = "unreadable"  # aiogram could not read it even with fields left out: skipped


class ErrorPlace(enum.StrEnum):
    UPDATE = "update"  # an update failed for itself
    UPDATE_RETRIED = "update_retried"  # an update met a failing database
    DELIVERY = "delivery"  # Telegram refused or failed a send
    SENDER = "sender"  # a delivery failed outside Telegram (the database, a bug)


@dataclass
class UpdateReport:
    """Handed to every handler of one update (as `update_report`): the errors router notes here
    the type of a failure it answered, which the intake then counts."""

    failure: str | None = None


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _labels(names: Iterable[str], values: Iterable[str]) -> str:
    pairs = [f'{name}="{_escape(value)}"' for name, value in zip(names, values, strict=True)]
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _header(name: str, help_text: str, kind: str) -> list[str]:
    escaped = help_text.replace("\\", "\\\\").replace("\n", "\\n")  # a HELP keeps its quotes
    return [f"# HELP {name} {escaped}", f"# TYPE {name} {kind}"]


@dataclass
class Counter:
    name: str
    help: str
    label_names: tuple[str, ...]
    values: dict[tuple[str, ...], float] = field(default_factory=dict)

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        assert len(labels) == len(self.label_names)
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def lines(self) -> list[str]:
        out = _header(self.name, self.help, "counter")
        for labels, value in sorted(self.values.items()):
            out.append(f"{self.name}{_labels(self.label_names, labels)} {_number(value)}")
        return out


@dataclass
class _Observed:
    buckets: list[int]
    total: float = 0.0
    count: int = 0


@dataclass
class Histogram:
    name: str
    help: str
    label_names: tuple[str, ...]
    bounds: tuple[float, ...] = LATENCY_BUCKETS
    series: dict[tuple[str, ...], _Observed] = field(default_factory=dict)

    def touch(self, *labels: str) -> _Observed:
        assert len(labels) == len(self.label_names)
        if labels not in self.series:
            self.series[labels] = _Observed(buckets=[0] * len(self.bounds))
        return self.series[labels]

    def observe(self, value: float, *labels: str) -> None:
        observed = self.touch(*labels)
        for index, bound in enumerate(self.bounds):
            if value <= bound:
                observed.buckets[index] += 1
        observed.total += value
        observed.count += 1

    def lines(self) -> list[str]:
        out = _header(self.name, self.help, "histogram")
        names = (*self.label_names, "le")
        for labels, observed in sorted(self.series.items()):
            for bound, count in zip(self.bounds, observed.buckets, strict=True):
                out.append(f"{self.name}_bucket{_labels(names, (*labels, _number(bound)))} {count}")
            out.append(f"{self.name}_bucket{_labels(names, (*labels, '+Inf'))} {observed.count}")
            plain = _labels(self.label_names, labels)
            out.append(f"{self.name}_sum{plain} {_number(observed.total)}")
            out.append(f"{self.name}_count{plain} {observed.count}")
        return out


class Metrics:
    """The process's counters: one per `create_app`, updated by the intake and the sender."""

    def __init__(self) -> None:
        self.updates = Counter(
            "homeward_updates_total",
            "Updates from Telegram by outcome: ok, failed (a bug; logged), retried (the "
            "database failed; Telegram sends it again), unreadable (skipped).",
            ("outcome",),
        )
        self.errors = Counter(
            "homeward_errors_total",
            "Failures by place and exception type (the type's name only).",
            ("where", "kind"),
        )
        self.relay_latency = Histogram(
            "homeward_relay_latency_seconds",
            "From an outbox item's creation to its send, by destination (topic: a staff "
            "group; private: a returnee's or counsellor's chat). Counted by the leader, which "
            "sends.",
            ("destination",),
        )
        for outcome in UpdateOutcome:
            self.updates.inc(outcome.value, amount=0)
        for destination in Destination:
            self.relay_latency.touch(destination.value)

    def update_done(self, outcome: UpdateOutcome) -> None:
        self.updates.inc(outcome.value)

    def error(self, where: ErrorPlace, error: BaseException | str) -> None:
        kind = error if isinstance(error, str) else type(error).__name__
        self.errors.inc(where.value, kind)

    def sent(self, destination: Destination, seconds: float) -> None:
        self.relay_latency.observe(max(seconds, 0.0), destination.value)


@dataclass(frozen=True)
class DatabaseFigures:
    """What the database holds now, read when Prometheus asks."""

    outbox: Mapping[str, int]
    checkins: Mapping[str, int]
    checkins_due: int
    outbound_paused: bool


# What waits in the outbox; sent items (kept, emptied, until the retention purge) are counted
# by the relay latency's _count instead, so the scrape never counts the whole history.
OUTBOX_DEPTH = (OutboxStatus.PENDING, OutboxStatus.HELD, OutboxStatus.FAILED)


async def read_database_figures(session: AsyncSession, now: datetime) -> DatabaseFigures:
    """Two GROUP BYs and two look-ups, each over an index (ix_outbox_due, ix_check_ins_due)."""
    outbox = {status.value: 0 for status in OUTBOX_DEPTH}
    for outbox_status, count in await session.execute(
        select(OutboxItem.status, func.count())
        .where(OutboxItem.status.in_(OUTBOX_DEPTH))
        .group_by(OutboxItem.status)
    ):
        outbox[OutboxStatus(outbox_status).value] = count
    checkins = {status.value: 0 for status in CheckInStatus}
    for checkin_status, count in await session.execute(
        select(CheckIn.status, func.count()).group_by(CheckIn.status)
    ):
        checkins[CheckInStatus(checkin_status).value] = count
    due = await session.scalar(
        select(func.count())
        .select_from(CheckIn)
        .where(CheckIn.status == CheckInStatus.SCHEDULED, CheckIn.due_at <= now)
    )
    paused = await session.scalar(select(Switch.on).where(Switch.name == OUTBOUND_PAUSED))
    return DatabaseFigures(
        outbox=outbox, checkins=checkins, checkins_due=due or 0, outbound_paused=bool(paused)
    )


def _gauge(name: str, help_text: str, samples: Iterable[tuple[str, float]]) -> list[str]:
    lines = _header(name, help_text, "gauge")
    return lines + [f"{name}{labels} {_number(value)}" for labels, value in samples]


def exposition(
    metrics: Metrics,
    figures: DatabaseFigures | None,
    *,
    lag: Mapping[int, float],
    leading: bool,
) -> str:
    """The whole `/metrics` answer. `figures` is None when the database did not answer."""
    lines = metrics.updates.lines() + metrics.errors.lines() + metrics.relay_latency.lines()
    lines += _gauge(
        "homeward_relay_lag_seconds",
        "Latest time a returnee's message took to reach its staff group, by group chat id "
        "(observed by the leader).",
        ((_labels(("group",), (str(chat),)), seconds) for chat, seconds in sorted(lag.items())),
    )
    lines += _gauge(
        "homeward_leader",
        "1 if this process leads (sends and does scheduled work), else 0.",
        [("", 1.0 if leading else 0.0)],
    )
    lines += _gauge(
        "homeward_database_up",
        "1 if the database answered this scrape, else 0 (and the database figures are left out).",
        [("", 0.0 if figures is None else 1.0)],
    )
    if figures is not None:
        lines += _gauge(
            "homeward_outbox_items",
            "Outbox items waiting or given up, by status (pending: to be sent; held: waiting for "
            "a returnee who blocked the bot, or for an edit's original; failed: given up).",
            ((_labels(("status",), (s,)), n) for s, n in sorted(figures.outbox.items())),
        )
        lines += _gauge(
            "homeward_checkins",
            "Monthly check-ins by status.",
            ((_labels(("status",), (s,)), n) for s, n in sorted(figures.checkins.items())),
        )
        lines += _gauge(
            "homeward_checkins_due",
            "Check-ins whose moment has come and that are not asked yet (the next sweep asks).",
            [("", float(figures.checkins_due))],
        )
        lines += _gauge(
            "homeward_outbound_paused",
            "1 while messages to private chats are paused (admin pause-outbound), else 0.",
            [("", 1.0 if figures.outbound_paused else 0.0)],
        )
    return "\n".join(lines) + "\n"
