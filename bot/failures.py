"""Logging failures without their messages: an exception's text can quote what a person wrote
(SQL parameters, Telegram's error descriptions), so only its type and place are logged."""

from __future__ import annotations

import logging
import traceback


def describe_failure(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    return f"{type(error).__name__} at {where}"


def log_failure(logger: logging.Logger, what: str, error: BaseException) -> None:
    logger.error("%s failed: %s", what, describe_failure(error))


def is_transient(error: BaseException) -> bool:
    """A failure that says nothing about the update itself: the database was locked, read-only,
    restarting or out of connections. Such an update is tried again, never counted as handled."""
    # Imported here so that importing this module stays cheap for the command line.
    from sqlalchemy import exc

    if isinstance(error, exc.DBAPIError):
        # OperationalError (locked, read-only, server gone), InterfaceError, or any driver error
        # that cost the connection.
        return isinstance(error, exc.OperationalError | exc.InterfaceError) or bool(
            error.connection_invalidated
        )
    return isinstance(error, exc.TimeoutError | exc.DisconnectionError | ConnectionError)
