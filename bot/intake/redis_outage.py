"""Redis away: said once in the log when it stops answering, and once when it is back.

With REDIS_URL set, every update needs Redis (aiogram's event isolation lock and the dialog
state), so while Redis is away the intake has each update tried again, as for the database, and
`/healthz` says "degraded". Each retry is logged by the intake; this says what it means once.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger(__name__)


class RedisOutage:
    def __init__(self) -> None:
        self.since: float | None = None  # monotonic, while Redis is away

    def failed(self, error: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
            logger.warning(
                "Redis does not answer (%s): degraded, updates wait and are tried again; "
                "the outbox still goes",
                type(error).__name__,
            )

    def answered(self) -> None:
        if self.since is not None:
            logger.info(
                "Redis answers again after %.0f s: updates go on", time.monotonic() - self.since
            )
            self.since = None
