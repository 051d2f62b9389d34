"""Handling one update, and telling whether it is done or must be tried again."""

from __future__ import annotations

import enum
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot.failures import describe_failure, is_redis_failure, is_transient
from bot.intake.redis_outage import RedisOutage
from bot.metrics import ErrorPlace, Metrics, UpdateOutcome, UpdateReport

logger = logging.getLogger(__name__)


class Outcome(enum.Enum):
    HANDLED = "handled"  # done, or failed for a reason that trying again would not change
    TRY_AGAIN = "try again"  # the database failed: the update must not be confirmed yet


async def handle(
    dispatcher: Dispatcher,
    bot: Bot,
    update: Update,
    metrics: Metrics | None = None,
    **data: Any,
) -> Outcome:
    """Feed one update to the dispatcher. Errors router answers lasting failures (and notes them
    in the update's report); transient ones (the database) come back here, so the update is not
    lost. Each outcome is counted."""
    report = UpdateReport()
    redis_outage: RedisOutage | None = dispatcher.get("redis_outage")
    try:
        await dispatcher.feed_update(bot, update, update_report=report, **data)
    except Exception as error:  # noqa: BLE001 - whatever failed, the update's fate is decided here
        if redis_outage is not None and is_redis_failure(error):
            redis_outage.failed(error)
        if is_transient(error):
            logger.warning(
                "update %s will be tried again: %s", update.update_id, describe_failure(error)
            )
            if metrics is not None:
                metrics.update_done(UpdateOutcome.RETRIED)
                metrics.error(ErrorPlace.UPDATE_RETRIED, error)
            return Outcome.TRY_AGAIN
        logger.error("update %s failed: %s", update.update_id, describe_failure(error))
        report.failure = type(error).__name__
    else:
        if redis_outage is not None:
            redis_outage.answered()  # every update passes Redis (its isolation lock) first
    if metrics is not None:
        if report.failure is None:
            metrics.update_done(UpdateOutcome.OK)
        else:
            metrics.update_done(UpdateOutcome.FAILED)
            metrics.error(ErrorPlace.UPDATE, report.failure)
    return Outcome.HANDLED
