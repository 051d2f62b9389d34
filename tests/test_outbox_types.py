"""The outbox is a typed contract (issue 9, item 1): every kind round-trips through its payload
type, and a malformed stored payload fails loudly with the item's id, never silently."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from alembic import command
from sqlalchemy import Connection, insert, select, text

from bot.services import outbox
from bot.services.cases import get_case
from bot.services.clock import utcnow
from bot.services.messages import Entity, Incoming
from bot.services.outbox import (
    PAYLOADS,
    Combinable,
    CopyPayload,
    CounsellorPayload,
    EditFollowsPayload,
    EditTextPayload,
    ErasurePayload,
    MalformedOutboxItem,
    Mention,
    Money,
    NewsButton,
    NewsPayload,
    NoticePayload,
    Payload,
    ReceiptCardPayload,
    Source,
    TextPayload,
    TopicWorkPayload,
    payload_of,
)
from storage.db import create_engine, create_sessionmaker
from storage.migrate import alembic_config
from storage.models import Destination, Direction, OutboxItem, OutboxKind, OutboxStatus
from tests.test_inbox import GROUP, relayed
from tests.test_inbox import inbox as inbox  # the fixture
from tests.world import office_with_case

BOLD = Entity.model_validate({"type": "bold", "offset": 0, "length": 4})
SAMPLES: dict[OutboxKind, Payload] = {
    OutboxKind.COPY: CopyPayload(
        from_chat_id=501,
        message_id=7,
        media_group_id="album-1",
        reply_to=3,
        combinable=Combinable(text="ok", at=1_700_000_000),
        caption="Bill\n\n— IOM RO",
        caption_entities=[BOLD],
        protect=True,
        sent=[11],
    ),
    OutboxKind.TEXT: TextPayload(
        text="Yes.\n\n— IOM RO",
        entities=[
            Entity.model_validate(
                {"type": "text_link", "offset": 0, "length": 3, "url": "https://example.org/"}
            )
        ],
        from_chat_id=-1001234,
        message_id=9,
        reply_to=4,
        protect=True,
    ),
    OutboxKind.EDIT_TEXT: EditTextPayload(
        from_chat_id=501, message_id=7, copy_chat_id=-1001234, copy_message_id=12, text="new"
    ),
    OutboxKind.NOTICE: NoticePayload(
        notice="knowledge_suggested",
        values={"question": "When is money paid?", "minutes": 3},
        mentions=[Mention(user_id=111, name="Ana")],
        entry="payout-when",
        reply_to=5,
    ),
    OutboxKind.CARD: TopicWorkPayload(kind=OutboxKind.CARD),
    OutboxKind.PIN: TopicWorkPayload(kind=OutboxKind.PIN),
    OutboxKind.CLOSE_TOPIC: TopicWorkPayload(kind=OutboxKind.CLOSE_TOPIC),
    OutboxKind.EDIT_FOLLOWS: EditFollowsPayload(
        message=Incoming(chat_id=501, message_id=7, kind="text", text="new", sent_at=1),
        header=None,
        signature="IOM RO",
        plain=True,
    ),
    OutboxKind.RECEIPT_CARD: ReceiptCardPayload(receipt_id=3),
    OutboxKind.NEWS: NewsPayload(
        news="approved",
        language="ar",
        receipt="R-RO-0007-2",
        category="housing",
        amount=Money(amount="120.50", currency="USD"),
        left=Money(amount="779.50", currency="USD"),
        reason="bank",
        buttons=[NewsButton(action="received", target=4)],
    ),
    OutboxKind.COUNSELLOR: CounsellorPayload(
        counsellor_id=4,
        event="payout_paid",
        category="housing",
        amount=Money(amount="450.00", currency="USD"),
        sent=[3001],
    ),
    OutboxKind.ERASURE: ErasurePayload(
        step="chat", recent=[1205, 1204], older=[1003], language="fa"
    ),
}


def test_every_kind_has_one_payload_type_and_a_sample_here():
    assert set(PAYLOADS) == set(OutboxKind)
    assert set(SAMPLES) == set(OutboxKind)


@pytest.mark.parametrize("kind", list(OutboxKind))
async def test_each_kind_round_trips_through_the_database(session, kind):
    await office_with_case(session)
    case = await get_case(session, "RO-0007")
    queued = await outbox.queue(
        session,
        case,
        SAMPLES[kind],
        destination=Destination.TOPIC,
        direction=Direction.OFFICE_NOTICE,
        author=None,
        source=Source(501, 7) if kind is OutboxKind.COPY else None,
    )
    await session.commit()
    item_id = queued.item.id
    session.expunge_all()
    stored = await session.get(OutboxItem, item_id)
    assert stored.kind is kind
    assert payload_of(stored) == SAMPLES[kind]


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        (OutboxKind.COPY, {"message_id": 7}),  # no chat to copy from
        (OutboxKind.TEXT, {"text": 5, "entities": "bold"}),
        (OutboxKind.NOTICE, {"notice": "danger", "surprise": "field"}),
        (OutboxKind.PIN, {"text": "a pin carries nothing"}),
        (OutboxKind.ERASURE, {"step": "topic"}),  # no thread to delete
        (OutboxKind.ERASURE, {"step": "counsellor", "thread": 4}),  # no code to tell
    ],
)
def test_a_payload_that_does_not_fit_its_kind_is_named_by_item_and_field(kind, payload):
    item = OutboxItem(id=42, kind=kind, payload=payload)
    with pytest.raises(MalformedOutboxItem) as raised:
        payload_of(item)
    assert str(raised.value).startswith(f"outbox item 42 ({kind}) is malformed:")
    assert "a pin carries nothing" not in str(raised.value)


async def test_the_sender_fails_a_malformed_item_at_once_and_says_which(inbox, caplog):
    caplog.set_level(logging.INFO)
    async with inbox.session() as session:
        case = await get_case(session, "RO-0007")
        now = utcnow()
        result = await session.execute(
            insert(OutboxItem)
            .values(
                case_id=case.id,
                destination=Destination.TOPIC,
                kind=OutboxKind.COPY,
                payload={"message_id": "They found me in Craiova"},
                direction=Direction.FROM_RETURNEE,
                status=OutboxStatus.PENDING,
                attempts=0,
                revision=0,
                not_before=now,
                created_at=now,
            )
            .returning(OutboxItem.id)
        )
        item_id = result.scalar_one()
        await session.commit()
    # A message behind it in the same lane still goes.
    maria = inbox.user(501)
    await maria.send("Hello")
    inbox.app.sender.wake()
    await relayed(inbox.api, "sendMessage", GROUP)  # the card of the new topic
    await inbox.settled()
    async with inbox.session() as session:
        item = await session.get(OutboxItem, item_id)
        assert item.status is OutboxStatus.FAILED
        assert item.attempts == 1
    assert f"outbox item {item_id} (copy) is malformed" in caplog.text
    assert "Craiova" not in caplog.text


async def test_notes_waiting_before_the_typed_outbox_are_read_after_the_upgrade(tmp_path):
    """Migration 0006: a note queued in the old flat shape is rewritten, not failed."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")

    def upgrade(connection: Connection, target: str) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, target)

    async with engine.begin() as connection:
        await connection.run_sync(upgrade, "0005")
    async with create_sessionmaker(engine)() as session:
        # The office and case as the schema of revision 0005 holds them (today's models
        # have columns that revision lacks).
        await session.execute(
            text(
                "INSERT INTO offices (id, code, name, country, timezone, languages, "
                "working_hours, holidays, sign_with_staff_name, knowledge_mode) VALUES "
                "(1, 'RO', 'IOM RO', 'RO', 'Europe/Bucharest', '[\"ro\"]', '{}', '[]', 0, "
                "'answer')"
            )
        )
        await session.execute(
            text(
                "INSERT INTO cases (id, code, office_id, language, status, unreachable, "
                "topic_closed) VALUES (1, 'RO-0007', 1, 'ro', 'preparing', 0, 0)"
            )
        )
        case = SimpleNamespace(id=1)
        now = utcnow()
        for kind, payload in (
            (
                OutboxKind.TEXT,  # a marked correction, with the ids of the copy it corrects
                {
                    "text": "✏️ new",
                    "from_chat_id": 501,
                    "message_id": 7,
                    "copy_chat_id": -1001234,
                    "copy_message_id": 12,
                    "reply_to": 12,
                },
            ),
            (
                OutboxKind.NOTICE,
                {"notice": "location_shared", "from_chat_id": 501, "message_id": 7},
            ),
            (
                OutboxKind.NOTICE,
                {
                    "notice": "knowledge_suggested",
                    "entry": "payout-when",
                    "question": "When?",
                    "mentions": [{"user_id": 111, "name": "Ana"}],
                },
            ),
        ):
            session.add(
                OutboxItem(
                    case_id=case.id,
                    destination=Destination.TOPIC,
                    kind=kind,
                    payload=payload,
                    direction=Direction.OFFICE_NOTICE,
                    status=OutboxStatus.PENDING,
                    attempts=0,
                    revision=0,
                    not_before=now,
                    created_at=now,
                )
            )
        await session.commit()
    async with engine.begin() as connection:
        await connection.run_sync(upgrade, "head")
    async with create_sessionmaker(engine)() as session:
        items = list(await session.scalars(select(OutboxItem).order_by(OutboxItem.id)))
        assert [payload_of(item) for item in items] == [
            TextPayload(text="✏️ new", from_chat_id=501, message_id=7, reply_to=12),
            NoticePayload(notice="location_shared"),
            NoticePayload(
                notice="knowledge_suggested",
                entry="payout-when",
                values={"question": "When?"},
                mentions=[Mention(user_id=111, name="Ana")],
            ),
        ]
    await engine.dispose()
