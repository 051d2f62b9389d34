"""The database FSM storage behaves like aiogram's Redis storage, destinies kept apart."""

from __future__ import annotations

import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey

from storage.db import create_engine, create_sessionmaker
from storage.fsm import SqlStorage
from storage.migrate import upgrade_to_head
from tests.conftest import REDIS_URL


@pytest.fixture(params=["database", "redis"])
async def storage(request, database_url, redis_unavailable):
    if request.param == "database":
        engine = create_engine(database_url)
        await upgrade_to_head(engine)
        yield SqlStorage(create_sessionmaker(engine))
        await engine.dispose()
        return
    if redis_unavailable:
        pytest.skip(f"Redis at {REDIS_URL} does not answer ({redis_unavailable})")
    from aiogram.fsm.storage.redis import RedisStorage

    redis_storage = RedisStorage.from_url(
        REDIS_URL, key_builder=DefaultKeyBuilder(with_bot_id=True, with_destiny=True)
    )
    await redis_storage.redis.flushdb()
    yield redis_storage
    await redis_storage.close()


def key(destiny: str = "default", user: int = 501) -> StorageKey:
    return StorageKey(bot_id=1, chat_id=user, user_id=user, destiny=destiny)


async def test_state_and_data_round_trip(storage):
    assert await storage.get_state(key()) is None
    assert await storage.get_data(key()) == {}
    await storage.set_state(key(), "Onboarding:consent")
    await storage.set_data(key(), {"stack": ["a", "b"], "n": 2})
    assert await storage.get_state(key()) == "Onboarding:consent"
    assert await storage.get_data(key()) == {"stack": ["a", "b"], "n": 2}
    assert await storage.update_data(key(), {"n": 3}) == {"stack": ["a", "b"], "n": 3}


async def test_destinies_and_users_are_kept_apart(storage):
    await storage.set_data(key("aiogd_stack"), {"dialog": 1})
    await storage.set_data(key(), {"plain": True})
    await storage.set_state(key(user=502), "Other:state")
    assert await storage.get_data(key("aiogd_stack")) == {"dialog": 1}
    assert await storage.get_data(key()) == {"plain": True}
    assert await storage.get_state(key()) is None
    assert await storage.get_state(key(user=502)) == "Other:state"


async def test_clearing_forgets_everything(storage):
    await storage.set_state(key(), "A:b")
    await storage.set_data(key(), {"x": 1})
    await storage.set_state(key(), None)
    await storage.set_data(key(), {})
    assert await storage.get_state(key()) is None
    assert await storage.get_data(key()) == {}


async def test_what_a_caller_changes_in_place_is_not_stored(storage):
    await storage.set_data(key(), {"stack": {"intents": ["a"]}})
    data = await storage.get_data(key())
    data["stack"]["intents"].append("b")  # changed, never saved
    assert await storage.get_data(key()) == {"stack": {"intents": ["a"]}}


async def test_a_new_storage_on_the_same_database_reads_what_was_written(database_url):
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    sessionmaker = create_sessionmaker(engine)
    first = SqlStorage(sessionmaker)
    await first.set_state(key(), "Knowledge:answer")
    await first.set_data(key(), {"entry": "payout-when"})
    await first.set_state(key(user=502), None)
    # A restart: the cache is gone, the database is not.
    second = SqlStorage(sessionmaker)
    assert await second.get_state(key()) == "Knowledge:answer"
    assert await second.get_data(key()) == {"entry": "payout-when"}
    assert await second.get_state(key(user=502)) is None
    await engine.dispose()
