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


async def test_upgrading_keeps_existing_offices_and_cases(database_url):
    from alembic import command
    from sqlalchemy import text

    from storage.migrate import alembic_config

    engine = create_engine(database_url)

    def to_first(connection):
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")

    async with engine.begin() as connection:
        await connection.run_sync(to_first)
        await connection.execute(
            text(
                "INSERT INTO offices (code, name, country, timezone, languages) "
                "VALUES ('RO', 'IOM Bucharest', 'RO', 'Europe/Bucharest', '[\"ro\"]')"
            )
        )
        await connection.execute(
            text(
                "INSERT INTO cases (code, office_id, language, status) "
                "VALUES ('RO-0007', 1, 'ro', 'returned')"
            )
        )
    await upgrade_to_head(engine)
    async with engine.connect() as connection:
        office = (
            await connection.execute(
                text("SELECT working_hours, holidays, sign_with_staff_name FROM offices")
            )
        ).one()
        case = (
            await connection.execute(text("SELECT unreachable, topic_closed, topic_id FROM cases"))
        ).one()
    await engine.dispose()
    assert office[2] in (False, 0)
    assert case == (False, False, None) or case == (0, 0, None)
