"""`/healthz` and `/metrics` over HTTP: on the webhook server, or on `METRICS_PORT` of their own.

`/healthz` answers 200 when the database answers with the current schema (and Redis, when
configured), 503 otherwise. Without Redis it says "degraded" rather than "unavailable": the
database is well and what waits in the outbox still goes, but no update can be handled (each
needs its dialog state), so it is not ready either: a load balancer that takes the process out
makes Telegram keep the webhook's updates and send them again later (see README, Runbook).
`/metrics` answers in Prometheus's text format (bot/metrics.py); with METRICS_TOKEN set, only to
a scraper that sends it as a bearer token (401 otherwise).
Neither logs its requests: a scrape every few seconds would bury everything else.
"""

from __future__ import annotations

import asyncio
import hmac
import logging

from aiohttp import web, web_log
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from bot.app import App
from bot.failures import describe_failure
from bot.health import check_health
from bot.metrics import CONTENT_TYPE, DatabaseFigures, exposition, read_database_figures
from bot.services.clock import utcnow

logger = logging.getLogger(__name__)

HEALTHZ = "/healthz"
METRICS = "/metrics"
DATABASE_TIMEOUT_SECONDS = 5.0


class OpsRoutes:
    def __init__(self, app: App) -> None:
        self.app = app

    def register(self, web_app: web.Application) -> None:
        web_app.router.add_get(HEALTHZ, self.healthz)
        web_app.router.add_get(METRICS, self.metrics)

    async def healthz(self, _request: web.Request) -> web.Response:
        health = await check_health(self.app.settings)
        return web.json_response(health.summary(), status=200 if health.ready else 503)

    def _may_scrape(self, request: web.Request) -> bool:
        token = self.app.settings.metrics_token
        if token is None:
            return True
        expected = f"Bearer {token.get_secret_value()}".encode()
        return hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected)

    async def metrics(self, request: web.Request) -> web.Response:
        if not self._may_scrape(request):
            return web.Response(
                status=401, text="unauthorised", headers={"WWW-Authenticate": "Bearer"}
            )
        figures = await self._figures()
        text = exposition(
            self.app.metrics,
            figures,
            lag=dict(self.app.sender.lag),
            leading=self.app.leadership.leading,
        )
        return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})

    async def _figures(self) -> DatabaseFigures | None:
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS):
                async with self.app.sessionmaker() as session:
                    return await read_database_figures(session, utcnow())
        except Exception as error:  # noqa: BLE001 - the scrape still answers, database_up 0
            logger.debug("metrics: the database did not answer: %s", describe_failure(error))
            return None


def ops_application(app: App) -> web.Application:
    web_app = web.Application()
    OpsRoutes(app).register(web_app)
    return web_app


async def start_ops_server(app: App, host: str, port: int) -> web.AppRunner:
    """The small server of `METRICS_PORT`; the caller cleans the runner up."""
    runner = web.AppRunner(ops_application(app), handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    logger.info("health and metrics on %s:%s", host, port)
    return runner


class QuietOpsAccessLogger(web_log.AccessLogger):
    """aiohttp's access log, without the health checks and scrapes of the webhook server, and
    without what a caller chose to send: a path the server does not serve is not written (it
    may be anything, a token or a name), nor the query, the referrer or the user agent."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if request.path in (HEALTHZ, METRICS):
            return
        resource = getattr(request, "match_info", None)
        route = getattr(resource, "route", None)
        known = getattr(getattr(route, "resource", None), "canonical", None)
        self.logger.info(
            '%s "%s %s" %s %s %.3fs',
            request.remote,
            request.method if request.method.isalpha() else "?",
            known or "(a path not served)",
            response.status,
            response.body_length,
            time,
        )
