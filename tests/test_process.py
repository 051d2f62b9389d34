"""`python -m bot run` and `python -m bot webhook` as real processes against the fake Bot API."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.paths import PROJECT_ROOT
from storage.db import create_engine, create_sessionmaker
from storage.migrate import upgrade_to_head
from tests.conftest import TOKEN
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.telegram_user import TelegramUser
from tests.world import consented_returnee_in, office_with_case


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bot_env(api: FakeBotApi, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WEBHOOK_"))}
    env.update(
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE=api.base_url,
        DATABASE_URL=database_url,
        BOT_USERNAME="homeward_test_bot",
        PYTHONPATH=str(PROJECT_ROOT),
    )
    # Scheduled work (check-ins) only where a test asks for it: most of these count messages.
    env.update({"SWEEP_SECONDS": "0", **extra})
    env.pop("REDIS_URL", None)
    return env


async def start_bot(mode: str, env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    # Started from a folder that is not the project's: paths must not depend on the cwd.
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        mode,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def stop(process: asyncio.subprocess.Process) -> str:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    output, _ = await asyncio.wait_for(process.communicate(), 20)
    return output.decode()


async def reply_to(api: FakeBotApi, user: TelegramUser, kind: str, payload: dict) -> int:
    mark = len(api.calls)
    update_id = await api.push_update(kind, payload)
    await api.wait_for(
        lambda c: c.method in {"sendMessage", "editMessageText"} and c.get("chat_id") == user.id,
        after=mark,
        timeout=30,
    )
    return update_id


async def press(api: FakeBotApi, user: TelegramUser, label: str) -> int:
    message, data = user._find_button(label)
    callback = {
        "id": f"cb{len(api.calls)}",
        "from": user.as_user(),
        "chat_instance": "ci",
        "message": message,
        "data": data,
    }
    return await reply_to(api, user, "callback_query", callback)


async def test_run_answers_start_and_keeps_a_half_finished_dialog_across_restart(
    fake_api, tmp_path
):
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'homeward.db'}"
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    async with create_sessionmaker(engine)() as session:
        token = await office_with_case(session)
    await engine.dispose()
    env = bot_env(fake_api, database_url)
    maria = TelegramUser(fake_api, 501)

    process = await start_bot("run", env, tmp_path)
    try:
        await reply_to(fake_api, maria, "message", maria.message(f"/start {token}"))
        assert maria.last_text() == "Please choose your language."
        last_update = await press(fake_api, maria, "English")
        assert maria.last_text().startswith("Before you write to your office")
    finally:
        output = await stop(process)
    assert process.returncode == 0, output
    assert "stopped" in output
    # Everything handled was confirmed before stopping, so nothing is handled twice.
    assert fake_api._confirmed_offset > last_update

    process = await start_bot("run", env, tmp_path)
    try:
        await press(fake_api, maria, "I agree")
        assert maria.last_text() == "Main menu. What would you like to do?"
    finally:
        output = await stop(process)
    assert process.returncode == 0, output
    for private in ("Maria", "maria_p", token, "Hello"):
        assert private not in output


async def test_webhook_rejects_requests_without_the_secret(fake_api, tmp_path):
    port = free_port()
    env = bot_env(
        fake_api,
        f"sqlite+aiosqlite:///{tmp_path / 'hw.db'}",
        WEBHOOK_URL="https://bot.example.org/tg/hook",
        WEBHOOK_SECRET="s3cret-value",
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(port),
    )
    process = await start_bot("webhook", env, tmp_path)
    stranger = TelegramUser(fake_api, 900)
    try:
        webhook = await fake_api.wait_for(lambda c: c.method == "setWebhook", timeout=30)
        assert webhook["url"] == "https://bot.example.org/tg/hook"
        assert webhook["secret_token"] == "s3cret-value"
        update = {"update_id": 1, "message": stranger.message("/start")}
        url = f"http://127.0.0.1:{port}/tg/hook"
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with http.post(url, json=update, headers=headers) as response:
                    assert response.status == 401
            assert not fake_api.calls_to("sendMessage")
            mark = len(fake_api.calls)
            secret = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-value"}
            async with http.post(url, json=update, headers=secret) as response:
                assert response.status == 200
        reply = await fake_api.wait_for(lambda c: c.method == "sendMessage", after=mark)
        assert reply["chat_id"] == 900
        assert reply["text"].startswith("Hello. This is Homeward")
    finally:
        output = await stop(process)
    assert process.returncode == 0, output


@pytest.mark.parametrize(
    ("env", "mode", "names"),
    [
        ({"BOT_TOKEN": ""}, "run", "BOT_TOKEN"),
        ({"BOT_TOKEN": "not-a-token"}, "run", "BOT_TOKEN"),
        ({"TELEGRAM_API_BASE": "ftp://x"}, "run", "TELEGRAM_API_BASE"),
        ({}, "webhook", "WEBHOOK_URL"),
        ({"WEBHOOK_URL": "https://bot.example.org/hook"}, "webhook", "WEBHOOK_SECRET"),
    ],
)
async def test_bad_configuration_fails_clearly(tmp_path, env, mode, names):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WEBHOOK_"))}
    full.update(
        BOT_TOKEN=TOKEN,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        PYTHONPATH=str(PROJECT_ROOT),
        TELEGRAM_API_BASE="http://127.0.0.1:9",
    )
    full.update(env)
    if full["BOT_TOKEN"] == "":
        del full["BOT_TOKEN"]
    process = await start_bot(mode, full, tmp_path)
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    lines = output.decode().strip().splitlines()
    assert len(lines) == 1
    assert names in lines[0]


async def test_sigkill_between_receiving_and_relaying_relays_exactly_once(fake_api, tmp_path):
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'homeward.db'}"
    await consented_returnee_in(database_url)
    env = bot_env(fake_api, database_url)
    maria = TelegramUser(fake_api, 501)

    fake_api.hold.add("copyMessage")  # Telegram never answers the copy: the bot dies waiting
    process = await start_bot("run", env, tmp_path)
    try:
        await fake_api.wait_for(lambda c: c.method == "getUpdates", timeout=30)
        sent = maria.message("Please call me, it is urgent")
        await fake_api.push_update("message", sent)
        deadline = asyncio.get_running_loop().time() + 30
        while fake_api.held == 0:
            assert asyncio.get_running_loop().time() < deadline, "the copy was never attempted"
            await asyncio.sleep(0.05)
    finally:
        process.kill()
        await process.wait()
    assert process.returncode == -signal.SIGKILL

    fake_api.hold.clear()
    mark = len(fake_api.calls)
    process = await start_bot("run", env, tmp_path)
    try:
        await fake_api.wait_for(
            lambda c: c.method == "copyMessage" and c.get("message_id") == sent["message_id"],
            after=mark,
            timeout=30,
        )
        await asyncio.sleep(1.5)  # room for a duplicate, if there were one
    finally:
        output = await stop(process)
    assert process.returncode == 0, output
    copies = [
        c for c in fake_api.calls_to("copyMessage") if c.get("message_id") == sent["message_id"]
    ]
    assert len(copies) == 1
    assert len(fake_api.calls_to("createForumTopic")) == 1
