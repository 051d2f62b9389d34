"""Telegram's length limits, and texts cut into parts that fit them.

Telegram counts a message's length in UTF-16 code units, as it counts entity offsets: a letter
counts one, an emoji outside the Basic Multilingual Plane two. A message text may be up to 4,096
units, a caption up to 1,024. What the bot adds (a signature, the counsellor's name, a
correction mark) can push what someone wrote over; such a text goes in parts.

Pure functions, no aiogram: entities are the Bot API's dicts (offset and length in units).
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
ELLIPSIS = "…"

Entity = dict[str, Any]


@dataclass(frozen=True)
class Part:
    """One message's worth of a longer text, with the entities that fall in it."""

    text: str
    entities: list[Entity] = field(default_factory=list)


def utf16_length(text: str) -> int:
    """Telegram counts lengths and entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def fits(text: str, limit: int) -> bool:
    return utf16_length(text) <= limit


def split(text: str, entities: list[Entity], limit: int) -> list[Part]:
    """The text in parts of at most `limit` units that join back to it, in order.

    A part ends before a line break where there is one in the second half of its room, else
    before a space, else between two characters (never inside a surrogate pair, nor before a
    combining mark). The separator starts the next part, where Telegram trims it.
    """
    if fits(text, limit):
        return [Part(text, list(entities))]
    units = _units(text)
    parts = []
    start = 0
    while start < len(text):
        end = _cut(text, units, start, limit)
        parts.append(_part(text, units, entities, start, end))
        start = end
    return parts


def split_head(text: str, entities: list[Entity], limit: int) -> tuple[Part, Part | None]:
    """The longest beginning that fits, cut as `split` cuts, and the rest (None if none)."""
    if fits(text, limit):
        return Part(text, list(entities)), None
    units = _units(text)
    end = _cut(text, units, 0, limit)
    return _part(text, units, entities, 0, end), _part(text, units, entities, end, len(text))


def shortened(text: str, limit: int) -> str:
    """The text, or as much of it as fits in `limit` units followed by "…"."""
    if fits(text, limit):
        return text
    units = _units(text)
    end = bisect_right(units, limit - utf16_length(ELLIPSIS)) - 1
    return text[:end] + ELLIPSIS


def _units(text: str) -> list[int]:
    """units[i]: the UTF-16 length of text[:i]."""
    units = [0]
    for char in text:
        units.append(units[-1] + (2 if ord(char) > 0xFFFF else 1))
    return units


def _cut(text: str, units: list[int], start: int, limit: int) -> int:
    """Where the part that begins at `start` ends (an index into the text)."""
    if limit < 2:
        raise ValueError("a part must have room for any one character")
    end = bisect_right(units, units[start] + limit) - 1  # as far as the limit allows
    if end >= len(text):
        return len(text)
    floor = start + max(1, (end - start) // 2)
    for separator in ("\n", " "):
        # Before the separator, so that one ending exactly at the limit still counts.
        at = text.rfind(separator, floor, end + 1)
        if at > start:
            return at
    # Keep a letter with the marks that follow it (accents, variation selectors, joiners).
    while end - 1 > start and unicodedata.category(text[end]) in ("Mn", "Me", "Cf"):
        end -= 1
    return end


def _part(text: str, units: list[int], entities: list[Entity], start: int, end: int) -> Part:
    """text[start:end], with the entities clipped to it and counted from its beginning."""
    begin, finish = units[start], units[end]
    clipped = []
    for entity in entities:
        low = max(entity["offset"], begin)
        high = min(entity["offset"] + entity["length"], finish)
        if high > low:
            clipped.append({**entity, "offset": low - begin, "length": high - low})
    return Part(text[start:end], clipped)
