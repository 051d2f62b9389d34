"""The admin command line: it does what it says, and on any error writes nothing and exits 2."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.services import invites
from bot.services.invites import hash_token
from storage.db import create_engine, create_sessionmaker
from storage.models import AuditEvent, Case, Invite, Office, Payout, Person, Role

OFFICE = [
    "admin",
    "office",
    "add",
    "--code",
    "RO",
    "--name",
    "IOM Bucharest",
    "--country",
    "RO",
    "--timezone",
    "Europe/Bucharest",
    "--languages",
    "ro,en",
    "--group-chat-id",
    "-100123",
]


@pytest.fixture
def cli(database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("BOT_USERNAME", "homeward_test_bot")
    monkeypatch.delenv("REDIS_URL", raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def row_counts(database_url: str) -> list[int]:
    async def count() -> list[int]:
        engine = create_engine(database_url)
        async with create_sessionmaker(engine)() as session:
            values = [
                await session.scalar(select(func.count()).select_from(model))
                for model in (Office, Case, Person, Invite, AuditEvent)
            ]
        await engine.dispose()
        return values

    return asyncio.run(count())


def test_office_staff_counsellor_case_and_invite(cli, database_url):
    assert cli(*OFFICE)[0] == 0
    assert (
        cli("admin", "staff", "add", "--office", "RO", "--telegram-id", "111", "--name", "Ana")[0]
        == 0
    )
    assert (
        cli(
            "admin",
            "counsellor",
            "add",
            "--telegram-id",
            "222",
            "--name",
            "Mette",
            "--organisation",
            "CMM",
            "--language",
            "da",
        )[0]
        == 0
    )
    code, out, _ = cli(
        "admin",
        "case",
        "add",
        "--office",
        "RO",
        "--code",
        "RO-0007",
        "--language",
        "ro",
        "--return-date",
        "2026-10-01",
        "--counsellor",
        "222",
    )
    assert (code, out.strip()) == (0, "case RO-0007 added")

    code, out, _ = cli("admin", "invite", "returnee", "--case", "RO-0007")
    assert code == 0
    link = out.splitlines()[0]
    assert link.startswith("https://t.me/homeward_test_bot?start=")
    token = link.split("start=")[1]

    code, out, _ = cli("admin", "case", "list")
    assert code == 0
    assert out.split("\t")[:5] == ["RO-0007", "RO", "ro", "preparing", "2026-10-01"]
    code, out, _ = cli("admin", "office", "list")
    assert out.startswith("RO\tIOM Bucharest\tRO\tEurope/Bucharest\tro,en\t-100123")

    async def check() -> None:
        engine = create_engine(database_url)
        async with create_sessionmaker(engine)() as session:
            invite = await session.scalar(select(Invite))
            assert invite.token_hash == hash_token(token)
            staff = await session.scalar(select(Person).where(Person.role == Role.STAFF))
            assert staff.display_name == "Ana"
            assert await session.scalar(select(func.count()).select_from(AuditEvent)) >= 5
        await engine.dispose()

    asyncio.run(check())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [
                "admin",
                "case",
                "add",
                "--office",
                "RO",
                "--code",
                "RO-0001",
                "--language",
                "ro",
                "--counsellor",
                "999",
            ],
            "no counsellor with Telegram user id 999",
        ),
        (
            ["admin", "case", "add", "--office", "XX", "--code", "XX-0001", "--language", "ro"],
            "office XX does not exist",
        ),
        (
            ["admin", "case", "add", "--office", "RO", "--code", "BG-0001", "--language", "ro"],
            "must look like RO-0007",
        ),
        (
            [
                "admin",
                "case",
                "add",
                "--office",
                "RO",
                "--code",
                "RO-0001",
                "--language",
                "ro",
                "--return-date",
                "1 October",
            ],
            "is not a date",
        ),
        (
            [
                "admin",
                "office",
                "add",
                "--code",
                "BG",
                "--name",
                "IOM Sofia",
                "--country",
                "BG",
                "--timezone",
                "Mars/Olympus",
                "--languages",
                "bg",
            ],
            "time zone",
        ),
        (
            [
                "admin",
                "office",
                "add",
                "--code",
                "BG",
                "--name",
                "IOM Sofia",
                "--country",
                "ZZ",
                "--timezone",
                "Europe/Sofia",
                "--languages",
                "bg",
            ],
            "country",
        ),
        (
            ["admin", "staff", "add", "--office", "RO", "--telegram-id", "abc", "--name", "Ana"],
            "invalid int value",
        ),
        (["admin", "invite", "returnee", "--case", "RO-9999"], "case RO-9999 does not exist"),
        (["admin", "office", "frobnicate"], "invalid choice"),
        (["admin"], "required"),
    ],
)
def test_bad_arguments_get_one_line_exit_2_and_write_nothing(cli, database_url, argv, message):
    assert cli(*OFFICE)[0] == 0
    before = row_counts(database_url)
    code, out, err = cli(*argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert message in err
    assert row_counts(database_url) == before


def test_duplicates_are_refused(cli):
    assert cli(*OFFICE)[0] == 0
    code, _, err = cli(*OFFICE)
    assert code == 2
    assert "office RO already exists" in err


def test_every_level_has_help(cli):
    for argv in (
        ["--help"],
        ["admin", "--help"],
        ["admin", "case", "--help"],
        ["admin", "case", "add", "--help"],
        ["admin", "invite", "returnee", "--help"],
    ):
        code, out, _ = cli(*argv)
        assert code == 0
        assert "usage:" in out


def test_check_reports_an_unmigrated_database_then_passes(cli, monkeypatch):
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    code, _, err = cli("check")
    assert code == 1
    assert "database schema is at None" in err
    assert cli("migrate")[0] == 0
    assert cli("check") == (0, "", "")


def test_saved_replies_and_office_settings_from_the_command_line(cli):
    assert cli(*OFFICE)[0] == 0
    code, out, _ = cli(
        "admin",
        "reply",
        "add",
        "--office",
        "RO",
        "--name",
        "hours",
        "--language",
        "ro",
        "--text",
        "Luni-vineri 9-17",
    )
    assert (code, out.strip()) == (0, "saved reply hours (ro) stored for office RO")
    assert cli("admin", "reply", "list", "--office", "RO")[1].strip() == "hours"
    code, _, err = cli(
        "admin",
        "reply",
        "add",
        "--office",
        "RO",
        "--name",
        "Bad Name!",
        "--language",
        "ro",
        "--text",
        "x",
    )
    assert code == 2
    assert "reply name" in err
    code, out, _ = cli(
        "admin",
        "office",
        "set",
        "--code",
        "RO",
        "--hours",
        "mon-fri 09:00-17:00",
        "--holiday",
        "2026-12-25",
        "--sign-with-staff-name",
        "yes",
    )
    assert (code, out.strip()) == (0, "office RO updated")
    assert cli("admin", "office", "set", "--code", "RO", "--add-inbox", "-100456")[0] == 0
    assert cli("admin", "office", "list")[1].split("\t")[5].strip() == "-100123,-100456"
    code, _, err = cli("admin", "office", "set", "--code", "RO", "--add-inbox", "-100123")
    assert code == 2
    assert "already an inbox of office RO" in err
    code, _, err = cli("admin", "office", "set", "--code", "RO", "--hours", "mon 18:00-09:00")
    assert code == 2
    assert "close before they open" in err


def test_budget_payouts_and_knowledge_settings_from_the_command_line(cli, database_url):
    assert cli(*OFFICE)[0] == 0
    budget = ["admin", "budget", "set", "--programme", "dk", "--currency", "USD"]
    assert cli(*budget, "--category", "allowance", "--maximum", "150", "--paid-as", "cash",
               "--months", "3")[0] == 0  # fmt: skip
    assert cli(*budget, "--category", "housing", "--maximum", "900", "--paid-as", "in_kind")[0] == 0
    code, out, _ = cli("admin", "budget", "list", "--programme", "dk")
    assert out.splitlines() == ["allowance\t150.00 USD\tcash\t3", "housing\t900.00 USD\tin_kind\t"]
    for wrong in ("-5", "2500,50", "0", "1.234"):
        code, _, err = cli(
            *budget, "--category", "housing", "--maximum", wrong, "--paid-as", "in_kind"
        )
        assert code == 2, wrong
        assert "amount" in err

    case = ["admin", "case", "add", "--office", "RO", "--code", "RO-0001", "--language", "ro"]
    assert cli(*case)[0] == 0
    # Set later, in capitals: programme codes are compared in lower case.
    assert cli("admin", "case", "set", "--code", "RO-0001", "--programme", "DK")[1].strip() == (
        "case RO-0001: programme dk"
    )
    payout = ["admin", "payout", "add", "--case", "RO-0001", "--category", "housing"]
    assert cli(*payout, "--amount", "600", "--paid-on", "2026-11-02")[0] == 0
    code, _, err = cli(*payout, "--amount", "300.01")
    assert code == 2
    assert "only 300.00 USD is left in housing" in err
    code, _, err = cli("admin", "payout", "add", "--case", "RO-0001", "--category", "medical",
                       "--amount", "10")  # fmt: skip
    assert code == 2
    assert "no category 'medical'" in err

    office_set = ["admin", "office", "set", "--code", "RO"]
    assert (
        cli(*office_set, "--emergency-contact", "+40 21 000", "--knowledge-mode", "suggest")[0] == 0
    )

    async def read() -> tuple[str | None, str, list]:
        engine = create_engine(database_url)
        async with create_sessionmaker(engine)() as session:
            office = await session.scalar(select(Office))
            paid = list(await session.scalars(select(Payout.amount)))
            result = (office.emergency_contact, office.knowledge_mode.value, paid)
        await engine.dispose()
        return result

    assert asyncio.run(read()) == ("+40 21 000", "suggest", [Decimal("600.00")])


def test_commands_that_only_touch_the_database_do_not_load_the_telegram_framework(tmp_path):
    """Importing aiogram's types took 3-4 of the 6 seconds every admin command used to take."""
    import os
    import subprocess
    import sys

    from bot.paths import PROJECT_ROOT

    program = (
        "import sys\n"
        "from bot.cli import main\n"
        "main(['admin', 'office', 'list'])\n"
        "main(['admin', 'case', 'list'])\n"
        "print('aiogram loaded' if any(m.startswith('aiogram') for m in sys.modules) else 'lean')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'hw.db'}",
        PYTHONPATH=str(PROJECT_ROOT),
    )
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "lean"


def test_a_programme_manager_is_registered_with_the_language_the_bot_writes_to_them_in(
    cli, database_url
):
    add = ["admin", "manager", "add", "--telegram-id", "333", "--name", "Programme manager"]
    code, out, _ = cli(*add, "--language", "fr")
    assert (code, out.strip()) == (0, "admin 333 added")
    code, _, err = cli(*add[:4], "334", *add[5:], "--language", "xx")
    assert code == 2
    assert "language 'xx' is not shipped" in err

    async def language() -> str | None:
        engine = create_engine(database_url)
        async with create_sessionmaker(engine)() as session:
            manager = await session.scalar(select(Person).where(Person.role == Role.ADMIN))
        await engine.dispose()
        return manager.language

    assert asyncio.run(language()) == "fr"


def test_invite_revoke_expires_unused_links_of_a_case_then_all(cli, database_url):
    assert cli(*OFFICE)[0] == 0
    assert (
        cli("admin", "case", "add", "--office", "RO", "--code", "RO-0007", "--language", "ro")[0]
        == 0
    )
    tokens = {}
    for name, argv in (
        ("returnee", ("returnee", "--case", "RO-0007")),
        ("staff", ("staff", "--office", "RO", "--name", "Ana")),
    ):
        code, out, _ = cli("admin", "invite", *argv)
        assert code == 0
        tokens[name] = out.splitlines()[0].split("start=")[1]

    code, _, err = cli("admin", "invite", "revoke")
    assert code == 2
    assert "--case CODE, --office CODE or --all" in err
    code, out, _ = cli("admin", "invite", "revoke", "--case", "RO-0007")
    assert (code, out.strip().split(" ")[0]) == (0, "1")

    async def outcomes() -> dict[str, invites.Outcome]:
        engine = create_engine(database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                found = {
                    name: (
                        await invites.redeem(session, token=token, telegram_user_id=900 + n)
                    ).outcome
                    for n, (name, token) in enumerate(tokens.items())
                }
                await session.rollback()  # only looking
                revoked = await session.scalar(
                    select(func.count())
                    .select_from(AuditEvent)
                    .where(AuditEvent.action == "invite.revoked")
                )
                return found | {"audited": revoked}
        finally:
            await engine.dispose()

    assert asyncio.run(outcomes()) == {
        "returnee": invites.Outcome.EXPIRED,
        "staff": invites.Outcome.JOINED,
        "audited": 1,
    }
    code, out, _ = cli("admin", "invite", "revoke", "--all")
    assert (code, out.strip().split(" ")[0]) == (0, "1")
    assert asyncio.run(outcomes())["staff"] is invites.Outcome.EXPIRED
