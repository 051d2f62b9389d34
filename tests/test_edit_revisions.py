"""Issue 13, item 10: two edits within the same second both follow, and the last one wins.

Telegram gives edit times in whole seconds; each edit's revision also carries its update's id, so
a later edit always counts as newer, while the same edit delivered again is still relayed once."""

from __future__ import annotations

from typing import Any

from tests.conftest import RunningBot
from tests.test_inbox import GROUP, first_topic, inbox, relayed, staff_ana

__all__ = ["inbox"]  # the fixture, shared with test_inbox


async def edit_twice_in_one_second(
    bot: RunningBot, original: dict[str, Any], field: str, texts: tuple[str, str]
) -> int:
    """Two edits with the same edit time, in two updates; returns the second update's id."""
    update_id = 0
    for text in texts:
        edited = dict(original, **{field: text}, edit_date=original["date"] + 1)
        update_id = await bot.api.push_update("edited_message", edited)
        await bot.api.handled(update_id)
    return update_id


async def test_two_edits_of_a_returnees_message_in_one_second_both_follow(
    inbox: RunningBot,
) -> None:
    api = inbox.api
    await first_topic(inbox)
    mark = len(api.calls)
    original = await inbox.user(501).send("I need 300 for rent")
    copy = await relayed(api, "copyMessage", GROUP, mark, message_id=original["message_id"])
    mark = len(api.calls)
    last = await edit_twice_in_one_second(
        inbox, original, "text", ("I need 350 for rent", "I need 380 for rent")
    )
    await relayed(api, "editMessageText", GROUP, mark, text="I need 380 for rent")
    await api.redeliver(last)  # the same edit once more: nothing new
    await inbox.settled()
    edits = [c["text"] for c in api.calls[mark:] if c.method == "editMessageText"]
    assert edits == ["I need 350 for rent", "I need 380 for rent"]
    assert api.chats[GROUP].messages[copy.result["message_id"]]["text"] == "I need 380 for rent"


async def test_two_edits_of_a_staff_answer_in_one_second_both_follow(inbox: RunningBot) -> None:
    api = inbox.api
    thread = await first_topic(inbox)
    answer = await staff_ana(inbox).send("We pay 300.", group=GROUP, topic=thread)
    to_maria = await relayed(api, "sendMessage", 501, text="We pay 300.\n\n— IOM RO")
    mark = len(api.calls)
    last = await edit_twice_in_one_second(inbox, answer, "text", ("We pay 350.", "We pay 380."))
    await relayed(api, "editMessageText", 501, mark, text="We pay 380.\n\n— IOM RO")
    await api.redeliver(last)
    await inbox.settled()
    edits = [c["text"] for c in api.calls[mark:] if c.method == "editMessageText"]
    assert edits == ["We pay 350.\n\n— IOM RO", "We pay 380.\n\n— IOM RO"]
    assert api.chats[501].messages[to_maria.result["message_id"]]["text"] == (
        "We pay 380.\n\n— IOM RO"
    )
