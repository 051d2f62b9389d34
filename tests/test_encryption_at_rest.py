"""Encryption at rest (issue 14): with ENCRYPTION_KEYS set, what people wrote (receipt texts,
staff questions, ledger reasons, check-in notes, status updates and plans, waiting outbox
payloads, dialog state) is stored sealed: the raw columns, read with plain SQL, hold none of
it, while the bot shows the right words everywhere (topic, counsellor, returnee, export).
`admin rotate-key` moves everything to a new key, after which the old one can go; a plain row
written before keys were set still reads; a missing or wrong key fails clearly, naming the
column and the key id, never a value. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, text

from bot.app import create_app
from bot.cli import main
from bot.services import cases, checkins, ledger, offices, outbound, retention
from bot.services.cases import get_case
from bot.services.clock import utcnow
from storage.db import create_engine, create_sessionmaker
from storage.encrypted import (
    MARK,
    EncryptionError,
    Keyring,
    UnreadableValue,
    key_of,
    new_key,
    open_text,
    seal_text,
)
from storage.key_check import encrypted_columns
from storage.migrate import upgrade_to_head
from storage.models import (
    AuditEvent,
    Base,
    Case,
    CaseUpdate,
    CheckIn,
    CheckInStatus,
    UpdateKind,
)
from tests.conftest import REDIS_URL, RunningBot, make_settings
from tests.test_counsellor_news import counsellor_gets, staff_message, write_update
from tests.test_inbox import GROUP, relayed
from tests.test_receipts import (
    PHOTO,
    _any_keyboard,
    _topic_of_case,
    ana_of,
    money_office,
    news_to,
    press_in_group,
    tr,
)
from tests.test_retention import CASES, NOW, PURGED, seed, snapshot, words

KEY_A, KEY_B, KEY_C = new_key(), new_key(), new_key()
WORDS = {
    "receipt": "SEALED-RECEIPT rent for the flat on Strada Florilor",
    "question": "SEALED-QUESTION which shop sold it?",
    "plan": "SEALED-PLAN tailoring course, then a shop of her own",
    "note": "SEALED-NOTE she moved into a rented flat",
    "fee": "SEALED-FEE partner administration fee",
    "checkin": "SEALED-CHECKIN my neighbours help me",
}


async def raw_rows(database_url: str) -> dict[str, list[str]]:
    """Every row of every table, as plain SQL returns it (no keys, no column types)."""
    engine = create_engine(database_url)
    found: dict[str, list[str]] = {}
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            result = await connection.execute(text(f'SELECT * FROM "{table.name}"'))
            found[table.name] = [repr(tuple(row)) for row in result]
    await engine.dispose()
    return found


async def raw_sealed(database_url: str) -> dict[str, list[str]]:
    """The non-empty stored values of the encrypted columns, as text."""
    engine = create_engine(database_url)
    found: dict[str, list[str]] = {}
    async with engine.connect() as connection:
        for table, column in encrypted_columns():
            result = await connection.execute(
                text(f'SELECT CAST("{column.name}" AS TEXT) FROM "{table.name}"')
            )
            values = [v for (v,) in result if v not in (None, "", "{}")]
            found[f"{table.name}.{column.name}"] = values
    await engine.dispose()
    return found


def key_ids(values: list[str]) -> set[str | None]:
    return {key_of(json.loads(v) if v.startswith('"') else v) for v in values}


def cli(monkeypatch, database_url: str, keys: str | None, *argv: str) -> tuple[int, str, str]:
    """`python -m bot ...` with these keys, in a thread of its own (it runs its own loop)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    if keys is None:
        monkeypatch.delenv("ENCRYPTION_KEYS", raising=False)
    else:
        monkeypatch.setenv("ENCRYPTION_KEYS", keys)
    return _run(list(argv))


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


async def write_everything(bot: RunningBot) -> None:
    """Through the bot: a receipt (its description typed in the wizard), a staff question
    queued while outbound is paused, a status update and a plan confirmed for the counsellor,
    a deduction with its reason and a check-in with a free note."""
    api, maria, ana = bot.api, bot.user(501), ana_of(bot)
    await money_office(bot)
    thread = await _topic_of_case(bot)

    # The receipt wizard: the description waits in the dialog's state, sealed.
    await maria.send("/receipt")
    await maria.press("Housing (left: $900.00)")
    await maria.send(content=PHOTO)
    await maria.press("Next")
    await maria.send("250")
    await maria.press("USD")
    await maria.send(WORDS["receipt"])
    sealed = await raw_sealed(bot.app.settings.database_url)
    assert sealed["fsm_records.data"], "the dialog state holds the description"
    assert key_ids(sealed["fsm_records.data"]) == {Keyring.from_setting(KEY_A).current_id}
    mark = len(api.calls)
    await maria.press("Send")
    card = await relayed(api, "sendMessage", GROUP, mark, reply_markup=_any_keyboard())
    assert WORDS["receipt"] in card["text"]  # the topic's receipt card reads it back

    # A question to Maria waits in the outbox (outbound paused): its payload is sealed.
    async with bot.session() as session:
        await outbound.pause(session, utcnow())
        await session.commit()
    await ana.send(f"/ask 1 {WORDS['question']}", group=GROUP, topic=thread)
    await bot.settled()
    assert any(
        v.startswith(f'"{MARK}')
        for v in (await raw_sealed(bot.app.settings.database_url))["outbox.payload"]
    )
    mark = len(api.calls)
    async with bot.session() as session:
        await outbound.resume(session, utcnow())
        await session.commit()
    await news_to(bot, mark, WORDS["question"])  # Maria reads it, opened when sent

    # A status update and a plan, confirmed: the counsellor reads them from their rows.
    prompt = await write_update(bot, thread, "housing_found")
    mark = len(api.calls)
    await ana.send(WORDS["note"], group=GROUP, topic=thread, reply_to=prompt.result["message_id"])
    preview = await staff_message(bot, mark)
    mark = len(api.calls)
    await press_in_group(bot, ana, preview.result["message_id"], tr(bot, "Send", "en"))
    assert WORDS["note"] in (await counsellor_gets(bot, mark))["text"]
    mark = len(api.calls)
    await ana.send(f"/plan {WORDS['plan']}", group=GROUP, topic=thread)
    preview = await staff_message(bot, mark)
    mark = len(api.calls)
    await press_in_group(bot, ana, preview.result["message_id"], tr(bot, "Send", "en"))
    assert WORDS["plan"] in (await counsellor_gets(bot, mark))["text"]
    card = await api.wait_for(
        lambda c: c.method == "editMessageText" and WORDS["plan"] in c["text"], after=mark
    )
    assert card.get("chat_id") == GROUP  # the case card in the topic shows the plan

    # A deduction's reason, and a check-in's free note (summarised in the topic).
    async with bot.session() as session:
        case = await get_case(session, "RO-0007")
        await ledger.deduct(session, case, "business", "120", WORDS["fee"], None)
        await checkins.plan(session, case)
        row = await session.scalar(select(CheckIn).where(CheckIn.case_id == case.id))
        row.status = CheckInStatus.ASKED
        await session.flush()
        await checkins.finish(session, row.id, case.returnee, WORDS["checkin"], utcnow())
        await session.commit()
    mark = len(api.calls)
    await maria.send("/menu")
    await maria.press("My money")
    assert WORDS["fee"] in maria.last_text()
    await bot.api.wait_for(
        lambda c: c.method == "sendMessage" and WORDS["checkin"] in c.get("text", ""), after=0
    )
    await bot.settled()


def assert_nothing_in_the_clear(rows: dict[str, list[str]]) -> None:
    for table, values in rows.items():
        for value in values:
            assert "SEALED-" not in value, f"{table} holds words in the clear"


async def test_what_people_write_is_sealed_read_back_and_survives_rotation(
    fake_api, database_url, monkeypatch
):
    settings = make_settings(
        fake_api, database_url, encryption_keys=KEY_A, outbound_switch_seconds=0
    )
    bot = RunningBot(create_app(settings), fake_api)
    await bot.start()
    try:
        await write_everything(bot)
    finally:
        await bot.stop()

    # No table holds any of the words in the clear; each encrypted column holds sealed values.
    assert_nothing_in_the_clear(await raw_rows(database_url))
    sealed = await raw_sealed(database_url)
    a, b = Keyring.from_setting(KEY_A).current_id, Keyring.from_setting(KEY_B).current_id
    for column in (
        "receipts.description",
        "receipts.question",
        "ledger_lines.reason",
        "check_ins.note",
        "case_updates.text",
    ):
        assert sealed[column], column
        assert key_ids(sealed[column]) == {a}, column

    # The export reads every word back.
    code, out, err = await asyncio.to_thread(
        cli, monkeypatch, database_url, KEY_A, "admin", "export", "--case", "RO-0007"
    )
    assert (code, err) == (0, "")
    for written in WORDS.values():
        assert written in out

    # Rotation: the new key first, the old one still there to open; then again (nothing to do).
    code, out, err = await asyncio.to_thread(
        cli, monkeypatch, database_url, f"{KEY_B},{KEY_A}", "admin", "rotate-key"
    )
    assert (code, err) == (0, "")
    assert "receipts.description: 1 re-encrypted" in out
    assert f"every encrypted value is under key {b}" in out
    assert "SEALED-" not in out
    code, again, _ = await asyncio.to_thread(
        cli, monkeypatch, database_url, f"{KEY_B},{KEY_A}", "admin", "rotate-key"
    )
    assert code == 0
    assert again.strip() == f"every encrypted value is under key {b}; older keys may go"
    sealed = await raw_sealed(database_url)
    assert all(key_ids(values) <= {b} for values in sealed.values())
    assert_nothing_in_the_clear(await raw_rows(database_url))

    # The old key dropped: the export and the bot still read everything.
    code, out, err = await asyncio.to_thread(
        cli, monkeypatch, database_url, KEY_B, "admin", "export", "--case", "RO-0007"
    )
    assert (code, err) == (0, "")
    for written in WORDS.values():
        assert written in out
    bot = RunningBot(
        create_app(make_settings(fake_api, database_url, encryption_keys=KEY_B)), fake_api
    )
    await bot.start()
    try:
        mark = len(fake_api.calls)
        thread = await _thread(bot)
        await ana_of(bot).send("/plan", group=GROUP, topic=thread)
        shown = await relayed(fake_api, "sendMessage", GROUP, mark)
        assert shown["text"].endswith(WORDS["plan"])
    finally:
        await bot.stop()
    async with _session(database_url, KEY_B) as session:
        actions = list(await session.scalars(select(AuditEvent.action)))
    assert actions.count("encryption.rotated") == 2

    # Only the old key, or none: a clear error naming the key, never a word.
    for keys, said in (
        (KEY_A, f"key {b}, which ENCRYPTION_KEYS does not hold"),
        (None, "ENCRYPTION_KEYS is not set"),
    ):
        code, out, err = await asyncio.to_thread(
            cli, monkeypatch, database_url, keys, "admin", "export", "--case", "RO-0007"
        )
        assert code == 2
        assert out == ""
        assert said in err
        assert "SEALED-" not in err
    # And the bot refuses to start with them, naming the key and the columns.
    for keys, said in (
        (KEY_A, f"ENCRYPTION_KEYS lacks key {b}, which case_updates.text, check_ins.note"),
        (None, "ENCRYPTION_KEYS is not set, but case_updates.text"),
    ):
        app = create_app(make_settings(fake_api, database_url, encryption_keys=keys))
        try:
            with pytest.raises(EncryptionError) as refused:
                await app.prepare_database()
        finally:
            await app.close()
        assert said in str(refused.value)
        assert "SEALED-" not in str(refused.value)


async def _thread(bot: RunningBot) -> int:
    async with bot.session() as session:
        topic = await session.scalar(select(Case.topic_id))
    assert topic is not None
    return topic


def _session(database_url: str, keys: str | None):
    @contextlib.asynccontextmanager
    async def opened():
        engine = create_engine(database_url, keyring=Keyring.from_setting(keys) if keys else None)
        try:
            async with create_sessionmaker(engine)() as session:
                yield session
        finally:
            await engine.dispose()

    return opened()


async def test_a_plain_row_from_before_keys_reads_and_rotation_seals_it(
    fake_api, database_url, monkeypatch
):
    # Written with no keys, as every database before this change.
    plain = make_settings(fake_api, database_url)
    bot = RunningBot(create_app(plain), fake_api)
    await bot.start()
    try:
        await money_office(bot)
        thread = await _topic_of_case(bot)
        async with bot.session() as session:
            case = await get_case(session, "RO-0007")
            session.add(
                CaseUpdate(
                    case_id=case.id, kind=UpdateKind.PLAN, text="SEALED-LEGACY plan",
                    created_at=datetime(2026, 11, 2, tzinfo=UTC),
                    confirmed_at=datetime(2026, 11, 2, tzinfo=UTC), cancelled=False,
                )
            )  # fmt: skip
            await session.commit()
    finally:
        await bot.stop()
    assert (await raw_sealed(database_url))["case_updates.text"] == ["SEALED-LEGACY plan"]

    # Keys set: the plain row reads as it is.
    bot = RunningBot(
        create_app(make_settings(fake_api, database_url, encryption_keys=KEY_A)), fake_api
    )
    await bot.start()
    try:
        mark = len(fake_api.calls)
        await ana_of(bot).send("/plan", group=GROUP, topic=thread)
        shown = await relayed(fake_api, "sendMessage", GROUP, mark)
        assert shown["text"].endswith("SEALED-LEGACY plan")
    finally:
        await bot.stop()

    # rotate-key seals it too; it still reads.
    code, out, _ = await asyncio.to_thread(
        cli, monkeypatch, database_url, KEY_A, "admin", "rotate-key"
    )
    assert code == 0
    assert "case_updates.text: 1 encrypted (were plain)" in out
    assert_nothing_in_the_clear(await raw_rows(database_url))
    async with _session(database_url, KEY_A) as session:
        assert await session.scalar(select(CaseUpdate.text)) == "SEALED-LEGACY plan"


async def test_a_text_that_looks_sealed_is_kept_as_written_without_keys(database_url):
    engine = create_engine(database_url)
    await upgrade_to_head(engine)
    looks_sealed = f"{MARK}00000000$not-really"
    async with create_sessionmaker(engine)() as session:
        await offices.add_office(
            session, code="RO", name="IOM RO", country="RO", timezone="Europe/Bucharest",
            languages=["ro"], group_chat_id=-1001234,
        )  # fmt: skip
        case = await cases.add_case(session, office_code="RO", code="RO-0001", language="ro")
        session.add(
            CaseUpdate(
                case_id=case.id, kind=UpdateKind.PLAN, text=looks_sealed,
                created_at=utcnow(), cancelled=False,
            )
        )  # fmt: skip
        await session.commit()
    async with create_sessionmaker(engine)() as session:
        assert await session.scalar(select(CaseUpdate.text)) == looks_sealed
    await engine.dispose()


def test_keys_are_checked_and_a_wrong_key_fails_authentication():
    ring = Keyring.from_setting(KEY_A)
    assert ring is not None
    sealed = seal_text(ring, "SEALED-WORDS")
    assert sealed.startswith(f"{MARK}{ring.current_id}$")
    assert "SEALED" not in sealed
    assert seal_text(ring, "SEALED-WORDS") != sealed  # a fresh nonce each time
    assert open_text(ring, sealed, "t.c") == "SEALED-WORDS"
    assert open_text(Keyring.from_setting(f"{KEY_B},{KEY_A}"), sealed, "t.c") == "SEALED-WORDS"
    # A key with the same id but other bytes cannot be forged here; altering a byte is caught.
    body = sealed[-10:]
    altered = sealed[:-10] + ("A" if body[0] != "A" else "B") + body[1:]
    with pytest.raises(UnreadableValue, match="fails authentication") as caught:
        open_text(ring, altered, "receipts.description")
    assert "SEALED" not in str(caught.value)
    assert "receipts.description" in str(caught.value)
    with pytest.raises(UnreadableValue, match="does not hold"):
        open_text(Keyring.from_setting(KEY_C), sealed, "t.c")
    for bad in ("short", f"{KEY_A},{KEY_A}", "!" * 44):
        with pytest.raises(EncryptionError):
            Keyring.from_setting(bad)
    assert Keyring.from_setting(" , ") is None


async def test_the_retention_purge_empties_sealed_rows(database_url):
    """The purge's "holds something" tests ("" and NULL stay plain) find sealed rows, and it
    changes exactly what it changes on plain ones (tests/test_retention.py)."""
    engine = create_engine(database_url, keyring=Keyring.from_setting(KEY_A))
    await upgrade_to_head(engine)
    maker = create_sessionmaker(engine)
    try:
        async with maker() as session:
            await seed(session)
        for column, values in (await raw_sealed(database_url)).items():
            assert all(v.startswith((MARK, f'"{MARK}')) for v in values), column
            assert not any("WORDS-" in v or "FAILED-" in v for v in values), column
        async with maker() as session:
            purged = await retention.purge(session, NOW)
            await session.commit()
        assert purged.counts() == {
            "cases": 2,
            "endings_dated": 0,
            "relays": 2,
            "receipts": 4,
            "receipt_files": 2,
            "check_in_notes": 2,
            "update_texts": 2,
            "ledger_reasons": 2,
            "outbox_items": 4,
            "failed_payloads": 1,
            "dialogs": 1,
        }
        async with maker() as session:
            everything = str(await snapshot(session))
            for code in CASES:
                for what in ("ledger", "update", "receipt", "question", "rejected", "note"):
                    assert (words(code, what) in everything) is (code not in PURGED), (code, what)
            again = await retention.purge(session, NOW)
        assert not again.changed
    finally:
        await engine.dispose()


async def test_dialog_state_in_redis_is_sealed_and_rotated(
    fake_api, sqlite_url, redis_unavailable, monkeypatch
):
    if redis_unavailable:
        pytest.skip(f"Redis at {REDIS_URL} does not answer ({redis_unavailable})")
    # A bot id of its own: its keys in the shared test Redis are this test's alone.
    token = "987650001:TEST-token-for-the-encrypted-redis-test"
    bot_id = token.split(":")[0]
    redis = Redis.from_url(REDIS_URL, decode_responses=True)

    async def dialog_values() -> list[str]:
        return [
            await redis.get(name)
            async for name in redis.scan_iter(match=f"fsm:{bot_id}:*")
            if name.endswith(":data")
        ]

    def settings(keys: str):
        return make_settings(
            fake_api, sqlite_url, bot_token=token, redis_url=REDIS_URL, encryption_keys=keys
        )

    a, b = Keyring.from_setting(KEY_A).current_id, Keyring.from_setting(KEY_B).current_id
    try:
        bot = RunningBot(create_app(settings(KEY_A)), fake_api)
        await bot.start()
        try:
            await money_office(bot)
            maria = bot.user(501)
            await maria.send("/receipt")
            await maria.press("Housing (left: $900.00)")
            await maria.send(content=PHOTO)
            await maria.press("Next")
            await maria.send("250")
            await maria.press("USD")
            await maria.send(WORDS["receipt"])
        finally:
            await bot.stop()
        values = await dialog_values()
        assert values
        assert not any("SEALED-" in v for v in values)
        assert key_ids(values) == {a}

        monkeypatch.setenv("BOT_TOKEN", token)
        monkeypatch.setenv("REDIS_URL", REDIS_URL)
        monkeypatch.setenv("DATABASE_URL", sqlite_url)
        monkeypatch.setenv("ENCRYPTION_KEYS", f"{KEY_B},{KEY_A}")
        code, out, err = await asyncio.to_thread(_run, ["admin", "rotate-key"])
        assert (code, err) == (0, "")
        assert f"redis dialog state: {len(values)} re-encrypted" in out
        assert key_ids(await dialog_values()) == {b}

        # With the new key alone, the wizard goes on where Maria left it.
        bot = RunningBot(create_app(settings(KEY_B)), fake_api)
        await bot.start()
        try:
            mark = len(fake_api.calls)
            await bot.user(501).press("Send")
            card = await relayed(fake_api, "sendMessage", GROUP, mark, reply_markup=_any_keyboard())
            assert WORDS["receipt"] in card["text"]
        finally:
            await bot.stop()
    finally:
        names = [name async for name in redis.scan_iter(match=f"fsm:{bot_id}:*")]
        if names:
            await redis.delete(*names)
        await redis.aclose()
