"""Remembers, in memory only, which short explanations were already given, so each is given once
(per key, per period) instead of answering every message."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable


class Once:
    def __init__(
        self,
        period_seconds: float = 3600,
        limit: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._period = period_seconds
        self._limit = limit
        self._clock = clock
        self._given: OrderedDict[Hashable, float] = OrderedDict()

        self._salt = secrets.token_bytes(16)

    def first_time(self, key: Hashable) -> bool:
        # Keys may hold Telegram ids of strangers: keep only a keyed hash, even in memory.
        key = hmac.new(self._salt, repr(key).encode(), hashlib.sha256).digest()
        now = self._clock()
        given = self._given.get(key)
        if given is not None and now - given < self._period:
            return False
        self._given[key] = now
        self._given.move_to_end(key)
        while len(self._given) > self._limit:
            self._given.popitem(last=False)
        return True
