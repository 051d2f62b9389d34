"""The Bot API specification the fake server checks every request against.

Read from the team's shared copy (../shared/telegram-bot-api/api.json, Bot API 10.1); it is never
copied into this repository. Where that file is absent, aiogram's own method models stand in.
"""

from __future__ import annotations

import inspect
import json
import os
import types
import typing
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from bot.paths import PROJECT_ROOT

SPEC_PATH = Path(
    os.environ.get(
        "TELEGRAM_BOT_API_SPEC", PROJECT_ROOT.parent / "shared" / "telegram-bot-api" / "api.json"
    )
)


@dataclass(frozen=True)
class MethodSpec:
    name: str
    required: frozenset[str]
    known: frozenset[str]
    types: dict[str, list[str]] = field(default_factory=dict)
    returns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiSpec:
    source: str
    methods: dict[str, MethodSpec]
    types: dict[str, dict[str, Any]]

    def check_call(self, method: str, params: dict[str, Any]) -> list[str]:
        """Every way this call breaks the specification, as readable lines."""
        spec = self.methods.get(method)
        if spec is None:
            return [f"{method}: no such Bot API method"]
        problems = [
            f"{method}: required parameter {name!r} missing"
            for name in sorted(spec.required - params.keys())
        ]
        problems += [
            f"{method}: unknown parameter {name!r}" for name in sorted(params.keys() - spec.known)
        ]
        update_kinds = {f["name"] for f in self.types.get("Update", {}).get("fields", [])}
        if update_kinds and isinstance(params.get("allowed_updates"), list):
            problems += [
                f"{method}: allowed_updates names no Update field {kind!r}"
                for kind in params["allowed_updates"]
                if kind not in update_kinds
            ]
        return problems

    def check_object(self, type_name: str, value: Any, path: str = "") -> list[str]:
        """Required fields of a type the fake returns, checked recursively."""
        fields = self.types.get(type_name, {}).get("fields")
        if fields is None or not isinstance(value, dict):
            return []
        problems = []
        for spec_field in fields:
            name = spec_field["name"]
            where = f"{path}{type_name}.{name}"
            if name not in value:
                if spec_field.get("required"):
                    problems.append(f"fake response lacks {where}")
                continue
            kinds = spec_field.get("types", [])
            if len(kinds) == 1 and kinds[0] in self.types:
                problems += self.check_object(kinds[0], value[name], f"{path}")
        unknown = value.keys() - {f["name"] for f in fields}
        problems += [f"fake response has unknown field {type_name}.{name}" for name in unknown]
        return problems


def _from_file(path: Path) -> ApiSpec:
    raw = json.loads(path.read_text(encoding="utf-8"))
    methods = {}
    for name, method in raw["methods"].items():
        fields = method.get("fields", [])
        methods[name] = MethodSpec(
            name=name,
            required=frozenset(f["name"] for f in fields if f.get("required")),
            known=frozenset(f["name"] for f in fields),
            types={f["name"]: f.get("types", []) for f in fields},
            returns=tuple(method.get("returns", [])),
        )
    return ApiSpec(
        source=f"{raw.get('version', '?')} from {path}", methods=methods, types=raw["types"]
    )


def _spec_type_names(returning: Any) -> tuple[str, ...]:
    """aiogram's result type in the specification's words: "Boolean", "Message",
    "Array of Update"; a union gives each of its members."""
    origin = typing.get_origin(returning)
    if origin in (typing.Union, types.UnionType):
        return tuple(
            name for member in typing.get_args(returning) for name in _spec_type_names(member)
        )
    if origin is list:
        (item,) = typing.get_args(returning)
        return tuple(f"Array of {name}" for name in _spec_type_names(item))
    scalars = {bool: "Boolean", int: "Integer", str: "String", float: "Float"}
    if returning in scalars:
        return (scalars[returning],)
    return (getattr(returning, "__name__", str(returning)),)


def _from_aiogram() -> ApiSpec:
    from aiogram import methods as aiogram_methods
    from aiogram.methods.base import TelegramMethod

    specs = {}
    for _, cls in inspect.getmembers(aiogram_methods, inspect.isclass):
        if not issubclass(cls, TelegramMethod) or cls is TelegramMethod:
            continue
        api_name = getattr(cls, "__api_method__", None)
        if not api_name:
            continue
        model_fields = cls.model_fields
        specs[api_name] = MethodSpec(
            name=api_name,
            required=frozenset(n for n, f in model_fields.items() if f.is_required()),
            known=frozenset(model_fields),
            returns=_spec_type_names(cls.__returning__),
        )
    return ApiSpec(source="aiogram's method models (fallback)", methods=specs, types={})


@cache
def load_spec() -> ApiSpec:
    if SPEC_PATH.is_file():
        return _from_file(SPEC_PATH)
    warnings.warn(
        f"Bot API spec not found at {SPEC_PATH}; checking calls against aiogram's own method "
        "models instead",
        stacklevel=2,
    )
    return _from_aiogram()
