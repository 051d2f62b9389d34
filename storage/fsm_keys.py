"""Which FSM and dialog state belongs to one private chat, wherever it is kept: the database
(`fsm_records`, storage/fsm.py) or Redis (aiogram's RedisStorage, built in bot/app.py).

Both stores name their records with aiogram's `DefaultKeyBuilder(with_bot_id=True,
with_destiny=True)`: `fsm:<bot id>:<chat id>:<user id>:<destiny>`, and in Redis a last part
(`:state`, `:data`, `:lock`). aiogram-dialog's stacks and contexts are keyed by the chat twice
(`<chat id>:<chat id>`); in a forum topic a thread id comes between chat and user. An erasure
finds a returnee's records by these parts. This module imports no Telegram framework, so the
admin command line can use it.
"""

from __future__ import annotations

from redis.asyncio import Redis

from storage.encrypted import Keyring, key_of, open_text

PREFIX = "fsm"
SEPARATOR = ":"


def is_chat_key(key: str, chat_id: int) -> bool:
    """Whether a record's key belongs to this private chat (its chat or its user)."""
    parts = key.split(SEPARATOR)
    if len(parts) < 4 or parts[0] != PREFIX:
        return False
    # parts[1] is the bot's id; then the chat, then (thread or) user.
    return str(chat_id) in (parts[2], parts[3])


def like_pattern(chat_id: int) -> str:
    """A LIKE pattern that every key of the chat matches (and a few others, which
    `is_chat_key` then leaves out)."""
    return f"{PREFIX}{SEPARATOR}%{SEPARATOR}{chat_id}{SEPARATOR}%"


def redis_pattern(chat_id: int) -> str:
    """A Redis SCAN pattern that every key of the chat matches (checked with `is_chat_key`)."""
    return f"{PREFIX}{SEPARATOR}*{SEPARATOR}{chat_id}{SEPARATOR}*"


async def erase_redis_chat(redis: Redis, chat_id: int) -> int:
    """Delete every key of the chat's state from Redis; how many there were."""
    found: list[bytes | str] = []
    async for key in redis.scan_iter(match=redis_pattern(chat_id), count=500):
        name = key.decode() if isinstance(key, bytes) else str(key)
        if is_chat_key(name, chat_id):
            found.append(key)
    for start in range(0, len(found), 500):
        await redis.delete(*found[start : start + 500])
    return len(found)


async def erase_redis_chat_at(url: str, chat_id: int) -> int:
    """The same, for a Redis given by its URL (the admin command line)."""
    client = Redis.from_url(url)
    try:
        return await erase_redis_chat(client, chat_id)
    finally:
        await client.aclose()


# Set a key to a new value, keeping its expiry, only if it still holds the value read.
_SWAP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
"""


async def reseal_redis(url: str, bot_id: int, keyring: Keyring) -> tuple[int, int, int]:
    """The bot's dialog state in Redis sealed with the newest key (key rotation): how many
    values were re-sealed from an older key, sealed from plain, and changed meanwhile."""
    resealed = plain = changed = 0
    client = Redis.from_url(url, decode_responses=True)
    try:
        swap = client.register_script(_SWAP)
        async for name in client.scan_iter(match=f"{PREFIX}{SEPARATOR}{bot_id}{SEPARATOR}*"):
            if not str(name).endswith(f"{SEPARATOR}data"):
                continue  # states are names of dialog steps, locks hold nothing
            value = await client.get(name)
            if value is None:
                continue
            stored = value.decode() if isinstance(value, bytes) else str(value)
            if key_of(stored) == keyring.current_id:
                continue
            opened = open_text(keyring, stored, "redis dialog state")
            if not await swap(keys=[name], args=[stored, keyring.seal(opened)]):
                changed += 1
            elif key_of(stored) is None:
                plain += 1
            else:
                resealed += 1
    finally:
        await client.aclose()
    return resealed, plain, changed
