"""The clock of scheduled work. The database says what is due and each sweep claims its rows
atomically (bot/services/ledger.py `overdue`); APScheduler only wakes the sweep, on the leading
process alone. Tests call `sweep(now=...)` with the time they want instead of waiting."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.failures import describe_failure, is_transient
from bot.services import chat_clearing, checkins, digests, receipts, retention
from bot.services.clock import utcnow
from bot.services.unit_of_work import Wakeable

logger = logging.getLogger(__name__)
SWEEP_SECONDS = 300
BETWEEN_BATCHES_SECONDS = 0.2


class Sweeps:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        sender: Wakeable,
        *,
        every_seconds: float = SWEEP_SECONDS,
        clock: Callable[[], datetime] = utcnow,
        digest: digests.DigestSchedule | None = None,
        retention_policy: retention.Policy | None = None,
        forget_dialogs: Callable[[Sequence[str]], None] | None = None,
        deleter: chat_clearing.Deleter | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        # Deletes messages from private chats (sensitive ones, what a clear left); None: nothing.
        self.deleter = deleter
        self.digest = digest or digests.DigestSchedule()
        self.retention = retention_policy or retention.Policy()
        # Dialog state the purge deleted is also dropped from the process's cache (SqlStorage).
        self.forget_dialogs = forget_dialogs
        self.sender = sender
        self.every_seconds = every_seconds
        self.clock = clock
        self._scheduler: AsyncIOScheduler | None = None
        self._running: asyncio.Task[int] | None = None

    async def start(self) -> None:
        if not self.every_seconds:
            return  # no clock: sweeps run when called
        scheduler = AsyncIOScheduler(timezone=UTC)
        # One sweep at a time; missed runs (a busy loop, a sleeping laptop) fold into one.
        scheduler.add_job(
            self._run,
            "interval",
            seconds=self.every_seconds,
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
        )
        scheduler.start()
        self._scheduler = scheduler

    async def stop(self) -> None:
        """No new sweep starts; one under way finishes, so it never outlives the database."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)

    async def _run(self) -> None:
        self._running = asyncio.ensure_future(self.sweep())
        try:
            await asyncio.shield(self._running)
        except asyncio.CancelledError:
            # stop() shuts the scheduler down, which cancels this job; the sweep itself is
            # shielded and stop() waits for it. Nothing failed.
            return
        except Exception as error:  # the next run tries again; the rows are still due
            if is_transient(error):
                # The database is away for now (logged by the intake and the sender too): no
                # traceback for what is not a bug.
                logger.warning(
                    "scheduled sweep waits for the database: %s", describe_failure(error)
                )
            else:
                logger.exception("scheduled sweep failed")

    async def sweep(self, now: datetime | None = None) -> int:
        """Everything due at `now`: check-ins to ask, reminders, missed check-ins, payouts
        approved but unpaid for ten days, the counsellors' monthly digests, and messages to
        delete from private chats (marked sensitive, or left by a "clear this chat"). Each
        batch is committed with the messages it queued; a process down for a day catches up
        here, and the sender keeps to Telegram's limits. Once a day, the retention purge (not
        counted in what is returned: it sends nothing)."""
        moment = now or self.clock()
        done = 0
        async with self.sessionmaker() as session:
            while True:
                asked = await checkins.ask_due(session, moment)
                await session.commit()
                done += asked
                if asked:
                    self.sender.wake()
                if asked < checkins.BATCH:
                    break
                # A moment between batches: on SQLite each batch holds the only write lock,
                # and the sender must be able to record what Telegram has already taken.
                await asyncio.sleep(BETWEEN_BATCHES_SECONDS)
            done += await checkins.remind_or_miss(session, moment)
            done += await checkins.repeat_alerts(session, moment)
            done += await receipts.tell_overdue(session, moment)
            await session.commit()
            await digests.plan(session, self.digest, moment)
            await session.commit()
            while queued := await digests.queue_due(session, moment):
                await session.commit()
                done += queued
                if queued < digests.BATCH:
                    break
                await asyncio.sleep(BETWEEN_BATCHES_SECONDS)
            if self.deleter is not None:
                done += await chat_clearing.delete_due(session, self.deleter, moment)
        await self._purge(moment)
        if done:
            self.sender.wake()
            logger.info("scheduled work done: %s", done)
        return done

    async def _purge(self, moment: datetime) -> None:
        """What is past its time (bot/services/retention.py), at most once a day."""
        async with self.sessionmaker() as session:
            purged = await retention.purge_daily(session, moment, self.retention)
            await session.commit()
        if purged is None:
            return
        if self.forget_dialogs is not None and purged.dialog_keys:
            self.forget_dialogs(purged.dialog_keys)
        logger.info("retention purge: %s", purged.summary())
