"""Operations (issue 14): /healthz and /metrics, in-process and as real processes in webhook and
polling mode, and JSON log lines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiogram import F
from aiogram.types import Message
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import create_app
from bot.health import check_health
from bot.log_format import use_format
from bot.log_privacy import HIDDEN, protect_handlers
from bot.metrics import (
    DatabaseFigures,
    ErrorPlace,
    Histogram,
    Metrics,
    UpdateOutcome,
    exposition,
    read_database_figures,
)
from bot.ops import ops_application
from bot.runner import webhook_application
from storage.models import Destination
from tests.conftest import POSTGRES_URL, REDIS_URL, TOKEN, RunningBot, make_settings
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.telegram_user import TelegramUser
from tests.test_inbox import GROUP, joined_returnee
from tests.test_intake import HEADERS, SECRET, read_only, unreadable
from tests.test_intake_process import Output
from tests.test_process import bot_env, free_port, start_bot
from tests.world import consented_returnee_in, office_with_case

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
_KINDS = {"counter", "gauge", "histogram", "summary", "untyped"}


def _labels(text: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _LABEL.match(text, position)
        assert match, f"bad label set {text!r}"
        unescaped = re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], match[2])
        pairs.append((match[1], unescaped))
        position = match.end()
        if position < len(text):
            assert text[position] == ",", f"bad label set {text!r}"
            position += 1
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"a label repeats in {text!r}"
    return tuple(sorted(pairs))


def parse_exposition(text: str) -> Samples:
    """Prometheus's text format (0.0.4), checked line by line: every family has one # HELP then
    one # TYPE before its samples, which come together; sample lines are `name{labels} value`;
    a histogram's buckets only grow, and its +Inf bucket equals its _count."""
    assert text.endswith("\n"), "the exposition ends with a newline"
    helped: set[str] = set()
    kinds: dict[str, str] = {}
    finished: set[str] = set()
    current: str | None = None
    samples: Samples = {}
    for line in text[:-1].split("\n"):
        assert line, "no empty lines"
        if line.startswith("# HELP "):
            name, _, help_text = line[len("# HELP ") :].partition(" ")
            assert re.fullmatch(_NAME, name), line
            assert help_text, line
            assert name not in helped, f"{name}: two HELP lines"
            helped.add(name)
            continue
        if line.startswith("# TYPE "):
            name, kind = line[len("# TYPE ") :].split(" ")
            assert name in helped, f"{name}: TYPE without HELP"
            assert name not in kinds, f"{name}: TYPE twice"
            assert kind in _KINDS, line
            kinds[name] = kind
            if current is not None:
                finished.add(current)
            current = name
            continue
        assert not line.startswith("#"), f"unknown comment {line!r}"
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, raw = match[1], _labels(match[2] or ""), match[3]
        family = name
        if name not in kinds:
            for suffix in ("_bucket", "_sum", "_count"):
                if name.endswith(suffix) and kinds.get(name.removesuffix(suffix)) == "histogram":
                    family = name.removesuffix(suffix)
        assert family in kinds, f"{name}: sample without TYPE"
        assert family == current, f"{name}: samples not together"
        assert family not in finished, f"{name}: samples not together"
        number = float(raw)  # also +Inf, -Inf, NaN
        if kinds[family] == "counter" or name.endswith(("_bucket", "_count")):
            assert number >= 0, line
        key = (name, labels)
        assert key not in samples, f"{line!r} repeats"
        samples[key] = number
    for family, kind in kinds.items():
        if kind != "histogram":
            continue
        series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
        for (name, labels), number in samples.items():
            if name == f"{family}_bucket":
                le = dict(labels)["le"]
                rest = tuple(pair for pair in labels if pair[0] != "le")
                series.setdefault(rest, []).append((float(le), number))
        for rest, buckets in series.items():
            buckets.sort()
            counts = [count for _, count in buckets]
            assert counts == sorted(counts), f"{family}{rest}: buckets shrink"
            assert math.isinf(buckets[-1][0]), f"{family}{rest}: no +Inf bucket"
            assert buckets[-1][1] == samples[(f"{family}_count", rest)]
            assert (f"{family}_sum", rest) in samples
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(client: TestClient) -> tuple[Samples, str]:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await response.text()
    return parse_exposition(text), text


# ---- the format itself ----------------------------------------------------------------------


def test_the_exposition_is_prometheus_text_format_line_by_line():
    metrics = Metrics()
    metrics.update_done(UpdateOutcome.OK)
    metrics.error(ErrorPlace.UPDATE, ValueError("a message that must not appear"))
    metrics.error(ErrorPlace.UPDATE, 'Odd"Name\\With\nEscapes')
    for seconds in (0.01, 0.3, 0.3, 7.0, 5000.0):
        metrics.sent(Destination.TOPIC, seconds)
    figures = DatabaseFigures(
        outbox={"pending": 2, "failed": 7},
        checkins={"asked": 1},
        checkins_due=3,
        outbound_paused=True,
    )
    text = exposition(metrics, figures, lag={-1001234: 12.5}, leading=True)
    samples = parse_exposition(text)
    assert "a message that must not appear" not in text
    assert value(samples, "homeward_updates_total", outcome="ok") == 1
    assert value(samples, "homeward_updates_total", outcome="failed") == 0
    assert ("homeward_updates_total", (("outcome", "failed"),)) in samples  # present at 0
    assert value(samples, "homeward_errors_total", where="update", kind="ValueError") == 1
    assert value(samples, "homeward_errors_total", where="update", kind='Odd"Name\\With\nEscapes')
    topic = {"destination": "topic"}
    latency = "homeward_relay_latency_seconds"
    assert value(samples, f"{latency}_count", **topic) == 5
    assert value(samples, f"{latency}_bucket", le="0.05", **topic) == 1
    assert value(samples, f"{latency}_bucket", le="0.5", **topic) == 3
    assert value(samples, f"{latency}_bucket", le="3600", **topic) == 4
    assert value(samples, f"{latency}_bucket", le="+Inf", **topic) == 5
    assert value(samples, f"{latency}_sum", **topic) == pytest.approx(5007.61)
    assert value(samples, f"{latency}_count", destination="private") == 0
    assert value(samples, "homeward_relay_lag_seconds", group="-1001234") == 12.5
    assert value(samples, "homeward_outbox_items", status="failed") == 7
    assert value(samples, "homeward_checkins_due") == 3
    assert value(samples, "homeward_outbound_paused") == 1
    assert value(samples, "homeward_leader") == 1
    assert value(samples, "homeward_database_up") == 1
    # Without the database: its figures are left out, the rest still answers.
    down = parse_exposition(exposition(metrics, None, lag={}, leading=False))
    assert value(down, "homeward_database_up") == 0
    assert value(down, "homeward_leader") == 0
    assert not any(name == "homeward_outbox_items" for name, _ in down)
    assert value(down, "homeward_updates_total", outcome="ok") == 1


def test_a_histogram_counts_each_observation_in_every_bucket_at_or_above_it():
    histogram = Histogram("h_seconds", "help", ("kind",), bounds=(1.0, 2.0))
    histogram.observe(1.0, "a")  # on the bound: counted in it
    histogram.observe(1.5, "a")
    histogram.observe(9.0, "a")
    samples = parse_exposition("\n".join(histogram.lines()) + "\n")
    assert value(samples, "h_seconds_bucket", kind="a", le="1") == 1
    assert value(samples, "h_seconds_bucket", kind="a", le="2") == 2
    assert value(samples, "h_seconds_bucket", kind="a", le="+Inf") == 3
    assert value(samples, "h_seconds_sum", kind="a") == 11.5


@pytest.mark.parametrize(
    "broken",
    [
        "# TYPE x counter\n# HELP x help\nx 1\n",  # TYPE before HELP
        '# HELP x help\n# TYPE x counter\nx{a="1"} 1\nx{a="1"} 2\n',  # a sample twice
        "# HELP x help\n# TYPE x counter\nx{a=1} 1\n",  # unquoted label value
        "# HELP x help\n# TYPE x counter\nx 1",  # no final newline
        "# HELP x help\n# TYPE x counter\ny 1\n",  # a sample of no declared family
        "# HELP h help\n# TYPE h histogram\n"
        'h_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',  # buckets shrink
    ],
)
def test_the_checker_itself_refuses_what_prometheus_would(broken):
    with pytest.raises(AssertionError):
        parse_exposition(broken)


# ---- the bot in-process ---------------------------------------------------------------------


async def with_ops(app) -> TestClient:
    client = TestClient(TestServer(ops_application(app)))
    await client.start_server()
    return client


async def test_metrics_move_as_updates_are_handled_relayed_and_fail(fake_api, database_url):
    """Through the real bot on both databases: updates by outcome, relay latency per destination,
    the lag of the staff group, the outbox and check-ins read from the database, failures by
    type; and nothing personal in any label."""
    app = create_app(make_settings(fake_api, database_url))

    async def crash(message: Message) -> None:
        raise RuntimeError(f"could not handle {message.text}")

    app.dispatcher.message.register(crash, F.text.contains("CRASH"))
    bot = RunningBot(app, fake_api)
    await bot.start()
    client = await with_ops(app)
    try:
        async with bot.session() as session:
            await office_with_case(session)
        await joined_returnee(bot)
        # On PostgreSQL the process is elected leader (and starts sending) within seconds.
        deadline = asyncio.get_running_loop().time() + 15
        while not app.leadership.leading:
            assert asyncio.get_running_loop().time() < deadline, "never led"
            await asyncio.sleep(0.1)
        before, _ = await scrape(client)
        assert value(before, "homeward_leader") == 1
        assert value(before, "homeward_database_up") == 1
        assert value(before, "homeward_checkins", status="scheduled") == 5

        maria = bot.user(501, first_name="Mariana", username="mariana_v88")
        words = [f"Hello from Craiova {n}" for n in range(3)]
        for word in words:
            await maria.send(word)
        await maria.send("CRASH near the station")
        await bot.settled()

        after, _ = await scrape(client)
        updates = "homeward_updates_total"
        assert value(after, updates, outcome="ok") - value(before, updates, outcome="ok") == 3
        assert value(after, updates, outcome="failed") == 1
        assert value(after, "homeward_errors_total", where="update", kind="RuntimeError") == 1
        latency = "homeward_relay_latency_seconds_count"
        assert value(after, latency, destination="topic") >= len(words)
        assert ("homeward_relay_lag_seconds", (("group", str(GROUP)),)) in after
        assert value(after, "homeward_outbox_items", status="pending") == 0
        assert value(after, "homeward_outbox_items", status="failed") == 0
        assert ("homeward_outbox_items", (("status", "sent"),)) not in after  # not a depth

        # Check-ins: the sweep at a moved clock asks the first; the gauges follow.
        first_due = datetime(2026, 11, 2, 12, tzinfo=UTC)
        async with bot.session() as session:
            assert (await read_database_figures(session, first_due)).checkins_due == 1
        await bot.app.sweeps.sweep(now=first_due)
        await bot.settled()
        async with bot.session() as session:
            figures = await read_database_figures(session, first_due)
        assert figures.checkins_due == 0
        assert (figures.checkins["asked"], figures.checkins["scheduled"]) == (1, 4)
        latest, text = await scrape(client)
        assert value(latest, "homeward_checkins", status="asked") == 1
        assert value(latest, "homeward_checkins", status="scheduled") == 4
        assert value(latest, latency, destination="private") >= 1  # the check-in's question
        for private in ("501", "RO-0007", "Craiova", "Mariana", "mariana_v88", "station"):
            assert private not in text
    finally:
        await client.close()
        await bot.stop()


async def test_a_failed_send_is_counted_by_its_type(fake_api, sqlite_url):
    app = create_app(make_settings(fake_api, sqlite_url))
    bot = RunningBot(app, fake_api)
    await bot.start()
    client = await with_ops(app)
    try:
        async with bot.session() as session:
            await office_with_case(session)
        await joined_returnee(bot)
        maria = bot.user(501)
        await maria.send("first, to open the topic")
        await bot.settled()
        fake_api.fail_next("copyMessage", 500, "Internal Server Error")
        sent = await maria.send("second, refused once then sent")
        await fake_api.wait_for(
            lambda c: (
                c.method == "copyMessage"
                and c.get("message_id") == sent["message_id"]
                and c.result is not None
            ),
            timeout=20,
        )
        await bot.settled(timeout=20)
        samples, _ = await scrape(client)
        errors = "homeward_errors_total"
        assert value(samples, errors, where="delivery", kind="TelegramServerError") == 1
    finally:
        await client.close()
        await bot.stop()


async def test_the_webhook_server_counts_retried_and_unreadable_updates(fake_api, sqlite_url):
    web_app, app = webhook_application(make_settings(fake_api, sqlite_url), SECRET, "/hook")
    await app.prepare()
    client = TestClient(TestServer(web_app))
    await client.start_server()
    try:
        response = await client.get("/healthz")
        assert response.status == 200
        assert await response.json() == {
            "status": "ok",
            "database": "ok",
            "schema": "current",
            "redis": "not configured",
        }
        async with app.sessionmaker() as session:
            await office_with_case(session)
        await joined_returnee_in(app)
        maria = TelegramUser(fake_api, 501)
        broken = unreadable(maria, "my sister in Iasi")
        later = maria.message("are you there?")
        fake_api.user_messages[(501, later["message_id"])] = later

        async def post(update_id: int, message: dict) -> int:
            update = {"update_id": update_id, "message": message}
            response = await client.post("/hook", json=update, headers=HEADERS)
            return response.status

        assert await post(1, broken) == 200
        with read_only(app.engine) as switch:
            assert await post(2, later) == 503
            switch[0] = False
            assert await post(2, later) == 200
        samples, text = await scrape(client)
        updates = "homeward_updates_total"
        assert value(samples, updates, outcome="unreadable") == 1
        assert value(samples, updates, outcome="retried") == 1
        assert value(samples, updates, outcome="ok") == 1
        retried = {"where": "update_retried", "kind": "OperationalError"}
        assert value(samples, "homeward_errors_total", **retried) == 1
        for private in ("Iasi", "sister", "there?"):
            assert private not in text
    finally:
        await client.close()
        await app.close()


async def test_healthz_is_503_while_the_schema_is_behind(fake_api, database_url):
    app = create_app(make_settings(fake_api, database_url))
    await app.prepare_database()
    client = await with_ops(app)
    try:
        response = await client.get("/healthz")
        assert (response.status, (await response.json())["status"]) == (200, "ok")
        async with app.engine.begin() as connection:
            head = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            await connection.execute(text("UPDATE alembic_version SET version_num = '0009'"))
        response = await client.get("/healthz")
        assert response.status == 503
        assert await response.json() == {
            "status": "unavailable",
            "database": "ok",
            "schema": f"database schema is at 0009, expected {head}",
            "redis": "not configured",
        }
    finally:
        await client.close()
        await app.close()


async def test_healthz_says_degraded_and_503_when_redis_does_not_answer(
    fake_api, sqlite_url, redis_unavailable
):
    nobody = f"redis://127.0.0.1:{free_port()}/15"
    app = create_app(make_settings(fake_api, sqlite_url, redis_url=nobody))
    await app.prepare_database()
    client = await with_ops(app)
    try:
        response = await client.get("/healthz")
        assert response.status == 503
        assert await response.json() == {
            "status": "degraded",
            "database": "ok",
            "schema": "current",
            "redis": "Redis does not answer: ConnectionError",
        }
    finally:
        await client.close()
        await app.close()
    if redis_unavailable:
        pytest.skip(f"Redis at {REDIS_URL} does not answer ({redis_unavailable})")
    health = await check_health(make_settings(fake_api, sqlite_url, redis_url=REDIS_URL))
    assert health.summary()["status"] == "ok"
    assert health.summary()["redis"] == "ok"


async def joined_returnee_in(app) -> None:
    class Holder:
        def session(self):
            return app.sessionmaker()

    await joined_returnee(Holder())  # type: ignore[arg-type]


# ---- JSON logs ------------------------------------------------------------------------------


def test_a_json_log_line_is_valid_json_and_still_hides_the_token():
    """The privacy filter sits on the handler, before the JSON formatter: the same handler set-up
    as `python -m bot` (protect_handlers, then use_format)."""
    written: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            written.append(self.format(record))

    logger = logging.getLogger("test.json_logs")
    logger.propagate = False
    logger.addHandler(Keep())
    try:
        protect_handlers([TOKEN, "webhook-secret-value"], logger)
        use_format("json", logger)
        words = "They found me in Craiova"
        try:
            raise ConnectionError(f"http://x/bot{TOKEN}/getMe: {words}")
        except ConnectionError:
            logger.exception("request to %s failed\nsecond line", f"http://x/bot{TOKEN}/getMe")
        logger.warning("secret %s", "webhook-secret-value")
    finally:
        logger.handlers.clear()
    assert len(written) == 2
    lines = [json.loads(line) for line in written]
    assert all("\n" not in line for line in written)  # one line each
    first, second = lines
    assert set(first) == {"time", "level", "logger", "message", "exception"}
    assert first["level"] == "ERROR"
    assert first["logger"] == "test.json_logs"
    assert first["message"] == f"request to http://x/bot{HIDDEN}/getMe failed\nsecond line"
    assert "ConnectionError (message withheld)" in first["exception"]
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert second["message"] == f"secret {HIDDEN}"
    for private in (TOKEN, TOKEN.split(":")[1], "webhook-secret-value", "Craiova"):
        assert all(private not in line for line in written)


async def test_a_process_with_json_logs_writes_only_json_lines(fake_api, tmp_path):
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'homeward.db'}"
    await consented_returnee_in(database_url)
    env = bot_env(fake_api, database_url, LOG_FORMAT="json")
    maria = TelegramUser(fake_api, 501, first_name="Mariana")
    bot = Output(await start_bot("run", env, tmp_path))
    try:
        await bot.wait_for('"message": "polling')
        await fake_api.push_update("message", maria.message("Hello from Craiova"))
        await fake_api.wait_for(lambda c: c.method == "copyMessage", timeout=30)
        await bot.wait_for("is handled")
    finally:
        output = await bot.stop()
    assert bot.process.returncode == 0, output
    lines = [json.loads(line) for line in output.splitlines()]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert any(line["message"] == "stopped" for line in lines)
    for private in (TOKEN, "Craiova", "Mariana"):
        assert private not in output


async def test_an_unknown_log_format_fails_in_one_line(tmp_path):
    api = FakeBotApi()
    env = bot_env(api, f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", LOG_FORMAT="xml")
    env["TELEGRAM_API_BASE"] = "http://127.0.0.1:9"
    process = await start_bot("run", env, tmp_path)
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    lines = output.decode().strip().splitlines()
    assert len(lines) == 1
    assert "LOG_FORMAT" in lines[0]


# ---- real processes: health and metrics -----------------------------------------------------


@contextlib.asynccontextmanager
async def unreadable_database(database_url: str) -> AsyncIterator[None]:
    """The database stops answering new connections, then comes back. SQLite: the file's header
    is overwritten (SQLite then says "file is not a database"); PostgreSQL: the database allows
    no connections (superusers included)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(str(url.database))
        header = _overwrite_header(path, b"this is not a SQLite database".ljust(100, b"\0"))
        try:
            yield
        finally:
            _overwrite_header(path, header)
        return
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = url.database
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        try:
            yield
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    finally:
        await admin.dispose()


def _overwrite_header(path: Path, header: bytes) -> bytes:
    with path.open("r+b") as file:
        old = file.read(len(header))
        file.seek(0)
        file.write(header)
    return old


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as response:
        return response.status, await response.text()


async def test_webhook_process_healthz_is_200_then_503_with_the_database_unreadable(
    fake_api, tmp_path, database_url
):
    await consented_returnee_in(database_url)
    port = free_port()
    env = bot_env(
        fake_api,
        database_url,
        WEBHOOK_URL="https://bot.example.org/tg/hook",
        WEBHOOK_SECRET="s3cret-value",
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(port),
    )
    maria = TelegramUser(fake_api, 501)
    base = f"http://127.0.0.1:{port}"
    bot = Output(await start_bot("webhook", env, tmp_path))
    try:
        await fake_api.wait_for(lambda c: c.method == "setWebhook", timeout=30)
        async with aiohttp.ClientSession() as http:
            status, body = await get(http, f"{base}/healthz")
            assert status == 200, body
            assert json.loads(body)["status"] == "ok"
            status, body = await get(http, f"{base}/metrics")
            before = parse_exposition(body)

            message = maria.message("Hello from Craiova")
            fake_api.user_messages[(501, message["message_id"])] = message
            headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-value"}
            update = {"update_id": 1, "message": message}
            async with http.post(f"{base}/tg/hook", json=update, headers=headers) as response:
                assert response.status == 200
            await fake_api.wait_for(
                lambda c: c.method == "copyMessage" and c.get("chat_id") == GROUP, timeout=30
            )
            status, body = await get(http, f"{base}/metrics")
            assert status == 200
            after = parse_exposition(body)
            updates = "homeward_updates_total"
            assert value(after, updates, outcome="ok") == value(before, updates, outcome="ok") + 1
            latency = "homeward_relay_latency_seconds_count"
            deadline = asyncio.get_running_loop().time() + 10
            while value(after, latency, destination="topic") < 1:
                assert asyncio.get_running_loop().time() < deadline, "no relay was counted"
                await asyncio.sleep(0.1)
                after = parse_exposition((await get(http, f"{base}/metrics"))[1])

            async with unreadable_database(database_url):
                status, body = await get(http, f"{base}/healthz")
                assert status == 503, body
                answer = json.loads(body)
                assert answer["status"] == "unavailable"
                assert answer["database"].startswith("database does not answer: ")
                assert answer["schema"] == "unknown"
            status, body = await get(http, f"{base}/healthz")
            assert status == 200, body
    finally:
        output = await bot.stop()
    assert bot.process.returncode == 0, output
    assert "/healthz" not in output  # not in the access log
    assert "/metrics" not in output
    assert "Craiova" not in output


@pytest.mark.parametrize("mode", ["run", "webhook"])
async def test_metrics_port_serves_health_and_metrics_in_either_mode(fake_api, tmp_path, mode):
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'homeward.db'}"
    await consented_returnee_in(database_url)
    metrics_port, webhook_port = free_port(), free_port()
    env = bot_env(
        fake_api,
        database_url,
        METRICS_PORT=str(metrics_port),
        METRICS_HOST="127.0.0.1",
        WEBHOOK_URL="https://bot.example.org/tg/hook",
        WEBHOOK_SECRET="s3cret-value",
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(webhook_port),
    )
    maria = TelegramUser(fake_api, 501)
    ops = f"http://127.0.0.1:{metrics_port}"
    bot = Output(await start_bot(mode, env, tmp_path))
    try:
        ready = "getUpdates" if mode == "run" else "setWebhook"
        await fake_api.wait_for(lambda c: c.method == ready, timeout=30)
        await bot.wait_for(f"health and metrics on 127.0.0.1:{metrics_port}")
        async with aiohttp.ClientSession() as http:
            status, body = await get(http, f"{ops}/healthz")
            assert (status, json.loads(body)["status"]) == (200, "ok")
            before = parse_exposition((await get(http, f"{ops}/metrics"))[1])

            message = maria.message("Hello from Craiova")
            if mode == "run":
                await fake_api.push_update("message", message)
            else:
                # Not on the public webhook port when they have a port of their own.
                hook = f"http://127.0.0.1:{webhook_port}"
                assert (await get(http, f"{hook}/healthz"))[0] == 404
                assert (await get(http, f"{hook}/metrics"))[0] == 404
                fake_api.user_messages[(501, message["message_id"])] = message
                headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-value"}
                update = {"update_id": 1, "message": message}
                async with http.post(f"{hook}/tg/hook", json=update, headers=headers) as answer:
                    assert answer.status == 200
            await fake_api.wait_for(
                lambda c: c.method == "copyMessage" and c.get("chat_id") == GROUP, timeout=30
            )
            updates = "homeward_updates_total"
            latency = "homeward_relay_latency_seconds_count"
            deadline = asyncio.get_running_loop().time() + 10
            while True:
                after = parse_exposition((await get(http, f"{ops}/metrics"))[1])
                moved = value(after, updates, outcome="ok") > value(before, updates, outcome="ok")
                if moved and value(after, latency, destination="topic") >= 1:
                    break
                assert asyncio.get_running_loop().time() < deadline, "the counters never moved"
                await asyncio.sleep(0.1)
            assert value(after, "homeward_leader") == 1
    finally:
        output = await bot.stop()
    assert bot.process.returncode == 0, output


async def test_with_a_metrics_token_only_a_scraper_that_sends_it_reads_the_metrics(
    fake_api, sqlite_url
):
    app = create_app(make_settings(fake_api, sqlite_url, metrics_token="scrape-token-9"))
    client = TestClient(TestServer(ops_application(app)))
    await client.start_server()
    try:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-token-9"}):
            answer = await client.get("/metrics", headers=headers)
            assert answer.status == 401, headers
            assert "homeward_" not in await answer.text()
        answer = await client.get("/metrics", headers={"Authorization": "Bearer scrape-token-9"})
        assert answer.status == 200
        assert "homeward_updates_total" in await answer.text()
        assert (await client.get("/healthz")).status in (200, 503)  # open to load balancers
    finally:
        await client.close()
        await app.close()
    assert "scrape-token-9" in app.settings.secrets()
