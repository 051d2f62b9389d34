"""Running the bot: long polling or an aiohttp webhook server, both stopping cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.webhook.aiohttp_server import setup_application
from aiohttp import web

from bot.app import ALLOWED_UPDATES, App, create_app
from bot.config import Settings
from bot.failures import log_failure
from bot.intake.polling import Backoff, Poller
from bot.intake.webhook import WebhookIntake
from bot.ops import OpsRoutes, QuietOpsAccessLogger, start_ops_server

logger = logging.getLogger(__name__)

# aiohttp waits this long for webhook requests still being handled, then drops them unanswered
# (so Telegram sends them again): Docker and systemd kill about ten seconds after SIGTERM.
WEBHOOK_STOP_GRACE_SECONDS = 8.0


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.set_exception_handler(_loop_failure)
    return stop


def _loop_failure(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's own report of a failure nobody took ("Task exception was never retrieved")
    quotes the exception's message: only its type and place are logged."""
    error = context.get("exception")
    if isinstance(error, BaseException):
        log_failure(logger, "background task", error)
    else:
        # asyncio's own words (an unclosed session, a pending task destroyed): no exception text.
        logger.warning("event loop: %s", context.get("message", "?"))


async def _wait(seconds: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def until_telegram_answers(
    settings: Settings, stop: asyncio.Event, what: Callable[[], Awaitable[object]]
) -> bool:
    """Do `what` (calls to the Bot API), trying again with back-off while Telegram cannot be
    reached; False if a stop came first. One line per try, naming the host only (never the URL,
    which holds the token)."""
    host = urlsplit(settings.telegram_api_base).hostname
    backoff = Backoff(first=1.0, longest=60.0)
    while not stop.is_set():
        try:
            await what()
        except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter) as error:
            wait = backoff.next()
            logger.warning(
                "the Bot API at %s cannot be reached (%s); trying again in %.0f s",
                host,
                type(error).__name__,
                wait,
            )
            await _wait(wait, stop)
            continue
        return True
    return False


async def run_polling(settings: Settings) -> None:
    stop = _stop_on_signals()
    app = create_app(settings)
    ops: web.AppRunner | None = None
    try:
        await app.prepare_database()
        if settings.metrics_port is not None:
            ops = await start_ops_server(app, settings.metrics_host, settings.metrics_port)

        async def prepare_telegram() -> None:
            await app.prepare_telegram()
            # A webhook left over from webhook mode would make getUpdates fail.
            await app.bot.delete_webhook(drop_pending_updates=False)

        if not await until_telegram_answers(settings, stop, prepare_telegram):
            return
        await serve_polling(app, stop, polling_timeout=settings.polling_timeout_seconds)
    finally:
        if ops is not None:
            await ops.cleanup()
        await app.close()
        logger.info("stopped")


async def serve_polling(
    app: App, stop: asyncio.Event, *, polling_timeout: int = 30, concurrency: int | None = None
) -> None:
    """Poll until `stop` is set, with the dispatcher's startup and shutdown around it."""
    dispatcher, bot = app.dispatcher, app.bot
    workflow = {**dispatcher.workflow_data, "dispatcher": dispatcher, "bots": [bot]}
    poller = Poller(
        bot,
        dispatcher,
        concurrency=concurrency or app.settings.update_concurrency,
        allowed_updates=ALLOWED_UPDATES,
        polling_timeout=polling_timeout,
        retry=Backoff(first=1.0, longest=30.0),
        stop=stop,
        metrics=app.metrics,
        bots=[bot],
    )
    await dispatcher.emit_startup(bot=bot, **workflow)
    logger.info("polling %s", urlsplit(app.settings.telegram_api_base).hostname)
    try:
        await poller.run()
    finally:
        await dispatcher.emit_shutdown(bot=bot, **workflow)


def webhook_application(settings: Settings, secret: str, path: str) -> tuple[web.Application, App]:
    """The aiohttp application serving Telegram's webhook calls, and /healthz and /metrics
    unless they have a port of their own (METRICS_PORT); exposed for tests."""
    app = create_app(settings)
    web_app = web.Application(client_max_size=settings.webhook_max_body_bytes)
    WebhookIntake(app.dispatcher, app.bot, secret, app.metrics, bots=[app.bot]).register(
        web_app, path
    )
    if settings.metrics_port is None:
        OpsRoutes(app).register(web_app)
    setup_application(web_app, app.dispatcher, bot=app.bot)
    return web_app, app


async def run_webhook(settings: Settings) -> None:
    url, secret = settings.require_webhook()
    path = urlsplit(url).path or "/"
    stop = _stop_on_signals()
    web_app, app = webhook_application(settings, secret, path)
    runner = web.AppRunner(
        web_app,
        handle_signals=False,
        shutdown_timeout=WEBHOOK_STOP_GRACE_SECONDS,
        access_log_class=QuietOpsAccessLogger,
    )
    ops: web.AppRunner | None = None
    try:
        await app.prepare_database()
        await runner.setup()
        await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
        if settings.metrics_port is not None:
            ops = await start_ops_server(app, settings.metrics_host, settings.metrics_port)

        async def prepare_telegram() -> None:
            await app.prepare_telegram()
            await app.bot.set_webhook(
                url,
                secret_token=secret,
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
                max_connections=settings.update_concurrency,
            )

        if await until_telegram_answers(settings, stop, prepare_telegram):
            logger.info("webhook server on %s:%s", settings.webhook_host, settings.webhook_port)
            await stop.wait()
    finally:
        if ops is not None:
            await ops.cleanup()
        await runner.cleanup()
        await app.close()
        logger.info("stopped")
