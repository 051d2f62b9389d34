"""What counsellors hear (issue 12): status updates and plans written in the topic, checked,
previewed and confirmed; events for counsellors who turn them on; the monthly digest, once a
month across a restart; and nothing when the returnee's consent does not allow it."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from bot.app import create_app
from bot.delivery.split import TEXT_LIMIT, utf16_length
from bot.delivery.texts.counsellors import (
    STATUS_LABELS,
    digest_text,
    event_text,
    update_text,
)
from bot.scheduled import Sweeps
from bot.services import cases, counsellor_news, digests, invites, ledger, people, sharing
from bot.services.consent import give_consent, withdraw_consent
from bot.services.digests import CaseDigest, CategoryMoney, Contact, LastCheckIn
from bot.services.outbox import Money
from storage.models import (
    CaseUpdate,
    CheckIn,
    CheckInAlert,
    CheckInStatus,
    Digest,
    Direction,
    OutboxItem,
    OutboxStatus,
    Person,
    Relay,
    UpdateKind,
)
from tests.conftest import RunningBot, make_settings
from tests.test_inbox import GROUP, relayed
from tests.test_receipts import (
    _any_keyboard,
    _topic_of_case,
    ana_of,
    money_office,
    press_data,
    press_in_group,
    tr,
)
from tests.world import office_with_case

COUNSELLOR = 222  # Mette of CMM, reads Danish (tests/world.py)
STAFF_LOCALE = "en"  # Ana reads English: replies to staff come in their own language
# The counsellors' digest is due on the 1st at 09:00 Copenhagen: 08:00 UTC in winter.
DECEMBER_DIGEST = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def to_counsellor(bot: RunningBot, after: int = 0) -> list[Any]:
    return [
        c
        for c in bot.api.calls[after:]
        if c.method == "sendMessage" and c.get("chat_id") == COUNSELLOR
    ]


async def counsellor_gets(bot: RunningBot, mark: int) -> Any:
    return await relayed(bot.api, "sendMessage", COUNSELLOR, mark)


async def events_on(bot: RunningBot) -> None:
    """Mette turns events on from /settings, as a counsellor does."""
    mette = bot.user(COUNSELLOR)
    await mette.send("/settings")
    await mette.press(tr(bot, "Turn events on", "da"))
    assert mette.buttons() == [tr(bot, "Turn events off", "da")]


async def staff_message(bot: RunningBot, mark: int, starts: str = "") -> Any:
    return await bot.api.wait_for(
        lambda c: (
            c.method == "sendMessage"
            and c.get("chat_id") == GROUP
            and c["text"].startswith(starts)
            and c.get("reply_markup") is not None
        ),
        after=mark,
    )


async def write_update(bot: RunningBot, thread: int, status: str) -> Any:
    """Ana opens /update and picks a status; returns the bot's question for a note."""
    ana = ana_of(bot)
    mark = len(bot.api.calls)
    await ana.send("/update", group=GROUP, topic=thread)
    listing = await relayed(bot.api, "sendMessage", GROUP, mark, reply_markup=_any_keyboard())
    mark = len(bot.api.calls)
    await press_in_group(
        bot, ana, listing.result["message_id"], tr(bot, STATUS_LABELS[status], STAFF_LOCALE)
    )
    return await staff_message(bot, mark, tr(bot, STATUS_LABELS[status], STAFF_LOCALE))


def expected_update(bot: RunningBot, kind: UpdateKind, status: str | None, text: str | None) -> str:
    row = CaseUpdate(kind=kind, status=status, text=text)
    return update_text(bot.app.i18n, "da", "RO-0007", row)


async def test_a_status_update_is_checked_previewed_and_reaches_the_counsellor_once(running_bot):
    bot = running_bot
    await money_office(bot)
    ana = ana_of(bot)
    thread = await _topic_of_case(bot)
    prompt = await write_update(bot, thread, "housing_found")
    # A note with a phone number is refused, saying what to remove; nothing is kept.
    mark = len(bot.api.calls)
    await ana.send(
        "Call her on +40 721 234 567",
        group=GROUP,
        topic=thread,
        reply_to=prompt.result["message_id"],
    )
    refused = await relayed(bot.api, "sendMessage", GROUP, mark)
    assert "+40 721 234 567" in refused["text"]
    assert tr(bot, "a phone number", STAFF_LOCALE) in refused["text"]
    # An ordinary note is kept and previewed in Mette's language, exactly as she will read it.
    note = "She moved into a rented flat and pays the rent herself."
    mark = len(bot.api.calls)
    await ana.send(note, group=GROUP, topic=thread, reply_to=prompt.result["message_id"])
    preview = await staff_message(bot, mark)
    expected = expected_update(bot, UpdateKind.STATUS, "housing_found", note)
    assert expected in preview["text"]
    assert to_counsellor(bot) == []  # nothing before staff confirm
    stored = bot.api.chats[GROUP].messages[preview.result["message_id"]]
    send_data = stored["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    mark = len(bot.api.calls)
    await press_in_group(bot, ana, preview.result["message_id"], tr(bot, "Send", STAFF_LOCALE))
    received = await counsellor_gets(bot, mark)
    assert received["text"] == expected
    assert received["protect_content"] is True
    # The same preview's Send pressed again (a replay) sends nothing more.
    await press_data(bot, ana, stored, send_data)
    await bot.settled()
    assert len(to_counsellor(bot)) == 1
    async with bot.session() as session:
        row = await session.scalar(select(CaseUpdate))
    assert (row.kind, row.status, row.text) == (UpdateKind.STATUS, "housing_found", note)
    assert row.confirmed_at is not None


async def test_the_plan_is_checked_shown_on_the_card_and_sent_when_confirmed(running_bot):
    bot = running_bot
    await money_office(bot)
    ana = ana_of(bot)
    thread = await _topic_of_case(bot)
    mark = len(bot.api.calls)
    await ana.send(
        "/plan Tailoring course, then a shop at www.example.ro", group=GROUP, topic=thread
    )
    refused = await relayed(bot.api, "sendMessage", GROUP, mark)
    assert "www.example.ro" in refused["text"]
    plan = "Tailoring course for three months, then a small shop of her own."
    mark = len(bot.api.calls)
    await ana.send(f"/plan {plan}", group=GROUP, topic=thread)
    preview = await staff_message(bot, mark)
    expected = expected_update(bot, UpdateKind.PLAN, None, plan)
    assert expected in preview["text"]
    mark = len(bot.api.calls)
    await press_in_group(bot, ana, preview.result["message_id"], tr(bot, "Send", STAFF_LOCALE))
    assert (await counsellor_gets(bot, mark))["text"] == expected
    card = await bot.api.wait_for(
        lambda c: c.method == "editMessageText" and plan in c["text"], after=mark
    )
    assert tr(bot, "Reintegration plan:", "ro") in card["text"]
    mark = len(bot.api.calls)
    await ana.send("/plan", group=GROUP, topic=thread)
    shown = await relayed(bot.api, "sendMessage", GROUP, mark)
    assert shown["text"].endswith(plan)


async def test_a_cancelled_draft_and_a_case_without_consent_send_nothing(running_bot):
    bot = running_bot
    await money_office(bot)
    ana = ana_of(bot)
    thread = await _topic_of_case(bot)
    prompt = await write_update(bot, thread, "settling_in")
    await press_in_group(bot, ana, prompt.result["message_id"], tr(bot, "Cancel", STAFF_LOCALE))
    async with bot.session() as session:
        case = await cases.get_case(session, "RO-0007")
        withdraw_consent(session, case, case.returnee, language="en")
        await session.commit()
    prompt = await write_update(bot, thread, "needs_follow_up")
    mark = len(bot.api.calls)
    await press_in_group(bot, ana, prompt.result["message_id"], tr(bot, "No note", STAFF_LOCALE))
    preview = await staff_message(bot, mark)
    assert preview["text"].startswith(
        tr(bot, "The returnee has not agreed to share", STAFF_LOCALE)[:20]
    )
    await press_in_group(bot, ana, preview.result["message_id"], tr(bot, "Send", STAFF_LOCALE))
    await bot.settled()
    assert to_counsellor(bot) == []
    async with bot.session() as session:
        rows = list(await session.scalars(select(CaseUpdate).order_by(CaseUpdate.id)))
    assert [(r.cancelled, r.confirmed_at is not None) for r in rows] == [
        (True, False),
        (False, True),
    ]


async def test_withdrawing_consent_removes_what_waits_and_what_is_already_queued_is_withheld(
    running_bot,
):
    bot = running_bot
    await money_office(bot)
    await events_on(bot)
    await bot.settled()
    mark = len(bot.api.calls)
    async with bot.session() as session:
        case = await cases.get_case(session, "RO-0007")
        # Queued and withdrawn in one go: the withdrawal removes the queued event.
        assert await counsellor_news.event(session, case, "arrived") == 1
        await sharing.withdraw(session, case, case.returnee, language="en")
        waiting = await session.scalar(
            select(func.count(OutboxItem.id)).where(OutboxItem.direction == Direction.TO_COUNSELLOR)
        )
        assert waiting == 0
        await session.commit()
    async with bot.session() as session:
        case = await cases.get_case(session, "RO-0007")
        give_consent(session, case, case.returnee, language="en")
        await session.commit()
    # Queued while consent stood, and consent withdrawn without the removal (as a crash between
    # the two would leave it): the sender writes the message only when it sends, sees no
    # consent, and withholds it.
    async with bot.session() as session:
        case = await cases.get_case(session, "RO-0007")
        await counsellor_news.event(session, case, "first_contact")
        withdraw_consent(session, case, case.returnee, language="en")
        await session.commit()
    await bot.settled()
    assert to_counsellor(bot, mark) == []
    async with bot.session() as session:
        item = await session.scalar(
            select(OutboxItem).where(OutboxItem.direction == Direction.TO_COUNSELLOR)
        )
    assert item.status is OutboxStatus.FAILED
    assert item.payload == {}


async def test_events_reach_counsellors_who_turned_them_on_and_no_one_else(running_bot):
    bot = running_bot
    await money_office(bot)
    async with bot.session() as session:
        case = await cases.get_case(session, "RO-0007")
        await ledger.record_payout(session, case, "housing", "450", date(2026, 11, 10))
        await session.commit()
    await bot.settled()
    assert to_counsellor(bot) == []  # events are off by default
    await events_on(bot)
    mark = len(bot.api.calls)
    async with bot.session() as session:
        case = await cases.get_case(session, "RO-0007")
        await ledger.record_payout(session, case, "housing", "100", date(2026, 11, 12))
        await session.commit()
    paid = await counsellor_gets(bot, mark)
    assert paid["text"] == event_text(
        bot.app.i18n, "da", "RO-0007", "payout_paid", category="housing",
        amount=Money(amount="100", currency="USD"),
    )  # fmt: skip
    assert paid["protect_content"] is True
    # The office's first message to the returnee, then the case closed from the topic.
    ana = ana_of(bot)
    thread = await _topic_of_case(bot)
    mark = len(bot.api.calls)
    await ana.send("Welcome home, we will call you on Monday.", group=GROUP, topic=thread)
    first = await counsellor_gets(bot, mark)
    assert first["text"] == event_text(bot.app.i18n, "da", "RO-0007", "first_contact")
    mark = len(bot.api.calls)
    await ana.send("Second message", group=GROUP, topic=thread)
    await ana.send("/close case", group=GROUP, topic=thread)
    question = await staff_message(bot, mark)
    await press_in_group(
        bot, ana, question.result["message_id"], tr(bot, "Close the case", STAFF_LOCALE)
    )
    closed = await counsellor_gets(bot, mark)
    assert closed["text"] == event_text(bot.app.i18n, "da", "RO-0007", "closed")
    await bot.settled()
    assert len(to_counsellor(bot, mark)) == 1  # the second message is no first contact
    async with bot.session() as session:
        case = await cases.get_case(session, "RO-0007")
    assert case.closed_on is not None
    assert case.status.value == "closed"


async def test_two_missed_check_ins_in_a_row_are_an_event(running_bot):
    bot = running_bot
    await money_office(bot)
    await events_on(bot)
    async with bot.session() as session:
        rows = list(await session.scalars(select(CheckIn).order_by(CheckIn.month)))
    mark = len(bot.api.calls)
    for row in rows[:2]:
        due = row.due_at.replace(tzinfo=UTC)
        await bot.app.sweeps.sweep(now=due)  # asked
        await bot.app.sweeps.sweep(now=due + timedelta(days=10))  # missed
    await bot.settled()
    async with bot.session() as session:
        states = list(await session.scalars(select(CheckIn.status).order_by(CheckIn.month)))
    assert states[:2] == [CheckInStatus.MISSED, CheckInStatus.MISSED]
    told = [c for c in to_counsellor(bot, mark) if c["text"].startswith("🔔")]
    assert [c["text"] for c in told] == [event_text(bot.app.i18n, "da", "RO-0007", "missed_twice")]


async def seed_november(bot: RunningBot) -> None:
    """RO-0007's November: check-in month 1 answered on the 3rd, housing 450 USD paid on the
    10th, three messages from Maria and two from the office (the last on the 28th), an alert
    nobody took, a status update on the 12th and a plan on the 20th."""
    at = lambda day, hour=10: datetime(2026, 11, day, hour, tzinfo=UTC)  # noqa: E731
    async with bot.session() as session:
        case = await cases.get_case(session, "RO-0007")
        first = await session.scalar(select(CheckIn).where(CheckIn.month == 1))
        first.status, first.answered_at = CheckInStatus.ANSWERED, at(3)
        first.feeling, first.safe, first.note = "good", "yes", "MK-CHECKIN-NOTE"
        await ledger.record_payout(session, case, "housing", "450", date(2026, 11, 10))
        for day, direction in (
            (2, Direction.FROM_RETURNEE),
            (4, Direction.TO_RETURNEE),
            (15, Direction.FROM_RETURNEE),
            (27, Direction.FROM_RETURNEE),
            (28, Direction.TO_RETURNEE),
            (30, Direction.OFFICE_NOTICE),  # not a message between them
        ):
            session.add(
                Relay(
                    case_id=case.id, direction=direction, source_chat_id=1, source_message_id=day,
                    copy_chat_id=2, copy_message_id=day, at=at(day),
                )
            )  # fmt: skip
        session.add(
            CheckInAlert(
                case_id=case.id, check_in_id=first.id, answer="safe.talk", raised_at=at(3),
                repeat_at=at(4), repeated=True,
            )
        )  # fmt: skip
        for kind, status, text, day in (
            (UpdateKind.STATUS, "settling_in", "MK-CONFIRMED-NOTE", 12),
            (UpdateKind.PLAN, None, "Sewing course, then a shop", 20),
            (UpdateKind.STATUS, "needs_follow_up", "MK-DRAFT-NOTE", 21),  # never confirmed
        ):
            session.add(
                CaseUpdate(
                    case_id=case.id, kind=kind, status=status, text=text, created_at=at(day),
                    confirmed_at=at(day) if "DRAFT" not in text else None, cancelled=False,
                )
            )  # fmt: skip
        await session.commit()


def november(check_in: LastCheckIn) -> CaseDigest:
    """RO-0007's November as the digest must tell it, worked out by hand from seed_november."""
    return CaseDigest(
        code="RO-0007",
        check_in=check_in,
        has_budget=True,
        money=[
            CategoryMoney("allowance", "USD", Decimal(0), Decimal(450)),  # 3 x 150
            CategoryMoney("housing", "USD", Decimal(450), Decimal(450)),  # 900 - 450
            CategoryMoney("business", "USD", Decimal(0), Decimal(3000)),
        ],
        contact=Contact(
            from_returnee=3, from_office=2, last=datetime(2026, 11, 28, 10, tzinfo=UTC)
        ),
        open_alerts=1,
        statuses=[("settling_in", date(2026, 11, 12))],
        plan_changed=date(2026, 11, 20),
    )


async def test_the_monthly_digest_tells_each_case_in_a_few_lines_once_across_a_restart(
    fake_api, sqlite_url
):
    settings = make_settings(fake_api, sqlite_url)
    bot = RunningBot(create_app(settings), fake_api)
    await bot.start()
    try:
        await money_office(bot)
        await seed_november(bot)
        # Not yet: an hour before the due moment.
        await bot.app.sweeps.sweep(now=DECEMBER_DIGEST.replace(hour=7))
        async with bot.session() as session:
            assert await session.scalar(select(func.count(Digest.id))) == 0
        mark = len(bot.api.calls)
        await bot.app.sweeps.sweep(now=DECEMBER_DIGEST)
        digest = await counsellor_gets(bot, mark)
        # Status only: answered, not how (the returnee shares no check-in answers).
        answered = LastCheckIn(CheckInStatus.ANSWERED, date(2026, 11, 3), 1)
        expected = digest_text(bot.app.i18n, "da", date(2026, 11, 1), [november(answered)])
        assert digest["text"] == expected
        assert digest["protect_content"] is True
        assert "MK-" not in digest["text"]
        await bot.app.sweeps.sweep(now=DECEMBER_DIGEST)
    finally:
        await bot.stop()
    again = RunningBot(create_app(settings), fake_api)
    await again.start()
    try:
        await again.app.sweeps.sweep(now=DECEMBER_DIGEST.replace(day=2))
        await again.settled()
        assert len(to_counsellor(again)) == 1
        async with again.session() as session:
            assert await session.scalar(select(func.count(Digest.id))) == 1
            # Shared from the privacy menu, the answers are in the next digest's lines.
            case = await cases.get_case(session, "RO-0007")
            sharing.set_level(session, case, case.returnee, sharing.CHECKINS)
            counsellor = await session.scalar(
                select(Person).where(Person.telegram_user_id == COUNSELLOR)
            )
            start, end = digests.period_bounds("2026-11", "Europe/Copenhagen")
            shared = await digests.gather(session, counsellor, start, end)
        assert shared == [
            november(LastCheckIn(CheckInStatus.ANSWERED, date(2026, 11, 3), 1, "good", "yes"))
        ]
    finally:
        await again.stop()


async def test_a_long_digest_is_split_at_line_breaks_within_telegram_s_limit(running_bot):
    bot = running_bot
    await money_office(bot)
    async with bot.session() as session:
        for number in range(8, 68):
            code = f"RO-{number:04d}"
            await cases.add_case(
                session, office_code="RO", code=code, language="ro",
                return_date=date(2026, 10, 1), counsellor_telegram_ids=[COUNSELLOR],
            )  # fmt: skip
            issued = await invites.invite_returnee(session, case_code=code, ttl_days=1)
            joined = await invites.redeem(
                session, token=issued.token, telegram_user_id=1000 + number
            )
            give_consent(session, joined.case, joined.person, language="ro")
        await session.commit()
    mark = len(bot.api.calls)
    await bot.app.sweeps.sweep(now=DECEMBER_DIGEST)
    await bot.settled()
    parts = [c["text"] for c in to_counsellor(bot, mark)]
    assert len(parts) > 1
    assert all(utf16_length(part) <= TEXT_LIMIT for part in parts)
    whole = "\n".join(parts)
    assert all(f"RO-{n:04d}" in whole for n in range(7, 68))


async def test_two_sweepers_on_postgresql_send_each_counsellor_one_digest(fake_api, postgres_url):
    """Two processes' sweeps plan and claim the same month's digests at the same moment."""
    bot = RunningBot(create_app(make_settings(fake_api, postgres_url)), fake_api)
    await bot.start()
    try:
        async with bot.session() as session:
            await office_with_case(session, counsellor_id=None)
            for n in range(40):
                await people.add_counsellor(
                    session, telegram_user_id=800_000 + n, name=f"C{n}", organisation="CMM",
                    language="da",
                )  # fmt: skip
                code = f"RO-{n + 100:04d}"
                await cases.add_case(
                    session, office_code="RO", code=code, language="ro",
                    counsellor_telegram_ids=[800_000 + n],
                )  # fmt: skip
                issued = await invites.invite_returnee(session, case_code=code, ttl_days=1)
                joined = await invites.redeem(session, token=issued.token, telegram_user_id=n + 1)
                give_consent(session, joined.case, joined.person, language="ro")
            await session.commit()
        second = Sweeps(bot.app.sessionmaker, bot.app.sender, every_seconds=0)
        await asyncio.gather(
            bot.app.sweeps.sweep(now=DECEMBER_DIGEST), second.sweep(now=DECEMBER_DIGEST)
        )
        await asyncio.gather(
            bot.app.sweeps.sweep(now=DECEMBER_DIGEST), second.sweep(now=DECEMBER_DIGEST)
        )
        await bot.settled()
        async with bot.session() as session:
            rows = await session.scalar(select(func.count(Digest.id)))
            queued = await session.scalar(
                select(func.count(Digest.id)).where(Digest.queued_at.is_not(None))
            )
        assert (rows, queued) == (40, 40)
        digests_sent = [
            c["chat_id"]
            for c in bot.api.calls
            if c.method == "sendMessage" and c["text"].startswith("🗓")
        ]
        assert sorted(digests_sent) == [800_000 + n for n in range(40)]
    finally:
        await bot.stop()
