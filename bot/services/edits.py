"""Edits follow their messages: copies already made are corrected, and an edit that arrives
before its original is delivered waits behind it.

Text copies are edited in place; for media a marked correction (a fresh copy, replying to the
old one) follows, since a copy's media cannot be swapped.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.split import TEXT_LIMIT, utf16_length
from bot.services.clock import as_utc
from bot.services.messages import Incoming, entities_of
from bot.services.outbox import (
    CopyPayload,
    EditFollowsPayload,
    EditTextPayload,
    Payload,
    Source,
    TextPayload,
    payload_of,
    queue,
)
from storage.models import (
    Case,
    Destination,
    Direction,
    OutboxItem,
    OutboxStatus,
    Person,
    Relay,
)

MARK = "✏️ "


async def edited(
    session: AsyncSession,
    case: Case,
    editor: Person,
    message: Incoming,
    revision: int,
    *,
    header: str | None = None,
    signature: str | None = None,
) -> list[OutboxItem]:
    """Someone edited a message: its copies follow.

    An original not yet confirmed by Telegram (waiting, or being sent this very moment) gets an
    EDIT_FOLLOWS item behind it in its lane; when that item's turn comes the copy exists, and
    `follow_edit` corrects it.
    """
    # Originals first, copies second: an original delivered in between then shows up as a copy
    # (corrected now) instead of being missed by both looks.
    waiting = await _waiting_originals(session, case.id, message)
    copies = await _copies(session, case, message)
    items = [
        await _correction(session, case, editor, message, revision, copy, parts, header, signature)
        for copy, parts in _first_copies(copies)
    ]
    return items + await _edit_follows(
        session, case, editor, message, revision, waiting, copies, header, signature
    )


async def follow_edit(session: AsyncSession, case: Case, follows: OutboxItem) -> list[OutboxItem]:
    """An edit that waited for its original to be delivered: correct the copies made before it."""
    payload = payload_of(follows)
    assert isinstance(payload, EditFollowsPayload)
    editor = await session.get(Person, follows.author_id) if follows.author_id else None
    message = payload.message
    newer = await session.scalar(
        select(OutboxItem.id).where(
            OutboxItem.source_chat_id == message.chat_id,
            OutboxItem.source_message_id == message.message_id,
            OutboxItem.direction == follows.direction,
            OutboxItem.revision > follows.revision,
        )
    )
    if editor is None or newer is not None:
        return []  # a later edit is already on its way: this one must not overwrite it
    received_at = as_utc(follows.created_at)
    return [
        await _correction(
            session,
            case,
            editor,
            message,
            follows.revision,
            copy,
            parts,
            payload.header,
            payload.signature,
        )
        for copy, parts in _first_copies(await _copies(session, case, message))
        # A copy by id made after the edit arrived was taken from the edited message itself.
        if not (payload.plain and as_utc(copy.at) >= received_at)
    ]


async def _copies(session: AsyncSession, case: Case, message: Incoming) -> list[Relay]:
    return list(
        await session.scalars(
            select(Relay)
            .where(
                Relay.case_id == case.id,
                Relay.source_chat_id == message.chat_id,
                Relay.source_message_id == message.message_id,
            )
            .order_by(Relay.id)
        )
    )


def _first_copies(copies: list[Relay]) -> list[tuple[Relay, int]]:
    """Per chat, the first message the copy was made of, and how many there were: a text too
    long with the bot's additions went in parts (or a caption with a text after it), and an
    earlier correction counts too. Each chat gets one correction, replying to the first."""
    first: dict[int, Relay] = {}
    parts: dict[int, int] = {}
    for copy in copies:  # oldest first
        first.setdefault(copy.copy_chat_id, copy)
        parts[copy.copy_chat_id] = parts.get(copy.copy_chat_id, 0) + 1
    return [(copy, parts[chat]) for chat, copy in first.items()]


async def _correction(
    session: AsyncSession,
    case: Case,
    editor: Person,
    message: Incoming,
    revision: int,
    original: Relay,
    parts: int,
    header: str | None,
    signature: str | None,
) -> OutboxItem:
    """The edit of one copy already made: the copy edited in place, or a marked correction.

    In place only where the copy is one message of this text alone and the new text, with the
    bot's additions, still fits one message; the sender splits a correction as needed."""
    text = message.text or ""
    shift = 0
    if header:
        text = f"{header}\n{text}"
        shift = utf16_length(header) + 1
    if signature:
        text = f"{text}\n\n— {signature}" if text else f"— {signature}"
    shared = await session.scalar(
        select(func.count()).where(
            Relay.copy_chat_id == original.copy_chat_id,
            Relay.copy_message_id == original.copy_message_id,
        )
    )
    # A fresh message is protected like the one it corrects.
    protect = original.direction in (Direction.TO_RETURNEE, Direction.TO_COUNSELLOR)
    payload: Payload
    if message.kind == "text" and shared == 1 and parts == 1 and utf16_length(text) <= TEXT_LIMIT:
        payload = EditTextPayload(
            from_chat_id=message.chat_id,
            message_id=message.message_id,
            copy_chat_id=original.copy_chat_id,
            copy_message_id=original.copy_message_id,
            text=text,
            entities=entities_of(message, shift),
        )
    elif message.kind == "text":
        # The copy holds several texts combined, or is one of several parts, or the new text
        # is too long for one message: a marked correction follows instead.
        payload = TextPayload(
            text=f"{MARK}{text}",
            entities=entities_of(message, shift + utf16_length(MARK)),
            from_chat_id=message.chat_id,
            message_id=message.message_id,
            reply_to=original.copy_message_id,
            protect=protect,
        )
    else:
        payload = CopyPayload(
            from_chat_id=message.chat_id,
            message_id=message.message_id,
            reply_to=original.copy_message_id,
            caption=f"{MARK}{text}".strip(),
            caption_entities=entities_of(message, shift + utf16_length(MARK)),
            protect=protect,
        )
    to_topic = original.copy_chat_id < 0
    queued = await queue(
        session,
        case,
        payload,
        destination=Destination.TOPIC if to_topic else Destination.PRIVATE,
        chat_id=None if to_topic else original.copy_chat_id,
        direction=original.direction,
        author=editor,
        source=Source(message.chat_id, message.message_id),
        revision=revision,
    )
    return queued.item


async def _waiting_originals(
    session: AsyncSession, case_id: int, message: Incoming
) -> list[OutboxItem]:
    """The message's own outbox items not yet delivered (waiting, or held for a returnee)."""
    return list(
        await session.scalars(
            select(OutboxItem).where(
                OutboxItem.case_id == case_id,
                OutboxItem.source_chat_id == message.chat_id,
                OutboxItem.source_message_id == message.message_id,
                OutboxItem.revision == 0,
                OutboxItem.status.in_((OutboxStatus.PENDING, OutboxStatus.HELD)),
            )
        )
    )


async def held_original(session: AsyncSession, follows: OutboxItem) -> bool:
    """Whether the original an edit waits behind was held (its returnee blocked the bot)."""
    assert follows.case_id is not None
    payload = payload_of(follows)
    assert isinstance(payload, EditFollowsPayload)
    originals = await _waiting_originals(session, follows.case_id, payload.message)
    return any(
        original.status is OutboxStatus.HELD and original.destination == follows.destination
        for original in originals
    )


def _plain_copy(original: OutboxItem) -> bool:
    """Only a copy by id shows the message as it is when copied; a text or caption the bot
    wrote itself (signature, header, combined texts) was taken when it was queued."""
    payload = payload_of(original)
    return (
        isinstance(payload, CopyPayload) and payload.caption is None and payload.combinable is None
    )


async def _edit_follows(
    session: AsyncSession,
    case: Case,
    editor: Person,
    message: Incoming,
    revision: int,
    originals: list[OutboxItem],
    relays: list[Relay],
    header: str | None,
    signature: str | None,
) -> list[OutboxItem]:
    """Originals of this message not yet delivered: the edit waits behind each of them."""
    copied_to = {Destination.TOPIC if r.copy_chat_id < 0 else Destination.PRIVATE for r in relays}
    items = []
    for original in originals:
        if original.destination in copied_to:
            continue
        queued = await queue(
            session,
            case,
            EditFollowsPayload(
                message=message,
                header=header,
                signature=signature,
                plain=_plain_copy(original),
            ),
            destination=original.destination,
            chat_id=original.chat_id,
            direction=original.direction,
            author=editor,
            # No source: the corrections it leads to carry it, and they must not match it.
            revision=revision,
        )
        follows = queued.item
        follows.status = original.status  # held with it, released with it, in order
        items.append(follows)
    return items
