"""Router filters on who is speaking, as the identity middleware found them."""

from typing import Any

from aiogram.filters import Filter
from aiogram.types import TelegramObject

from storage.models import Role


class HasRole(Filter):
    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)

    async def __call__(self, event: TelegramObject, role: Role | None = None) -> bool:
        return role in self.roles


class IsUnknown(Filter):
    async def __call__(self, event: TelegramObject, **data: Any) -> bool:
        return data.get("person") is None
