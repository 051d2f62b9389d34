"""Which encrypted columns there are, and which keys their sealed values need: checked when the
bot starts, so that a missing or wrong key stops it with one clear line instead of failing at
every read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, ColumnElement, Table, Text, cast, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.encrypted import MARK, EncryptedJSON, EncryptedText, EncryptionError, Keyring
from storage.models import Base

KEY_ID_LENGTH = 8


def encrypted_columns() -> list[tuple[Table, Column[Any]]]:
    """Every column that holds sealed values, found from the model itself."""
    return [
        (table, column)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedText | EncryptedJSON)
    ]


def stored_text(column: Column[Any]) -> ColumnElement[str]:
    """The stored text itself: JSON compared as text (PostgreSQL's json has no equality)."""
    if isinstance(column.type, EncryptedJSON):
        return cast(column, Text)
    return type_coerce(column, Text())


async def keys_in_use(engine: AsyncEngine) -> dict[str, set[str]]:
    """For each encrypted column ("table.column"), the ids of the keys its values are sealed
    with (none for plain rows). A scan of each column: run at start, not per request."""
    found: dict[str, set[str]] = {}
    async with engine.connect() as connection:
        for table, column in encrypted_columns():
            raw = stored_text(column)
            # A sealed JSON value is a JSON string: its text starts with a quote.
            mark = f'"{MARK}' if isinstance(column.type, EncryptedJSON) else MARK
            ids = await connection.scalars(
                select(func.substr(raw, len(mark) + 1, KEY_ID_LENGTH))
                .where(raw.startswith(mark, autoescape=True))
                .distinct()
            )
            found[f"{table.name}.{column.name}"] = set(ids)
    return found


async def check_keys(engine: AsyncEngine, keyring: Keyring | None) -> None:
    """Raise EncryptionError, naming the columns and key ids only, if any sealed value needs a
    key that ENCRYPTION_KEYS does not hold (or if it is unset)."""
    held = set(keyring.ids) if keyring is not None else set()
    missing = {name: ids - held for name, ids in (await keys_in_use(engine)).items() if ids - held}
    if not missing:
        return
    keys = sorted(set().union(*missing.values()))
    where = ", ".join(sorted(missing))
    if keyring is None:
        raise EncryptionError(
            f"ENCRYPTION_KEYS is not set, but {where} hold values encrypted with key "
            f"{', '.join(keys)}"
        )
    raise EncryptionError(
        f"ENCRYPTION_KEYS lacks key {', '.join(keys)}, which {where} need "
        f"(it holds {', '.join(keyring.ids)})"
    )
