"""Consent decides what a counsellor gets (issue 12): marker strings go into every field of a
case that holds words of a person, everything a counsellor can be sent is set off, and the test
proves that no marker reaches the counsellor, and that every text the counsellor gets is one of
the translated templates, filled only with codes, numbers, dates and a note staff confirmed."""

from __future__ import annotations

import json
from datetime import UTC, date

from sqlalchemy import select

from bot.delivery.texts.counsellors import digest_text, event_text
from bot.handlers.counsellor import _settings_view
from bot.services import cases, digests, ledger, receipts, updates
from bot.services.outbox import Money
from storage.models import CheckIn, Digest, PaymentMethod, Person, Receipt, UpdateKind
from tests.test_checkins import answer_check_in
from tests.test_counsellor_news import (
    COUNSELLOR,
    DECEMBER_DIGEST,
    events_on,
    expected_update,
)
from tests.test_inbox import GROUP, relayed
from tests.test_receipts import PHOTO, _topic_of_case, ana_of, money_office, send_receipt

MARKERS = {
    "message": "MK-MESSAGE-41",
    "caption": "MK-CAPTION-42",
    "staff_answer": "MK-STAFF-43",
    "receipt": "MK-RECEIPT-44",
    "check_in": "MK-CHECKIN-45",
    "ledger_reason": "MK-REASON-46",
    "draft_note": "MK-DRAFT-NOTE-47",
    "draft_plan": "MK-DRAFT-PLAN-48",
    "internal_note": "MK-INTERNAL-49",
}
CONFIRMED_NOTE = "Found a room and started the sewing course."


async def test_no_words_of_the_case_reach_the_counsellor_but_a_confirmed_note(running_bot):
    bot = running_bot
    await money_office(bot)
    await events_on(bot)
    maria, ana = bot.user(501), ana_of(bot)
    i18n = bot.app.i18n

    # The returnee writes; a caption; the office answers; staff keep an internal note.
    thread = await _topic_of_case(bot)
    await maria.send(f"{MARKERS['message']} I will stay with my aunt in the old town")
    await maria.send(content=PHOTO | {"caption": MARKERS["caption"]})
    mark = len(bot.api.calls)
    await ana.send(f"{MARKERS['staff_answer']} we call you at 10", group=GROUP, topic=thread)
    await relayed(bot.api, "sendMessage", 501, mark)
    await ana.send(f"/note {MARKERS['internal_note']}", group=GROUP, topic=thread)

    # A receipt with a described purchase, approved and paid.
    await send_receipt(bot, description=MARKERS["receipt"])
    async with bot.session() as session:
        staff = await session.scalar(select(Person).where(Person.telegram_user_id == 111))
        receipt = await session.scalar(select(Receipt))
        payout = await receipts.approve(session, receipt.id, staff, method=PaymentMethod.BANK)
        case = await cases.get_case(session, "RO-0007")
        await ledger.mark_paid(session, case, payout.id, staff, date(2026, 11, 20))
        await ledger.adjust(session, case, "business", "2500", MARKERS["ledger_reason"], staff)
        await session.commit()

    # A check-in answered with an alarming answer and a free-text note. (October's digest went
    # out before this test: the check-in's sweep on 1 November does not send it again.)
    async with bot.session() as session:
        first = await session.scalar(select(CheckIn).where(CheckIn.month == 1))
        mette = await session.scalar(select(Person).where(Person.telegram_user_id == COUNSELLOR))
        october = DECEMBER_DIGEST.replace(month=11)
        session.add(
            Digest(
                counsellor_id=mette.id, period="2026-10", starts_at=october, ends_at=october,
                due_at=october, queued_at=october,
            )
        )  # fmt: skip
        await session.commit()
    mark = len(bot.api.calls)
    await bot.app.sweeps.sweep(now=first.due_at.replace(tzinfo=UTC))
    await bot.api.wait_for(
        lambda c: c.get("chat_id") == 501 and "reply_markup" in c.params, after=mark
    )
    await answer_check_in(bot, "en", {"feeling": "bad", "safe": "no"})
    await maria.send(MARKERS["check_in"])

    # Drafts never confirmed, and one update staff confirmed after the preview.
    async with bot.session() as session:
        case = await cases.get_case(session, "RO-0007")
        staff = await session.scalar(select(Person).where(Person.telegram_user_id == 111))
        draft = await updates.draft_status(session, case, staff, "needs_follow_up")
        assert (await updates.add_note(session, case, staff, draft.id, MARKERS["draft_note"])).clean
        await updates.cancel(session, case, staff, draft.id)
        plan = await updates.draft_plan(session, case, staff, MARKERS["draft_plan"])
        await updates.keep_plan(session, case, staff, plan)
        shared = await updates.draft_status(session, case, staff, "settling_in")
        await updates.add_note(session, case, staff, shared.id, CONFIRMED_NOTE)
        await updates.confirm(session, case, staff, shared.id)
        await session.commit()

    # The monthly digest, then the case closed.
    mark = len(bot.api.calls)
    await bot.app.sweeps.sweep(now=DECEMBER_DIGEST)
    digest = await bot.api.wait_for(
        lambda c: c.get("chat_id") == COUNSELLOR and c["text"].startswith("🗓"), after=mark
    )
    async with bot.session() as session:
        counsellor = await session.scalar(
            select(Person).where(Person.telegram_user_id == COUNSELLOR)
        )
        start, end = digests.period_bounds("2026-11", "Europe/Copenhagen")
        expected_digest = digest_text(
            i18n, "da", date(2026, 11, 1), await digests.gather(session, counsellor, start, end)
        )
    assert digest["text"] == expected_digest
    async with bot.session() as session:
        from bot.services import lifecycle

        case = await cases.get_case(session, "RO-0007")
        await lifecycle.close(session, case, date(2026, 12, 2), None)
        await session.commit()
    await bot.settled()

    to_mette = [c for c in bot.api.calls if c.params.get("chat_id") == COUNSELLOR]
    everything = json.dumps([c.params for c in to_mette], ensure_ascii=False)
    for field, marker in MARKERS.items():
        assert marker not in everything, f"the {field} reached the counsellor"
    # Nothing is ever copied or forwarded to a counsellor: every message is written by the bot.
    assert {c.method for c in to_mette} <= {"sendMessage", "editMessageText", "answerCallbackQuery"}

    def event(key: str, **values: object) -> str:
        return event_text(i18n, "da", "RO-0007", key, **values)  # type: ignore[arg-type]

    usd = lambda amount: Money(amount=amount, currency="USD")  # noqa: E731
    templates = {
        event("first_contact"),
        event("payout_approved", category="housing", amount=usd("250")),
        event("payout_paid", category="housing", amount=usd("250")),
        event("alert"),
        event("closed"),
        expected_update(bot, UpdateKind.STATUS, "settling_in", CONFIRMED_NOTE),
        expected_digest,
    }
    async with bot.session() as session:
        mette = await session.scalar(select(Person).where(Person.telegram_user_id == COUNSELLOR))
        mette.events = False
        off = _settings_view_in(bot, mette)
        mette.events = True
        on = _settings_view_in(bot, mette)
    templates |= {off, on}
    texts = [c["text"] for c in to_mette if c.method != "answerCallbackQuery"]
    assert set(texts) <= templates, set(texts) - templates
    # Each event once; the confirmed note is the only words of a person the counsellor got.
    sent = [c["text"] for c in to_mette if c.method == "sendMessage"]
    assert sorted(sent) == sorted(templates - {off, on} | {off})
    assert sum(CONFIRMED_NOTE in text for text in sent) == 1
    assert all(
        c.get("protect_content") for c in to_mette if c.method == "sendMessage" and c["text"] != off
    )


def _settings_view_in(bot, person: Person) -> str:
    """The /settings text as Mette reads it (the handler's own function, in Danish)."""
    with bot.app.i18n.context(), bot.app.i18n.use_locale("da"):
        return _settings_view(person)[0]
