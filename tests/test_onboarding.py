"""Onboarding end to end: invite link, language, consent, menu; through the fake Bot API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from bot.languages import SHIPPED_LANGUAGES, native_name
from bot.services import cases, invites
from bot.services.clock import utcnow
from bot.services.consent import has_consent
from dialogs.onboarding import CONSENT_TEXT
from storage.models import AuditEvent, Case, Consent, Invite, Person, Role
from tests.world import office_with_case, onboard


def tr(running_bot, msgid: str, language: str) -> str:
    return running_bot.app.i18n.gettext(msgid, locale=language)


async def returnee_case(running_bot) -> Case:
    async with running_bot.session() as session:
        case = await session.scalar(select(Case).where(Case.code == "RO-0007"))
        await session.refresh(case, ["consents"])
        return case


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
async def test_onboarding_in_every_language(running_bot, language):
    async with running_bot.session() as session:
        token = await office_with_case(session)
    maria = running_bot.user(501, language_code="en")

    await maria.send(f"/start {token}")
    assert maria.last_text() == "Please choose your language."
    await maria.press(native_name(language))

    consent_text = maria.last_text()
    assert consent_text == tr(running_bot, CONSENT_TEXT, language).format(
        office="IOM RO", case_code="RO-0007"
    )
    if language != "en":
        assert tr(running_bot, "I agree", language) != "I agree", "catalog not translated"
        assert "Before you write to your office" not in consent_text
    assert maria.buttons()[:2] == [
        tr(running_bot, "I agree", language),
        tr(running_bot, "I do not agree", language),
    ]
    await maria.press(tr(running_bot, "I agree", language))

    assert maria.last_text() == tr(running_bot, "Main menu. What would you like to do?", language)
    assert maria.buttons() == [
        tr(running_bot, label, language)
        for label in (
            "Write to the office",
            "Questions",
            "My money",
            "Send a receipt",
            "Monthly check-ins",
            "Language",
            "Privacy",
        )
    ]
    case = await returnee_case(running_bot)
    assert has_consent(case)
    assert case.consents[-1].language == language
    async with running_bot.session() as session:
        person = await session.scalar(select(Person).where(Person.telegram_user_id == 501))
        assert person.role is Role.RETURNEE
        assert person.language == language


async def test_language_picker_lists_office_languages_first(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session, office="TH", languages=("th", "en"))
    user = running_bot.user(502)
    await user.send(f"/start {token}")
    others = [native_name(code) for code in SHIPPED_LANGUAGES if code not in ("th", "en")]
    assert user.buttons() == ["ไทย", "English", *others]
    assert others[:4] == ["Dansk", "العربية", "Français", "Română"]


async def test_declining_consent_relays_nothing_and_can_be_reversed(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session)
    maria = running_bot.user(501)
    await maria.send(f"/start {token}")
    await maria.press("English")
    await maria.press("I do not agree")
    assert "nothing you write here is passed on" in maria.last_text()
    assert not has_consent(await returnee_case(running_bot))

    await maria.send("Hello, when does the money come?")
    texts = [m["text"] for m in maria.messages()]
    assert any(t.startswith("You have not agreed yet") for t in texts)
    assert maria.last_text().startswith("Before you write to your office")

    await maria.press("I agree")
    assert maria.last_text() == "Main menu. What would you like to do?"
    case = await returnee_case(running_bot)
    assert [c.granted for c in case.consents] == [False, True]


async def test_consent_can_be_withdrawn_from_the_privacy_menu(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session)
    maria = running_bot.user(501)
    await onboard(maria, token)

    await maria.press("Privacy")
    assert "You agreed on" in maria.last_text()
    await maria.press("Withdraw my consent")
    assert maria.last_text().startswith("If you withdraw your consent")
    await maria.press("Yes, withdraw")
    assert "You have not agreed" in maria.last_text()
    assert not has_consent(await returnee_case(running_bot))

    await maria.send("/privacy")
    await maria.press("I agree")
    assert has_consent(await returnee_case(running_bot))
    async with running_bot.session() as session:
        actions = list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions[-3:] == ["consent.given", "consent.withdrawn", "consent.given"]


async def test_language_can_be_changed_later(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session)
    maria = running_bot.user(501)
    await onboard(maria, token)
    await maria.send("/language")
    await maria.press("Română")
    assert maria.last_text() == tr(running_bot, "Main menu. What would you like to do?", "ro")
    await maria.send("/help")
    assert maria.last_text() == tr(
        running_bot,
        "Homeward connects you with your office in your home country.\n/menu opens the menu\n"
        "/questions answers questions about the programme\n"
        "/language changes the language\n/privacy shows who sees what you write",
        "ro",
    )


async def test_invite_is_single_use(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session)
    await running_bot.user(501).send(f"/start {token}")
    other = running_bot.user(777, language_code="fr")
    await other.send(f"/start {token}")
    assert other.last_text() == tr(
        running_bot,
        "This invitation link has already been used. If you did not use it yourself, please tell "
        "the person who sent it to you.",
        "fr",
    )
    async with running_bot.session() as session:
        assert await session.scalar(select(Person).where(Person.telegram_user_id == 777)) is None


async def test_expired_invite_is_refused(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session)
        invite = await session.scalar(select(Invite))
        invite.expires_at = utcnow() - timedelta(minutes=1)
        await session.commit()
    user = running_bot.user(501, language_code="da")
    await user.send(f"/start {token}")
    assert user.last_text() == tr(
        running_bot,
        "This invitation link has expired. Please ask the person who sent it for a new one.",
        "da",
    )
    async with running_bot.session() as session:
        assert (await session.scalar(select(Case.returnee_id))) is None


async def test_unknown_person_gets_one_polite_answer_and_nothing_is_stored(running_bot):
    stranger = running_bot.user(900, language_code="ar", first_name="Ali", username="ali_x")
    await stranger.send("hello, I need help")
    assert len(stranger.messages()) == 1
    assert stranger.last_text() == tr(
        running_bot,
        "Hello. This is Homeward, a service of your return programme. It works only with a "
        "personal invitation link from your counsellor or your office. If you have one, please "
        "open it again.",
        "ar",
    )
    await stranger.send("/start")
    async with running_bot.session() as session:
        assert (await session.scalar(select(Person))) is None
        assert (await session.scalar(select(AuditEvent))) is None


async def test_unknown_telegram_language_falls_back_to_english(running_bot):
    stranger = running_bot.user(901, language_code="sw")
    await stranger.send("/start")
    assert stranger.last_text().startswith("Hello. This is Homeward")


@pytest.mark.parametrize("token", ["not-a-token", "A" * 22, "x" * 64])
async def test_wrong_token_says_so(running_bot, token):
    user = running_bot.user(902, language_code="th")
    await user.send(f"/start {token}")
    assert user.last_text() == tr(
        running_bot,
        "This invitation link is not valid. Please check that you opened the whole link, or ask "
        "the person who sent it for a new one.",
        "th",
    )


async def test_guessing_tokens_is_slowed_down(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session)
    guesser = running_bot.user(903)
    attempts = running_bot.app.settings.invite_attempts
    for _ in range(attempts):
        await guesser.send(f"/start {invites.new_token()}")
        assert guesser.last_text().startswith("This invitation link is not valid")
    # Even the right token is not looked at while the account has to wait.
    await guesser.send(f"/start {token}")
    assert guesser.last_text().startswith("Too many links were tried from this account")
    async with running_bot.session() as session:
        assert (await session.scalar(select(Case.returnee_id))) is None
    # Someone else is not affected.
    await running_bot.user(904).send(f"/start {token}")
    async with running_bot.session() as session:
        assert (await session.scalar(select(Case.returnee_id))) is not None


async def test_nothing_from_the_telegram_profile_is_stored(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session)
    maria = running_bot.user(
        501, first_name="Mariana", last_name="Vasilescu", username="mariana_v88"
    )
    await onboard(maria, token)
    async with running_bot.session() as session:
        person = await session.scalar(select(Person).where(Person.telegram_user_id == 501))
        assert person.display_name is None
        dump = []
        for table in ("persons", "cases", "consents", "invites", "audit_events", "fsm_records"):
            rows = (await session.execute(text(f"SELECT * FROM {table}"))).all()
            dump.extend(str(row) for row in rows)
    everything = "\n".join(dump)
    for secret in ("Mariana", "Vasilescu", "mariana_v88", token):
        assert secret not in everything


async def test_invite_token_is_stored_only_as_a_hash(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session)
        stored = await session.scalar(select(Invite.token_hash))
    assert stored == invites.hash_token(token)
    assert token not in stored
    assert len(token) == 22  # 128 random bits, URL-safe


async def test_counsellor_invite_binds_account_to_the_case(running_bot):
    async with running_bot.session() as session:
        await office_with_case(session, counsellor_id=None)
        issued = await invites.invite_counsellor(
            session,
            name="Mette",
            organisation="CMM",
            language="da",
            case_code="RO-0007",
            ttl_days=14,
        )
        await session.commit()
    mette = running_bot.user(222, language_code="en")
    await mette.send(f"/start {issued.token}")
    welcome = tr(
        running_bot,
        "Welcome, {name}. You are registered as a contact person ({organisation}).",
        "da",
    ).format(name="Mette", organisation="CMM")
    assert mette.last_text().startswith(welcome)
    assert "RO-0007" in mette.last_text()
    commands = running_bot.api.calls_to("setMyCommands")
    mine = [c for c in commands if c.get("scope") == {"type": "chat", "chat_id": 222}]
    assert [c["command"] for c in mine[-1]["commands"]] == [
        "cases",
        "questions",
        "search",
        "settings",
        "help",
    ]
    await mette.send("/cases")
    assert "RO-0007" in mette.last_text()


async def test_staff_invite_binds_account_to_the_office(running_bot):
    async with running_bot.session() as session:
        await office_with_case(session)
        issued = await invites.invite_staff(session, office_code="RO", name="Ana", ttl_days=14)
        await session.commit()
    ana = running_bot.user(111)
    await ana.send(f"/start {issued.token}")
    assert ana.last_text().startswith("Welcome, Ana. You are registered as staff of IOM RO.")
    async with running_bot.session() as session:
        person = await session.scalar(select(Person).where(Person.telegram_user_id == 111))
        assert person.role is Role.STAFF
        assert person.display_name == "Ana"


async def test_an_account_cannot_take_a_second_role(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session)
    mette = running_bot.user(222)  # already registered as a counsellor, in Danish
    await mette.send(f"/start {token}")
    assert mette.last_text() == tr(
        running_bot,
        "This Telegram account is already registered in Homeward in another role, so this "
        "invitation cannot be used with it.",
        "da",
    )
    async with running_bot.session() as session:
        assert (await session.scalar(select(Case.returnee_id))) is None
        assert (await session.scalar(select(Invite.used_at))) is None


async def test_new_invite_moves_the_case_to_a_new_phone_and_asks_consent_again(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session)
    old_phone = running_bot.user(501)
    await onboard(old_phone, token)
    async with running_bot.session() as session:
        second = await invites.invite_returnee(session, case_code="RO-0007", ttl_days=14)
        await session.commit()
    new_phone = running_bot.user(601)
    await new_phone.send(f"/start {second.token}")
    assert not has_consent(await returnee_case(running_bot))
    await new_phone.press("English")
    assert new_phone.buttons()[:2] == ["I agree", "I do not agree"]
    await old_phone.send("hello")
    assert old_phone.last_text().startswith("This Telegram account is no longer linked")


async def test_commands_are_registered_per_scope_and_language(running_bot):
    calls = running_bot.api.calls_to("setMyCommands")
    private = [c for c in calls if c.get("scope") == {"type": "all_private_chats"}]
    assert sorted(c.get("language_code", "") for c in private) == sorted(["", *SHIPPED_LANGUAGES])
    for call in private:
        assert [c["command"] for c in call["commands"]] == [
            "menu",
            "questions",
            "receipt",
            "language",
            "privacy",
            "help",
        ]
    danish = next(c for c in private if c.get("language_code") == "da")
    assert danish["commands"][0]["description"] == tr(running_bot, "Open the menu", "da")


async def test_stale_button_after_the_dialog_is_gone_gets_a_kind_answer(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session)
    maria = running_bot.user(501)
    await onboard(maria, token)
    # Every dialog is lost, as when the storage was emptied (the cache in front of it too).
    await running_bot.app.dispatcher.storage.clear_all()
    await maria.press("Privacy")
    answer = running_bot.api.calls_to("answerCallbackQuery")[-1]
    assert answer.get("text") == "This button is from an earlier conversation."
    assert maria.last_text() == "Main menu. What would you like to do?"
    async with running_bot.session() as session:
        assert await session.scalar(select(Consent.granted).order_by(Consent.id.desc()))


async def test_typing_before_choosing_a_language_keeps_the_language_step(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session)
    maria = running_bot.user(501, language_code="fr")
    await maria.send(f"/start {token}")
    await maria.send("bonjour")
    assert maria.last_text() == tr(running_bot, "Please choose your language.", "fr")
    await maria.send("/menu")
    assert maria.last_text() == tr(running_bot, "Please choose your language.", "fr")
    await maria.press("Română")
    await maria.press(tr(running_bot, "I agree", "ro"))
    case = await returnee_case(running_bot)
    assert case.consents[-1].language == "ro"


async def test_menu_and_stale_buttons_before_consent_lead_to_the_consent_screen(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session)
    maria = running_bot.user(501)
    await maria.send(f"/start {token}")
    await maria.press("English")
    await maria.send("/menu")
    assert maria.last_text().startswith("Before you write to your office")
    await maria.send("/language")
    await maria.press("Français")
    assert maria.last_text() == tr(running_bot, CONSENT_TEXT, "fr").format(
        office="IOM RO", case_code="RO-0007"
    )
    # Every dialog is lost, as when the storage was emptied (the cache in front of it too).
    await running_bot.app.dispatcher.storage.clear_all()
    await maria.press(tr(running_bot, "I agree", "fr"))  # the dialog behind it is gone
    assert maria.last_text() == tr(running_bot, CONSENT_TEXT, "fr").format(
        office="IOM RO", case_code="RO-0007"
    )
    assert not has_consent(await returnee_case(running_bot))
    async with running_bot.session() as session:
        assert (await session.scalar(select(Consent))) is None


async def test_opening_your_own_link_again_is_not_a_guess(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session)
    maria = running_bot.user(501)
    await onboard(maria, token)
    for _ in range(running_bot.app.settings.invite_attempts + 1):
        await maria.send(f"/start {token}")
    assert maria.last_text() == "Main menu. What would you like to do?"


async def test_strangers_buttons_photos_and_stickers_leave_nothing_behind(running_bot):
    stranger = running_bot.user(905, language_code="en")
    photo = stranger.message("")
    del photo["text"]
    photo["photo"] = [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 90}]
    await running_bot.api.handled(await running_bot.api.push_update("message", photo))
    sticker = stranger.message("")
    del sticker["text"]
    sticker["sticker"] = {
        "file_id": "s1",
        "file_unique_id": "su1",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    await running_bot.api.handled(await running_bot.api.push_update("message", sticker))
    callback = {
        "id": "cb-stranger",
        "from": stranger.as_user(),
        "chat_instance": "x",
        "data": "about:1",
    }
    await running_bot.api.handled(await running_bot.api.push_update("callback_query", callback))
    assert running_bot.api.calls_to("answerCallbackQuery", callback_query_id="cb-stranger")
    assert len(stranger.messages()) == 1  # one polite answer, not one per message
    async with running_bot.session() as session:
        for table in (
            "persons",
            "cases",
            "consents",
            "invites",
            "audit_events",
            "fsm_records",
            "relays",
            "outbox",
        ):
            count = await session.scalar(text(f"SELECT count(*) FROM {table}"))
            assert count == 0, table


async def test_case_list_shows_no_consent_after_the_case_moved_to_a_new_phone(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session)
    old_phone = running_bot.user(501)
    await onboard(old_phone, token)
    async with running_bot.session() as session:
        second = await invites.invite_returnee(session, case_code="RO-0007", ttl_days=14)
        await session.commit()
    await running_bot.user(601).send(f"/start {second.token}")
    async with running_bot.session() as session:
        summary = await cases.list_cases(session)
    assert [(s.code, s.returnee_joined, s.consent) for s in summary] == [("RO-0007", True, False)]


async def test_write_to_the_office_explains_that_the_chat_reaches_the_office(running_bot):
    async with running_bot.session() as session:
        token = await office_with_case(session)
    maria = running_bot.user(501)
    await onboard(maria, token)
    await maria.press("Write to the office")
    assert maria.last_text().startswith(
        "Just write here in this chat: your message goes to IOM RO."
    )
    await maria.press("Back")
    await maria.press("Send a receipt")  # the case has no programme budget yet
    assert maria.last_text().startswith("Your office has not set up your budget here yet.")
