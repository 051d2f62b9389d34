"""Fixtures: the fake Bot API, a database (SQLite, and PostgreSQL when it answers), the real bot."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bot.app import App, create_app
from bot.config import Settings
from bot.runner import serve_polling
from storage.db import create_engine, create_sessionmaker
from storage.migrate import upgrade_to_head
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.telegram_user import TelegramUser

TOKEN = "123456789:TEST-token-for-the-fake-bot-api-server"
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def _answers(url: str) -> str | None:
    """None if the server answers, else why not."""
    try:
        if url.startswith("redis"):
            from redis.asyncio import Redis

            client = Redis.from_url(url, socket_connect_timeout=1)
            try:
                await client.ping()
            finally:
                await client.aclose()
        else:
            engine = create_async_engine(url, connect_args={"timeout": 2})
            try:
                async with engine.connect() as connection:
                    await connection.execute(text("select 1"))
            finally:
                await engine.dispose()
    except Exception as error:  # noqa: BLE001 - any failure means "not available"
        return f"{type(error).__name__}: {error}"
    return None


@pytest.fixture(scope="session")
def postgres_unavailable() -> str | None:
    return asyncio.run(_answers(POSTGRES_URL))


@pytest.fixture(scope="session")
def redis_unavailable() -> str | None:
    return asyncio.run(_answers(REDIS_URL))


@pytest.fixture
async def postgres_url(postgres_unavailable: str | None) -> AsyncIterator[str]:
    """A PostgreSQL database of its own, dropped afterwards; skipped where none answers."""
    if postgres_unavailable:
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} does not answer ({postgres_unavailable})")
    name = f"homeward_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield str(make_url(POSTGRES_URL).set(database=name))
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'homeward.db'}"
    postgres: str = request.getfixturevalue("postgres_url")
    return postgres


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    async with create_sessionmaker(engine)() as db_session:
        yield db_session
    await engine.dispose()


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi()
    await api.start()
    yield api
    await api.stop()
    assert not api.violations, "calls that break the Bot API spec:\n" + "\n".join(api.violations)
    assert not api.refused_texts, f"Telegram refused texts or captions: {api.refused_texts}"
    assert not api.calls_to("forwardMessage"), "the bot must copy, never forward"
    assert not api.names_in_groups(), "a Telegram name reached a staff group"


def make_settings(api: FakeBotApi, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "bot_token": TOKEN,
        "bot_username": "homeward_test_bot",
        "telegram_api_base": api.base_url,
        "database_url": database_url,
        "default_locale": "en",
        # Scheduled work runs when a test sweeps, at the moment the test chooses.
        "sweep_seconds": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class RunningBot:
    """The real Dispatcher and Bot, long-polling the fake Bot API."""

    def __init__(self, app: App, api: FakeBotApi, concurrency: int = 1) -> None:
        self.app = app
        self.api = api
        self.concurrency = concurrency
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.app.prepare()
        polling_started = asyncio.Event()
        self.app.dispatcher.startup.register(polling_started.set)
        self._stop = asyncio.Event()
        # The bot's own intake, one update at a time so that tests read like a conversation.
        self._task = asyncio.create_task(
            serve_polling(self.app, self._stop, polling_timeout=1, concurrency=self.concurrency)
        )
        await asyncio.wait_for(polling_started.wait(), 10)

    async def stop(self) -> None:
        if self._task is not None:
            self._stop.set()
            await self.api.wake_pollers()
            await asyncio.wait_for(self._task, 20)
        # Every session was closed: a connection still out was leaked by some code path.
        leaked = self.app.engine.pool.checkedout()
        await self.app.close()
        assert leaked == 0, f"{leaked} database connections were never returned"

    async def settled(self, timeout: float = 10) -> None:
        """Wait until the sender has nothing it could do now (twice in a row, so that an update
        being handled has had its turn), instead of sleeping before "nothing more happened"."""
        deadline = asyncio.get_running_loop().time() + timeout
        quiet = 0
        while quiet < 2:
            quiet = 0 if await self.app.sender.has_work_now() else quiet + 1
            assert asyncio.get_running_loop().time() < deadline, "the sender never settled"
            await asyncio.sleep(0.05)

    def user(self, user_id: int, **kwargs: object) -> TelegramUser:
        return TelegramUser(self.api, user_id, **kwargs)  # type: ignore[arg-type]

    def session(self) -> AsyncSession:
        return self.app.sessionmaker()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'homeward.db'}"


@pytest.fixture
async def running_bot(fake_api: FakeBotApi, sqlite_url: str) -> AsyncIterator[RunningBot]:
    bot = RunningBot(create_app(make_settings(fake_api, sqlite_url)), fake_api)
    await bot.start()
    yield bot
    await bot.stop()
