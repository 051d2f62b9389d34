"""Turning a Telegram message into the plain description the relay rules work with."""

from __future__ import annotations

from aiogram.enums import ContentType
from aiogram.types import Message, Update
from aiogram.utils.i18n import gettext as _

from bot.delivery.texts import CONTENT_KINDS
from bot.services.relay import Incoming

# What people write; service messages (pins, topic changes, joins) are never relayed.
RELAYABLE = frozenset(
    {
        ContentType.TEXT,
        ContentType.PHOTO,
        ContentType.DOCUMENT,
        ContentType.VOICE,
        ContentType.AUDIO,
        ContentType.VIDEO,
        ContentType.VIDEO_NOTE,
        ContentType.STICKER,
        ContentType.CONTACT,
        ContentType.ANIMATION,
        ContentType.LOCATION,
        ContentType.VENUE,
    }
)


# What people can send that cannot be passed on: copyMessage cannot carry it (paid media), or
# it would act for them elsewhere (a poll, a game, a dice roll). They are told; the topic learns
# its kind, never its content.
NOT_PASSED_ON = frozenset(
    {
        ContentType.POLL,
        ContentType.DICE,
        ContentType.GAME,
        ContentType.STORY,
        ContentType.PAID_MEDIA,
        ContentType.WEB_APP_DATA,
    }
)


def is_relayable(message: Message) -> bool:
    return message.content_type in RELAYABLE


def cannot_pass_on(message: Message) -> bool:
    return message.content_type in NOT_PASSED_ON


def not_passed_on_text(message: Message) -> str:
    """What the sender is told, in their language."""
    return _(
        "This cannot be passed on to the office: {kind}. Text, photos, files, voice messages "
        "and videos reach them."
    ).format(kind=_(CONTENT_KINDS[message.content_type]))


def replied_to(message: Message) -> int | None:
    """The message this one answers. In a forum topic every message 'replies' to the topic's
    first message; that is not a reply."""
    reply = message.reply_to_message
    if reply is None or reply.message_id == message.message_thread_id:
        return None
    return reply.message_id


def describe(message: Message, *, keep_text: bool) -> Incoming:
    """`keep_text` only where the bot adds words of its own (signature, counsellor's name)."""
    text = message.text if message.text is not None else message.caption
    entities = message.entities if message.text is not None else message.caption_entities
    return Incoming(
        chat_id=message.chat.id,
        message_id=message.message_id,
        kind=ContentType(message.content_type).value,
        media_group_id=message.media_group_id,
        reply_to_message_id=replied_to(message),
        text=text if keep_text else None,
        entities=[e.model_dump(exclude_none=True) for e in entities or []] if keep_text else [],
        sent_at=int(message.date.timestamp()) if message.date else None,
    )


def revision(message: Message, update: Update) -> int:
    """Which version of an edited message this is; 0 for the message as first sent.

    Telegram gives the edit time in whole seconds, so two edits within one second share it; the
    update's id, which grows from one update to the next, tells them apart. A later edit always
    gets a greater revision, and the same edit delivered again gets the same one."""
    edited = message.edit_date
    if edited is None:
        return 0
    seconds = int(edited.timestamp()) if hasattr(edited, "timestamp") else int(edited)
    return seconds * 2**31 + update.update_id % 2**31
