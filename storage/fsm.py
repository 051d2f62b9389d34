"""aiogram FSM storage in the database, so dialog state survives a restart without Redis."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseStorage,
    DefaultKeyBuilder,
    KeyBuilder,
    StateType,
    StorageKey,
)
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import FsmRecord


class SqlStorage(BaseStorage):
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], key_builder: KeyBuilder | None = None
    ) -> None:
        self._sessionmaker = sessionmaker
        # aiogram-dialog keeps its stacks under their own "destiny"; keys must tell them apart.
        self._key_builder = key_builder or DefaultKeyBuilder(with_bot_id=True, with_destiny=True)

    def _key(self, key: StorageKey) -> str:
        return self._key_builder.build(key)

    async def _load(self, session: AsyncSession, key: str) -> FsmRecord | None:
        return await session.get(FsmRecord, key)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with self._sessionmaker() as session, session.begin():
            record = await self._load(session, self._key(key))
            if record is None:
                if value is None:
                    return
                session.add(FsmRecord(key=self._key(key), state=value, data={}))
            elif value is None and not record.data:
                await session.delete(record)
            else:
                record.state = value

    async def get_state(self, key: StorageKey) -> str | None:
        async with self._sessionmaker() as session:
            return await session.scalar(
                select(FsmRecord.state).where(FsmRecord.key == self._key(key))
            )

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        async with self._sessionmaker() as session, session.begin():
            record = await self._load(session, self._key(key))
            if record is None:
                if data:
                    session.add(FsmRecord(key=self._key(key), state=None, data=dict(data)))
            elif not data and record.state is None:
                await session.delete(record)
            else:
                record.data = dict(data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self._sessionmaker() as session:
            data = await session.scalar(
                select(FsmRecord.data).where(FsmRecord.key == self._key(key))
            )
            return dict(data) if data else {}

    async def clear_all(self) -> None:
        async with self._sessionmaker() as session, session.begin():
            await session.execute(delete(FsmRecord))

    async def close(self) -> None:
        """The engine belongs to the application, which disposes of it."""
