"""Readiness: do the database and (if configured) Redis answer, and is the schema current?"""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from bot.config import Settings
from storage.db import create_engine
from storage.migrate import alembic_config


def _schema_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def check_dependencies(settings: Settings) -> list[str]:
    problems = []
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            current = await connection.run_sync(_schema_revision)
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        if current != head:
            problems.append(f"database schema is at {current}, expected {head}")
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        problems.append(f"database does not answer: {type(error).__name__}")
    finally:
        await engine.dispose()
    if settings.redis_url:
        from redis.asyncio import Redis

        client = Redis.from_url(settings.redis_url, socket_connect_timeout=3)
        try:
            await client.ping()
        except Exception as error:  # noqa: BLE001
            problems.append(f"Redis does not answer: {type(error).__name__}")
        finally:
            await client.aclose()
    return problems
