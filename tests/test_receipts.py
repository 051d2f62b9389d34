"""Receipts end to end (issue 10): a returnee sends one through the wizard, staff decide on its
card in the topic, and the returnee follows every step, in their own language."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.delivery.texts.money import NEWS
from bot.delivery.texts.staff import NOTICES
from bot.formatting import format_money
from bot.services import budget, invites, people
from bot.services.cases import get_case
from bot.services.clock import utcnow
from bot.services.consent import give_consent
from storage.models import AuditEvent, PaidAs, Payout, Receipt, ReceiptStatus
from tests.conftest import RunningBot, make_settings
from tests.fakes.telegram_user import TelegramUser
from tests.test_inbox import GROUP, eventually, relayed
from tests.world import office_with_case

PHOTO = {
    "photo": [
        {"file_id": "s1", "file_unique_id": "u-small", "width": 90, "height": 90},
        {
            "file_id": "b1",
            "file_unique_id": "u-rent",
            "width": 1280,
            "height": 960,
            "file_size": 200_000,
        },
    ]
}
_callbacks = itertools.count(9000)


async def money_office(bot: RunningBot, language: str = "en") -> None:
    """Office RO with staff Ana; case RO-0007 on programme dk; its returnee 501 reads `language`."""
    async with bot.session() as session:
        await office_with_case(session)
        await people.add_staff(session, office_code="RO", telegram_user_id=111, name="Ana")
        for category, maximum, paid_as, months in (
            ("allowance", "150", PaidAs.CASH, 3),
            ("housing", "900", PaidAs.IN_KIND, None),
            ("business", "3,000", PaidAs.IN_KIND, None),
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
        case = await get_case(session, "RO-0007")
        case.programme = "dk"
        issued = await invites.invite_returnee(session, case_code="RO-0007", ttl_days=1)
        joined = await invites.redeem(session, token=issued.token, telegram_user_id=501)
        joined.person.language = language
        give_consent(session, joined.case, joined.person, language=language)
        await session.commit()


def ana_of(bot: RunningBot) -> TelegramUser:
    return bot.user(111, first_name="Ana", last_name="Ionescu", username="ana_iom")


def tr(bot: RunningBot, msgid: str, locale: str) -> str:
    return bot.app.i18n.gettext(msgid, locale=locale)


async def press_in_group(bot: RunningBot, user: TelegramUser, message_id: int, label: str) -> None:
    """A staff member taps a button on a message of the bot's in the staff group, once it
    shows it (the card's buttons change through the outbox, a moment after a press)."""

    await bot.settled()

    async def button() -> tuple[dict[str, Any], str] | None:
        message = bot.api.chats[GROUP].messages[message_id]
        rows = message.get("reply_markup", {}).get("inline_keyboard", [])
        found = [b["callback_data"] for row in rows for b in row if b["text"] == label]
        return (message, found[0]) if found else None

    shown = await eventually(button)
    assert shown is not None, f"no {label!r} on message {message_id}: " + repr(
        [(c.method, c.params) for c in bot.api.calls[-12:] if c.method != "getUpdates"]
    )
    await press_data(bot, user, *shown)


async def press_data(
    bot: RunningBot, user: TelegramUser, message: dict[str, Any], data: str
) -> None:
    callback = {
        "id": str(next(_callbacks)),
        "from": user.as_user(),
        "chat_instance": "ci-group",
        "message": message,
        "data": data,
    }
    await bot.api.handled(await bot.api.push_update("callback_query", callback))


async def send_receipt(
    bot: RunningBot,
    locale: str = "en",
    *,
    amount: str = "250",
    description: str = "Rent for November",
) -> Any:
    """Maria goes through the wizard; returns the card's sendMessage call in the topic."""
    maria = bot.user(501)
    mark = len(bot.api.calls)
    await maria.send("/receipt")
    choice = tr(bot, "{category} (left: {left})", locale).format(
        category=tr(bot, "Housing", locale), left=format_money(Decimal(900), "USD", locale)
    )
    await maria.press(choice)
    await maria.send(content=PHOTO)
    await maria.press(tr(bot, "Next", locale))
    await maria.send(amount)
    await maria.press("USD")
    await maria.send(description)
    await maria.press(tr(bot, "Send", locale))
    return await relayed(bot.api, "sendMessage", GROUP, mark, reply_markup=_any_keyboard())


class _any_keyboard:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, dict) and "inline_keyboard" in other


async def news_to(bot: RunningBot, mark: int, containing: str = "") -> Any:
    """The next protected message to Maria (that holds `containing`)."""
    return await bot.api.wait_for(
        lambda c: (
            c.method == "sendMessage"
            and c.get("chat_id") == 501
            and c.get("protect_content") is True
            and containing in c["text"]
        ),
        after=mark,
    )


@pytest.mark.parametrize("locale", ["en", "ar", "ro"])
async def test_the_whole_receipt_path_in_the_returnee_language(running_bot, locale):
    bot = running_bot
    await money_office(bot, locale)
    api, maria = bot.api, bot.user(501)
    ana = ana_of(bot)

    card = await send_receipt(bot, locale)
    # The photo was copied (never forwarded) into the topic, the card replies to it.
    copies = api.calls_to("copyMessages", chat_id=GROUP)
    assert copies
    assert copies[0]["from_chat_id"] == 501
    assert not api.calls_to("forwardMessage")
    assert not api.calls_to("forwardMessages")
    assert "R-RO-0007-1" in card["text"]
    office = "ro"
    buttons = [b["text"] for row in card["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == [tr(bot, m, office) for m in ("✅ Approve", "❌ Reject", "❓ Ask")]
    thanks = tr(
        bot,
        "Thank you. Your receipt {code} has reached the office. They check it and you get a "
        "message here when it is approved, or if they have a question. Keep the paper receipt "
        "until the money is paid.",
        locale,
    ).format(code="R-RO-0007-1")
    assert maria.last_text() == thanks
    card_id = card.result["message_id"]

    # Ask: staff reply to the bot's prompt; the question reaches Maria with an Answer button.
    mark = len(api.calls)
    await press_in_group(bot, ana, card_id, tr(bot, "❓ Ask", office))
    prompt = await relayed(api, "sendMessage", GROUP, mark, reply_markup={"force_reply": True})
    await ana.send(
        "Is this the rent for November?",
        group=GROUP,
        topic=card["message_thread_id"],
        reply_to=prompt.result["message_id"],
    )
    under_review = await news_to(bot, mark)
    assert under_review["text"] == tr(bot, NEWS["under_review"], locale).format(
        receipt="R-RO-0007-1"
    )
    question = await news_to(bot, mark, "Is this the rent for November?")
    assert question.get("reply_markup", {}).get("inline_keyboard")
    await maria.press(tr(bot, "Answer", locale))
    mark = len(api.calls)
    await maria.send("Yes, the landlord's receipt")
    answer = await relayed(api, "sendMessage", GROUP, mark, reply_parameters=_replying(card_id))
    assert "Yes, the landlord's receipt" in answer["text"]
    assert "R-RO-0007-1" in answer["text"]

    # Approve the full amount, by bank: Maria learns how much and what is left, in her language.
    mark = len(api.calls)
    await press_in_group(bot, ana, card_id, tr(bot, "✅ Approve", office))
    await press_in_group(bot, ana, card_id, tr(bot, "bank transfer", office))
    full = tr(bot, "Full amount: {amount}", office).format(
        amount=format_money(Decimal(250), "USD", office)
    )
    await press_in_group(bot, ana, card_id, full)
    approved = await news_to(bot, mark, "R-RO-0007-1")
    expected = tr(bot, NEWS["approved"], locale).format(
        receipt="R-RO-0007-1",
        amount=format_money(Decimal(250), "USD", locale),
        category=tr(bot, "Housing", locale),
        method=tr(bot, "bank transfer", locale),
        left=format_money(Decimal(650), "USD", locale),
    )
    assert approved["text"] == expected

    # The card now offers Paid; pressing it tells Maria and asks whether the money arrived.
    async def paid_button() -> bool:
        rows = api.chats[GROUP].messages[card_id].get("reply_markup", {}).get("inline_keyboard")
        return bool(rows) and rows[0][0]["text"] == tr(bot, "💸 Paid", office)

    assert await eventually(paid_button)
    mark = len(api.calls)
    await press_in_group(bot, ana, card_id, tr(bot, "💸 Paid", office))
    paid = await news_to(bot, mark)
    assert format_money(Decimal(250), "USD", locale) in paid["text"]
    mark = len(api.calls)
    await maria.press(tr(bot, "⚠️ Not received", locale))
    alert = await relayed(api, "sendMessage", GROUP, mark)
    assert alert["text"].startswith("🚨")
    assert [e["user"]["id"] for e in alert.get("entities", []) if "user" in e] == [111]

    async with bot.session() as session:
        receipt = await session.scalar(select(Receipt))
        assert receipt.status is ReceiptStatus.PAID
        actions = set(await session.scalars(select(AuditEvent.action)))
    assert {"receipt.submitted", "receipt.asked", "receipt.approved", "money.payout_paid"} <= (
        actions
    )
    assert not api.violations


class _replying:
    def __init__(self, message_id: int) -> None:
        self.message_id = message_id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, dict) and other.get("message_id") == self.message_id


async def test_rejection_reasons_arrive_translated(running_bot):
    bot = running_bot
    await money_office(bot, "ro")
    ana = ana_of(bot)
    card = await send_receipt(bot, "ro")
    card_id = card.result["message_id"]
    mark = len(bot.api.calls)
    await press_in_group(bot, ana, card_id, tr(bot, "❌ Reject", "ro"))
    await press_in_group(bot, ana, card_id, tr(bot, "the receipt cannot be read", "ro"))
    rejected = await bot.api.wait_for(
        lambda c: c.method == "sendMessage" and c.get("chat_id") == 501 and "❌" in c["text"],
        after=mark,
    )
    assert rejected["text"] == tr(bot, NEWS["rejected"], "ro").format(
        receipt="R-RO-0007-1",
        category=tr(bot, "Housing", "ro"),
        reason=tr(bot, "the receipt cannot be read", "ro"),
    )
    assert rejected["protect_content"] is True


async def test_a_forged_approve_from_the_returnee_or_another_office_changes_nothing(running_bot):
    bot = running_bot
    await money_office(bot)
    async with bot.session() as session:
        from bot.services import offices

        await offices.add_office(
            session,
            code="TH",
            name="IOM Bangkok",
            country="TH",
            timezone="Asia/Bangkok",
            languages=["th", "en"],
            group_chat_id=-1009999,
        )
        await people.add_staff(session, office_code="TH", telegram_user_id=333, name="Somchai")
        await session.commit()
    card = await send_receipt(bot)
    card_message = bot.api.chats[GROUP].messages[card.result["message_id"]]
    rows = card_message["reply_markup"]["inline_keyboard"]
    approve = rows[0][0]["callback_data"]
    receipt_id, version = int(approve.split(":")[1]), int(approve.split(":")[2])
    forged = f"rc:{receipt_id}:{version}:full:bank"
    for intruder in (
        bot.user(501),
        bot.user(333, first_name="Somchai", last_name="Dee", username="som_iom"),
    ):
        await press_data(bot, intruder, card_message, forged)
    # A stale version from a real staff member changes nothing either.
    await press_data(
        bot,
        ana_of(bot),
        card_message,
        f"rc:{receipt_id}:{version + 5}:full:bank",
    )
    async with bot.session() as session:
        receipt = await session.get(Receipt, receipt_id)
        assert receipt.status is ReceiptStatus.SUBMITTED
        assert await session.scalar(select(func.count()).select_from(Payout)) == 0
    answers = bot.api.calls_to("answerCallbackQuery")
    assert len(answers) >= 3
    assert all(a.get("show_alert") for a in answers[-3:])


async def test_an_approved_payout_unpaid_for_ten_days_is_flagged_in_the_topic_once(running_bot):
    bot = running_bot
    await money_office(bot)
    ana = ana_of(bot)
    card = await send_receipt(bot)
    card_id = card.result["message_id"]
    await press_in_group(bot, ana, card_id, tr(bot, "✅ Approve", "ro"))
    await press_in_group(bot, ana, card_id, tr(bot, "cash", "ro"))
    await press_in_group(
        bot,
        ana,
        card_id,
        tr(bot, "Full amount: {amount}", "ro").format(
            amount=format_money(Decimal(250), "USD", "ro")
        ),
    )
    later = utcnow() + timedelta(days=10, minutes=1)
    overdue = tr(bot, NOTICES["payout_overdue"], "ro").format(amount="250.00 USD", days=10)

    def told() -> list[Any]:
        return [c for c in bot.api.calls_to("sendMessage", chat_id=GROUP) if c["text"] == overdue]

    await bot.app.sweeps.sweep(now=utcnow())  # not yet
    await bot.settled()
    assert told() == []
    await bot.app.sweeps.sweep(now=later)
    await bot.app.sweeps.sweep(now=later + timedelta(days=3))  # once
    await bot.settled()
    assert len(told()) == 1


async def test_two_staff_approving_at_once_on_postgresql_make_one_payout(fake_api, postgres_url):
    """Two presses of "Full amount" reach the bot in one batch and are handled side by side,
    each in its own transaction: one payout, and the other press is told it came too late."""
    bot = RunningBot(create_app(make_settings(fake_api, postgres_url)), fake_api, concurrency=4)
    await bot.start()
    try:
        await money_office(bot)
        async with bot.session() as session:
            await people.add_staff(session, office_code="RO", telegram_user_id=112, name="Ion")
            await session.commit()
        ana, ion = (
            ana_of(bot),
            bot.user(112, first_name="Ion", last_name="Radu", username="ion_iom"),
        )
        card_id = (await send_receipt(bot)).result["message_id"]
        await press_in_group(bot, ana, card_id, tr(bot, "✅ Approve", "ro"))
        await press_in_group(bot, ana, card_id, tr(bot, "bank transfer", "ro"))
        full = tr(bot, "Full amount: {amount}", "ro").format(
            amount=format_money(Decimal(250), "USD", "ro")
        )
        await bot.settled()
        card = bot.api.chats[GROUP].messages[card_id]
        rows = card["reply_markup"]["inline_keyboard"]
        data = next(b["callback_data"] for row in rows for b in row if b["text"] == full)
        presses = [
            {
                "id": str(next(_callbacks)),
                "from": who.as_user(),
                "chat_instance": "ci-group",
                "message": card,
                "data": data,
            }
            for who in (ana, ion)
        ]
        mark = len(bot.api.calls)
        updates = await bot.api.push_together("callback_query", presses)
        for update_id in updates:
            await bot.api.handled(update_id)
        async with bot.session() as session:
            payouts = list(await session.scalars(select(Payout)))
            receipt = await session.scalar(select(Receipt))
        assert len(payouts) == 1
        assert payouts[0].amount == Decimal("250.00")
        assert receipt.status is ReceiptStatus.APPROVED
        answers = bot.api.calls_to("answerCallbackQuery")[-2:]
        assert sorted(bool(a.get("show_alert")) for a in answers) == [False, True]
        assert len([c for c in bot.api.calls[mark:] if c.method == "answerCallbackQuery"]) == 2
    finally:
        await bot.stop()


async def test_a_receipt_in_the_local_currency_is_approved_at_the_rate_staff_give(running_bot):
    bot = running_bot
    await money_office(bot)
    maria, ana = bot.user(501), ana_of(bot)
    await maria.send("/receipt")
    await maria.press(
        tr(bot, "{category} (left: {left})", "en").format(
            category="Housing", left=format_money(Decimal(900), "USD", "en")
        )
    )
    await maria.send(content=PHOTO)
    await maria.press("Next")
    await maria.send("1.234,50")  # the Romanian way, read as 1234.50
    await maria.press("RON")  # the office's country's currency is offered beside the budget's
    await maria.send("Bed and table")
    await maria.press("Send")
    card = await relayed(bot.api, "sendMessage", GROUP, reply_markup=_any_keyboard())
    card_id = card.result["message_id"]
    assert format_money(Decimal("1234.50"), "RON", "ro") in card["text"]
    mark = len(bot.api.calls)
    await press_in_group(bot, ana, card_id, tr(bot, "✅ Approve", "ro"))
    await press_in_group(bot, ana, card_id, tr(bot, "mobile money", "ro"))
    prompt = await relayed(bot.api, "sendMessage", GROUP, mark, reply_markup={"force_reply": True})
    assert "RON" in prompt["text"]
    assert "USD" in prompt["text"]
    await ana.send(
        "0,2", group=GROUP, topic=card["message_thread_id"], reply_to=prompt.result["message_id"]
    )
    approved = await news_to(
        bot, mark, format_money(Decimal("246.90"), "USD", "en")
    )  # 1234.50 x 0.2
    assert format_money(Decimal("653.10"), "USD", "en") in approved["text"]  # left
    async with bot.session() as session:
        payout = await session.scalar(select(Payout))
    assert payout.amount == Decimal("246.90")
    assert payout.rate == Decimal("0.2")


async def test_every_wrong_answer_in_the_wizard_is_explained_and_keeps_the_step(running_bot):
    bot = running_bot
    await money_office(bot)
    maria = bot.user(501)
    await maria.send("/receipt")
    await maria.press(
        tr(bot, "{category} (left: {left})", "en").format(
            category="Housing", left=format_money(Decimal(900), "USD", "en")
        )
    )
    await maria.send("here it is")  # words, not a photo
    assert any("photo" in m.get("text", "") for m in maria.messages()[-3:])
    too_big = {
        "document": {
            "file_id": "big",
            "file_unique_id": "u-big",
            "file_name": "scan.pdf",
            "mime_type": "application/pdf",
            "file_size": 25 * 1024 * 1024,
        }
    }
    await maria.send(content=too_big)
    assert any("20 MB" in m.get("text", "") for m in maria.messages()[-3:])
    zip_file = {
        "document": {
            "file_id": "z",
            "file_unique_id": "u-zip",
            "file_name": "r.zip",
            "mime_type": "application/zip",
        }
    }
    await maria.send(content=zip_file)
    assert "Next" not in maria.buttons()  # nothing taken yet
    pdf = {
        "document": {
            "file_id": "ok",
            "file_unique_id": "u-pdf",
            "file_name": "receipt.pdf",
            "mime_type": "application/pdf",
            "file_size": 300_000,
        }
    }
    await maria.send(content=pdf)
    await maria.press("Next")
    for nonsense in ("twelve", "-5", "0", "1.2.3,4", "150 USD"):
        await maria.send(nonsense)
        assert any(
            "not an amount I can read" in m.get("text", "") for m in maria.messages()[-3:]
        ), nonsense
    await maria.send("1,234.50")
    assert "USD" in maria.buttons()


async def test_a_closed_case_takes_no_receipt_and_says_so(running_bot):
    bot = running_bot
    await money_office(bot)
    async with bot.session() as session:
        case = await get_case(session, "RO-0007")
        from storage.models import CaseStatus

        case.status = CaseStatus.CLOSED
        await session.commit()
    maria = bot.user(501)
    await maria.send("/receipt")
    assert maria.last_text() == "Your case is closed, so receipts can no longer be sent."
    assert maria.buttons() == ["Cancel"]


async def test_my_money_shows_a_deduction_as_its_own_line_with_its_reason(running_bot):
    bot = running_bot
    await money_office(bot)
    async with bot.session() as session:
        from bot.services import ledger

        case = await get_case(session, "RO-0007")
        await ledger.deduct(
            session, case, "business", "120", "Partner NGO administration fee", None
        )
        await session.commit()
    maria = bot.user(501)
    await maria.send("/menu")
    await maria.press("My money")
    text = maria.last_text()
    assert "Income-generating activity: $2,880.00 left of $3,000.00" in text
    assert "deducted $120.00" in text
    assert "Partner NGO administration fee" in text
    # She was told when it happened, with the reason, protected from forwarding.
    told = await news_to(bot, 0, "Partner NGO administration fee")
    assert told["text"] == tr(bot, NEWS["deducted"], "en").format(
        amount="$120.00",
        category="Income-generating activity",
        note="Partner NGO administration fee",
        left="$2,880.00",
    )


async def test_an_allowance_instalment_is_marked_paid_from_the_topic_and_confirmed(running_bot):
    bot = running_bot
    await money_office(bot)
    async with bot.session() as session:
        from bot.services import ledger

        case = await get_case(session, "RO-0007")
        planned = await ledger.plan_instalments(session, case)
        await session.commit()
    assert [p.due_on.isoformat() for p in planned] == ["2026-10-01", "2026-11-01", "2026-12-01"]
    ana, maria = ana_of(bot), bot.user(501)
    thread = await _topic_of_case(bot)
    mark = len(bot.api.calls)
    await ana.send("/paid", group=GROUP, topic=thread)
    listing = await relayed(bot.api, "sendMessage", GROUP, mark, reply_markup=_any_keyboard())
    labels = [b["text"] for row in listing["reply_markup"]["inline_keyboard"] for b in row]
    assert len(labels) == 3
    assert labels[0].startswith("💸 " + tr(bot, "Monthly allowance", "ro") + " #1 · 2026-10-01")
    mark = len(bot.api.calls)
    await press_in_group(bot, ana, listing.result["message_id"], labels[0])
    paid = await news_to(bot, mark, format_money(Decimal(150), "USD", "en"))
    assert "Monthly allowance" in paid["text"]
    await maria.press("✅ Received")
    assert maria.last_text() == "Thank you. We told the office that the money arrived."
    async with bot.session() as session:
        first = await session.get(Payout, planned[0].id)
    assert first.received is True
    # The pressed line left the list; the two still due remain.
    rows = bot.api.chats[GROUP].messages[listing.result["message_id"]]["reply_markup"]
    assert len(rows["inline_keyboard"]) == 2


async def _topic_of_case(bot: RunningBot) -> int:
    """Open the case's topic with a first message, as any returnee's message does."""
    await bot.user(501).send("Hello")
    copy = await relayed(bot.api, "copyMessage", GROUP)
    return copy["message_thread_id"]


async def test_a_returnee_asks_to_move_money_and_staff_allow_it(running_bot):
    bot = running_bot
    await money_office(bot)
    async with bot.session() as session:
        from storage.models import BudgetCategory

        for row in await session.scalars(select(BudgetCategory)):
            row.reallocatable = row.category in ("housing", "business")
        await session.commit()
    maria, ana = bot.user(501), ana_of(bot)
    await maria.send("/menu")
    await maria.press("My money")
    await maria.press("Move money between categories")
    await maria.press("Housing (left: $900.00)")
    await maria.press("Income-generating activity (left: $3,000.00)")
    mark = len(bot.api.calls)
    await maria.send("100")
    await maria.press("Send")
    request = await relayed(bot.api, "sendMessage", GROUP, mark, reply_markup=_any_keyboard())
    assert request["text"].startswith("🔁")
    await press_in_group(bot, ana, request.result["message_id"], tr(bot, "✅ Allow the move", "ro"))
    await news_to(bot, mark, format_money(Decimal(100), "USD", "en"))
    await maria.send("/menu")
    await maria.press("My money")
    text = maria.last_text()
    assert "Housing: $800.00 left of $800.00" in text
    assert "Income-generating activity: $3,100.00 left of $3,100.00" in text
    assert "moved out $100.00" in text
    assert "moved in $100.00" in text


async def test_typed_reject_sends_the_staff_reason_and_a_wrong_number_is_explained(running_bot):
    bot = running_bot
    await money_office(bot)
    ana = ana_of(bot)
    card = await send_receipt(bot)
    thread = card["message_thread_id"]
    mark = len(bot.api.calls)
    await ana.send("/ask 9 which shop?", group=GROUP, topic=thread)
    refused = await relayed(bot.api, "sendMessage", GROUP, mark)
    assert refused["text"].startswith(tr(bot, "Not sent. Write /ask", "ro")[:12])
    mark = len(bot.api.calls)
    await ana.send("/reject 1 The landlord did not sign it.", group=GROUP, topic=thread)
    rejected = await news_to(bot, mark, "The landlord did not sign it.")
    assert rejected["text"] == tr(bot, NEWS["rejected"], "en").format(
        receipt="R-RO-0007-1", category="Housing", reason="The landlord did not sign it."
    )
    async with bot.session() as session:
        receipt = await session.scalar(select(Receipt))
    assert receipt.status is ReceiptStatus.REJECTED
