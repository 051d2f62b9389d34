"""A person on Telegram, as the fake Bot API sees them: they type, tap buttons and read replies."""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.fakes.bot_api import FakeBotApi

_callback_ids = itertools.count(1)


class TelegramUser:
    def __init__(
        self,
        api: FakeBotApi,
        user_id: int,
        *,
        first_name: str = "Maria",
        last_name: str = "Popescu",
        username: str = "maria_p",
        language_code: str | None = "en",
    ) -> None:
        self.api = api
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code

    def as_user(self) -> dict[str, Any]:
        user = {
            "id": self.id,
            "is_bot": False,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "username": self.username,
        }
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def as_chat(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "private",
            "first_name": self.first_name,
            "last_name": self.last_name,
            "username": self.username,
        }

    def message(self, text: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self.api.next_message_id(),
            "date": int(time.time()),
            "chat": self.as_chat(),
            "from": self.as_user(),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return message

    async def send(self, text: str) -> None:
        """Type a message and wait until the bot has handled it."""
        update_id = await self.api.push_update("message", self.message(text))
        await self.api.handled(update_id)

    async def press(self, label: str) -> None:
        """Tap the inline button with this label on the newest message that shows it."""
        message, data = self._find_button(label)
        callback = {
            "id": str(next(_callback_ids)),
            "from": self.as_user(),
            "chat_instance": f"ci{self.id}",
            "message": message,
            "data": data,
        }
        update_id = await self.api.push_update("callback_query", callback)
        await self.api.handled(update_id)

    # ---- reading the chat --------------------------------------------------------------------
    def messages(self) -> list[dict[str, Any]]:
        """The bot's messages in this chat, in the order they were last sent or edited."""
        view = self.api.chats.get(self.id)
        return [view.messages[k] for k in view.touched if k in view.messages] if view else []

    def last_text(self) -> str:
        """The text of the message the bot changed last."""
        messages = self.messages()
        assert messages, "the bot has not written to this user"
        return messages[-1].get("text", "")

    def buttons(self) -> list[str]:
        """Labels of the inline buttons on the message the bot changed last, row by row."""
        messages = self.messages()
        if not messages:
            return []
        keyboard = messages[-1].get("reply_markup", {}).get("inline_keyboard", [])
        return [button["text"] for row in keyboard for button in row]

    def _find_button(self, label: str) -> tuple[dict[str, Any], str]:
        for message in reversed(self.messages()):
            for row in message.get("reply_markup", {}).get("inline_keyboard", []):
                for button in row:
                    if button["text"] == label and "callback_data" in button:
                        return message, button["callback_data"]
        raise AssertionError(f"no button {label!r}; the chat shows {self.buttons()}")
