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
