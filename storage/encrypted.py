"""Encryption at rest of what people wrote: column types that seal on write and open on read.

Optional: with no keys (ENCRYPTION_KEYS unset) values are stored as they are, as before. With
keys, every non-empty value is sealed with AES-256-GCM under the first (newest) key; any key of
the list opens. A sealed value reads `hwe1$<key id>$<base64url(nonce | ciphertext | tag)>`: the
version and key id are authenticated too. A value without the prefix is a plain row written
before keys were set, and reads as it is. Empty values ("" and {}) and NULL stay as they are,
so "holds something" tests in SQL (the retention purge) keep working.

A sealed value that no configured key opens raises `UnreadableValue`, naming the column and the
key id, never the value: the bot never shows garbage. The keys belong to an engine
(`use_keyring`), so two engines in one process may hold different keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import JSON, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeDecorator

MARK = "hwe1$"  # version 1: AES-256-GCM, 96-bit random nonce
# A plain value written without keys that happens to look sealed is stored behind this mark,
# so that it can never be mistaken for a sealed one.
PLAIN_MARK = "hwp$"
_NONCE = 12
_KEY_BYTES = 32


class EncryptionError(Exception):
    """A key is malformed or missing; the message names what, never a value or a key."""


class UnreadableValue(EncryptionError):
    """A stored value that the configured keys cannot open."""


def new_key() -> str:
    """A fresh key as ENCRYPTION_KEYS takes it: 32 random bytes, base64url."""
    return base64.urlsafe_b64encode(os.urandom(_KEY_BYTES)).decode()


def _key_id(key: bytes) -> str:
    # Derived, so that the environment holds keys only; 8 hex digits tell keys apart in a
    # value and in messages without revealing anything of the key.
    return hmac.new(key, b"homeward key id", hashlib.sha256).hexdigest()[:8]


@dataclass(frozen=True)
class Keyring:
    """The configured keys, newest first: the first seals, every one opens."""

    keys: tuple[tuple[str, AESGCM], ...]

    @classmethod
    def from_setting(cls, text: str) -> Keyring | None:
        """ENCRYPTION_KEYS: comma-separated base64url keys, newest first; empty: none."""
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if not parts:
            return None
        keys: list[tuple[str, AESGCM]] = []
        for position, part in enumerate(parts, start=1):
            try:
                raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != _KEY_BYTES:
                raise EncryptionError(
                    f"key {position} is not 32 bytes in base64url; "
                    "make one with: python -m storage.encrypted"
                )
            keys.append((_key_id(raw), AESGCM(raw)))
        ids = [key_id for key_id, _ in keys]
        if len(set(ids)) != len(ids):
            raise EncryptionError("the same key is listed twice")
        return cls(tuple(keys))

    @cached_property
    def _by_id(self) -> dict[str, AESGCM]:
        return dict(self.keys)

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    @property
    def ids(self) -> list[str]:
        return [key_id for key_id, _ in self.keys]

    def seal(self, plaintext: str) -> str:
        key_id, cipher = self.keys[0]
        header = f"{MARK}{key_id}$"
        nonce = os.urandom(_NONCE)
        sealed = cipher.encrypt(nonce, plaintext.encode(), header.encode())
        return header + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, stored: str, where: str) -> str:
        key_id, body = _parts(stored, where)
        cipher = self._by_id.get(key_id)
        if cipher is None:
            raise UnreadableValue(
                f"{where}: a value is encrypted with key {key_id}, which ENCRYPTION_KEYS "
                f"does not hold (it holds {', '.join(self.ids)})"
            )
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return cipher.decrypt(raw[:_NONCE], raw[_NONCE:], f"{MARK}{key_id}$".encode()).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise UnreadableValue(
                f"{where}: a value under key {key_id} fails authentication: "
                "the key is wrong or the value was altered"
            ) from None


def key_of(stored: str) -> str | None:
    """The id of the key a stored value is sealed with; None for a plain value."""
    if not stored.startswith(MARK):
        return None
    return stored[len(MARK) :].split("$", 1)[0]


def _parts(stored: str, where: str) -> tuple[str, str]:
    key_id, separator, body = stored[len(MARK) :].partition("$")
    if not separator or not key_id or not body:
        raise UnreadableValue(f"{where}: a value carries the encryption mark but is malformed")
    return key_id, body


def seal_text(keyring: Keyring | None, value: str) -> str:
    """What a text column stores for `value`."""
    if value == "":
        return value
    if keyring is not None:
        return keyring.seal(value)
    if value.startswith((MARK, PLAIN_MARK)):
        return PLAIN_MARK + value
    return value


def open_text(keyring: Keyring | None, stored: str, where: str) -> str:
    """The text a stored value holds: opened, unmarked, or as it is (a plain row)."""
    if stored.startswith(PLAIN_MARK):
        return stored[len(PLAIN_MARK) :]
    if not stored.startswith(MARK):
        return stored
    if keyring is None:
        raise UnreadableValue(
            f"{where}: a value is encrypted with key {key_of(stored)}, "
            "but ENCRYPTION_KEYS is not set"
        )
    return keyring.open(stored, where)


def dialog_codec(keyring: Keyring | None) -> tuple[Callable[[Any], str], Callable[[str], Any]]:
    """`json_dumps` and `json_loads` for aiogram's RedisStorage: dialog state in Redis sealed
    as in `fsm_records` (it may hold a receipt's description half-way through the wizard)."""

    def dumps(value: Any) -> str:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return keyring.seal(text) if keyring is not None else text

    def loads(stored: str) -> Any:
        return json.loads(open_text(keyring, stored, "redis dialog state"))

    return dumps, loads


# The keys of each engine, found through the dialect the column types are handed.
_keyrings: weakref.WeakKeyDictionary[Dialect, Keyring] = weakref.WeakKeyDictionary()


def use_keyring(engine: AsyncEngine, keyring: Keyring | None) -> None:
    """Values written through `engine` are sealed with `keyring` (None: stored plain)."""
    dialect = engine.sync_engine.dialect
    if keyring is None:
        _keyrings.pop(dialect, None)
    else:
        _keyrings[dialect] = keyring


def keyring_of(engine: AsyncEngine) -> Keyring | None:
    return _keyrings.get(engine.sync_engine.dialect)


class EncryptedText(TypeDecorator[str]):
    """TEXT holding sealed words when keys are set. `where` names the column in errors."""

    impl = Text
    cache_ok = True

    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else seal_text(_keyrings.get(dialect), value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else open_text(_keyrings.get(dialect), value, self.where)


class EncryptedJSON(TypeDecorator[Any]):
    """JSON whose non-empty value is stored as one sealed JSON string when keys are set; a
    plain row (an object) reads as it is. The column stays JSON: no migration."""

    impl = JSON
    cache_ok = True

    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        keyring = _keyrings.get(dialect)
        if not value or keyring is None:
            return value
        return keyring.seal(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and value.startswith(MARK):
            return json.loads(open_text(_keyrings.get(dialect), value, self.where))
        return value


if __name__ == "__main__":
    print(new_key())  # `python -m storage.encrypted`: a new key for ENCRYPTION_KEYS
