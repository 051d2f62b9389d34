"""Programme knowledge through the whole bot: answers, suggestions, danger alerts, browsing."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import select

from bot.delivery.texts import notice_text
from bot.languages import SHIPPED_LANGUAGES
from bot.services import budget, cases, ledger, offices, people
from bot.services.consent import withdraw_consent
from storage.models import KnowledgeMode, PaidAs, Person
from tests.test_inbox import GROUP, first_topic, inbox, relayed, staff_ana

__all__ = ["inbox"]

EMERGENCY = "+40 700 000 111"


def without_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


@pytest.fixture
async def programme(inbox):
    """The inbox of test_inbox, with a second staff member, the Danish budget and a payout."""
    async with inbox.session() as session:
        await people.add_staff(session, office_code="RO", telegram_user_id=112, name="Ion")
        await offices.update_office(session, "RO", emergency_contact=EMERGENCY)
        for category, maximum, paid_as, months in (
            ("allowance", "150", PaidAs.CASH, 3),
            ("housing", "900", PaidAs.IN_KIND, None),
            ("business", "3000", PaidAs.IN_KIND, None),
        ):
            await budget.set_category(
                session,
                programme="dk",
                category=category,
                maximum=maximum,
                currency="USD",
                paid_as=paid_as,
                months=months,
            )
        case = await cases.get_case(session, "RO-0007")
        case.programme = "dk"
        await ledger.record_payout(session, case, "housing", "300", date(2026, 10, 20))
        await session.commit()
    return inbox


def bot_wrote_about_it(api, mark: int) -> list:
    """Answers to the returnee and knowledge notes in the topic since `mark`."""
    return [
        c
        for c in api.calls[mark:]
        if c.method == "sendMessage"
        and (c.get("chat_id") == 501 or c.get("text", "")[:1] in ("💡", "🚨"))
    ]


async def set_mode(bot, mode: KnowledgeMode) -> None:
    async with bot.session() as session:
        await offices.update_office(session, "RO", knowledge_mode=mode)
        await session.commit()


async def set_returnee_language(bot, language: str) -> None:
    async with bot.session() as session:
        person = await session.scalar(select(Person).where(Person.telegram_user_id == 501))
        person.language = language
        await session.commit()


def question(bot, entry_id: str, language: str = "en") -> str:
    return bot.app.dispatcher["knowledge"].text(language, entry_id).question


async def test_a_clear_question_is_answered_at_once_and_staff_see_which_answer(programme):
    api, maria = programme.api, programme.user(501)
    mark = len(api.calls)
    await maria.send("when does my monthly allowance come")
    await relayed(api, "copyMessage", GROUP, mark)
    answer = await relayed(api, "sendMessage", 501, mark)
    assert answer["text"].startswith("🤖 Automatic answer. Your message has also reached IOM RO")
    assert question(programme, "allowance-when") in answer["text"]
    # Figures come from the programme's settings, formatted by Babel for the reader.
    assert "$150.00 a month for 3 months" in answer["text"]
    expected = notice_text(
        programme.app.i18n,
        "ro",
        "knowledge_answered",
        {"question": question(programme, "allowance-when", "ro"), "entry": "allowance-when"},
    )
    note = await relayed(api, "sendMessage", GROUP, mark, text=expected)
    copy = api.calls_to("copyMessage", chat_id=GROUP)[-1]
    assert note["message_thread_id"] == copy["message_thread_id"]


async def test_the_returnee_sees_what_is_left_of_their_own_budget(programme):
    api, maria = programme.api, programme.user(501)
    mark = len(api.calls)
    await maria.send("How much money do I have left?")
    answer = await relayed(api, "sendMessage", 501, mark)
    assert "Housing: $600.00 left" in answer["text"]
    assert "Monthly allowance: $450.00 left" in answer["text"]
    assert "Income-generating activity: $3,000.00 left" in answer["text"]


async def test_my_money_in_the_menu_shows_the_same_amounts(programme):
    maria = programme.user(501)
    await maria.send("/menu")
    await maria.press("My money")
    assert "Housing: $600.00 left" in maria.last_text()


async def test_suggest_only_tells_staff_and_off_does_nothing(programme):
    api, maria = programme.api, programme.user(501)
    await set_mode(programme, KnowledgeMode.SUGGEST)
    mark = len(api.calls)
    await maria.send("What must a receipt show?")
    expected = notice_text(
        programme.app.i18n,
        "ro",
        "knowledge_suggested",
        {
            "question": question(programme, "receipt-what-counts", "ro"),
            "entry": "receipt-what-counts",
        },
    )
    note = await relayed(api, "sendMessage", GROUP, mark, text=expected)
    assert copyable_parts(note) == ["/kb receipt-what-counts"]
    assert not api.calls_to("sendMessage", chat_id=501)

    await set_mode(programme, KnowledgeMode.OFF)
    mark = len(api.calls)
    await maria.send("What must a receipt show?")
    await relayed(api, "copyMessage", GROUP, mark)
    await programme.settled()
    assert not bot_wrote_about_it(api, mark)


async def test_a_message_about_something_else_gets_no_automatic_answer(programme):
    api, maria = programme.api, programme.user(501)
    mark = len(api.calls)
    await maria.send("Hello! My mother is sick and I am at the hospital with her")
    await relayed(api, "copyMessage", GROUP, mark)
    await programme.settled()
    assert not bot_wrote_about_it(api, mark)


def copyable_parts(call) -> list[str]:
    """The monospace parts of a message, cut out by their UTF-16 offsets as Telegram does."""
    raw = call["text"].encode("utf-16-le")
    return [
        raw[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le")
        for e in call.get("entities") or []
        if e["type"] == "code"
    ]


def mentioned(call) -> list[int]:
    return [e["user"]["id"] for e in call.get("entities") or [] if e["type"] == "text_mention"]


async def test_danger_alerts_all_staff_and_gives_the_returnee_the_emergency_contact(programme):
    api, maria = programme.api, programme.user(501)
    mark = len(api.calls)
    await maria.send("please, the traffickers found me")
    answer = await relayed(api, "sendMessage", 501, mark)
    assert EMERGENCY in answer["text"]
    assert question(programme, "danger-now") in answer["text"]
    alert_text = notice_text(programme.app.i18n, "ro", "danger", {})
    alert = await api.wait_for(
        lambda c: c.method == "sendMessage" and c.get("text", "").startswith(alert_text),
        after=mark,
    )
    assert alert["chat_id"] == GROUP
    assert mentioned(alert) == [111, 112]  # nobody is assigned: every staff member
    assert alert["text"].endswith("Ana Ion")
    # The message itself still reaches the topic.
    assert api.calls_to("copyMessage", chat_id=GROUP)


async def test_danger_alert_names_only_the_assigned_staff_member(programme):
    thread = await first_topic(programme)
    await staff_ana(programme).send("/claim", group=GROUP, topic=thread)
    mark = len(programme.api.calls)
    await programme.user(501).send("I AM NOT SAFE here")
    alert_text = notice_text(programme.app.i18n, "ro", "danger", {})
    alert = await programme.api.wait_for(
        lambda c: c.method == "sendMessage" and c.get("text", "").startswith(alert_text),
        after=mark,
    )
    assert mentioned(alert) == [111]
    assert alert["message_thread_id"] == thread


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
async def test_danger_words_work_in_every_language_typed_without_diacritics(programme, language):
    await set_returnee_language(programme, language)
    knowledge = programme.app.dispatcher["knowledge"]
    phrase = knowledge.content.languages[language].danger_phrases[0]
    api = programme.api
    mark = len(api.calls)
    await programme.user(501).send(without_diacritics(phrase))
    answer = await relayed(api, "sendMessage", 501, mark)
    assert EMERGENCY in answer["text"]
    assert question(programme, "danger-now", language) in answer["text"]
    alert_text = notice_text(programme.app.i18n, "ro", "danger", {})
    await api.wait_for(
        lambda c: c.method == "sendMessage" and c.get("text", "").startswith(alert_text),
        after=mark,
    )


async def test_staff_send_an_entry_in_the_returnees_language(programme):
    thread = await first_topic(programme)
    await set_returnee_language(programme, "ro")
    ana, api = staff_ana(programme), programme.api
    mark = len(api.calls)
    await ana.send("/kb receipt", group=GROUP, topic=thread)
    listed = await relayed(api, "sendMessage", GROUP, mark)
    assert "/kb receipt-what-counts" in listed["text"]
    # One tap copies the whole command with its entry, not just "/kb".
    assert "/kb receipt-what-counts" in copyable_parts(listed)

    mark = len(api.calls)
    await ana.send("/kb receipt-what-counts", group=GROUP, topic=thread)
    sent = await relayed(api, "sendMessage", 501, mark)
    assert sent["text"].startswith(question(programme, "receipt-what-counts", "ro"))
    assert sent["text"].endswith("— IOM RO")
    assert sent["protect_content"] is True


async def test_a_counsellor_searches_in_danish(programme):
    mette, api = programme.user(222), programme.api
    mark = len(api.calls)
    knowledge = programme.app.dispatcher["knowledge"]
    danish_question = question(programme, "receipt-what-counts", "da")
    await mette.send(f"/search {danish_question}")
    answer = await relayed(api, "sendMessage", 222, mark)
    assert answer["text"].startswith(danish_question)
    assert knowledge.text("da", "receipt-what-counts").answer.split("\n")[0][:30] in answer["text"]


async def test_browsing_topics_questions_and_asking_a_person(programme):
    api, maria = programme.api, programme.user(501)
    knowledge = programme.app.dispatcher["knowledge"]
    await maria.send("/menu")
    await maria.press("Questions")
    assert knowledge.topic_title("en", "money") in maria.buttons()
    # Counsellor-only questions are not offered to returnees.
    assert knowledge.topic_title("en", "before_return") not in maria.buttons()
    await maria.press(knowledge.topic_title("en", "money"))
    await maria.press(question(programme, "receipt-what-counts"))
    assert knowledge.text("en", "receipt-what-counts").answer[:40] in maria.last_text()
    assert maria.buttons() == ["Ask a person", "Back", "Main menu"]
    mark = len(api.calls)
    await maria.press("Ask a person")
    expected = notice_text(
        programme.app.i18n,
        "ro",
        "knowledge_asked",
        {
            "question": question(programme, "receipt-what-counts", "ro"),
            "entry": "receipt-what-counts",
        },
    )
    note = await relayed(api, "sendMessage", GROUP, mark, text=expected)
    assert "IOM RO" in maria.last_text()
    await maria.send("My seller only writes receipts by hand, is that fine?")
    copy = await relayed(api, "copyMessage", GROUP, mark)
    assert copy["message_thread_id"] == note["message_thread_id"]


async def test_the_office_country_sheet_is_shown_under_contact(programme):
    knowledge = programme.app.dispatcher["knowledge"]
    example = knowledge.sheets["EXAMPLE"]
    knowledge.sheets["RO"] = replace(example, office_code="RO", example=False)
    try:
        maria = programme.user(501)
        await maria.send("/questions")
        await maria.press(knowledge.topic_title("en", "contact"))
        await maria.press("About IOM RO")
        assert "EXAMPLE: Office visits" in maria.last_text()
        assert "Example Partner Organisation" in maria.last_text()
    finally:
        del knowledge.sheets["RO"]


async def test_without_consent_nothing_is_relayed_but_the_safety_answer_is_given(programme):
    async with programme.session() as session:
        case = await cases.get_case(session, "RO-0007")
        person = await session.scalar(select(Person).where(Person.telegram_user_id == 501))
        withdraw_consent(session, case, person, language="en")
        await session.commit()
    api = programme.api
    mark = len(api.calls)
    await programme.user(501).send("they found me")
    answers = [c["text"] for c in api.calls[mark:] if c.method == "sendMessage"]
    assert any(EMERGENCY in text for text in answers)
    await programme.settled()
    assert not [c for c in api.calls[mark:] if c.get("chat_id") == GROUP]


async def test_office_answers_carry_its_name_hours_and_time_zone(programme):
    async with programme.session() as session:
        await offices.update_office(session, "RO", hours=["mon-fri 09:00-17:00"])
        await session.commit()
    api = programme.api
    mark = len(api.calls)
    await programme.user(501).send("Who is my contact in my country?")
    answer = await relayed(api, "sendMessage", 501, mark)
    assert "IOM RO" in answer["text"]
    assert "Monday: 9:00\u202fAM–5:00\u202fPM" in answer["text"]
    assert "🕘 Bucharest" in answer["text"]


async def test_questions_opened_by_command_lead_back_to_the_main_menu(programme):
    maria = programme.user(501)
    knowledge = programme.app.dispatcher["knowledge"]
    await maria.send("/questions")
    assert knowledge.topic_title("en", "money") in maria.buttons()
    await maria.press("Back")
    assert maria.last_text() == "Main menu. What would you like to do?"


async def test_a_counsellor_never_sees_a_returnees_own_amounts(programme):
    mette, api = programme.user(222), programme.api
    mark = len(api.calls)
    await mette.send("/search my-remaining")
    answer = await relayed(api, "sendMessage", 222, mark)
    assert "600" not in answer["text"]
    mark = len(api.calls)
    await mette.send("/search hvor mange penge har jeg tilbage")
    answer = await relayed(api, "sendMessage", 222, mark)
    assert "600" not in answer["text"]


async def test_danger_words_in_the_case_language_count_whatever_the_menu_language(programme):
    # Maria reads the menus in English; her case is Romanian.
    knowledge = programme.app.dispatcher["knowledge"]
    phrase = knowledge.content.languages["ro"].danger_phrases[0]
    api = programme.api
    mark = len(api.calls)
    await programme.user(501).send(f"ajutor, {without_diacritics(phrase)}")
    answer = await relayed(api, "sendMessage", 501, mark)
    assert EMERGENCY in answer["text"]


async def test_a_message_edited_to_say_they_are_in_danger_raises_the_alert(programme):
    api, maria = programme.api, programme.user(501)
    original = await maria.send("I will call you tomorrow")
    await relayed(api, "copyMessage", GROUP)
    mark = len(api.calls)
    edited = dict(
        original, text="I am not safe, they know where I live", edit_date=original["date"] + 5
    )
    await api.handled(await api.push_update("edited_message", edited))
    answer = await relayed(api, "sendMessage", 501, mark)
    assert EMERGENCY in answer["text"]
    alert_text = notice_text(programme.app.i18n, "ro", "danger", {})
    await api.wait_for(
        lambda c: c.method == "sendMessage" and c.get("text", "").startswith(alert_text),
        after=mark,
    )


async def test_a_counsellor_browses_the_questions_meant_for_counsellors(programme):
    mette = programme.user(222)
    knowledge = programme.app.dispatcher["knowledge"]
    await mette.send("/questions")
    assert knowledge.topic_title("da", "before_return") in mette.buttons()
    await mette.press(knowledge.topic_title("da", "before_return"))
    first = knowledge.entries("before_return", "counsellor")[0].id
    await mette.press(knowledge.text("da", first).question)
    assert mette.last_text().startswith(knowledge.text("da", first).question)
    # No "ask a person" (counsellors write directly) and no main menu they do not have.
    assert mette.buttons() == [programme.app.i18n.gettext("Back", locale="da")]
