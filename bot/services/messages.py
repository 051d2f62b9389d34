"""A message as the relay rules see it: who wrote where, what kind, and words only where the bot
adds its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict


class Entity(BaseModel):
    """A Telegram message entity, as aiogram dumps it (type, offset, length, and the fields
    some types carry: url, user, language, custom_emoji_id...)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str
    offset: int
    length: int


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


def entities_of(message: Incoming, shift: int = 0) -> list[Entity]:
    """The message's entities, moved `shift` UTF-16 units on (past a header the bot puts first)."""
    return [
        Entity.model_validate({**entity, "offset": int(entity["offset"]) + shift})
        for entity in message.entities
    ]
