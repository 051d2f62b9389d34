"""Anyone without an invite gets one polite answer, and nothing about them is stored."""

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.filters import IsUnknown
from bot.once import Once
from bot.services.unit_of_work import UnitOfWork
from bot.telegram.refusals import chat_of, record_denial
from dialogs.welcome import unknown_text
from storage.models import Person


async def unknown_person(message: Message, once: Once) -> None:
    # One answer per hour and account, so writing on does not make the bot talk on.
    if message.from_user and once.first_time(("stranger", message.from_user.id)):
        await message.answer(unknown_text())


async def unanswered_button(
    callback: CallbackQuery, work: UnitOfWork, person: Person | None = None
) -> None:
    """Any button no handler took: data that is no button of ours, someone else's button, a
    button pressed where it does not belong. Refused: the client's spinner stops, and the
    denial is audited (a stranger outside an office's group leaves nothing)."""
    await record_denial(
        work.session,
        "button",
        actor_id=person.id if person is not None else None,
        chat_id=chat_of(callback),
    )
    await work.commit()
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
