"""Engine and session factory for the configured database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(database_url: str, concurrency: int = 8) -> AsyncEngine:
    """An engine whose pool holds enough connections for `concurrency` updates at once."""
    url = make_url(database_url)
    pool = {"pool_size": 2 * concurrency, "max_overflow": concurrency}
    if url.get_backend_name() == "sqlite":
        database = url.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        in_memory = not database or database == ":memory:"
        engine = create_async_engine(
            url, connect_args={"timeout": 30}, **({} if in_memory else pool)
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            # Safe with WAL: an application crash loses nothing; only a power cut may lose the
            # last commits. It saves an fsync per commit.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, **pool)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
