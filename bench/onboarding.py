"""Benchmark: how fast the whole stack answers, next to a bare aiogram echo bot, in one run.

Each scenario pushes a burst of updates from distinct users into the fake Bot API and measures,
per update, the time from its arrival in the queue to the bot's reply (sendMessage /
editMessageText), with the production polling mode (updates handled as concurrent tasks).

    python -m bench.onboarding [--updates 1000] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

from bot.app import App, create_app
from bot.config import Settings
from bot.services import invites
from bot.services.cases import add_case
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.telegram_user import TelegramUser
from tests.world import office_with_case

TOKEN = "123456789:BENCH-token-for-the-fake-bot-api-server"
REPLIES = {"sendMessage", "editMessageText"}
# Both bots handle as many updates at once as Homeward does in production.
CONCURRENCY = Settings.model_fields["update_concurrency"].default


async def _burst(api: FakeBotApi, users: list[TelegramUser], texts: list[str]) -> dict[str, float]:
    pushed: dict[int, float] = {}
    answered: dict[int, float] = {}
    mark = len(api.calls)
    started = time.monotonic()
    for user, text in zip(users, texts, strict=True):
        pushed[user.id] = time.monotonic()
        await api.push_update("message", user.message(text))
    while len(answered) < len(users):
        await asyncio.sleep(0.005)
        for call in api.calls[mark:]:
            chat = call.params.get("chat_id")
            if call.method in REPLIES and chat in pushed and chat not in answered:
                answered[chat] = call.at
        mark = len(api.calls)
        if time.monotonic() - started > 600:
            raise TimeoutError("the bot did not answer every update")
    elapsed = max(answered.values()) - started
    latencies = sorted(answered[user] - pushed[user] for user in answered)
    return {
        "updates_per_s": len(users) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


async def _polling(dispatcher: Dispatcher, bot: Bot, run: Callable[[], Awaitable[dict]]) -> dict:
    task = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            handle_signals=False,
            close_bot_session=False,
            polling_timeout=1,
            tasks_concurrency_limit=CONCURRENCY,
        )
    )
    await asyncio.sleep(0.3)
    try:
        return await run()
    finally:
        await dispatcher.stop_polling()
        await task


async def echo_bot(api: FakeBotApi, n: int) -> dict:
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))
    bot = Bot(TOKEN, session=session)
    users = [TelegramUser(api, 10_000_000 + i) for i in range(n)]
    try:
        return await _polling(dispatcher, bot, lambda: _burst(api, users, ["hello"] * n))
    finally:
        await session.close()


async def homeward(api: FakeBotApi, n: int, database_url: str, scenario: str) -> dict:
    settings = Settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_base=api.base_url,
        database_url=database_url,
        bot_username="bench_bot",
    )
    app: App = create_app(settings)
    await app.prepare()
    base = 20_000_000 if scenario == "stranger" else 30_000_000
    users = [TelegramUser(api, base + i) for i in range(n)]
    texts = ["/start"] * n
    if scenario == "invite":
        # One returnee per case: every user opens the invite of a case of their own.
        async with app.sessionmaker() as session:
            await office_with_case(session, case_code="RO-0001")
            texts = []
            for i in range(n):
                code = f"RO-{i + 2:04d}"
                await add_case(session, office_code="RO", code=code, language="ro")
                issued = await invites.invite_returnee(session, case_code=code, ttl_days=1)
                texts.append(f"/start {issued.token}")
            await session.commit()
    try:
        return await _polling(app.dispatcher, app.bot, lambda: _burst(api, users, texts))
    finally:
        await app.close()


async def _fresh_postgres_database() -> str:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    server = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    name = f"homeward_bench_{int(time.time())}"
    engine = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return str(make_url(server).set(database=name))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--database", default="sqlite")
    args = parser.parse_args()
    api = FakeBotApi()
    await api.start()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        if args.database == "postgresql":
            url = await _fresh_postgres_database()
        rows.append(("aiogram echo bot (baseline)", await echo_bot(api, args.updates)))
        rows.append(
            ("Homeward: stranger /start", await homeward(api, args.updates, url, "stranger"))
        )
        rows.append(
            (
                "Homeward: invite -> language picker",
                await homeward(api, args.updates, url, "invite"),
            )
        )
    await api.stop()
    print(f"{args.updates} updates per scenario, {args.database}, peak RSS {_rss_mb():.0f} MB")
    print(f"{'scenario':45} {'updates/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'vs echo':>8}")
    baseline = rows[0][1]["updates_per_s"]
    for name, row in rows:
        print(
            f"{name:45} {row['updates_per_s']:10.0f} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f} "
            f"{row['updates_per_s'] / baseline:8.2f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
