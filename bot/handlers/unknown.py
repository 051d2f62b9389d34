"""Anyone without an invite gets one polite answer, and nothing about them is stored."""

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.filters import IsUnknown
from bot.once import Once
from dialogs.welcome import unknown_text


async def unknown_person(message: Message, once: Once) -> None:
    # One answer per hour and account, so writing on does not make the bot talk on.
    if message.from_user and once.first_time(("stranger", message.from_user.id)):
        await message.answer(unknown_text())


async def unanswered_button(callback: CallbackQuery) -> None:
    """Any button no handler took (an old message, a stranger): stop the client's spinner."""
    await callback.answer()


def build_router() -> Router:
    router = Router(name="unknown")
    router.message.register(unknown_person, IsUnknown())
    return router


def build_fallback_router() -> Router:
    """Tried after the dialogs, for buttons nobody else took."""
    router = Router(name="fallback")
    router.callback_query.register(unanswered_button)
    return router
