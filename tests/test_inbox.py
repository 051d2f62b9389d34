"""The shared inbox end to end: returnees, counsellors and staff through case topics."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.app import create_app
from bot.delivery.texts import case_card, notice_text
from bot.services import cases, invites, people
from bot.services.clock import utcnow
from bot.services.consent import give_consent
from storage.models import AuditEvent, Case, OutboxItem, OutboxStatus, Relay
from tests.conftest import RunningBot, make_settings
from tests.fakes.telegram_user import CONTENT, TelegramUser
from tests.world import office_with_case

GROUP = -1001234
OTHER_GROUP = -1005678


async def joined_returnee(bot: RunningBot, user_id: int = 501, case_code: str = "RO-0007") -> None:
    """A returnee who opened their invite, chose a language and agreed (set up directly)."""
    async with bot.session() as session:
        issued = await invites.invite_returnee(session, case_code=case_code, ttl_days=1)
        joined = await invites.redeem(session, token=issued.token, telegram_user_id=user_id)
        joined.person.language = "en"
        give_consent(session, joined.case, joined.person, language="en")
        await session.commit()


@pytest.fixture
async def inbox(running_bot):
    """Office RO (inbox group GROUP) with staff Ana, counsellor Mette and returnee Maria."""
    async with running_bot.session() as session:
        await office_with_case(session)
        await people.add_staff(session, office_code="RO", telegram_user_id=111, name="Ana")
        await session.commit()
    await joined_returnee(running_bot)
    return running_bot


def staff_ana(bot: RunningBot) -> TelegramUser:
    return bot.user(111, first_name="Ana", last_name="Ionescu", username="ana_iom")


async def relayed(api, method: str, chat_id: int, mark: int = 0, **where):
    return await api.wait_for(
        lambda c: (
            c.method == method
            and c.get("chat_id") == chat_id
            and all(c.get(k) == v for k, v in where.items())
        ),
        after=mark,
    )


async def eventually(read, timeout: float = 5.0):
    """The sender commits just after Telegram answers: poll until what it wrote is there."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await read()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.05)


async def delivered(bot: RunningBot, chat_id: int, copy_message_id: int) -> None:
    """Wait until the sender has recorded a copy it made (it commits just after Telegram answers),
    so that a reply to it can be matched."""

    async def recorded():
        async with bot.session() as session:
            return await session.scalar(
                select(Relay.id).where(
                    Relay.copy_chat_id == chat_id, Relay.copy_message_id == copy_message_id
                )
            )

    assert await eventually(recorded), "the copy was never recorded"


async def case_row(bot: RunningBot, code: str = "RO-0007") -> Case:
    async with bot.session() as session:
        return await session.scalar(
            select(Case)
            .where(Case.code == code)
            .options(selectinload(Case.counsellors), selectinload(Case.assigned_staff))
        )


async def test_first_message_opens_a_topic_with_a_pinned_card_and_arrives_as_a_copy(inbox):
    api = inbox.api
    maria = inbox.user(501)
    sent = await maria.send("Hello, when will the money come?")
    copy = await relayed(api, "copyMessage", GROUP)

    topic = api.calls_to("createForumTopic")
    assert [c["name"] for c in topic] == ["RO-0007 · ro"]
    thread = topic[0].result["message_thread_id"]
    card = api.calls_to("sendMessage", chat_id=GROUP)[0]
    assert card["message_thread_id"] == thread
    case = await case_row(inbox)
    assert card["text"] == case_card(inbox.app.i18n, case, "ro")  # the office's language
    first_line = inbox.app.i18n.gettext("Case {code}", locale="ro").format(code="RO-0007")
    assert card["text"].splitlines()[0] == first_line
    pin = await relayed(api, "pinChatMessage", GROUP)
    assert pin["message_id"] == card.result["message_id"]
    assert copy["from_chat_id"] == 501
    assert copy["message_id"] == sent["message_id"]
    assert copy["message_thread_id"] == thread
    assert api.chats[GROUP].messages[copy.result["message_id"]]["text"] == sent["text"]
    assert (case.inbox_chat_id, case.topic_id) == (GROUP, thread)


@pytest.mark.parametrize("kind", [k for k in CONTENT if k != "location"])
async def test_every_kind_of_content_is_copied_to_the_topic(inbox, kind):
    maria = inbox.user(501)
    sent = await maria.send(content=CONTENT[kind])
    copy = await relayed(inbox.api, "copyMessage", GROUP)
    assert copy["message_id"] == sent["message_id"]
    assert kind in inbox.api.chats[GROUP].messages[copy.result["message_id"]]


async def test_an_album_arrives_as_one_album(inbox):
    maria = inbox.user(501)
    ids = []
    for _ in range(3):
        message = await maria.send(content=CONTENT["photo"], media_group_id="album-1")
        ids.append(message["message_id"])
    album = await relayed(inbox.api, "copyMessages", GROUP)
    assert album["message_ids"] == ids
    assert not inbox.api.calls_to("copyMessage")

    async def recorded() -> list[int]:
        async with inbox.session() as session:
            return list(await session.scalars(select(Relay.source_message_id).order_by(Relay.id)))

    assert await eventually(recorded) == ids


async def test_a_location_is_never_relayed_as_a_pin(inbox):
    maria = inbox.user(501)
    mark = len(inbox.api.calls)
    await maria.send(content=CONTENT["location"])
    expected = notice_text(inbox.app.i18n, "ro", "location_shared", {})
    note = await inbox.api.wait_for(
        lambda c: c.method == "sendMessage" and c.get("text") == expected, after=mark
    )
    assert note["chat_id"] == GROUP
    assert "44.43" not in str(inbox.api.chats[GROUP].messages)
    for method in ("copyMessage", "sendLocation", "sendVenue", "forwardMessage"):
        assert not inbox.api.calls_to(method)


async def first_topic(bot: RunningBot) -> int:
    await bot.user(501).send("Hello")
    await relayed(bot.api, "copyMessage", GROUP)
    return (await case_row(bot)).topic_id


async def test_staff_answer_reaches_the_returnee_protected_and_signed(inbox):
    thread = await first_topic(inbox)
    ana = staff_ana(inbox)
    await ana.send("The first payment comes on Monday.", group=GROUP, topic=thread)
    answer = await relayed(inbox.api, "sendMessage", 501)
    assert answer["text"] == "The first payment comes on Monday.\n\n— IOM RO"
    assert answer["protect_content"] is True
    await ana.send(content=CONTENT["photo"] | {"caption": "The form"}, group=GROUP, topic=thread)
    photo = await relayed(inbox.api, "copyMessage", 501)
    assert photo["caption"] == "The form\n\n— IOM RO"
    assert photo["protect_content"] is True
    async with inbox.session() as session:
        actions = list(await session.scalars(select(AuditEvent.action)))
    assert "relay.sent.to_returnee" in actions
    assert "relay.sent.from_returnee" in actions


async def test_replies_are_kept_both_ways(inbox):
    api = inbox.api
    maria = inbox.user(501)
    question = await maria.send("Is a receipt from the market enough?")
    copy = await relayed(api, "copyMessage", GROUP)
    thread = (await case_row(inbox)).topic_id
    await delivered(inbox, GROUP, copy.result["message_id"])
    ana = staff_ana(inbox)
    staff_answer = await ana.send(
        "Yes, if it shows the price.",
        group=GROUP,
        topic=thread,
        reply_to=copy.result["message_id"],
    )
    # The question also gets an automatic programme answer; this is the staff member's.
    to_maria = await relayed(
        api, "sendMessage", 501, text="Yes, if it shows the price.\n\n— IOM RO"
    )
    assert to_maria["reply_parameters"]["message_id"] == question["message_id"]
    await delivered(inbox, 501, to_maria.result["message_id"])
    mark = len(api.calls)
    await maria.send("Thank you!", reply_to=to_maria.result["message_id"])
    back = await relayed(api, "copyMessage", GROUP, mark)
    assert back["reply_parameters"]["message_id"] == staff_answer["message_id"]


async def test_an_internal_note_never_leaves_the_topic(inbox):
    thread = await first_topic(inbox)
    ana = staff_ana(inbox)
    await ana.send("/note she sounded worried, call tomorrow", group=GROUP, topic=thread)
    await ana.send("Hello Maria", group=GROUP, topic=thread)
    await relayed(inbox.api, "sendMessage", 501)
    to_people = [c for c in inbox.api.calls if c.get("chat_id") in (501, 222)]
    assert all("worried" not in str(c.params) for c in to_people)


async def test_counsellor_round_trip(inbox):
    api = inbox.api
    thread = await first_topic(inbox)
    mette = inbox.user(222, first_name="Mette-Marie", last_name="Hansen", username="mette_cmm")
    mark = len(api.calls)
    asked = await mette.send("How is she settling in?")
    header = await relayed(api, "sendMessage", GROUP, mark, message_thread_id=thread)
    said_by = inbox.app.i18n.gettext("✉️ From the counsellor {name} ({organisation}):", locale="ro")
    assert header["text"] == said_by.format(name="Mette", organisation="CMM") + (
        "\nHow is she settling in?"
    )
    await delivered(inbox, GROUP, header.result["message_id"])
    ana = staff_ana(inbox)
    mark = len(api.calls)
    await ana.send(
        "Well, she found a flat.", group=GROUP, topic=thread, reply_to=header.result["message_id"]
    )
    to_mette = await relayed(api, "sendMessage", 222, mark)
    assert to_mette["text"] == "Well, she found a flat.\n\n— IOM RO"
    assert to_mette["reply_parameters"]["message_id"] == asked["message_id"]
    assert not [c for c in api.calls[mark:] if c.get("chat_id") == 501]


async def test_counsellor_with_two_cases_says_which_one(inbox):
    async with inbox.session() as session:
        await cases.add_case(
            session,
            office_code="RO",
            code="RO-0008",
            language="ro",
            counsellor_telegram_ids=[222],
        )
        await session.commit()
    await joined_returnee(inbox, user_id=502, case_code="RO-0008")
    mette = inbox.user(222, first_name="Mette-Marie", last_name="Hansen", username="mette_cmm")
    await mette.send("Does she have a doctor yet?")
    assert mette.buttons() == ["RO-0007", "RO-0008"]
    await mette.press("RO-0008")
    header = await inbox.api.wait_for(
        lambda c: c.method == "sendMessage" and "Does she have a doctor" in c.get("text", "")
    )
    case = await case_row(inbox, "RO-0008")
    assert header["message_thread_id"] == case.topic_id
    passed_on = inbox.app.i18n.gettext("Passed on to the office for case {code}.", locale="da")
    assert mette.last_text() == passed_on.format(code="RO-0008")


async def test_staff_of_another_office_and_strangers_cannot_act_in_the_inbox(inbox):
    thread = await first_topic(inbox)
    async with inbox.session() as session:
        await office_with_case(session, office="BG", languages=("bg", "en"), counsellor_id=None)
        await people.add_staff(session, office_code="BG", telegram_user_id=333, name="Boris")
        await session.commit()
    boris = inbox.user(333, first_name="Boris", last_name="Ivanov", username="boris_bg")
    stranger = inbox.user(999, first_name="Xavier", last_name="Unknown", username="x_unknown")
    mark = len(inbox.api.calls)
    await boris.send("Hi from Sofia", group=GROUP, topic=thread)
    await boris.send("Hi again", group=GROUP, topic=thread)
    await stranger.send("Who is this?", group=GROUP, topic=thread)
    await inbox.settled()
    assert not [c for c in inbox.api.calls[mark:] if c.get("chat_id") == 501]
    told = [c for c in inbox.api.calls[mark:] if c.method == "sendMessage"]
    assert len(told) == 2  # Boris once (not twice), the stranger once
    assert all("Only registered staff of IOM RO" in c["text"] for c in told)


async def test_anonymous_admins_and_the_general_topic_get_an_explanation(inbox):
    thread = await first_topic(inbox)
    ana = staff_ana(inbox)
    anonymous = ana.message("Signed by nobody", group=GROUP, topic=thread)
    anonymous["sender_chat"] = {"id": GROUP, "type": "supergroup", "title": "Office inbox"}
    mark = len(inbox.api.calls)
    await inbox.api.handled(await inbox.api.push_update("message", anonymous))
    await ana.send("Hello all", group=GROUP)
    await inbox.settled()
    told = [c for c in inbox.api.calls[mark:] if c.method == "sendMessage"]
    assert "anonymously" in told[0]["text"]
    assert told[0]["message_thread_id"] == thread
    assert "belongs to no case" in told[1]["text"]
    assert not [c for c in inbox.api.calls[mark:] if c.get("chat_id") == 501]


async def test_a_blocked_returnee_is_noted_once_and_gets_everything_when_back(inbox):
    api = inbox.api
    thread = await first_topic(inbox)
    api.blocked.add(501)
    ana = staff_ana(inbox)
    await ana.send("Are you there?", group=GROUP, topic=thread)
    await ana.send("Please answer.", group=GROUP, topic=thread)
    blocked = notice_text(inbox.app.i18n, "ro", "returnee_blocked", {})
    await api.wait_for(lambda c: c.method == "sendMessage" and c.get("text") == blocked)
    await inbox.settled()
    notes = [c for c in api.calls_to("sendMessage", chat_id=GROUP) if c["text"] == blocked]
    assert len(notes) == 1
    assert (await case_row(inbox)).unreachable
    async with inbox.session() as session:
        held = list(
            await session.scalars(select(OutboxItem).where(OutboxItem.status == OutboxStatus.HELD))
        )
    assert len(held) == 2

    api.blocked.discard(501)
    mark = len(api.calls)
    await inbox.user(501).send("Sorry, I am back")
    first = await relayed(api, "sendMessage", 501, mark)
    assert first["text"].startswith("Are you there?")
    await api.wait_for(
        lambda c: c.method == "sendMessage" and c.get("text", "").startswith("Please answer."),
        after=mark,
    )
    assert not (await case_row(inbox)).unreachable


async def test_a_case_moved_to_a_new_phone_takes_its_waiting_messages_and_clears_the_old_chat(
    inbox,
):
    """A lost phone: staff's answers that wait for the old account (it blocked the bot) go to the
    new one, and the old chat is cleared as far as Telegram allows."""
    api = inbox.api
    thread = await first_topic(inbox)
    case_id = (await case_row(inbox)).id
    api.blocked.add(501)
    await staff_ana(inbox).send("Your appointment is on Monday.", group=GROUP, topic=thread)
    blocked = notice_text(inbox.app.i18n, "ro", "returnee_blocked", {})
    await api.wait_for(lambda c: c.method == "sendMessage" and c.get("text") == blocked)
    async with inbox.session() as session:
        second = await invites.invite_returnee(session, case_code="RO-0007", ttl_days=1)
        await session.commit()
    api.blocked.discard(501)  # the phone is in someone else's hands, not blocked any more
    mark = len(api.calls)
    await inbox.user(601).send(f"/start {second.token}")
    moved = await relayed(
        api, "sendMessage", 601, mark, text="Your appointment is on Monday.\n\n— IOM RO"
    )
    assert moved["protect_content"] is True
    await inbox.app.sweeps.sweep(now=utcnow())
    # Only Maria's "Hello" is known in the old chat (the bot had written nothing there).
    hello_id = api.calls_to("copyMessage", chat_id=GROUP)[0]["message_id"]
    cleared = await api.wait_for(
        lambda c: c.method == "deleteMessage" and c.get("chat_id") == 501, after=mark
    )
    assert cleared["message_id"] == hello_id
    # Nothing else went to the old account.
    assert [c.method for c in api.calls[mark:] if c.get("chat_id") == 501] == ["deleteMessage"]
    async with inbox.session() as session:
        actions = list(
            await session.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case_id))
        )
    assert "case.moved_account" in actions
    assert not (await case_row(inbox)).unreachable


async def test_a_deleted_topic_is_recreated_and_nothing_goes_to_general(inbox):
    api = inbox.api
    old_thread = await first_topic(inbox)
    api.deleted_topics.add((GROUP, old_thread))
    mark = len(api.calls)
    later = await inbox.user(501).send("Are you still there?")
    copy = await api.wait_for(
        lambda c: (
            c.method == "copyMessage"
            and c.get("message_id") == later["message_id"]
            and c.result is not None
        ),
        after=mark,
    )
    new_thread = copy["message_thread_id"]
    assert new_thread != old_thread
    assert len(api.calls_to("createForumTopic")) == 2
    await api.wait_for(lambda c: c.method == "pinChatMessage" and len(api.calls_to(c.method)) == 2)
    to_group = [c for c in api.calls if c.get("chat_id") == GROUP]
    topic_bound = [c for c in to_group if c.method not in ("createForumTopic", "pinChatMessage")]
    assert all(c.get("message_thread_id") for c in topic_bound)
    assert (await case_row(inbox)).topic_id == new_thread


async def test_429_retry_after_is_honoured_and_nothing_is_lost(inbox):
    api = inbox.api
    await first_topic(inbox)
    api.fail_next(
        "copyMessage", 429, "Too Many Requests: retry after 1", parameters={"retry_after": 1}
    )
    mark = len(api.calls)
    sent = await inbox.user(501).send("One more thing")
    refused = await api.wait_for(lambda c: c.method == "copyMessage", after=mark)
    delivered = await relayed(api, "copyMessage", GROUP, api.calls.index(refused) + 1)
    assert delivered["message_id"] == sent["message_id"]
    assert delivered.at - refused.at >= 1.0
    copies = [c for c in api.calls_to("copyMessage") if c.get("message_id") == sent["message_id"]]
    assert len(copies) == 2  # the refused attempt and one delivery, no duplicate


async def test_a_message_waiting_after_a_failure_is_not_overtaken_by_a_later_one(inbox):
    api = inbox.api
    await first_topic(inbox)
    api.fail_next("copyMessage", 502, "Bad Gateway")
    maria = inbox.user(501)
    mark = len(api.calls)
    # Photos, so that nothing is combined: each goes on its own.
    first = await maria.send(content=CONTENT["photo"] | {"caption": "first"})
    await api.wait_for(lambda c: c.method == "copyMessage", after=mark)  # refused, backs off
    second = await maria.send(content=CONTENT["photo"] | {"caption": "second"})
    await api.wait_for(
        lambda c: c.method == "copyMessage" and c.get("message_id") == second["message_id"],
        after=mark,
        timeout=15,
    )
    copied = [c["message_id"] for c in api.calls[mark:] if c.method == "copyMessage"]
    # The refused attempt, then both in the order they were written.
    assert copied == [first["message_id"], first["message_id"], second["message_id"]]


async def test_the_group_limit_is_never_exceeded_and_cases_are_served_fairly(fake_api, sqlite_url):
    limit, window = 5, 1.0
    settings = make_settings(
        fake_api, sqlite_url, send_group_per_minute=limit, send_group_window_seconds=window
    )
    bot = RunningBot(create_app(settings), fake_api)
    await bot.start()
    try:
        async with bot.session() as session:
            await office_with_case(session, counsellor_id=None)
            await cases.add_case(session, office_code="RO", code="RO-0008", language="ro")
            await session.commit()
        await joined_returnee(bot, 501, "RO-0007")
        await joined_returnee(bot, 502, "RO-0008")
        chatty, quiet = bot.user(501), bot.user(502)
        # Both cases' topics wait for Telegram until every message is queued, so the order
        # below is the sender's choice, not how fast the updates came in.
        fake_api.pause("createForumTopic")
        for n in range(6):
            # Media, so that nothing is combined: this test is about the window and fairness.
            await chatty.send(content=CONTENT["photo"] | {"caption": f"receipt {n}"})
        await quiet.send(content=CONTENT["photo"])
        assert await eventually(lambda: asyncio.sleep(0, fake_api.held == 2))
        fake_api.resume()
        await fake_api.wait_for(
            lambda c: c.method == "copyMessage" and c.get("from_chat_id") == 502, timeout=30
        )
        await fake_api.wait_for(
            lambda c: (
                c.method == "copyMessage"
                and len(
                    [x for x in fake_api.calls_to("copyMessage") if x.get("from_chat_id") == 501]
                )
                == 6
            ),
            timeout=30,
        )
    finally:
        await bot.stop()
    to_group = [c.at for c in fake_api.calls if c.get("chat_id") == GROUP]
    for start in to_group:
        in_window = [t for t in to_group if start <= t < start + window]
        assert len(in_window) <= limit
    copies = [c.get("from_chat_id") for c in fake_api.calls_to("copyMessage")]
    # The quiet case goes in between, not after all six of the chatty case's messages.
    assert copies.index(502) <= 3, f"the quiet case waited behind the chatty one: {copies}"


async def test_short_texts_that_wait_go_as_one_topic_message(fake_api, sqlite_url):
    settings = make_settings(
        fake_api, sqlite_url, send_group_per_minute=3, send_group_window_seconds=1.0
    )
    bot = RunningBot(create_app(settings), fake_api)
    await bot.start()
    try:
        async with bot.session() as session:
            await office_with_case(session, counsellor_id=None)
        await joined_returnee(bot, 501, "RO-0007")
        maria = bot.user(501)
        texts = ("hello", "are you there?", "it is urgent")
        sent = [await maria.send(text) for text in texts]

        async def relays():
            async with bot.session() as session:
                return list(await session.scalars(select(Relay).order_by(Relay.id)))

        # Topic, card and pin fill the first window: texts that wait meanwhile go together.
        rows = await eventually(lambda: relays_if(relays, 3), timeout=15)
    finally:
        await bot.stop()
    combined = [
        c for c in fake_api.calls_to("sendMessage", chat_id=GROUP) if "] " in c.get("text", "")
    ]
    assert len(combined) == 1
    lines = combined[0]["text"].splitlines()
    together = [line.split("] ", 1)[1] for line in lines]
    assert all(line.startswith("[") and line[3] == ":" for line in lines)
    copied = [c["message_id"] for c in fake_api.calls_to("copyMessage", chat_id=GROUP)]
    # Each text reaches the topic exactly once, in order: combined ones side by side, the rest
    # as copies.
    assert len(together) >= 2
    assert len(together) + len(copied) == len(texts)
    by_id = {m["message_id"]: m["text"] for m in sent}
    assert sorted([*together, *(by_id[i] for i in copied)], key=texts.index) == list(texts)
    assert [r.source_message_id for r in rows] == [m["message_id"] for m in sent]
    shared = [r for r in rows if r.copy_message_id == combined[0].result["message_id"]]
    assert [by_id[r.source_message_id] for r in shared] == together
    assert bot.app.sender.combined_saved == len(together) - 1
    async with bot.session() as session:
        payloads = list(await session.scalars(select(OutboxItem.payload)))
    assert all(not p or "combinable" not in p for p in payloads)  # no text kept after delivery


async def relays_if(read, count):
    rows = await read()
    return rows if len(rows) >= count else None


async def test_an_update_delivered_twice_is_relayed_once(inbox):
    maria = inbox.user(501)
    message = maria.message("Only once, please")
    for _ in range(2):  # what Telegram does when the bot died before confirming an update
        await inbox.api.handled(await inbox.api.push_update("message", message))
    await relayed(inbox.api, "copyMessage", GROUP)
    await inbox.settled()
    assert len(inbox.api.calls_to("copyMessage")) == 1
