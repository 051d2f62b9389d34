"""What happens when someone writes: which case, which way, and what waits in the outbox.

These rules decide routing; the sender (bot/delivery) carries the result to Telegram. Messages
are copied by id wherever possible, so their content is never stored here; only where the bot must
add words of its own (a signature, the counsellor's name) does a text wait in the outbox, and it is
erased once delivered.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.split import TEXT_LIMIT, utf16_length
from bot.services.clock import as_utc, utcnow
from storage.models import (
    Case,
    Direction,
    OfficeInbox,
    OutboxItem,
    OutboxStatus,
    Person,
    Relay,
    ResponseTime,
    Role,
)

# A text this short may wait to be combined with the returnee's next ones into one topic message.
SHORT_TEXT = 300
# Content that cannot carry a caption; copies of it go without the office's signature.
NO_CAPTION = frozenset({"sticker", "video_note", "contact", "dice", "poll", "venue", "location"})
LOCATION = frozenset({"location", "venue"})


@dataclass(frozen=True)
class Incoming:
    """A Telegram message reduced to what routing needs; text only where words are added."""

    chat_id: int
    message_id: int
    kind: str
    media_group_id: str | None = None
    reply_to_message_id: int | None = None
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    sent_at: int | None = None  # Unix time the person sent it


@dataclass(frozen=True)
class Queued:
    """A message's item in the outbox. `again`: Telegram delivered the message's update once
    more (webhook redelivery, polling after a crash); the item queued the first time stands, and
    nothing done for the message then (answers, notes) is to be done again."""

    item: OutboxItem
    again: bool = False


def _shifted(entities: list[dict[str, Any]], by: int) -> list[dict[str, Any]]:
    return [{**entity, "offset": entity["offset"] + by} for entity in entities]


async def _reply_target(
    session: AsyncSession, message: Incoming, destination_chat_id: int | None
) -> int | None:
    """The message in the destination chat that corresponds to the one being replied to."""
    if message.reply_to_message_id is None or destination_chat_id is None:
        return None
    sent_from_here = await session.scalar(
        select(Relay.copy_message_id)
        .where(
            Relay.source_chat_id == message.chat_id,
            Relay.source_message_id == message.reply_to_message_id,
            Relay.copy_chat_id == destination_chat_id,
        )
        .order_by(Relay.id)  # a message sent in parts: its first part
        .limit(1)
    )
    if sent_from_here is not None:
        return sent_from_here
    return await session.scalar(
        select(Relay.source_message_id).where(
            Relay.copy_chat_id == message.chat_id,
            Relay.copy_message_id == message.reply_to_message_id,
            Relay.source_chat_id == destination_chat_id,
        )
    )


async def _place_in_inbox(session: AsyncSession, case: Case) -> None:
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


async def _queue(
    session: AsyncSession,
    case: Case,
    *,
    destination: str,
    chat_id: int | None,
    kind: str,
    payload: dict[str, Any],
    direction: Direction,
    author: Person | None,
    revision: int = 0,
) -> OutboxItem:
    queued = await _enqueue(
        session,
        case,
        destination=destination,
        chat_id=chat_id,
        kind=kind,
        payload=payload,
        direction=direction,
        author=author,
        revision=revision,
    )
    return queued.item


async def _enqueue(
    session: AsyncSession,
    case: Case,
    *,
    destination: str,
    chat_id: int | None,
    kind: str,
    payload: dict[str, Any],
    direction: Direction,
    author: Person | None,
    revision: int = 0,
) -> Queued:
    source = payload.get("from_chat_id"), payload.get("message_id")
    if source[0] is not None:
        # Telegram may deliver an update again after a crash: the first queued copy stands.
        # The id alone: this runs for every message and almost never finds anything.
        already = await session.scalar(
            select(OutboxItem.id).where(
                OutboxItem.source_chat_id == source[0],
                OutboxItem.source_message_id == source[1],
                OutboxItem.direction == direction,
                OutboxItem.revision == revision,
            )
        )
        if already is not None:
            item = await session.get(OutboxItem, already)
            assert item is not None
            return Queued(item, again=True)
    if destination == "topic":
        await _place_in_inbox(session, case)
    now = utcnow()
    item = OutboxItem(
        source_chat_id=source[0],
        source_message_id=source[1],
        revision=revision,
        case_id=case.id,
        destination=destination,
        chat_id=chat_id,
        kind=kind,
        payload=payload,
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


async def from_returnee(
    session: AsyncSession, case: Case, returnee: Person, message: Incoming
) -> Queued:
    """A returnee wrote in their private chat: it goes to the case's topic, as a copy."""
    if case.unreachable:
        await release_held(session, case)
    if message.kind in LOCATION:
        # A pin would say where the returnee is to everyone in the group: only a note goes.
        return await _enqueue(
            session,
            case,
            destination="topic",
            chat_id=None,
            kind="notice",
            payload={
                "notice": "location_shared",
                "from_chat_id": message.chat_id,
                "message_id": message.message_id,
            },
            direction=Direction.FROM_RETURNEE,
            author=returnee,
        )
    payload: dict[str, Any] = {"from_chat_id": message.chat_id, "message_id": message.message_id}
    if message.media_group_id:
        payload["media_group_id"] = message.media_group_id
    reply_to = await _reply_target(session, message, case.inbox_chat_id)
    if reply_to is not None:
        payload["reply_to"] = reply_to
    elif message.kind == "text" and message.text and utf16_length(message.text) <= SHORT_TEXT:
        # Kept only while waiting: a burst of short texts then costs one post of the group's 20
        # a minute. Erased on delivery like every payload.
        payload["combinable"] = {"text": message.text, "at": message.sent_at}
    return await _enqueue(
        session,
        case,
        destination="topic",
        chat_id=None,
        kind="copy",
        payload=payload,
        direction=Direction.FROM_RETURNEE,
        author=returnee,
    )


async def from_counsellor(
    session: AsyncSession, case: Case, counsellor: Person, message: Incoming, header: str
) -> OutboxItem:
    """A counsellor wrote about a case: it goes to the topic, marked with who wrote it."""
    payload: dict[str, Any] = {"from_chat_id": message.chat_id, "message_id": message.message_id}
    kind = "copy"
    if message.kind == "text":
        kind = "text"
        payload = {
            "text": f"{header}\n{message.text or ''}",
            "entities": _shifted(message.entities, utf16_length(header) + 1),
            **payload,
        }
    elif message.kind not in NO_CAPTION:
        payload["caption"] = f"{header}\n{message.text or ''}".strip()
        payload["caption_entities"] = _shifted(message.entities, utf16_length(header) + 1)
    else:
        payload["header"] = header
    reply_to = await _reply_target(session, message, case.inbox_chat_id)
    if reply_to is not None:
        payload["reply_to"] = reply_to
    return await _queue(
        session,
        case,
        destination="topic",
        chat_id=None,
        kind=kind,
        payload=payload,
        direction=Direction.FROM_COUNSELLOR,
        author=counsellor,
    )


async def counsellor_behind(session: AsyncSession, case: Case, message: Incoming) -> int | None:
    """If staff replied to a counsellor's message (or to their own message to a counsellor),
    the counsellor's chat id; otherwise None and the reply goes to the returnee."""
    if message.reply_to_message_id is None:
        return None
    relay = await session.scalar(
        select(Relay).where(
            Relay.case_id == case.id,
            Relay.copy_chat_id == message.chat_id,
            Relay.copy_message_id == message.reply_to_message_id,
            Relay.direction == Direction.FROM_COUNSELLOR,
        )
    ) or await session.scalar(
        select(Relay).where(
            Relay.case_id == case.id,
            Relay.source_chat_id == message.chat_id,
            Relay.source_message_id == message.reply_to_message_id,
            Relay.direction == Direction.TO_COUNSELLOR,
        )
    )
    if relay is None:
        return None
    return (
        relay.source_chat_id if relay.direction is Direction.FROM_COUNSELLOR else relay.copy_chat_id
    )


async def from_staff(
    session: AsyncSession,
    case: Case,
    staff: Person,
    message: Incoming,
    signature: str,
    *,
    to_returnee: bool = False,
) -> OutboxItem | None:
    """Staff answered in the topic: a protected copy to the returnee, or to the counsellor whose
    message they replied to, signed with the office's name. None if nobody can receive it."""
    counsellor_chat = None if to_returnee else await counsellor_behind(session, case, message)
    if counsellor_chat is not None:
        direction, chat_id = Direction.TO_COUNSELLOR, counsellor_chat
    elif case.returnee is not None:
        direction, chat_id = Direction.TO_RETURNEE, case.returnee.telegram_user_id
    else:
        return None
    payload: dict[str, Any] = {
        "from_chat_id": message.chat_id,
        "message_id": message.message_id,
        "protect": True,
    }
    kind = "copy"
    if message.kind == "text":
        kind = "text"
        payload["text"] = f"{message.text or ''}\n\n— {signature}"
        payload["entities"] = message.entities
    elif message.kind not in NO_CAPTION:
        caption = message.text or ""
        payload["caption"] = f"{caption}\n\n— {signature}" if caption else f"— {signature}"
        payload["caption_entities"] = message.entities
    reply_to = await _reply_target(session, message, chat_id)
    if reply_to is not None:
        payload["reply_to"] = reply_to
    if direction is Direction.TO_RETURNEE:
        await _record_response_time(session, case, staff)
    return await _queue(
        session,
        case,
        destination="private",
        chat_id=chat_id,
        kind=kind,
        payload=payload,
        direction=direction,
        author=staff,
    )


async def release_held(session: AsyncSession, case: Case) -> None:
    """The returnee is reachable again: what waited for them goes out."""
    case.unreachable = False
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.case_id == case.id, OutboxItem.status == OutboxStatus.HELD)
        .values(status=OutboxStatus.PENDING, not_before=utcnow())
    )


async def notice(session: AsyncSession, case: Case, key: str, **values: Any) -> OutboxItem:
    """A note from the bot itself in the case's topic (the text is rendered when sent)."""
    return await _queue(
        session,
        case,
        destination="topic",
        chat_id=None,
        kind="notice",
        payload={"notice": key, **values},
        direction=Direction.OFFICE_NOTICE,
        author=None,
    )


async def notice_about(
    session: AsyncSession,
    case: Case,
    key: str,
    message: Incoming,
    *,
    revision: int = 0,
    **values: Any,
) -> Queued:
    """A note from the bot about one message (or one version of it) in the case's topic, queued
    once however often Telegram delivers the message's update."""
    return await _enqueue(
        session,
        case,
        destination="topic",
        chat_id=None,
        kind="notice",
        payload={
            "notice": key,
            "from_chat_id": message.chat_id,
            "message_id": message.message_id,
            **values,
        },
        direction=Direction.OFFICE_NOTICE,
        author=None,
        revision=revision,
    )


async def not_passed_on(
    session: AsyncSession, case: Case, author: Person, message: Incoming, **values: Any
) -> Queued:
    """Someone sent what cannot be passed on (a poll, a dice, a game...): the topic learns its
    kind, never its content. `values` fill the note (a counsellor's name)."""
    returnee = author.role is Role.RETURNEE
    if returnee and case.unreachable:
        await release_held(session, case)  # they wrote, so they can be reached again
    key = "not_passed_on" if returnee else "not_passed_on_counsellor"
    return await notice_about(session, case, key, message, kind=message.kind, **values)


async def _record_response_time(session: AsyncSession, case: Case, staff: Person) -> None:
    """The returnee's oldest message since the office last answered, and how long it waited."""
    last_answer = await session.scalar(
        select(func.max(OutboxItem.created_at)).where(
            OutboxItem.case_id == case.id, OutboxItem.direction == Direction.TO_RETURNEE
        )
    )
    waiting = select(func.min(OutboxItem.created_at)).where(
        OutboxItem.case_id == case.id, OutboxItem.direction == Direction.FROM_RETURNEE
    )
    if last_answer is not None:
        waiting = waiting.where(OutboxItem.created_at > last_answer)
    asked = await session.scalar(waiting)
    if asked is None:
        return
    now = utcnow()
    session.add(
        ResponseTime(
            case_id=case.id,
            office_id=case.office_id,
            staff_id=staff.id,
            asked_at=asked,
            answered_at=now,
            seconds=int((now - as_utc(asked)).total_seconds()),
        )
    )


async def topic_work(session: AsyncSession, case: Case, kind: str) -> OutboxItem:
    """Work on the case's topic itself: "card" (edit it to show the case as it is now),
    "pin" (pin the card) or "close_topic". It waits its turn in the outbox like a message."""
    return await _queue(
        session,
        case,
        destination="topic",
        chat_id=None,
        kind=kind,
        payload={},
        direction=Direction.OFFICE_NOTICE,
        author=None,
    )


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

    Text copies are edited in place; for media a marked correction (a fresh copy, replying to
    the old one) follows, since a copy's media cannot be swapped. An original not yet confirmed
    by Telegram (waiting, or being sent this very moment) gets an "edit_follows" item behind it in
    its lane; when that item's turn comes the copy exists, and `follow_edit` corrects it.
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
    payload: dict[str, Any] = follows.payload
    editor = await session.get(Person, follows.author_id) if follows.author_id else None
    message = Incoming(**payload["message"])
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
            payload.get("header"),
            payload.get("signature"),
        )
        for copy, parts in _first_copies(await _copies(session, case, message))
        # A copy by id made after the edit arrived was taken from the edited message itself.
        if not (payload.get("plain") and as_utc(copy.at) >= received_at)
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
    entities = message.entities
    if header:
        text = f"{header}\n{text}"
        entities = _shifted(entities, utf16_length(header) + 1)
    if signature:
        text = f"{text}\n\n— {signature}" if text else f"— {signature}"
    payload: dict[str, Any] = {
        "from_chat_id": message.chat_id,
        "message_id": message.message_id,
        "copy_chat_id": original.copy_chat_id,
        "copy_message_id": original.copy_message_id,
    }
    shared = await session.scalar(
        select(func.count()).where(
            Relay.copy_chat_id == original.copy_chat_id,
            Relay.copy_message_id == original.copy_message_id,
        )
    )
    if message.kind == "text" and shared == 1 and parts == 1 and utf16_length(text) <= TEXT_LIMIT:
        kind = "edit_text"
        payload.update(text=text, entities=entities)
    elif message.kind == "text":
        # The copy holds several texts combined, or is one of several parts, or the new text
        # is too long for one message: a marked correction follows instead.
        kind = "text"
        payload.update(
            text=f"✏️ {text}",
            entities=_shifted(entities, utf16_length("✏️ ")),
            reply_to=original.copy_message_id,
        )
    else:
        kind = "copy"
        payload.update(
            reply_to=original.copy_message_id,
            caption=f"✏️ {text}".strip(),
            caption_entities=_shifted(entities, utf16_length("✏️ ")),
        )
    if kind != "edit_text" and original.direction in (
        Direction.TO_RETURNEE,
        Direction.TO_COUNSELLOR,
    ):
        payload["protect"] = True  # a fresh message, protected like the one it corrects
    destination = "topic" if original.copy_chat_id < 0 else "private"
    return await _queue(
        session,
        case,
        destination=destination,
        chat_id=None if destination == "topic" else original.copy_chat_id,
        kind=kind,
        payload=payload,
        direction=original.direction,
        author=editor,
        revision=revision,
    )


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
    originals = await _waiting_originals(
        session, follows.case_id, Incoming(**follows.payload["message"])
    )
    return any(
        original.status is OutboxStatus.HELD and original.destination == follows.destination
        for original in originals
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
    copied_to = {"topic" if r.copy_chat_id < 0 else "private" for r in relays}
    items = []
    for original in originals:
        if original.destination in copied_to:
            continue
        # Only a copy by id shows the message as it is when copied; a text or caption the bot
        # wrote itself (signature, header, combined texts) was taken when it was queued.
        plain = original.kind == "copy" and not {"caption", "combinable"} & original.payload.keys()
        follows = await _queue(
            session,
            case,
            destination=original.destination,
            chat_id=original.chat_id,
            kind="edit_follows",
            # No source ids: the corrections it leads to carry them, and they must not match it.
            payload={
                "message": asdict(message),
                "header": header,
                "signature": signature,
                "plain": plain,
            },
            direction=original.direction,
            author=editor,
            revision=revision,
        )
        follows.status = original.status  # held with it, released with it, in order
        items.append(follows)
    return items


async def last_shared_location(session: AsyncSession, case: Case) -> int | None:
    """The message id of the location the returnee shared last (only a note went to staff)."""
    return await session.scalar(
        select(OutboxItem.source_message_id)
        .where(
            OutboxItem.case_id == case.id,
            OutboxItem.direction == Direction.FROM_RETURNEE,
            OutboxItem.kind == "notice",
            OutboxItem.source_message_id.is_not(None),
        )
        .order_by(OutboxItem.id.desc())
        .limit(1)
    )


async def share_location(
    session: AsyncSession, case: Case, returnee: Person, message_id: int
) -> OutboxItem:
    """The returnee agreed that staff may see the location: now it is copied to the topic."""
    return await _queue(
        session,
        case,
        destination="topic",
        chat_id=None,
        kind="copy",
        payload={"from_chat_id": returnee.telegram_user_id, "message_id": message_id},
        direction=Direction.FROM_RETURNEE,
        author=returnee,
        revision=-1,  # the same message once more, on request; -1 keeps it apart from the note
    )
