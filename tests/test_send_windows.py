"""Telegram's limits count messages, not calls: copying a receipt's ten files posts ten."""

from __future__ import annotations

from aiogram.methods import CopyMessage, CopyMessages, SendMessage

from bot.delivery.gateway import posts_of
from bot.delivery.limits import Limit, Limits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def group_limits(clock: Clock) -> Limits:
    return Limits(
        overall=Limit(30, 1.0), per_group=Limit(20, 60.0), per_private=Limit(1, 1.0), clock=clock
    )


def test_a_call_that_posts_several_messages_takes_room_for_each():
    clock = Clock()
    limits = group_limits(clock)
    for _ in range(15):
        limits.take(-100, 1)
        clock.now += 0.5
    assert limits.wait(-100, 5) == 0  # 15 + 5 fit in 20
    assert limits.wait(-100, 6) > 0  # 15 + 6 do not
    limits.take(-100, 5)
    assert limits.room(-100) == 0
    # The sixth post may go once the oldest send has left the window (60 s and a margin).
    clock.now = 1000.0 + 60 + 0.5 + 0.01
    assert limits.wait(-100, 1) == 0
    assert limits.wait(-100, 2) > 0


def test_more_posts_than_a_window_holds_wait_for_an_empty_window_not_for_ever():
    clock = Clock()
    limits = group_limits(clock)
    limits.take(-100, 3)
    assert 0 < limits.wait(-100, 50) <= 61
    clock.now += 61
    assert limits.wait(-100, 50) == 0


def test_the_posts_of_a_call_are_its_messages():
    assert posts_of(CopyMessages(chat_id=-1, from_chat_id=5, message_ids=[1, 2, 3])) == 3
    assert posts_of(CopyMessage(chat_id=-1, from_chat_id=5, message_id=1)) == 1
    assert posts_of(SendMessage(chat_id=-1, text="card")) == 1
