"""Homeward on more than one process (issue 9, item 4): every process receives updates, only the
leader sends; a killed leader is replaced; SQLite allows one process only."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import date

import aiohttp

from bot.services import cases, invites, people
from bot.services.consent import give_consent
from storage.db import create_engine, create_sessionmaker
from storage.migrate import upgrade_to_head
from tests.conftest import REDIS_URL
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.telegram_user import TelegramUser
from tests.test_intake import group_texts
from tests.test_intake_process import Output
from tests.test_process import bot_env, free_port, start_bot
from tests.world import office_with_case

RETURNEES = (501, 502, 503, 504)
SECRET = "s3cret-value"


async def office_with_returnees(database_url: str) -> str:
    """Office RO with four consenting returnees; returns an invite for a fifth, not yet used."""
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    async with create_sessionmaker(engine)() as session:
        await office_with_case(session, case_code="RO-0001")
        await people.add_staff(session, office_code="RO", telegram_user_id=111, name="Ana")
        for n, user_id in enumerate(RETURNEES, start=1):
            if n > 1:
                await cases.add_case(
                    session,
                    office_code="RO",
                    code=f"RO-000{n}",
                    language="ro",
                    return_date=date(2026, 10, 1),
                )
            issued = await invites.invite_returnee(session, case_code=f"RO-000{n}", ttl_days=1)
            joined = await invites.redeem(session, token=issued.token, telegram_user_id=user_id)
            joined.person.language = "en"
            give_consent(session, joined.case, joined.person, language="en")
        await cases.add_case(session, office_code="RO", code="RO-0009", language="ro")
        fresh = await invites.invite_returnee(session, case_code="RO-0009", ttl_days=1)
        await session.commit()
    await engine.dispose()
    return fresh.token


class Process:
    def __init__(self, output: Output, port: int) -> None:
        self.output = output
        self.port = port

    @property
    def leads(self) -> bool:
        return any("this process leads" in line for line in self.output.lines)


async def start_webhook_process(
    api: FakeBotApi, database_url: str, tmp_path, redis: bool
) -> Process:
    port = free_port()
    env = bot_env(
        api,
        database_url,
        WEBHOOK_URL="https://bot.example.org/tg/hook",
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(port),
        # A short window, so that the group's limit is reached within the test.
        SEND_GROUP_PER_MINUTE="20",
        SEND_GROUP_WINDOW_SECONDS="3",
    )
    if redis:
        env["REDIS_URL"] = REDIS_URL
    process = Process(Output(await start_bot("webhook", env, tmp_path)), port)
    await process.output.wait_for("webhook server on", timeout=60)
    return process


class Deliverer:
    """Telegram's side of a webhook: updates spread over the processes, one at a time each."""

    def __init__(self, api: FakeBotApi) -> None:
        self.api = api
        self.next_id = 1

    async def post(self, process: Process, kind: str, payload: dict) -> int:
        if kind == "message":
            self.api.user_messages[(payload["chat"]["id"], payload["message_id"])] = payload
        update_id, self.next_id = self.next_id, self.next_id + 1
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{process.port}/tg/hook",
                json={"update_id": update_id, kind: payload},
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            ) as response,
        ):
            assert response.status == 200
        return update_id


async def all_shown_once(api: FakeBotApi, words: list[str], timeout: float = 60) -> list[str]:
    """Wait until every word reached the group; the words shown more than once."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not group_texts(api, *words):
        missing = [w for w in words if w not in "\n".join(group_texts(api))]
        assert asyncio.get_running_loop().time() < deadline, f"lost: {missing}"
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)  # room for a duplicate, if there were one
    joined = "\n".join(group_texts(api))
    return [w for w in words if joined.count(w) > 1]


async def test_two_processes_share_the_work_and_one_takes_over_from_a_killed_leader(
    postgres_url, tmp_path, redis_unavailable
):
    api = FakeBotApi(group_limit=(20, 3.0))
    await api.start()
    redis = redis_unavailable is None
    if redis:
        from redis.asyncio import Redis

        client = Redis.from_url(REDIS_URL)
        await client.flushdb()
        await client.aclose()
    fresh_token = await office_with_returnees(postgres_url)
    processes = [await start_webhook_process(api, postgres_url, tmp_path, redis) for _ in range(2)]
    deliver = Deliverer(api)
    try:
        deadline = time.monotonic() + 30
        while sum(p.leads for p in processes) != 1:
            assert time.monotonic() < deadline, "no process leads"
            await asyncio.sleep(0.1)
        leader = next(p for p in processes if p.leads)
        follower = next(p for p in processes if not p.leads)

        # A burst over both processes: every message once, the group's limit held.
        users = [TelegramUser(api, user_id) for user_id in RETURNEES]
        first = [f"burst one {n} from {u.id}" for n in range(5) for u in users]
        for n, word in enumerate(first):
            user = users[n % len(users)]
            await deliver.post(processes[n % 2], "message", user.message(word))
        assert await all_shown_once(api, first) == []

        if redis:
            # A dialog started on one process goes on on the other.
            newcomer = TelegramUser(api, 509)
            await deliver.post(leader, "message", newcomer.message(f"/start {fresh_token}"))
            await api.wait_for(
                lambda c: c.get("chat_id") == 509 and "language" in c.get("text", "")
            )
            message, data = newcomer._find_button("English")
            mark = len(api.calls)
            await deliver.post(
                follower,
                "callback_query",
                {
                    "id": "cb1",
                    "from": newcomer.as_user(),
                    "chat_instance": "ci509",
                    "message": message,
                    "data": data,
                },
            )
            await api.wait_for(
                lambda c: c.get("chat_id") == 509 and "Before you write" in c.get("text", ""),
                after=mark,
            )

        # The leader dies mid-burst; the follower takes over and nothing is lost.
        second = [f"burst two {n} from {u.id}" for n in range(6) for u in users]
        for n, word in enumerate(second[:8]):
            await deliver.post(follower, "message", users[n % len(users)].message(word))
        leader.output.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        await leader.output.stop(signal.SIGKILL)
        for n, word in enumerate(second[8:], start=8):
            await deliver.post(follower, "message", users[n % len(users)].message(word))
        await follower.output.wait_for("this process leads", timeout=15)
        takeover = time.monotonic() - killed_at
        assert takeover < 10, f"takeover took {takeover:.1f} s"
        duplicates = await all_shown_once(api, second)
        assert len(duplicates) <= 1, duplicates
        assert api.refused_429 == 0, "the group's limit was broken"
    finally:
        outputs = []
        for process in processes:
            outputs.append(await process.output.stop())
        await api.stop()
    assert not api.violations
    for output in outputs:
        assert "burst" not in output


async def test_a_second_process_on_the_same_sqlite_file_refuses_to_start(fake_api, tmp_path):
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'homeward.db'}"
    env = bot_env(fake_api, database_url)
    first = Output(await start_bot("run", env, tmp_path))
    try:
        await fake_api.wait_for(lambda c: c.method == "getUpdates", timeout=30)
        second = Output(await start_bot("run", env, tmp_path))
        await asyncio.wait_for(second.process.wait(), 30)
        output = await second.stop()
        assert second.process.returncode == 2
        lines = [line for line in output.splitlines() if line.strip()]
        assert lines[-1].startswith("error: another Homeward process is running"), output
        assert "Traceback" not in output
    finally:
        first_output = await first.stop()
    assert first.process.returncode == 0, first_output
