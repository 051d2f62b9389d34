"""Slows down guessing of invite tokens, without storing who guessed.

Failures are counted in memory only, under a keyed hash of the Telegram id, so an unknown person
leaves nothing in the database and nothing readable in memory.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable


class InviteGuard:
    def __init__(
        self, attempts: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._attempts = attempts
        self._window = window_seconds
        self._clock = clock
        self._salt = secrets.token_bytes(16)
        self._failures: dict[bytes, deque[float]] = {}

    def _key(self, telegram_user_id: int) -> bytes:
        return hmac.new(self._salt, str(telegram_user_id).encode(), hashlib.sha256).digest()

    def _recent(self, key: bytes) -> deque[float]:
        failures = self._failures.get(key, deque())
        horizon = self._clock() - self._window
        while failures and failures[0] < horizon:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures

    def seconds_to_wait(self, telegram_user_id: int) -> int:
        """0 if this account may try a token now, else how long until it may."""
        failures = self._recent(self._key(telegram_user_id))
        if len(failures) < self._attempts:
            return 0
        return max(1, int(failures[0] + self._window - self._clock()) + 1)

    def failed(self, telegram_user_id: int) -> None:
        key = self._key(telegram_user_id)
        self._failures.setdefault(key, self._recent(key)).append(self._clock())
        if len(self._failures) > 10_000:  # bound memory under a flood of distinct accounts
            oldest = min(self._failures, key=lambda k: self._failures[k][-1])
            del self._failures[oldest]
