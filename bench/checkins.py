"""Benchmark: check-ins due at once, sent within Telegram's limits.

    python -m bench.checkins [--checkins 10000] [--per-returnee 5]
                             [--database sqlite|postgresql] [--kills 0|2]

The office RO and `checkins / per-returnee` consented returnees are written in bulk
(bench/relay.py `seed`), each case gets a return date, and `per-returnee` CheckIn rows per case
(months 1, 2, 3, 6, 9, ...) are inserted in bulk, all due an hour ago (status scheduled, no
reminders). Then Homeward runs with its own sweeps (SWEEP_SECONDS 2, the real scheduler): the
leader's first sweep claims everything due, 200 a transaction, each claim with its outbox item,
and the sender sends them to the returnees' private chats.

The fake Bot API (tests/fakes/bot_api.py, extended here only) refuses with 429 beyond Telegram's
limits: 30 messages in any second overall, and per private chat 3 in any 3 seconds (one a second
with a short burst, as Telegram allows; the same shape as the bot's `send_private_burst`).

--kills 0: Homeward in this process (`create_app` + `serve_polling`, as bench/relay.py does).
--kills N: Homeward as a real process (`python -m bot run`, as tests/test_process.py starts it);
           it is killed with SIGKILL N times during the run (the first kill early, while the
           sweep may still be claiming, the others spread over the rest) and started again at
           once.

Reported: time from leading (or the first start) to the last check-in sent, the sending rate from
the first to the last send as a share of 30 a second, 429 answers (overall / per chat), lost
check-ins (due, never sent) and duplicates (a returnee's chat got the same check-in twice), and
what the database says afterwards (check-ins by status, outbox items by status).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import signal
import tempfile
import time
from collections import Counter, deque
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update

from bench.onboarding import _fresh_postgres_database
from bench.relay import TOKEN, seed
from bot.app import create_app
from bot.config import Settings
from bot.runner import serve_polling
from bot.services.clock import utcnow
from bot.telegram.callbacks import CheckInPress
from storage.models import Case, CheckIn, CheckInStatus, OutboxItem, Person
from tests.fakes.bot_api import FakeBotApi
from tests.test_intake_process import Output
from tests.test_process import bot_env, start_bot

OVERALL = (30, 1.0)  # Telegram: 30 messages a second to different chats
PRIVATE = (3, 3.0)  # about one a second per private chat, with a short burst
MONTHS = (1, 2, 3, 6, 9, 12, 4, 5, 7, 8, 10, 11)
SWEEP_SECONDS = 2
AFTER_LAST = 6.0  # seconds to keep watching after the last check-in, so duplicates show


class LimitedBotApi(FakeBotApi):
    """The fake Bot API with Telegram's overall and per-private-chat limits: every call to a chat
    beyond them is refused with 429. Sends are counted when they arrive, as Telegram does."""

    def __init__(self) -> None:
        super().__init__()
        self._overall: deque[float] = deque()
        self._private: dict[int, deque[float]] = {}
        self.refused_overall = 0
        self.refused_private = 0
        self.refused_at: list[float] = []

    def _refusal(self, method: str, params: dict[str, Any]) -> tuple[int, str] | None:
        refusal = super()._refusal(method, params)
        if refusal is not None or not str(params.get("chat_id", "")).lstrip("-").isdigit():
            return refusal
        now = time.monotonic()
        chat_id = int(params["chat_id"])
        windows = [(self._overall, OVERALL, "overall")]
        if chat_id > 0:
            windows.append((self._private.setdefault(chat_id, deque()), PRIVATE, "private"))
        for sent, (count, seconds), kind in windows:
            while sent and sent[0] <= now - seconds:
                sent.popleft()
            if len(sent) >= count:
                self.refused_429 += 1
                self.refused_at.append(now)
                if kind == "overall":
                    self.refused_overall += 1
                else:
                    self.refused_private += 1
                return 429, "Too Many Requests: retry after 1"
        for sent, _, _ in windows:
            sent.append(now)
        return None


def settings_for(api: FakeBotApi, url: str) -> Settings:
    """Production's limits (30 a second overall, 3 per 3 s per private chat)."""
    return Settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_base=api.base_url,
        database_url=url,
        bot_username="bench_bot",
        sweep_seconds=SWEEP_SECONDS,
    )


async def prepare(settings: Settings, checkins: int, per_returnee: int) -> set[tuple[int, str]]:
    """Returnees, their cases' return dates and the check-ins, all due; returns what must be
    sent: (the returnee's chat, the check-in's button data)."""
    returnees = -(-checkins // per_returnee)
    await seed(settings, returnees)
    app = create_app(settings)
    await app.prepare()
    due = utcnow() - timedelta(hours=1)
    async with app.sessionmaker() as session:
        await session.execute(update(Case).values(return_date=date(2026, 1, 5)))
        case_ids = list(await session.scalars(select(Case.id).order_by(Case.id)))
        rows = [
            {
                "case_id": case_id,
                "month": MONTHS[n],
                "due_at": due,
                "status": CheckInStatus.SCHEDULED,
                "reminders": 0,
            }
            for n in range(per_returnee)
            for case_id in case_ids
        ][:checkins]
        for start in range(0, len(rows), 5000):
            await session.execute(insert(CheckIn), rows[start : start + 5000])
        await session.commit()
        expected = {
            (user, CheckInPress(check_in=check_in).pack())
            for user, check_in in await session.execute(
                select(Person.telegram_user_id, CheckIn.id)
                .join(Case, Case.returnee_id == Person.id)
                .join(CheckIn, CheckIn.case_id == Case.id)
            )
        }
    await app.close()
    return expected


class FailedDeliveries(logging.Handler):
    """Counts the sender's "delivery of outbox item N failed: ..." lines, by their cause."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.causes: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("delivery of outbox item"):
            self.causes[message.split("failed: ", 1)[-1].split(" at ")[0]] += 1


def failed_in(log: str) -> Counter[str]:
    return Counter(
        line.split("failed: ", 1)[-1].split(" at ")[0]
        for line in log.splitlines()
        if "delivery of outbox item" in line and "failed: " in line
    )


class Watch:
    """Check-ins the fake Bot API accepted, read from its calls as they come."""

    def __init__(self, api: FakeBotApi) -> None:
        self.api = api
        self.seen = 0
        self.sent: Counter[tuple[int, str]] = Counter()
        self.again: list[tuple[tuple[int, str], float]] = []
        self.times: list[float] = []  # each check-in's first send
        self.first: float | None = None
        self.last: float | None = None

    def read(self) -> int:
        calls = self.api.calls[self.seen :]
        self.seen += len(calls)
        for call in calls:
            if call.method != "sendMessage" or call.result is None:
                continue
            chat_id = int(call["chat_id"])
            keyboard = (call.get("reply_markup") or {}).get("inline_keyboard") or []
            data = [b.get("callback_data", "") for row in keyboard for b in row]
            if chat_id > 0 and data and data[0].startswith("ci:"):
                if (chat_id, data[0]) in self.sent:
                    self.again.append(((chat_id, data[0]), call.at))
                else:
                    self.times.append(call.at)
                self.sent[(chat_id, data[0])] += 1
                self.first = call.at if self.first is None else self.first
                self.last = call.at
        return len(self.sent)


async def in_process(settings: Settings, api: FakeBotApi, total: int, watch: Watch) -> dict:
    app = create_app(settings)
    await app.prepare()
    sweeps: list[tuple[float, float, int]] = []
    sweep = app.sweeps.sweep

    async def timed(now=None) -> int:  # the scheduler calls `self.sweep()`: timed here
        started = time.monotonic()
        done = await sweep(now)
        sweeps.append((started, time.monotonic(), done))
        return done

    app.sweeps.sweep = timed  # type: ignore[method-assign]
    failures = FailedDeliveries()
    logging.getLogger().addHandler(failures)
    # A sweep of thousands outlasts the 2 s interval: APScheduler says so at every tick.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_polling(app, stop, polling_timeout=1))
    try:
        while not app.leadership.leading:  # noqa: ASYNC110 - a flag set by another task
            await asyncio.sleep(0.02)
        started = time.monotonic()
        await _until_sent(watch, total, started)
        await asyncio.sleep(AFTER_LAST)
        watch.read()
    finally:
        stop.set()
        await api.wake_pollers()
        await task
        await app.close()
        logging.getLogger().removeHandler(failures)
    claimed = [s for s in sweeps if s[2]]
    return {
        "started": started,
        "sweep_end": claimed[0][1] if claimed else None,
        "sweep_s": (claimed[0][1] - claimed[0][0]) if claimed else None,
        "kills": [],
        "failed": failures.causes,
    }


async def _until_sent(watch: Watch, total: int, started: float, limit: float = 0) -> None:
    limit = limit or total / 30 * 2 + 300
    while watch.read() < total:
        if time.monotonic() - started > limit:
            return  # what is missing is reported as lost
        await asyncio.sleep(0.1)


async def with_kills(
    settings: Settings, api: FakeBotApi, total: int, watch: Watch, kills: int, folder: str
) -> dict:
    env = bot_env(api, settings.database_url)
    env["SWEEP_SECONDS"] = str(SWEEP_SECONDS)  # bot_env turns the sweeps off
    # The first kill early (the sweep may still be claiming), the others spread over the rest.
    marks = [max(1, total // 20)] + [total * (k + 1) // (kills + 1) for k in range(1, kills)]
    started = time.monotonic()
    output = Output(await start_bot("run", env, Path(folder)))
    killed: list[tuple[float, int]] = []
    outputs: list[str] = []
    try:
        for mark in marks[:kills]:
            while watch.read() < mark:
                assert output.process.returncode is None, "".join(output.lines)[-3000:]
                await asyncio.sleep(0.05)
            outputs.append(await output.stop(signal.SIGKILL))
            killed.append((time.monotonic() - started, watch.read()))
            output = Output(await start_bot("run", env, Path(folder)))
        await _until_sent(watch, total, started)
        await asyncio.sleep(AFTER_LAST)
        watch.read()
    finally:
        outputs.append(await output.stop())
    log = "".join(outputs)
    return {
        "started": started,
        "sweep_s": None,
        "kills": killed,
        "errors": sum("Traceback" in line or " ERROR " in line for line in log.splitlines()),
        "failed": failed_in(log),
    }


async def database_state(settings: Settings) -> tuple[Counter[str], Counter[str]]:
    app = create_app(settings)
    await app.prepare()
    async with app.sessionmaker() as session:
        check_ins = Counter(
            {
                str(status): n
                for status, n in await session.execute(
                    select(CheckIn.status, func.count()).group_by(CheckIn.status)
                )
            }
        )
        outbox = Counter(
            {
                str(status): n
                for status, n in await session.execute(
                    select(OutboxItem.status, func.count()).group_by(OutboxItem.status)
                )
            }
        )
    await app.close()
    return check_ins, outbox


async def scenario(args: argparse.Namespace, kind: str, folder: str) -> dict:
    api = LimitedBotApi()
    await api.start()
    url = (
        f"sqlite+aiosqlite:///{Path(folder) / f'checkins-{kind}.db'}"
        if kind == "sqlite"
        else await _fresh_postgres_database()
    )
    settings = settings_for(api, url)
    try:
        began = time.monotonic()
        expected = await prepare(settings, args.checkins, args.per_returnee)
        prepared = time.monotonic() - began
        watch = Watch(api)
        if args.kills:
            run = await with_kills(settings, api, len(expected), watch, args.kills, folder)
        else:
            run = await in_process(settings, api, len(expected), watch)
        check_ins, outbox = await database_state(settings)
    finally:
        await api.stop()
    sent = watch.sent
    # When each duplicate went (its second send), to tell which kill (if any) it follows.
    dup_at = [at - run["started"] for key, at in watch.again]
    first, last = watch.first or 0.0, watch.last or 0.0
    # Bursts within one chat: two check-ins less than a second apart (allowed, for the record).
    times: dict[int, list[float]] = {}
    for call in api.calls:
        if call.method == "sendMessage" and call.result is not None and int(call["chat_id"]) > 0:
            times.setdefault(int(call["chat_id"]), []).append(call.at)
    after = [at for at in watch.times if run.get("sweep_end") and at >= run["sweep_end"]]
    during = [at for at in watch.times if run.get("sweep_end") and at < run["sweep_end"]]
    close = sum(1 for ts in times.values() for a, b in itertools.pairwise(ts) if b - a < 1)
    return {
        "kind": kind,
        "returnees": -(-args.checkins // args.per_returnee),
        "expected": len(expected),
        "prepare_s": prepared,
        "sweep_s": run["sweep_s"],
        "all_sent_s": last - run["started"],
        "first_send_s": first - run["started"],
        "rate": (len(sent) - 1) / (last - first) if last > first else 0.0,
        "rate_during": len(during) / (run["sweep_end"] - first) if len(during) > 1 else None,
        "rate_after": (len(after) - 1) / (after[-1] - after[0]) if len(after) > 1 else None,
        "refused_overall": api.refused_overall,
        "refused_private": api.refused_private,
        "refused_at": [at - run["started"] for at in api.refused_at],
        "lost": len(expected - set(sent)),
        "duplicates": sum(n - 1 for n in sent.values()),
        "strays": len(set(sent) - expected),
        "kills": run["kills"],
        "dup_at": dup_at,
        "failed": run["failed"],
        "errors": run.get("errors"),
        "close_pairs": close,
        "check_ins": check_ins,
        "outbox": outbox,
        "violations": len(api.violations),
    }


def report(args: argparse.Namespace, r: dict) -> None:
    mode = f"a real process, killed {args.kills} times" if args.kills else "in this process"
    print(
        f"\n{r['kind']}: {r['expected']} check-ins of {r['returnees']} returnees due at once, "
        f"Homeward {mode}; limits 30/s overall, 3 per 3 s per chat",
        flush=True,
    )
    start = "the first start" if args.kills else "leading"
    print(f"  prepared (seed and bulk insert): {r['prepare_s']:.1f} s")
    if r["sweep_s"] is not None:
        print(f"  the first sweep claimed and queued everything in {r['sweep_s']:.1f} s")
    print(
        f"  all sent {r['all_sent_s']:.1f} s after {start} (first send at "
        f"{r['first_send_s']:.1f} s); rate first to last send {r['rate']:.2f}/s = "
        f"{r['rate'] / 30:.1%} of 30/s; {r['expected'] / r['all_sent_s']:.2f}/s from {start}"
    )
    if r["rate_after"] is not None:
        print(
            f"  rate while the sweep ran {r['rate_during'] or 0:.2f}/s, after it "
            f"{r['rate_after']:.2f}/s = {r['rate_after'] / 30:.1%} of 30/s"
        )
    print(
        f"  429 answers: {r['refused_overall'] + r['refused_private']} (overall "
        f"{r['refused_overall']}, per chat {r['refused_private']})"
        + (
            f" at {', '.join(f'{at:.1f}' for at in r['refused_at'][:10])} s"
            if r["refused_at"]
            else ""
        )
    )
    print(
        f"  lost {r['lost']}, duplicates {r['duplicates']}, sent to a wrong chat {r['strays']}; "
        f"pairs under 1 s apart in one chat {r['close_pairs']}; spec violations "
        f"{r['violations']}"
    )
    for at, count in r["kills"]:
        print(f"  SIGKILL at {at:.1f} s, after {count} sent")
    if r["dup_at"]:
        print(f"  duplicates sent at: {', '.join(f'{at:.1f}' for at in r['dup_at'][:20])} s")
    failed = ", ".join(f"{cause} {n}" for cause, n in r["failed"].items()) or "none"
    print(f"  deliveries failed (and tried again): {failed}")
    if r["errors"] is not None:
        print(f"  error lines in the processes' output: {r['errors']}")
    print(f"  check-ins: {dict(r['check_ins'])}; outbox items: {dict(r['outbox'])}")


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for kind in args.database:
            report(args, await scenario(args, kind, folder))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkins", type=int, default=10_000)
    parser.add_argument("--per-returnee", type=int, default=5, choices=range(1, 13))
    parser.add_argument("--database", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--kills", type=int, default=0)
    args = parser.parse_args()
    args.database = args.database or ["sqlite"]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
