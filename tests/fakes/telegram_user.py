"""A person on Telegram, as the fake Bot API sees them: they type, tap buttons and read replies."""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.fakes.bot_api import BOT_USER, FakeBotApi

_callback_ids = itertools.count(1)
GROUP_CHAT = {"type": "supergroup", "title": "Office inbox", "is_forum": True}

# One of each kind of content a person can send, as Telegram describes it.
CONTENT = {
    "photo": {"photo": [{"file_id": "ph", "file_unique_id": "uph", "width": 90, "height": 90}]},
    "document": {"document": {"file_id": "doc", "file_unique_id": "udoc", "file_name": "a.pdf"}},
    "voice": {"voice": {"file_id": "vo", "file_unique_id": "uvo", "duration": 3}},
    "audio": {"audio": {"file_id": "au", "file_unique_id": "uau", "duration": 60}},
    "video": {
        "video": {"file_id": "vi", "file_unique_id": "uvi", "width": 9, "height": 9, "duration": 2}
    },
    "video_note": {
        "video_note": {"file_id": "vn", "file_unique_id": "uvn", "length": 240, "duration": 5}
    },
    "sticker": {
        "sticker": {
            "file_id": "st",
            "file_unique_id": "ust",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
    },
    "contact": {"contact": {"phone_number": "+40700000000", "first_name": "Ion"}},
    "animation": {
        "animation": {
            "file_id": "an",
            "file_unique_id": "uan",
            "width": 9,
            "height": 9,
            "duration": 1,
        }
    },
    "location": {"location": {"latitude": 44.43, "longitude": 26.1}},
}

# What a person can send that cannot be passed on; only its kind reaches the office.
NOT_PASSED_ON = {
    "poll": {
        "poll": {
            "id": "poll-1",
            "question": "Which day suits you?",
            "options": [
                {"persistent_id": "o1", "text": "Monday", "voter_count": 0},
                {"persistent_id": "o2", "text": "Tuesday", "voter_count": 0},
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
        }
    },
    "dice": {"dice": {"emoji": "🎲", "value": 4}},
    "game": {
        "game": {
            "title": "Lucky Cat",
            "description": "Catch the fish",
            "photo": [{"file_id": "gp", "file_unique_id": "ugp", "width": 90, "height": 90}],
        }
    },
    "story": {"story": {"chat": {"id": 777, "type": "private", "first_name": "Dana"}, "id": 7}},
    "paid_media": {
        "paid_media": {
            "star_count": 25,
            "paid_media": [{"type": "preview", "width": 90, "height": 90}],
        }
    },
    "web_app_data": {"web_app_data": {"data": "secret-answer", "button_text": "Open form"}},
}


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

    def message(
        self,
        text: str | None = None,
        *,
        content: dict[str, Any] | None = None,
        group: int | None = None,
        topic: int | None = None,
        reply_to: int | None = None,
        media_group_id: str | None = None,
    ) -> dict[str, Any]:
        """A message as Telegram delivers it: in the private chat, or in a group's topic."""
        chat = self.as_chat() if group is None else GROUP_CHAT | {"id": group}
        message: dict[str, Any] = {
            "message_id": self.api.next_message_id(),
            "date": int(time.time()),
            "chat": chat,
            "from": self.as_user(),
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        message.update(content or {})
        if media_group_id:
            message["media_group_id"] = media_group_id
        if topic is not None:
            message["message_thread_id"] = topic
            message["is_topic_message"] = True
            # In a topic, a message that replies to nothing "replies" to the topic's first one.
            message["reply_to_message"] = {
                "message_id": topic,
                "date": int(time.time()),
                "chat": chat,
                "from": {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")},
                "forum_topic_created": {"name": "topic", "icon_color": 7322096},
            }
        if reply_to is not None:
            original = self.api._find(chat["id"], reply_to)
            assert original is not None, f"no message {reply_to} in chat {chat['id']}"
            message["reply_to_message"] = {
                k: v for k, v in original.items() if k != "reply_to_message"
            }
        return message

    async def send(self, text: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Send a message and wait until the bot has handled it; returns the message."""
        message = self.message(text, **kwargs)
        update_id = await self.api.push_update("message", message)
        await self.api.handled(update_id)
        return message

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
