"""Issue 13, item 10: an update Telegram delivers again (webhook redelivery, polling after a
crash) is relayed once, and its automatic answer and notes to staff come once too."""

from __future__ import annotations

from datetime import date

from bot.delivery.texts import notice_text
from bot.services import offices
from tests.conftest import RunningBot
from tests.test_inbox import GROUP, inbox, relayed

__all__ = ["inbox"]  # the fixture, shared with test_inbox


async def test_a_question_delivered_twice_is_copied_answered_and_noted_once(
    inbox: RunningBot,
) -> None:
    api = inbox.api
    async with inbox.session() as session:  # closed today: the returnee hears when it opens
        await offices.update_office(
            session, "RO", hours=["mon-fri 09:00-17:00"], holidays=[date.today()]
        )
        await session.commit()
    entry = "allowance-when"
    question = inbox.app.dispatcher["knowledge"].text("ro", entry).question
    answered = notice_text(
        inbox.app.i18n, "ro", "knowledge_answered", {"question": question, "entry": entry}
    )
    message = inbox.user(501).message("when does my monthly allowance come")
    first = await api.push_update("message", message)
    await api.handled(first)
    await api.handled(await api.push_update("message", message))  # the same message again
    await api.redeliver(first)  # and the very same update
    await relayed(api, "copyMessage", GROUP, message_id=message["message_id"])
    await relayed(api, "sendMessage", GROUP, text=answered)
    await inbox.settled()
    to_maria = [c["text"] for c in api.calls_to("sendMessage", chat_id=501)]
    assert len([t for t in to_maria if t.startswith("🤖 Automatic answer.")]) == 1
    assert len([t for t in to_maria if "The office is closed now" in t]) == 1
    assert len(api.calls_to("sendMessage", chat_id=GROUP, text=answered)) == 1
    assert len(api.calls_to("copyMessage", message_id=message["message_id"])) == 1


async def test_an_edit_saying_they_are_in_danger_delivered_again_alerts_once(
    inbox: RunningBot,
) -> None:
    api = inbox.api
    original = await inbox.user(501).send("I will call you tomorrow")
    await relayed(api, "copyMessage", GROUP)
    mark = len(api.calls)
    edited = dict(
        original, text="I am not safe, they know where I live", edit_date=original["date"] + 5
    )
    update_id = await api.push_update("edited_message", edited)
    await api.handled(update_id)
    await api.redeliver(update_id)
    alert = notice_text(inbox.app.i18n, "ro", "danger", {})
    await api.wait_for(
        lambda c: c.method == "sendMessage" and c.get("text", "").startswith(alert), after=mark
    )
    await inbox.settled()
    alerts = [c for c in api.calls[mark:] if c.get("text", "").startswith(alert)]
    answers = [c for c in api.calls[mark:] if c.method == "sendMessage" and c["chat_id"] == 501]
    assert (len(alerts), len(answers)) == (1, 1)
