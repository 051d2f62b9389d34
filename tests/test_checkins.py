"""Monthly check-ins (issue 11): planned from the return date, asked when the test's clock says
they are due, answered through the fake Bot API, and acted on in the case's topic."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.delivery.texts.checkins import ANSWER_LABELS, CHECKIN_NEWS, QUESTION_TEXTS
from bot.delivery.texts.staff import NOTICES
from bot.scheduled import Sweeps
from bot.services import cases, checkins, invites, people
from bot.services.consent import give_consent
from bot.services.errors import RuleViolation
from storage.models import CheckIn, CheckInStatus, OutboxItem, OutboxKind
from tests.conftest import RunningBot, make_settings
from tests.test_admin_cli import OFFICE
from tests.test_admin_cli import cli as cli  # the fixture
from tests.test_inbox import GROUP, relayed
from tests.world import office_with_case

RETURN = date(2026, 10, 1)


async def returnee_case(bot: RunningBot, language: str = "en", *, consent: bool = True) -> None:
    """Office RO (Bucharest) with staff Ana; case RO-0007 returned on 1 October 2026; its
    returnee 501 reads `language` and agreed (or not)."""
    async with bot.session() as session:
        await office_with_case(session)
        await people.add_staff(session, office_code="RO", telegram_user_id=111, name="Ana")
        issued = await invites.invite_returnee(session, case_code="RO-0007", ttl_days=1)
        joined = await invites.redeem(session, token=issued.token, telegram_user_id=501)
        joined.person.language = language
        if consent:
            give_consent(session, joined.case, joined.person, language=language)
        await session.commit()


async def in_topic(bot: RunningBot, mark: int, first: str) -> object:
    """The next message in the staff group that starts with `first` (the card may come first)."""
    return await bot.api.wait_for(
        lambda c: (
            c.method == "sendMessage" and c.get("chat_id") == GROUP and c["text"].startswith(first)
        ),
        after=mark,
    )


async def schedule(bot: RunningBot) -> list[CheckIn]:
    async with bot.session() as session:
        return list(await session.scalars(select(CheckIn).order_by(CheckIn.month)))


def tr(bot: RunningBot, msgid: str, locale: str) -> str:
    return bot.app.i18n.gettext(msgid, locale=locale)


async def test_a_case_gets_five_check_ins_in_office_daytime_and_a_new_return_date_moves_them(
    running_bot,
):
    bot = running_bot
    await returnee_case(bot)
    rows = await schedule(bot)
    assert [r.month for r in rows] == [1, 2, 3, 6, 9]
    bucharest = ZoneInfo("Europe/Bucharest")
    local = [r.due_at.replace(tzinfo=UTC).astimezone(bucharest) for r in rows]
    assert [d.date() for d in local] == [
        date(2026, 11, 1),
        date(2026, 12, 1),
        date(2027, 1, 1),
        date(2027, 4, 1),
        date(2027, 7, 1),
    ]
    assert all(10 <= d.hour < 12 for d in local)  # 10:00 and a spread of up to two hours
    async with bot.session() as session:
        await cases.set_return_date(session, "RO-0007", date(2026, 11, 15))
        await session.commit()
    moved = await schedule(bot)
    assert [m.due_at.replace(tzinfo=UTC).astimezone(bucharest).date() for m in moved] == [
        date(2026, 12, 15),
        date(2027, 1, 15),
        date(2027, 2, 15),
        date(2027, 5, 15),
        date(2027, 8, 15),
    ]
    # The office's holiday moves the one check-in that falls on it to the next day.
    async with bot.session() as session:
        from bot.services import offices

        await offices.update_office(session, "RO", holidays=[date(2027, 1, 15)])
        await cases.set_return_date(session, "RO-0007", date(2026, 11, 15))
        await session.commit()
    again = await schedule(bot)
    assert again[1].due_at.replace(tzinfo=UTC).astimezone(bucharest).date() == date(2027, 1, 16)


async def answer_check_in(bot: RunningBot, locale: str, picks: dict[str, str | None]) -> None:
    """Maria opens the check-in and answers each question (None: skip)."""
    maria = bot.user(501)
    await maria.press(tr(bot, "Answer now", locale))
    for question in checkins.QUESTIONS:
        assert maria.last_text() == tr(bot, QUESTION_TEXTS[question], locale)
        choice = picks.get(question)
        label = (
            tr(bot, ANSWER_LABELS[f"{question}.{choice}"], locale)
            if choice
            else tr(bot, "Skip", locale)
        )
        await maria.press(label)


@pytest.mark.parametrize("locale", ["en", "ar", "ro"])
async def test_a_due_check_in_is_asked_answered_and_summed_up_in_the_topic(running_bot, locale):
    bot = running_bot
    await returnee_case(bot, locale)
    api, maria = bot.api, bot.user(501)
    first = (await schedule(bot))[0]
    mark = len(api.calls)
    # The check-in, and (due the same morning) the counsellor's digest for the month before.
    assert await bot.app.sweeps.sweep(now=first.due_at.replace(tzinfo=UTC)) == 2
    asked = await relayed(api, "sendMessage", 501, mark)
    assert asked["text"] == tr(bot, CHECKIN_NEWS["checkin"], locale)
    assert asked["protect_content"] is True
    await answer_check_in(
        bot, locale, {"feeling": "good", "safe": "yes", "housing": None, "money": "yes"}
    )
    mark = len(api.calls)
    await maria.send("The shop opened last week")
    assert maria.last_text() == tr(bot, "Thank you. Your answers have reached your office.", locale)
    summary = await in_topic(bot, mark, "📋")
    expected = tr(bot, NOTICES["checkin_summary"], "ro").format(
        month=1,
        feeling=tr(bot, "Good", "ro"),
        safe=tr(bot, "Yes, I feel safe", "ro"),
        housing="-",
        activity="-",
        money=tr(bot, "Yes", "ro"),
        contact="-",
        note="The shop opened last week",
    )
    assert summary["text"] == expected
    rows = await schedule(bot)
    assert rows[0].status is CheckInStatus.ANSWERED
    assert (rows[0].feeling, rows[0].safe, rows[0].housing) == ("good", "yes", None)
    assert not api.violations


async def test_not_feeling_safe_brings_the_safety_answer_at_once_and_alerts_the_staff(
    running_bot,
):
    bot = running_bot
    await returnee_case(bot)
    async with bot.session() as session:
        from bot.services import offices

        await offices.update_office(session, "RO", emergency_contact="+40 21 000 0000 (24 h)")
        await session.commit()
    api, maria = bot.api, bot.user(501)
    first = (await schedule(bot))[0]
    await bot.app.sweeps.sweep(now=first.due_at.replace(tzinfo=UTC))
    await bot.settled()
    await maria.press("Answer now")
    await maria.press("Good")
    mark = len(api.calls)
    await maria.press("No, I do not feel safe")
    safety = await relayed(api, "sendMessage", 501, mark)
    assert "+40 21 000 0000 (24 h)" in safety["text"]
    alert = await in_topic(bot, mark, "🚨")
    assert tr(bot, "No, I do not feel safe", "ro") in alert["text"]
    assert [e["user"]["id"] for e in alert.get("entities", []) if "user" in e] == [111]
    # She stops there: what she said stays said, and the alert was not waiting for the end.
    rows = await schedule(bot)
    assert rows[0].safe == "no"


async def test_feeling_bad_twice_in_a_row_alerts_and_once_does_not(running_bot):
    bot = running_bot
    await returnee_case(bot)
    api = bot.api
    rows = await schedule(bot)
    for number, row in enumerate(rows[:2]):
        await bot.app.sweeps.sweep(now=row.due_at.replace(tzinfo=UTC))
        await bot.settled()
        mark = len(api.calls)
        await answer_check_in(bot, "en", {"feeling": "bad"})
        await bot.user(501).press("Nothing more")
        await bot.settled()
        alerts = [
            c
            for c in api.calls[mark:]
            if c.method == "sendMessage"
            and c.get("chat_id") == GROUP
            and c["text"].startswith("🚨")
        ]
        assert len(alerts) == number  # none the first time, one the second


async def test_no_answer_is_reminded_twice_then_missed_and_the_topic_told(running_bot):
    bot = running_bot
    await returnee_case(bot)
    api = bot.api
    first = (await schedule(bot))[0]
    asked_at = first.due_at.replace(tzinfo=UTC)
    await bot.app.sweeps.sweep(now=asked_at)
    for days in (1, 3, 4, 7, 8):
        await bot.app.sweeps.sweep(now=asked_at + timedelta(days=days))
    await bot.settled()
    reminders = [
        c
        for c in api.calls_to("sendMessage", chat_id=501)
        if c["text"] == tr(bot, CHECKIN_NEWS["checkin_reminder"], "en")
    ]
    assert len(reminders) == 2  # after 3 and after 7 days, each once
    mark = len(api.calls)
    await bot.app.sweeps.sweep(now=asked_at + timedelta(days=10))
    await bot.app.sweeps.sweep(now=asked_at + timedelta(days=11))
    missed = await in_topic(bot, mark, "📭")
    assert missed["text"] == tr(bot, NOTICES["checkin_missed"], "ro").format(month=1)
    await bot.settled()
    told = [c for c in api.calls[mark:] if c.method == "sendMessage" and "📭" in c["text"]]
    assert len(told) == 1
    assert (await schedule(bot))[0].status is CheckInStatus.MISSED


async def test_a_returnee_who_has_not_agreed_is_asked_nothing(running_bot):
    bot = running_bot
    await returnee_case(bot, consent=False)
    first = (await schedule(bot))[0]
    await bot.app.sweeps.sweep(now=first.due_at.replace(tzinfo=UTC))
    await bot.settled()
    assert not [c for c in bot.api.calls_to("sendMessage", chat_id=501)]
    assert (await schedule(bot))[0].status is CheckInStatus.CANCELLED


async def test_two_sweepers_on_postgresql_ask_each_check_in_exactly_once(fake_api, postgres_url):
    """Two processes' sweeps claim from the same table at the same moment."""
    bot = RunningBot(create_app(make_settings(fake_api, postgres_url)), fake_api)
    await bot.start()
    try:
        async with bot.session() as session:
            await office_with_case(session)
            for n in range(60):
                code = f"RO-{n + 100:04d}"
                await cases.add_case(
                    session, office_code="RO", code=code, language="ro", return_date=RETURN
                )
                issued = await invites.invite_returnee(session, case_code=code, ttl_days=1)
                joined = await invites.redeem(
                    session, token=issued.token, telegram_user_id=700_000 + n
                )
                give_consent(session, joined.case, joined.person, language="ro")
            await session.commit()
        now = datetime(2027, 8, 1, tzinfo=UTC)  # every check-in of every case is due
        second = Sweeps(bot.app.sessionmaker, bot.app.sender, every_seconds=0)
        counts = await asyncio.gather(bot.app.sweeps.sweep(now=now), second.sweep(now=now))
        async with bot.session() as session:
            asked = await session.scalar(
                select(func.count())
                .select_from(CheckIn)
                .where(CheckIn.status == CheckInStatus.ASKED)
            )
            news = await session.scalar(
                select(func.count())
                .select_from(OutboxItem)
                .where(OutboxItem.kind == OutboxKind.NEWS)
            )
        assert asked == 60 * 5
        assert news == 60 * 5  # one message per check-in, whichever sweep claimed it
        # Claimed: those asked, and the five of RO-0007, whose returnee never joined, cancelled.
        assert sum(counts) == 60 * 5 + 5
    finally:
        await bot.stop()


async def ask_first(bot: RunningBot) -> CheckIn:
    first = (await schedule(bot))[0]
    await bot.app.sweeps.sweep(now=first.due_at.replace(tzinfo=UTC))
    await bot.settled()
    return first


async def test_an_alert_stays_open_until_taken_and_is_repeated_once_after_a_working_day(
    running_bot,
):
    bot = running_bot
    await returnee_case(bot)
    api, maria = bot.api, bot.user(501)
    ana = bot.user(111, first_name="Ana", last_name="Ionescu", username="ana_iom")
    first = await ask_first(bot)
    await maria.press("Answer now")
    await maria.press("Skip")
    mark = len(api.calls)
    await maria.press("I want to talk to someone")
    alert = await in_topic(bot, mark, "🚨")
    take = tr(bot, "🙋 I take it", "ro")
    assert [b["text"] for row in alert["reply_markup"]["inline_keyboard"] for b in row] == [take]
    assert first.month == 1
    raised = datetime.now(UTC)  # the answer came now; its alert is repeated a working day later
    # Nobody takes it: one working day later it is repeated, once.
    mark = len(api.calls)
    for days in (1, 2, 3, 4, 5):
        await bot.app.sweeps.sweep(now=raised + timedelta(days=days, hours=1))
    await bot.settled()
    repeated = [
        c
        for c in api.calls[mark:]
        if c.method == "sendMessage" and c.get("chat_id") == GROUP and "🚨" in c["text"]
    ]
    assert len(repeated) == 1
    # Ana takes it: the button goes and the topic says who has it.
    from tests.test_receipts import press_in_group

    mark = len(api.calls)
    await press_in_group(bot, ana, repeated[0].result["message_id"], take)
    said = await bot.api.wait_for(
        lambda c: c.method == "sendMessage" and c.get("chat_id") == GROUP, after=mark
    )
    assert said["text"] == tr(bot, "{name} takes this alert.", "en").format(name="Ana")
    async with bot.session() as session:
        from storage.models import CheckInAlert

        taken = await session.scalar(select(CheckInAlert))
    assert taken.taken_at is not None


async def test_the_returnee_pauses_check_ins_and_staff_resume_them(running_bot):
    bot = running_bot
    await returnee_case(bot)
    api, maria = bot.api, bot.user(501)
    ana = bot.user(111, first_name="Ana", last_name="Ionescu", username="ana_iom")
    await maria.send("/menu")
    await maria.press("Monthly check-ins")
    mark = len(api.calls)
    await maria.press("Pause check-ins")
    paused = await in_topic(bot, mark, "⏸️")
    thread = paused["message_thread_id"]
    assert maria.last_text().startswith("Monthly check-ins are paused.")
    rows = await schedule(bot)
    await bot.app.sweeps.sweep(now=rows[0].due_at.replace(tzinfo=UTC))
    await bot.settled()
    assert not [c for c in api.calls[mark:] if c.get("chat_id") == 501 and "👋" in c["text"]]
    mark = len(api.calls)
    await ana.send("/checkins resume", group=GROUP, topic=thread)
    await in_topic(bot, mark, tr(bot, "Check-ins resumed.", "en"))
    async with bot.session() as session:
        case = await cases.get_case(session, "RO-0007")
    assert case.checkins == "on"
    # The one due while paused stays cancelled; the ones ahead are asked as planned.
    later = await schedule(bot)
    assert later[0].status is CheckInStatus.CANCELLED
    assert all(r.status is CheckInStatus.SCHEDULED for r in later[1:])


async def test_staff_see_the_schedule_and_ask_one_now_skip_one_and_move_one(running_bot):
    bot = running_bot
    await returnee_case(bot)
    api = bot.api
    ana = bot.user(111, first_name="Ana", last_name="Ionescu", username="ana_iom")
    await bot.user(501).send("Hello")
    thread = (await relayed(api, "copyMessage", GROUP))["message_thread_id"]
    mark = len(api.calls)
    await ana.send("/checkins", group=GROUP, topic=thread)
    listing = await in_topic(bot, mark, tr(bot, "Check-ins of {case}", "en").format(case="RO-0007"))
    assert len(listing["text"].splitlines()) == 6  # the title and five check-ins
    from tests.test_receipts import press_in_group

    await press_in_group(
        bot, ana, listing.result["message_id"], tr(bot, "Skip: {month}", "en").format(month=2)
    )
    await press_in_group(
        bot, ana, listing.result["message_id"], tr(bot, "Ask now: {month}", "en").format(month=3)
    )
    mark = len(api.calls)
    await ana.send("/checkins move 6 2027-05-20", group=GROUP, topic=thread)
    await in_topic(bot, mark, tr(bot, "Check-in moved.", "en"))
    rows = {r.month: r for r in await schedule(bot)}
    assert rows[2].status is CheckInStatus.SKIPPED
    assert rows[3].due_at.replace(tzinfo=UTC) <= datetime.now(UTC) + timedelta(hours=14)
    bucharest = ZoneInfo("Europe/Bucharest")
    assert rows[6].due_at.replace(tzinfo=UTC).astimezone(bucharest).date() == date(2027, 5, 20)
    mark = len(api.calls)
    await ana.send("/checkins move 9 2028-01-01", group=GROUP, topic=thread)  # past a year
    refused = await in_topic(bot, mark, tr(bot, "Not done. Write /checkins move", "en")[:8])
    assert "/checkins move 2 2027-01-20" in refused["text"]


async def test_a_returnee_who_blocked_the_bot_is_marked_unreachable_and_the_topic_told(
    running_bot,
):
    bot = running_bot
    await returnee_case(bot)
    bot.api.blocked.add(501)
    mark = len(bot.api.calls)
    await ask_first(bot)
    await in_topic(bot, mark, "⚠️")
    async with bot.session() as session:
        case = await cases.get_case(session, "RO-0007")
    assert case.unreachable is True


async def test_a_programme_asks_in_its_own_months_and_its_cases_follow(running_bot):
    bot = running_bot
    await returnee_case(bot)
    async with bot.session() as session:
        case = await cases.get_case(session, "RO-0007")
        case.programme = "dk"
        await session.flush()
        await checkins.set_months(session, "dk", [1, 4, 12])
        await session.commit()
    rows = {r.month: r.status for r in await schedule(bot)}
    assert {m for m, s in rows.items() if s is CheckInStatus.SCHEDULED} == {1, 4, 12}
    assert {m for m, s in rows.items() if s is CheckInStatus.CANCELLED} == {2, 3, 6, 9}
    async with bot.session() as session:
        with pytest.raises(RuleViolation):
            await checkins.set_months(session, "dk", [13])  # never past a year
        from bot.services import programmes

        # The template file sets a programme's months back to what the file says.
        await checkins.set_months(session, "no", [2])
        applied = await programmes.apply_template(session, "no")
        assert "check-ins at months 1, 2, 3, 6, 9" in applied.changed
        assert await checkins.months_of(session, "no") == (1, 2, 3, 6, 9)


def test_the_admin_moves_a_return_date_and_the_check_ins_follow(cli):
    assert cli(*OFFICE)[0] == 0
    case = ["admin", "case"]
    add = ["add", "--office", "RO", "--code", "RO-0007", "--language", "ro"]
    assert cli(*case, *add, "--return-date", "2026-10-01")[0] == 0
    code, out, _ = cli(*case, "set", "--code", "RO-0007", "--return-date", "2026-11-15")
    assert code == 0
    assert "check-ins planned" in out
    assert cli(*case, "set", "--code", "RO-0007")[0] == 2  # nothing to set


@pytest.mark.parametrize(
    ("question", "answer", "alerts"),
    [
        ("safe", "no", True),
        ("safe", "talk", True),
        ("money", "no", True),
        ("money", "partly", True),
        ("money", "none_planned", False),
        ("housing", "problems", False),
        ("contact", "yes", False),
    ],
)
async def test_which_answers_alert_the_office(running_bot, question, answer, alerts):
    bot = running_bot
    await returnee_case(bot)
    await ask_first(bot)
    maria = bot.user(501)
    await maria.press("Answer now")
    for step in checkins.QUESTIONS:
        if step == question:
            mark = len(bot.api.calls)
            await maria.press(ANSWER_LABELS[f"{question}.{answer}"])
            break
        await maria.press("Skip")
    await bot.settled()
    raised = [
        c
        for c in bot.api.calls[mark:]
        if c.method == "sendMessage" and c.get("chat_id") == GROUP and c["text"].startswith("🚨")
    ]
    assert len(raised) == (1 if alerts else 0)


async def test_reminders_reach_every_case_however_many_wait_between_steps(running_bot, monkeypatch):
    """Batches are small here: rows already reminded must not keep the others out."""
    bot = running_bot
    monkeypatch.setattr(checkins, "BATCH", 2)
    async with bot.session() as session:
        await office_with_case(session)
        for n in range(5):
            code = f"RO-{n + 100:04d}"
            await cases.add_case(
                session, office_code="RO", code=code, language="en", return_date=RETURN
            )
            issued = await invites.invite_returnee(session, case_code=code, ttl_days=1)
            joined = await invites.redeem(session, token=issued.token, telegram_user_id=800 + n)
            give_consent(session, joined.case, joined.person, language="en")
        await session.commit()
    first_due = min(r.due_at for r in await schedule(bot) if r.month == 1)
    asked_at = first_due.replace(tzinfo=UTC) + timedelta(hours=3)
    await bot.app.sweeps.sweep(now=asked_at)
    for hours in range(1, 6):  # a few sweeps on day 3, as the clock would run them
        await bot.app.sweeps.sweep(now=asked_at + timedelta(days=3, hours=hours))
    async with bot.session() as session:
        reminded = await session.scalar(
            select(func.count()).select_from(CheckIn).where(CheckIn.reminders == 1)
        )
    assert reminded == 5
