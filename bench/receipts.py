"""Benchmark: a burst of receipt cards into one office's topics, within Telegram's group limit.

    python -m bench.receipts [--cases 200] [--scale 60] [--files 1]
                             [--database sqlite|postgresql] [--groups 1] [--groups 2]

Every case of office RO already has its topic open (as after earlier messages). Each returnee's
photo of a receipt is in their private chat (put straight into the fake Bot API's store, so the
bot never handles it as a message), and one receipt per case is submitted through the real
service (`receipts.submit`), all in one transaction. Then Homeward starts, as in production
(`serve_polling`), and drains the outbox: per receipt the files are copied into the case's topic
(copyMessages) and the card is posted in reply to the first copy (sendMessage with buttons).

The fake Bot API enforces 20 calls a minute per group and answers 429 beyond; time is divided by
--scale (at 60 a minute lasts a second), for the sender's windows as for the fake's. With two
groups the office has a second inbox and half the cases have their topics there.

Reported per scenario: time from the sender's start to the last card (scaled, and back in real
minutes), 429 answers, the share of each group's budget used while draining, Telegram calls per
card, and lost or duplicated cards (from the fake's calls and from the receipts' rows).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from bench.onboarding import _fresh_postgres_database
from bench.relay import FIRST_USER, GROUP, TOKEN, seed
from bot.app import create_app
from bot.config import Settings
from bot.runner import serve_polling
from bot.services import budget, offices, receipts
from bot.services.receipts import ReceiptFileRef
from storage.models import Case, PaidAs, Receipt
from tests.fakes.bot_api import FakeBotApi

GROUP2 = -100778
PHOTO_FIRST_ID = 500  # message ids of the photos in each returnee's private chat
WAIT_FOR_EXTRA_WINDOWS = 3  # after the last card, how long to watch for duplicates


def photo_message(user: int, message_id: int) -> dict:
    """A photo a returnee sent privately, as Telegram describes it."""
    return {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": {"id": user, "type": "private", "first_name": "User"},
        "from": {"id": user, "is_bot": False, "first_name": "User", "language_code": "en"},
        "photo": [
            {"file_id": f"s-{user}-{message_id}", "file_unique_id": f"us-{user}-{message_id}",
             "width": 90, "height": 90},
            {"file_id": f"b-{user}-{message_id}", "file_unique_id": f"ub-{user}-{message_id}",
             "width": 1280, "height": 960, "file_size": 200_000},
        ],
    }  # fmt: skip


async def prepare(settings: Settings, api: FakeBotApi, args: argparse.Namespace, groups: int):
    """The office, its cases with topics open, the budget, the photos and one receipt per case.
    Returns how long the submits took (seconds) and each case's (inbox, topic) by returnee."""
    await seed(settings, args.cases, topics_open=True)
    app = create_app(settings)
    await app.prepare()
    async with app.sessionmaker() as session:
        await budget.set_category(
            session,
            programme="dk",
            category="housing",
            maximum="900",
            currency="USD",
            paid_as=PaidAs.IN_KIND,
        )
        await session.execute(update(Case).values(programme="dk"))
        if groups == 2:
            await offices.update_office(session, "RO", add_inbox=GROUP2)
            # place_in_inbox only places cases without a topic; these have theirs already,
            # so half of them are seeded as if their topics had been opened in the second group.
            await session.execute(update(Case).where(Case.id % 2 == 0).values(inbox_chat_id=GROUP2))
        await session.commit()
    for i in range(args.cases):
        user = FIRST_USER + i
        for n in range(args.files):
            message = photo_message(user, PHOTO_FIRST_ID + n)
            api.user_messages[(user, message["message_id"])] = message
    started = time.monotonic()
    async with app.sessionmaker() as session:
        cases = (
            await session.scalars(
                select(Case).options(selectinload(Case.office), selectinload(Case.returnee))
            )
        ).all()
        places = {}
        for case in cases:
            assert case.returnee is not None
            user = case.returnee.telegram_user_id
            places[user] = (case.inbox_chat_id, case.topic_id)
            await receipts.submit(
                session,
                case,
                case.returnee,
                category="housing",
                amount=Decimal("120.50"),
                currency="USD",
                description="Rent for November",
                files=[
                    ReceiptFileRef(f"ub-{user}-{PHOTO_FIRST_ID + n}", user, PHOTO_FIRST_ID + n)
                    for n in range(args.files)
                ],
                on=date(2026, 12, 4),
            )
        await session.commit()
    submitted = time.monotonic() - started
    await app.close()
    return submitted, places


async def drain(settings: Settings, api: FakeBotApi, cases: int) -> tuple[float, float]:
    """Homeward as it runs, until every card is posted (and a few windows more, so that a
    duplicate would show). Returns when the sender started and when the last card arrived."""
    app = create_app(settings)
    await app.prepare()
    stop = asyncio.Event()
    task = asyncio.create_task(serve_polling(app, stop, polling_timeout=1))
    try:
        while not app.leadership.leading:  # noqa: ASYNC110 - a flag set by another task
            await asyncio.sleep(0.02)
        started = time.monotonic()
        seen, cards = 0, 0
        while cards < cases:
            await asyncio.sleep(0.02)
            calls = api.calls[seen:]
            seen += len(calls)
            cards += sum(1 for c in calls if _is_card(c))
            if time.monotonic() - started > 3600:
                raise TimeoutError(f"only {cards} of {cases} cards posted")
        last = max(c.at for c in api.calls if _is_card(c))
        await asyncio.sleep(WAIT_FOR_EXTRA_WINDOWS * settings.send_group_window_seconds)
        return started, last
    finally:
        stop.set()
        await api.wake_pollers()
        await task
        await app.close()


def _is_card(call) -> bool:
    return (
        call.method == "sendMessage"
        and int(call.get("chat_id", 0)) < 0
        and call.result is not None
        and "inline_keyboard" in (call.get("reply_markup") or {})
    )


async def check_rows(settings: Settings) -> list[tuple[int, int | None, int | None]]:
    """Each receipt's card as the database has it: (case, card chat, card message)."""
    app = create_app(settings)
    await app.prepare()
    async with app.sessionmaker() as session:
        rows = (
            await session.execute(
                select(Receipt.case_id, Receipt.card_chat_id, Receipt.card_message_id)
            )
        ).all()
    await app.close()
    return [tuple(row) for row in rows]


async def scenario(args: argparse.Namespace, kind: str, groups: int, folder: str) -> dict:
    window = 60 / args.scale
    api = FakeBotApi(group_limit=(20, window))
    await api.start()
    url = (
        f"sqlite+aiosqlite:///{Path(folder) / f'receipts-{groups}.db'}"
        if kind == "sqlite"
        else await _fresh_postgres_database()
    )
    settings = Settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_base=api.base_url,
        database_url=url,
        bot_username="bench_bot",
        send_group_per_minute=20,
        send_group_window_seconds=window,
        # Telegram's 30 a second overall, on the same scaled clock as the group windows.
        send_overall_per_second=int(30 * args.scale),
    )
    try:
        submitted, places = await prepare(settings, api, args, groups)
        mark = len(api.calls)
        started, last = await drain(settings, api, args.cases)
        rows = await check_rows(settings)
    finally:
        await api.stop()
    calls = [c for c in api.calls[mark:] if c.result is not None]
    chats = (GROUP, GROUP2)[:groups]
    group_calls = [c for c in calls if c.get("chat_id") in chats]
    budget_used = {}
    for chat in chats:
        mine = [c for c in group_calls if c.get("chat_id") == chat]
        span = max(c.at for c in mine) - min(c.at for c in mine)
        budget_used[chat] = (len(mine), span, len(mine) / (20 * (span / window + 1)))
    # Copies by returnee (from the copyMessages calls), cards by the copy they reply to.
    copy_owner: dict[tuple[int, int], int] = {}
    copies = Counter()
    misplaced = 0
    for c in calls:
        if c.method == "copyMessages":
            user = int(c["from_chat_id"])
            copies[user] += 1
            if (c["chat_id"], c.get("message_thread_id")) != places[user]:
                misplaced += 1
            for result in c.result:
                copy_owner[(c["chat_id"], result["message_id"])] = user
    cards = Counter()
    unreplied = 0
    for c in calls:
        if _is_card(c):
            replied = (c["chat_id"], (c.get("reply_parameters") or {}).get("message_id"))
            user = copy_owner.get(replied)
            if user is None:
                unreplied += 1
                continue
            cards[user] += 1
            if (c["chat_id"], c.get("message_thread_id")) != places[user]:
                misplaced += 1
    posted = {(c["chat_id"], c.result["message_id"]) for c in calls if _is_card(c)}
    in_rows = [(chat, message) for _, chat, message in rows]
    return {
        "kind": kind,
        "groups": groups,
        "submit_s": submitted,
        "drain_s": last - started,
        "first_to_last_s": last - min(c.at for c in group_calls),
        "refused_429": api.refused_429,
        "budget": budget_used,
        "methods": Counter(c.method for c in group_calls),
        "posted": sum(len(c.result) if c.method == "copyMessages" else 1 for c in group_calls),
        "calls_per_card": len(group_calls) / max(1, sum(cards.values())),
        "lost": args.cases - len(cards) + unreplied,
        "duplicated": sum(n - 1 for n in cards.values()) + sum(n - 1 for n in copies.values()),
        "misplaced": misplaced,
        "rows_without_card": sum(1 for row in in_rows if row[1] is None),
        "rows_card_not_posted": sum(
            1 for row in in_rows if row[1] is not None and row not in posted
        ),
        "rows_shared_card": len(in_rows) - len(set(in_rows)),
        "receipts": len(rows),
        "violations": len(api.violations),
        "refused": Counter(
            c.method for c in api.calls[mark:] if c.result is None and c.method != "getUpdates"
        ),
        "calls": group_calls,
    }


def report(args: argparse.Namespace, result: dict) -> None:
    window = 60 / args.scale
    print(
        f"\n{result['kind']}, {result['groups']} group(s): {args.cases} receipts with "
        f"{args.files} file(s) each, 20 calls per {window:.2f} s per group"
    )
    print(f"  submitted in one transaction: {result['submit_s']:.2f} s")
    print(
        f"  every card in its topic: {result['drain_s']:.1f} s after the sender started "
        f"(= {result['drain_s'] * args.scale / 60:.1f} min real); first group call to last card "
        f"{result['first_to_last_s']:.1f} s"
    )
    refused = ", ".join(f"{m} {n}" for m, n in sorted(result["refused"].items())) or "none"
    print(f"  429 answers: {result['refused_429']} (calls refused: {refused})")
    for chat, (count, span, share) in result["budget"].items():
        print(f"  group {chat}: {count} calls in {span:.1f} s, budget used {share:.1%}")
    methods = ", ".join(f"{m} {n}" for m, n in sorted(result["methods"].items()))
    print(
        f"  group calls: {methods}; {result['calls_per_card']:.2f} per card; "
        f"messages posted in the groups: {result['posted']}"
    )
    print(
        f"  lost {result['lost']}, duplicated {result['duplicated']}, misplaced "
        f"{result['misplaced']}; receipts {result['receipts']}: without card "
        f"{result['rows_without_card']}, card not posted {result['rows_card_not_posted']}, "
        f"sharing a card {result['rows_shared_card']}; spec violations {result['violations']}"
    )


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for kind in args.database:
            for groups in args.groups:
                report(args, await scenario(args, kind, groups, folder))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--scale", type=float, default=60)
    parser.add_argument("--files", type=int, default=1, help="photos per receipt (1-10)")
    parser.add_argument("--database", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--groups", action="append", type=int, choices=[1, 2])
    args = parser.parse_args()
    args.database = args.database or ["sqlite"]
    args.groups = args.groups or [1, 2]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
