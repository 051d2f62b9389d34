"""Benchmark: relaying returnees' messages into their case topics.

    python -m bench.relay cost [--cases 10000] [--messages 20000] [--database sqlite|postgresql]
                               [--rate 20]
    python -m bench.relay limits [--scale 60]

cost:   the whole stack (polling, middlewares, consent check, outbox, sender, topic creation)
        against the fake Bot API with every limit off, next to a bare aiogram bot whose one-line
        handler copies each message to the group, in the same run. Per database also Homeward's
        dispatcher with that one-line handler in front: what the stack costs before relaying.
        With --rate the messages come at that pace instead of all at once, so that latency is
        the relay's own and not the wait behind a burst.
limits: the fake Bot API enforces 20 calls a minute per group (time divided by --scale) and
        answers 429 beyond; a burst of 200 messages from 50 returnees to one office.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bench.onboarding import _fresh_postgres_database
from bot.app import create_app
from bot.config import Settings
from bot.runner import serve_polling
from bot.services import offices
from bot.services.clock import utcnow
from storage.models import Case, CaseStatus, Consent, Person, Role
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.telegram_user import TelegramUser

TOKEN = "123456789:BENCH-token-for-the-fake-bot-api-server"
GROUP = -100777
FIRST_USER = 10_000_000
_runs = itertools.count(1)


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def seed(settings: Settings, cases: int, *, topics_open: bool = False) -> None:
    """An office and `cases` returnees who joined and agreed, written in bulk; with
    `topics_open`, each case already has its topic and pinned card, as after its first message."""
    app = create_app(settings)
    await app.prepare()
    async with app.sessionmaker() as session:
        await seed_office(session, cases, topics_open=topics_open)
        await session.commit()
    await app.close()


async def seed_office(
    session: AsyncSession,
    cases: int,
    *,
    topics_open: bool = False,
    code: str = "RO",
    group: int = GROUP,
    first_user: int = FIRST_USER,
) -> None:
    """`seed`'s work for one office (inbox `group`, returnees `first_user` onwards, cases
    `<code>-000001` onwards), in the caller's transaction."""
    office = await offices.add_office(
        session,
        code=code,
        name=f"IOM {code}",
        country="RO",
        timezone="Europe/Bucharest",
        languages=["ro", "en"],
        group_chat_id=group,
    )
    await session.flush()
    office_id = office.id
    now = utcnow()
    for start in range(0, cases, 5000):
        batch = range(start, min(cases, start + 5000))
        await session.execute(
            insert(Person),
            [
                {"telegram_user_id": first_user + i, "role": Role.RETURNEE, "language": "en"}
                for i in batch
            ],
        )
        ids = dict(
            (
                await session.execute(
                    select(Person.telegram_user_id, Person.id).where(
                        Person.telegram_user_id >= first_user + start,
                        Person.telegram_user_id < first_user + batch.stop,
                    )
                )
            ).all()
        )
        await session.execute(
            insert(Case),
            [
                {
                    "code": f"{code}-{i + 1:06d}",
                    "office_id": office_id,
                    "language": "ro",
                    "status": CaseStatus.RETURNED,
                    "returnee_id": ids[first_user + i],
                    **(
                        {
                            "inbox_chat_id": group,
                            "topic_id": 2 * i + 1_000_000,
                            "card_message_id": 2 * i + 1_000_001,
                        }
                        if topics_open
                        else {}
                    ),
                }
                for i in batch
            ],
        )
        case_ids = dict(
            (
                await session.execute(
                    select(Case.returnee_id, Case.id).where(Case.returnee_id.in_(ids.values()))
                )
            ).all()
        )
        await session.execute(
            insert(Consent),
            [
                {
                    "case_id": case_ids[person],
                    "person_id": person,
                    "granted": True,
                    "text_version": "2026-11",
                    "language": "en",
                    "at": now,
                }
                for person in ids.values()
            ],
        )


async def burst(
    api: FakeBotApi,
    users: list[TelegramUser],
    per_user: int,
    method: str,
    rate: float | None = None,
) -> dict:
    """Push every message at once (or `rate` a second); per message, time from the push to its
    copy in the group."""
    pushed: dict[tuple[int, int], float] = {}
    by_text: dict[str, tuple[int, int]] = {}
    # Only this run's calls count, and its texts differ from earlier runs' on the same server.
    seen = len(api.calls)
    run = next(_runs)
    first_push = time.monotonic()
    for n, (round_, user) in enumerate(itertools.product(range(per_user), users)):
        if rate is not None:
            await asyncio.sleep(max(0.0, first_push + n / rate - time.monotonic()))
        message = user.message(f"message {round_} from {user.id} in run {run}")
        key = (user.id, message["message_id"])
        pushed[key] = time.monotonic()
        by_text[message["text"]] = key
        await api.push_update("message", message)
    started = min(pushed.values())
    copied: dict[tuple[int, int], float] = {}
    while len(copied) < len(pushed):
        await asyncio.sleep(0.02)
        for call in api.calls[seen:]:
            if call.method in (method, "copyMessage") and call.result is not None:
                key = (call.params.get("from_chat_id"), call.params.get("message_id"))
                if key in pushed:
                    copied.setdefault(key, call.at)
            elif call.method == "sendMessage" and call.get("chat_id") == GROUP:
                # Short texts combined into one topic message: "[HH:MM] text" per line.
                for line in call.get("text", "").splitlines():
                    key = by_text.get(line.split("] ", 1)[-1])
                    if key is not None:
                        copied.setdefault(key, call.at)
        seen = len(api.calls)
        if time.monotonic() - started > 1800:
            raise TimeoutError(f"only {len(copied)} of {len(pushed)} relayed")
    latencies = [copied[key] - pushed[key] for key in pushed]
    return {
        "messages_per_s": len(pushed) / (max(copied.values()) - started),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "latencies": latencies,
        "copied_at": copied,
        "pushed_at": pushed,
    }


def copy_router() -> Router:
    """The baseline's whole logic: copy each message to the group, in one line."""
    router = Router()

    @router.message()
    async def copy(message: Message) -> None:
        await message.copy_to(GROUP)

    return router


async def echo(
    api: FakeBotApi, users: list[TelegramUser], per_user: int, rate: float | None = None
) -> dict:
    return await _bare_bot(api, copy_router(), users, per_user, rate)


async def topic_bot(api: FakeBotApi, users: list[TelegramUser], per_user: int) -> dict:
    """The Telegram calls Homeward must make, and nothing else: no database, no middlewares.

    On a person's first message: a topic, a card, a pin; then every message is copied into
    the person's topic. This is the ceiling for any relay that gives each case its own topic.
    """
    router = Router()
    topics: dict[int, int] = {}
    opening: dict[int, asyncio.Lock] = {}

    @router.message()
    async def copy(message: Message, bot: Bot) -> None:
        assert message.from_user is not None
        person = message.from_user.id
        async with opening.setdefault(person, asyncio.Lock()):
            if person not in topics:
                topic = await bot.create_forum_topic(GROUP, f"case {person}")
                thread = topic.message_thread_id
                card = await bot.send_message(GROUP, "card", message_thread_id=thread)
                await bot.pin_chat_message(GROUP, card.message_id, disable_notification=True)
                topics[person] = thread
        await message.copy_to(GROUP, message_thread_id=topics[person])

    return await _bare_bot(api, router, users, per_user)


async def _bare_bot(
    api: FakeBotApi,
    router: Router,
    users: list[TelegramUser],
    per_user: int,
    rate: float | None = None,
) -> dict:
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
    task = asyncio.create_task(
        dispatcher.start_polling(
            bot, handle_signals=False, close_bot_session=False, polling_timeout=1
        )
    )
    await asyncio.sleep(0.3)
    try:
        return await burst(api, users, per_user, "copyMessage", rate)
    finally:
        await dispatcher.stop_polling()
        await api.wake_pollers()
        await task
        await bot.session.close()


async def homeward(
    api: FakeBotApi,
    settings: Settings,
    users: list[TelegramUser],
    per_user: int,
    *,
    rate: float | None = None,
    first: Router | None = None,
) -> dict:
    """Homeward as it runs; with `first`, that router answers messages before Homeward's own
    (the middlewares, dialogs and language still run), to price the stack without the relay."""
    app = create_app(settings)
    await app.prepare()
    if first is not None:
        app.dispatcher.include_router(first)
        app.dispatcher.sub_routers.insert(0, app.dispatcher.sub_routers.pop())
    # The production intake: updates confirmed only once handled, handled side by side.
    stop = asyncio.Event()
    task = asyncio.create_task(serve_polling(app, stop, polling_timeout=1))
    await asyncio.sleep(0.3)
    # On PostgreSQL the sender starts once this process leads (a few seconds after start).
    while not app.leadership.leading:  # noqa: ASYNC110 - a flag set by another task
        await asyncio.sleep(0.1)
    try:
        result = await burst(api, users, per_user, "copyMessage", rate)
        result["combined_saved"] = app.sender.combined_saved
        return result
    finally:
        stop.set()
        await api.wake_pollers()
        await task
        await app.close()


def database(kind: str, folder: str, topics_open: bool = False) -> str:
    name = "relay-open.db" if topics_open else "relay.db"
    return f"sqlite+aiosqlite:///{Path(folder) / name}" if kind == "sqlite" else ""


def unlimited(api: FakeBotApi, url: str) -> Settings:
    """Settings for the cost runs: every limit of the sender lifted, as the fake server's are."""
    return Settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_base=api.base_url,
        database_url=url,
        bot_username="bench_bot",
        send_overall_per_second=10**6,
        send_group_per_minute=10**9,
        send_private_burst=10**6,
    )


async def cost(args: argparse.Namespace) -> None:
    per_user = max(1, args.messages // args.cases)
    rate = args.rate
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        api = FakeBotApi()
        await api.start()
        users = [TelegramUser(api, FIRST_USER + i) for i in range(args.cases)]
        rows.append(
            ("aiogram copy bot (baseline)", await echo(api, users, per_user, rate), rss_mb())
        )
        if rate is None:
            rows.append(
                ("same calls, no database", await topic_bot(api, users, per_user), rss_mb())
            )
        for kind in args.database:
            for topics_open in (False, True):
                url = (
                    database(kind, folder, topics_open)
                    if kind == "sqlite"
                    else await _fresh_postgres_database()
                )
                settings = unlimited(api, url)
                await seed(settings, args.cases, topics_open=topics_open)
                before = rss_mb()
                result = await homeward(api, settings, users, per_user, rate=rate)
                name = f"Homeward, {kind}, {'topics open' if topics_open else 'new topics'}"
                rows.append((name, result, rss_mb() - before))
            # The same seeded database, Homeward's dispatcher, the baseline's handler.
            result = await homeward(api, settings, users, per_user, rate=rate, first=copy_router())
            rows.append((f"Homeward's stack, copy handler, {kind}", result, 0.0))
        await api.stop()
    total = args.cases * per_user
    pace = "all at once" if rate is None else f"{rate:g} a second"
    print(f"{args.cases} cases, {total} messages ({pace}), one group")
    print(f"{'':40} {'msg/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'vs base':>8} {'MB':>6}")
    base = rows[0][1]["messages_per_s"]
    for name, row, memory in rows:
        print(
            f"{name:40} {row['messages_per_s']:7.0f} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f} "
            f"{row['messages_per_s'] / base:8.2f} {memory:6.0f}"
        )
    print("MB: baseline row = whole process; Homeward rows = growth of the process during the run")


async def limits(args: argparse.Namespace) -> None:
    window = 60 / args.scale
    with tempfile.TemporaryDirectory() as folder:
        api = FakeBotApi(group_limit=(20, window))
        await api.start()
        settings = Settings(
            _env_file=None,
            bot_token=TOKEN,
            telegram_api_base=api.base_url,
            database_url=database("sqlite", folder),
            bot_username="bench_bot",
            send_group_per_minute=20,
            send_group_window_seconds=window,
        )
        await seed(settings, 50)
        users = [TelegramUser(api, FIRST_USER + i) for i in range(50)]
        result = await homeward(api, settings, users, 4)
        await api.stop()
    group_calls = [c for c in api.calls if c.get("chat_id") == GROUP and c.result is not None]
    drain = max(c.at for c in group_calls) - min(c.at for c in group_calls)
    budget = 20 * (drain / window + 1)  # the last window counts as a whole one
    per_case: dict[int, float] = {}
    for (user, _), pushed in result["pushed_at"].items():
        copied = result["copied_at"][(user, _)]
        per_case[user] = max(per_case.get(user, 0.0), copied - pushed)
    copies = [
        (c.params["from_chat_id"], c.params["message_id"])
        for c in api.calls
        if c.method == "copyMessage" and c.result is not None
    ] + [
        line.split("] ", 1)[1]
        for c in api.calls
        if c.method == "sendMessage" and c.get("chat_id") == GROUP and c.result is not None
        for line in c.get("text", "").splitlines()
        if line.startswith("[")
    ]
    print(f"200 messages from 50 returnees, one group, 20 calls per {window:.2f} s")
    print(f"group calls: {len(group_calls)} (topics, cards, pins and posts) in {drain:.1f} s")
    print(f"budget used while draining: {len(group_calls) / budget:.1%}")
    print(f"429 answers: {api.refused_429}")
    print(
        f"lost: {len(result['pushed_at']) - len(set(copies))}, "
        f"duplicated: {len(copies) - len(set(copies))}"
    )
    print(
        f"worst wait of a single case: {max(per_case.values()):.1f} s "
        f"(= {max(per_case.values()) * args.scale / 60:.1f} min unscaled)"
    )
    print(f"sends saved by combining short texts: {result['combined_saved']}")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="bench", required=True)
    c = sub.add_parser("cost")
    c.add_argument("--cases", type=int, default=10_000)
    c.add_argument("--messages", type=int, default=20_000)
    c.add_argument("--database", action="append", choices=["sqlite", "postgresql"])
    c.add_argument("--rate", type=float, help="messages a second, instead of all at once")
    lim = sub.add_parser("limits")
    lim.add_argument("--scale", type=float, default=60)
    args = parser.parse_args()
    if args.bench == "cost":
        args.database = args.database or ["sqlite", "postgresql"]
        asyncio.run(cost(args))
    else:
        asyncio.run(limits(args))


if __name__ == "__main__":
    main()
