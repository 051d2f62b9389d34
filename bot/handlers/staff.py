"""Office staff and admins in their private chat with the bot; their work is in the staff group."""

from aiogram import Router
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.filters import HasRole
from storage.models import Role


async def staff_help(message: Message) -> None:
    await message.answer(
        _("Case conversations are handled in your office's staff group, not in this chat.")
    )


def build_router() -> Router:
    router = Router(name="staff")
    router.message.filter(HasRole(Role.STAFF, Role.ADMIN))
    router.message.register(staff_help)
    return router
