"""The outbox as a typed contract: what each kind of item carries, and how items are queued.

Services queue items here; the sender (bot/delivery) reads them back with `payload_of` and hands
each renderer its own type. The kinds are `OutboxKind` (storage/models.py); `PAYLOADS` pairs each
with its payload type, and a payload is validated when it is written and when it is read, so a
malformed stored payload fails loudly, naming the item, instead of being sent half right.

Text waits here only where the bot adds words of its own (a signature, the counsellor's name) or
while short texts may be combined; the sender empties a payload once it is delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.clock import utcnow
from bot.services.messages import Entity, Incoming
from storage.models import (
    Case,
    Destination,
    Direction,
    Office,
    OfficeInbox,
    OutboxItem,
    OutboxKind,
    OutboxStatus,
    Person,
)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Combinable(_Payload):
    """A returnee's short text, kept while it waits, so a burst can go as one topic message."""

    text: str
    at: int | None = None  # Unix time the returnee sent it


class CopyPayload(_Payload):
    """A message copied by id; a caption or header only where the bot adds words."""

    kind: Literal[OutboxKind.COPY] = OutboxKind.COPY
    from_chat_id: int
    message_id: int
    media_group_id: str | None = None
    reply_to: int | None = None
    combinable: Combinable | None = None
    caption: str | None = None
    caption_entities: list[Entity] = Field(default_factory=list)
    header: str | None = None  # a text sent before content that cannot carry a caption
    protect: bool = False
    sent: list[int] = Field(default_factory=list)  # messages Telegram has already


class TextPayload(_Payload):
    """A text the bot writes itself (signed, headed, corrected), sent in parts if long."""

    kind: Literal[OutboxKind.TEXT] = OutboxKind.TEXT
    text: str
    entities: list[Entity] = Field(default_factory=list)
    from_chat_id: int | None = None
    message_id: int | None = None
    reply_to: int | None = None
    protect: bool = False
    sent: list[int] = Field(default_factory=list)


class EditTextPayload(_Payload):
    """A copy already made, edited in place to show the new version."""

    kind: Literal[OutboxKind.EDIT_TEXT] = OutboxKind.EDIT_TEXT
    from_chat_id: int
    message_id: int
    copy_chat_id: int
    copy_message_id: int
    text: str
    entities: list[Entity] = Field(default_factory=list)


class Mention(_Payload):
    """A staff member named (and notified) at the end of a note."""

    user_id: int
    name: str


class NoticeButton(_Payload):
    """A button under a note in the topic: staff decide a returnee's request with one press."""

    action: Literal["move_yes", "move_no", "take_alert", "erase_yes", "erase_no"]
    # the requested ledger line, the check-in alert, or the erasure request (its audit line)
    target: int


class NoticePayload(_Payload):
    """A note from the bot, rendered in the reader's language when it is sent."""

    kind: Literal[OutboxKind.NOTICE] = OutboxKind.NOTICE
    notice: str  # a key of bot/delivery/texts.py NOTICES
    values: dict[str, str | int | float | None] = Field(default_factory=dict)
    mentions: list[Mention] = Field(default_factory=list)
    entry: str | None = None  # a programme answer staff can send with one tap
    reply_to: int | None = None
    buttons: list[NoticeButton] = Field(default_factory=list)


class TopicWorkPayload(_Payload):
    """Work on the case's topic itself: edit the card, pin it, close the topic."""

    kind: Literal[OutboxKind.CARD, OutboxKind.PIN, OutboxKind.CLOSE_TOPIC]


class EditFollowsPayload(_Payload):
    """An edit that waits behind its original, which was not yet delivered when it came."""

    kind: Literal[OutboxKind.EDIT_FOLLOWS] = OutboxKind.EDIT_FOLLOWS
    message: Incoming  # the edited message as routing saw it
    header: str | None = None
    signature: str | None = None
    plain: bool = False  # the original is a copy by id, which shows the message as it is then


class ReceiptCardPayload(_Payload):
    """A receipt's card in the case's topic, drawn as the receipt is when it is sent: the first
    time with the receipt's files (copied), then edited in place."""

    kind: Literal[OutboxKind.RECEIPT_CARD] = OutboxKind.RECEIPT_CARD
    receipt_id: int
    files_sent: list[int] = Field(default_factory=list)  # copies Telegram has already
    # The buttons of the step staff are at: the card's own, the ways of paying, the full
    # amount or less (for `method`), or the reasons to reject.
    step: Literal["main", "methods", "amount", "reasons"] = "main"
    method: str | None = None


class Money(_Payload):
    """An amount, formatted in the reader's locale when the message is sent."""

    amount: str  # a Decimal, as text: never a float
    currency: str


class NewsButton(_Payload):
    """A button under a news message: what pressing it answers, and about which row."""

    action: Literal["received", "not_received", "answer", "checkin"]
    # a payout's id (received, not received), a receipt's (answer) or a check-in's
    target: int


class NewsPayload(_Payload):
    """A message to a returnee about their own case (their money, their receipts), written
    from a translated template in their language when it is sent, and protected from
    forwarding. Words typed by staff (a question, a reason) travel in `note` as they are."""

    kind: Literal[OutboxKind.NEWS] = OutboxKind.NEWS
    news: str  # a key of bot/delivery/texts/money.py NEWS or texts/checkins.py CHECKIN_NEWS
    language: str
    receipt: str | None = None  # R-<case>-<n>
    category: str | None = None
    amount: Money | None = None
    left: Money | None = None
    reason: str | None = None  # a key of REJECTION_REASONS, or a payment method
    note: str | None = None
    buttons: list[NewsButton] = Field(default_factory=list)


class CounsellorPayload(_Payload):
    """Something for one counsellor, written from translated templates in their language when
    it is sent, and only if the returnee's consent still allows it then: a confirmed status
    update or plan (`update_id`), an event, or the monthly digest (`digest_id`, all their
    cases). The only words of staff it can carry are a confirmed update's, read from its row."""

    kind: Literal[OutboxKind.COUNSELLOR] = OutboxKind.COUNSELLOR
    counsellor_id: int
    update_id: int | None = None
    event: str | None = None  # a key of bot/delivery/texts/counsellors.py EVENTS
    reason: str | None = None  # a drop-out reason (lifecycle.DROP_REASONS)
    category: str | None = None
    amount: Money | None = None
    digest_id: int | None = None
    sent: list[int] = Field(default_factory=list)  # parts Telegram has already


class ErasurePayload(_Payload):
    """Telegram's part of an erased case (bot/services/erasure.py). The case is gone, so the
    item has no case; it carries ids only, where it goes is the item's chat, and what is done:

    - `topic`: delete the case's forum topic `thread` in the staff group, with its messages;
    - `chat`: delete these messages in the returnee's private chat, then tell them, in
      `language`, that their data is erased (Telegram deletes a message only within 48 hours
      of it being sent: the older ones are tried apart, so that they cannot spoil the rest);
    - `counsellor`: tell a counsellor that case `code` was erased (the code is what they are
      told; it leaves the outbox once the message is sent).
    """

    kind: Literal[OutboxKind.ERASURE] = OutboxKind.ERASURE
    step: Literal["topic", "chat", "counsellor"]
    thread: int | None = None
    recent: list[int] = Field(default_factory=list)  # under 48 hours old when erased
    older: list[int] = Field(default_factory=list)
    language: str | None = None
    code: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> ErasurePayload:
        needed = {"topic": self.thread, "chat": self.language, "counsellor": self.code}
        if needed[self.step] is None:
            raise ValueError(f"an erasure's {self.step} step misses what it needs")
        return self


Payload = (
    CopyPayload
    | TextPayload
    | EditTextPayload
    | NoticePayload
    | TopicWorkPayload
    | EditFollowsPayload
    | ReceiptCardPayload
    | NewsPayload
    | CounsellorPayload
    | ErasurePayload
)

PAYLOADS: dict[OutboxKind, type[Payload]] = {
    OutboxKind.COPY: CopyPayload,
    OutboxKind.TEXT: TextPayload,
    OutboxKind.EDIT_TEXT: EditTextPayload,
    OutboxKind.NOTICE: NoticePayload,
    OutboxKind.CARD: TopicWorkPayload,
    OutboxKind.PIN: TopicWorkPayload,
    OutboxKind.CLOSE_TOPIC: TopicWorkPayload,
    OutboxKind.EDIT_FOLLOWS: EditFollowsPayload,
    OutboxKind.RECEIPT_CARD: ReceiptCardPayload,
    OutboxKind.NEWS: NewsPayload,
    OutboxKind.COUNSELLOR: CounsellorPayload,
    OutboxKind.ERASURE: ErasurePayload,
}


class MalformedOutboxItem(Exception):
    """A stored payload that does not fit its kind: never sent, always reported by item id."""

    def __init__(self, item_id: int | None, kind: str, error: ValidationError) -> None:
        # Field names and error types only: the values may be what someone wrote.
        problems = ", ".join(
            f"{'.'.join(str(p) for p in problem['loc'])}: {problem['type']}"
            for problem in error.errors(include_input=False, include_url=False)
        )
        super().__init__(f"outbox item {item_id} ({kind}) is malformed: {problems}")
        self.item_id = item_id


def parse_payload(kind: OutboxKind, payload: dict[str, Any], item_id: int | None) -> Payload:
    """A stored payload as its kind's type; MalformedOutboxItem if it does not fit."""
    try:
        return PAYLOADS[kind].model_validate({**payload, "kind": kind})
    except ValidationError as error:
        raise MalformedOutboxItem(item_id, kind, error) from None


def payload_of(item: OutboxItem) -> Payload:
    """The item's payload as its kind's type."""
    return parse_payload(OutboxKind(item.kind), item.payload, item.id)


def neighbour_payload(item: OutboxItem) -> Payload | None:
    """Another item's payload, looked at while delivering this one (an album's other parts,
    texts to combine): None if malformed, which is reported when that item's own turn comes."""
    try:
        return payload_of(item)
    except MalformedOutboxItem:
        return None


def stored(payload: Payload) -> dict[str, object]:
    """What is written in the payload column: the kind lives in its own column."""
    return payload.model_dump(mode="json", exclude={"kind"}, exclude_defaults=True)


def rewrite(item: OutboxItem, payload: Payload) -> None:
    item.payload = stored(payload)


@dataclass(frozen=True)
class Source:
    """The message an item stands for: an update delivered twice finds its first item."""

    chat_id: int
    message_id: int


@dataclass(frozen=True)
class Queued:
    """A message's item in the outbox. `again`: Telegram delivered the message's update once
    more (webhook redelivery, polling after a crash); the item queued the first time stands, and
    nothing done for the message then (answers, notes) is to be done again."""

    item: OutboxItem
    again: bool = False


def item_chat() -> ColumnElement[int | None]:
    """SQL for the chat an item goes to: its own (a private chat), else its case's staff group,
    else its office's. Used with the item joined to its case and office (outer joins)."""
    return func.coalesce(OutboxItem.chat_id, Case.inbox_chat_id, Office.staff_group_chat_id)


async def place_in_inbox(session: AsyncSession, case: Case) -> None:
    """A case without a topic yet goes to the office's staff group with the fewest cases, so an
    office with several groups spreads its cases (and Telegram's per-group limit) over them."""
    if case.inbox_chat_id is not None:
        return
    groups = [case.office.staff_group_chat_id] if case.office.staff_group_chat_id else []
    groups += list(
        await session.scalars(
            select(OfficeInbox.chat_id)
            .where(OfficeInbox.office_id == case.office_id)
            .order_by(OfficeInbox.id)
        )
    )
    if len(groups) < 2:
        return  # one group (or none yet): the sender finds it through the office
    load = dict(
        (
            await session.execute(
                select(Case.inbox_chat_id, func.count())
                .where(Case.inbox_chat_id.in_(groups))
                .group_by(Case.inbox_chat_id)
            )
        ).all()
    )
    case.inbox_chat_id = min(groups, key=lambda chat: (load.get(chat, 0), groups.index(chat)))


async def queue(
    session: AsyncSession,
    case: Case | None,
    payload: Payload,
    *,
    destination: Destination,
    direction: Direction,
    author: Person | None,
    chat_id: int | None = None,
    source: Source | None = None,
    revision: int = 0,
) -> Queued:
    """Put an item in the outbox, unless this source's item (this version of it) is there."""
    if source is not None:
        # Telegram may deliver an update again after a crash: the first queued item stands.
        # The id alone: this runs for every message and almost never finds anything.
        already = await session.scalar(
            select(OutboxItem.id).where(
                OutboxItem.source_chat_id == source.chat_id,
                OutboxItem.source_message_id == source.message_id,
                OutboxItem.direction == direction,
                OutboxItem.revision == revision,
            )
        )
        if already is not None:
            item = await session.get(OutboxItem, already)
            assert item is not None
            return Queued(item, again=True)
    if destination is Destination.TOPIC:
        # A topic belongs to a case; only an erased case's topic is named by its group alone.
        assert case is not None or chat_id is not None, "a topic item names its case or group"
        if case is not None:
            await place_in_inbox(session, case)
    now = utcnow()
    item = OutboxItem(
        source_chat_id=source.chat_id if source else None,
        source_message_id=source.message_id if source else None,
        revision=revision,
        case_id=case.id if case else None,
        destination=destination,
        chat_id=chat_id,
        kind=payload.kind,
        payload=stored(payload),
        direction=direction,
        author_id=author.id if author else None,
        status=OutboxStatus.PENDING,
        attempts=0,
        not_before=now,
        created_at=now,
    )
    session.add(item)
    # The audit log gets its line when the relay is delivered (relay.sent.*), not here.
    return Queued(item)


async def queue_news(
    session: AsyncSession, case: Case, returnee: Person, news: NewsPayload
) -> Queued:
    """News for the returnee about their own case, to their private chat."""
    return await queue(
        session,
        case,
        news,
        destination=Destination.PRIVATE,
        direction=Direction.TO_RETURNEE,
        author=None,
        chat_id=returnee.telegram_user_id,
    )
