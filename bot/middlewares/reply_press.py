"""Only a reply-keyboard button shown to the person counts as a press of it; any other text is a
message, however it ends.

aiogram-dialog marks each reply-keyboard button by appending invisible characters to its text
(ZWNJ, ZWJ, U+2060-U+2064, soft hyphen, U+1D173-U+1D17A) and takes any incoming text ending in
two or more of them for a press. Those characters are ordinary in Persian, Urdu, Pashto and
Arabic typing, so such a message was swallowed as a button and never passed on. This guard
stands where aiogram-dialog's message middleware stood and decides instead. It also keeps from
aiogram-dialog a replied-to message without a sender, which it cannot read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Dispatcher
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.types import Message, TelegramObject
from aiogram_dialog.context.intent_middleware import IntentMiddlewareFactory

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
Middleware = Callable[[Handler, TelegramObject, dict[str, Any]], Awaitable[Any]]


def shown_reply_buttons(message: Message) -> frozenset[str]:
    """The texts of the reply-keyboard buttons this chat is shown now.

    Homeward's dialogs show inline keyboards only, never a reply keyboard, so there are none and
    no text is ever a press (tests/test_invisible_characters.py checks every dialog window). A
    dialog that adds a reply keyboard must return its buttons here."""
    return frozenset()


def is_reply_press(message: Message) -> bool:
    return message.text is not None and message.text in shown_reply_buttons(message)


class ReplyPressGuard(BaseMiddleware):
    """aiogram-dialog's message middleware, given a message's text only when it is a press.

    Any other message reaches aiogram-dialog without its text, so it loads the chat's dialog
    context as for any message; the handlers further down still get the message as written."""

    def __init__(self, dialog_middleware: Middleware) -> None:
        self.dialog_middleware = dialog_middleware

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Message):
            return await self.dialog_middleware(handler, event, data)
        hidden: dict[str, Any] = {}
        if event.text is not None and not is_reply_press(event):
            hidden["text"] = None
        reply = event.reply_to_message
        if reply is not None and reply.from_user is None:
            # aiogram-dialog reads the sender of the message replied to, which the Bot API may
            # leave out ("may be empty"), and failed on it: it is not a reply to a dialog then.
            hidden["reply_to_message"] = None
        if not hidden:
            return await self.dialog_middleware(handler, event, data)

        async def with_original(_shown: TelegramObject, handler_data: dict[str, Any]) -> Any:
            return await handler(event, handler_data)

        shown = event.model_copy(update=hidden)
        return await self.dialog_middleware(with_original, shown, data)


def _is_dialog_message_middleware(middleware: object) -> bool:
    owner = getattr(middleware, "__self__", None)
    function = getattr(middleware, "__func__", None)
    return (
        isinstance(owner, IntentMiddlewareFactory)
        and function is IntentMiddlewareFactory.process_message
    )


def _replace_in(observer: TelegramEventObserver) -> None:
    """Put the guard where aiogram-dialog's message middleware is, keeping the order."""
    manager = observer.outer_middleware
    position = next(i for i, m in enumerate(manager) if _is_dialog_message_middleware(m))
    following = list(manager[position:])
    for middleware in following:
        manager.unregister(middleware)
    manager.register(ReplyPressGuard(following[0]))
    for middleware in following[1:]:
        manager.register(middleware)


def guard_reply_presses(dispatcher: Dispatcher) -> None:
    """After setup_dialogs: messages and business messages (edits never count as presses)."""
    _replace_in(dispatcher.message)
    _replace_in(dispatcher.business_message)
