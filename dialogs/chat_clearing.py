"""Privacy → "Clear this chat": the bot deletes what the Bot API lets it delete from the
returnee's private chat, and explains how to delete the whole chat in Telegram.

The request is kept before Telegram is asked (bot/services/chat_clearing.py marks the messages
due and commits), so what Telegram cannot take at once is deleted by the leader's next sweep.
"""

from __future__ import annotations

from typing import Any

from aiogram.types import CallbackQuery
from aiogram_dialog import Dialog, DialogManager, ShowMode, Window
from aiogram_dialog.widgets.kbd import Button, Cancel
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.sender import Sender
from bot.i18n import N_
from bot.services import chat_clearing
from bot.services.clock import utcnow
from bot.services.unit_of_work import UnitOfWork
from bot.telegram.deletion import MessageDeleter
from dialogs.states import ClearChat
from dialogs.widgets import Tr
from storage.models import Person

__all__ = ["chat_clearing_dialog"]

# Generic steps: the apps differ a little between Android, iPhone and the desktop.
HOW_TO_DELETE_THE_CHAT = N_(
    "To remove everything, also your own messages, delete the whole chat in Telegram:\n"
    "1. Go back to your list of chats.\n"
    "2. Press and hold this chat (on an iPhone: swipe it to the left).\n"
    "3. Tap Delete (the bin), then confirm.\n"
    "If Telegram also offers to stop or block the bot, say no: otherwise your office cannot "
    "write to you any more. You can open the bot again at any time; your office keeps your case."
)


async def on_clear(callback: CallbackQuery, _: Button, manager: DialogManager) -> None:
    session: AsyncSession = manager.middleware_data["session"]
    work: UnitOfWork = manager.middleware_data["work"]
    sender: Sender = manager.middleware_data["sender"]
    person: Person = manager.middleware_data["person"]
    chat_id = person.telegram_user_id  # the returnee's private chat
    now = utcnow()
    message_ids = await chat_clearing.request_clearing(session, chat_id, now)
    await work.commit()  # kept before Telegram is asked: the sweep finishes what fails now
    outcome = await MessageDeleter(sender).delete(chat_id, message_ids)
    await chat_clearing.settle(session, chat_id, outcome, now)
    await work.commit()
    manager.dialog_data["later"] = bool(outcome.later)
    # The menu's message is gone with the rest: the answer comes as a new message.
    await manager.switch_to(ClearChat.done, show_mode=ShowMode.SEND)


async def done_getter(dialog_manager: DialogManager, **_: Any) -> dict[str, Any]:
    later = bool(dialog_manager.dialog_data.get("later"))
    return {"later": later, "all_done": not later}


def chat_clearing_dialog() -> Dialog:
    return Dialog(
        Window(
            Tr(
                "Clear this chat? The bot deletes its own messages in this chat, and the messages "
                "you sent to your office, from the last 48 hours: Telegram does not let a bot "
                "delete older ones. Your office keeps what you wrote to them."
            ),
            Button(Tr("Yes, clear this chat"), id="clear", on_click=on_clear),
            Cancel(Tr("No, go back")),
            state=ClearChat.confirm,
        ),
        Window(
            Tr("Done: the bot deleted what it could from this chat.", when="all_done"),
            Tr(
                "Some messages could not be deleted just now. The bot tries again in a few "
                "minutes.",
                when="later",
            ),
            Tr(
                "Older messages, and what you typed in the menus, can only be deleted by you.",
            ),
            Tr(HOW_TO_DELETE_THE_CHAT),
            Cancel(Tr("Back to the menu")),
            state=ClearChat.done,
            getter=done_getter,
        ),
    )
