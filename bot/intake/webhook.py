"""Webhook requests: answered only after the update is handled, and never with its content.

Telegram delivers an update again until it gets a 2xx answer. So an update is answered 200 once
handled (or once it is clear that it can never be read: delivering it again would not help), and
503 when the database failed, so that Telegram brings it back later. aiogram's own handler reads
the update before the secret's check has a say in logging, and logs a validation error with the
update's content; this one does neither.
"""

from __future__ import annotations

import hmac
from typing import Any

from aiogram import Bot, Dispatcher
from aiohttp import web

from bot.intake.handling import Outcome, handle
from bot.intake.reading import read_update, update_id_of
from bot.metrics import Metrics, UpdateOutcome

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name


class WebhookIntake:
    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        secret: str,
        metrics: Metrics | None = None,
        **handler_data: Any,
    ) -> None:
        self.metrics = metrics
        self.dispatcher = dispatcher
        self.bot = bot
        self.secret = secret
        self.handler_data = handler_data

    def register(self, app: web.Application, path: str) -> None:
        app.router.add_post(path, self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            return web.Response(status=401)
        try:
            raw = await request.json()
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested beyond reading
            return web.Response(status=400)
        if update_id_of(raw) is None:
            # Not an update at all (a list, a number, an object without an id): Telegram never
            # sends that, so it is the request that is wrong, not an update to skip.
            return web.Response(status=400)
        update = read_update(raw, self.bot)
        if update is None:
            if self.metrics is not None:
                self.metrics.update_done(UpdateOutcome.UNREADABLE)
            return web.Response(status=200)  # never readable: it must not come again
        outcome = await handle(self.dispatcher, self.bot, update, self.metrics, **self.handler_data)
        return web.Response(status=200 if outcome is Outcome.HANDLED else 503)
