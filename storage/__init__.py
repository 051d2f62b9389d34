"""Persistence: models, repositories, migrations and the SQL-backed FSM storage."""
