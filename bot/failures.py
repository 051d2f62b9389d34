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


# What a database says when it is only for now: locked or busy, read-only (a full or remounted
# disk), a lost or refused connection, a server shutting down, a timeout, a serialisation clash.
# Matched on the driver's words in lower case: an OperationalError also covers lasting faults
# (SQLite's "no such column"), which must not hold the intake for ever.
_TRANSIENT_WORDS = (
    "locked",
    "busy",
    "readonly",
    "read-only",
    "read only",
    "disk i/o",
    "unable to open",
    "connection",
    "connect",
    "terminat",
    "shutting down",
    "timeout",
    "timed out",
    "could not serialize",
    "deadlock",
    "too many clients",
)


def is_redis_failure(error: BaseException) -> bool:
    """Redis (dialog state, when REDIS_URL is set) refused, dropped or timed out a connection.
    redis-py's errors are its own classes, not the builtin ConnectionError and TimeoutError."""
    from redis import exceptions

    return isinstance(error, exceptions.ConnectionError | exceptions.TimeoutError)


def is_transient(error: BaseException) -> bool:
    """A failure that says nothing about the update itself: the database was locked, read-only,
    restarting or out of connections, or Redis did not answer. Such an update is tried again,
    never counted as handled."""
    # Imported here so that importing this module stays cheap for the command line.
    from sqlalchemy import exc

    if is_redis_failure(error):
        return True
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated or isinstance(error, exc.InterfaceError):
            return True
        words = f"{type(error.orig).__name__} {error.orig}".lower()
        return any(word in words for word in _TRANSIENT_WORDS)
    return isinstance(error, exc.TimeoutError | exc.DisconnectionError | ConnectionError)
