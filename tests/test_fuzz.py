"""Issue 14, part 5: bad input, on purpose. Generated updates of every kind the Bot API has
(tests/fakes/updates.py, from the specification), from every actor of the authorisation world,
in every place, through the real bot's webhook; and malformed webhook requests.

Each update must be answered 200, fail nothing, log nothing of what it says, make only calls the
specification allows, and get its answer where one is due (tests/fuzzing.py). The bench runs the
same at scale: python -m bench.fuzz --updates 100000 --seed N.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, Phase, given, settings
from sqlalchemy import func, select

from bot.app import create_app
from bot.runner import webhook_application
from storage.models import Consent
from tests.conftest import RunningBot, make_settings
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.updates import (
    MARKER_PATTERN,
    Cast,
    Generated,
    Generator,
    RandomSource,
    message_kinds,
    update_kinds,
    updates,
)
from tests.fuzzing import SECRET, Fuzzing, cast_of, fake_problems, settle
from tests.test_authorisation import GROUP, build_world, settings_for

HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


@contextmanager
def fuzzing_world(tmp_path: Path) -> Iterator[tuple[asyncio.AbstractEventLoop, Fuzzing, Cast]]:
    """The authorisation world on SQLite, on a loop of its own so that Hypothesis (which runs
    test bodies synchronously) can drive it, one update at a time."""
    loop = asyncio.new_event_loop()
    api = FakeBotApi()
    loop.run_until_complete(api.start())
    bot = RunningBot(create_app(settings_for(api, f"sqlite+aiosqlite:///{tmp_path / 'f.db'}")), api)
    fuzzing: Fuzzing | None = None
    try:
        loop.run_until_complete(bot.start())
        world = loop.run_until_complete(build_world(bot))
        fuzzing = Fuzzing(bot, world)
        loop.run_until_complete(fuzzing.start())
        yield loop, fuzzing, loop.run_until_complete(cast_of(world))
        loop.run_until_complete(settle(bot))
        assert not fake_problems(api), "\n".join(fake_problems(api))
    finally:
        if fuzzing is not None:
            loop.run_until_complete(fuzzing.stop())
        loop.run_until_complete(bot.stop())
        loop.run_until_complete(api.stop())
        loop.close()


def no_marker_on_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    err = capfd.readouterr().err
    assert not MARKER_PATTERN.search(err), "a marker reached the process's stderr"


def test_every_kind_of_update_and_of_message(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Each update kind of the specification once, and each message kind as a message, from
    the actors in turn, in the places in turn: nothing fails, whoever sends it, wherever."""
    with fuzzing_world(tmp_path) as (loop, fuzzing, cast):
        generator = Generator(RandomSource(14), cast)
        problems: list[str] = []
        plan = [(kind, None) for kind in update_kinds()]
        plan += [("message", detail) for detail in message_kinds()]
        for n, (kind, detail) in enumerate(plan):
            generated = generator.update(kind)
            if detail is not None:  # this message kind, from the n-th actor in the n-th place
                actor = cast.actors[n % len(cast.actors)]
                place = cast.places[n % len(cast.places)]
                payload = generator.message(actor, place, detail)
                generated = Generated(
                    "message",
                    detail,
                    actor.key,
                    place.key,
                    {"update_id": generated.update["update_id"], "message": payload},
                )
            found = loop.run_until_complete(fuzzing.feed(generated))
            problems += [
                f"{kind}:{generated.detail} ({generated.actor}, {generated.place}): {p}"
                for p in found
            ]
        assert not problems, "\n".join(problems)
        assert fuzzing.tally.fed == len(plan)
    no_marker_on_stderr(capfd)


def test_a_returnee_sending_what_cannot_be_passed_on_is_told(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with fuzzing_world(tmp_path) as (loop, fuzzing, cast):
        generator = Generator(RandomSource(5), cast)
        returnee = next(a for a in cast.actors if a.key == "ret")
        problems = []
        for detail in ("poll", "dice", "game", "story", "paid_media", "web_app_data"):
            payload = generator.message(returnee, cast.place("private"), detail)
            generated = Generated(
                "message", detail, "ret", "private", {"update_id": 10**9, "message": payload}
            )
            generated.update["update_id"] += payload["message_id"]
            problems += loop.run_until_complete(fuzzing.feed(generated))
        assert not problems, "\n".join(problems)
        assert fuzzing.tally.answers_due == 6
    no_marker_on_stderr(capfd)


def test_a_seeded_sample_of_generated_updates(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with fuzzing_world(tmp_path) as (loop, fuzzing, cast):

        @settings(
            max_examples=150,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(updates(cast))
        def one(generated: Generated) -> None:
            problems = loop.run_until_complete(fuzzing.feed(generated))
            assert not problems, "\n".join(problems)

        one()
        # The sample reached the handlers, not only the answer to strangers: it came from
        # many actors, in many places, and the bot answered and relayed.
        assert len({key.split(":")[0] for key in fuzzing.tally.kinds}) >= 5
        assert len(fuzzing.tally.senders) >= 8, fuzzing.tally.senders
        assert fuzzing.api.calls_to("answerCallbackQuery")
        assert fuzzing.api.calls_to("copyMessage") or fuzzing.api.calls_to("sendMessage")
    no_marker_on_stderr(capfd)


# ---- malformed webhook requests -------------------------------------------------------------


async def test_malformed_webhook_requests_get_4xx_and_nothing_is_handled(
    fake_api: FakeBotApi, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings(fake_api, sqlite_url, webhook_max_body_bytes=64 * 1024)
    web_app, app = webhook_application(settings, SECRET, "/hook")
    await app.prepare()
    client = TestClient(TestServer(web_app))
    await client.start_server()
    marker = "ZQM424242"
    good: dict[str, Any] = {
        "update_id": 7,
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": {"id": 900, "type": "private", "first_name": marker},
            "from": {"id": 900, "is_bot": False, "first_name": marker},
            "text": f"/start {marker}",
        },
    }
    body = json.dumps(good)
    deep = "[" * 100_000 + "]" * 100_000
    requests: dict[str, tuple[dict[str, str], bytes]] = {
        "no secret": ({}, body.encode()),
        "a wrong secret": ({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, body.encode()),
        "a secret differing in case": (
            {"X-Telegram-Bot-Api-Secret-Token": SECRET.upper()},
            body.encode(),
        ),
        "malformed JSON": (HEADERS, body[:-3].encode()),
        "not UTF-8": (HEADERS, b'{"update_id": 7, "x": "\xff\xfe"}'),
        "an empty body": (HEADERS, b""),
        "a list": (HEADERS, json.dumps([good]).encode()),
        "a number": (HEADERS, b"7"),
        "a string": (HEADERS, json.dumps(body).encode()),
        "null": (HEADERS, b"null"),
        "an object without update_id": (HEADERS, json.dumps(good["message"]).encode()),
        "an update_id that is not a number": (
            HEADERS,
            json.dumps({**good, "update_id": "7"}).encode(),
        ),
        "JSON nested too deep": (HEADERS, deep.encode()),
        "an oversized body": (
            HEADERS,
            json.dumps({**good, "padding": marker * 20_000}).encode(),
        ),
    }
    try:
        for what, (headers, data) in requests.items():
            response = await client.post(
                "/hook", data=data, headers={"Content-Type": "application/json", **headers}
            )
            assert 400 <= response.status < 500, f"{what}: {response.status}"
        # Nothing was handled: no answer to anyone, nobody recorded.
        assert not fake_api.calls_to("sendMessage")
        async with app.sessionmaker() as session:
            assert not await session.scalar(select(func.count()).select_from(Consent))
        assert not app.metrics.updates.values.get(("ok",))
        # And the same update, rightly sent, is handled: the refusals were the requests'.
        response = await client.post("/hook", data=body, headers=HEADERS)
        assert response.status == 200
        await fake_api.wait_for(lambda c: c.method == "sendMessage" and c["chat_id"] == 900)
    finally:
        await client.close()
        await app.close()
    assert marker not in caplog.text


# ---- what the fuzzing found ---------------------------------------------------------------


def test_what_the_fuzzing_found_stays_fixed(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Each of these failed before its fix (bot/middlewares/reply_press.py,
    bot/handlers/__init__.py, bot/services/relay.py, bot/cli.py's QUIET_LOGGERS)."""
    with fuzzing_world(tmp_path) as (loop, fuzzing, cast):
        generator = Generator(RandomSource(3), cast)
        by_key = {actor.key: actor for actor in cast.actors}
        private = cast.place("private")

        def message(actor: str, **content: Any) -> Generated:
            payload = generator.envelope(by_key[actor], private)
            payload.update(content)
            return Generated(
                "message", "text", actor, "private", {"update_id": 0, "message": payload}
            )

        def fed(generated: Generated) -> list[str]:
            generated.update["update_id"] = generator.new_id()
            return loop.run_until_complete(fuzzing.feed(generated))

        problems: list[str] = []
        # The returnee opens the menu twice: aiogram-dialog takes the first window's buttons
        # away and logged the chat, with the person's name, at DEBUG.
        for _ in range(2):
            command = [{"type": "bot_command", "offset": 0, "length": 5}]
            problems += fed(message("ret", text="/menu", entities=command))
        problems += fed(message("ret", text=f"{generator.marker()} are you there?"))
        # A reply to a message without a sender ("from" may be left out): aiogram-dialog read
        # the sender's id and failed.
        quoted = generator.envelope(by_key["ret"], private)
        del quoted["from"]
        quoted["text"] = generator.marker()
        problems += fed(message("ret", text=generator.marker(), reply_to_message=quoted))
        # A button pressed without data (a game's): the dialogs failed on it.
        press = generator.callback_query(by_key["ret"], private)
        press.pop("data", None)
        press["game_short_name"] = "lucky"
        press_update = Generated(
            "callback_query",
            "callback_query",
            "ret",
            "private",
            {"update_id": 0, "callback_query": press},
        )
        fuzzing._remember(press_update)
        problems += fed(press_update)
        # (Compared as text: without the specification the fake cannot tell it is a string.)
        answered = fuzzing.api.calls_to("answerCallbackQuery")
        if not [c for c in answered if str(c.get("callback_query_id")) == press["id"]]:
            problems.append("the press without data was never answered")
        # A counsellor's photo whose caption ends in a space covered by an entity: the relay
        # stripped the caption under its entities, and Telegram would refuse the copy.
        caption = f"{generator.marker()} mine "
        problems += fed(
            message(
                "oco",
                photo=[{"file_id": "p", "file_unique_id": "up", "width": 9, "height": 9}],
                caption=caption,
                caption_entities=[{"type": "bold", "offset": len(caption) - 1, "length": 1}],
            )
        )
        loop.run_until_complete(settle(fuzzing.bot))
        problems += fake_problems(fuzzing.api)
        assert not problems, "\n".join(problems)
        assert fuzzing.api.calls_to("copyMessage", from_chat_id=223)
    no_marker_on_stderr(capfd)


def test_a_long_text_with_a_blank_tail_reaches_the_topic_without_an_empty_part(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Found by bench/fuzz.py: a counsellor's text over the limit with the bot's header, whose
    tail is only line breaks, was split into a blank part that Telegram refuses as empty
    (bot/delivery/renderers.py leaves such parts out)."""
    with fuzzing_world(tmp_path) as (loop, fuzzing, cast):
        generator = Generator(RandomSource(4), cast)
        counsellor = next(a for a in cast.actors if a.key == "oco")
        for tail in ("\n" * 4085, " \n" * 2042):
            payload = generator.envelope(counsellor, cast.place("private"))
            payload["text"] = generator.marker() + " " + tail
            generated = Generated(
                "message", "text", "oco", "private", {"update_id": 0, "message": payload}
            )
            generated.update["update_id"] = generator.new_id()
            assert not loop.run_until_complete(fuzzing.feed(generated))
        loop.run_until_complete(settle(fuzzing.bot))
        assert not fake_problems(fuzzing.api), fake_problems(fuzzing.api)
        assert len(fuzzing.api.calls_to("sendMessage", chat_id=GROUP)) >= 2
    no_marker_on_stderr(capfd)


def test_a_caption_with_a_blank_tail_reaches_the_topic_without_an_empty_text(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Found by bench/fuzz.py (seed 2): a counsellor's photo whose caption, with the bot's
    header, runs past 1,024 characters only by spaces sent those spaces on as a text of their own,
    which Telegram refuses as empty."""
    with fuzzing_world(tmp_path) as (loop, fuzzing, cast):
        generator = Generator(RandomSource(5), cast)
        counsellor = next(a for a in cast.actors if a.key == "oco")
        payload = generator.envelope(counsellor, cast.place("private"))
        payload["photo"] = [
            {"file_id": "blank-tail-photo", "file_unique_id": "btp", "width": 90, "height": 90}
        ]
        payload["caption"] = generator.marker() + " " * 1010
        generated = Generated(
            "message", "photo", "oco", "private", {"update_id": 0, "message": payload}
        )
        generated.update["update_id"] = generator.new_id()
        assert not loop.run_until_complete(fuzzing.feed(generated))
        loop.run_until_complete(settle(fuzzing.bot))
        assert not fake_problems(fuzzing.api), fake_problems(fuzzing.api)
        copies = fuzzing.api.calls_to("copyMessage", chat_id=GROUP)
        assert copies
        assert copies[-1]["caption"].startswith("✉️")
    no_marker_on_stderr(capfd)
