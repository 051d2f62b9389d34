"""Feeding generated updates to the real bot through its webhook, and checking each one.

Shared by tests/test_fuzz.py (a small Hypothesis sample) and bench/fuzz.py (100,000 updates).
The world is tests/test_authorisation.py's: two offices with forum groups and case topics,
returnees who joined and agreed, counsellors, staff, a manager, receipts, payouts, check-ins;
the updates come from its actors, in its places, and strangers.

What is checked for every update:
- the webhook answers it 200 (never 5xx, never a 4xx for something Telegram could send);
- no failure: nothing logged at ERROR or above, nothing reaching the error handler (the bot's
  deliberate refusals are answers and audit events, not errors);
- no marker of the update's texts, captions and names in any log line;
- every call the bot makes passes the fake's specification check (collected by the fake);
- a returnee who sends what cannot be passed on is told so, in their language.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.types import ErrorEvent
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.cli import QUIET_LOGGERS
from bot.intake.webhook import SECRET_HEADER, WebhookIntake
from bot.telegram.incoming import NOT_PASSED_ON
from tests.conftest import RunningBot
from tests.fakes.bot_api import BOT_USER, FakeBotApi
from tests.fakes.updates import MARKER_PATTERN, Actor, Cast, Generated, Place
from tests.test_authorisation import (
    FOREIGN_GROUP,
    GROUP,
    OTHER_GROUP,
    World,
    button_data,
    registered_commands,
)
from tests.test_unsupported_content import told

SECRET = "fuzz-secret"
HOOK = "/hook"
# Everyone the updates come from: strangers (a new id each time, and one who keeps writing),
# the onboarded returnee of RO-0007 and another case's, counsellors, staff of the office and
# of another, an unregistered member of the staff group, another bot, a programme manager.
ACTORS = (
    Actor("stranger", 0),
    Actor("str", 900),
    Actor("ret", 501),
    Actor("ore", 502),
    Actor("cou", 222),
    Actor("oco", 223),
    Actor("stf", 301),
    Actor("ost", 401),
    Actor("mem", 600),
    Actor("bot", 5000, is_bot=True),
    Actor("mgr", 700),
)
BUTTONS = (
    "rc:full",
    "po:paid",
    "po:received",
    "po:not_received",
    "ra",
    "mv:yes",
    "ci",
    "al",
    "cs:skip",
    "us",
    "ud:send",
    "ev:on",
    "about",
    "loc:yes",
)


async def cast_of(world: World) -> Cast:
    targets = world.targets
    places = (
        Place("private", 0),
        Place("topic", GROUP, targets.own.topic),
        Place("general", GROUP),
        Place("otopic", OTHER_GROUP, targets.office2.topic),
        Place("foreign", FOREIGN_GROUP),
    )
    data = [
        await button_data(world, action, targets.of(target))
        for action in BUTTONS
        for target in ("own", "case2", "office2")
    ]
    return Cast(
        actors=ACTORS,
        places=places,
        bot_user={k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")},
        commands=sorted(registered_commands()),
        callback_data=data,
        home={
            "ret": "private",
            "ore": "private",
            "cou": "private",
            "oco": "private",
            "str": "private",
            "stranger": "private",
            "mgr": "private",
            "stf": "topic",
            "mem": "general",
            "ost": "otopic",
            "bot": "foreign",
        },
    )


class LogTap(logging.Handler):
    """Every log record of the process, formatted as it would be written: leaks and failures."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.leaks: list[str] = []  # where a marker was found: the logger and its template
        self.failures: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is a finding too
            line = f"{record.name} {record.msg!r} (could not be formatted)"
            self.failures.append(line)
        if MARKER_PATTERN.search(line):
            self.leaks.append(f"{record.name}: {record.msg!r}")
        if record.levelno >= logging.ERROR:
            self.failures.append(f"{record.name}: {record.getMessage()[:300]}")


@dataclass
class Tally:
    kinds: Counter[str] = field(default_factory=Counter)
    senders: Counter[str] = field(default_factory=Counter)  # "actor@place"
    statuses: Counter[int] = field(default_factory=Counter)
    exceptions: Counter[str] = field(default_factory=Counter)
    first_tracebacks: dict[str, str] = field(default_factory=dict)
    leaks: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    answers_due: int = 0
    answers_missing: int = 0
    fed: int = 0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


class Fuzzing:
    """The world's running bot, with a webhook intake of its own to post generated updates to."""

    def __init__(self, bot: RunningBot, world: World) -> None:
        self.bot = bot
        self.world = world
        self.api: FakeBotApi = bot.api
        self.tally = Tally()
        self.tap = LogTap()
        self.raised: list[tuple[str, str]] = []  # (exception type, its traceback)
        self.client: TestClient[Any, Any] | None = None

    async def start(self) -> None:
        app = self.bot.app
        web_app = web.Application()
        WebhookIntake(app.dispatcher, app.bot, SECRET, app.metrics, bots=[app.bot]).register(
            web_app, HOOK
        )
        self.client = TestClient(TestServer(web_app))
        await self.client.start_server()
        # Before the bot's own error handler: note the exception with its traceback, then let
        # the bot's handler do what it does.
        app.dispatcher.errors.register(self._note)
        # Everything logged at DEBUG and above is read (production logs from INFO), but for the
        # loggers the command line keeps at INFO whatever the level.
        root = logging.getLogger()
        self._levels = {name: logging.getLogger(name).level for name in ("", *QUIET_LOGGERS)}
        root.setLevel(logging.DEBUG)
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
        root.addHandler(self.tap)

    async def stop(self) -> None:
        logging.getLogger().removeHandler(self.tap)
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)
        if self.client is not None:
            await self.client.close()

    async def _note(self, event: ErrorEvent) -> None:
        error = event.exception
        self.raised.append((type(error).__name__, "".join(traceback.format_exception(error)[-6:])))
        raise SkipHandler

    def _remember(self, generated: Generated) -> None:
        """Messages people sent are known to the fake, as Telegram knows them (copies carry
        their content); and so is the bot's message under a pressed button."""
        payload = generated.update[generated.kind]
        if not isinstance(payload, dict):
            return
        message = payload.get("message") if generated.kind == "callback_query" else payload
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            chat_id = message["chat"].get("id")
            if isinstance(chat_id, int) and isinstance(message.get("message_id"), int):
                if generated.kind == "callback_query":
                    self.api._store(chat_id, dict(message))  # the bot's own message
                else:
                    self.api.user_messages[(chat_id, message["message_id"])] = message

    def answer_due(self, generated: Generated) -> str | None:
        """The text the returnee must be told, when it is due."""
        if (
            generated.kind == "message"
            and generated.actor == "ret"
            and generated.place == "private"
            and generated.detail in NOT_PASSED_ON
        ):
            return told(self.bot, generated.detail, "en")
        return None

    async def feed(self, generated: Generated, *, check_answer: bool = True) -> list[str]:
        """Post one update and return what went wrong with it (empty: nothing)."""
        assert self.client is not None
        self._remember(generated)
        leaks, failures, raised = len(self.tap.leaks), len(self.tap.failures), len(self.raised)
        calls = len(self.api.calls)
        response = await self.client.post(
            HOOK, json=generated.update, headers={SECRET_HEADER: SECRET}
        )
        await response.release()
        tally = self.tally
        tally.fed += 1
        tally.kinds[f"{generated.kind}:{generated.detail}"] += 1
        tally.senders[f"{generated.actor}@{generated.place}"] += 1
        tally.statuses[response.status] += 1
        problems = []
        if response.status != 200:
            problems.append(f"webhook answered {response.status}")
        for name, trace in self.raised[raised:]:
            tally.exceptions[name] += 1
            tally.first_tracebacks.setdefault(name, trace)
            problems.append(f"raised {name}:\n{trace}")
        for line in self.tap.failures[failures:]:
            tally.failures[line] += 1
            problems.append(f"logged: {line}")
        for line in self.tap.leaks[leaks:]:
            tally.leaks[line] += 1
            problems.append(f"a marker reached the log: {line}")
        due = self.answer_due(generated) if check_answer else None
        if due is not None:
            tally.answers_due += 1
            try:
                await self.api.wait_for(
                    lambda c: (
                        c.method == "sendMessage"
                        and c.params.get("chat_id") == 501
                        and c.params.get("text") == due
                    ),
                    after=calls,
                    timeout=10,
                )
            except AssertionError:
                tally.answers_missing += 1
                problems.append(f"the returnee was not told that a {generated.detail} stays")
        return problems


def fake_problems(api: FakeBotApi) -> list[str]:
    """What the fake Bot API holds against the bot, as conftest's fake_api fixture checks."""
    problems = list(api.violations)
    problems += [f"Telegram refused: {refused}" for refused in api.refused_texts]
    problems += [f"a name reached a group: {name}" for name in api.names_in_groups()]
    if api.calls_to("forwardMessage"):
        problems.append("the bot forwarded a message")
    return problems


async def settle(bot: RunningBot) -> None:
    """The sender has sent what it could (its calls pass the fake's checks then)."""
    await bot.settled(timeout=60)
    await asyncio.sleep(0)
