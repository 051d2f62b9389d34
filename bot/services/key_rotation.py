"""Key rotation (`python -m bot admin rotate-key`): every encrypted column re-sealed with the
newest key of ENCRYPTION_KEYS, so that the older keys can then be dropped.

Every column whose type is encrypted (storage/encrypted.py) is walked in primary-key order, a
batch per transaction, so the bot goes on working meanwhile. A value already sealed with the
newest key is left alone (a second run changes nothing); a plain row written before keys were
set is sealed too. Each write is conditional on the stored value being the one read: a row the
bot changed in between was written by the bot itself, with its own newest key, and is counted as
`changed_meanwhile` (run again if the bot's ENCRYPTION_KEYS did not start with the new key yet).
A value that no key opens stops the run with an error naming the column and the row's id only.
Audited once per run (ids and counts only, never a value).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Table, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.services import audit
from bot.services.errors import RuleViolation
from storage.encrypted import (
    EncryptedJSON,
    Keyring,
    UnreadableValue,
    key_of,
    keyring_of,
    open_text,
)
from storage.key_check import encrypted_columns, stored_text

BATCH = 500


@dataclass
class Rotated:
    """What a run did, per column ("table.column"): rows re-sealed from an older key, plain
    rows sealed, and rows the bot wrote again while the run looked at them."""

    key_id: str
    resealed: dict[str, int] = field(default_factory=dict)
    sealed_plain: dict[str, int] = field(default_factory=dict)
    changed_meanwhile: int = 0

    @property
    def changed(self) -> int:
        return sum(self.resealed.values()) + sum(self.sealed_plain.values())


def _plaintext(column: Column[Any], stored: str, keyring: Keyring, where: str) -> tuple[Any, bool]:
    """The value a stored text holds, and whether it is sealed with an older key (else it is
    plain). None when it holds nothing or is sealed with the newest key already."""
    if isinstance(column.type, EncryptedJSON):
        value = json.loads(stored)
        if not value:
            return None, False
        if not isinstance(value, str):
            return value, False  # a plain object
        if key_of(value) == keyring.current_id:
            return None, False
        return json.loads(open_text(keyring, value, where)), key_of(value) is not None
    if stored == "" or key_of(stored) == keyring.current_id:
        return None, False
    return open_text(keyring, stored, where), key_of(stored) is not None


async def _rotate_column(
    session: AsyncSession, table: Table, column: Column[Any], keyring: Keyring, done: Rotated
) -> None:
    (pk,) = table.primary_key.columns
    name = f"{table.name}.{column.name}"
    raw = stored_text(column)
    last: Any = None
    while True:
        query = select(pk, raw).where(column.is_not(None)).order_by(pk).limit(BATCH)
        if last is not None:
            query = query.where(pk > last)
        rows = list((await session.execute(query)).all())
        for row_id, stored in rows:
            try:
                value, older = _plaintext(column, stored, keyring, name)
            except UnreadableValue as error:
                raise RuleViolation(f"{error} (row id {row_id}); the run stopped there") from None
            if value is None:
                continue
            result = await session.execute(
                update(table).where(pk == row_id, raw == stored).values({column.name: value})
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                done.changed_meanwhile += 1
                continue
            counts = done.resealed if older else done.sealed_plain
            counts[name] = counts.get(name, 0) + 1
        await session.commit()  # one batch per transaction: the bot is not held up
        if len(rows) < BATCH:
            return
        last = rows[-1][0]


async def rotate(session: AsyncSession) -> Rotated:
    """Re-seal everything with the newest key of the session's engine; commits as it goes."""
    bind = session.bind
    keyring = keyring_of(bind) if isinstance(bind, AsyncEngine) else None
    if keyring is None:
        raise RuleViolation("ENCRYPTION_KEYS is not set: there is no key to rotate to")
    done = Rotated(key_id=keyring.current_id)
    for table, column in encrypted_columns():
        await _rotate_column(session, table, column, keyring, done)
    audit.record(session, "encryption.rotated")
    await session.commit()
    return done
