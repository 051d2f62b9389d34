"""aiogram FSM storage in the database, so dialog state survives a restart without Redis.

aiogram-dialog reads its state several times for every update, also for plain messages that no
dialog handles. Reads are therefore served from a write-through cache in the process: this
storage assumes one bot process per database (several processes share state through Redis).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseStorage,
    DefaultKeyBuilder,
    KeyBuilder,
    StateType,
    StorageKey,
)
from aiogram.fsm.storage.redis import RedisStorage
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.fsm_keys import erase_redis_chat, is_chat_key, like_pattern
from storage.models import FsmRecord

# Keys (chats and dialog stacks) whose state is kept in memory; the least recently used go first.
CACHED_KEYS = 50_000


class SqlStorage(BaseStorage):
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], key_builder: KeyBuilder | None = None
    ) -> None:
        self._sessionmaker = sessionmaker
        # aiogram-dialog keeps its stacks under their own "destiny"; keys must tell them apart.
        self._key_builder = key_builder or DefaultKeyBuilder(with_bot_id=True, with_destiny=True)
        self._cache: OrderedDict[str, tuple[str | None, dict[str, Any]]] = OrderedDict()

    def _remember(self, key: str, state: str | None, data: Mapping[str, Any]) -> None:
        # Deep copies both ways: callers may change nested values they were given.
        self._cache[key] = (state, copy.deepcopy(dict(data)))
        self._cache.move_to_end(key)
        while len(self._cache) > CACHED_KEYS:
            self._cache.popitem(last=False)

    async def _read(self, key: str) -> tuple[str | None, dict[str, Any]]:
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        async with self._sessionmaker() as session:
            record = await self._load(session, key)
        state, data = (record.state, dict(record.data or {})) if record else (None, {})
        self._remember(key, state, data)
        return state, data

    def _key(self, key: StorageKey) -> str:
        return self._key_builder.build(key)

    async def _load(self, session: AsyncSession, key: str) -> FsmRecord | None:
        return await session.get(FsmRecord, key)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        name = self._key(key)
        cached = self._cache.get(name)
        if cached is not None and cached[0] == value:
            return  # aiogram-dialog saves after every update, mostly unchanged: no write then
        self._cache.pop(name, None)  # should the write fail, the next read goes to the database
        async with self._sessionmaker() as session, session.begin():
            record = await self._load(session, name)
            if record is None:
                if value is not None:
                    session.add(FsmRecord(key=name, state=value, data={}))
                data: dict[str, Any] = {}
            elif value is None and not record.data:
                await session.delete(record)
                data = {}
            else:
                record.state = value
                data = dict(record.data or {})
        self._remember(name, value, data)

    async def get_state(self, key: StorageKey) -> str | None:
        state, _ = await self._read(self._key(key))
        return state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        name = self._key(key)
        cached = self._cache.get(name)
        if cached is not None and cached[1] == data:
            return  # unchanged, as above
        self._cache.pop(name, None)
        async with self._sessionmaker() as session, session.begin():
            record = await self._load(session, name)
            if record is None:
                if data:
                    session.add(FsmRecord(key=name, state=None, data=dict(data)))
                state = None
            elif not data and record.state is None:
                await session.delete(record)
                state = None
            else:
                record.data = dict(data)
                state = record.state
        self._remember(name, state, data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        _, data = await self._read(self._key(key))
        return copy.deepcopy(data)

    def forget(self, keys: Iterable[str]) -> None:
        """Drop keys from the cache whose records may have been deleted beside this storage
        (the retention purge), so their next read goes to the table."""
        for key in keys:
            self._cache.pop(key, None)

    async def clear_all(self) -> None:
        self._cache.clear()
        async with self._sessionmaker() as session, session.begin():
            await session.execute(delete(FsmRecord))

    async def forget_chat(self, chat_id: int) -> None:
        """Drop every record of a private chat, in the cache and in the database (an erasure:
        a record still cached would otherwise be written back by the next update)."""
        for name in [name for name in self._cache if is_chat_key(name, chat_id)]:
            del self._cache[name]
        async with self._sessionmaker() as session, session.begin():
            names = [
                name
                for name in await session.scalars(
                    select(FsmRecord.key).where(FsmRecord.key.like(like_pattern(chat_id)))
                )
                if is_chat_key(name, chat_id)
            ]
            if names:
                await session.execute(delete(FsmRecord).where(FsmRecord.key.in_(names)))

    async def close(self) -> None:
        """The engine belongs to the application, which disposes of it."""


async def forget_chat(storage: BaseStorage, chat_id: int) -> None:
    """Every FSM and dialog record of a private chat, gone from the bot's storage."""
    if isinstance(storage, SqlStorage):
        await storage.forget_chat(chat_id)
    elif isinstance(storage, RedisStorage):
        await erase_redis_chat(storage.redis, chat_id)
