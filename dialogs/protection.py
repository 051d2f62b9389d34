"""Dialog windows in a private chat are protected from forwarding and saving.

aiogram-dialog can protect a window (`Window(protect_content=True)`), and compares each new
window's protection with the message on screen: when they differ it deletes the message and
sends a new one instead of editing it. Every message the bot posts into a private chat is
protected anyway (bot/telegram/protection.py), so every window there must say so too, or each
button press would delete and resend the menu. This message manager marks them all, in one place.
"""

from __future__ import annotations

import dataclasses

from aiogram import Bot
from aiogram.enums import ChatType
from aiogram_dialog.api.entities import NewMessage, OldMessage
from aiogram_dialog.manager.message_manager import MessageManager


class ProtectedWindows(MessageManager):
    async def show_message(
        self, bot: Bot, new_message: NewMessage, old_message: OldMessage | None
    ) -> OldMessage:
        if new_message.chat.type == ChatType.PRIVATE and not new_message.protect_content:
            new_message = dataclasses.replace(new_message, protect_content=True)
        return await super().show_message(bot, new_message, old_message)
