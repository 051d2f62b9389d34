"""Issue 13, item 5: the bot's own words must never push a message over Telegram's limits.

The staff signature, the counsellor's name and the correction mark are added to what people
wrote; at 4,096 units for a text or 1,024 for a caption that used to make Telegram refuse the
whole message. Every direction is driven here through the fake Bot API, which refuses over-long
texts and captions as Telegram does (counting UTF-16 units), and the conftest fixture fails any
test in which it had to.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.delivery.split import CAPTION_LIMIT, TEXT_LIMIT, utf16_length
from bot.handlers.counsellor import HEADER
from bot.services import saved_replies
from storage.models import OutboxItem, OutboxStatus, Relay
from tests.fakes.bot_api import Call, FakeBotApi
from tests.fakes.telegram_user import CONTENT
from tests.test_inbox import GROUP, case_row, eventually, first_topic, inbox, relayed, staff_ana

__all__ = ["inbox"]  # the fixture, shared with test_inbox

SIGNATURE = "\n\n— IOM RO"
MARK = "✏️ "
COUNSELLOR = 222


def words(units: int, *, line: int = 70) -> str:
    """A text of exactly `units` UTF-16 units, in words and lines, as people write."""
    sentence = "the payment for the small shop comes after the receipt is checked "
    text = ""
    while len(text) < units:
        text += sentence
        if len(text.rsplit("\n", 1)[-1]) > line:
            text += "\n"
    return text[: units - 1] + "."


def emoji(units: int) -> str:
    """A text of `units` UTF-16 units made of emoji, each counting two."""
    return "🙂" * (units // 2) + "a" * (units % 2)


def sent_to(api: FakeBotApi, chat_id: int, mark: int) -> list[Call]:
    """Messages Telegram accepted into a chat since `mark`, in order."""
    return [
        c
        for c in api.calls[mark:]
        if c.get("chat_id") == chat_id
        and c.method in ("sendMessage", "copyMessage")
        and c.result is not None
    ]


def content(call: Call) -> str:
    return call.get("text") or call.get("caption") or ""


async def settled(bot: Any) -> None:
    """Everything queued has been delivered, and nothing was given up."""

    async def done() -> bool:
        async with bot.session() as session:
            waiting = await session.scalar(
                select(func.count()).where(
                    OutboxItem.status.in_((OutboxStatus.PENDING, OutboxStatus.FAILED))
                )
            )
        return waiting == 0

    assert await eventually(done, timeout=10), "the outbox still holds undelivered items"
    async with bot.session() as session:
        failed = await session.scalar(
            select(func.count()).where(OutboxItem.status == OutboxStatus.FAILED)
        )
    assert failed == 0


async def relays_of(bot: Any, chat_id: int, message_id: int) -> list[Relay]:
    async with bot.session() as session:
        return list(
            await session.scalars(
                select(Relay)
                .where(Relay.source_chat_id == chat_id, Relay.source_message_id == message_id)
                .order_by(Relay.id)
            )
        )


def assert_parts(parts: list[Call], whole: str, limit: int = TEXT_LIMIT) -> None:
    """The parts fit, arrive in order and make up the whole text; the signature once."""
    assert all(utf16_length(content(part)) <= limit for part in parts)
    assert "".join(content(part) for part in parts) == whole
    joined = "".join(content(part) for part in parts)
    assert joined.count("— IOM RO") == whole.count("— IOM RO")


# ---- staff → returnee ------------------------------------------------------------------------


async def test_a_staff_answer_that_just_fits_goes_as_one_and_one_unit_more_in_two(inbox):
    api = inbox.api
    thread = await first_topic(inbox)
    ana = staff_ana(inbox)
    fits = words(TEXT_LIMIT - utf16_length(SIGNATURE))
    mark = len(api.calls)
    await ana.send(fits, group=GROUP, topic=thread)
    await settled(inbox)
    [one] = sent_to(api, 501, mark)
    assert one["text"] == fits + SIGNATURE
    assert utf16_length(one["text"]) == TEXT_LIMIT

    over = words(TEXT_LIMIT - utf16_length(SIGNATURE) + 1)
    mark = len(api.calls)
    await ana.send(over, group=GROUP, topic=thread)
    await settled(inbox)
    parts = sent_to(api, 501, mark)
    assert len(parts) == 2
    assert_parts(parts, over + SIGNATURE)
    assert all(part["protect_content"] is True for part in parts)


@pytest.mark.parametrize(
    "text",
    [words(TEXT_LIMIT - 1), words(TEXT_LIMIT), words(TEXT_LIMIT, line=10**6), emoji(TEXT_LIMIT)],
    ids=["4095 units", "4096 units", "4096 without a line break", "2048 emoji"],
)
async def test_a_full_length_staff_answer_reaches_the_returnee_whole_and_replies_map_back(
    inbox, text
):
    api = inbox.api
    maria = inbox.user(501)
    question = await maria.send("Is the receipt enough?")
    copy = await relayed(api, "copyMessage", GROUP)
    thread = (await case_row(inbox)).topic_id
    await settled(inbox)
    mark = len(api.calls)
    staff_message = staff_ana(inbox).message(
        text, group=GROUP, topic=thread, reply_to=copy.result["message_id"]
    )
    # Bold over the last 100 units: the signature moves on, the bold stays with the text.
    bold = {"type": "bold", "offset": utf16_length(text) - 100, "length": 100}
    staff_message["entities"] = [bold]
    await api.handled(await api.push_update("message", staff_message))
    await settled(inbox)
    parts = sent_to(api, 501, mark)
    assert len(parts) == 2
    assert_parts(parts, text + SIGNATURE)
    assert parts[0]["reply_parameters"]["message_id"] == question["message_id"]
    assert "reply_parameters" not in parts[1].params
    assert parts[0]["entities"] == [bold]
    assert "entities" not in parts[1].params
    assert len(await relays_of(inbox, GROUP, staff_message["message_id"])) == 2

    # The returnee answers the second part: in the topic it replies to the staff message.
    mark = len(api.calls)
    await maria.send("Thank you", reply_to=parts[1].result["message_id"])
    back = await relayed(api, "copyMessage", GROUP, mark)
    assert back["reply_parameters"]["message_id"] == staff_message["message_id"]


async def test_a_long_saved_reply_in_emoji_arrives_whole(inbox):
    """3,500 characters is the saved reply's limit; in emoji that is 7,000 units."""
    api = inbox.api
    thread = await first_topic(inbox)
    text = emoji(7000)
    async with inbox.session() as session:
        await saved_replies.save(session, office_code="RO", name="smile", language="en", text=text)
        await session.commit()
    mark = len(api.calls)
    await staff_ana(inbox).send("/s smile", group=GROUP, topic=thread)
    await settled(inbox)
    parts = sent_to(api, 501, mark)
    assert len(parts) == 2
    assert_parts(parts, text + SIGNATURE)


# ---- staff captions --------------------------------------------------------------------------


async def test_a_staff_caption_that_just_fits_goes_on_the_photo_and_one_more_moves_on(inbox):
    api = inbox.api
    thread = await first_topic(inbox)
    ana = staff_ana(inbox)
    fits = words(CAPTION_LIMIT - utf16_length(SIGNATURE))
    mark = len(api.calls)
    await ana.send(content=CONTENT["photo"] | {"caption": fits}, group=GROUP, topic=thread)
    await settled(inbox)
    [photo] = sent_to(api, 501, mark)
    assert photo["caption"] == fits + SIGNATURE

    over = words(CAPTION_LIMIT - utf16_length(SIGNATURE) + 1)
    mark = len(api.calls)
    await ana.send(content=CONTENT["photo"] | {"caption": over}, group=GROUP, topic=thread)
    await settled(inbox)
    photo, rest = sent_to(api, 501, mark)
    assert photo.method == "copyMessage"
    assert rest.method == "sendMessage"
    assert_parts([photo, rest], over + SIGNATURE, CAPTION_LIMIT)
    assert rest["reply_parameters"]["message_id"] == photo.result["message_id"]
    assert rest["protect_content"] is True


@pytest.mark.parametrize(
    "caption", [words(CAPTION_LIMIT), emoji(CAPTION_LIMIT)], ids=["1024 units", "512 emoji"]
)
async def test_a_full_staff_caption_stays_whole_on_the_photo_and_the_signature_follows(
    inbox, caption
):
    api = inbox.api
    thread = await first_topic(inbox)
    mark = len(api.calls)
    sent = await staff_ana(inbox).send(
        content=CONTENT["photo"] | {"caption": caption}, group=GROUP, topic=thread
    )
    await settled(inbox)
    photo, signature = sent_to(api, 501, mark)
    assert photo["caption"] == caption  # as the staff member wrote it, nothing cut
    assert signature["text"] == SIGNATURE  # Telegram trims the line breaks
    assert signature["reply_parameters"]["message_id"] == photo.result["message_id"]
    assert len(await relays_of(inbox, GROUP, sent["message_id"])) == 2


# ---- staff → counsellor ----------------------------------------------------------------------


async def test_a_full_length_staff_reply_reaches_the_counsellor_whole(inbox):
    api = inbox.api
    thread = await first_topic(inbox)
    mette = inbox.user(COUNSELLOR, first_name="Mette-Marie", last_name="Hansen", username="mc")
    mark = len(api.calls)
    asked = await mette.send("How is she settling in?")
    header = await relayed(api, "sendMessage", GROUP, mark, message_thread_id=thread)
    await settled(inbox)
    text = words(TEXT_LIMIT)
    mark = len(api.calls)
    answer = await staff_ana(inbox).send(
        text, group=GROUP, topic=thread, reply_to=header.result["message_id"]
    )
    await settled(inbox)
    parts = sent_to(api, COUNSELLOR, mark)
    assert len(parts) == 2
    assert_parts(parts, text + SIGNATURE)
    assert parts[0]["reply_parameters"]["message_id"] == asked["message_id"]
    assert not sent_to(api, 501, mark)

    # The counsellor answers the second part: it reaches the topic as a reply.
    mark = len(api.calls)
    await mette.send("Good to hear.", reply_to=parts[1].result["message_id"])
    back = await relayed(api, "sendMessage", GROUP, mark, message_thread_id=thread)
    assert back["reply_parameters"]["message_id"] == answer["message_id"]


# ---- counsellor → topic ----------------------------------------------------------------------


def said_by(bot: Any) -> str:
    return bot.app.i18n.gettext(HEADER, locale="ro").format(name="Mette", organisation="CMM")


@pytest.mark.parametrize("text", [words(TEXT_LIMIT), emoji(TEXT_LIMIT)], ids=["4096", "emoji"])
async def test_a_full_length_counsellor_message_reaches_the_topic_whole(inbox, text):
    api = inbox.api
    thread = await first_topic(inbox)
    mette = inbox.user(COUNSELLOR, first_name="Mette-Marie", last_name="Hansen", username="mc")
    mark = len(api.calls)
    sent = await mette.send(text)
    await settled(inbox)
    parts = sent_to(api, GROUP, mark)
    assert len(parts) == 2
    assert_parts(parts, f"{said_by(inbox)}\n{text}")
    assert parts[0]["text"].startswith(said_by(inbox))
    assert all(part["message_thread_id"] == thread for part in parts)
    assert len(await relays_of(inbox, COUNSELLOR, sent["message_id"])) == 2

    # Staff answer the second part: it goes to the counsellor, not to the returnee.
    mark = len(api.calls)
    await staff_ana(inbox).send(
        "Thank you, noted.", group=GROUP, topic=thread, reply_to=parts[1].result["message_id"]
    )
    answer = await relayed(api, "sendMessage", COUNSELLOR, mark)
    assert answer["reply_parameters"]["message_id"] == sent["message_id"]
    assert not sent_to(api, 501, mark)


async def test_a_full_counsellor_caption_keeps_the_name_on_the_photo_and_the_rest_follows(inbox):
    api = inbox.api
    thread = await first_topic(inbox)
    mette = inbox.user(COUNSELLOR, first_name="Mette-Marie", last_name="Hansen", username="mc")
    caption = words(CAPTION_LIMIT)
    mark = len(api.calls)
    await mette.send(content=CONTENT["photo"] | {"caption": caption})
    await settled(inbox)
    photo, rest = sent_to(api, GROUP, mark)
    assert photo.method == "copyMessage"
    assert photo["caption"].startswith(said_by(inbox))
    assert_parts([photo, rest], f"{said_by(inbox)}\n{caption}", CAPTION_LIMIT)
    assert rest["reply_parameters"]["message_id"] == photo.result["message_id"]
    assert rest["message_thread_id"] == thread


# ---- returnee → topic: short texts combined --------------------------------------------------


async def texts_waiting_for_their_topic(bot: Any, texts: list[str]) -> list[dict[str, Any]]:
    """The returnee writes while the case's topic is being created, so all of it waits and the
    short texts are combined when their turn comes."""
    api = bot.api
    api.pause("createForumTopic")
    maria = bot.user(501)
    sent = [await maria.send(text) for text in texts]
    assert await eventually(lambda: asyncio.sleep(0, api.held))
    api.resume()
    await settled(bot)
    return sent


async def test_combined_short_texts_fill_one_topic_message_to_exactly_4096(inbox):
    # Each line is "[HH:MM] " and the text; lines joined by line breaks: 14 lines make 4,096.
    texts = ["z" * 284] * 13 + ["y" * 279]
    await texts_waiting_for_their_topic(inbox, texts)
    posts = [c for c in sent_to(inbox.api, GROUP, 0) if c.method == "sendMessage"][1:]  # card
    assert len(posts) == 1
    assert utf16_length(posts[0]["text"]) == TEXT_LIMIT
    assert [line[8:] for line in posts[0]["text"].split("\n")] == texts


async def test_combined_short_texts_in_emoji_never_pass_4096_units(inbox):
    texts = [emoji(300)] * 20  # 150 emoji each: short in characters, 300 units each
    sent = await texts_waiting_for_their_topic(inbox, texts)
    posts = [c for c in sent_to(inbox.api, GROUP, 0)][1:]  # after the card
    assert all(utf16_length(content(post)) <= TEXT_LIMIT for post in posts)
    arrived = [line[8:] for post in posts for line in content(post).split("\n")]
    assert arrived == texts
    async with inbox.session() as session:
        relayed_ids = list(await session.scalars(select(Relay.source_message_id)))
    assert sorted(relayed_ids) == sorted(m["message_id"] for m in sent)

    # One of them edited to a full-length text: a marked correction, in parts.
    api = inbox.api
    edited = dict(sent[0], text=words(TEXT_LIMIT), edit_date=sent[0]["date"] + 5)
    mark = len(api.calls)
    await api.handled(await api.push_update("edited_message", edited))
    await settled(inbox)
    parts = sent_to(api, GROUP, mark)
    assert len(parts) == 2
    assert_parts(parts, MARK + edited["text"])
    assert parts[0]["reply_parameters"]["message_id"] == posts[0].result["message_id"]


# ---- edits -----------------------------------------------------------------------------------


async def test_a_staff_answer_edited_to_full_length_follows_as_a_marked_correction(inbox):
    api = inbox.api
    thread = await first_topic(inbox)
    answer = await staff_ana(inbox).send("We pay 300.", group=GROUP, topic=thread)
    await settled(inbox)
    [first] = sent_to(api, 501, 0)
    fixed = dict(answer, text=words(TEXT_LIMIT), edit_date=answer["date"] + 30)
    mark = len(api.calls)
    await api.handled(await api.push_update("edited_message", fixed))
    await settled(inbox)
    assert not api.calls_to("editMessageText", chat_id=501)
    parts = sent_to(api, 501, mark)
    assert len(parts) == 2
    assert_parts(parts, MARK + fixed["text"] + SIGNATURE)
    assert parts[0]["reply_parameters"]["message_id"] == first.result["message_id"]
    assert all(part["protect_content"] is True for part in parts)


async def test_an_answer_sent_in_parts_is_corrected_once_not_edited_in_half(inbox):
    api = inbox.api
    thread = await first_topic(inbox)
    answer = await staff_ana(inbox).send(words(TEXT_LIMIT), group=GROUP, topic=thread)
    await settled(inbox)
    first, _second = sent_to(api, 501, 0)
    fixed = dict(answer, text="Shorter now.", edit_date=answer["date"] + 30)
    mark = len(api.calls)
    await api.handled(await api.push_update("edited_message", fixed))
    await settled(inbox)
    assert not api.calls_to("editMessageText", chat_id=501)
    [correction] = sent_to(api, 501, mark)
    assert correction["text"] == MARK + "Shorter now." + SIGNATURE
    assert correction["reply_parameters"]["message_id"] == first.result["message_id"]


async def test_a_counsellor_message_edited_to_full_length_follows_in_parts(inbox):
    api = inbox.api
    thread = await first_topic(inbox)
    mette = inbox.user(COUNSELLOR, first_name="Mette-Marie", last_name="Hansen", username="mc")
    mark = len(api.calls)
    sent = await mette.send("She found a job.")
    await settled(inbox)
    [copy] = sent_to(api, GROUP, mark)
    fixed = dict(sent, text=emoji(TEXT_LIMIT), edit_date=sent["date"] + 30)
    mark = len(api.calls)
    await api.handled(await api.push_update("edited_message", fixed))
    await settled(inbox)
    assert not api.calls_to("editMessageText", chat_id=GROUP, message_id=copy.result["message_id"])
    parts = sent_to(api, GROUP, mark)
    assert len(parts) == 2
    assert_parts(parts, f"{MARK}{said_by(inbox)}\n{fixed['text']}")
    assert parts[0]["reply_parameters"]["message_id"] == copy.result["message_id"]
    assert all(part["message_thread_id"] == thread for part in parts)


async def test_a_returnee_caption_edited_to_full_length_follows_as_a_correction(inbox):
    api = inbox.api
    maria = inbox.user(501)
    photo = await maria.send(content=CONTENT["photo"] | {"caption": "receipt 120"})
    copy = await relayed(api, "copyMessage", GROUP)
    await settled(inbox)
    edited = dict(photo, caption=words(CAPTION_LIMIT), edit_date=photo["date"] + 5)
    mark = len(api.calls)
    await api.handled(await api.push_update("edited_message", edited))
    await settled(inbox)
    correction, rest = sent_to(api, GROUP, mark)
    assert correction.method == "copyMessage"
    assert correction["reply_parameters"]["message_id"] == copy.result["message_id"]
    assert_parts([correction, rest], MARK + edited["caption"], CAPTION_LIMIT)
    assert rest["reply_parameters"]["message_id"] == correction.result["message_id"]


# ---- replies that quote what someone typed ---------------------------------------------------


@pytest.mark.parametrize(
    "command", ["/assign", "/s", "/s delete"], ids=["assign", "saved reply", "delete"]
)
async def test_a_reply_quoting_a_huge_argument_still_answers(inbox, command):
    api = inbox.api
    thread = await first_topic(inbox)
    argument = "n" * (TEXT_LIMIT - len(command) - 1)  # the longest message Telegram lets through
    mark = len(api.calls)
    await staff_ana(inbox).send(f"{command} {argument}", group=GROUP, topic=thread)
    told = await relayed(api, "sendMessage", GROUP, mark)
    assert utf16_length(told["text"]) < 200
    assert "n" * 60 + "…" in told["text"]


async def test_a_part_refused_for_a_moment_is_sent_again_without_repeating_the_first(inbox):
    api = inbox.api
    thread = await first_topic(inbox)
    text = words(TEXT_LIMIT)
    api.pause("sendMessage", chat_id=501)
    mark = len(api.calls)
    await staff_ana(inbox).send(text, group=GROUP, topic=thread)
    assert await eventually(lambda: asyncio.sleep(0, api.held))  # the first part, unanswered
    # The first part has passed Telegram's door; the second is asked to wait a second.
    api.fail_next(
        "sendMessage", 429, "Too Many Requests: retry after 1", parameters={"retry_after": 1}
    )
    api.resume()
    await settled(inbox)
    refused = [c for c in api.calls[mark:] if c.method == "sendMessage" and c.result is None]
    assert len(refused) == 1
    parts = sent_to(api, 501, mark)
    assert len(parts) == 2
    assert_parts(parts, text + SIGNATURE)
    assert refused[0]["text"] == parts[1]["text"]
