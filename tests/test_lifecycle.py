"""A case's lifecycle for the statistics (issue 12): eligible, applied, returned, closed or
dropped out with a reason, or never joined with a reason; from the admin command line, from the
topic, and the returnee's choice of what the counsellor sees, from the privacy menu."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from bot.delivery.texts.counsellors import DROP_REASON_LABELS, event_text
from bot.services import cases
from storage.models import AuditEvent, Case, CaseStatus, CheckIn, CheckInStatus
from tests.test_admin_cli import OFFICE
from tests.test_admin_cli import cli as cli  # the fixture
from tests.test_counsellor_news import (
    STAFF_LOCALE,
    counsellor_gets,
    events_on,
    staff_message,
)
from tests.test_inbox import GROUP
from tests.test_money_cli import case_add, query
from tests.test_receipts import _topic_of_case, ana_of, money_office, press_in_group, tr


def lifecycle_of(database_url: str, code: str) -> tuple[object, ...]:
    row = query(
        database_url,
        select(
            Case.status, Case.eligible_on, Case.applied_on, Case.returned_on, Case.closed_on,
            Case.dropped_on, Case.drop_reason, Case.declined_on, Case.decline_reason,
        ).where(Case.code == code),
    )  # fmt: skip
    return tuple(row[0])


def test_the_lifecycle_from_the_command_line(cli, database_url):
    assert cli(*OFFICE)[0] == 0
    for code in ("RO-0007", "RO-0008", "RO-0009"):
        assert cli(*case_add(code))[0] == 0
    code, out, err = cli("admin", "case", "set", "--code", "RO-0007", "--eligible", "2026-01-05")
    assert (code, out.strip()) == (0, "case RO-0007: eligible from 2026-01-05"), err
    code, out, _ = cli("admin", "case", "returned", "--code", "RO-0007", "--on", "2026-03-01")
    assert out.strip() == "case RO-0007: returned on 2026-03-01"
    code, out, _ = cli("admin", "case", "returned", "--code", "RO-0007", "--on", "2026-03-09")
    assert out.strip() == "case RO-0007: arrival was confirmed already (2026-03-01)"
    # Arrival sets the return date the check-ins are planned from, when there was none.
    planned = query(database_url, select(CheckIn.status).join(Case).where(Case.code == "RO-0007"))
    assert [status for (status,) in planned] == [CheckInStatus.SCHEDULED] * 5
    code, out, _ = cli("admin", "case", "close", "--code", "RO-0007", "--on", "2026-09-30")
    assert out.strip() == "case RO-0007: closed on 2026-09-30"
    code, _, err = cli("admin", "case", "close", "--code", "RO-0007")
    assert code != 0
    assert "already closed" in err
    planned = query(database_url, select(CheckIn.status).join(Case).where(Case.code == "RO-0007"))
    assert {status for (status,) in planned} == {CheckInStatus.CANCELLED}
    code, _, err = cli("admin", "case", "drop", "--code", "RO-0008", "--reason", "bored")
    assert code == 2
    assert "invalid choice" in err
    code, out, _ = cli(
        "admin", "case", "drop", "--code", "RO-0008", "--reason", "residence_permit", "--on",
        "2026-02-01",
    )  # fmt: skip
    assert out.strip() == "case RO-0008: dropped out on 2026-02-01 (residence_permit)"
    code, out, _ = cli(
        "admin", "case", "decline", "--code", "RO-0009", "--reason", "fear_of_reprisals", "--on",
        "2026-01-20",
    )  # fmt: skip
    assert out.strip() == "case RO-0009: chose not to join on 2026-01-20 (fear_of_reprisals)"
    seven = lifecycle_of(database_url, "RO-0007")
    assert seven[0] is CaseStatus.CLOSED
    assert seven[1:5] == (date(2026, 1, 5), None, date(2026, 3, 1), date(2026, 9, 30))
    eight = lifecycle_of(database_url, "RO-0008")
    assert (eight[0], eight[5], eight[6]) == (
        CaseStatus.DROPPED_OUT,
        date(2026, 2, 1),
        "residence_permit",
    )
    assert lifecycle_of(database_url, "RO-0009")[7:] == (date(2026, 1, 20), "fear_of_reprisals")
    actions = [a for (a,) in query(database_url, select(AuditEvent.action))]
    assert {"case.returned", "case.closed", "case.dropped"} <= set(actions)


async def test_consent_is_the_day_of_application_and_a_joined_case_cannot_decline(running_bot):
    bot = running_bot
    await money_office(bot)
    async with bot.session() as session:
        case = await cases.get_case(session, "RO-0007")
        assert case.applied_on is not None
        assert case.eligible_on is not None
        from bot.services import lifecycle
        from bot.services.errors import RuleViolation

        with pytest.raises(RuleViolation, match="has joined"):
            lifecycle.decline(case, "other", date(2026, 12, 1))


async def test_staff_mark_a_drop_out_from_the_topic_and_counsellors_hear_the_reason(running_bot):
    bot = running_bot
    await money_office(bot)
    await events_on(bot)
    ana = ana_of(bot)
    thread = await _topic_of_case(bot)
    mark = len(bot.api.calls)
    await ana.send("/drop", group=GROUP, topic=thread)
    question = await staff_message(bot, mark)
    label = tr(bot, DROP_REASON_LABELS["unsafe_to_return"], STAFF_LOCALE)
    await press_in_group(bot, ana, question.result["message_id"], label)
    told = await counsellor_gets(bot, mark)
    assert told["text"] == event_text(
        bot.app.i18n, "da", "RO-0007", "dropped", reason="unsafe_to_return"
    )
    async with bot.session() as session:
        case = await cases.get_case(session, "RO-0007")
    assert (case.status, case.drop_reason) == (CaseStatus.DROPPED_OUT, "unsafe_to_return")
    # Staff of the case can no longer write updates for it.
    mark = len(bot.api.calls)
    await ana.send("/plan Next steps", group=GROUP, topic=thread)
    refused = await bot.api.wait_for(
        lambda c: c.method == "sendMessage" and c.get("chat_id") == GROUP, after=mark
    )
    assert refused["text"].startswith(tr(bot, "Not kept", STAFF_LOCALE)[:8])


async def test_the_returnee_chooses_in_the_privacy_menu_whether_check_in_answers_are_shared(
    running_bot,
):
    bot = running_bot
    await money_office(bot)
    maria = bot.user(501)
    await maria.send("/privacy")
    assert tr(bot, "Your contact person gets the short monthly status only.", "en") in (
        maria.last_text()
    )
    await maria.press(tr(bot, "Also share my check-in answers", "en"))
    assert "Your contact person also sees how you answer" in maria.last_text()
    async with bot.session() as session:
        assert (await cases.get_case(session, "RO-0007")).sharing == "checkins"
    await maria.press(tr(bot, "Stop sharing my check-in answers", "en"))
    async with bot.session() as session:
        assert (await cases.get_case(session, "RO-0007")).sharing == "status"
        actions = [a for (a,) in (await session.execute(select(AuditEvent.action))).all()]
    assert actions[-2:] == ["sharing.checkins", "sharing.status"]
