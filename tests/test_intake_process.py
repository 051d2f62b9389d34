"""The bot as a real process when things go wrong (issue 13, items 1-3, 7-9): a database stall
with SIGKILL or SIGTERM, a locked database, an unreadable update, Telegram unreachable or
redirecting in a loop at start, and the files it creates."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from storage.db import create_engine
from storage.migrate import upgrade_to_head
from tests.conftest import TOKEN
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.telegram_user import TelegramUser
from tests.test_intake import forwarded_from_hidden_account, group_texts, unreadable
from tests.test_process import bot_env, free_port, start_bot
from tests.world import consented_returnee_in

SECRET_PART = TOKEN.split(":")[1]


class Output:
    """A process's output, read as it comes, so a test can wait for a line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.lines.append(line.decode())

    async def wait_for(self, needle: str, count: int = 1, timeout: float = 30) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while sum(needle in line for line in self.lines) < count:
            assert asyncio.get_running_loop().time() < deadline, f"no {needle!r} in output"
            await asyncio.sleep(0.05)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> str:
        if self.process.returncode is None:
            self.process.send_signal(sig)
        await asyncio.wait_for(self.process.wait(), timeout)
        await asyncio.wait_for(self._task, 5)
        return "".join(self.lines)


@contextlib.contextmanager
def write_lock(database: Path):
    """Another program holds SQLite's write lock: the bot can read, but every write waits."""
    connection = sqlite3.connect(database, timeout=5, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


async def fetched(api: FakeBotApi, update_id: int) -> None:
    """Wait until the bot has taken this update from getUpdates."""
    await api.wait_for(
        lambda c: (
            c.method == "getUpdates" and any(u["update_id"] == update_id for u in (c.result or []))
        ),
        timeout=30,
    )


async def shown_once(api: FakeBotApi, words: list[str], timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not group_texts(api, *words):
        assert asyncio.get_running_loop().time() < deadline, "messages were lost"
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.5)  # room for a duplicate, if there were one
    joined = "\n".join(group_texts(api))
    for word in words:
        assert joined.count(word) == 1, f"{word!r} shown {joined.count(word)} times"


@pytest.fixture
async def stalled_world(fake_api, tmp_path) -> tuple[str, Path]:
    database = tmp_path / "data" / "homeward.db"
    url = f"sqlite+aiosqlite:///{database}"
    await consented_returnee_in(url)
    return url, database


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
async def test_a_stop_during_a_database_stall_loses_nothing(fake_api, tmp_path, stalled_world, sig):
    url, database = stalled_world
    env = bot_env(fake_api, url, DATABASE_BUSY_TIMEOUT_SECONDS="60")
    maria = TelegramUser(fake_api, 501)
    words = [f"stalled message {n}" for n in range(8)]
    bot = Output(await start_bot("run", env, tmp_path))
    try:
        await fake_api.wait_for(lambda c: c.method == "getUpdates", timeout=30)
        with write_lock(database):
            ids = [await fake_api.push_update("message", maria.message(w)) for w in words]
            await fetched(fake_api, ids[-1])
            await asyncio.sleep(1)  # the handlers now wait for the database
            bot.process.send_signal(sig)
            if sig == signal.SIGTERM:
                # The stop waits a while for them, then leaves them unconfirmed.
                await bot.wait_for("updates unfinished", timeout=20)
        output = await bot.stop(sig)
    finally:
        if bot.process.returncode is None:
            bot.process.kill()
    assert fake_api._confirmed_offset <= ids[0], "updates were confirmed before being handled"
    if sig == signal.SIGTERM:
        assert bot.process.returncode == 0, output

    again = Output(await start_bot("run", env, tmp_path))
    try:
        await shown_once(fake_api, words)
    finally:
        output += await again.stop()
    assert again.process.returncode == 0, output
    assert "stalled message" not in output


async def test_a_locked_database_delays_messages_until_it_recovers(
    fake_api, tmp_path, stalled_world
):
    url, database = stalled_world
    env = bot_env(fake_api, url, DATABASE_BUSY_TIMEOUT_SECONDS="1")
    maria = TelegramUser(fake_api, 501)
    words = [f"locked message {n}" for n in range(3)]
    bot = Output(await start_bot("run", env, tmp_path))
    try:
        await fake_api.wait_for(lambda c: c.method == "getUpdates", timeout=30)
        with write_lock(database):
            for word in words:
                await fake_api.push_update("message", maria.message(word))
            await bot.wait_for("will be tried again: OperationalError", timeout=20)
            await asyncio.sleep(2)
        await shown_once(fake_api, words)
    finally:
        output = await bot.stop()
    assert bot.process.returncode == 0, output
    assert "locked message" not in output


async def test_an_unreadable_update_in_polling_leaves_the_rest_handled_and_no_trace(
    fake_api, tmp_path, stalled_world
):
    url, _ = stalled_world
    maria = TelegramUser(fake_api, 501, first_name="Mariana", username="mariana_v88")
    bot = Output(await start_bot("run", bot_env(fake_api, url), tmp_path))
    try:
        await fake_api.wait_for(lambda c: c.method == "getUpdates", timeout=30)
        for message in (
            forwarded_from_hidden_account(maria, "Forwarded: the man from Constanta"),
            unreadable(maria, "Broken: my sister in Iasi"),
            maria.message("Later: are you there?"),
        ):
            await fake_api.push_update("message", message)
        await shown_once(fake_api, ["Constanta", "are you there"])
    finally:
        output = await bot.stop()
    assert bot.process.returncode == 0, output
    assert "could not be read and was skipped" in output
    for private in ("Constanta", "Iasi", "sister", "Mariana", "mariana_v88", "there?"):
        assert private not in output


async def test_an_unreadable_webhook_update_is_answered_and_leaves_no_trace(
    fake_api, tmp_path, stalled_world
):
    url, _ = stalled_world
    port = free_port()
    env = bot_env(
        fake_api,
        url,
        WEBHOOK_URL="https://bot.example.org/tg/hook",
        WEBHOOK_SECRET="s3cret-value",
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(port),
    )
    maria = TelegramUser(fake_api, 501)
    bot = Output(await start_bot("webhook", env, tmp_path))
    try:
        await fake_api.wait_for(lambda c: c.method == "setWebhook", timeout=30)
        headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-value"}
        later = maria.message("Later: are you there?")
        fake_api.user_messages[(501, later["message_id"])] = later
        async with aiohttp.ClientSession() as http:
            for update_id, message in ((1, unreadable(maria, "my sister in Iasi")), (2, later)):
                async with http.post(
                    f"http://127.0.0.1:{port}/tg/hook",
                    json={"update_id": update_id, "message": message},
                    headers=headers,
                ) as response:
                    assert response.status == 200
        await shown_once(fake_api, ["are you there"])
    finally:
        output = await bot.stop()
    assert bot.process.returncode == 0, output
    for private in ("Iasi", "sister", "there?", "s3cret-value"):
        assert private not in output


@contextlib.asynccontextmanager
async def redirect_loop() -> AsyncIterator[str]:
    """A misconfigured proxy: every request is sent back to itself."""

    async def again(request: web.Request) -> web.Response:
        raise web.HTTPFound(str(request.url))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", again)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("mode", ["run", "webhook"])
async def test_a_redirect_loop_at_the_api_base_never_shows_the_token(fake_api, tmp_path, mode):
    async with redirect_loop() as base:
        env = bot_env(
            fake_api,
            f"sqlite+aiosqlite:///{tmp_path / 'hw.db'}",
            WEBHOOK_URL="https://bot.example.org/tg/hook",
            WEBHOOK_SECRET="s3cret-value",
            WEBHOOK_HOST="127.0.0.1",
            WEBHOOK_PORT=str(free_port()),
        )
        env["TELEGRAM_API_BASE"] = base
        bot = Output(await start_bot(mode, env, tmp_path))
        try:
            await bot.wait_for("cannot be reached (TelegramNetworkError)", count=2)
        finally:
            output = await bot.stop()
    assert bot.process.returncode == 0, output
    assert "trying again in" in output
    assert "Traceback" not in output
    for secret in (TOKEN, SECRET_PART, "s3cret-value"):
        assert secret not in output


async def test_telegram_unreachable_at_start_is_waited_for(tmp_path):
    port = free_port()
    api = FakeBotApi()
    database = tmp_path / "data" / "homeward.db"
    env = bot_env(api, f"sqlite+aiosqlite:///{database}")
    env["TELEGRAM_API_BASE"] = f"http://127.0.0.1:{port}"
    bot = Output(await start_bot("run", env, tmp_path))
    try:
        await bot.wait_for("cannot be reached", count=1)
        assert bot.process.returncode is None, "the bot gave up"
        await api.start(port)
        await api.wait_for(lambda c: c.method == "getUpdates", timeout=30)
        stranger = TelegramUser(api, 900)
        await api.push_update("message", stranger.message("/start"))
        await api.wait_for(lambda c: c.method == "sendMessage" and c.get("chat_id") == 900)
    finally:
        output = await bot.stop()
        await api.stop()
    assert bot.process.returncode == 0, output
    assert "Traceback" not in output
    assert not api.violations
    # Files only the bot's user may read (item 8).
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700
    for path in database.parent.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


async def test_an_existing_database_readable_by_others_is_made_private(tmp_path):
    database = tmp_path / "homeward.db"
    database.touch(mode=0o644)
    database.chmod(0o644)
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    await upgrade_to_head(engine)
    await engine.dispose()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
