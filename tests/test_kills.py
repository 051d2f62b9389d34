"""The bot killed with SIGKILL at seeded moments of a burst (issue 14, item 6b): each run, a
burst of messages both ways arrives (returnees to their topics, staff to the returnees), the
process is killed once the fake Bot API has seen a seeded number of calls since the burst, it is
started again, and once the outbox is empty every message is counted where it must show.

Lost must be 0. A duplicate comes only from a send Telegram carried out that the bot had not yet
recorded when it died: such an item is still waiting after the kill while its message already
shows ("in doubt"), and it is sent again. Per kill, that is at most the deliveries in flight
(one per lane, at most the sender's 8 at once); each run checks duplicates <= in doubt.

The suite runs a few seeds; `python -m bench.kills --runs 20` runs more.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.bot_api import FakeBotApi
from tests.flow import Flow, new_flow

ROUNDS = 3  # per burst: each of 4 returnees writes and staff answer each: 8 messages a round
MOST_CALLS = 30  # kill moments: after 0 to this many Bot API calls since the burst


@dataclass
class KillRun:
    seed: int
    kill_after_calls: int
    calls_seen: int  # calls since the burst when the kill came (more, if the bot was quick)
    messages: int
    lost: int
    duplicates: int
    in_doubt: int
    polling_after: float  # seconds from the restart until its first getUpdates
    drained_after: float  # seconds from the restart until all shown and the outbox empty


async def kill_run(flow: Flow, seed: int) -> KillRun:
    assert flow.bot is not None
    api = flow.api
    rng = random.Random(seed)
    kill_after = rng.randrange(0, MOST_CALLS + 1)
    first_up, first_down = len(flow.up), len(flow.down)
    mark = len(api.calls)
    for n in range(ROUNDS):
        await flow.round(f"s{seed}r{n}")
    # Past the timeout the burst needed fewer calls: killed once it is all out.
    with contextlib.suppress(AssertionError):
        if kill_after > 0:
            await api.wait_for(lambda c: len(api.calls) - mark >= kill_after, after=mark, timeout=8)
    flow.bot.process.send_signal(signal.SIGKILL)
    calls_seen = len(api.calls) - mark
    await flow.bot.stop(signal.SIGKILL)
    assert flow.bot.process.returncode == -signal.SIGKILL
    doubt = await flow.in_doubt()
    restarted = time.monotonic()
    mark = len(api.calls)
    await flow.start()
    first_poll = await api.wait_for(lambda c: c.method == "getUpdates", after=mark, timeout=60)
    up, down = flow.up[first_up:], list(flow.down)[first_down:]
    await flow.shown(up, down, timeout=90)
    await flow.drained(timeout=60)
    drained = time.monotonic() - restarted
    await asyncio.sleep(1.5)  # room for a duplicate, if there were one
    counts = flow.counts()
    words = up + down
    return KillRun(
        seed=seed,
        kill_after_calls=kill_after,
        calls_seen=calls_seen,
        messages=len(words),
        lost=sum(counts[w] == 0 for w in words),
        duplicates=sum(counts[w] - 1 for w in words if counts[w] > 1),
        in_doubt=len(set(doubt) & set(words)),
        polling_after=first_poll.at - restarted,
        drained_after=drained,
    )


async def run_kills(folder: Path, seeds: list[int]) -> tuple[list[KillRun], Flow]:
    """One world and one bot, warmed up; a kill run per seed; the bot stopped at the end."""
    api = FakeBotApi()
    await api.start()
    flow: Flow | None = None
    runs = []
    try:
        flow = await new_flow(api, folder, SEND_GROUP_PER_MINUTE="600")
        await flow.start()
        await flow.warm_up()
        for seed in seeds:
            runs.append(await kill_run(flow, seed))
        assert await flow.stop() == 0
    finally:
        if flow is not None and flow.bot is not None and flow.bot.process.returncode is None:
            flow.bot.process.kill()
        await api.stop()
    assert not api.violations, api.violations
    return runs, flow


async def test_sigkill_at_seeded_moments_of_a_burst_loses_nothing(tmp_path):
    runs, flow = await run_kills(tmp_path, [1, 3, 16])
    for run in runs:
        assert run.lost == 0, run
        assert run.duplicates <= run.in_doubt, run
    # Over all runs together too: nothing of an earlier run came again later.
    assert all(n == 1 for n in flow.counts().values()) or sum(
        n - 1 for n in flow.counts().values()
    ) == sum(r.duplicates for r in runs)
    assert flow.failed_or_token() == []
