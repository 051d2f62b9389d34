"""The bot as a real process while PostgreSQL or Redis is gone (issue 14, item 6).

PostgreSQL and Redis of the machine serve others too, so neither is stopped: PostgreSQL is
reached through a proxy of the test's own (tests/fakes/tcp_proxy.py) which is cut for the outage,
and Redis is a `redis-server` of the test's own, killed and started again. Messages go both ways
during the outage; afterwards each must have arrived exactly once and the outbox be empty.
bench/faults.py runs the same with a two-minute outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from storage.db import create_engine, create_sessionmaker
from storage.models import Case, OutboxItem
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.tcp_proxy import TcpProxy
from tests.fakes.telegram_user import TelegramUser
from tests.test_inbox import GROUP
from tests.test_intake_process import Output, write_lock
from tests.test_intake_process import stalled_world as stalled_world  # the fixture
from tests.test_process import bot_env, free_port, start_bot
from tests.test_several_processes import RETURNEES, office_with_returnees

STAFF = 111


@dataclass
class OutageRun:
    """What a run with an outage came to. Words are the messages' texts; none is private."""

    sent: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)  # see repeated_sends
    outbox: dict[str, int] = field(default_factory=dict)  # items by status at the end
    health_during: dict[str, Any] = field(default_factory=dict)
    health_after: dict[str, Any] = field(default_factory=dict)
    recovery_seconds: float = 0.0  # from the end of the outage until the last message arrived
    output: str = ""
    returncode: int | None = None


def shown(api: FakeBotApi, word: str) -> int:
    """How many times the group and the returnees' chats show this text. Short texts that
    wait are joined into one topic message, so a word is counted wherever it stands."""
    count = 0
    for chat_id in (GROUP, *RETURNEES):
        view = api.chats.get(chat_id)
        if view is not None:
            count += sum(str(m.get("text", "")).count(word) for m in view.messages.values())
    return count


def repeated_sends(api: FakeBotApi, since: int) -> list[str]:
    """Sends Telegram took more than once since a call: the same copy, or the same text to the
    same place (a delivery sent again because its bookkeeping failed). Named by method and chat
    only. Before the outage, check-ins of several milestones may well say the same."""
    seen: dict[tuple[Any, ...], int] = {}
    for call in api.calls[since:]:
        if call.result is None or not call.method.startswith(("send", "copy")):
            continue
        key = (
            call.method,
            call.get("chat_id"),
            call.get("message_thread_id"),
            call.get("text"),
            call.get("from_chat_id"),
            str(call.get("message_id") or call.get("message_ids")),
        )
        seen[key] = seen.get(key, 0) + 1
    return [f"{key[0]} to {key[1]}" for key, n in seen.items() if n > 1]


async def all_arrived(api: FakeBotApi, words: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(shown(api, word) == 0 for word in words):
        if time.monotonic() > deadline:
            return  # the caller names what is missing
        await asyncio.sleep(0.2)


async def health(port: int) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        return {"http": response.status, **await response.json()}


async def topics(database_url: str) -> dict[int, int]:
    """Each returnee's topic in the staff group, by the returnee's place in RETURNEES."""
    engine = create_engine(database_url)
    async with create_sessionmaker(engine)() as session:
        rows = await session.execute(select(Case.code, Case.topic_id).order_by(Case.code))
        found = {code: topic for code, topic in rows if topic is not None}
    await engine.dispose()
    return {n: found[f"RO-000{n + 1}"] for n in range(len(RETURNEES))}


async def outbox_by_status(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    async with create_sessionmaker(engine)() as session:
        rows = await session.execute(
            select(OutboxItem.status, func.count()).group_by(OutboxItem.status)
        )
        counts = {str(status): n for status, n in rows}
    await engine.dispose()
    return counts


async def drained(database_url: str, timeout: float) -> dict[str, int]:
    """Wait until nothing in the outbox is pending; the items by status then."""
    deadline = time.monotonic() + timeout
    while "pending" in (counts := await outbox_by_status(database_url)):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    return counts


async def traffic_during(
    api: FakeBotApi, thread_of: dict[int, int], seconds: float, per_side: int, tag: str
) -> list[str]:
    """Messages both ways spread over `seconds`: returnees to the group, staff to returnees."""
    users = [TelegramUser(api, user_id) for user_id in RETURNEES]
    ana = TelegramUser(api, STAFF, first_name="Ana", last_name="Ionescu")
    words: list[str] = []
    pause = seconds / (2 * per_side)
    for n in range(per_side):
        place = n % len(users)
        word = f"{tag} from returnee {n:04}"
        await api.push_update("message", users[place].message(word))
        words.append(word)
        await asyncio.sleep(pause)  # spreading the messages over the outage, not a timing
        word = f"{tag} from staff {n:04}"
        await api.push_update("message", ana.message(word, group=GROUP, topic=thread_of[place]))
        words.append(word)
        await asyncio.sleep(pause)
    return words


async def run_with_a_database_outage(
    api: FakeBotApi, postgres_url: str, folder: Path, *, seconds: float, per_side: int
) -> OutageRun:
    """A polling bot on PostgreSQL behind a proxy; the proxy is cut for `seconds` while
    `per_side` messages go each way, then restored."""
    await office_with_returnees(postgres_url)
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    ops_port = free_port()
    env = bot_env(api, proxied, METRICS_PORT=str(ops_port), SWEEP_SECONDS="5")
    run = OutageRun()
    bot = Output(await start_bot("run", env, folder))
    try:
        await bot.wait_for("this process leads", timeout=60)
        users = [TelegramUser(api, user_id) for user_id in RETURNEES]
        before = [f"before from returnee {n:04}" for n in range(len(users))]
        for user, word in zip(users, before, strict=True):
            await api.push_update("message", user.message(word))
        await all_arrived(api, before, timeout=60)
        run.sent += before
        thread_of = await topics(postgres_url)
        # Nothing in flight when the cut comes (the check-ins of the start included): a send
        # that Telegram took just before the cut, and whose bookkeeping the cut then lost, is
        # sent again afterwards. Telegram has no idempotent send, so that window stays.
        await drained(postgres_url, timeout=60)

        mark = len(api.calls)
        cut = await proxy.cut()
        assert cut > 0, "the bot held no connection to cut"
        during = asyncio.create_task(traffic_during(api, thread_of, seconds, per_side, "outage"))
        await asyncio.sleep(min(3.0, seconds / 2))  # the health check needs the outage begun
        run.health_during = await health(ops_port)
        run.sent += await during
        await proxy.restore()
        restored = time.monotonic()
        after = await traffic_during(api, thread_of, 2, 2, "after")
        run.sent += after
        await all_arrived(api, run.sent, timeout=max(90.0, seconds))
        run.recovery_seconds = time.monotonic() - restored
        await asyncio.sleep(2)  # room for a duplicate, if there were one
        run.lost = [word for word in run.sent if shown(api, word) == 0]
        run.duplicated = [word for word in run.sent if shown(api, word) > 1]
        run.repeated = repeated_sends(api, mark)
        run.health_after = await health(ops_port)
        run.outbox = await drained(postgres_url, timeout=30)
    finally:
        run.output = await bot.stop()
        run.returncode = bot.process.returncode
        if sys.exc_info()[0] is not None:
            print(run.output)  # what the bot said, beside the failure
        await proxy.stop()
    return run


class RedisServer:
    """A redis-server of the test's own, without persistence: killed, it forgets everything,
    as a Redis restarted without a snapshot does."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.folder),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        from redis.asyncio import Redis

        client = Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        try:
            while True:
                try:
                    await client.ping()
                    return
                except Exception:  # noqa: BLE001 - not listening yet
                    assert time.monotonic() < deadline, "redis-server did not start"
                    await asyncio.sleep(0.1)
        finally:
            await client.aclose()

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def run_with_a_redis_outage(
    api: FakeBotApi, folder: Path, *, seconds: float, per_side: int
) -> OutageRun:
    """A polling bot on SQLite with its dialog state in a Redis of its own; Redis is killed for
    `seconds` while `per_side` messages go each way, then started again (empty)."""
    database_url = f"sqlite+aiosqlite:///{folder / 'data' / 'homeward.db'}"
    await office_with_returnees(database_url)
    redis = RedisServer(folder)
    await redis.start()
    ops_port = free_port()
    env = bot_env(api, database_url, METRICS_PORT=str(ops_port), SWEEP_SECONDS="5")
    env["REDIS_URL"] = redis.url
    run = OutageRun()
    bot = Output(await start_bot("run", env, folder))
    try:
        await api.wait_for(lambda c: c.method == "getUpdates", timeout=60)
        users = [TelegramUser(api, user_id) for user_id in RETURNEES]
        before = [f"before from returnee {n:04}" for n in range(len(users))]
        for user, word in zip(users, before, strict=True):
            await api.push_update("message", user.message(word))
        await all_arrived(api, before, timeout=60)
        run.sent += before
        thread_of = await topics(database_url)
        await drained(database_url, timeout=60)

        mark = len(api.calls)
        await redis.kill()
        during = asyncio.create_task(traffic_during(api, thread_of, seconds, per_side, "outage"))
        await bot.wait_for("Redis does not answer", timeout=30)
        run.health_during = await health(ops_port)
        run.sent += await during
        await redis.start()
        restarted = time.monotonic()
        run.sent += await traffic_during(api, thread_of, 2, 2, "after")
        await all_arrived(api, run.sent, timeout=max(90.0, seconds))
        run.recovery_seconds = time.monotonic() - restarted
        await asyncio.sleep(2)  # room for a duplicate, if there were one
        run.lost = [word for word in run.sent if shown(api, word) == 0]
        run.duplicated = [word for word in run.sent if shown(api, word) > 1]
        run.repeated = repeated_sends(api, mark)
        run.health_after = await health(ops_port)
        run.outbox = await drained(database_url, timeout=30)
    finally:
        run.output = await bot.stop()
        run.returncode = bot.process.returncode
        if sys.exc_info()[0] is not None:
            print(run.output)  # what the bot said, beside the failure
        await redis.kill()
    return run


@contextlib.asynccontextmanager
async def telegram() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi()
    await api.start()
    try:
        yield api
    finally:
        await api.stop()


def assert_survived(run: OutageRun, api: FakeBotApi) -> None:
    assert run.returncode == 0, run.output
    assert run.lost == [], run.lost
    assert run.duplicated == [], run.duplicated
    assert run.repeated == [], run.repeated
    assert set(run.outbox) == {"sent"}, run.outbox
    assert run.health_after == {**run.health_after, "http": 200, "status": "ok"}
    assert "will be tried again" in run.output
    assert "Traceback" not in run.output
    assert "from returnee" not in run.output
    assert "from staff" not in run.output
    assert not api.violations


async def test_postgresql_gone_for_a_while_loses_and_repeats_nothing(postgres_url, tmp_path):
    async with telegram() as api:
        run = await run_with_a_database_outage(api, postgres_url, tmp_path, seconds=15, per_side=6)
    assert_survived(run, api)
    assert run.health_during["http"] == 503
    assert run.health_during["status"] == "unavailable"


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server here")
async def test_redis_gone_for_a_while_degrades_and_loses_nothing(tmp_path):
    async with telegram() as api:
        run = await run_with_a_redis_outage(api, tmp_path, seconds=15, per_side=6)
    assert_survived(run, api)
    assert run.health_during["http"] == 503
    assert run.health_during["status"] == "degraded"
    assert run.health_during["database"] == "ok"
    # Once per outage, not once per update or per retry.
    assert run.output.count("Redis does not answer") == 1, run.output
    assert run.output.count("Redis answers again") == 1, run.output


async def test_a_send_whose_record_meets_a_locked_database_is_not_sent_again(
    fake_api, tmp_path, stalled_world
):
    """Telegram took a copy, then the outbox could not record it (SQLite locked beyond its busy
    timeout): it is recorded once the lock is gone, not sent a second time."""
    url, database = stalled_world
    env = bot_env(fake_api, url, DATABASE_BUSY_TIMEOUT_SECONDS="1")
    maria = TelegramUser(fake_api, 501)
    bot = Output(await start_bot("run", env, tmp_path))
    try:
        await fake_api.push_update("message", maria.message("first of all"))
        await all_arrived(fake_api, ["first of all"], timeout=30)
        await drained(url, timeout=30)
        fake_api.pause("copyMessage")
        await fake_api.push_update("message", maria.message("copied under a lock"))
        deadline = time.monotonic() + 30
        while fake_api.held == 0:
            assert time.monotonic() < deadline, "the copy never left"
            await asyncio.sleep(0.05)
        with write_lock(database):
            fake_api.resume()  # Telegram takes the copy; recording it waits for the lock
            await bot.wait_for(": OperationalError", timeout=30)
            await asyncio.sleep(2)  # several tries meet the lock
        assert await drained(url, timeout=30) == {"sent": 3}
        await asyncio.sleep(2)  # room for a second copy, if there were one
    finally:
        output = await bot.stop()
    assert bot.process.returncode == 0, output
    assert "its record waits for the database" in output
    assert shown(fake_api, "copied under a lock") == 1
    assert "copied under a lock" not in output


def test_redis_away_is_waited_for_and_its_other_errors_are_not():
    from redis import exceptions

    from bot.failures import is_transient

    # redis-py's own classes, which the builtin ConnectionError and TimeoutError do not cover.
    assert is_transient(exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6390."))
    assert is_transient(exceptions.BusyLoadingError("Redis is loading the dataset in memory"))
    assert is_transient(exceptions.TimeoutError("Timeout reading from socket"))
    assert not is_transient(exceptions.ResponseError("WRONGTYPE Operation against a key"))
