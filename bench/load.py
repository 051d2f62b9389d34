"""Benchmark: mixed traffic at a steady rate for minutes, against one real Homeward process.

    python -m bench.load --database sqlite|postgresql [--rate 200] [--seconds 300]
                         [--offices 100] [--drain 120] [--profile FILE]

Homeward runs as in production, as its own process (`python -m bot webhook`, as bench/processes.py
starts it) with production's sending limits (30 messages a second overall, 20 a minute per group,
3 per 3 s per private chat). This process plays Telegram: the fake Bot API
(tests/fakes/bot_api.py, here with an exact per-group limit: 429 beyond 20 messages a minute per
group) and the webhook's caller, which offers `--rate` updates a second, each at its own moment
(open loop: a late answer never delays the next update), over at most as many connections as
the bot asked for in setWebhook (max_connections = UPDATE_CONCURRENCY, 8 by default), as
Telegram does. Handling latency runs from the moment an update is due to the webhook's answer,
which comes only once it is handled (committed). Updates wait for a free connection here, as
they would at Telegram; beyond BACKLOG waiting, new ones are not offered (counted: the bot is
then slower than the rate).

The world: `--offices` offices, each with its own forum group, one staff member and 25 returnees
who joined and agreed, every case's topic open (bench/relay.py `seed_office`). Returnees have
roles, so that a dialog in progress never swallows another kind's message: 8 write (plain texts
and knowledge questions), 5 tap through the menus, 3 send receipts, 9 answer check-ins. The mix,
per 200 updates:

    164 menu taps      /menu, then a tap on the menu or the questions dialog (navigation only)
      6 relays out     a returnee's text, copied into the case's topic
      4 questions      a returnee's question the knowledge base answers: relayed and answered
      6 relays in      a staff member's text in a topic, sent to the returnee
      8 receipt steps  the wizard: /receipt, category, photo, Next, amount, USD, text, Send
     12 check-in steps Answer now, one tap per question, Nothing more (check-ins asked before)

Everything the bot sends through its outbox and its gateway shares Telegram's 30 a second: at
200 updates a second this mix asks for about 24 (16 relays, 4 automatic answers, 1 receipt = 2
posts, 1.5 check-in summaries), and each group gets about 8 of its 20 a minute. More relays than
that cannot be delivered at the pace they come: they would wait in the outbox (delivery lag,
reported apart from handling latency), however fast the handlers are.

Reported: handling latency p50/p99 by kind, delivery lag (due to the copy on the other side) of
relays, receipt cards and check-in summaries, lost and duplicated copies, errors (answers other
than 200, flows that did not show the expected button, error lines in the bot's output, 429s,
calls against the Bot API's specification), the bot's resident memory, CPU and the machine's load
average every 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.checkins import MONTHS
from bench.processes import SECRET
from bench.receipts import photo_message
from bench.relay import TOKEN, percentile, seed_office
from bot.app import create_app
from bot.config import Settings
from bot.knowledge.base import KnowledgeBase
from bot.languages import SHIPPED_LANGUAGES
from bot.paths import KNOWLEDGE_DIR, OFFICE_SHEETS_DIR
from bot.services import budget, people
from bot.services.clock import utcnow
from bot.services.office_hours import office_day
from storage.models import Case, CheckIn, CheckInStatus, Office, PaidAs, Person
from tests.fakes.bot_api import FakeBotApi, _posts
from tests.fakes.telegram_user import TelegramUser
from tests.test_intake_process import Output
from tests.test_process import bot_env, free_port, start_bot

PER_OFFICE = 25
ROLES = ["writer"] * 8 + ["menu"] * 5 + ["receipt"] * 3 + ["checkin"] * 9
MIX = {"menu": 164, "relay_out": 6, "knowledge": 4, "relay_in": 6, "receipt": 8, "checkin": 12}
POOL = {"menu": "menu", "relay_out": "writer", "knowledge": "writer", "relay_in": "staff"}
POOL |= {"receipt": "receipt", "checkin": "checkin"}
FIRST_RETURNEE = 20_000_000
FIRST_STAFF = 9_000_000
FIRST_GROUP = -1_001_000_000_000
SAMPLE_SECONDS = 10
BACKLOG = 2000  # updates waiting for a connection, at most
# Returnees in a flow at once: round-robin over few, so that flows finish during the run (a
# receipt takes 8 updates); the others wait in reserve (check-ins: one each).
ACTIVE = {"receipt": 24, "checkin": 48}
STEPS_PER_CHECKIN = 8  # Answer now, six questions, Nothing more
# Menu buttons that change something (or leave the menus): never tapped.
NOT_TAPPED = {
    "Write to the office", "Send a receipt", "Language", "Pause check-ins", "Stop check-ins",
    "Also share my check-in answers", "Stop sharing my check-in answers", "Withdraw my consent",
    "I agree", "Clear this chat", "Erase my data", "Yes, ask to erase my data", "Yes, withdraw",
    "Move money between categories", "Ask a person",
}  # fmt: skip
CHECKIN_ANSWERS = ("Good", "Yes, I feel safe", "Fine", "Going well", "Yes", "Skip", "Nothing more")


class LoadBotApi(FakeBotApi):
    """The fake Bot API with Telegram's per-group limit kept in a window per group (the base
    class counts over every call it has recorded, which at this volume costs more than the bot)."""

    def __init__(self, per_group: tuple[int, float] = (20, 60.0)) -> None:
        super().__init__()
        self.per_group = per_group
        self._posted: dict[int, deque[tuple[float, int]]] = defaultdict(deque)
        self.refused_by: Counter[str] = Counter()

    def _refusal(self, method: str, params: dict[str, Any]) -> tuple[int, str] | None:
        refusal = super()._refusal(method, params)
        if refusal is not None:
            return refusal
        chat = str(params.get("chat_id", ""))
        if not chat.startswith("-") or not chat[1:].isdigit():
            return None
        count, seconds = self.per_group
        now = time.monotonic()
        posted = self._posted[int(chat)]
        while posted and posted[0][0] <= now - seconds:
            posted.popleft()
        posts = _posts(method, params)
        if sum(n for _, n in posted) + posts > count:
            self.refused_429 += 1
            self.refused_by[method] += 1
            return 429, f"Too Many Requests: retry after {int(seconds)}"
        if posts:
            posted.append((now, posts))
        return None


@dataclass
class Actor:
    """A returnee (or a staff member) of the load, with where they are in their flow."""

    user: TelegramUser
    office: int
    group: int
    topic: int  # their case's topic (staff: none)
    role: str
    step: int = 0
    taps: int = 0
    checkin: dict[str, Any] | None = None  # the check-in message with its Answer now button
    done: bool = False


@dataclass
class Tracked:
    """Something that must arrive on the other side once: a relay, a card, a summary."""

    kind: str
    due: float
    arrived: list[float] = field(default_factory=list)


class Load:
    def __init__(self, api: LoadBotApi, url: str, args: argparse.Namespace) -> None:
        self.api = api
        self.url = url
        self.args = args
        self.random = random.Random(14)
        self.pools: dict[str, deque[Actor]] = defaultdict(deque)
        self.reserve: dict[str, deque[Actor]] = defaultdict(deque)
        self.by_user: dict[int, Actor] = {}
        self.writers_of: dict[int, list[Actor]] = defaultdict(list)
        self.topic_owner: dict[tuple[int, int], int] = {}
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.late: list[float] = []  # how late this process offered an update (its own lag)
        self.skipped: Counter[str] = Counter()  # no actor of that kind was free
        self.errors: Counter[str] = Counter()
        self.updates = itertools.count(1)
        self.callbacks = itertools.count(1)
        self.texts = itertools.count(1)
        self.tracked: dict[Any, Tracked] = {}
        self.waiting_lines: dict[int, deque[tuple[str, Any]]] = defaultdict(deque)
        self.waiting_cards: dict[int, deque[Any]] = defaultdict(deque)
        self.waiting_summaries: dict[int, deque[Any]] = defaultdict(deque)
        self.answers = 0  # automatic knowledge answers seen
        self.questions: list[str] = []
        self.offered = 0
        self.http: aiohttp.ClientSession | None = None
        self.hook = ""
        self.connections = 0  # the webhook's max_connections, from the bot's setWebhook
        self.inflight: set[asyncio.Task[None]] = set()

    # ---- the world ----------------------------------------------------------------------------
    def build(self) -> None:
        for office in range(self.args.offices):
            group = FIRST_GROUP - office
            for n, role in enumerate(ROLES):
                i = office * PER_OFFICE + n
                actor = Actor(
                    TelegramUser(self.api, FIRST_RETURNEE + i),
                    office,
                    group,
                    2 * n + 1_000_000,
                    role,
                )
                self.by_user[actor.user.id] = actor
                self.topic_owner[(group, actor.topic)] = actor.user.id
                self.pools[role].append(actor)
                if role == "writer":
                    self.writers_of[office].append(actor)
            staff = TelegramUser(self.api, FIRST_STAFF + office, first_name="Ana")
            self.pools["staff"].append(Actor(staff, office, group, 0, "staff"))
        for pool in self.pools.values():
            self.random.shuffle(pool)
        knowledge = KnowledgeBase.from_directory(
            KNOWLEDGE_DIR, SHIPPED_LANGUAGES, OFFICE_SHEETS_DIR
        )
        for entry in knowledge.content.entries:
            question = knowledge.text("en", entry.id).question
            if knowledge.confident_match("en", question, "returnee") and not (
                knowledge.signals_danger(["en"], question)
            ):
                self.questions.append(question)

    # ---- offering updates ---------------------------------------------------------------------
    async def run(self, port: int, seconds: float, rate: float) -> float:
        slots = [kind for kind, n in MIX.items() for _ in range(n)]
        self.random.shuffle(slots)
        connector = aiohttp.TCPConnector(limit=self.connections)
        self.http = aiohttp.ClientSession(connector=connector)
        self.hook = f"http://127.0.0.1:{port}/hook"
        started = time.monotonic()
        n = 0
        while (now := time.monotonic()) - started < seconds:
            while n < (now - started) * rate:
                due = started + n / rate
                task = asyncio.create_task(self.offer(slots[n % len(slots)], due))
                self.inflight.add(task)
                task.add_done_callback(self.inflight.discard)
                n += 1
            await asyncio.sleep(0.002)
        return started

    async def finish(self) -> None:
        if self.inflight:
            await asyncio.wait(self.inflight, timeout=120)
        assert self.http is not None
        await self.http.close()

    async def offer(self, kind: str, due: float) -> None:
        role = POOL[kind]
        pool = self.pools[role]
        if not pool or len(self.inflight) > BACKLOG:
            self.skipped[kind if pool else f"{kind} (no free returnee)"] += 1
            return
        actor = pool.popleft()
        try:
            update = self.next_update(kind, actor, due)
            if update is None:
                self.skipped[f"{kind} (nothing to answer)"] += 1
                return
            self.late.append(time.monotonic() - due)
            assert self.http is not None
            self.offered += 1
            try:
                async with self.http.post(
                    self.hook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                ) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError as error:
                self.errors[f"webhook: {type(error).__name__}"] += 1
                return
            self.latency[kind].append(time.monotonic() - due)
            if status != 200:
                self.errors[f"webhook answered {status}"] += 1
        finally:
            if not actor.done:
                pool.append(actor)
            elif self.reserve[role]:
                pool.append(self.reserve[role].popleft())

    def next_update(self, kind: str, actor: Actor, due: float) -> dict[str, Any] | None:
        n = next(self.texts)
        if kind == "relay_out":
            return self.relay_out(actor, f"load {n}: the papers for the new flat are ready", due)
        if kind == "knowledge":
            return self.relay_out(actor, self.random.choice(self.questions), due)
        if kind == "relay_in":
            target = self.random.choice(self.writers_of[actor.office])
            words = f"staff {n}: the first payment comes on Monday"
            self.tracked[("in", words)] = Tracked("relay in", due)
            return self.message(actor.user.message(words, group=actor.group, topic=target.topic))
        if kind == "menu":
            return self.menu(actor)
        if kind == "receipt":
            return self.receipt(actor, n, due)
        return self.checkin(actor, due)

    def relay_out(self, actor: Actor, words: str, due: float) -> dict[str, Any]:
        message = actor.user.message(words)
        key = (actor.user.id, message["message_id"])
        kind = "question relayed" if words in self.questions else "relay out"
        self.tracked[key] = Tracked(kind, due)
        self.waiting_lines[actor.user.id].append((words, key))
        return self.message(message)

    def message(self, message: dict[str, Any]) -> dict[str, Any]:
        self.api.user_messages[(message["chat"]["id"], message["message_id"])] = message
        return {"update_id": next(self.updates), "message": message}

    def press(self, actor: Actor, message: dict[str, Any], data: str) -> dict[str, Any]:
        callback = {
            "id": str(next(self.callbacks)),
            "from": actor.user.as_user(),
            "chat_instance": f"ci{actor.user.id}",
            "message": message,
            "data": data,
        }
        return {"update_id": next(self.updates), "callback_query": callback}

    def buttons(self, actor: Actor) -> tuple[dict[str, Any], dict[str, str]] | None:
        """The newest of the bot's messages in the chat that has buttons: (message, data by
        label)."""
        for message in reversed(actor.user.messages()):
            rows = message.get("reply_markup", {}).get("inline_keyboard", [])
            found = {b["text"]: b["callback_data"] for r in rows for b in r if "callback_data" in b}
            if found:
                return message, found
        return None

    def menu(self, actor: Actor) -> dict[str, Any]:
        shown = self.buttons(actor)
        labels = [label for label in (shown[1] if shown else {}) if label not in NOT_TAPPED]
        if shown is None or not labels or actor.taps >= 20:
            actor.taps = 0
            return self.message(actor.user.message("/menu"))
        actor.taps += 1
        label = "Back" if "Back" in labels and self.random.random() < 0.3 else None
        label = label or self.random.choice(labels)
        return self.press(actor, shown[0], shown[1][label])

    def receipt(self, actor: Actor, n: int, due: float) -> dict[str, Any]:
        step, actor.step = actor.step, (actor.step + 1) % 8
        if step == 0:
            return self.message(actor.user.message("/receipt"))
        if step in (2, 4, 6):
            if step == 2:
                message = photo_message(actor.user.id, self.api.next_message_id())
                message["chat"]["first_name"] = message["from"]["first_name"] = "Maria"
                return self.message(message)
            return self.message(actor.user.message("120" if step == 4 else f"Rent {n}"))
        wanted = {1: "Housing", 3: "Next", 5: "USD", 7: "Send"}[step]
        shown = self.buttons(actor)
        data = [d for label, d in (shown[1] if shown else {}).items() if label.startswith(wanted)]
        if shown is None or not data:
            self.errors[f"receipt wizard: no {wanted!r} button"] += 1
            actor.step = 1
            return self.message(actor.user.message("/receipt"))
        if step == 7:
            key = ("card", next(self.texts))
            self.tracked[key] = Tracked("receipt card", due)
            self.waiting_cards[actor.user.id].append(key)
        return self.press(actor, shown[0], data[0])

    def checkin(self, actor: Actor, due: float) -> dict[str, Any] | None:
        if actor.step == 0:
            if actor.checkin is None:
                return None  # not asked (yet)
            actor.step = 1
            data = actor.checkin["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
            return self.press(actor, actor.checkin, data)
        shown = self.buttons(actor)
        labels = shown[1] if shown else {}
        label = next((a for a in CHECKIN_ANSWERS if a in labels), None)
        if shown is None or label is None:
            self.errors["check-in: no answer button"] += 1
            actor.done = True
            return None
        if label == "Nothing more":
            actor.done = True  # one check-in each
            key = ("summary", actor.user.id)
            self.tracked[key] = Tracked("check-in summary", due)
            self.waiting_summaries[actor.user.id].append(key)
        return self.press(actor, shown[0], labels[label])

    # ---- what arrives on the other side ------------------------------------------------------
    def read_calls(self) -> None:
        calls, self.api.calls = self.api.calls, []
        for call in calls:
            if call.result is None or call.method == "getUpdates":
                continue
            if call.method == "setWebhook":
                self.connections = int(call.get("max_connections", 40))
            chat = int(call.get("chat_id", 0) or 0)
            if call.method == "copyMessage" and chat < 0:
                self.arrive((int(call["from_chat_id"]), int(call["message_id"])), call.at)
            elif call.method == "sendMessage" and chat < 0:
                owner = self.topic_owner.get((chat, int(call.get("message_thread_id") or 0)))
                if owner is None:
                    continue
                words = call.get("text", "")
                if "inline_keyboard" in (call.get("reply_markup") or {}):
                    if call.get("reply_parameters") and self.waiting_cards[owner]:
                        self.arrive(self.waiting_cards[owner].popleft(), call.at)
                elif words.startswith("📋"):
                    if self.waiting_summaries[owner]:
                        self.arrive(self.waiting_summaries[owner].popleft(), call.at)
                else:  # short texts combined while they waited: "[HH:MM] text" a line
                    for line in words.splitlines():
                        said = line.split("] ", 1)[-1]
                        waiting = self.waiting_lines[owner]
                        key = next((k for w, k in waiting if w == said), None)
                        if key is not None:
                            waiting.remove((said, key))
                            self.arrive(key, call.at)
            elif call.method == "sendMessage" and chat > 0:
                words = call.get("text", "")
                if "\n\n— IOM " in words:
                    self.arrive(("in", words.split("\n\n— ", 1)[0]), call.at)
                elif words.startswith("🤖"):
                    self.answers += 1
                elif chat in self.by_user:
                    keyboard = (call.get("reply_markup") or {}).get("inline_keyboard") or []
                    data = keyboard[0][0].get("callback_data", "") if keyboard else ""
                    if data.startswith("ci:"):
                        self.by_user[chat].checkin = call.result

    def arrive(self, key: Any, at: float) -> None:
        tracked = self.tracked.get(key)
        if tracked is None:
            self.errors["a copy of something never sent"] += 1
            return
        tracked.arrived.append(at)
        if isinstance(key[0], int) and len(tracked.arrived) == 1:  # a returnee's message
            waiting = self.waiting_lines[key[0]]
            self.waiting_lines[key[0]] = deque((w, k) for w, k in waiting if k != key)


async def create_database(kind: str, folder: str) -> str:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{Path(folder) / 'load.db'}"
    engine = create_async_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{PG_NAME}"'))  # our own, left over
        await connection.execute(text(f'CREATE DATABASE "{PG_NAME}"'))
    await engine.dispose()
    return str(make_url(PG_SERVER).set(database=PG_NAME))


async def drop_database(kind: str) -> None:
    if kind == "postgresql":
        engine = create_async_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)'))
        await engine.dispose()


PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PG_NAME = "homeward_load"


async def prepare(settings: Settings, load: Load, checkins: int) -> None:
    """The offices, staff, returnees with their topics open, the budget, the check-ins due."""
    app = create_app(settings)
    await app.prepare()
    async with app.sessionmaker() as session:
        for office in range(load.args.offices):
            code = "L" + "".join(chr(65 + (office // 26**k) % 26) for k in (2, 1, 0))
            await seed_office(
                session,
                PER_OFFICE,
                topics_open=True,
                code=code,
                group=FIRST_GROUP - office,
                first_user=FIRST_RETURNEE + office * PER_OFFICE,
            )
            await people.add_staff(
                session, office_code=code, telegram_user_id=FIRST_STAFF + office, name="Ana"
            )
        await budget.set_category(
            session,
            programme="dk",
            category="housing",
            maximum="1000000",
            currency="USD",
            paid_as=PaidAs.IN_KIND,
        )
        office = await session.scalar(select(Office).limit(1))
        assert office is not None
        # Weekends and nights the office is closed, and a returnee who writes is told so once
        # a day: as if each had written earlier today, so that note is not part of the load.
        await session.execute(
            update(Case).values(
                programme="dk",
                return_date=date(2026, 1, 5),
                closed_reply_on=office_day(office, utcnow()),
            )
        )
        asked = [a.user.id for a in load.pools["checkin"]][:checkins]
        case_ids = list(
            await session.scalars(
                select(Case.id)
                .join(Person, Case.returnee_id == Person.id)
                .where(Person.telegram_user_id.in_(asked))
            )
        )
        if case_ids:
            await session.execute(
                insert(CheckIn),
                [
                    {
                        "case_id": case_id,
                        "month": MONTHS[0],
                        "due_at": utcnow() - timedelta(hours=1),
                        "status": CheckInStatus.SCHEDULED,
                        "reminders": 0,
                    }
                    for case_id in case_ids
                ],
            )
        await session.commit()
    await app.close()
    load.pools["checkin"] = deque(a for a in load.pools["checkin"] if a.user.id in asked)
    for role, active in ACTIVE.items():
        load.reserve[role] = deque(itertools.islice(load.pools[role], active, None))
        load.pools[role] = deque(itertools.islice(load.pools[role], active))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


async def sample(pid: int, started: float, samples: list[tuple[float, float, float, float]]):
    """Every SAMPLE_SECONDS: (seconds since start, the bot's RSS in MB, the bot's CPU share over
    the last interval, the machine's 1-minute load average)."""
    last = (time.monotonic(), cpu_seconds(pid))
    while True:
        await asyncio.sleep(SAMPLE_SECONDS)
        now, cpu = time.monotonic(), cpu_seconds(pid)
        samples.append(
            (now - started, rss_mb(pid), (cpu - last[1]) / (now - last[0]), load_average())
        )
        last = (now, cpu)


async def read_calls(load: Load) -> None:
    while True:
        load.read_calls()
        await asyncio.sleep(0.1)


async def scenario(args: argparse.Namespace, folder: str) -> dict[str, Any]:
    api = LoadBotApi()
    await api.start()
    url = await create_database(args.database, folder)
    load = Load(api, url, args)
    load.build()
    checkins = min(
        len(load.pools["checkin"]),
        int(args.rate * args.seconds * MIX["checkin"] / sum(MIX.values()) / STEPS_PER_CHECKIN * 1.3)
        + 10,
    )
    settings = Settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_base=api.base_url,
        database_url=url,
        bot_username="bench_bot",
    )
    output = None
    reader = asyncio.create_task(read_calls(load))
    try:
        began = time.monotonic()
        await prepare(settings, load, checkins)
        print(f"prepared in {time.monotonic() - began:.1f} s", flush=True)
        port = free_port()
        env = bot_env(
            api,
            url,
            WEBHOOK_URL="https://bench.example.org/hook",
            WEBHOOK_SECRET=SECRET,
            WEBHOOK_HOST="127.0.0.1",
            WEBHOOK_PORT=str(port),
            SWEEP_SECONDS="2",  # the check-ins are asked before the load; production: 300
        )
        env["BOT_TOKEN"] = TOKEN
        if args.profile:
            # The bot under pyinstrument (pip install pyinstrument): a text report at the end.
            output = Output(
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "pyinstrument", "-r", "text", "-o", args.profile,
                    "-m", "bot", "webhook", cwd=folder, env=env,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                )
            )  # fmt: skip
        else:
            output = Output(await start_bot("webhook", env, Path(folder)))
        await output.wait_for("webhook server on", timeout=120)
        if args.database == "postgresql":  # on SQLite the one process leads from the start
            await output.wait_for("this process leads", timeout=120)
        began = time.monotonic()
        while sum(a.checkin is not None for a in load.by_user.values()) < checkins:
            assert time.monotonic() - began < checkins / 10 + 120, "check-ins were not asked"
            await asyncio.sleep(0.5)
        print(f"{checkins} check-ins asked in {time.monotonic() - began:.1f} s", flush=True)
        pid = output.process.pid
        await asyncio.sleep(2)
        rss_start = rss_mb(pid)
        samples: list[tuple[float, float, float, float]] = []
        own_cpu = time.process_time()
        sampler = asyncio.create_task(sample(pid, time.monotonic(), samples))
        mark = len(api.violations)
        started = await load.run(port, args.seconds, args.rate)
        offered_for = time.monotonic() - started
        own_cpu = (time.process_time() - own_cpu) / offered_for
        await load.finish()
        handled_by = time.monotonic() - started
        # Deliveries wait for Telegram's limits: give them time, then a little more so that
        # a duplicate would show.
        drained = time.monotonic()
        while any(not t.arrived for t in load.tracked.values()):
            if time.monotonic() - drained > args.drain:
                break
            await asyncio.sleep(0.5)
        drain_s = time.monotonic() - drained
        await asyncio.sleep(5)
        load.read_calls()
        sampler.cancel()
        log = await output.stop(timeout=600 if args.profile else 30)  # the report takes a while
        output = None
    finally:
        reader.cancel()
        if output is not None:
            await output.stop()
        await api.stop()
        await drop_database(args.database)
    return {
        "load": load,
        "samples": samples,
        "rss_start": rss_start,
        "offered_for": offered_for,
        "handled_by": handled_by,
        "drain_s": drain_s,
        "own_cpu": own_cpu,
        "violations": api.violations[mark:],
        "refused": api.refused_by,
        "log_errors": [
            line.strip()
            for line in log.splitlines()
            if " ERROR " in line or "Traceback" in line or " CRITICAL " in line
        ],
        "checkins": checkins,
    }


def ms(values: list[float], share: float) -> str:
    return f"{percentile(values, share) * 1000:.1f}" if values else "-"


def report(args: argparse.Namespace, r: dict[str, Any]) -> None:
    load: Load = r["load"]
    every = [v for values in load.latency.values() for v in values]
    print(
        f"\n{args.database}: {args.rate:g} updates/s for {args.seconds:g} s, {args.offices} "
        f"offices (groups), {len(load.by_user)} returnees, {r['checkins']} check-ins asked"
    )
    print(
        f"offered {load.offered} updates in {r['offered_for']:.1f} s "
        f"({load.offered / r['offered_for']:.1f}/s); every answer by {r['handled_by']:.1f} s "
        f"({sum(map(len, load.latency.values())) / r['handled_by']:.1f} answered/s); "
        f"not offered (over {BACKLOG} waiting, or no free returnee): "
        f"{dict(load.skipped) or 'none'}"
    )
    print(
        f"this process (fake Bot API + webhook caller): {r['own_cpu']:.0%} of a core; offered "
        f"late by p50 {ms(load.late, 0.5)} ms, p99 {ms(load.late, 0.99)} ms"
    )
    print("\n| handling latency | updates | p50 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for kind in [*MIX, "all"]:
        values = every if kind == "all" else load.latency.get(kind, [])
        print(
            f"| {kind} | {len(values)} | {ms(values, 0.5)} | {ms(values, 0.99)} | "
            f"{max(values) * 1000 if values else 0:.1f} |"
        )
    print("\n| delivery (due -> on the other side) | sent | arrived | lost | duplicated "
          "| p50 ms | p99 ms | max ms |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    kinds: dict[str, list[Tracked]] = defaultdict(list)
    for tracked in load.tracked.values():
        kinds[tracked.kind].append(tracked)
    for kind, items in sorted(kinds.items()):
        lags = [t.arrived[0] - t.due for t in items if t.arrived]
        print(
            f"| {kind} | {len(items)} | {len(lags)} | {sum(not t.arrived for t in items)} | "
            f"{sum(max(0, len(t.arrived) - 1) for t in items)} | {ms(lags, 0.5)} | "
            f"{ms(lags, 0.99)} | {max(lags) * 1000 if lags else 0:.0f} |"
        )
    print(
        f"automatic knowledge answers: {load.answers}; drain after the load: {r['drain_s']:.1f} s"
    )
    errors = dict(load.errors) or "none"
    print(f"errors: {errors}; 429 answers: {dict(r['refused']) or 'none'}")
    print(f"spec violations: {len(r['violations'])} {r['violations'][:3]}")
    print(f"error lines in the bot's output: {len(r['log_errors'])}")
    for line in r["log_errors"][:10]:
        print(f"    {line[:200]}")
    print("\n| s | bot RSS MB | bot CPU | load average (1 min) |")
    print("| ---: | ---: | ---: | ---: |")
    print(f"| 0 | {r['rss_start']:.1f} | | |")
    for at, rss, cpu, average in r["samples"]:
        print(f"| {at:.0f} | {rss:.1f} | {cpu:.0%} | {average:.2f} |")
    if len(r["samples"]) > 7:
        warm = r["samples"][5][1]
        print(f"RSS after warm-up (at 60 s) {warm:.1f} MB, at the end {r['samples'][-1][1]:.1f} MB")
    averages = [s[3] for s in r["samples"]]
    if averages:
        print(f"load average during the run: mean {statistics.mean(averages):.2f}, "
              f"max {max(averages):.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--offices", type=int, default=100)
    parser.add_argument("--drain", type=float, default=120, help="seconds to wait for deliveries")
    parser.add_argument("--profile", help="run the bot under pyinstrument, its report to this file")
    args = parser.parse_args()

    async def run() -> None:
        with tempfile.TemporaryDirectory() as folder:
            report(args, await scenario(args, folder))

    asyncio.run(run())


if __name__ == "__main__":
    main()
