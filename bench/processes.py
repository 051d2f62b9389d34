"""Benchmark: Homeward on one and on two processes (webhook mode, PostgreSQL), and takeover.

    python -m bench.processes receive [--cases 400] [--messages 2000] [--in-flight 16]
    python -m bench.processes takeover [--kills 10]

receive:  real `python -m bot webhook` processes behind no proxy; the benchmark plays Telegram,
          posting the updates round-robin over the processes with `--in-flight` requests open per
          process, as Telegram does with max_connections. Reported per setup: updates answered
          per second (each answer comes after the update is handled and its outbox item
          committed), and how long until every message was copied to the group (only the leader
          sends). One process and two processes in the same run, on fresh databases.
takeover: two processes; the leader is killed with SIGKILL, and the time until the other one
          leads is measured; the killed one is started again as a follower; `--kills` times.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.onboarding import _fresh_postgres_database
from bench.relay import FIRST_USER, GROUP, TOKEN, seed
from bot.config import Settings
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.telegram_user import TelegramUser
from tests.test_intake_process import Output
from tests.test_process import bot_env, free_port, start_bot

SECRET = "bench-secret"


async def start(api: FakeBotApi, url: str, folder: Path) -> tuple[Output, int]:
    port = free_port()
    env = bot_env(
        api,
        url,
        WEBHOOK_URL="https://bench.example.org/hook",
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(port),
        SEND_OVERALL_PER_SECOND=str(10**6),
        SEND_GROUP_PER_MINUTE=str(10**9),
        SEND_PRIVATE_BURST=str(10**6),
        UPDATE_CONCURRENCY="16",
    )
    env["BOT_TOKEN"] = TOKEN
    output = Output(await start_bot("webhook", env, folder))
    await output.wait_for("webhook server on", timeout=60)
    return output, port


async def fresh_world(api: FakeBotApi, cases: int) -> str:
    url = await _fresh_postgres_database()
    settings = Settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_base=api.base_url,
        database_url=url,
        bot_username="bench_bot",
    )
    await seed(settings, cases, topics_open=True)
    return url


async def post_all(ports: list[int], updates: list[dict], in_flight: int) -> tuple[float, int]:
    """Post every update, round-robin over the ports; seconds taken and non-200 answers."""
    queues: list[asyncio.Queue[dict]] = [asyncio.Queue() for _ in ports]
    for n, update in enumerate(updates):
        queues[n % len(ports)].put_nowait(update)
    refused = 0

    async def worker(http: aiohttp.ClientSession, port: int, queue: asyncio.Queue[dict]) -> None:
        nonlocal refused
        while not queue.empty():
            update = queue.get_nowait()
            async with http.post(
                f"http://127.0.0.1:{port}/hook",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            ) as response:
                refused += response.status != 200

    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(
            *(
                worker(http, port, queue)
                for port, queue in zip(ports, queues, strict=True)
                for _ in range(in_flight)
            )
        )
    return time.monotonic() - started, refused


async def copied(api: FakeBotApi, texts: set[str]) -> float:
    """Wait until every text is in the group (as a copy or in a combined message)."""
    started = time.monotonic()
    while time.monotonic() - started < 600:
        shown = set()
        for call in api.calls:
            if call.result is None:
                continue
            if call.method == "copyMessage":
                source = api.user_messages.get((call.get("from_chat_id"), call.get("message_id")))
                if source is not None:
                    shown.add(source.get("text"))
            elif call.method == "sendMessage" and call.get("chat_id") == GROUP:
                shown |= {line.split("] ", 1)[-1] for line in call.get("text", "").splitlines()}
        if texts <= shown:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise TimeoutError("not every message reached the group")


async def receive(args: argparse.Namespace) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for processes in (1, 2, 1, 2):
            api = FakeBotApi()
            await api.start()
            url = await fresh_world(api, args.cases)
            started = [await start(api, url, Path(folder)) for _ in range(processes)]
            users = [TelegramUser(api, FIRST_USER + i) for i in range(args.cases)]
            updates = []
            texts = set()
            for n in range(args.messages):
                user = users[n % len(users)]
                # Longer than a short text, so each is its own copy (no combining).
                text = f"message {n} from {user.id} " + "x" * 300
                message = user.message(text)
                api.user_messages[(user.id, message["message_id"])] = message
                updates.append({"update_id": n + 1, "message": message})
                texts.add(text)
            try:
                seconds, refused = await post_all(
                    [port for _, port in started], updates, args.in_flight
                )
                delivered = await copied(api, texts)
            finally:
                for output, _ in started:
                    await output.stop()
                await api.stop()
            rows.append((processes, args.messages / seconds, refused, seconds + delivered))
            print(
                f"{processes} process(es): {args.messages / seconds:.0f} updates/s answered, "
                f"{refused} not 200, all copied after {seconds + delivered:.1f} s",
                flush=True,
            )
    one = statistics.mean(r[1] for r in rows if r[0] == 1)
    two = statistics.mean(r[1] for r in rows if r[0] == 2)
    print("\n| processes | updates/s answered (mean of 2 runs) | vs one |")
    print("| --- | ---: | ---: |")
    print(f"| 1 | {one:.0f} | 1.00 |")
    print(f"| 2 | {two:.0f} | {two / one:.2f} |")


def _leader(processes: list[tuple[Output, int]]) -> int | None:
    leading = [
        n
        for n, (output, _) in enumerate(processes)
        if any("this process leads" in line for line in output.lines)
    ]
    return leading[0] if len(leading) == 1 else None


async def takeover(args: argparse.Namespace) -> None:
    api = FakeBotApi()
    await api.start()
    times = []
    with tempfile.TemporaryDirectory() as folder:
        url = await fresh_world(api, 10)
        processes = [await start(api, url, Path(folder)) for _ in range(2)]
        try:
            await processes[0][0].wait_for("webhook server on")
            while (leader := _leader(processes)) is None:  # noqa: ASYNC110 - another process
                await asyncio.sleep(0.05)
            for _ in range(args.kills):
                other = 1 - leader
                killed_at = time.monotonic()
                await processes[leader][0].stop(signal.SIGKILL)
                await processes[other][0].wait_for("this process leads", timeout=60)
                times.append(time.monotonic() - killed_at)
                print(f"takeover in {times[-1]:.2f} s", flush=True)
                processes[leader] = await start(api, url, Path(folder))  # a follower now
                leader = other
        finally:
            for output, _ in processes:
                await output.stop()
            await api.stop()
    print(
        f"\n{len(times)} kills: takeover min {min(times):.2f} s, "
        f"median {statistics.median(times):.2f} s, max {max(times):.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    r = commands.add_parser("receive")
    r.add_argument("--cases", type=int, default=400)
    r.add_argument("--messages", type=int, default=2000)
    r.add_argument("--in-flight", type=int, default=16)
    t = commands.add_parser("takeover")
    t.add_argument("--kills", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(receive(args) if args.command == "receive" else takeover(args))


if __name__ == "__main__":
    main()
