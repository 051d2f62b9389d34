"""Cutting texts to Telegram's limits (bot/delivery/split.py): every part fits, nothing is lost."""

from __future__ import annotations

import itertools
import random

import pytest

from bot.delivery.split import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    Part,
    shortened,
    split,
    split_head,
    utf16_length,
)
from bot.services.relay import utf16_length as relay_utf16_length

# Letters, separators, an emoji outside the BMP (two units), an accent and a variation selector.
ALPHABET = ["a", "b", " ", "\n", "😀", "é", "\u0301", "\ufe0f", "✏"]


def entity_text(text: str, entity: dict) -> str:
    """The characters an entity covers, found by its UTF-16 offset and length."""
    raw = text.encode("utf-16-le")
    return raw[2 * entity["offset"] : 2 * (entity["offset"] + entity["length"])].decode("utf-16-le")


def check(text: str, entities: list[dict], limit: int, parts: list[Part]) -> None:
    assert "".join(part.text for part in parts) == text
    assert all(part.text for part in parts)
    assert all(utf16_length(part.text) <= limit for part in parts)
    # Every entity covers, part by part, exactly what it covered in the whole text.
    for entity in entities:
        covered = ""
        for part in parts:
            for clipped in part.entities:
                if clipped["type"] == entity["type"]:
                    assert clipped["offset"] >= 0
                    assert clipped["offset"] + clipped["length"] <= utf16_length(part.text)
                    covered += entity_text(part.text, clipped)
        assert covered == entity_text(text, entity)


def random_text(rng: random.Random, size: int) -> tuple[str, list[dict]]:
    text = "".join(rng.choice(ALPHABET) for _ in range(size))
    units = utf16_length(text)
    entities = []
    # Entities on character boundaries, as Telegram sets them; one of each type, not overlapping.
    boundaries = sorted({utf16_length(text[:i]) for i in range(len(text) + 1)})
    if len(boundaries) > 4:
        points = sorted(rng.sample(boundaries, 4))
        entities = [
            {"type": "bold", "offset": points[0], "length": points[1] - points[0]},
            {"type": "italic", "offset": points[2], "length": points[3] - points[2]},
        ]
        entities = [e for e in entities if e["length"] > 0 and e["offset"] < units]
    return text, entities


def test_the_bot_counts_as_telegram_does():
    assert utf16_length("a") == 1
    assert utf16_length("😀") == 2
    assert utf16_length("✏️") == 2  # a BMP sign and a variation selector
    assert relay_utf16_length is utf16_length  # one way of counting, everywhere


def test_a_text_that_fits_is_one_part_as_it_is():
    entities = [{"type": "bold", "offset": 0, "length": 2}]
    assert split("a" * TEXT_LIMIT, entities, TEXT_LIMIT) == [Part("a" * TEXT_LIMIT, entities)]
    assert split_head("a" * CAPTION_LIMIT, [], CAPTION_LIMIT) == (Part("a" * CAPTION_LIMIT), None)


def test_one_unit_over_makes_two_parts():
    parts = split("a" * (TEXT_LIMIT + 1), [], TEXT_LIMIT)
    assert [len(part.text) for part in parts] == [TEXT_LIMIT, 1]


def test_emoji_count_twice_and_are_never_cut_in_half():
    text = "😀" * (TEXT_LIMIT // 2 + 1)  # 4,098 units
    parts = split(text, [], TEXT_LIMIT)
    assert [part.text for part in parts] == ["😀" * (TEXT_LIMIT // 2), "😀"]
    odd = "a" + "😀" * (TEXT_LIMIT // 2)  # the last whole emoji that fits ends at 4,095
    assert [utf16_length(part.text) for part in split(odd, [], TEXT_LIMIT)] == [4095, 2]


def test_a_part_ends_at_a_line_break_then_at_a_space():
    paragraph = ("word " * 600).strip()  # 2,999 characters
    text = f"{paragraph}\n{paragraph}"
    parts = split(text, [], TEXT_LIMIT)
    assert [part.text for part in parts] == [paragraph, f"\n{paragraph}"]
    words = split(paragraph, [], 1000)
    assert all(part.text.startswith(" ") for part in words[1:])
    assert all(part.text.endswith("word") for part in words[:-1])


def test_an_addition_that_pushes_a_full_caption_over_is_cut_off_whole():
    caption = "x" * CAPTION_LIMIT
    head, rest = split_head(f"{caption}\n\n— IOM RO", [], CAPTION_LIMIT)
    assert head == Part(caption)
    assert rest == Part("\n\n— IOM RO")


def test_entities_are_clipped_and_counted_from_each_part():
    text = "a" * 4090 + "😀" * 10
    bold = {"type": "bold", "offset": 4000, "length": 110}
    parts = split(text, [bold], TEXT_LIMIT)
    # 4,090 letters and 3 emoji fill the first part; the bold runs on into the second.
    assert parts[0].entities == [{"type": "bold", "offset": 4000, "length": 96}]
    assert parts[1].entities == [{"type": "bold", "offset": 0, "length": 14}]
    check(text, [bold], TEXT_LIMIT, parts)


def test_marks_stay_with_their_letter():
    text = "a" * 9 + "e\u0301" + "b"  # the accent would be unit 11
    parts = split(text, [], 10)
    assert [part.text for part in parts] == ["a" * 9, "e\u0301b"]


def test_every_small_text_over_a_small_alphabet_fits_and_joins_back():
    """Exhaustive for short texts: every text of up to 6 characters over five kinds of char."""
    for size in range(1, 7):
        for chars in itertools.product(["a", " ", "\n", "😀", "\u0301"], repeat=size):
            text = "".join(chars)
            for limit in (2, 3, 4):
                check(text, [], limit, split(text, [], limit))
                head, rest = split_head(text, [], limit)
                assert utf16_length(head.text) <= limit
                assert head.text + (rest.text if rest else "") == text


@pytest.mark.parametrize("seed", range(20))
def test_random_texts_fit_and_join_back_with_their_entities(seed):
    rng = random.Random(seed)
    for _ in range(50):
        text, entities = random_text(rng, rng.randint(1, 400))
        for limit in (2, 7, 64, 100):
            check(text, entities, limit, split(text, entities, limit))
            head, rest = split_head(text, entities, limit)
            assert head == split(text, entities, limit)[0]
            check(text, entities, 10**6, [head, *([rest] if rest else [])])


def test_a_quote_is_shortened_to_fit_with_an_ellipsis():
    assert shortened("Ana", 64) == "Ana"
    assert shortened("a" * 64, 64) == "a" * 64
    assert shortened("a" * 65, 64) == "a" * 63 + "…"
    cut = shortened("😀" * 40, 64)
    assert cut == "😀" * 31 + "…"  # no half emoji
    assert utf16_length(cut) == 63


def test_a_limit_without_room_for_one_character_is_refused():
    with pytest.raises(ValueError, match="room"):
        split("😀😀", [], 1)
