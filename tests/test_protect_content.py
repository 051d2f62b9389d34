"""protect_content everywhere (issue 14): whatever reaches a returnee's or a counsellor's private
chat cannot be forwarded or saved: relays, news, check-ins, counsellor messages, and also the
menus, the receipt wizard, automatic and safety answers, which used to go unprotected."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy import select

from bot.services import budget, people
from bot.services.cases import get_case
from bot.services.clock import utcnow
from storage.models import CheckIn, PaidAs
from tests.conftest import RunningBot
from tests.fakes.telegram_user import CONTENT
from tests.test_inbox import GROUP, delivered, relayed
from tests.test_receipts import ana_of, money_office, send_receipt
from tests.world import office_with_case, onboard

MARIA, METTE = 501, 222
# Messages that carry no case content and may go unprotected, named by their text's start.
# None: every message the bot posts into a private chat is protected (bot/telegram/protection.py),
# the welcome, the language choice and the consent text included.
UNPROTECTED_ALLOWED: tuple[str, ...] = ()


def tr(bot: RunningBot, msgid: str, locale: str = "en") -> str:
    return bot.app.i18n.gettext(msgid, locale=locale)


def posts_to(bot: RunningBot, chat_ids: set[int]) -> list[Any]:
    """Every call that posted into these chats and could carry protect_content (per the spec)."""
    protectable = {
        name for name, method in bot.api.spec.methods.items() if "protect_content" in method.known
    }
    return [c for c in bot.api.calls if c.method in protectable and c.get("chat_id") in chat_ids]


def allowed(call: Any) -> bool:
    text = str(call.get("text") or call.get("caption") or "")
    return any(text.startswith(start) for start in UNPROTECTED_ALLOWED)


async def scripted_office(bot: RunningBot) -> str:
    """Office RO with staff Ana, counsellor Mette, case RO-0007 on programme dk (returned on 1
    October 2026, check-ins planned); returns the returnee's invite token."""
    async with bot.session() as session:
        token = await office_with_case(session)
        await people.add_staff(session, office_code="RO", telegram_user_id=111, name="Ana")
        for category, maximum, paid_as, months in (
            ("allowance", "150", PaidAs.CASH, 3),
            ("housing", "900", PaidAs.IN_KIND, None),
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
        (await get_case(session, "RO-0007")).programme = "dk"
        await session.commit()
    return token


async def test_everything_a_returnee_and_a_counsellor_get_is_protected(running_bot):
    bot, api = running_bot, running_bot.api
    maria, ana = bot.user(MARIA), ana_of(bot)
    mette = bot.user(METTE, first_name="Mette-Marie", last_name="Hansen", username="mette_cmm")
    token = await scripted_office(bot)
    # The returnee: invite, language, consent, the menu and her money.
    await onboard(maria, token)
    await maria.send("/menu")
    await maria.press(tr(bot, "My money"))
    await maria.press(tr(bot, "How the money works"))
    await maria.press(tr(bot, "Back"))
    await maria.press(tr(bot, "Back"))
    await maria.press(tr(bot, "Privacy"))
    # A receipt through the wizard, an automatic answer, the safety answer.
    await send_receipt(bot)
    mark = len(api.calls)
    await maria.send("How much money do I have left?")
    copy = await relayed(api, "copyMessage", GROUP, mark)
    thread = copy["message_thread_id"]
    await maria.send("please, the traffickers found me")
    # Staff answer with a text, a photo and a programme answer.
    await ana.send("We call you today.", group=GROUP, topic=thread)
    await ana.send(content=CONTENT["photo"] | {"caption": "The form"}, group=GROUP, topic=thread)
    await ana.send("/kb allowance-when", group=GROUP, topic=thread)
    # The check-ins due by now are asked (and the counsellor's monthly digest goes).
    async with bot.session() as session:
        first = await session.scalar(select(CheckIn).order_by(CheckIn.due_at))
    await bot.app.sweeps.sweep(now=max(utcnow(), first.due_at.replace(tzinfo=UTC)))
    # The counsellor: events on, a question to the office and its answer, a search.
    await mette.send("/settings")
    await mette.press(tr(bot, "Turn events on", "da"))
    mark = len(api.calls)
    await mette.send("How is she settling in?")
    header = await relayed(api, "sendMessage", GROUP, mark, message_thread_id=thread)
    await delivered(bot, GROUP, header.result["message_id"])
    await ana.send(
        "She found a flat.", group=GROUP, topic=thread, reply_to=header.result["message_id"]
    )
    await mette.send("/search receipt")
    await bot.settled()

    calls = posts_to(bot, {MARIA, METTE})
    unprotected = [
        (c.method, c.get("chat_id"), str(c.get("text") or c.get("caption"))[:60])
        for c in calls
        if c.get("protect_content") is not True and not allowed(c)
    ]
    assert unprotected == []
    # The scenario reached both people through every way the bot writes to them.
    assert {c.method for c in calls} >= {"sendMessage", "copyMessage"}
    to_maria = [c for c in calls if c.get("chat_id") == MARIA]
    to_mette = [c for c in calls if c.get("chat_id") == METTE]
    assert len(to_maria) >= 12
    assert len(to_mette) >= 3
    texts = " ".join(str(c.get("text")) for c in to_maria)
    for seen in ("We call you today.", "🤖", "$150.00"):
        assert seen in texts
    assert any(c.method == "copyMessage" and c.get("caption") for c in to_maria)
    assert any("She found a flat." in str(c.get("text")) for c in to_mette)


async def test_menus_are_still_edited_in_place(running_bot):
    bot, api, maria = running_bot, running_bot.api, running_bot.user(MARIA)
    await money_office(bot)
    await maria.send("/menu")
    menu = maria.messages()[-1]
    assert menu["has_protected_content"] is True
    mark = len(api.calls)
    for label in ("Privacy", "Back", "My money", "Back", "Monthly check-ins", "Back"):
        await maria.press(tr(bot, label))
    # aiogram-dialog resends a window whose protection differs from the message on screen;
    # every window is protected, so each press edits the one menu message.
    after = [c for c in api.calls[mark:] if c.get("chat_id") == MARIA]
    assert [c.method for c in after] == ["editMessageText"] * 6
    assert {c["message_id"] for c in after} == {menu["message_id"]}


async def test_only_private_chats_are_protected_and_an_explicit_choice_is_kept(running_bot):
    bot, api = running_bot, running_bot.api
    await money_office(bot)
    telegram = bot.app.bot
    await telegram.send_message(MARIA, "Your appointment is confirmed.")
    await telegram.send_message(GROUP, "A note for staff.")
    await telegram.send_message(MARIA, "Deliberately unprotected.", protect_content=False)
    sent = {c["text"]: c for c in api.calls_to("sendMessage")}
    assert sent["Your appointment is confirmed."]["protect_content"] is True
    assert "protect_content" not in sent["A note for staff."].params
    assert sent["Deliberately unprotected."]["protect_content"] is False
