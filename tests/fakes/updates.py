"""Updates as Telegram could send them, of every kind, made from the Bot API specification.

The specification (tests/fakes/spec.py: the team's shared api.json, read at run time) says which
update kinds and which message kinds exist and what each object holds; where that file is absent,
aiogram's own models stand in. The senders and chats are the actors of a world the caller
describes (`Cast`), so that generated updates reach the bot's handlers and not only its answer to
strangers. Every free text a person writes (texts, captions, names, titles, questions) carries a
marker (`MARKER`), so that a test can tell whether any of it reached a log.

One generator serves two drivers: Hypothesis (`updates()`, a strategy that shrinks) and a plain
seeded random source (`RandomSource`) for the 100,000-update benchmark, through `Source`.
"""

from __future__ import annotations

import itertools
import random
import re
import time
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

from tests.fakes.spec import load_spec

T = TypeVar("T")

MARKER = "ZQM"  # then six digits; searched for case-insensitively (usernames are lower case)
MARKER_PATTERN = re.compile(r"zqm\d{6}", re.IGNORECASE)
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the Bot API's getFile limit
TEXT_LIMIT = 4096
_markers = itertools.count(1)
# Ids of generated messages and updates: far above the fake's own, never repeated in a process.
_ids = itertools.count(100_000_000)

# Characters that break naive text handling: zero-width and invisible ones (aiogram-dialog's
# own markers among them), bidirectional controls, right-to-left letters, combining marks,
# astral emoji (two UTF-16 units each), line breaks, and HTML/Markdown syntax.
ODD = (
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    "\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u0301\u034f"
)
RTL = "مرحباשלוםسلامکیاہے"
PLAIN = "abc xyz ÄÖÜ ăîșț 0123 .,!?"
SYNTAX = "<b></b>&amp;*_[]()~`>#+-=|{}.!\\/@$%"
ASTRAL = "😀👍🏽🇷🇴𝄞\U0001d173\U0001d17a"
ALPHABET = ODD + RTL + PLAIN + SYNTAX + ASTRAL + "\n\t"


class Source(Protocol):
    """Where the generator's choices come from."""

    def integer(self, low: int, high: int) -> int: ...

    def chance(self, probability: float) -> bool: ...

    def choice(self, options: Sequence[T]) -> T: ...

    def text(self, alphabet: str, low: int, high: int) -> str: ...


class RandomSource:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def integer(self, low: int, high: int) -> int:
        return self.random.randint(low, high)

    def chance(self, probability: float) -> bool:
        return self.random.random() < probability

    def choice(self, options: Sequence[T]) -> T:
        return options[self.random.randrange(len(options))]

    def text(self, alphabet: str, low: int, high: int) -> str:
        size = self.random.randint(low, high)
        return "".join(self.random.choice(alphabet) for _ in range(size))


class DrawSource:
    """Hypothesis's draws: failures shrink towards the first option and the smallest number."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self.draw = draw

    def integer(self, low: int, high: int) -> int:
        return int(self.draw(st.integers(low, high)))

    def chance(self, probability: float) -> bool:
        return bool(self.draw(st.integers(0, 999)) < probability * 1000)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.integer(0, len(options) - 1)]

    def text(self, alphabet: str, low: int, high: int) -> str:
        return str(self.draw(st.text(st.sampled_from(alphabet), min_size=low, max_size=high)))


# ---- the specification, or aiogram's models --------------------------------------------------


@cache
def spec_types() -> dict[str, dict[str, Any]]:
    """Type name: {"fields": [{"name", "types", "required", "description"}]} or {"subtypes"}."""
    loaded = load_spec().types
    return loaded if loaded else _types_from_aiogram()


def _aiogram_type_names(annotation: Any) -> list[str]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:  # a discriminated union
        return _aiogram_type_names(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [
            name
            for member in typing.get_args(annotation)
            if member is not type(None)
            for name in _aiogram_type_names(member)
        ]
    if origin is list:
        (item,) = typing.get_args(annotation)
        return [f"Array of {name}" for name in _aiogram_type_names(item)]
    if origin is typing.Literal:
        return ["String"]
    names = {bool: "Boolean", int: "Integer", str: "String", float: "Float"}
    if annotation in names:
        return [names[annotation]]
    if getattr(annotation, "__name__", "") == "datetime":
        return ["Integer"]
    return [getattr(annotation, "__name__", "String")]


def _types_from_aiogram() -> dict[str, dict[str, Any]]:
    """The same shape from aiogram's models: a discriminator's fixed value (a Literal default)
    becomes the specification's 'always "x"' sentence."""
    from aiogram import types as aiogram_types
    from aiogram.types.base import TelegramObject

    found: dict[str, dict[str, Any]] = {}
    for name in dir(aiogram_types):
        model = getattr(aiogram_types, name)
        if not (isinstance(model, type) and issubclass(model, TelegramObject)):
            continue
        if model is TelegramObject:
            continue
        fields = []
        for field_name, info in model.model_fields.items():
            annotation = info.annotation
            description = ""
            fixed = typing.get_origin(annotation) is typing.Literal
            if fixed:
                value = typing.get_args(annotation)[0]
                description = f'always "{getattr(value, "value", value)}"'
            fields.append(
                {
                    "name": info.alias or field_name,
                    "types": _aiogram_type_names(annotation),
                    # aiogram gives a discriminator a default; Telegram always sends it
                    "required": info.is_required() or fixed,
                    "description": description,
                }
            )
        found[name] = {"fields": fields}
    # The unions the specification names, as aiogram's Message annotations spell them.
    for union in ("MessageOrigin", "ChatMember", "ReactionType", "PaidMedia", "BackgroundType"):
        members = [n for n in found if n.startswith(union) and n != union]
        if members:
            found[union] = {"subtypes": members}
    found["MaybeInaccessibleMessage"] = {"subtypes": ["Message", "InaccessibleMessage"]}
    return found


def _fields(type_name: str) -> list[dict[str, Any]]:
    return list(spec_types().get(type_name, {}).get("fields", []))


def update_kinds() -> list[str]:
    return [f["name"] for f in _fields("Update") if f["name"] != "update_id"]


# A message's envelope and decorations; every other field of Message is a kind of content.
ENVELOPE = frozenset(
    {
        "message_id",
        "message_thread_id",
        "direct_messages_topic",
        "from",
        "sender_chat",
        "sender_boost_count",
        "sender_business_bot",
        "sender_tag",
        "date",
        "guest_query_id",
        "business_connection_id",
        "chat",
        "forward_origin",
        "is_topic_message",
        "is_automatic_forward",
        "reply_to_message",
        "external_reply",
        "quote",
        "reply_to_story",
        "reply_to_checklist_task_id",
        "reply_to_poll_option_id",
        "via_bot",
        "guest_bot_caller_user",
        "guest_bot_caller_chat",
        "edit_date",
        "has_protected_content",
        "is_from_offline",
        "is_paid_post",
        "media_group_id",
        "author_signature",
        "paid_star_count",
        "entities",
        "link_preview_options",
        "suggested_post_info",
        "effect_id",
        "caption",
        "caption_entities",
        "show_caption_above_media",
        "has_media_spoiler",
        "reply_markup",
    }
)
DECORATIONS = (
    "forward_origin",
    "reply_to_message",
    "external_reply",
    "quote",
    "via_bot",
    "has_protected_content",
    "is_from_offline",
    "media_group_id",
    "author_signature",
    "link_preview_options",
    "effect_id",
    "reply_markup",
    "sender_boost_count",
    "show_caption_above_media",
    "has_media_spoiler",
)
MEDIA = ("animation", "audio", "document", "photo", "video", "voice", "paid_media", "live_photo")
COMMON = ("text", "text", "text", "photo", "document", "voice", "video", "sticker", "location")
# Free text a person writes or names: marked, so that a leak into a log is found.
PERSONAL = frozenset(
    {
        "text",
        "caption",
        "first_name",
        "last_name",
        "title",
        "question",
        "description",
        "name",
        "query",
        "phone_number",
        "address",
        "button_text",
        "file_name",
        "performer",
        "prize_description",
        "author_signature",
        "bio",
        "vcard",
        "explanation",
        "data",  # a mini app's data
    }
)


def message_kinds() -> list[str]:
    return [f["name"] for f in _fields("Message") if f["name"] not in ENVELOPE]


# ---- the world the updates come from --------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    key: str
    telegram_id: int  # 0: a stranger with a new id each time
    is_bot: bool = False


@dataclass(frozen=True)
class Place:
    key: str
    chat_id: int  # 0: the sender's private chat
    thread: int | None = None


@dataclass
class Cast:
    actors: Sequence[Actor]
    places: Sequence[Place]
    bot_user: dict[str, Any]
    commands: Sequence[str] = ("start", "help")
    callback_data: Sequence[str] = ()  # real data of real buttons, to be bent
    channel_id: int = -1007770001
    home: dict[str, str] = field(default_factory=dict)  # actor key: the place they usually write

    def place(self, key: str) -> Place:
        return next(p for p in self.places if p.key == key)


@dataclass
class Generated:
    """One update, and what it is for the report and the properties."""

    kind: str  # the update's field: "message", "callback_query"...
    detail: str  # the message kind, or the update kind again
    actor: str
    place: str
    update: dict[str, Any]
    markers: list[str] = field(default_factory=list)


class Generator:
    def __init__(self, source: Source, cast: Cast) -> None:
        self.s = source
        self.cast = cast
        self.markers: list[str] = []
        self.now = int(time.time())

    # -- small values --
    def marker(self) -> str:
        made = f"{MARKER}{next(_markers) % 1_000_000:06d}"
        self.markers.append(made)
        return made

    def new_id(self) -> int:
        return next(_ids)

    def free_text(self, limit: int = TEXT_LIMIT) -> str:
        """Marked text: short and odd, or long (up to the limit, in UTF-16 units)."""
        body = self.s.text(ALPHABET, 0, 12)
        if self.s.chance(0.15):  # long: a chunk repeated, within Telegram's limit
            chunk = self.s.text(ALPHABET, 1, 8) or "x"
            body = chunk * (limit // max(1, utf16_length(chunk)) + 1)
        marked = self.marker() + " " + body
        return cut_to(marked, limit)

    def entities(self, text: str) -> list[dict[str, Any]]:
        """Entities inside the text (UTF-16 offsets on character boundaries), up to 100."""
        bounds = [0]
        for char in text:
            bounds.append(bounds[-1] + utf16_length(char))
        if len(bounds) < 2:
            return []
        count = self.s.integer(0, 100) if self.s.chance(0.3) else self.s.integer(0, 3)
        kinds = entity_types()
        made = []
        for _ in range(count):
            start = self.s.integer(0, len(bounds) - 2)
            end = self.s.integer(start + 1, min(len(bounds) - 1, start + 40))
            kind = self.s.choice(kinds)
            entity: dict[str, Any] = {
                "type": kind,
                "offset": bounds[start],
                "length": bounds[end] - bounds[start],
            }
            if kind == "text_link":
                entity["url"] = self.s.choice(("https://example.org/x", "tg://user?id=1"))
            elif kind == "text_mention":
                entity["user"] = self.user()
            elif kind == "pre" and self.s.chance(0.5):
                entity["language"] = self.s.choice(("python", "", "<b>"))
            elif kind == "custom_emoji":
                entity["custom_emoji_id"] = str(self.s.integer(1, 10**18))
            elif kind == "date_time":
                entity["unix_time"] = self.now
            made.append(entity)
        return made

    def user(self, actor: Actor | None = None, *, in_group: bool = True) -> dict[str, Any]:
        actor = actor or self.s.choice(self.cast.actors)
        user_id = actor.telegram_id or self.s.integer(10_000_000, 9_999_999_999)
        made: dict[str, Any] = {
            "id": user_id,
            "is_bot": actor.is_bot,
            "first_name": self.free_text(64),
        }
        if self.s.chance(0.5):
            made["last_name"] = self.free_text(64)
        if self.s.chance(0.5):
            made["username"] = f"{self.marker().lower()}_{self.s.integer(0, 999)}"
        if self.s.chance(0.7):
            made["language_code"] = self.s.choice(("en", "ro", "ar", "fa", "xx", "en-US", ""))
        if self.s.chance(0.1):
            made["is_premium"] = True
        return made

    def chat_of(self, place: Place, user: dict[str, Any]) -> dict[str, Any]:
        if place.chat_id == 0:
            return {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        return {
            "id": place.chat_id,
            "type": "supergroup",
            "title": self.free_text(128),
            "is_forum": True,
        }

    def channel(self) -> dict[str, Any]:
        return {"id": self.cast.channel_id, "type": "channel", "title": self.free_text(128)}

    # -- generic objects, from the specification --
    def value(self, type_names: Sequence[str], name: str, depth: int, description: str) -> Any:
        type_name = self.s.choice(list(type_names))
        if type_name.startswith("Array of "):
            inner = type_name.removeprefix("Array of ")
            size = 0 if depth > 5 else self.s.integer(0 if depth > 1 else 1, 3 if depth < 3 else 1)
            return [self.value([inner], name, depth + 1, "") for _ in range(size)]
        fixed = re.search(r'[Aa]lways "([^"]+)"', description) or re.search(
            r"[Aa]lways (\d+)", description
        )
        if fixed:
            return int(fixed.group(1)) if type_name == "Integer" else fixed.group(1)
        if type_name == "Integer":
            return self.integer(name)
        if type_name == "Float":
            return self.s.choice((0.0, 44.43, -180.0, 90.0, 1e-9))
        if type_name == "Boolean":
            return self.s.chance(0.5)
        if type_name == "True":
            return True
        if type_name == "String":
            return self.string(name, description)
        if type_name == "User":
            return self.user()
        if type_name == "Chat":
            return self.chat_of(self.s.choice(self.cast.places), self.user())
        if type_name in ("Message", "MaybeInaccessibleMessage"):
            return self.small_message(depth)
        return self.obj(type_name, depth + 1)

    def integer(self, name: str) -> int:
        if name == "date" or name.endswith("_date") or name == "unix_time":
            return self.now - self.s.integer(0, 86_400)
        if name == "file_size":
            return self.s.choice((1, 1024, DOWNLOAD_LIMIT, DOWNLOAD_LIMIT + 1, 2**31))
        if name in ("offset", "length", "width", "height", "duration", "count", "value"):
            return self.s.integer(0, 4096)
        return self.s.choice((0, 1, 7, -1, 2**31 - 1, self.s.integer(-(2**40), 2**40)))

    def string(self, name: str, description: str) -> str:
        if name in PERSONAL:
            return self.free_text(1024 if name != "text" else TEXT_LIMIT)
        quoted = re.findall(r'"([a-z_]+)"', description)
        if quoted and name in ("type", "status", "source", "emoji", "format", "chat_type"):
            return self.s.choice(quoted)
        if name == "emoji":
            return self.s.choice(("🎲", "👍", "❤", "🎯"))
        if name == "currency":
            return self.s.choice(("XTR", "EUR", "RON"))
        return self.s.text(PLAIN + ODD, 0, 16) or "id"

    def obj(self, type_name: str, depth: int) -> Any:
        described = spec_types().get(type_name)
        if described is None or depth > 8:  # cycles of required fields end here
            return {}
        if "subtypes" in described and "fields" not in described:
            return self.value(described["subtypes"], type_name, depth, "")
        made = {}
        for spec_field in described.get("fields", []):
            name = spec_field["name"]
            wanted = spec_field.get("required") or (depth < 3 and self.s.chance(0.3))
            if wanted:
                made[name] = self.value(
                    spec_field.get("types") or ["String"],
                    name,
                    depth,
                    spec_field.get("description", ""),
                )
        return made

    # -- messages --
    def envelope(self, actor: Actor, place: Place) -> dict[str, Any]:
        sender = self.user(actor, in_group=place.chat_id != 0)
        chat = self.chat_of(place, sender)
        message: dict[str, Any] = {
            "message_id": self.new_id(),
            "date": self.now - self.s.integer(0, 3600),
            "chat": chat,
            "from": sender,
        }
        if place.thread is not None:
            message["message_thread_id"] = place.thread
            message["is_topic_message"] = True
            message["reply_to_message"] = {
                "message_id": place.thread,
                "date": self.now - 86_400,
                "chat": chat,
                "from": self.cast.bot_user,
                "forum_topic_created": {"name": self.free_text(128), "icon_color": 7322096},
            }
        return message

    def small_message(self, depth: int) -> dict[str, Any]:
        """A message quoted inside another (replied to, pinned): its envelope and a text."""
        actor = self.s.choice(self.cast.actors)
        message = self.envelope(actor, self.s.choice(self.cast.places))
        message.pop("reply_to_message", None)
        if depth < 3 and self.s.chance(0.5):
            message["text"] = self.free_text(256)
        elif self.s.chance(0.5):
            message["date"] = 0  # an inaccessible message
            message.pop("from", None)
        return message

    def text_content(self) -> dict[str, Any]:
        shape = self.s.choice(("plain", "plain", "start", "command", "callback-like"))
        if shape == "start":
            payload = self.s.choice(
                (
                    "",
                    self.s.text(PLAIN + ODD + RTL, 0, 80),
                    "A" * 4000,
                    "x" * 64,
                    "../../etc/passwd",
                    "%00%ff",
                    "tok" + self.marker(),
                )
            )
            text = cut_to(f"/start {payload}" if payload else "/start", TEXT_LIMIT)
        elif shape == "command":
            command = self.s.choice(list(self.cast.commands))
            mention = self.s.choice(("", "@homeward_test_bot", "@other_bot"))
            text = cut_to(f"/{command}{mention} {self.free_text(200)}", TEXT_LIMIT)
        elif shape == "callback-like" and self.cast.callback_data:
            text = self.s.choice(list(self.cast.callback_data)) + " " + self.marker()
        else:
            text = self.free_text()
        entities = self.entities(text)
        if text.startswith("/"):
            first = text.split(" ", 1)[0]
            entities.insert(0, {"type": "bot_command", "offset": 0, "length": utf16_length(first)})
        made: dict[str, Any] = {"text": text}
        if entities:
            made["entities"] = entities
        return made

    def content(self, kind: str) -> dict[str, Any]:
        if kind == "text":
            return self.text_content()
        spec_field = next(f for f in _fields("Message") if f["name"] == kind)
        made = {kind: self.value(spec_field["types"], kind, 1, spec_field.get("description", ""))}
        if kind in MEDIA and self.s.chance(0.5):
            caption = self.free_text(1024)
            made["caption"] = caption
            entities = self.entities(caption)
            if entities:
                made["caption_entities"] = entities
        return made

    def message_kind(self) -> str:
        """Half of them what people send most, the other half any kind there is."""
        if self.s.chance(0.5):
            return self.s.choice(COMMON)
        return self.s.choice(message_kinds())

    def message(self, actor: Actor, place: Place, kind: str) -> dict[str, Any]:
        message = self.envelope(actor, place)
        message.update(self.content(kind))
        for decoration in DECORATIONS:
            if self.s.chance(0.04):
                spec_field = next((f for f in _fields("Message") if f["name"] == decoration), None)
                if spec_field is not None and decoration != "reply_to_message":
                    message[decoration] = self.value(
                        spec_field["types"], decoration, 2, spec_field.get("description", "")
                    )
                elif decoration == "reply_to_message" and place.thread is None:
                    message[decoration] = self.small_message(2)
        return message

    # -- updates --
    def callback_query(self, actor: Actor, place: Place) -> dict[str, Any]:
        presser = self.user(actor, in_group=place.chat_id != 0)
        bot_message = self.envelope(actor, place)
        bot_message["from"] = self.cast.bot_user
        bot_message["text"] = "A message of the bot's"
        query: dict[str, Any] = {
            "id": str(self.new_id()),
            "from": presser,
            "chat_instance": str(self.s.integer(-(2**62), 2**62)),
        }
        where = self.s.choice(("message", "message", "message", "inaccessible", "inline"))
        if where == "message":
            query["message"] = bot_message
        elif where == "inaccessible":
            query["message"] = {"chat": bot_message["chat"], "message_id": 1, "date": 0}
        else:
            query["inline_message_id"] = self.s.text(PLAIN, 1, 20)
        if self.s.chance(0.05):
            query["game_short_name"] = self.s.text(PLAIN, 1, 10)
        else:
            query["data"] = self.callback_data()
        return query

    def callback_data(self) -> str:
        real = list(self.cast.callback_data) or ["rc:1:full"]
        base = self.s.choice(real)
        bent = self.s.choice(
            (
                base,
                base + ":",
                base.split(":")[0] + ":",
                base.replace("1", "-1"),
                base + ":" + "9" * 30,
                base.split(":")[0] + ":" + self.s.text(PLAIN + ODD + RTL, 0, 30),
                "",
                ":" * 5,
                "\x00",
                self.s.text(ALPHABET, 0, 64),
                "0" * 64,
                base[:-1],
            )
        )
        return cut_utf8(bent, 64)  # Telegram's limit: 1-64 bytes

    def update(self, kind: str | None = None) -> Generated:
        self.markers = []
        if kind is None:  # mostly what people do most: write, edit, press
            common = self.s.choice(("message", "message", "edited_message", "callback_query"))
            kind = common if self.s.chance(0.6) else self.s.choice(update_kinds())
        actor = self.s.choice(self.cast.actors)
        place = self.s.choice(self.cast.places)
        if self.s.chance(0.6):  # where this actor usually is
            place = self.cast.place(self.cast.home.get(actor.key, place.key))
        detail = kind
        payload: Any
        if kind in ("message", "edited_message", "business_message", "edited_business_message"):
            if kind.startswith(("business", "edited_business")):
                place = Place("private", 0)
            detail = self.message_kind()
            payload = self.message(actor, place, detail)
            if kind.startswith("edited"):
                payload["edit_date"] = payload["date"] + self.s.integer(0, 60)
            if "business" in kind:
                payload["business_connection_id"] = self.s.text(PLAIN, 1, 16)
        elif kind in ("channel_post", "edited_channel_post", "guest_message"):
            detail = self.message_kind()
            payload = self.message(actor, place, detail)
            if kind != "guest_message":
                payload["chat"] = self.channel()
                payload.pop("from", None)
                payload["sender_chat"] = payload["chat"]
                payload.pop("message_thread_id", None)
                payload.pop("is_topic_message", None)
                payload.pop("reply_to_message", None)
            else:
                payload["guest_query_id"] = self.s.text(PLAIN, 1, 16)
            if kind.startswith("edited"):
                payload["edit_date"] = payload["date"]
        elif kind == "callback_query":
            payload = self.callback_query(actor, place)
        elif kind in ("my_chat_member", "chat_member", "chat_join_request"):
            payload = self.obj(spec_type_of(kind), 1)
            if place.chat_id:
                payload["chat"] = self.chat_of(place, self.user())
            payload["from"] = self.user(actor)
            if kind == "my_chat_member":
                for side in ("old_chat_member", "new_chat_member"):
                    if isinstance(payload.get(side), dict) and self.s.chance(0.7):
                        payload[side]["user"] = self.cast.bot_user
        else:
            payload = self.obj(spec_type_of(kind), 1)
            if isinstance(payload, dict):
                for who in ("from", "user"):
                    if who in payload:
                        payload[who] = self.user(actor)
        return Generated(
            kind=kind,
            detail=detail,
            actor=actor.key,
            place=place.key,
            update={"update_id": self.new_id(), kind: payload},
            markers=list(self.markers),
        )


def spec_type_of(kind: str) -> str:
    spec_field = next(f for f in _fields("Update") if f["name"] == kind)
    return str(spec_field["types"][0])


@cache
def entity_types() -> list[str]:
    spec_field = next((f for f in _fields("MessageEntity") if f["name"] == "type"), None)
    found = re.findall(r'"([a-z_]+)"', spec_field.get("description", "")) if spec_field else []
    return found or ["bold", "italic", "url", "mention", "bot_command", "text_link", "pre"]


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def cut_to(text: str, limit: int) -> str:
    """At most `limit` UTF-16 units, never splitting a character."""
    if utf16_length(text) <= limit:
        return text
    out, used = [], 0
    for char in text:
        used += utf16_length(char)
        if used > limit:
            break
        out.append(char)
    return "".join(out)


def cut_utf8(text: str, limit: int) -> str:
    data = text.encode("utf-8")[:limit]
    return data.decode("utf-8", errors="ignore")


def updates(cast: Cast, kinds: Sequence[str] | None = None) -> st.SearchStrategy[Generated]:
    """Hypothesis strategy: one generated update (of one of `kinds`, or of any kind)."""

    @st.composite
    def one(draw: Callable[[st.SearchStrategy[Any]], Any]) -> Generated:
        source = DrawSource(draw)
        kind = source.choice(list(kinds)) if kinds else None
        return Generator(source, cast).update(kind)

    return one()
