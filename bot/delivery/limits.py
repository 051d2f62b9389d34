"""Telegram's sending limits as sliding windows, per destination and overall."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: float


class Window:
    """At most `count` sends in any `seconds`; Telegram's 429 can close it for longer."""

    def __init__(self, limit: Limit, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._sent: deque[float] = deque()
        self._closed_until = 0.0

    def wait(self, posts: int = 1) -> float:
        """Seconds until `posts` more messages may be sent (0 if now)."""
        now = self._clock()
        # A little longer than the limit's window: Telegram counts sends when they arrive,
        # and arrivals jitter; 2% of the window, and never under 30 ms (20 ms on the 1 s
        # overall window let a late request in as the 31st of its second).
        span = self.limit.seconds + min(0.5, max(0.03, self.limit.seconds * 0.02))
        horizon = now - span
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()
        waits = [self._closed_until - now]
        # More posts than the whole window holds wait for an empty window, never for ever.
        over = len(self._sent) + min(posts, self.limit.count) - self.limit.count
        if over > 0:
            waits.append(self._sent[over - 1] + span - now)
        return max(0.0, *waits)

    def room(self) -> int:
        """How many sends are allowed right now."""
        self.wait()  # forgets sends that left the window
        if self._closed_until > self._clock():
            return 0
        return max(0, self.limit.count - len(self._sent))

    def take(self, posts: int = 1) -> None:
        self._sent.extend([self._clock()] * posts)

    def seed(self, ages: list[float]) -> None:
        """Sends made `ages` seconds ago by another process, so they count in this window."""
        now = self._clock()
        self._sent = deque(sorted([now - age for age in ages] + list(self._sent)))

    def close_for(self, seconds: float) -> None:
        self._closed_until = max(self._closed_until, self._clock() + seconds)

    def used_in_window(self) -> int:
        self.wait()
        return len(self._sent)


class Limits:
    """One window per destination chat (a group's or a private chat's), and one overall."""

    def __init__(
        self,
        overall: Limit,
        per_group: Limit,
        per_private: Limit,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._overall = Window(overall, clock)
        self._per_group = per_group
        self._per_private = per_private
        self._windows: dict[int, Window] = {}

    def window(self, chat_id: int) -> Window:
        if chat_id not in self._windows:
            limit = self._per_group if chat_id < 0 else self._per_private
            self._windows[chat_id] = Window(limit, self._clock)
        return self._windows[chat_id]

    def wait(self, chat_id: int, posts: int = 1) -> float:
        return max(self._overall.wait(), self.window(chat_id).wait(posts))

    def room(self, chat_id: int) -> int:
        return min(self._overall.room(), self.window(chat_id).room())

    def full_chats(self) -> list[int]:
        """Chats whose own window has no room now."""
        return [chat_id for chat_id, window in self._windows.items() if window.room() == 0]

    def take(self, chat_id: int, posts: int = 1) -> None:
        """One call to Telegram, which posts `posts` messages in the chat (an album: several)."""
        self._overall.take()
        self.window(chat_id).take(posts)

    def seed(self, chat_id: int, ages: list[float]) -> None:
        self.window(chat_id).seed(ages)

    @property
    def group_window_seconds(self) -> float:
        return self._per_group.seconds
