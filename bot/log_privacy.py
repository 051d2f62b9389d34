"""Log records cleaned before any handler writes them: no secrets, no exception messages.

Third-party errors quote what they were handling: aiohttp quotes the request URL (which holds
the bot token), pydantic quotes the input it could not read, SQLAlchemy the statement's
parameters (a returnee's text). The filter sits on every handler, so it holds whatever logger
the record came from: the bot token and the webhook secret are replaced, and a traceback keeps
its frames and exception types but not the exceptions' messages.

Libraries also pass objects to be formatted into their lines: aiogram-dialog logs the chat at
DEBUG (a person's names and username), others an exception as an argument ("Cannot answer
callback: %s"). Such arguments are written as what they are, never as what they hold: an
exception by its type, a Telegram object (any pydantic model) by its type and id.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

# A bot token anywhere, e.g. in a URL path "/bot123456:AA.../getUpdates", URL-encoded too.
TOKEN_SHAPE = re.compile(r"\d{3,20}(?::|%3A)[A-Za-z0-9_-]{20,}", re.IGNORECASE)
HIDDEN = "[hidden]"


def traceback_without_messages(error: BaseException) -> str:
    """Frames and exception types of the whole chain, without what the exceptions say."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts = []
    for exception in reversed(chain):
        frames = "".join(traceback.format_list(traceback.extract_tb(exception.__traceback__)))
        kind = type(exception)
        parts.append(
            f"Traceback (most recent call last):\n{frames}"
            f"{kind.__module__}.{kind.__qualname__} (message withheld)"
        )
    return "\n\nwhich led to:\n\n".join(parts)


def harmless(argument: object) -> object:
    """An argument of a log line, as it may be written."""
    if isinstance(argument, BaseException):
        return f"{type(argument).__name__} (message withheld)"
    if isinstance(argument, BaseModel):
        identity = getattr(argument, "id", None)
        shown = f" id={identity}" if isinstance(identity, int) else ""
        return f"<{type(argument).__name__}{shown}>"
    return argument


def harmless_args(args: Any) -> Any:
    if isinstance(args, Mapping):
        return {key: harmless(value) for key, value in args.items()}
    if isinstance(args, tuple):
        return tuple(harmless(value) for value in args)
    return harmless(args)


class PrivacyFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        given = {s for s in secrets if s}
        # A token's secret part alone (after its id and colon) is as secret as the whole.
        parts = {s.split(":", 1)[1] for s in given if TOKEN_SHAPE.fullmatch(s)}
        self.secrets = sorted(given | parts, key=len, reverse=True)

    def clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, HIDDEN)
        return TOKEN_SHAPE.sub(HIDDEN, text)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = harmless_args(record.args)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is still logged, as its template
            message = str(record.msg)
        record.msg, record.args = self.clean(message), None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.clean(traceback_without_messages(record.exc_info[1]))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)
        return True


def protect_handlers(secrets: Iterable[str | None], logger: logging.Logger | None = None) -> None:
    """Put the filter on every handler of the root logger (or the given one)."""
    privacy = PrivacyFilter(secrets)
    for handler in (logger or logging.getLogger()).handlers:
        for old in [f for f in handler.filters if isinstance(f, PrivacyFilter)]:
            handler.removeFilter(old)
        handler.addFilter(privacy)
