"""Messages flowing both ways through a real `python -m bot run` process, and what arrived: the
shared part of the fault runs (tests/test_api_faults.py, bench/faults_api.py) and the kill runs
(tests/test_kills.py, bench/kills.py).

Four returnees of office RO write into their case topics; staff Ana answers in each topic. Every
message carries a word of its own, so that what arrived, and how often, is read from what the
chats show (the fake Bot API's views), not from what the bot says it did.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from storage.db import create_engine
from storage.models import OutboxItem, OutboxStatus
from tests.conftest import TOKEN
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.telegram_user import TelegramUser
from tests.test_intake_process import Output
from tests.test_process import bot_env, start_bot
from tests.test_several_processes import RETURNEES, office_with_returnees

GROUP = -1001234  # office RO's inbox group
STAFF = 111


@dataclass
class Flow:
    """The world and the bot process; words sent up (returnee to topic) and down (staff to
    returnee), each with where it must show."""

    api: FakeBotApi
    database_url: str
    folder: Path
    env: dict[str, str]
    bot: Output | None = None
    users: list[TelegramUser] = field(default_factory=list)
    ana: TelegramUser | None = None
    threads: dict[int, int] = field(default_factory=dict)  # returnee -> topic
    up: list[str] = field(default_factory=list)
    down: dict[str, int] = field(default_factory=dict)  # word -> returnee's chat
    outputs: list[str] = field(default_factory=list)
    starts: int = 0

    async def start(self) -> None:
        self.bot = Output(await start_bot("run", self.env, self.folder))
        self.starts += 1

    async def stop(self) -> int:
        """SIGTERM; the exit code. The output is kept."""
        assert self.bot is not None
        self.outputs.append(await self.bot.stop())
        return self.bot.process.returncode or 0

    async def warm_up(self) -> None:
        """One message from each returnee, so that every case has its topic before faults."""
        for user in self.users:
            await self.api.push_update("message", user.message(f"[warm {user.id}]"))
        await self.shown([f"[warm {u.id}]" for u in self.users], [], timeout=60)
        for user in self.users:
            self.threads[user.id] = self._thread_of(user.id)

    def _thread_of(self, user_id: int) -> int:
        for call in self.api.calls:
            if call.result is None or call.get("chat_id") != GROUP:
                continue
            if (call.method == "copyMessage" and call.get("from_chat_id") == user_id) or (
                call.method == "sendMessage" and f"[warm {user_id}]" in call.get("text", "")
            ):
                return int(call["message_thread_id"])
        raise AssertionError(f"no topic for returnee {user_id}")

    async def round(self, name: str) -> int:
        """Each returnee writes once and Ana answers each once; the last update's id."""
        assert self.ana is not None
        last = 0
        for user in self.users:
            word = f"[up {name} {user.id}]"
            self.up.append(word)
            last = await self.api.push_update("message", user.message(word))
            word = f"[down {name} {user.id}]"
            self.down[word] = user.id
            message = self.ana.message(word, group=GROUP, topic=self.threads[user.id])
            last = await self.api.push_update("message", message)
        return last

    def counts(self) -> dict[str, int]:
        """How often each word shows where it should: up words in the group, down words in
        their returnee's chat."""
        group = _texts(self.api, GROUP)
        private = {user.id: _texts(self.api, user.id) for user in self.users}
        found = {word: sum(t.count(word) for t in group) for word in self.up}
        found |= {word: sum(t.count(word) for t in private[u]) for word, u in self.down.items()}
        return found

    async def shown(self, up: list[str], down: list[str], timeout: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            group = "\n".join(_texts(self.api, GROUP))
            private = {u.id: "\n".join(_texts(self.api, u.id)) for u in self.users}
            missing = [w for w in up if w not in group] + [
                w for w in down if w not in private[self.down[w]]
            ]
            if not missing:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"not shown in {timeout:.0f} s: {missing}")
            await asyncio.sleep(0.2)

    async def all_shown(self, timeout: float) -> None:
        await self.shown(self.up, list(self.down), timeout)

    async def drained(self, timeout: float) -> None:
        """Until the outbox holds nothing waiting (or held)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (waiting := await self.waiting()) > 0:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{waiting} outbox items still waiting")
            await asyncio.sleep(0.2)

    async def waiting(self) -> int:
        engine = create_engine(self.database_url)
        try:
            async with engine.connect() as connection:
                return int(
                    await connection.scalar(
                        select(func.count(OutboxItem.id)).where(
                            OutboxItem.status.in_([OutboxStatus.PENDING, OutboxStatus.HELD])
                        )
                    )
                    or 0
                )
        finally:
            await engine.dispose()

    async def in_doubt(self) -> list[str]:
        """Words whose outbox item still waits although the word already shows where it goes:
        Telegram took the send, and the bot died before it recorded so. Each is sent again."""
        engine = create_engine(self.database_url)
        try:
            async with engine.connect() as connection:
                sources = (
                    await connection.execute(
                        select(OutboxItem.source_chat_id, OutboxItem.source_message_id).where(
                            OutboxItem.status == OutboxStatus.PENDING
                        )
                    )
                ).all()
        finally:
            await engine.dispose()
        counts = self.counts()
        words = []
        for chat_id, message_id in sources:
            text = str(self.api.user_messages.get((chat_id, message_id), {}).get("text", ""))
            words += [w for w, n in counts.items() if n > 0 and w in text]
        return words

    def failed_or_token(self) -> list[str]:
        """Lines that must not be in any output: a traceback, the token or its secret part."""
        secret = TOKEN.split(":", 1)[1]
        return [
            line
            for output in self.outputs
            for line in output.splitlines()
            if "Traceback" in line or secret in line or TOKEN in line
        ]


async def new_flow(api: FakeBotApi, folder: Path, **env: str) -> Flow:
    url = f"sqlite+aiosqlite:///{folder / 'homeward.db'}"
    await office_with_returnees(url)
    flow = Flow(api, url, folder, bot_env(api, url, **env))
    flow.users = [TelegramUser(api, user_id) for user_id in RETURNEES]
    flow.ana = TelegramUser(api, STAFF, first_name="Ana", last_name="Ionescu", username="ana_iom")
    return flow


def _texts(api: FakeBotApi, chat_id: int) -> list[str]:
    view = api.chats.get(chat_id)
    if view is None:
        return []
    return [str(m.get("text") or m.get("caption") or "") for m in view.messages.values()]
