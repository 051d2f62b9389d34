"""An in-process fake Telegram Bot API server (aiohttp) for driving the real bot over HTTP.

It serves getUpdates from a queue the tests fill, answers the methods the bot uses with realistic
objects, records every call, and checks each call against the Bot API specification: the method
exists, required parameters are there, no unknown ones. Any violation fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.spec import ApiSpec, load_spec

BOT_ID = 7000001
TEXT_LIMIT = 4096  # Telegram's, in UTF-16 code units
CAPTION_LIMIT = 1024
CONTENT_FIELDS = (
    "text",
    "entities",
    "photo",
    "document",
    "voice",
    "audio",
    "video",
    "video_note",
    "sticker",
    "contact",
    "animation",
    "caption",
    "caption_entities",
    "media_group_id",
)
BOT_USER = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Homeward",
    "username": "homeward_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    result: Any = None

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)


@dataclass
class ChatView:
    """What a chat shows: messages by id, as the bot last left them."""

    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Message ids in the order the bot last sent or edited them: what the user saw change last.
    touched: list[int] = field(default_factory=list)

    def touch(self, message_id: int) -> None:
        if message_id in self.touched:
            self.touched.remove(message_id)
        self.touched.append(message_id)


@dataclass
class FaultWindow:
    """Telegram (or what stands in front of it) failing every call for a while: answering
    `status` (429 with `retry_after`; 502 as a proxy's HTML page, not JSON), or, with `hang`,
    not answering until the window is over. A hanging call that Telegram `taken` did take
    effect (the message is posted) and only its answer is late; otherwise it never arrived."""

    until: float  # monotonic
    status: int | None = None
    retry_after: int | None = None
    hang: bool = False
    taken: bool = False


class FakeBotApi:
    def __init__(
        self, spec: ApiSpec | None = None, group_limit: tuple[int, float] | None = None
    ) -> None:
        self.spec = spec or load_spec()
        # Telegram's per-group limit, enforced with 429s when set: (calls, seconds).
        self.group_limit = group_limit
        self.refused_429 = 0
        # Texts and captions refused (too long, empty): (method, description); none should be.
        self.refused_texts: list[tuple[str, str]] = []
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.chats: dict[int, ChatView] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._new_update = asyncio.Condition()
        self._call_made = asyncio.Condition()
        self._confirmed_offset = 0
        # Updates delivered again under their own id (see `redeliver`), and when that happened.
        self._pushed: dict[int, dict[str, Any]] = {}
        self._again: list[dict[str, Any]] = []
        self._update_requests = 0
        self._again_served_at: int | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.failures: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        # What people sent, so that copies carry the real content.
        self.user_messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.topics: dict[int, dict[int, str]] = {}
        self.blocked: set[int] = set()  # private chats whose user blocked the bot
        self.deleted_topics: set[tuple[int, int]] = set()
        # Chats that refuse calls until lifted, e.g. a group the bot was removed from:
        # (status, description, only this method or None for every call).
        self.refusing: dict[int, tuple[int, str, str | None]] = {}
        self.hold: set[str] = set()  # methods whose calls never get an answer
        self.held = 0  # how many calls are hanging because of `hold`
        self._released = asyncio.Event()
        # Calls that wait for `resume()` before they are answered: (method, params they match).
        self.paused: list[tuple[str, dict[str, Any]]] = []
        self._resumed = asyncio.Event()
        # Groups as getChat describes them (over a forum supergroup's defaults), and members as
        # getChatMember does, by (chat, user). A group not set here is a forum where the bot is
        # an administrator with every right; a group the bot left or was removed from refuses.
        self.group_chats: dict[int, dict[str, Any]] = {}
        self.members: dict[tuple[int, int], dict[str, Any]] = {}
        # The bot's own ids: getMe's, and the one in the token (which aiogram's Bot.id reads).
        self.bot_ids: set[int] = {BOT_ID}
        # Messages Telegram will not delete (older than 48 hours, say): (chat_id, message_id).
        self.undeletable: set[tuple[int, int]] = set()
        # See `fault_window`; calls it failed or held, and those it held after taking them.
        self.fault: FaultWindow | None = None
        self.faulted: list[Call] = []
        self.taken_unanswered: list[Call] = []

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._released.set()
        self._resumed.set()  # a test that failed while calls were paused must still end
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- what tests feed in ----------------------------------------------------------------
    async def push_update(self, kind: str, payload: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        if kind in ("message", "edited_message") and isinstance(payload.get("chat"), dict):
            self.user_messages[(payload["chat"]["id"], payload["message_id"])] = payload
        async with self._new_update:
            self._updates.append({"update_id": update_id, kind: payload})
            self._pushed[update_id] = self._updates[-1]
            self._new_update.notify_all()
        return update_id

    async def push_together(self, kind: str, payloads: list[dict[str, Any]]) -> list[int]:
        """Several updates that arrive in the same getUpdates answer, as a burst does."""
        async with self._new_update:
            ids = []
            for payload in payloads:
                update_id = next(self._update_ids)
                self._updates.append({"update_id": update_id, kind: payload})
                self._pushed[update_id] = self._updates[-1]
                ids.append(update_id)
            self._new_update.notify_all()
        return ids

    async def change_member(
        self,
        chat_id: int,
        new: dict[str, Any],
        *,
        by: dict[str, Any],
        old: dict[str, Any] | None = None,
    ) -> int:
        """A member's status in a group changes, as Telegram tells it: `my_chat_member` when
        the member is the bot, `chat_member` otherwise. getChatMember answers the new status
        from now on. `by` is the user who made the change (or who joined)."""
        user_id = int(new["user"]["id"])
        is_bot = user_id in self.bot_ids
        key = (chat_id, BOT_ID if is_bot else user_id)
        if old is None:
            old = self.members.get(key) or (
                administrator(BOT_USER) if is_bot else member_in("left", new["user"])
            )
        for member in (old, new):
            self.violations.extend(self._check_member(member))
        self.members[key] = new
        chat = {"id": chat_id, **self._group(chat_id)}
        chat = {k: chat[k] for k in ("id", "type", "title", "is_forum") if k in chat}
        update = {
            "chat": chat,
            "from": by,
            "date": int(time.time()),
            "old_chat_member": old,
            "new_chat_member": new,
        }
        return await self.push_update("my_chat_member" if is_bot else "chat_member", update)

    def set_bot_rights(self, chat_id: int, **rights: bool) -> None:
        """The bot becomes an administrator of the group with these rights (others granted)."""
        self.members[(chat_id, BOT_ID)] = administrator(BOT_USER, **rights)

    async def redeliver(self, update_id: int, timeout: float = 10) -> None:
        """Deliver an update once more under its own id, as Telegram does when the bot died
        before confirming it or a webhook call timed out; returns once the bot has handled it
        (it asks for updates again, as in `handled`)."""
        async with self._new_update:
            self._again.append(self._pushed[update_id])
            self._new_update.notify_all()
        deadline = time.monotonic() + timeout
        async with self._call_made:
            while self._again or (self._again_served_at or 0) >= self._update_requests:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"update {update_id} was not handled again in time")
                try:
                    await asyncio.wait_for(self._call_made.wait(), remaining)
                except TimeoutError:
                    continue

    async def wake_pollers(self) -> None:
        """Answer a waiting getUpdates at once, so a stopping bot need not sit out its timeout."""
        async with self._new_update:
            self._new_update.notify_all()

    def next_message_id(self) -> int:
        return next(self._message_ids)

    def fail_next(self, method: str, status: int, description: str, **extra: Any) -> None:
        """Make the next call of `method` fail the way Telegram would."""
        self.failures.setdefault(method, []).append((status, {"description": description, **extra}))

    def refuse_chat(
        self, chat_id: int, status: int, description: str, method: str | None = None
    ) -> None:
        """Make every call to this chat (or every call of `method` only) fail the way Telegram
        words it, until `lift(chat_id)`."""
        self.refusing[chat_id] = (status, description, method)

    def lift(self, chat_id: int) -> None:
        self.refusing.pop(chat_id, None)

    def pause(self, method: str, **where: Any) -> None:
        """Let matching calls wait unanswered until `resume()`, as a slow Telegram would."""
        self.paused.append((method, where))
        self._resumed.clear()

    def fault_window(
        self,
        seconds: float,
        *,
        status: int | None = None,
        retry_after: int | None = None,
        hang: bool = False,
        taken: bool = False,
    ) -> None:
        """Fail every call (getUpdates and the sends alike) for `seconds`, as in FaultWindow."""
        self.fault = FaultWindow(time.monotonic() + seconds, status, retry_after, hang, taken)

    def resume(self) -> None:
        self.paused.clear()
        self._resumed.set()

    # ---- what tests read back --------------------------------------------------------------
    def names_in_groups(self) -> list[str]:
        """Telegram names of people who wrote privately that reached any group chat."""
        names = set()
        for (chat_id, _), message in self.user_messages.items():
            if chat_id > 0:
                sender = message.get("from", {})
                names |= {sender.get(k) for k in ("first_name", "last_name", "username")}
        names.discard(None)
        seen = [
            json.dumps(c.params, ensure_ascii=False)
            for c in self.calls
            if str(c.params.get("chat_id", "0")).startswith("-")
        ]
        seen += [
            json.dumps(v.messages, ensure_ascii=False) for chat, v in self.chats.items() if chat < 0
        ]
        return sorted(name for name in names if any(name in text for text in seen))

    def calls_to(self, method: str, **where: Any) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == method and all(c.params.get(k) == v for k, v in where.items())
        ]

    async def wait_for(
        self, predicate: Callable[[Call], bool], *, after: int = 0, timeout: float = 10
    ) -> Call:
        deadline = time.monotonic() + timeout
        async with self._call_made:
            while True:
                for call in self.calls[after:]:
                    if predicate(call):
                        return call
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        "the bot made no such call in time; calls: "
                        + ", ".join(c.method for c in self.calls[after:])
                    )
                try:
                    await asyncio.wait_for(self._call_made.wait(), remaining)
                except TimeoutError:
                    continue

    async def handled(self, update_id: int, timeout: float = 10) -> None:
        """Wait until the bot asked for updates past this one, i.e. it has handled it.

        Tests poll with handle_as_tasks=False, so the next getUpdates comes only after handling.
        """
        deadline = time.monotonic() + timeout
        async with self._call_made:
            while self._confirmed_offset <= update_id:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"update {update_id} was not handled in time")
                try:
                    await asyncio.wait_for(self._call_made.wait(), remaining)
                except TimeoutError:
                    continue

    # ---- the HTTP side ---------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        token_id = request.match_info["token"].split(":", 1)[0]
        if token_id.isdigit():
            self.bot_ids.add(int(token_id))
        params = await self._params(request, method)
        problems = self.spec.check_call(method, params)
        self.violations.extend(problems)
        call = Call(method=method, params=params, at=time.monotonic())
        if self.fault is not None and call.at < self.fault.until:
            return await self._faulted(call, self.fault)
        if method == "getUpdates":
            result = await self._get_updates(params)
        else:
            failure = self.failures.get(method)
            if failure:
                status, body = failure.pop(0)
                await self._record(call)
                return web.json_response({"ok": False, "error_code": status, **body}, status=status)
            if any(
                method == paused and all(params.get(k) == v for k, v in where.items())
                for paused, where in self.paused
            ):
                async with self._call_made:
                    self.held += 1
                    self._call_made.notify_all()
                await self._resumed.wait()
                self.held -= 1
            if method in self.hold:
                async with self._call_made:
                    self.held += 1
                    self._call_made.notify_all()
                await self._released.wait()  # no answer until the test is over
                return web.json_response(
                    {"ok": False, "error_code": 500, "description": "Internal Server Error"},
                    status=500,
                )
            refusal = self._refusal(method, params)
            if refusal is not None:
                status, description = refusal
                await self._record(call)
                return web.json_response(
                    {
                        "ok": False,
                        "error_code": status,
                        "description": description,
                        **({"parameters": {"retry_after": 1}} if status == 429 else {}),
                    },
                    status=status,
                )
            result = self._answer(method, params)
            returns = self.spec.methods[method].returns if method in self.spec.methods else ()
            if isinstance(result, dict) and len(returns) >= 1 and returns[0] in self.spec.types:
                self.violations.extend(self.spec.check_object(returns[0], result))
            if method == "getChatMember":
                self.violations.extend(self._check_member(result))
        call.result = result
        await self._record(call)
        return web.json_response({"ok": True, "result": result})

    async def _faulted(self, call: Call, fault: FaultWindow) -> web.Response:
        self.faulted.append(call)
        if fault.hang:
            answered = None
            if fault.taken and call.method != "getUpdates":
                # Telegram did it; only the answer does not come back in time.
                answered = self._answer(call.method, call.params)
                call.result = answered
                self.taken_unanswered.append(call)
                await self._record(call)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), fault.until - time.monotonic())
            if answered is not None:
                return web.json_response({"ok": True, "result": answered})
            return web.json_response(
                {"ok": False, "error_code": 504, "description": "Gateway Timeout"}, status=504
            )
        status = fault.status or 500
        if status == 502:
            # What nginx in front of the Bot API answers: a page, not JSON.
            page = "<html><head><title>502 Bad Gateway</title></head></html>"
            return web.Response(status=502, text=page, content_type="text/html")
        body: dict[str, Any] = {"ok": False, "error_code": status}
        if status == 429:
            body["description"] = f"Too Many Requests: retry after {fault.retry_after or 1}"
            body["parameters"] = {"retry_after": fault.retry_after or 1}
        else:
            body["description"] = "Internal Server Error"
        return web.json_response(body, status=status)

    async def _record(self, call: Call) -> None:
        async with self._call_made:
            self.calls.append(call)
            if call.method == "getUpdates":
                self._confirmed_offset = max(self._confirmed_offset, int(call.get("offset", 0)))
            self._call_made.notify_all()

    async def _params(self, request: web.Request, method: str) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        form = await request.post()
        spec = self.spec.methods.get(method)
        attached = {
            value.removeprefix("attach://")
            for value in form.values()
            if isinstance(value, str) and value.startswith("attach://")
        }
        params: dict[str, Any] = {}
        for key, value in form.items():
            if key in attached:
                continue
            if not isinstance(value, str):
                params[key] = value
                continue
            types = spec.types.get(key, []) if spec else []
            if types == ["String"]:
                params[key] = value
                continue
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        return params

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0))
        # Confirmation happens on the request itself, before any waiting: that is what tells
        # a test the previous batch has been handled.
        async with self._call_made:
            self._confirmed_offset = max(self._confirmed_offset, offset)
            self._update_requests += 1
            self._call_made.notify_all()
        timeout = min(float(params.get("timeout", 0)), 2.0)
        async with self._new_update:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if not self._updates and not self._again and timeout:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_update.wait(), timeout)
            if self._again:
                again, self._again = self._again, []
                self._again_served_at = self._update_requests
                return again
            return [u for u in self._updates if u["update_id"] >= offset][:100]

    # ---- answers -----------------------------------------------------------------------------
    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "User"}
        return {"id": chat_id, "type": "supergroup", "title": "Office inbox", "is_forum": True}

    def _group(self, chat_id: int) -> dict[str, Any]:
        """A group's type, title and forum flag: a forum supergroup unless set otherwise."""
        group = {"type": "supergroup", "title": "Office inbox", "is_forum": True}
        group |= self.group_chats.get(chat_id, {})
        if not group.get("is_forum"):
            group.pop("is_forum", None)  # Telegram leaves out a false flag
        return group

    def _check_member(self, member: Any) -> list[str]:
        """A ChatMember against its own kind in the specification (ChatMember lists none)."""
        kinds = {
            "creator": "ChatMemberOwner",
            "administrator": "ChatMemberAdministrator",
            "member": "ChatMemberMember",
            "restricted": "ChatMemberRestricted",
            "left": "ChatMemberLeft",
            "kicked": "ChatMemberBanned",
        }
        kind = kinds.get(member.get("status", "")) if isinstance(member, dict) else None
        if kind is None:
            return [f"not a ChatMember: {member!r}"]
        return self.spec.check_object(kind, member)

    def _store(self, chat_id: int, message: dict[str, Any]) -> dict[str, Any]:
        view = self.chats.setdefault(chat_id, ChatView())
        view.messages[message["message_id"]] = message
        view.touch(message["message_id"])
        return message

    def _refusal(self, method: str, params: dict[str, Any]) -> tuple[int, str] | None:
        """Refuse the way Telegram does: texts too long, chats set to refuse, too many requests,
        blocked users, deleted topics."""
        wrong_length = self._wrong_length(method, params)
        if wrong_length is not None:
            self.refused_texts.append((method, wrong_length))
            return 400, wrong_length
        if method == "editMessageReplyMarkup" and self._find_own(params) is None:
            # aiogram-dialog clears the keyboard of the last message it knows for a chat;
            # Telegram refuses for a message it does not have, and aiogram-dialog expects that.
            return 400, "Bad Request: message to edit not found"
        if method == "deleteMessages" and not 1 <= len(params.get("message_ids", [])) <= 100:
            return 400, "Bad Request: message_ids must hold 1 to 100 identifiers"
        if "chat_id" not in params or not str(params["chat_id"]).lstrip("-").isdigit():
            return None
        chat_id = int(params["chat_id"])
        if chat_id in self.refusing:
            status, description, only = self.refusing[chat_id]
            if only is None or only == method:
                return status, description
        bot_here = self.members.get((chat_id, BOT_ID))
        if chat_id < 0 and bot_here is not None and bot_here["status"] in ("left", "kicked"):
            kind = self._group(chat_id)["type"]
            if bot_here["status"] == "kicked":
                return 403, f"Forbidden: bot was kicked from the {kind} chat"
            return 403, f"Forbidden: bot is not a member of the {kind} chat"
        if self.group_limit and chat_id < 0:
            count, seconds = self.group_limit
            now = time.monotonic()
            # Telegram counts messages: copying an album or a receipt's files posts several.
            recent = sum(
                _posts(c.method, c.params)
                for c in self.calls
                if c.get("chat_id") == chat_id and c.result is not None and now - c.at < seconds
            )
            if recent + _posts(method, params) > count:
                self.refused_429 += 1
                return 429, f"Too Many Requests: retry after {int(seconds)}"
        if chat_id in self.blocked and method.startswith(("send", "copy")):
            return 403, "Forbidden: bot was blocked by the user"
        thread = params.get("message_thread_id")
        if thread is not None and (chat_id, int(thread)) in self.deleted_topics:
            return 400, "Bad Request: message thread not found"
        if method in ("deleteMessage", "deleteMessages"):
            ids = params.get("message_ids") or [params.get("message_id")]
            if any((chat_id, int(m)) in self.undeletable for m in ids):
                return 400, "Bad Request: message can't be deleted"
        return None

    def _wrong_length(self, method: str, params: dict[str, Any]) -> str | None:
        """Telegram's length limits, counted as Telegram counts: in UTF-16 code units."""
        if method in ("sendMessage", "editMessageText"):
            text = str(params.get("text", ""))
            if not text.strip():
                return "Bad Request: message text is empty"
            if _utf16_length(text) > TEXT_LIMIT:
                return "Bad Request: message is too long"
            self._check_entities(method, text, params.get("entities"))
        caption = params.get("caption")
        if caption is not None:
            if _utf16_length(str(caption)) > CAPTION_LIMIT:
                return "Bad Request: message caption is too long"
            self._check_entities(method, str(caption), params.get("caption_entities"))
        return None

    def _check_entities(self, method: str, text: str, entities: Any) -> None:
        """Entities must lie within their text: a slip in shifting or clipping them shows here."""
        length = _utf16_length(text)
        for entity in entities or []:
            offset, size = int(entity["offset"]), int(entity["length"])
            if offset < 0 or size <= 0 or offset + size > length:
                self.violations.append(f"{method}: entity {entity} outside a text of {length}")

    def _find_own(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """A message the bot sent, named by a call's chat_id and message_id."""
        if not str(params.get("chat_id", "")).lstrip("-").isdigit():
            return None
        view = self.chats.get(int(params["chat_id"]))
        return view.messages.get(int(params.get("message_id", 0))) if view else None

    def _find(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        view = self.chats.get(chat_id)
        if view and message_id in view.messages:
            return view.messages[message_id]
        return self.user_messages.get((chat_id, message_id))

    def _new_message(self, chat_id: int, params: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self.next_message_id(),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")},
        }
        if params.get("message_thread_id") is not None:
            message["message_thread_id"] = int(params["message_thread_id"])
            message["is_topic_message"] = True
        reply = params.get("reply_parameters")
        if reply:
            original = self._find(chat_id, int(reply["message_id"]))
            if original is not None:
                message["reply_to_message"] = {
                    k: v for k, v in original.items() if k != "reply_to_message"
                }
        if "reply_markup" in params and "inline_keyboard" in params["reply_markup"]:
            message["reply_markup"] = params["reply_markup"]
        if params.get("protect_content"):
            message["has_protected_content"] = True
        return message

    def _copy(self, params: dict[str, Any], message_id: int) -> int:
        chat_id = int(params["chat_id"])
        source = self._find(int(params["from_chat_id"]), message_id)
        if source is None:
            self.violations.append(f"copy of unknown message {message_id}")
            source = {"text": "?"}
        message = self._new_message(chat_id, params)
        for key in CONTENT_FIELDS:
            if key in source:
                message[key] = source[key]
        if params.get("caption") is not None:
            message["caption"] = params["caption"]
            message["caption_entities"] = params.get("caption_entities", [])
        return self._store(chat_id, message)["message_id"]

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        now = int(time.time())
        if method == "getMe":
            return dict(BOT_USER)
        if method == "sendMessage":
            chat_id = int(params["chat_id"])
            message = self._new_message(chat_id, params)
            message["text"] = params["text"]
            if params.get("entities"):
                message["entities"] = params["entities"]
            return self._store(chat_id, message)
        if method == "copyMessage":
            return {"message_id": self._copy(params, int(params["message_id"]))}
        if method == "copyMessages":
            return [{"message_id": self._copy(params, int(m))} for m in params["message_ids"]]
        if method == "createForumTopic":
            chat_id = int(params["chat_id"])
            thread = self.next_message_id()
            self.topics.setdefault(chat_id, {})[thread] = params["name"]
            return {"message_thread_id": thread, "name": params["name"], "icon_color": 7322096}
        if method in ("editMessageText", "editMessageReplyMarkup"):
            chat_id = int(params["chat_id"])
            view = self.chats.setdefault(chat_id, ChatView())
            message = dict(view.messages.get(int(params["message_id"]), {}))
            if not message:
                self.violations.append(
                    f"{method}: message {params['message_id']} not in chat {chat_id}"
                )
                return True
            message["edit_date"] = now
            if "text" in params:
                message["text"] = params["text"]
            if "reply_markup" in params:
                message["reply_markup"] = params["reply_markup"]
            else:
                message.pop("reply_markup", None)
            return self._store(chat_id, message)
        if method == "getChat":
            chat_id = int(params["chat_id"])
            chat = self._chat(chat_id) if chat_id > 0 else {"id": chat_id, **self._group(chat_id)}
            # ChatFullInfo's required fields, with plain values.
            return chat | {
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        if method == "getChatMember":
            chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
            if user_id in self.bot_ids:
                return self.members.get((chat_id, BOT_ID)) or administrator(BOT_USER)
            user = {"id": user_id, "is_bot": False, "first_name": "User"}
            return self.members.get((chat_id, user_id)) or member_in("left", user)
        if method == "leaveChat":
            chat_id = int(params["chat_id"])
            self.members[(chat_id, BOT_ID)] = member_in("left", BOT_USER)
            return True
        if method == "deleteMessage":
            self.chats.get(int(params["chat_id"]), ChatView()).messages.pop(
                int(params["message_id"]), None
            )
            return True
        if method == "deleteMessages":
            # What cannot be found is skipped; a private chat's incoming messages go too.
            chat_id = int(params["chat_id"])
            for message_id in params["message_ids"]:
                self.chats.get(chat_id, ChatView()).messages.pop(int(message_id), None)
                self.user_messages.pop((chat_id, int(message_id)), None)
            return True
        if method == "deleteForumTopic":
            # The topic goes with all its messages.
            chat_id, thread = int(params["chat_id"]), int(params["message_thread_id"])
            if thread not in self.topics.get(chat_id, {}):
                self.violations.append(f"deleteForumTopic: no topic {thread} in chat {chat_id}")
            self.topics.get(chat_id, {}).pop(thread, None)
            self.deleted_topics.add((chat_id, thread))
            view = self.chats.get(chat_id, ChatView())
            for message_id in [
                m
                for m, message in view.messages.items()
                if message.get("message_thread_id") == thread
            ]:
                view.messages.pop(message_id)
            return True
        returns = self.spec.methods[method].returns if method in self.spec.methods else ()
        if returns == ("Boolean",):
            return True
        self.violations.append(f"{method}: the fake server does not answer this method yet")
        return True


def user_of(user: dict[str, Any]) -> dict[str, Any]:
    """A User as it appears inside a ChatMember: only the User type's own fields."""
    fields = ("id", "is_bot", "first_name", "last_name", "username")
    return {k: user[k] for k in fields if k in user}


def administrator(user: dict[str, Any], **rights: bool) -> dict[str, Any]:
    """A ChatMemberAdministrator as the Bot API specification lists it: the rights Homeward
    needs (can_manage_topics, can_delete_messages, can_pin_messages) granted unless set False;
    optional rights that are not granted are left out, as Telegram does."""
    member: dict[str, Any] = {
        "status": "administrator",
        "user": user_of(user),
        "can_be_edited": False,
        "is_anonymous": False,
        "can_manage_chat": True,
        "can_delete_messages": True,
        "can_manage_video_chats": False,
        "can_restrict_members": False,
        "can_promote_members": False,
        "can_change_info": False,
        "can_invite_users": True,
        "can_post_stories": False,
        "can_edit_stories": False,
        "can_delete_stories": False,
        "can_pin_messages": True,
        "can_manage_topics": True,
    }
    member.update(rights)
    return {k: v for k, v in member.items() if v is not False or k in _REQUIRED_RIGHTS}


# ChatMemberAdministrator's required booleans; the others are left out when false.
_REQUIRED_RIGHTS = frozenset(
    {
        "can_be_edited",
        "is_anonymous",
        "can_manage_chat",
        "can_delete_messages",
        "can_manage_video_chats",
        "can_restrict_members",
        "can_promote_members",
        "can_change_info",
        "can_invite_users",
        "can_post_stories",
        "can_edit_stories",
        "can_delete_stories",
    }
)


def member_in(status: str, user: dict[str, Any]) -> dict[str, Any]:
    """A ChatMember of a status without rights: member, left or kicked."""
    member: dict[str, Any] = {"status": status, "user": user_of(user)}
    if status == "kicked":
        member["until_date"] = 0
    return member


def _posts(method: str, params: dict[str, Any]) -> int:
    if method.startswith("get") or method == "leaveChat":
        return 0  # reads and leaving post nothing: Telegram's limit counts messages
    if method in ("copyMessages", "forwardMessages"):
        return max(1, len(params.get("message_ids", [])))
    if method == "sendMediaGroup":
        return max(1, len(params.get("media", [])))
    return 1


def _utf16_length(text: str) -> int:
    """Counted here on its own, so that the fake does not take the bot's word for it."""
    return len(text.encode("utf-16-le")) // 2
