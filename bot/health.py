"""Readiness: do the database and (if configured) Redis answer, and is the schema current?

Used by `python -m bot check` and by `/healthz`. Every check opens a connection of its own (not
one from the bot's pool, whose connections may hold pages read before a disk went bad) and gives
up after `TIMEOUT_SECONDS`. A problem is named by the exception's type only.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from bot.config import Settings
from storage.db import create_engine
from storage.migrate import alembic_config

TIMEOUT_SECONDS = 5.0


def _schema_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@functools.cache
def _head() -> str | None:
    """The newest migration shipped with the code: it does not change while the bot runs."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@dataclass(frozen=True)
class Health:
    """None where all is well, else what is wrong (type names and revisions only)."""

    database: str | None
    schema: str | None
    redis: str | None
    redis_configured: bool

    @property
    def ready(self) -> bool:
        """Everything answers: the bot can take updates. Without Redis (when configured) it
        cannot: every update needs its dialog state."""
        return not self.problems()

    @property
    def status(self) -> str:
        """unavailable: no database, or the schema is behind; degraded: the database is well
        (what waits in the outbox still goes) but Redis does not answer; else ok."""
        if self.database is not None or self.schema is not None:
            return "unavailable"
        return "degraded" if self.redis is not None else "ok"

    def problems(self) -> list[str]:
        return [p for p in (self.database, self.schema, self.redis) if p is not None]

    def summary(self) -> dict[str, str]:
        """The short JSON of `/healthz`."""
        schema = "unknown" if self.database is not None else self.schema or "current"
        redis = self.redis or "ok" if self.redis_configured else "not configured"
        return {
            "status": self.status,
            "database": self.database or "ok",
            "schema": schema,
            "redis": redis,
        }


async def _check_database(settings: Settings) -> tuple[str | None, str | None]:
    engine = create_engine(settings.database_url)
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS), engine.connect() as connection:
            current = await connection.run_sync(_schema_revision)
        head = _head()
        if current != head:
            return None, f"database schema is at {current}, expected {head}"
        return None, None
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        return f"database does not answer: {type(error).__name__}", None
    finally:
        await engine.dispose()


async def _check_redis(url: str) -> str | None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=3)
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            await client.ping()
    except Exception as error:  # noqa: BLE001
        return f"Redis does not answer: {type(error).__name__}"
    finally:
        await client.aclose()
    return None


async def check_health(settings: Settings) -> Health:
    database, schema = await _check_database(settings)
    redis = await _check_redis(settings.redis_url) if settings.redis_url else None
    return Health(
        database=database, schema=schema, redis=redis, redis_configured=bool(settings.redis_url)
    )


async def check_dependencies(settings: Settings) -> list[str]:
    return (await check_health(settings)).problems()
