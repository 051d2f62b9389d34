"""Working the inbox: claiming and assigning, closing, edits, office hours, response times."""

from __future__ import annotations

import asyncio
from datetime import date

from sqlalchemy import func, select

from bot.delivery.texts import case_card, notice_text
from bot.formatting import opening_hours_text
from bot.services import offices, people, saved_replies
from bot.services.clock import as_utc
from storage.models import Direction, Office, OutboxItem, OutboxStatus, Relay, ResponseTime
from tests.fakes.telegram_user import CONTENT
from tests.test_inbox import GROUP, case_row, eventually, first_topic, inbox, relayed, staff_ana

__all__ = ["inbox"]  # the fixture, shared with test_inbox


def tr(bot, msgid: str, locale: str = "ro") -> str:
    return bot.app.i18n.gettext(msgid, locale=locale)


async def test_claim_and_assign_update_the_pinned_card(inbox):
    api = inbox.api
    thread = await first_topic(inbox)
    async with inbox.session() as session:
        await people.add_staff(session, office_code="RO", telegram_user_id=112, name="Bogdan Pop")
        await session.commit()
    card_id = (await case_row(inbox)).card_message_id
    ana = staff_ana(inbox)
    mark = len(api.calls)
    await ana.send("/claim", group=GROUP, topic=thread)
    edit = await relayed(api, "editMessageText", GROUP, mark, message_id=card_id)
    assert edit["text"] == case_card(inbox.app.i18n, await case_row(inbox), "ro")
    assert "Ana" in edit["text"].splitlines()[4]
    mark = len(api.calls)
    await ana.send("/assign bog", group=GROUP, topic=thread)
    edit = await relayed(api, "editMessageText", GROUP, mark, message_id=card_id)
    assert "Bogdan Pop" in edit["text"]
    assert (await case_row(inbox)).assigned_staff.display_name == "Bogdan Pop"
    mark = len(api.calls)
    await ana.send("/assign Zed", group=GROUP, topic=thread)
    await inbox.settled()
    told = [c for c in api.calls[mark:] if c.method == "sendMessage"]
    expected = tr(  # in Ana's own language (her Telegram is in English)
        inbox, "No staff member of {office} is called {name}. Write /assign and a name.", "en"
    )
    assert told[-1]["text"] == expected.format(office="IOM RO", name="Zed")
    assert not [c for c in api.calls if c.get("chat_id") == 501 and "/assign" in str(c.params)]


async def test_close_closes_the_topic_and_the_returnee_reopens_it(inbox):
    api = inbox.api
    thread = await first_topic(inbox)
    await staff_ana(inbox).send("/close", group=GROUP, topic=thread)
    await relayed(api, "closeForumTopic", GROUP, message_thread_id=thread)
    assert (await case_row(inbox)).topic_closed
    mark = len(api.calls)
    later = await inbox.user(501).send("I have one more question")
    await relayed(api, "reopenForumTopic", GROUP, mark, message_thread_id=thread)
    copy = await relayed(api, "copyMessage", GROUP, mark)
    assert copy["message_id"] == later["message_id"]
    reopen = api.calls_to("reopenForumTopic")[0]
    assert api.calls.index(reopen) < api.calls.index(copy)
    assert not (await case_row(inbox)).topic_closed


async def test_edits_follow_the_copies_both_ways(inbox):
    api = inbox.api
    maria = inbox.user(501)
    original = await maria.send("I need 300 for rent")
    copy = await relayed(api, "copyMessage", GROUP)
    thread = (await case_row(inbox)).topic_id
    edited = dict(original, text="I need 350 for rent", edit_date=original["date"] + 60)
    mark = len(api.calls)
    await api.handled(await api.push_update("edited_message", edited))
    edit = await relayed(api, "editMessageText", GROUP, mark)
    assert edit["message_id"] == copy.result["message_id"]
    assert edit["text"] == "I need 350 for rent"
    assert api.chats[GROUP].messages[copy.result["message_id"]]["text"] == "I need 350 for rent"

    ana = staff_ana(inbox)
    answer = await ana.send("We pay 300.", group=GROUP, topic=thread)
    # Not the automatic programme answer the rent question may have had: the staff answer.
    to_maria = await relayed(api, "sendMessage", 501, text="We pay 300.\n\n— IOM RO")
    mark = len(api.calls)
    fixed = dict(answer, text="We pay 350.", edit_date=answer["date"] + 30)
    await api.handled(await api.push_update("edited_message", fixed))
    edit = await relayed(api, "editMessageText", 501, mark)
    assert edit["message_id"] == to_maria.result["message_id"]
    assert edit["text"] == "We pay 350.\n\n— IOM RO"


async def test_an_edited_photo_caption_follows_as_a_marked_correction(inbox):
    api = inbox.api
    maria = inbox.user(501)
    photo = await maria.send(content=CONTENT["photo"] | {"caption": "receipt 120"})
    copy = await relayed(api, "copyMessage", GROUP)
    mark = len(api.calls)
    edited = dict(photo, caption="receipt 210", edit_date=photo["date"] + 5)
    await api.handled(await api.push_update("edited_message", edited))
    correction = await relayed(api, "copyMessage", GROUP, mark)
    assert correction["caption"] == "✏️ receipt 210"
    assert correction["reply_parameters"]["message_id"] == copy.result["message_id"]


async def nothing_waiting(bot) -> bool:
    async with bot.session() as session:
        waiting = await session.scalar(
            select(func.count()).where(OutboxItem.status == OutboxStatus.PENDING)
        )
    return waiting == 0


async def test_an_edit_that_arrives_while_the_photo_is_being_copied_still_follows(inbox):
    api = inbox.api
    await first_topic(inbox)
    api.pause("copyMessage", chat_id=GROUP)
    maria = inbox.user(501)
    photo = await maria.send(content=CONTENT["photo"] | {"caption": "receipt 120"})
    assert await eventually(lambda: asyncio.sleep(0, api.held))  # Telegram has it, no answer yet
    mark = len(api.calls)
    edited = dict(photo, caption="receipt 210", edit_date=photo["date"] + 5)
    await api.handled(await api.push_update("edited_message", edited))
    api.resume()
    copy = await relayed(api, "copyMessage", GROUP, mark, message_id=photo["message_id"])
    correction = await relayed(api, "copyMessage", GROUP, mark, caption="✏️ receipt 210")
    assert correction["reply_parameters"]["message_id"] == copy.result["message_id"]


async def test_a_photo_edited_before_it_is_copied_goes_once_as_edited(inbox):
    api = inbox.api
    api.pause("createForumTopic")  # the photo waits behind its case's new topic
    maria = inbox.user(501)
    photo = await maria.send(content=CONTENT["photo"] | {"caption": "receipt 120"})
    assert await eventually(lambda: asyncio.sleep(0, api.held))
    edited = dict(photo, caption="receipt 210", edit_date=photo["date"] + 5)
    await api.handled(await api.push_update("edited_message", edited))
    api.resume()
    copy = await relayed(api, "copyMessage", GROUP)
    assert api.chats[GROUP].messages[copy.result["message_id"]]["caption"] == "receipt 210"
    assert await eventually(lambda: nothing_waiting(inbox))
    assert len(api.calls_to("copyMessage", chat_id=GROUP)) == 1  # no needless correction


async def answer_edited_while_it_is_sent(inbox) -> None:
    """Ana answers "We pay 300." and corrects it to 350 while Telegram has not yet answered."""
    api = inbox.api
    thread = await first_topic(inbox)
    api.pause("sendMessage", chat_id=501)
    answer = await staff_ana(inbox).send("We pay 300.", group=GROUP, topic=thread)
    assert await eventually(lambda: asyncio.sleep(0, api.held))
    fixed = dict(answer, text="We pay 350.", edit_date=answer["date"] + 30)
    await api.handled(await api.push_update("edited_message", fixed))


async def test_an_answer_edited_while_it_is_being_sent_is_edited_at_the_returnee(inbox):
    api = inbox.api
    await answer_edited_while_it_is_sent(inbox)
    api.resume()
    sent = await relayed(api, "sendMessage", 501, text="We pay 300.\n\n— IOM RO")
    edit = await relayed(api, "editMessageText", 501)
    assert edit["message_id"] == sent.result["message_id"]
    assert edit["text"] == "We pay 350.\n\n— IOM RO"


async def test_an_edit_of_an_answer_held_for_a_blocked_returnee_follows_when_they_are_back(inbox):
    api = inbox.api
    await answer_edited_while_it_is_sent(inbox)
    api.blocked.add(501)  # Telegram refuses the answer: it is held, and its edit with it
    api.resume()
    blocked = notice_text(inbox.app.i18n, "ro", "returnee_blocked", {})
    await api.wait_for(lambda c: c.method == "sendMessage" and c.get("text") == blocked)
    api.blocked.discard(501)
    mark = len(api.calls)
    await inbox.user(501).send("Sorry, I am back")
    sent = await relayed(api, "sendMessage", 501, mark, text="We pay 300.\n\n— IOM RO")
    edit = await relayed(api, "editMessageText", 501, mark)
    assert edit["message_id"] == sent.result["message_id"]
    assert edit["text"] == "We pay 350.\n\n— IOM RO"


async def test_outside_office_hours_the_returnee_hears_when_it_opens_once_a_day(inbox):
    api = inbox.api
    async with inbox.session() as session:
        office = await offices.update_office(
            session, "RO", hours=["mon-fri 09:00-17:00"], holidays=[date.today()]
        )
        hours = opening_hours_text(office, "en")
        await session.commit()
    maria = inbox.user(501)
    await maria.send("Hello, is anyone there?")
    await maria.send("Hello again")

    async def both_relayed():
        async with inbox.session() as session:
            rows = list(await session.scalars(select(Relay)))
        return rows if len(rows) == 2 else None  # copied one by one, or combined into one post

    assert await eventually(both_relayed)
    notes = [c for c in api.calls_to("sendMessage", chat_id=501)]
    assert len(notes) == 1
    assert notes[0]["text"] == tr(
        inbox,
        "Thank you, your message has reached {office}. The office is closed now and will "
        "answer when it opens.\nOpening hours:\n{hours}",
        "en",
    ).format(office="IOM RO", hours=hours)
    assert hours.splitlines()[0] == "Monday: 9:00\u202fAM–5:00\u202fPM"


async def test_response_time_is_recorded_from_the_first_unanswered_message(inbox):
    thread = await first_topic(inbox)
    await inbox.user(501).send("Second question")
    await relayed(inbox.api, "copyMessage", GROUP, len(inbox.api.calls) - 1)
    await staff_ana(inbox).send("Answer to both", group=GROUP, topic=thread)
    await staff_ana(inbox).send("And one more thing", group=GROUP, topic=thread)

    async def recorded():
        async with inbox.session() as session:
            return list(await session.scalars(select(ResponseTime)))

    times = await eventually(recorded)
    assert len(times) == 1  # the second answer answers nothing new
    async with inbox.session() as session:
        first_asked = await session.scalar(
            select(func.min(OutboxItem.created_at)).where(
                OutboxItem.direction == Direction.FROM_RETURNEE
            )
        )
    # Measured from the first of the two questions, not the second.
    assert as_utc(times[0].asked_at) == as_utc(first_asked)
    waited = (as_utc(times[0].answered_at) - as_utc(first_asked)).total_seconds()
    assert times[0].seconds == int(waited)
    assert times[0].staff_id is not None


async def test_answers_can_carry_the_staff_members_first_name(inbox):
    thread = await first_topic(inbox)
    async with inbox.session() as session:
        await offices.update_office(session, "RO", sign_with_staff_name=True)
        await session.commit()
        office = await session.scalar(select(Office))
        assert office.sign_with_staff_name
    await staff_ana(inbox).send("See you Monday.", group=GROUP, topic=thread)
    answer = await relayed(inbox.api, "sendMessage", 501)
    assert answer["text"] == "See you Monday.\n\n— Ana, IOM RO"


async def test_saved_replies_go_out_in_the_returnees_language(inbox):
    api = inbox.api
    thread = await first_topic(inbox)
    async with inbox.session() as session:
        await saved_replies.save(
            session, office_code="RO", name="hours", language="ro", text="Luni-vineri 9-17."
        )
        await saved_replies.save(
            session, office_code="RO", name="hours", language="en", text="Mon-Fri 9-17."
        )
        await session.commit()
    ana = staff_ana(inbox)
    mark = len(api.calls)
    await ana.send("/s", group=GROUP, topic=thread)
    await ana.send("/s hours", group=GROUP, topic=thread)
    sent = await relayed(api, "sendMessage", 501, mark)
    assert sent["text"] == "Mon-Fri 9-17.\n\n— IOM RO"  # Maria reads English
    assert sent["protect_content"] is True
    listing = [
        c for c in api.calls[mark:] if c.get("chat_id") == GROUP and c.method == "sendMessage"
    ]
    assert listing[0]["text"].endswith("hours")


async def test_a_mistyped_command_is_not_passed_on(inbox):
    thread = await first_topic(inbox)
    mark = len(inbox.api.calls)
    await staff_ana(inbox).send("/asign Ana", group=GROUP, topic=thread)
    await inbox.settled()
    assert not [c for c in inbox.api.calls[mark:] if c.get("chat_id") == 501]
    told = [c for c in inbox.api.calls[mark:] if c.method == "sendMessage"]
    assert "/note, /claim" in told[0]["text"]


async def test_the_office_is_told_when_relaying_runs_late(fake_api, sqlite_url):
    from bot.app import create_app
    from bot.delivery.texts import notice_text
    from tests.conftest import RunningBot, make_settings
    from tests.test_inbox import joined_returnee
    from tests.world import office_with_case

    settings = make_settings(fake_api, sqlite_url, relay_lag_alert_seconds=0.001)
    bot = RunningBot(create_app(settings), fake_api)
    await bot.start()
    try:
        async with bot.session() as session:
            await office_with_case(session)
        await joined_returnee(bot)
        # Photos, so that nothing is combined and each arrival is one copy.
        await bot.user(501).send(content=CONTENT["photo"])
        await bot.user(501).send(content=CONTENT["photo"])
        alert = await fake_api.wait_for(
            lambda c: c.method == "sendMessage" and c.get("text", "").startswith("⏳")
        )
        await fake_api.wait_for(
            lambda c: c.method == "copyMessage" and len(fake_api.calls_to("copyMessage")) == 2
        )
        await bot.settled()
    finally:
        await bot.stop()
    assert alert["chat_id"] == GROUP
    assert "message_thread_id" not in alert.params  # office-wide, in General, naming no case
    assert alert["text"] == notice_text(bot.app.i18n, "ro", "relay_late", {"minutes": 1})
    assert len([c for c in fake_api.calls if c.get("text", "").startswith("⏳")]) == 1
    assert bot.app.sender.lag[GROUP] > 0


async def test_a_broken_outbox_item_backs_off_instead_of_spinning(inbox, caplog):
    from bot.services.clock import utcnow
    from storage.models import Direction, OutboxItem, OutboxStatus

    case = await case_row(inbox)
    async with inbox.session() as session:
        session.add(
            OutboxItem(
                case_id=case.id,
                destination="private",
                chat_id=501,
                # Well formed, but no such note exists: the delivery fails unexpectedly.
                kind="notice",
                payload={"notice": "no-such-note"},
                direction=Direction.TO_RETURNEE,
                status=OutboxStatus.PENDING,
                attempts=0,
                not_before=utcnow(),
                created_at=utcnow(),
            )
        )
        await session.commit()
    inbox.app.sender.wake()

    async def backed_off():
        async with inbox.session() as session:
            item = await session.scalar(select(OutboxItem))
            return item if item.attempts else None

    item = await eventually(backed_off)
    await inbox.settled()
    async with inbox.session() as session:
        again = await session.get(OutboxItem, item.id)
    assert again.attempts == 1  # not retried in a tight loop
    assert again.status is OutboxStatus.PENDING
    assert "KeyError" in caplog.text


async def test_an_office_with_two_groups_spreads_its_cases_over_them(fake_api, sqlite_url):
    from bot.app import create_app
    from bot.services import cases
    from tests.conftest import RunningBot, make_settings
    from tests.test_inbox import joined_returnee
    from tests.world import office_with_case

    second_group = -1009999
    bot = RunningBot(create_app(make_settings(fake_api, sqlite_url)), fake_api)
    await bot.start()
    try:
        async with bot.session() as session:
            await office_with_case(session)
            await cases.add_case(session, office_code="RO", code="RO-0008", language="ro")
            await offices.update_office(session, "RO", add_inbox=second_group)
            await people.add_staff(session, office_code="RO", telegram_user_id=111, name="Ana")
            await session.commit()
        await joined_returnee(bot, 501, "RO-0007")
        await joined_returnee(bot, 502, "RO-0008")
        await bot.user(501).send("first case")
        await bot.user(502).send("second case")
        second = await relayed(fake_api, "copyMessage", second_group)
        first = await relayed(fake_api, "copyMessage", GROUP)
        assert (first["from_chat_id"], second["from_chat_id"]) == (501, 502)
        # Staff answer in the second group reaches that case's returnee.
        await staff_ana(bot).send(
            "Hello from the second group", group=second_group, topic=second["message_thread_id"]
        )
        answer = await relayed(fake_api, "sendMessage", 502)
        assert answer["text"].startswith("Hello from the second group")
    finally:
        await bot.stop()


async def test_staff_may_see_a_location_only_when_the_returnee_agrees(inbox):
    api = inbox.api
    maria = inbox.user(501)
    shared = await maria.send(content=CONTENT["location"])
    await api.wait_for(
        lambda c: (
            c.method == "sendMessage" and c.get("chat_id") == GROUP and "📍" in c.get("text", "")
        )
    )
    thread = (await case_row(inbox)).topic_id
    ana = staff_ana(inbox)
    await ana.send("/location", group=GROUP, topic=thread)
    question = await relayed(api, "sendMessage", 501)
    assert question["text"] == "Your office asks to see the location you shared. Send it to them?"
    assert question["reply_parameters"]["message_id"] == shared["message_id"]
    await maria.press("No")
    declined = notice_text(inbox.app.i18n, "ro", "location_declined", {})
    await api.wait_for(lambda c: c.method == "sendMessage" and c.get("text") == declined)
    assert not api.calls_to("copyMessage")

    await ana.send("/location", group=GROUP, topic=thread)
    await api.wait_for(
        lambda c: (
            c.method == "sendMessage"
            and c.get("chat_id") == 501
            and c is not question
            and "location" in c.get("text", "")
        )
    )
    await maria.press("Yes, send it")
    copy = await relayed(api, "copyMessage", GROUP)
    assert copy["message_id"] == shared["message_id"]
    assert copy["message_thread_id"] == thread
    assert maria.last_text() == "Sent to your office."


async def test_staff_manage_saved_replies_from_the_group(inbox):
    thread = await first_topic(inbox)
    api, ana = inbox.api, staff_ana(inbox)
    mark = len(api.calls)
    await ana.send("/s save docs en Please bring your ID.\nAnd the form.", group=GROUP)
    told = await relayed(api, "sendMessage", GROUP, mark)
    assert told["text"] == tr(inbox, "Saved reply {name} saved in {language}.", "en").format(
        name="docs", language="en"
    )
    mark = len(api.calls)
    await ana.send("/s docs", group=GROUP, topic=thread)
    sent = await relayed(api, "sendMessage", 501, mark)
    assert sent["text"] == "Please bring your ID.\nAnd the form.\n\n— IOM RO"

    mark = len(api.calls)
    await ana.send("/s save", group=GROUP, topic=thread)
    usage = await relayed(api, "sendMessage", GROUP, mark)
    assert "/s save" in usage["text"]
    assert "/s delete" in usage["text"]
    mark = len(api.calls)
    await ana.send("/s save delete en Please call us.", group=GROUP, topic=thread)
    refused = await relayed(api, "sendMessage", GROUP, mark)
    assert refused["text"] == tr(
        inbox,
        "A reply name is 1 to 32 of a-z, 0-9, _ and -, and cannot be save or delete.",
        "en",
    )
    await ana.send("/s delete docs", group=GROUP, topic=thread)
    async with inbox.session() as session:
        office = await session.scalar(select(Office).where(Office.code == "RO"))
        assert await saved_replies.names(session, office) == []

    # Someone who is not the office's staff changes nothing.
    stranger = inbox.user(999)
    await stranger.send("/s save evil en Send money to me", group=GROUP)
    async with inbox.session() as session:
        office = await session.scalar(select(Office).where(Office.code == "RO"))
        assert await saved_replies.names(session, office) == []
