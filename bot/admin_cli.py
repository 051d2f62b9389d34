"""`python -m bot admin ...`: offices, staff, counsellors, cases, budgets, money, invites,
the programme's statistics, and data protection (the outbound switch, a case's export).

Every command runs in one transaction (except rotate-key, which commits batch by batch): on any
error nothing is written, one line goes to stderr, and the exit code is 2.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import ConfigError, Settings
from bot.services import (
    budget,
    cases,
    erasure,
    export,
    invites,
    key_rotation,
    ledger,
    lifecycle,
    offices,
    outbound,
    people,
    programmes,
    saved_replies,
    statistics,
    statistics_chart,
)
from bot.services.clock import utcnow
from bot.services.errors import RuleViolation
from storage.db import create_engine, create_sessionmaker
from storage.encrypted import EncryptionError
from storage.fsm_keys import erase_redis_chat_at, reseal_redis
from storage.migrate import upgrade_to_head
from storage.models import CaseStatus, KnowledgeMode, PaidAs, Person, Role

Command = Callable[[AsyncSession, argparse.Namespace, Settings], Awaitable[list[str]]]


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-10-01") from None


def _languages(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


async def _office_add(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    office = await offices.add_office(
        session,
        code=a.code,
        name=a.name,
        country=a.country,
        timezone=a.timezone,
        languages=a.languages,
        group_chat_id=a.group_chat_id,
    )
    return [f"office {office.code} added"]


def _yes_no(value: str) -> bool:
    if value.lower() in ("yes", "on", "true"):
        return True
    if value.lower() in ("no", "off", "false"):
        return False
    raise argparse.ArgumentTypeError(f"{value!r} is not yes or no")


async def _office_set(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    office = await offices.update_office(
        session,
        a.code,
        group_chat_id=a.group_chat_id,
        sign_with_staff_name=a.sign_with_staff_name,
        hours=a.hours,
        holidays=a.holiday,
        add_inbox=a.add_inbox,
        emergency_contact=a.emergency_contact,
        knowledge_mode=KnowledgeMode(a.knowledge_mode) if a.knowledge_mode else None,
    )
    return [f"office {office.code} updated"]


async def _office_list(session: AsyncSession, _a: argparse.Namespace, _s: Settings) -> list[str]:
    rows = await offices.list_offices(session)
    return [
        f"{o.code}\t{o.name}\t{o.country}\t{o.timezone}\t{','.join(o.languages)}\t"
        f"{','.join(map(str, o.inbox_chat_ids())) or '-'}"
        for o in rows
    ] or ["no offices"]


async def _staff_add(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    person = await people.add_staff(
        session,
        office_code=a.office,
        telegram_user_id=a.telegram_id,
        name=a.name,
        language=a.language,
    )
    return [f"staff member {person.telegram_user_id} added to office {a.office.upper()}"]


async def _counsellor_add(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    person = await people.add_counsellor(
        session,
        telegram_user_id=a.telegram_id,
        name=a.name,
        organisation=a.organisation,
        language=a.language,
    )
    return [f"counsellor {person.telegram_user_id} added"]


async def _reply_add(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    reply = await saved_replies.save(
        session, office_code=a.office, name=a.name, language=a.language, text=a.text
    )
    return [f"saved reply {reply.name} ({reply.language}) stored for office {a.office.upper()}"]


async def _reply_list(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    office = await offices.get_office(session, a.office)
    return await saved_replies.names(session, office) or ["no saved replies"]


async def _manager_add(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    person = await people.add_admin(
        session, telegram_user_id=a.telegram_id, name=a.name, language=a.language
    )
    return [f"admin {person.telegram_user_id} added"]


async def _case_add(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    case = await cases.add_case(
        session,
        office_code=a.office,
        code=a.code,
        language=a.language,
        return_date=a.return_date,
        status=CaseStatus(a.status),
        counsellor_telegram_ids=a.counsellor,
        programme=a.programme,
    )
    return [f"case {case.code} added"]


async def _case_set(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    if a.programme is None and a.return_date is None and a.eligible is None:
        raise RuleViolation("give --programme, --return-date, --eligible or several")
    lines = []
    if a.eligible is not None:
        case = await cases.get_case(session, a.code)
        lifecycle.eligible(case, a.eligible)
        lines.append(f"case {case.code}: eligible from {case.eligible_on}")
    if a.programme is not None:
        case = await cases.set_programme(session, a.code, a.programme)
        lines.append(f"case {case.code}: programme {case.programme}")
    if a.return_date is not None:
        case = await cases.set_return_date(session, a.code, a.return_date)
        lines.append(f"case {case.code}: return date {case.return_date}; check-ins planned")
    return lines


def _day(a: argparse.Namespace) -> date:
    return a.on or utcnow().date()


async def _case_returned(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    case = await cases.get_case(session, a.code)
    if not await lifecycle.returned(session, case, _day(a), None):
        return [f"case {case.code}: arrival was confirmed already ({case.returned_on})"]
    return [f"case {case.code}: returned on {case.returned_on}"]


async def _case_close(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    case = await cases.get_case(session, a.code)
    await lifecycle.close(session, case, _day(a), None)
    return [f"case {case.code}: closed on {case.closed_on}"]


async def _case_drop(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    case = await cases.get_case(session, a.code)
    await lifecycle.drop(session, case, a.reason, _day(a), None)
    return [f"case {case.code}: dropped out on {case.dropped_on} ({case.drop_reason})"]


async def _case_decline(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    case = await cases.get_case(session, a.code)
    lifecycle.decline(case, a.reason, _day(a))
    return [f"case {case.code}: chose not to join on {case.declined_on} ({case.decline_reason})"]


async def _budget_set(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    row = await budget.set_category(
        session,
        programme=a.programme,
        category=a.category,
        maximum=a.maximum,
        currency=a.currency,
        paid_as=PaidAs(a.paid_as),
        months=a.months,
        ceiling=a.ceiling,
        reallocatable=a.reallocatable,
        example=a.example,
    )
    return [f"programme {row.programme}: {row.category} set"]


async def _budget_list(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    rows = await budget.categories(session, budget.programme_code(a.programme))
    return [
        "\t".join(
            [f"{r.category}\t{r.maximum} {r.currency}\t{r.paid_as.value}\t{r.months or ''}"]
            # Only what is set is added, so a plain category reads as before.
            + ([f"ceiling={r.ceiling}"] if r.ceiling is not None else [])
            + (["reallocatable"] if r.reallocatable else [])
            + (["example"] if r.example else [])
        )
        for r in rows
    ] or [f"programme {a.programme} has no budget categories"]


async def _budget_apply(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    applied = await programmes.apply_template(session, a.programme)
    name = f"programme {applied.programme}"
    lines = [f"{name}: {change}" for change in applied.changed] or [f"{name}: nothing changed"]
    lines += [f"{name}: {kept} kept, not in the template" for kept in applied.kept]
    lines += [f"case {code}: {count} instalments planned" for code, count in applied.planned]
    lines += [f"not planned: {why}" for why in applied.not_planned]
    return lines


async def _staff_member(session: AsyncSession, telegram_id: int | None) -> Person | None:
    """Who made a change, when the admin says: it is shown on the ledger line."""
    if telegram_id is None:
        return None
    person = await people.find_by_telegram_id(session, telegram_id)
    if person is None or person.role not in (Role.STAFF, Role.ADMIN):
        raise RuleViolation(f"no staff member or admin with Telegram user id {telegram_id}")
    return person


def _new_maximum(value: str) -> Decimal | str:
    # Zero is a real choice (the returnee lives with family and takes no housing money), but
    # budget.amount refuses it as an amount to pay: it is let through here only.
    return Decimal("0.00") if value.strip() in ("0", "0.00") else value


async def _budget_adjust(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    case = await cases.get_case(session, a.case)
    actor = await _staff_member(session, a.by_telegram_id)
    line = await ledger.adjust(session, case, a.category, _new_maximum(a.amount), a.reason, actor)
    balance = (await ledger.statement(session, case)).of(a.category)
    return [
        f"case {case.code}: {a.category} is {balance.maximum} {balance.currency} now "
        f"({line.amount:+.2f}), {balance.left} left"
    ]


async def _budget_deduct(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    case = await cases.get_case(session, a.case)
    actor = await _staff_member(session, a.by_telegram_id)
    line = await ledger.deduct(session, case, a.category, a.amount, a.reason, actor)
    balance = (await ledger.statement(session, case)).of(a.category)
    return [
        f"case {case.code}: {line.amount:.2f} {balance.currency} deducted from {a.category}, "
        f"{balance.left} left"
    ]


async def _payout_add(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    case = await cases.get_case(session, a.case)
    await ledger.record_payout(session, case, a.category, a.amount, a.paid_on or date.today())
    return [f"payout recorded for {case.code}"]


async def _payout_plan(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    case = await cases.get_case(session, a.case)
    if case.programme is None or case.return_date is None:
        raise RuleViolation(
            f"case {case.code} needs a programme and a return date before instalments"
        )
    planned = await programmes.plan(session, case)
    currency = {r.category: r.currency for r in await budget.categories(session, case.programme)}
    return [
        f"{p.category}\t#{p.instalment}\t{p.amount} {currency[p.category]}\tdue {p.due_on}"
        for p in planned
    ] or [f"case {case.code}: instalments planned already, or none are monthly"]


_LEDGER_COLUMNS = ("at", "category", "what", "amount", "currency", "reason", "reference")
_TOTAL_COLUMNS = ("maximum", "approved", "paid", "deducted", "pending", "left")


def _when(at: datetime | date) -> str:
    return at.isoformat(timespec="seconds") if isinstance(at, datetime) else at.isoformat()


async def _ledger_rows(
    session: AsyncSession, case_code: str
) -> tuple[list[list[str]], list[list[str]]]:
    """Every ledger line, and per category the figures that add up: maximum - deducted -
    approved - paid = left (pending receipts are shown, not yet taken)."""
    case = await cases.get_case(session, case_code)
    lines = [
        [_when(e.at), e.category, e.what, str(e.amount), e.currency, e.reason, e.reference]
        for e in await ledger.entries(session, case)
    ]
    totals = [
        [b.category, b.currency, *(str(getattr(b, name)) for name in _TOTAL_COLUMNS)]
        for b in (await ledger.statement(session, case)).balances
    ]
    return lines, totals


async def _ledger(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    lines, totals = await _ledger_rows(session, a.case)
    if a.csv:
        return [_ledger_csv(lines, totals)]
    return [
        "\t".join(_LEDGER_COLUMNS),
        *("\t".join(row) for row in lines),
        "",
        "\t".join(("category", "currency", *_TOTAL_COLUMNS)),
        *("\t".join(row) for row in totals),
    ]


def _ledger_csv(lines: list[list[str]], totals: list[list[str]]) -> str:
    """One table for a spreadsheet: `record` says whether a row is a ledger line or a
    category's total; each fills its own columns."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["record", *_LEDGER_COLUMNS, *_TOTAL_COLUMNS])
    blank_totals = [""] * len(_TOTAL_COLUMNS)
    for row in lines:
        writer.writerow(["line", *row, *blank_totals])
    for category, currency, *figures in totals:
        writer.writerow(["total", "", category, "", "", currency, "", "", *figures])
    return out.getvalue().rstrip("\n")


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metric", "value"])
    writer.writerows(rows)
    _write(path, out.getvalue().encode())


def _write(path: Path, content: bytes) -> None:
    try:
        path.write_bytes(content)
    except OSError as error:
        raise RuleViolation(f"cannot write {path}: {error.strerror or error}") from None


async def _stats(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    """The table (counts of 1 to 4 and figures from fewer than 5 values shown as "<5"), and
    on request the same rows as CSV and the chart as a PNG."""
    found = await statistics.figures(session, office=a.office, start=a.start, end=a.end)
    rows = statistics.rows(found)
    width = max(len(key) for key, _ in rows)
    lines = [f"statistics for {statistics.period_text(found)}", ""]
    lines += [f"{key:<{width}}  {value}" for key, value in rows]
    if a.csv is not None:
        _write_csv(a.csv, rows)
        lines.append(f"CSV written to {a.csv}")
    if a.chart is not None:
        _write(a.chart, statistics_chart.render(found))
        lines.append(f"chart written to {a.chart}")
    return lines


async def _case_list(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    rows = await cases.list_cases(session, a.office)
    return [
        f"{c.code}\t{c.office}\t{c.language}\t{c.status}\t{c.return_date or '-'}\t"
        f"counsellors={c.counsellors}\treturnee={'joined' if c.returnee_joined else 'invited?'}\t"
        f"consent={'yes' if c.consent else 'no'}"
        for c in rows
    ] or ["no cases"]


async def _erase(session: AsyncSession, a: argparse.Namespace, settings: Settings) -> list[str]:
    """Erase a case and its returnee for good (bot/services/erasure.py). Unless --yes, the
    case's code must be typed again. Nothing printed names the case or the person."""
    case = await cases.get_case(session, a.case)
    if not a.yes:
        print(
            "This erases the case, its returnee and everything about them, for good. "
            "Type the case's code again to go on: ",
            end="",
            file=sys.stderr,
            flush=True,
        )
        typed = (await asyncio.to_thread(sys.stdin.readline)).strip().upper()
        if typed != case.code:
            raise RuleViolation("the code typed again does not match; nothing was erased")
    done = await erasure.erase(session, case, actor=None, now=utcnow())
    if done.returnee_chat is not None and settings.redis_url:
        # The bot clears it again when the erasure reaches Telegram: a crash here loses nothing.
        await erase_redis_chat_at(settings.redis_url, done.returnee_chat)
    told = "1 counsellor" if done.counsellors == 1 else f"{done.counsellors} counsellors"
    return [
        f"case erased; what the statistics count is kept (erased case {done.tombstone_id})",
        f"queued for Telegram: {'delete its topic, ' if done.topic else ''}"
        f"delete {done.messages} messages in the returnee's chat, tell {told}",
    ]


async def _bot_username(settings: Settings) -> str:
    if settings.bot_username:
        return settings.bot_username.lstrip("@")
    # The Telegram framework is imported only here: every other command answers without it.
    from aiogram.exceptions import TelegramAPIError, TelegramNetworkError

    from bot.app import create_bot

    bot = create_bot(settings)
    try:
        me = await bot.get_me()
    except (TelegramAPIError, TelegramNetworkError) as error:
        raise RuleViolation(
            f"Telegram did not answer getMe ({type(error).__name__}); "
            "set BOT_USERNAME or check BOT_TOKEN"
        ) from None
    finally:
        await bot.session.close()
    if not me.username:
        raise RuleViolation("the bot has no username; set BOT_USERNAME")
    return me.username


def _ttl(args: argparse.Namespace, settings: Settings) -> int:
    return settings.invite_ttl_days if args.days is None else args.days


async def _link(issued: invites.IssuedInvite, settings: Settings) -> list[str]:
    expires = issued.invite.expires_at.date().isoformat()
    return [
        invites.deep_link(await _bot_username(settings), issued.token),
        f"valid until {expires}",
    ]


async def _invite_returnee(session: AsyncSession, a: argparse.Namespace, s: Settings) -> list[str]:
    issued = await invites.invite_returnee(session, case_code=a.case, ttl_days=_ttl(a, s))
    return await _link(issued, s)


async def _invite_staff(session: AsyncSession, a: argparse.Namespace, s: Settings) -> list[str]:
    issued = await invites.invite_staff(
        session, office_code=a.office, name=a.name, ttl_days=_ttl(a, s)
    )
    return await _link(issued, s)


async def _invite_counsellor(
    session: AsyncSession, a: argparse.Namespace, s: Settings
) -> list[str]:
    issued = await invites.invite_counsellor(
        session,
        name=a.name,
        organisation=a.organisation,
        language=a.language,
        case_code=a.case,
        ttl_days=_ttl(a, s),
    )
    return await _link(issued, s)


async def _invite_revoke(session: AsyncSession, a: argparse.Namespace, _s: Settings) -> list[str]:
    if not (a.all or a.case or a.office):
        raise RuleViolation("say which links: --case CODE, --office CODE or --all")
    revoked = await invites.revoke_unused(session, utcnow(), case_code=a.case, office_code=a.office)
    return [f"{revoked} unused invite links revoked; issue new ones to those who still need them"]


async def _pause_outbound(session: AsyncSession, _a: argparse.Namespace, _s: Settings) -> list[str]:
    turned = await outbound.pause(session, utcnow())
    said = "paused" if turned.changed else "was paused already"
    return [
        f"outbound to private chats {said}: {turned.waiting} messages wait; "
        "staff-group topics still work; resume-outbound sends what waits, in order"
    ]


async def _resume_outbound(
    session: AsyncSession, _a: argparse.Namespace, _s: Settings
) -> list[str]:
    turned = await outbound.resume(session, utcnow())
    said = "resumed" if turned.changed else "was not paused"
    return [f"outbound to private chats {said}: {turned.waiting} waiting messages go now"]


async def _export(session: AsyncSession, a: argparse.Namespace, _: Settings) -> list[str]:
    exported = await export.export_case(session, a.case, utcnow())
    text = exported.to_json()
    if a.out is None:
        return [text]
    _write_private(a.out, text.encode())
    return [f"case {exported.case.code} exported to {a.out}"]


async def _rotate_key(session: AsyncSession, _a: argparse.Namespace, s: Settings) -> list[str]:
    """Commits batch by batch (the only command that does): the bot goes on meanwhile. With
    Redis, the bot's dialog state there is re-sealed too."""
    done = await key_rotation.rotate(session)
    keyring = s.keyring()
    if s.redis_url and s.bot_token is not None and keyring is not None:
        bot_id = int(s.token.split(":", 1)[0])
        resealed, plain, changed = await reseal_redis(s.redis_url, bot_id, keyring)
        if resealed:
            done.resealed["redis dialog state"] = resealed
        if plain:
            done.sealed_plain["redis dialog state"] = plain
        done.changed_meanwhile += changed
    lines = [f"{name}: {count} re-encrypted" for name, count in sorted(done.resealed.items())]
    lines += [
        f"{name}: {count} encrypted (were plain)"
        for name, count in sorted(done.sealed_plain.items())
    ]
    if done.changed_meanwhile:
        lines.append(
            f"{done.changed_meanwhile} rows were written by the bot meanwhile: run rotate-key "
            "again once every bot process has the new key first in ENCRYPTION_KEYS"
        )
    else:
        lines.append(f"every encrypted value is under key {done.key_id}; older keys may go")
    return lines


def _write_private(path: Path, content: bytes) -> None:
    """A file only its owner can read: it holds what a person said."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(content)
        path.chmod(0o600)  # an existing file keeps its mode on open
    except OSError as error:
        raise RuleViolation(f"cannot write {path}: {error.strerror or error}") from None


def add_admin_commands(admin: argparse.ArgumentParser) -> None:
    groups = admin.add_subparsers(dest="group", required=True, parser_class=type(admin))

    office = groups.add_parser("office", help="country offices").add_subparsers(
        dest="action", required=True, parser_class=type(admin)
    )
    p = office.add_parser("add", help="add a country office")
    p.add_argument("--code", required=True, help="short code used in case codes, e.g. RO")
    p.add_argument("--name", required=True, help='e.g. "IOM Bucharest"')
    p.add_argument("--country", required=True, help="ISO 3166 code, e.g. RO")
    p.add_argument("--timezone", required=True, help="e.g. Europe/Bucharest")
    p.add_argument("--languages", required=True, type=_languages, help="e.g. ro,en")
    p.add_argument("--group-chat-id", type=int, help="the staff supergroup, e.g. -100123")
    p.set_defaults(handler=_office_add)
    office.add_parser("list", help="list offices").set_defaults(handler=_office_list)
    p = office.add_parser("set", help="change an office: inbox group, signature, hours")
    p.add_argument("--code", required=True)
    p.add_argument("--group-chat-id", type=int, help="the staff supergroup, e.g. -100123")
    p.add_argument(
        "--sign-with-staff-name", type=_yes_no, help="yes: answers end with 'Ana, IOM Bucharest'"
    )
    p.add_argument(
        "--hours",
        action="append",
        help='opening hours in the office\'s time zone, repeatable: "mon-fri 09:00-17:00"',
    )
    p.add_argument("--holiday", type=_iso_date, action="append", help="a closed day, repeatable")
    p.add_argument(
        "--add-inbox", type=int, help="one more staff group; new cases are spread over the groups"
    )
    p.add_argument("--emergency-contact", help="told at once to a returnee who may be in danger")
    p.add_argument(
        "--knowledge-mode",
        choices=[m.value for m in KnowledgeMode],
        help="programme questions: answer the returnee, suggest to staff only, or off",
    )
    p.set_defaults(handler=_office_set)

    staff = groups.add_parser("staff", help="office staff").add_subparsers(
        dest="action", required=True, parser_class=type(admin)
    )
    p = staff.add_parser("add", help="register a staff member by Telegram user id")
    p.add_argument("--office", required=True)
    p.add_argument("--telegram-id", required=True, type=int)
    p.add_argument("--name", required=True, help="display name shown to colleagues")
    p.add_argument("--language", help="language of the bot's messages to them")
    p.set_defaults(handler=_staff_add)

    counsellor = groups.add_parser("counsellor", help="contact persons").add_subparsers(
        dest="action", required=True, parser_class=type(admin)
    )
    p = counsellor.add_parser("add", help="register a counsellor by Telegram user id")
    p.add_argument("--telegram-id", required=True, type=int)
    p.add_argument("--name", required=True)
    p.add_argument("--organisation", required=True, help="e.g. CMM, Red Cross")
    p.add_argument("--language", help="e.g. da")
    p.set_defaults(handler=_counsellor_add)

    manager = groups.add_parser("manager", help="programme managers (admin role)").add_subparsers(
        dest="action", required=True, parser_class=type(admin)
    )
    p = manager.add_parser("add", help="register a programme manager by Telegram user id")
    p.add_argument("--telegram-id", required=True, type=int)
    p.add_argument("--name", required=True)
    p.add_argument("--language", help="e.g. en; the bot tells them in it when a group fails")
    p.set_defaults(handler=_manager_add)

    reply = groups.add_parser("reply", help="an office's saved replies").add_subparsers(
        dest="action", required=True, parser_class=type(admin)
    )
    p = reply.add_parser("add", help="add or replace the text of a saved reply in one language")
    p.add_argument("--office", required=True)
    p.add_argument("--name", required=True, help="short name staff type after /s, e.g. hours")
    p.add_argument("--language", required=True)
    p.add_argument("--text", required=True)
    p.set_defaults(handler=_reply_add)
    p = reply.add_parser("list", help="the names of an office's saved replies")
    p.add_argument("--office", required=True)
    p.set_defaults(handler=_reply_list)

    case = groups.add_parser("case", help="cases").add_subparsers(
        dest="action", required=True, parser_class=type(admin)
    )
    p = case.add_parser("add", help="open a case")
    p.add_argument("--office", required=True)
    p.add_argument("--code", required=True, help="e.g. RO-0007")
    p.add_argument("--language", required=True, help="the returnee's language, e.g. ro")
    p.add_argument("--return-date", type=_iso_date, help="e.g. 2026-10-01")
    p.add_argument("--status", choices=[s.value for s in CaseStatus], default="preparing")
    p.add_argument(
        "--counsellor", type=int, action="append", help="a counsellor's Telegram id (repeatable)"
    )
    p.add_argument("--programme", help="whose budget applies, e.g. dk")
    p.set_defaults(handler=_case_add)
    p = case.add_parser("set", help="change a case: its programme, its return date")
    p.add_argument("--code", required=True)
    p.add_argument("--programme", help="whose budget applies, e.g. dk")
    p.add_argument(
        "--return-date", type=_iso_date, help="e.g. 2026-11-15; check-ins not yet asked move"
    )
    p.add_argument("--eligible", type=_iso_date, help="the day the person became eligible")
    p.set_defaults(handler=_case_set)
    p = case.add_parser("returned", help="confirm the returnee's arrival home")
    p.add_argument("--code", required=True)
    p.add_argument("--on", type=_iso_date, help="the day; default today")
    p.set_defaults(handler=_case_returned)
    p = case.add_parser("close", help="close a case: the programme is over for them")
    p.add_argument("--code", required=True)
    p.add_argument("--on", type=_iso_date, help="the day; default today")
    p.set_defaults(handler=_case_close)
    p = case.add_parser("drop", help="the returnee left the programme, for a reason")
    p.add_argument("--code", required=True)
    p.add_argument("--reason", required=True, choices=lifecycle.DROP_REASONS)
    p.add_argument("--on", type=_iso_date, help="the day; default today")
    p.set_defaults(handler=_case_drop)
    p = case.add_parser("decline", help="an eligible person chose not to join, for a reason")
    p.add_argument("--code", required=True)
    p.add_argument("--reason", required=True, choices=lifecycle.DECLINE_REASONS)
    p.add_argument("--on", type=_iso_date, help="the day; default today")
    p.set_defaults(handler=_case_decline)
    p = case.add_parser("list", help="list cases")
    p.add_argument("--office")
    p.set_defaults(handler=_case_list)

    programme = groups.add_parser("budget", help="programme budget categories").add_subparsers(
        dest="action", required=True, parser_class=type(admin)
    )
    p = programme.add_parser("set", help="add or change a budget category of a programme")
    p.add_argument("--programme", required=True, help="e.g. dk")
    p.add_argument("--category", required=True, choices=budget.CATEGORIES)
    p.add_argument("--maximum", required=True, help="the most it pays (per month with --months)")
    p.add_argument("--currency", required=True, help="e.g. USD")
    p.add_argument("--paid-as", required=True, choices=[m.value for m in PaidAs])
    p.add_argument("--months", type=int, help="a monthly allowance: for how many months")
    p.add_argument("--ceiling", help="the most staff may raise one case's total to")
    p.add_argument(
        "--reallocatable", type=_yes_no, default=False, help="yes: the returnee may move money"
    )
    p.add_argument(
        "--example", type=_yes_no, default=False, help="yes: a figure is not the documents'"
    )
    p.set_defaults(handler=_budget_set)
    p = programme.add_parser("list", help="a programme's budget categories")
    p.add_argument("--programme", required=True)
    p.set_defaults(handler=_budget_list)
    p = programme.add_parser(
        "apply-template", help="set a programme's categories from bot/programmes/<code>.toml"
    )
    p.add_argument("--programme", required=True, choices=programmes.codes())
    p.set_defaults(handler=_budget_apply)
    p = programme.add_parser("adjust", help="set one case's amount in a category, with a reason")
    p.add_argument("--case", required=True)
    p.add_argument("--category", required=True, choices=budget.CATEGORIES)
    p.add_argument("--amount", required=True, help="the case's new total in the category")
    p.add_argument("--reason", required=True, help="shown to the returnee")
    p.add_argument("--by-telegram-id", type=int, help="the staff member who decided it")
    p.set_defaults(handler=_budget_adjust)
    p = programme.add_parser("deduct", help="take a fee from a case's category, with a reason")
    p.add_argument("--case", required=True)
    p.add_argument("--category", required=True, choices=budget.CATEGORIES)
    p.add_argument("--amount", required=True)
    p.add_argument("--reason", required=True, help="shown to the returnee")
    p.add_argument("--by-telegram-id", type=int, help="the staff member who decided it")
    p.set_defaults(handler=_budget_deduct)

    payout = groups.add_parser("payout", help="payouts to returnees").add_subparsers(
        dest="action", required=True, parser_class=type(admin)
    )
    p = payout.add_parser("add", help="record money paid out from a case's budget category")
    p.add_argument("--case", required=True)
    p.add_argument("--category", required=True, choices=budget.CATEGORIES)
    p.add_argument("--amount", required=True)
    p.add_argument("--paid-on", type=_iso_date, help="default: today")
    p.set_defaults(handler=_payout_add)
    p = payout.add_parser("plan", help="plan a case's monthly instalments from its return date")
    p.add_argument("--case", required=True)
    p.set_defaults(handler=_payout_plan)

    p = groups.add_parser("ledger", help="every money line of a case, and what is left")
    p.add_argument("--case", required=True)
    p.add_argument("--csv", action="store_true", help="CSV with a header row, for a spreadsheet")
    p.set_defaults(handler=_ledger)

    p = groups.add_parser("stats", help="the programme's figures per office and period")
    p.add_argument("--office", help="an office's code; default: all offices, each one listed")
    p.add_argument("--from", dest="start", type=_iso_date, help="first day, e.g. 2026-01-01")
    p.add_argument("--to", dest="end", type=_iso_date, help="last day, e.g. 2026-06-30")
    p.add_argument("--csv", type=Path, help="also write metric,value rows to this file")
    p.add_argument("--chart", type=Path, help="also draw the chart into this PNG file")
    p.set_defaults(handler=_stats)

    p = groups.add_parser(
        "erase", help="erase a case and its returnee for good, at the returnee's request"
    )
    p.add_argument("--case", required=True)
    p.add_argument("--yes", action="store_true", help="do not ask for the code again")
    p.set_defaults(handler=_erase)

    invite = groups.add_parser("invite", help="single-use invite links").add_subparsers(
        dest="action", required=True, parser_class=type(admin)
    )
    p = invite.add_parser("returnee", help="invite the returnee of a case")
    p.add_argument("--case", required=True)
    p.set_defaults(handler=_invite_returnee)
    p = invite.add_parser("staff", help="invite a staff member of an office")
    p.add_argument("--office", required=True)
    p.add_argument("--name", required=True)
    p.set_defaults(handler=_invite_staff)
    p = invite.add_parser("counsellor", help="invite a counsellor, optionally to a case")
    p.add_argument("--name", required=True)
    p.add_argument("--organisation", required=True)
    p.add_argument("--language")
    p.add_argument("--case")
    p.set_defaults(handler=_invite_counsellor)
    for parser in (*invite.choices.values(),):
        parser.add_argument("--days", type=int, help="days until the link expires (default 14)")
    p = invite.add_parser("revoke", help="expire unused links at once (links that may have leaked)")
    p.add_argument("--case", help="the links of one case")
    p.add_argument("--office", help="the links of one office")
    p.add_argument("--all", action="store_true", help="every unused link")
    p.set_defaults(handler=_invite_revoke)

    groups.add_parser(
        "pause-outbound", help="the kill switch: send nothing to private chats until resumed"
    ).set_defaults(handler=_pause_outbound)
    groups.add_parser(
        "resume-outbound", help="send to private chats again: what waited goes, in order"
    ).set_defaults(handler=_resume_outbound)
    groups.add_parser(
        "rotate-key",
        help="re-encrypt what people wrote with the first key of ENCRYPTION_KEYS, in batches",
    ).set_defaults(handler=_rotate_key)
    p = groups.add_parser("export", help="everything held about one case's returnee, as JSON")
    p.add_argument("--case", required=True)
    p.add_argument("--out", type=Path, help="write to this file (mode 0600) instead of stdout")
    p.set_defaults(handler=_export)


async def run_admin(settings: Settings, args: argparse.Namespace) -> int:
    engine = create_engine(settings.database_url, keyring=settings.keyring())
    try:
        await upgrade_to_head(engine)
        async with create_sessionmaker(engine)() as session:
            try:
                lines = await args.handler(session, args, settings)
            except (RuleViolation, ConfigError, EncryptionError) as error:
                await session.rollback()
                print(f"error: {error}", file=sys.stderr)
                return 2
            await session.commit()
    finally:
        await engine.dispose()
    print("\n".join(lines))
    return 0
