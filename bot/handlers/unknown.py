"""Anyone without an invite gets one polite answer, and nothing about them is stored."""

from aiogram import Router
from aiogram.types import Message

from bot.filters import IsUnknown
from bot.handlers.start import unknown_text


async def unknown_person(message: Message) -> None:
    await message.answer(unknown_text())


def build_router() -> Router:
    router = Router(name="unknown")
    router.message.filter(IsUnknown())
    router.message.register(unknown_person)
    return router
