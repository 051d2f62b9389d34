"""Engine and session factory for the configured database."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.encrypted import Keyring, use_keyring


def private_sqlite_file(database: str) -> None:
    """Its folder 0700 when created here, the file itself 0600: only the bot's user reads them.
    SQLite gives its -wal and -shm files the database file's mode."""
    path = Path(database).expanduser()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def create_engine(
    database_url: str,
    concurrency: int = 8,
    *,
    busy_timeout_seconds: float = 30.0,
    keyring: Keyring | None = None,
) -> AsyncEngine:
    """An engine whose pool holds enough connections for `concurrency` updates at once.

    Statement parameters are hidden from its errors: they hold what people wrote. With a
    `keyring`, what people wrote is sealed on its way in (storage/encrypted.py).
    """
    engine = _create_engine(database_url, concurrency, busy_timeout_seconds)
    use_keyring(engine, keyring)
    return engine


def _create_engine(database_url: str, concurrency: int, busy_timeout_seconds: float) -> AsyncEngine:
    url = make_url(database_url)
    pool = {"pool_size": 2 * concurrency, "max_overflow": concurrency}
    if url.get_backend_name() == "sqlite":
        database = url.database
        in_memory = not database or database == ":memory:"
        if database and not in_memory:
            private_sqlite_file(database)
        engine = create_async_engine(
            url,
            connect_args={"timeout": busy_timeout_seconds},
            hide_parameters=True,
            **({} if in_memory else pool),
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            # Safe with WAL: an application crash loses nothing; only a power cut may lose the
            # last commits. It saves an fsync per commit.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, hide_parameters=True, **pool)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
