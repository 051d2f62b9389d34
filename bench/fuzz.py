"""Benchmark: generated updates of every kind, at scale, through the real bot's webhook.

    python -m bench.fuzz [--updates 100000] [--seed 1] [--batch 5000]

The world of tests/test_authorisation.py on SQLite (two offices with forum groups and case
topics, returnees who joined, counsellors, staff, a manager, receipts, payouts, check-ins), the
real bot against the fake Bot API, and updates made by tests/fakes/updates.py from the Bot API
specification with a seeded random source: every update kind and message kind, from strangers,
returnees, counsellors, staff in topics and in General, another office's staff, bots, in
foreign groups; odd texts up to 4,096 characters with up to 100 entities, forged button data,
odd /start payloads, files over the 20 MB download limit. Each is posted to the webhook one
after another (tests/fuzzing.py checks it).

Reported: updates per kind, webhook statuses (5xx), exceptions that reached the error handler,
lines logged at ERROR, log lines holding a marker of the updates' texts, captions and names
(the log, and the process's stderr), calls that broke the specification, answers due and
missing, and the rate. Never asserted: the numbers are written down in the README.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bot.app import create_app
from tests.conftest import RunningBot
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.updates import MARKER_PATTERN, Generator, RandomSource
from tests.fuzzing import Fuzzing, Tally, cast_of, fake_problems, settle
from tests.test_authorisation import build_world, settings_for


@dataclass
class Result:
    tally: Tally
    seconds: float
    spec: Counter[str]  # the fake's findings: calls breaking the spec, refused texts, names


async def run(updates: int, seed: int, batch: int, workdir: Path) -> Result:
    api = FakeBotApi()
    await api.start()
    bot = RunningBot(create_app(settings_for(api, f"sqlite+aiosqlite:///{workdir / 'f.db'}")), api)
    await bot.start()
    fuzzing: Fuzzing | None = None
    spec_problems: Counter[str] = Counter()
    try:
        world = await build_world(bot)
        fuzzing = Fuzzing(bot, world)
        await fuzzing.start()
        generator = Generator(RandomSource(seed), await cast_of(world))
        started = time.monotonic()
        for n in range(1, updates + 1):
            await fuzzing.feed(generator.update())
            if n % batch == 0 or n == updates:
                # What the sender still had queued has gone; the fake's findings are read and
                # its records emptied, so that memory stays flat over 100,000 updates.
                await settle(bot)
                for problem in fake_problems(api):
                    spec_problems[problem[:160]] += 1
                api.violations.clear()
                api.refused_texts.clear()
                api.calls.clear()
                api.user_messages.clear()
                elapsed = time.monotonic() - started
                print(
                    f"{n} updates, {n / elapsed:.0f}/s, exceptions "
                    f"{sum(fuzzing.tally.exceptions.values())}, 5xx "
                    f"{fuzzing.tally.server_errors}, leaks {sum(fuzzing.tally.leaks.values())}",
                    flush=True,
                )
        elapsed = time.monotonic() - started
    finally:
        if fuzzing is not None:
            await fuzzing.stop()
        await bot.stop()
        await api.stop()
    assert fuzzing is not None
    return Result(fuzzing.tally, elapsed, spec_problems)


def report(result: Result, stderr_leaks: int, updates: int, seed: int) -> None:
    tally, seconds = result.tally, result.seconds
    by_update: Counter[str] = Counter()
    by_message: Counter[str] = Counter()
    for key, count in tally.kinds.items():
        kind, detail = key.split(":", 1)
        by_update[kind] += count
        if kind != detail:
            by_message[detail] += count
    print(f"\n{updates} updates, seed {seed}, {seconds:.0f} s, {updates / seconds:.0f} updates/s")
    print(f"update kinds ({len(by_update)}):")
    for kind, count in by_update.most_common():
        print(f"  {kind:28} {count:7}")
    print(f"message kinds ({len(by_message)}, in messages, edits, channel and business posts):")
    print("  " + ", ".join(f"{kind} {count}" for kind, count in by_message.most_common()))
    print(f"senders ({len(tally.senders)} actor@place):")
    print("  " + ", ".join(f"{who} {count}" for who, count in tally.senders.most_common()))
    print(f"webhook statuses: {dict(tally.statuses)}; 5xx: {tally.server_errors}")
    print(f"exceptions reaching the error handler: {dict(tally.exceptions) or 0}")
    for name, trace in tally.first_tracebacks.items():
        print(f"--- first {name}:\n{trace}")
    print(f"lines logged at ERROR: {sum(tally.failures.values())}")
    for line, count in tally.failures.most_common(10):
        print(f"  {count} x {line}")
    print(f"log lines with a marker: {sum(tally.leaks.values())}, on stderr: {stderr_leaks}")
    for line, count in tally.leaks.most_common(10):
        print(f"  {count} x {line}")
    print(f"calls breaking the spec or refused by the fake: {sum(result.spec.values())}")
    for line, count in result.spec.most_common(10):
        print(f"  {count} x {line}")
    print(f"answers due: {tally.answers_due}, missing: {tally.answers_missing}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        # The process's stderr goes to a file, which is searched for markers afterwards; the log
        # is written to it as production writes it (INFO and above).
        captured = Path(workdir) / "stderr"
        saved = os.dup(2)
        with captured.open("w") as sink:
            os.dup2(sink.fileno(), 2)
            handler = logging.StreamHandler(sys.stderr)
            handler.setLevel(logging.INFO)
            logging.getLogger().addHandler(handler)
            try:
                result = asyncio.run(run(args.updates, args.seed, args.batch, Path(workdir)))
            finally:
                logging.getLogger().removeHandler(handler)
                sys.stderr.flush()
                os.dup2(saved, 2)
        text = captured.read_text(errors="replace")
    report(result, len(MARKER_PATTERN.findall(text)), args.updates, args.seed)


if __name__ == "__main__":
    main()
