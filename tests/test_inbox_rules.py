"""The staff inbox's rules on their own, without Telegram: the /s command as typed, the office
closed note once a day, who may act in a topic, how answers are signed, and what /kb finds."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.knowledge.base import KnowledgeBase
from bot.languages import SHIPPED_LANGUAGES
from bot.paths import KNOWLEDGE_DIR
from bot.services import inbox, knowledge, saved_replies
from bot.services.cases import returnee_language
from bot.services.office_hours import closed_notice_due
from bot.services.saved_replies import (
    DeleteReply,
    ListReplies,
    SaveReply,
    SendReply,
    Unfinished,
    parse_command,
)
from storage.models import Case, Office, Person, Role


def office(**fields: object) -> Office:
    values: dict[str, object] = {
        "id": 1,
        "code": "RO",
        "name": "IOM RO",
        "timezone": "Europe/Bucharest",
        "languages": ["ro", "en"],
        "working_hours": {},
        "holidays": [],
        "sign_with_staff_name": False,
    }
    return Office(**(values | fields))


def staff(name: str | None = "Ana Pop", office_id: int = 1, role: Role = Role.STAFF) -> Person:
    return Person(id=7, telegram_user_id=301, role=role, display_name=name, office_id=office_id)


@pytest.mark.parametrize(
    ("typed", "parsed"),
    [
        (None, ListReplies()),
        ("   ", ListReplies()),
        (" hours ", SendReply("hours")),
        ("Hours please", SendReply("Hours please")),
        ("saved", SendReply("saved")),
        ("save hours ro Luni-vineri  9-17", SaveReply("hours", "ro", "Luni-vineri  9-17")),
        ("SAVE Hours ro text", SaveReply("Hours", "ro", "text")),
        ("save hours ro", Unfinished()),
        ("save", Unfinished()),
        ("delete hours", DeleteReply("hours", None)),
        ("Delete hours ro", DeleteReply("hours", "ro")),
        ("delete hours ro more words", DeleteReply("hours", "ro")),
        ("delete", Unfinished()),
    ],
)
def test_the_s_command_is_read_as_typed(typed, parsed):
    assert parse_command(typed) == parsed


def test_only_saving_and_deleting_need_no_case():
    managing = [parse_command(a) for a in ("save a ro b", "delete a", "save")]
    using = [parse_command(a) for a in ("", "hours")]
    assert all(isinstance(c, saved_replies.Managing) for c in managing)
    assert not any(isinstance(c, saved_replies.Managing) for c in using)


def test_outside_hours_the_returnee_is_told_once_a_day_in_the_offices_day():
    ro = office(working_hours={"mon": ["09:00", "17:00"]}, holidays=["2026-12-08"])
    case = Case(office=ro, language="ro")
    monday_evening = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)  # 18:00 in Bucharest
    assert closed_notice_due(case, monday_evening)
    assert case.closed_reply_on == date(2026, 12, 7)
    assert not closed_notice_due(case, monday_evening.replace(hour=20))
    # 00:30 on Tuesday in Bucharest, still Monday in UTC: a new day for the office.
    assert closed_notice_due(case, datetime(2026, 12, 7, 22, 30, tzinfo=UTC))
    assert case.closed_reply_on == date(2026, 12, 8)


def test_within_hours_nothing_is_said_nor_recorded():
    ro = office(working_hours={"mon": ["09:00", "17:00"]})
    case = Case(office=ro, language="ro")
    assert not closed_notice_due(case, datetime(2026, 12, 7, 8, 0, tzinfo=UTC))
    assert case.closed_reply_on is None
    assert not closed_notice_due(Case(office=office(), language="ro"), datetime.now(UTC))


def test_only_the_offices_registered_staff_act_in_its_group():
    ro, ana = office(), staff()
    assert inbox.staff_of(ro, ana) == inbox.OfficeStaff(ro, ana)
    assert inbox.staff_of(ro, None) is None
    assert inbox.staff_of(ro, staff(office_id=2)) is None
    assert inbox.staff_of(ro, staff(role=Role.COUNSELLOR)) is None


async def test_a_topic_is_refused_before_any_case_is_looked_up():
    ro = office()
    # No session is needed (None) while the sender alone decides.
    assert (
        await inbox.context_of_topic(None, ro, -100, 5, staff(), anonymous=True)  # type: ignore[arg-type]
        is inbox.Refusal.ANONYMOUS
    )
    assert (
        await inbox.context_of_topic(None, ro, -100, 5, None, anonymous=False)  # type: ignore[arg-type]
        is inbox.Refusal.STRANGER
    )
    assert (
        await inbox.context_of_topic(None, ro, -100, None, staff(), anonymous=False)  # type: ignore[arg-type]
        is inbox.Refusal.NO_CASE
    )


def test_answers_are_signed_with_the_office_and_the_first_name_if_it_wants():
    assert inbox.signature(office(), staff()) == "IOM RO"
    assert inbox.signature(office(sign_with_staff_name=True), staff()) == "Ana, IOM RO"
    assert inbox.signature(office(sign_with_staff_name=True), staff(name=None)) == "IOM RO"


def test_the_returnee_reads_their_own_language_else_the_cases():
    case = Case(office=office(), language="ro")
    assert returnee_language(case) == "ro"
    case.returnee = Person(role=Role.RETURNEE, telegram_user_id=501, language="en")
    assert returnee_language(case) == "en"


@pytest.fixture(scope="module")
def programme() -> KnowledgeBase:
    return KnowledgeBase.from_directory(KNOWLEDGE_DIR, SHIPPED_LANGUAGES)


def test_kb_takes_a_returnees_entry_by_its_id(programme):
    found = knowledge.look_up_for_staff(programme, " Receipt-What-Counts ", "ro")
    assert found == knowledge.StaffLookup(entry_id="receipt-what-counts")


def test_kb_never_sends_a_counsellors_entry_and_searches_instead(programme):
    found = knowledge.look_up_for_staff(programme, "prepare-returnee", "en")
    assert found.entry_id is None
    assert "prepare-returnee" not in found.suggestions


def test_kb_searches_the_offices_language_then_english(programme):
    found = knowledge.look_up_for_staff(programme, "receipt", "ro")
    assert found.entry_id is None
    assert found.suggestions
    assert len(found.suggestions) <= 5
    assert all(programme.for_audience(e, "returnee") for e in found.suggestions)
    assert knowledge.look_up_for_staff(programme, "  ", "ro") == knowledge.StaffLookup()
