"""/start: redeeming an invite link, or coming back to the bot."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram_dialog import DialogManager
from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands import register_person_commands
from bot.services import audit, invites
from bot.services.invite_guard import InviteGuard
from dialogs.home import show_home
from dialogs.welcome import unknown_text, welcome_text
from storage.models import Person, Role

# Outcomes that count as a guess against the account's allowance.
_GUESSES = frozenset({invites.Outcome.INVALID, invites.Outcome.USED, invites.Outcome.EXPIRED})


def _refusal_text(outcome: invites.Outcome) -> str:
    if outcome is invites.Outcome.USED:
        return _(
            "This invitation link has already been used. If you did not use it yourself, "
            "please tell the person who sent it to you."
        )
    if outcome is invites.Outcome.EXPIRED:
        return _(
            "This invitation link has expired. Please ask the person who sent it for a new one."
        )
    if outcome is invites.Outcome.OTHER_ROLE:
        return _(
            "This Telegram account is already registered in Homeward in another role, "
            "so this invitation cannot be used with it."
        )
    return _(
        "This invitation link is not valid. Please check that you opened the whole link, "
        "or ask the person who sent it for a new one."
    )


async def start_with_invite(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    i18n: I18n,
    bot: Bot,
    dialog_manager: DialogManager,
    invite_guard: InviteGuard,
    person: Person | None = None,
) -> None:
    user_id = message.chat.id
    # A refused link is audited for an account Homeward knows; a stranger leaves nothing.
    actor_id = person.id if person is not None else None
    wait = invite_guard.seconds_to_wait(user_id)
    if wait:
        audit.denied(session, "invite", actor_id=actor_id)
        await session.commit()
        await message.answer(
            _("Too many links were tried from this account. Please try again later.")
        )
        return
    redemption = await invites.redeem(session, token=command.args or "", telegram_user_id=user_id)
    if redemption.outcome is invites.Outcome.ALREADY_YOURS and redemption.person is not None:
        await start_again(message, session, redemption.person, dialog_manager, bot, i18n)
        return
    if redemption.outcome is not invites.Outcome.JOINED or redemption.person is None:
        if redemption.outcome in _GUESSES:
            invite_guard.failed(user_id)
        audit.denied(session, "invite", actor_id=actor_id)
        await session.commit()
        await message.answer(_refusal_text(redemption.outcome))
        return
    await session.commit()
    person = redemption.person
    # The update began with an unknown sender; from here on it is this person.
    dialog_manager.middleware_data["person"] = person
    if person.role is Role.RETURNEE:
        await show_home(dialog_manager, person, session)
        return
    if person.language:
        i18n.current_locale = person.language
    await register_person_commands(bot, i18n, person)
    await message.answer(await welcome_text(session, person))


async def start_again(
    message: Message,
    session: AsyncSession,
    person: Person | None,
    dialog_manager: DialogManager,
    bot: Bot,
    i18n: I18n,
) -> None:
    if person is None:
        await message.answer(unknown_text())
    elif person.role is Role.RETURNEE:
        await show_home(dialog_manager, person, session)
    else:
        # People added from the command line get their command menu on their first /start.
        await register_person_commands(bot, i18n, person)
        await message.answer(await welcome_text(session, person))


def build_router() -> Router:
    router = Router(name="start")
    router.message.register(start_with_invite, CommandStart(deep_link=True))
    router.message.register(start_again, CommandStart())
    return router
