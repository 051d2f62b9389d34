"""A person's export (issue 14): `python -m bot admin export --case CODE [--out FILE]` gives
everything held about one case's returnee as JSON (ISO dates, amounts as strings, sorted keys),
holds the seeded rows, and nothing of another case. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import stat
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.services import cases
from bot.services.consent import give_consent
from storage.db import create_engine, create_sessionmaker
from storage.migrate import upgrade_to_head
from storage.models import AuditEvent, Person, Relay, Role
from tests.test_retention import CASES, seed, words

CODE, OTHER = "RO-0001", "RO-0003"


async def _seed(database_url: str) -> dict[str, Any]:
    """The retention data set (every place that holds words, five cases), with a returnee who
    agreed on RO-0001 and another on RO-0003. Returns ids to look for."""
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    async with create_sessionmaker(engine)() as session:
        await seed(session)
        for code, telegram_id in ((CODE, 501), (OTHER, 502)):
            case = await cases.get_case(session, code)
            person = Person(telegram_user_id=telegram_id, role=Role.RETURNEE, language="ro")
            session.add(person)
            await session.flush()
            case.returnee_id = person.id
            await session.flush()
            await session.refresh(case, ["returnee"])
            give_consent(session, case, person, language="ro")
        await session.commit()
        case = await cases.get_case(session, CODE)
        found = {
            "case_id": case.id,
            "relays": list(await session.scalars(select(Relay.id).where(Relay.case_id == case.id))),
            "audit": list(
                await session.scalars(select(AuditEvent.id).where(AuditEvent.case_id == case.id))
            ),
        }
    await engine.dispose()
    return found


@pytest.fixture
def cli(database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("REDIS_URL", raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _keys_sorted(value: Any) -> bool:
    if isinstance(value, dict):
        return list(value) == sorted(value) and all(_keys_sorted(v) for v in value.values())
    if isinstance(value, list):
        return all(_keys_sorted(v) for v in value)
    return True


def _numbers(value: Any) -> set[int]:
    if isinstance(value, dict):
        return set().union(*(_numbers(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_numbers(v) for v in value))
    return {value} if isinstance(value, int) and not isinstance(value, bool) else set()


def test_the_export_holds_the_case_and_nothing_of_another(cli, database_url, tmp_path):
    seeded = asyncio.run(_seed(database_url))
    out = tmp_path / "export.json"
    code, printed, err = cli("admin", "export", "--case", CODE.lower(), "--out", str(out))
    assert (code, err) == (0, "")
    assert printed.strip() == f"case {CODE} exported to {out}"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it holds what a person said
    text = out.read_text(encoding="utf-8")
    exported = json.loads(text, object_pairs_hook=dict)
    assert _keys_sorted(exported)

    case = exported["case"]
    assert (case["code"], case["office"], case["status"], case["id"]) == (
        CODE,
        "RO",
        "closed",
        seeded["case_id"],
    )
    assert date.fromisoformat(case["closed_on"]) == CASES[CODE][1]
    assert datetime.fromisoformat(exported["exported_at"]).tzinfo is not None
    person = exported["person"]
    assert (person["telegram_user_id"], person["role"], person["language"]) == (
        501,
        "returnee",
        "ro",
    )
    assert set(person) == {"id", "telegram_user_id", "role", "language", "created_at"}
    assert [c["granted"] for c in exported["consents"]] == [True]
    assert [r["id"] for r in exported["relays"]] == seeded["relays"]
    assert exported["relays"][0]["source_message_id"] == 10
    receipts = exported["receipts"]
    assert [(r["code"], r["amount"], r["currency"], r["status"]) for r in receipts] == [
        ("R-RO-0001-1", "300.00", "USD", "paid"),
        ("R-RO-0001-2", "80.00", "USD", "rejected"),
    ]
    assert receipts[0]["description"] == words(CODE, "receipt")
    assert receipts[0]["files"][0]["file_unique_id"] == words(CODE, "file")
    assert receipts[1]["rejection_note"] == words(CODE, "note")
    assert [(p["amount"], p["status"], p["paid_on"]) for p in exported["payouts"]] == [
        ("300.00", "paid", "2026-03-09")
    ]
    assert [(line["amount"], line["reason"]) for line in exported["ledger_lines"]] == [
        ("100.00", words(CODE, "ledger"))
    ]
    assert [(c["status"], c["note"]) for c in exported["check_ins"]] == [
        ("answered", words(CODE, "check-in"))
    ]
    assert [a["answer"] for a in exported["alerts"]] == ["safe.no"]
    assert [u["text"] for u in exported["updates"]] == [words(CODE, "update")]
    assert [r["seconds"] for r in exported["response_times"]] == [720]
    audit = exported["audit_events"]
    assert [e["id"] for e in audit] == seeded["audit"]
    assert {"case.added", "case.closed", "consent.given"} <= {e["action"] for e in audit}

    # Nothing of any other case: none of their words, nor their returnee.
    for other in CASES:
        if other != CODE:
            assert f"WORDS-{other}-" not in text
    assert 502 not in _numbers(exported)  # the other returnee's Telegram id
    assert {c["person_id"] for c in exported["consents"]} == {person["id"]}
    assert "FAILED-" not in text
    assert "DIALOG-" not in text


def test_the_export_goes_to_stdout_is_audited_and_reads_the_same_twice(cli, database_url):
    asyncio.run(_seed(database_url))
    code, first, _ = cli("admin", "export", "--case", CODE)
    assert code == 0
    code, second, _ = cli("admin", "export", "--case", CODE)
    assert code == 0
    one, two = json.loads(first), json.loads(second)
    # The first export is itself in the audit log the second one reads.
    assert [e["action"] for e in two["audit_events"]][-1] == "case.exported"
    assert [e for e in two["audit_events"] if e["action"] != "case.exported"] == one["audit_events"]
    for exported in (one, two):
        del exported["exported_at"]
        del exported["audit_events"]
    assert one == two
    assert list(json.loads(first)) == sorted(json.loads(first))


def test_an_unknown_case_writes_nothing(cli, database_url, tmp_path):
    asyncio.run(_seed(database_url))
    out = tmp_path / "nothing.json"
    code, printed, err = cli("admin", "export", "--case", "RO-9999", "--out", str(out))
    assert (code, printed) == (2, "")
    assert err.strip() == "error: case RO-9999 does not exist"
    assert not out.exists()
