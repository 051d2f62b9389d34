"""What happens when someone writes: which case, which way, and what waits in the outbox.

These rules decide routing; the sender (bot/delivery) carries the result to Telegram. Messages
are copied by id wherever possible, so their content is never stored here; only where the bot must
add words of its own (a signature, the counsellor's name) does a text wait in the outbox, and it is
erased once delivered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.split import utf16_length
from bot.services import counsellor_news
from bot.services.clock import utcnow
from bot.services.edits import edited, follow_edit, held_original
from bot.services.locations import last_shared_location, share_location
from bot.services.messages import Incoming, entities_of
from bot.services.outbox import (
    Combinable,
    CopyPayload,
    Mention,
    NoticeButton,
    NoticePayload,
    Queued,
    Source,
    TextPayload,
    TopicWorkPayload,
    queue,
)
from bot.services.response_times import record_response_time
from storage.models import (
    Case,
    Destination,
    Direction,
    OutboxItem,
    OutboxKind,
    OutboxStatus,
    Person,
    Relay,
    Role,
)

# A text this short may wait to be combined with the returnee's next ones into one topic message.
SHORT_TEXT = 300
# Content that cannot carry a caption; copies of it go without the office's signature.
NO_CAPTION = frozenset({"sticker", "video_note", "contact", "dice", "poll", "venue", "location"})
LOCATION = frozenset({"location", "venue"})


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


def _source(message: Incoming) -> Source:
    return Source(message.chat_id, message.message_id)


async def from_returnee(
    session: AsyncSession, case: Case, returnee: Person, message: Incoming
) -> Queued:
    """A returnee wrote in their private chat: it goes to the case's topic, as a copy."""
    if case.unreachable:
        await release_held(session, case)
    if message.kind in LOCATION:
        # A pin would say where the returnee is to everyone in the group: only a note goes.
        return await queue(
            session,
            case,
            NoticePayload(notice="location_shared"),
            destination=Destination.TOPIC,
            direction=Direction.FROM_RETURNEE,
            author=returnee,
            source=_source(message),
        )
    reply_to = await _reply_target(session, message, case.inbox_chat_id)
    combinable = None
    if (
        reply_to is None
        and message.kind == "text"
        and message.text
        and utf16_length(message.text) <= SHORT_TEXT
    ):
        # Kept only while waiting: a burst of short texts then costs one post of the group's 20
        # a minute. Erased on delivery like every payload.
        combinable = Combinable(text=message.text, at=message.sent_at)
    return await queue(
        session,
        case,
        CopyPayload(
            from_chat_id=message.chat_id,
            message_id=message.message_id,
            media_group_id=message.media_group_id,
            reply_to=reply_to,
            combinable=combinable,
        ),
        destination=Destination.TOPIC,
        direction=Direction.FROM_RETURNEE,
        author=returnee,
        source=_source(message),
    )


async def from_counsellor(
    session: AsyncSession, case: Case, counsellor: Person, message: Incoming, header: str
) -> OutboxItem:
    """A counsellor wrote about a case: it goes to the topic, marked with who wrote it."""
    reply_to = await _reply_target(session, message, case.inbox_chat_id)
    shift = utf16_length(header) + 1
    payload: CopyPayload | TextPayload
    if message.kind == "text":
        payload = TextPayload(
            text=f"{header}\n{message.text or ''}",
            entities=entities_of(message, shift),
            from_chat_id=message.chat_id,
            message_id=message.message_id,
            reply_to=reply_to,
        )
    elif message.kind not in NO_CAPTION:
        payload = CopyPayload(
            from_chat_id=message.chat_id,
            message_id=message.message_id,
            # Not stripped: the entities, shifted by the header, may cover the caption's edges.
            caption=f"{header}\n{message.text}" if message.text else header,
            caption_entities=entities_of(message, shift),
            reply_to=reply_to,
        )
    else:
        payload = CopyPayload(
            from_chat_id=message.chat_id,
            message_id=message.message_id,
            header=header,
            reply_to=reply_to,
        )
    queued = await queue(
        session,
        case,
        payload,
        destination=Destination.TOPIC,
        direction=Direction.FROM_COUNSELLOR,
        author=counsellor,
        source=_source(message),
    )
    return queued.item


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
    reply_to = await _reply_target(session, message, chat_id)
    payload: CopyPayload | TextPayload
    if message.kind == "text":
        payload = TextPayload(
            text=f"{message.text or ''}\n\n— {signature}",
            entities=entities_of(message),
            from_chat_id=message.chat_id,
            message_id=message.message_id,
            reply_to=reply_to,
            protect=True,
        )
    else:
        caption = None
        if message.kind not in NO_CAPTION:
            words = message.text or ""
            caption = f"{words}\n\n— {signature}" if words else f"— {signature}"
        payload = CopyPayload(
            from_chat_id=message.chat_id,
            message_id=message.message_id,
            caption=caption,
            caption_entities=entities_of(message) if caption else [],
            reply_to=reply_to,
            protect=True,
        )
    if direction is Direction.TO_RETURNEE:
        await record_response_time(session, case, staff)
        if case.first_contact_at is None:
            case.first_contact_at = utcnow()
            await counsellor_news.event(session, case, "first_contact")
    queued = await queue(
        session,
        case,
        payload,
        destination=Destination.PRIVATE,
        chat_id=chat_id,
        direction=direction,
        author=staff,
        source=_source(message),
    )
    return queued.item


async def release_held(session: AsyncSession, case: Case) -> None:
    """The returnee is reachable again: what waited for them goes out."""
    case.unreachable = False
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.case_id == case.id, OutboxItem.status == OutboxStatus.HELD)
        .values(status=OutboxStatus.PENDING, not_before=utcnow())
    )


def _notice(
    key: str,
    mentions: Sequence[Mention],
    entry: str | None,
    reply_to: int | None,
    values: dict[str, Any],
    buttons: Sequence[NoticeButton] = (),
) -> NoticePayload:
    return NoticePayload(
        notice=key,
        values=values,
        mentions=list(mentions),
        entry=entry,
        reply_to=reply_to,
        buttons=list(buttons),
    )


async def notice(
    session: AsyncSession,
    case: Case,
    key: str,
    *,
    mentions: Sequence[Mention] = (),
    entry: str | None = None,
    reply_to: int | None = None,
    buttons: Sequence[NoticeButton] = (),
    **values: str | int | float | None,
) -> OutboxItem:
    """A note from the bot itself in the case's topic (the text is rendered when sent);
    `values` fill its placeholders; `buttons` let staff answer it with a press."""
    queued = await queue(
        session,
        case,
        _notice(key, mentions, entry, reply_to, values, buttons),
        destination=Destination.TOPIC,
        direction=Direction.OFFICE_NOTICE,
        author=None,
    )
    return queued.item


async def notice_about(
    session: AsyncSession,
    case: Case,
    key: str,
    message: Incoming,
    *,
    revision: int = 0,
    mentions: Sequence[Mention] = (),
    values: dict[str, str | int | float | None] | None = None,
) -> Queued:
    """A note from the bot about one message (or one version of it) in the case's topic, queued
    once however often Telegram delivers the message's update."""
    return await queue(
        session,
        case,
        _notice(key, mentions, None, None, values or {}),
        destination=Destination.TOPIC,
        direction=Direction.OFFICE_NOTICE,
        author=None,
        source=_source(message),
        revision=revision,
    )


async def not_passed_on(
    session: AsyncSession, case: Case, author: Person, message: Incoming, **values: str
) -> Queued:
    """Someone sent what cannot be passed on (a poll, a dice, a game...): the topic learns its
    kind, never its content. `values` fill the note (a counsellor's name)."""
    returnee = author.role is Role.RETURNEE
    if returnee and case.unreachable:
        await release_held(session, case)  # they wrote, so they can be reached again
    key = "not_passed_on" if returnee else "not_passed_on_counsellor"
    return await notice_about(session, case, key, message, values={"kind": message.kind, **values})


async def topic_work(session: AsyncSession, case: Case, kind: OutboxKind) -> OutboxItem:
    """Work on the case's topic itself: CARD (edit it to show the case as it is now), PIN (pin
    the card) or CLOSE_TOPIC. It waits its turn in the outbox like a message."""
    queued = await queue(
        session,
        case,
        TopicWorkPayload.model_validate({"kind": kind}),
        destination=Destination.TOPIC,
        direction=Direction.OFFICE_NOTICE,
        author=None,
    )
    return queued.item


# Edits, locations and the message type have their own modules; handlers reach them here.
__all__ = [
    "LOCATION",
    "NO_CAPTION",
    "SHORT_TEXT",
    "Incoming",
    "Queued",
    "counsellor_behind",
    "edited",
    "follow_edit",
    "from_counsellor",
    "from_returnee",
    "from_staff",
    "held_original",
    "last_shared_location",
    "not_passed_on",
    "notice",
    "notice_about",
    "release_held",
    "share_location",
    "topic_work",
    "utf16_length",
]
