"""How log lines look: plain text (the default) or one JSON object a line (`LOG_FORMAT=json`).

The privacy filter (bot/log_privacy.py) sits on the handler, so it has cleaned the record before
any formatter sees it: the JSON carries the same cleaned message and traceback as the text.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Literal

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

LogFormat = Literal["text", "json"]


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message; a traceback (frames
    and exception types only, as the privacy filter left it) under "exception"."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            # Only without the privacy filter (which turns exc_info into a withheld exc_text).
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False)


def formatter_for(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def use_format(log_format: LogFormat, logger: logging.Logger | None = None) -> None:
    """Give every handler of the root logger (or the given one) the chosen format."""
    formatter = formatter_for(log_format)
    for handler in (logger or logging.getLogger()).handlers:
        handler.setFormatter(formatter)
