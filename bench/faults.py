"""Benchmark: the bot as a real process through a long outage of PostgreSQL or Redis.

    python -m bench.faults outage [--seconds 120] [--per-side 30]
    python -m bench.faults redis [--seconds 120] [--per-side 30]

outage: `python -m bot run` (polling) on a fresh PostgreSQL database reached through a TCP proxy
        of the bench's own (tests/fakes/tcp_proxy.py); the proxy is cut (live connections reset,
        new ones refused) for `--seconds` while `--per-side` messages go each way (returnees to
        the staff group, staff to returnees), then restored. The machine's PostgreSQL is never
        stopped.
redis:  the same on SQLite, with dialog state in a redis-server of the bench's own, killed for
        `--seconds` and started again (empty).

Reported: messages sent, lost, shown twice, sent twice, the outbox at the end, /healthz during
and after, how long after the outage until the last message arrived, and how many retries the
intake logged. The scenario is tests/test_outages_process.py's, with a longer outage.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.onboarding import _fresh_postgres_database
from tests.test_outages_process import (
    OutageRun,
    run_with_a_database_outage,
    run_with_a_redis_outage,
    telegram,
)

SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def report(what: str, seconds: float, run: OutageRun) -> None:
    print(f"{what}, {seconds:.0f} s")
    print(f"  messages sent (both ways, incl. before/after): {len(run.sent)}")
    print(f"  lost: {len(run.lost)}  shown twice: {len(run.duplicated)}")
    print(f"  sent twice to Telegram: {len(run.repeated)}")
    print(f"  outbox at the end: {run.outbox}")
    print(f"  /healthz during: {run.health_during}")
    print(f"  /healthz after:  {run.health_after}")
    print(f"  last message arrived {run.recovery_seconds:.1f} s after the outage ended")
    print(f"  retries logged by the intake: {run.output.count('will be tried again')}")
    print(f"  tracebacks in the log: {run.output.count('Traceback')}")
    print(f"  process exit code: {run.returncode}")


async def database(args: argparse.Namespace) -> None:
    url = await _fresh_postgres_database()
    try:
        with tempfile.TemporaryDirectory() as folder:
            async with telegram() as api:
                run = await run_with_a_database_outage(
                    api, url, Path(folder), seconds=args.seconds, per_side=args.per_side
                )
        report("PostgreSQL cut", args.seconds, run)
    finally:
        name = url.rsplit("/", 1)[1]
        admin = create_async_engine(SERVER, isolation_level="AUTOCOMMIT")
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def redis(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with telegram() as api:
            run = await run_with_a_redis_outage(
                api, Path(folder), seconds=args.seconds, per_side=args.per_side
            )
    report("Redis killed", args.seconds, run)


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("outage", "redis"):
        command = commands.add_parser(name)
        command.add_argument("--seconds", type=float, default=120.0)
        command.add_argument("--per-side", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(database(args) if args.command == "outage" else redis(args))


if __name__ == "__main__":
    main()
