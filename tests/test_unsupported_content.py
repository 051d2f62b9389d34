"""Issue 13, item 10: polls, dice, games, stories, paid media and mini-app data cannot be passed
on. The sender is told so in their language, and the topic learns the kind, never the content."""

from __future__ import annotations

import pytest

from bot.delivery.texts import CONTENT_KINDS, notice_text
from tests.conftest import RunningBot
from tests.fakes.telegram_user import NOT_PASSED_ON
from tests.test_inbox import GROUP, inbox, relayed

__all__ = ["inbox"]  # the fixture, shared with test_inbox

# What each kind carries that must never reach the office.
CONTENT_WORDS = ("Which day", "Monday", "Lucky Cat", "Dana", "secret-answer", "Open form")


def told(bot: RunningBot, kind: str, locale: str) -> str:
    def _(msgid: str) -> str:
        return bot.app.i18n.gettext(msgid, locale=locale)

    return _(
        "This cannot be passed on to the office: {kind}. Text, photos, files, voice messages "
        "and videos reach them."
    ).format(kind=_(CONTENT_KINDS[kind]))


def nothing_of_it_in_the_group(bot: RunningBot) -> None:
    to_group = str([c.params for c in bot.api.calls if str(c.get("chat_id", "")).startswith("-")])
    assert not [word for word in CONTENT_WORDS if word in to_group]
    assert not [c for c in bot.api.calls if c.method.startswith(("copyMessage", "forward"))]


@pytest.mark.parametrize("kind", list(NOT_PASSED_ON))
async def test_the_returnee_is_told_and_the_topic_learns_only_the_kind(
    inbox: RunningBot, kind: str
) -> None:
    api = inbox.api
    message = inbox.user(501).message(content=NOT_PASSED_ON[kind])
    for _ in range(2):  # delivered twice: told once, noted once
        await api.handled(await api.push_update("message", message))
    note = notice_text(inbox.app.i18n, "ro", "not_passed_on", {"kind": kind})
    assert inbox.app.i18n.gettext(CONTENT_KINDS[kind], locale="ro") in note
    await relayed(api, "sendMessage", GROUP, text=note)
    await relayed(api, "sendMessage", 501, text=told(inbox, kind, "en"))
    await inbox.settled()
    assert len(api.calls_to("sendMessage", chat_id=GROUP, text=note)) == 1
    assert len(api.calls_to("sendMessage", chat_id=501)) == 1
    nothing_of_it_in_the_group(inbox)


@pytest.mark.parametrize("kind", list(NOT_PASSED_ON))
async def test_a_counsellor_is_told_and_the_topic_learns_only_the_kind(
    inbox: RunningBot, kind: str
) -> None:
    api = inbox.api
    mette = inbox.user(222, first_name="Mette-Marie", last_name="Hansen", username="mette_cmm")
    await mette.send(content=NOT_PASSED_ON[kind])
    note = notice_text(
        inbox.app.i18n,
        "ro",
        "not_passed_on_counsellor",
        {"kind": kind, "name": "Mette", "organisation": "CMM"},
    )
    await relayed(api, "sendMessage", GROUP, text=note)
    await relayed(api, "sendMessage", 222, text=told(inbox, kind, "da"))
    nothing_of_it_in_the_group(inbox)
