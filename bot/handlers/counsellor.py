"""Counsellors (contact persons in the sending country) in their private chat with the bot."""

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.filters import HasRole
from bot.handlers.welcome import counsellor_cases_text
from storage.models import Person, Role


async def list_cases(message: Message, session: AsyncSession, person: Person) -> None:
    await message.answer(await counsellor_cases_text(session, person))


async def counsellor_help(message: Message) -> None:
    await message.answer(
        _(
            "Homeward lets you reach the country office of your returnees directly.\n"
            "/cases shows your cases."
        )
    )


def build_router() -> Router:
    router = Router(name="counsellor")
    router.message.filter(HasRole(Role.COUNSELLOR))
    router.message.register(list_cases, Command("cases"))
    router.message.register(counsellor_help)
    return router
