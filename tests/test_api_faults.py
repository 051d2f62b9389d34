"""The Bot API failing for a while under a real `python -m bot run` process (issue 14, item 6a):
500, a proxy's 502 page, 429 with retry_after, and no answer at all (the request lost, or taken
by Telegram with only its answer lost), for getUpdates and the sends alike, while messages flow
both ways. Once the API is healthy: nothing lost, nothing twice (but for the one case below),
the bot never down, the outbox empty, no token in the output.

Duplicates, exactly: Telegram has no idempotency key for a send, so a call that Telegram did
carry out but whose answer never came back (timed out) cannot be told from one that never
arrived; the item is sent again. Each such call can make one extra copy of what it sent, and
nothing else does: extra copies of a message <= taken-but-unanswered calls that carried it.

The suite uses a short window; `python -m bench.faults_api --seconds 60` runs the full minute.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiogram.exceptions import TelegramServerError

from bot.app import create_bot
from bot.config import Settings
from tests.conftest import TOKEN
from tests.fakes.bot_api import BOT_ID, Call, FakeBotApi
from tests.flow import Flow, new_flow

KINDS: dict[str, dict[str, Any]] = {
    "500": {"status": 500},
    "502": {"status": 502},
    "429": {"status": 429, "retry_after": 5},
    "timeout": {"hang": True},
    "timeout-taken": {"hang": True, "taken": True},
}


@dataclass
class FaultRun:
    kind: str
    seconds: float
    messages: int = 0
    lost: list[str] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)
    # Per word, the calls Telegram carried out whose answer the bot never got.
    unanswered: dict[str, int] = field(default_factory=dict)
    faulted_polls: int = 0
    faulted_sends: int = 0
    # The timeout kinds: the most sends waiting for an answer at once, once the first send
    # timed out (before that, every destination's send was on its way at once).
    most_hanging: int = 0
    recovered_after: float = 0.0  # seconds from the window's end until all shown, outbox empty
    stayed_up: bool = False
    exit_code: int | None = None
    bad_lines: list[str] = field(default_factory=list)


def at_once(faulted: list[Call], client_timeout: float) -> int:
    """The most sends waiting for an answer at once (each waits `client_timeout`), counted
    from a second after the first one was given up (sends launched while the first timeouts
    were still on their way into the bot went side by side, rightly). The fake notes a call
    when it has read it, late on a busy machine: half a second of each wait is not counted."""
    sends = [c.at for c in faulted if c.method != "getUpdates"]
    if not sends:
        return 0
    since = min(sends) + client_timeout + 1
    spans = [(at, at + client_timeout - 0.5) for at in sends if at >= since]
    return max((sum(a <= start < b for a, b in spans) for start, _ in spans), default=0)


def carried(api: FakeBotApi, call: Call) -> str:
    """What a call put in a chat, as text: a copy's source, or a text sent."""
    if call.method == "copyMessage":
        source = api.user_messages.get((call.get("from_chat_id"), call.get("message_id")), {})
        return str(source.get("text", ""))
    return str(call.get("text", ""))


async def run_fault(
    folder: Path, kind: str, seconds: float, *, client_timeout: float, polling_timeout: int
) -> FaultRun:
    """One fault window of `seconds` while both ways keep writing; what came of it."""
    report = FaultRun(kind, seconds)
    api = FakeBotApi()
    await api.start()
    flow: Flow | None = None
    try:
        flow = await new_flow(
            api,
            folder,
            TELEGRAM_TIMEOUT_SECONDS=str(client_timeout),
            POLLING_TIMEOUT_SECONDS=str(polling_timeout),
            SEND_GROUP_PER_MINUTE="120",
        )
        await flow.start()
        assert flow.bot is not None
        await flow.warm_up()
        # A round is fetched, and the window opens while its relays are on their way out.
        last = await flow.round("before")
        await api.wait_for(
            lambda c: c.method == "getUpdates" and any(u["update_id"] == last for u in c.result),
            timeout=30,
        )
        api.fault_window(seconds, **KINDS[kind])
        ends = time.monotonic() + seconds
        rounds = 0
        while time.monotonic() < ends - 1:
            rounds += 1
            await flow.round(f"during {rounds}")
            await asyncio.sleep(max(1.0, seconds / 6))
        await asyncio.sleep(max(0.0, ends - time.monotonic()))
        await flow.round("after")
        await flow.all_shown(timeout=seconds + 400)
        await flow.drained(timeout=120)
        report.recovered_after = time.monotonic() - ends
        await asyncio.sleep(2)  # room for a duplicate, if there were one
        report.messages = len(flow.up) + len(flow.down)
        counts = flow.counts()
        report.lost = [w for w, n in counts.items() if n == 0]
        report.duplicates = {w: n - 1 for w, n in counts.items() if n > 1}
        for call in api.taken_unanswered:
            text = carried(api, call)
            for word in counts:
                if word in text:
                    report.unanswered[word] = report.unanswered.get(word, 0) + 1
        report.faulted_polls = sum(c.method == "getUpdates" for c in api.faulted)
        report.faulted_sends = sum(c.method != "getUpdates" for c in api.faulted)
        if KINDS[kind].get("hang"):
            report.most_hanging = at_once(api.faulted, client_timeout)
        report.stayed_up = flow.bot.process.returncode is None and flow.starts == 1
        report.exit_code = await flow.stop()
        report.bad_lines = flow.failed_or_token()
    finally:
        if flow is not None and flow.bot is not None and flow.bot.process.returncode is None:
            flow.bot.process.kill()
        await api.stop()
    assert not api.violations, api.violations
    return report


def check(report: FaultRun) -> None:
    assert report.faulted_polls > 0, "getUpdates never met the fault"
    assert report.faulted_sends > 0, "no send met the fault"
    assert report.lost == [], report
    for word, extra in report.duplicates.items():
        # Only a call Telegram carried out without the bot hearing of it may repeat a message.
        assert extra <= report.unanswered.get(word, 0), (word, extra)
    # Once a send failed, sends go one at a time: that is what bounds the repeats above.
    assert report.most_hanging <= 1, report
    assert report.stayed_up
    assert report.exit_code == 0
    assert report.bad_lines == []


@pytest.mark.parametrize("kind", list(KINDS))
async def test_the_bot_api_failing_for_a_while_loses_and_repeats_nothing(tmp_path, kind):
    report = await run_fault(tmp_path, kind, 12, client_timeout=3, polling_timeout=1)
    check(report)
    if kind != "timeout-taken":
        assert report.duplicates == {}


async def test_a_proxys_502_page_is_a_server_error_not_an_unreadable_answer(fake_api):
    # Otherwise the sender counts it against the message, and gives the message up in the end.
    settings = Settings(_env_file=None, bot_token=TOKEN, telegram_api_base=fake_api.base_url)
    bot = create_bot(settings)
    try:
        fake_api.fault_window(60, status=502)
        with pytest.raises(TelegramServerError):
            await bot.get_me()
        fake_api.fault_window(60, status=500)
        with pytest.raises(TelegramServerError):
            await bot.get_me()
        fake_api.fault = None
        assert (await bot.get_me()).id == BOT_ID
    finally:
        await bot.session.close()
