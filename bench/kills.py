"""Benchmark: the bot killed with SIGKILL at seeded moments of bursts (tests/test_kills.py).

    python -m bench.kills [--runs 20] [--first-seed 1]

One world, one `python -m bot run` process warmed up (every case has its topic); per run (seed):
a burst of 24 messages both ways, SIGKILL once the fake Bot API has seen a seeded number of calls
since the burst (0-30), restart, wait until everything shows and the outbox is empty. Reported
per run: the kill moment, lost, duplicates, messages in doubt at the kill (sent by Telegram, not
yet recorded by the bot: the bound on duplicates), and seconds from restart until it polls
again and until everything shows with the outbox empty.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from tests.test_kills import run_kills


async def main(args: argparse.Namespace) -> None:
    seeds = list(range(args.first_seed, args.first_seed + args.runs))
    with tempfile.TemporaryDirectory() as folder:
        runs, flow = await run_kills(Path(folder), seeds)
    print(
        "| seed | kill after calls | calls seen | messages | lost | duplicates | in doubt "
        "| polling after s | drained after s |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in runs:
        print(
            f"| {r.seed} | {r.kill_after_calls} | {r.calls_seen} | {r.messages} | {r.lost} "
            f"| {r.duplicates} | {r.in_doubt} | {r.polling_after:.1f} | {r.drained_after:.1f} |"
        )
    total = flow.counts()
    print(
        f"\n{len(runs)} kills, {sum(r.messages for r in runs)} messages: "
        f"lost {sum(r.lost for r in runs)}, duplicates {sum(r.duplicates for r in runs)} "
        f"(in doubt {sum(r.in_doubt for r in runs)}; at most one per kill: "
        f"{'yes' if all(r.duplicates <= 1 for r in runs) else 'no'}); over all runs: "
        f"{sum(n == 0 for n in total.values())} lost, "
        f"{sum(n - 1 for n in total.values() if n > 1)} duplicates; "
        f"traceback/token lines {len(flow.failed_or_token())}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
