"""Errors: stale dialog buttons get a kind answer; lasting failures are logged without content;
transient ones (the database) go back to the intake to be tried again."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import gettext as _
from aiogram_dialog import DialogManager
from aiogram_dialog.api.exceptions import OutdatedIntent, UnknownIntent, UnknownState
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.failures import is_transient, log_failure
from bot.metrics import UpdateReport
from dialogs.home import show_home
from storage.models import Person, Role

logger = logging.getLogger(__name__)


async def stale_button(
    event: ErrorEvent,
    dialog_manager: DialogManager,
    person: Person | None,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    callback = event.update.callback_query
    if callback is not None:
        await callback.answer(_("This button is from an earlier conversation."))
    if person is not None and person.role is Role.RETURNEE:
        # Errors are handled outside the per-update session (aiogram's error middleware comes
        # first), so that session is already closed here: this one is opened and closed anew.
        async with sessionmaker() as session:
            # The dialog's getters read the session from here too.
            dialog_manager.middleware_data["session"] = session
            await show_home(dialog_manager, person, session)


async def unexpected(event: ErrorEvent, update_report: UpdateReport | None = None) -> None:
    log_failure(logger, f"update {event.update.update_id}", event.exception)
    if update_report is not None:  # the intake counts it (bot/metrics.py)
        update_report.failure = type(event.exception).__name__


def lasting(event: ErrorEvent) -> bool:
    """A failure of the update itself. A transient one (the database) is left unanswered, so it
    reaches the intake, which has the update tried again instead of counting it as handled."""
    return not is_transient(event.exception)


def build_router() -> Router:
    router = Router(name="errors")
    router.errors.register(
        stale_button, ExceptionTypeFilter(UnknownIntent, OutdatedIntent, UnknownState)
    )
    router.errors.register(unexpected, lasting)
    return router
