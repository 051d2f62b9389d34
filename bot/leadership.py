"""Which process does the work that must be done by one process only.

Every process receives updates (webhook mode behind one address, or one poller); but Telegram's
sending limits are per bot, so exactly one process sends (the outbox's sender), and scheduled
work (check-ins, digests) must not be done twice either. That process is the leader:

- PostgreSQL: the leader holds a session-level advisory lock on a connection of its own. When the
  process dies, its connection closes and the lock is free at once; the others try every
  `RETRY_SECONDS` and one of them takes over. A leader that loses its connection stops leading.
- SQLite: one process only. `SingleProcessLock` holds an exclusive lock on a file beside the
  database for the process's lifetime, and a second process refuses to start.

Use: `Leadership.run(on_lead, on_lose)` in the background; `on_lead` starts the leader's work,
`on_lose` stops it. Row claims (`FOR UPDATE SKIP LOCKED`) are not needed on top of this: only
the leader reads due work.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.failures import describe_failure

logger = logging.getLogger(__name__)

# The advisory lock's key: any 64-bit number unique to Homeward within its database.
ADVISORY_KEY = 0x486F6D6577617264  # "Homeward"
RETRY_SECONDS = 2.0  # a follower tries this often, a leader checks its lock this often
# A new leader waits this many rounds before sending, so that a leader that lost its lock has
# stopped: a takeover takes about (1 + FENCE_ROUNDS) * RETRY_SECONDS, under the 10 s bound.
FENCE_ROUNDS = 1.5


class AnotherProcessRuns(Exception):
    """A second bot process was started on a SQLite database that one process already uses."""


class SingleProcessLock:
    """An exclusive lock on `<database>.lock`, held while the process runs."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._file: IO[bytes] | None = None

    def acquire(self) -> None:
        descriptor = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        file = os.fdopen(descriptor, "r+b")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            raise AnotherProcessRuns(
                f"another Homeward process is running on the SQLite database {self.path.stem}; "
                "SQLite allows one process only (use PostgreSQL to run several)"
            ) from None
        self._file = file

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def sqlite_database(database_url: str) -> Path | None:
    """The SQLite file behind a URL; None for another database or an in-memory one."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(str(url.database)).expanduser().resolve()


class Leadership:
    """Leads alone on SQLite (the single-process lock guarantees it); elects on PostgreSQL."""

    def __init__(self, engine: AsyncEngine, retry_seconds: float = RETRY_SECONDS) -> None:
        self.engine = engine
        self.retry_seconds = retry_seconds
        self.leading = False
        self._connection: AsyncConnection | None = None
        self._stop = asyncio.Event()

    @property
    def elects(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def run(
        self, on_lead: Callable[[], Awaitable[None]], on_lose: Callable[[], Awaitable[None]]
    ) -> None:
        """Until `stop()`: lead whenever possible, calling on_lead and on_lose as it changes."""
        if not self.elects:
            self.leading = True
            await on_lead()
            await self._stop.wait()
            return
        while not self._stop.is_set():
            if self.leading:
                if not await self._still_leading():
                    logger.warning("leadership lost: this process stops sending")
                    self.leading = False
                    await on_lose()
                    await self._drop_connection()
            elif await self._try_to_lead() and await self._fenced():
                logger.info("this process leads: it sends and does scheduled work")
                self.leading = True
                await on_lead()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.retry_seconds)

    async def _fenced(self) -> bool:
        """Just got the lock: wait until a leader that lost it (its connection cut, the process
        still alive) has noticed, which it does within `retry_seconds`, and stopped launching.
        False if the stop came meanwhile; the lock is then let go."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self.retry_seconds * FENCE_ROUNDS)
        if self._stop.is_set():
            await self._drop_connection()
            return False
        return True

    def stop_trying(self) -> None:
        """No more tries to lead; `release()` lets go of the lock once the work has stopped."""
        self._stop.set()

    async def release(self) -> None:
        self._stop.set()
        await self._drop_connection()
        self.leading = False

    async def _try_to_lead(self) -> bool:
        try:
            if self._connection is None:
                self._connection = await self.engine.connect()
            got = await self._connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
            )
            # Never leave the connection inside a transaction: the lock is the session's.
            await self._connection.commit()
        except Exception as error:  # noqa: BLE001 - the database may be down; try again later
            logger.warning("could not try to lead: %s", describe_failure(error))
            await self._drop_connection()
            return False
        return bool(got)

    async def _still_leading(self) -> bool:
        """The lock belongs to the session: while its connection answers, it is held."""
        if self._connection is None:
            return False
        try:
            await self._connection.scalar(text("SELECT 1"))
            await self._connection.commit()
        except Exception as error:  # noqa: BLE001 - a lost connection means a lost lock
            logger.warning("leadership check failed: %s", describe_failure(error))
            return False
        return True

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # Closed for real, not returned to the pool, where it would keep the lock.
            with contextlib.suppress(Exception):
                await connection.invalidate()
            with contextlib.suppress(Exception):
                await connection.close()


class LeaderWork:
    """The leader's work, started while this process leads and stopped before it lets go.

    Registered as the dispatcher's startup and shutdown: on shutdown the work stops first (the
    sender finishes what it has in flight) and only then is the lock released, so that the next
    leader never sends alongside this one.
    """

    def __init__(
        self,
        leadership: Leadership,
        start: Callable[[], Awaitable[None]],
        stop: Callable[[], Awaitable[None]],
    ) -> None:
        self.leadership = leadership
        self._start = start
        self._stop = stop
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        self._task = asyncio.create_task(
            self.leadership.run(self._start, self._stop), name="homeward-leadership"
        )

    async def shutdown(self) -> None:
        # No new lead from here; the work stops; only then is the lock let go.
        self.leadership.stop_trying()
        if self._task is not None:
            await self._task
        await self._stop()
        await self.leadership.release()
