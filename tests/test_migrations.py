"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db import create_engine
from storage.migrate import upgrade_to_head
from storage.models import Base


async def test_migrations_match_the_models(database_url):
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    await upgrade_to_head(engine)  # applying again is a no-op

    def differences(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with engine.connect() as connection:
        diff = await connection.run_sync(differences)
    await engine.dispose()
    assert diff == []
