"""Running the bot: long polling or an aiohttp webhook server, both stopping cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from urllib.parse import urlsplit

from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot.app import ALLOWED_UPDATES, App, create_app
from bot.config import Settings

logger = logging.getLogger(__name__)


async def run_polling(settings: Settings) -> None:
    app = create_app(settings)
    try:
        await app.prepare()
        # A webhook left over from webhook mode would make getUpdates fail.
        await app.bot.delete_webhook(drop_pending_updates=False)
        logger.info("polling %s", urlsplit(settings.telegram_api_base).hostname)
        await app.dispatcher.start_polling(
            app.bot,
            allowed_updates=ALLOWED_UPDATES,
            handle_signals=True,
            close_bot_session=False,
            tasks_concurrency_limit=settings.update_concurrency,
        )
        await _confirm_finished_updates(app)
    finally:
        await app.close()
    logger.info("stopped")


async def _confirm_finished_updates(app: App) -> None:
    """Let updates still being handled finish, then tell Telegram they are done.

    Long polling confirms an update only with the next getUpdates call; without this, the
    updates handled just before a stop would be delivered again after the restart.
    """
    try:
        async with asyncio.timeout(10):
            await app.tracker.wait_idle()
    except TimeoutError:
        logger.warning("stopping with %s updates still being handled", app.tracker.in_flight)
        return
    if app.tracker.last_finished is not None:
        # limit=1 and no wait: confirms what was handled without taking anything new.
        await app.bot.get_updates(offset=app.tracker.last_finished + 1, limit=1, timeout=0)


def webhook_application(settings: Settings, secret: str, path: str) -> tuple[web.Application, App]:
    """The aiohttp application serving Telegram's webhook calls; exposed for tests."""
    app = create_app(settings)
    web_app = web.Application()
    # Handle before answering: if handling fails, Telegram gets an error and delivers again,
    # instead of the update being lost after an early 200.
    SimpleRequestHandler(
        dispatcher=app.dispatcher, bot=app.bot, secret_token=secret, handle_in_background=False
    ).register(web_app, path=path)
    setup_application(web_app, app.dispatcher, bot=app.bot)
    return web_app, app


async def run_webhook(settings: Settings) -> None:
    url, secret = settings.require_webhook()
    path = urlsplit(url).path or "/"
    web_app, app = webhook_application(settings, secret, path)
    runner = web.AppRunner(web_app, handle_signals=False)
    try:
        await app.prepare()
        await runner.setup()
        await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
        await app.bot.set_webhook(
            url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
            max_connections=settings.update_concurrency,
        )
        logger.info("webhook server on %s:%s", settings.webhook_host, settings.webhook_port)
        await _until_stopped()
    finally:
        await runner.cleanup()
        await app.close()
    logger.info("stopped")


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
