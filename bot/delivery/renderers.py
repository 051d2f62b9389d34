"""Turning an outbox item into Bot API calls: one renderer per kind, each given its own payload
type. Long texts go in parts (bot/delivery/split.py); short texts of a returnee waiting together
go as one topic message; an album goes as one."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, NamedTuple, assert_never
from zoneinfo import ZoneInfo

from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import (
    CloseForumTopic,
    CopyMessage,
    CopyMessages,
    DeleteForumTopic,
    DeleteMessages,
    EditMessageText,
    SendMessage,
)
from aiogram.types import MessageEntity, ReplyParameters
from aiogram.utils.i18n import I18n
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.counsellor_messages import compose
from bot.delivery.gateway import Gateway
from bot.delivery.split import CAPTION_LIMIT, TEXT_LIMIT, Part, split, split_head, utf16_length
from bot.delivery.texts import copyable, notice_text, office_locale, with_mentions
from bot.delivery.texts.erasure import ERASED_FOR_COUNSELLOR, ERASED_FOR_RETURNEE
from bot.delivery.texts.money import (
    news_keyboard,
    news_text,
    notice_keyboard,
    receipt_card,
    step_keyboard,
)
from bot.delivery.topics import Topics, thread_gone
from bot.languages import pick_shipped
from bot.services import ledger
from bot.services.messages import Entity
from bot.services.outbox import (
    CopyPayload,
    CounsellorPayload,
    EditFollowsPayload,
    EditTextPayload,
    ErasurePayload,
    NewsPayload,
    NoticePayload,
    Payload,
    ReceiptCardPayload,
    TextPayload,
    TopicWorkPayload,
    neighbour_payload,
    rewrite,
)
from storage.models import (
    Case,
    Destination,
    Direction,
    OutboxItem,
    OutboxKind,
    OutboxStatus,
    Person,
    Receipt,
    SentMessage,
)

logger = logging.getLogger(__name__)
# Clears a private chat's FSM and dialog state in the bot's storage (storage/fsm.py).
ForgetChat = Callable[[int], Awaitable[None]]
DELETE_AT_ONCE = 100  # deleteMessages takes 1 to 100 message ids


class Sent(NamedTuple):
    """One message Telegram now has for an item: the source it copies (if any) and the copy."""

    item: OutboxItem
    source_message_id: int | None
    copy_message_id: int


def _entities(entities: list[Entity] | list[dict[str, Any]]) -> list[MessageEntity] | None:
    dumped = [e.model_dump() if isinstance(e, Entity) else e for e in entities]
    return [MessageEntity(**entity) for entity in dumped] or None


def _reply(message_id: int | None) -> ReplyParameters | None:
    if message_id is None:
        return None
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


def _dumped(entities: list[Entity]) -> list[dict[str, Any]]:
    return [entity.model_dump() for entity in entities]


class Where(NamedTuple):
    """Where an item's messages go: the chat, the topic (for a group) and protection."""

    chat_id: int
    thread: int | None
    protect: bool

    def common(self) -> dict[str, Any]:
        common: dict[str, Any] = {"chat_id": self.chat_id, "message_thread_id": self.thread}
        if self.protect:
            common["protect_content"] = True
        return common


class Renderers:
    def __init__(
        self,
        gateway: Gateway,
        topics: Topics,
        i18n: I18n,
        forget_chat: ForgetChat | None = None,
    ) -> None:
        self.gateway = gateway
        self.topics = topics
        self.i18n = i18n
        self.forget_chat = forget_chat
        self.combined_saved = 0  # sends saved by combining short texts

    async def send(
        self,
        session: AsyncSession,
        item: OutboxItem,
        payload: Payload,
        case: Case | None,
        chat_id: int,
        thread: int | None,
    ) -> list[Sent]:
        """Send one item (or a whole album, or several combined texts)."""
        protect = isinstance(payload, CopyPayload | TextPayload) and payload.protect
        where = Where(chat_id, thread, protect)
        match payload:
            case EditTextPayload():
                return await self._edit_text(item, payload, chat_id)
            case TopicWorkPayload():
                return await self._topic_work(session, item, payload, case, chat_id, thread)
            case NoticePayload():
                return await self._notice(item, payload, case, where)
            case TextPayload():
                return await self._text(session, item, payload, where)
            case CopyPayload():
                return await self._copy(session, item, payload, case, where)
            case ReceiptCardPayload():
                return await self._receipt_card(session, item, payload, case, where)
            case NewsPayload():
                return await self._news(item, payload, where)
            case CounsellorPayload():
                return await self._counsellor(session, item, payload, where)
            case ErasurePayload():
                return await self._erasure(session, item, payload, chat_id)
            case EditFollowsPayload():
                raise AssertionError("an edit that follows is resolved before it is sent")
            case _:
                assert_never(payload)  # a new kind needs its renderer here

    # ---- one renderer per kind ---------------------------------------------------------------
    async def _edit_text(
        self, item: OutboxItem, payload: EditTextPayload, chat_id: int
    ) -> list[Sent]:
        await self.gateway.call(
            chat_id,
            EditMessageText(
                chat_id=payload.copy_chat_id,
                message_id=payload.copy_message_id,
                text=payload.text,
                entities=_entities(payload.entities),
            ),
        )
        return [Sent(item, None, 0)]

    async def _topic_work(
        self,
        session: AsyncSession,
        item: OutboxItem,
        payload: TopicWorkPayload,
        case: Case | None,
        chat_id: int,
        thread: int | None,
    ) -> list[Sent]:
        if payload.kind is OutboxKind.CARD:
            if case is not None and case.card_message_id is not None:
                text = await self.topics.card_text(session, case)
                await self.gateway.call(
                    chat_id,
                    EditMessageText(chat_id=chat_id, message_id=case.card_message_id, text=text),
                )
        elif payload.kind is OutboxKind.PIN:
            if case is not None and case.card_message_id is not None:
                await self.topics.pin(chat_id, case)
        elif thread is not None:
            await self.gateway.call(
                chat_id, CloseForumTopic(chat_id=chat_id, message_thread_id=thread)
            )
        return [Sent(item, None, 0)]

    async def _notice(
        self, item: OutboxItem, payload: NoticePayload, case: Case | None, where: Where
    ) -> list[Sent]:
        locale = (
            office_locale(case.office, self.i18n)
            if case and item.destination is Destination.TOPIC
            else self.i18n.default_locale
        )
        values: dict[str, Any] = dict(payload.values)
        if payload.entry is not None:
            values["entry"] = payload.entry
        text = notice_text(self.i18n, locale, payload.notice, values)
        text, mentions = with_mentions(text, [m.model_dump() for m in payload.mentions])
        if payload.entry is not None:
            mentions += copyable(text, [f"/kb {payload.entry}"])
        await self.gateway.call(
            where.chat_id,
            SendMessage(
                **where.common(),
                text=text,
                entities=_entities(mentions),
                reply_parameters=_reply(payload.reply_to),
                reply_markup=notice_keyboard(self.i18n, locale, payload.buttons),
            ),
        )
        return [Sent(item, None, 0)]

    async def _receipt_card(
        self,
        session: AsyncSession,
        item: OutboxItem,
        payload: ReceiptCardPayload,
        case: Case | None,
        where: Where,
    ) -> list[Sent]:
        """The card as the receipt is now: the first time after its files, copied (never
        forwarded: the returnee's name stays out of the group), then edited in place."""
        receipt = await session.get(Receipt, payload.receipt_id)
        if receipt is None or case is None:
            return [Sent(item, None, 0)]  # erased meanwhile: nothing to show
        locale = office_locale(case.office, self.i18n)
        balances = (await ledger.statement(session, case)).balances
        balance = next((b for b in balances if b.category == receipt.category), None)
        text = receipt_card(self.i18n, locale, case, receipt, balance)
        markup = step_keyboard(self.i18n, locale, receipt, balance, payload.step, payload.method)
        if receipt.card_message_id is not None and receipt.card_chat_id is not None:
            if await self._redrawn_later(session, item, receipt.id):
                return [Sent(item, None, 0)]  # a later edit shows the same card, newer
            await self.gateway.call(
                where.chat_id,
                EditMessageText(
                    chat_id=receipt.card_chat_id,
                    message_id=receipt.card_message_id,
                    text=text,
                    reply_markup=markup,
                ),
            )
            return [Sent(item, None, 0)]
        files = list(payload.files_sent)
        if not files and receipt.files:
            copies = await self.gateway.call(
                where.chat_id,
                CopyMessages(
                    **where.common(),
                    from_chat_id=receipt.files[0].chat_id,
                    message_ids=sorted(f.message_id for f in receipt.files),
                ),
            )
            files = [copy.message_id for copy in copies]
            rewrite(item, payload.model_copy(update={"files_sent": files}))
            await session.commit()  # a retry of the card does not copy the files again
        card = await self.gateway.call(
            where.chat_id,
            SendMessage(
                **where.common(),
                text=text,
                reply_markup=markup,
                reply_parameters=_reply(files[0] if files else None),
            ),
        )
        receipt.card_chat_id, receipt.card_message_id = where.chat_id, card.message_id
        return [Sent(item, None, card.message_id)]

    @staticmethod
    async def _redrawn_later(session: AsyncSession, item: OutboxItem, receipt_id: int) -> bool:
        """Another edit of this card waits behind this one: it draws the receipt as it is then,
        so this edit would only spend the group's budget (20 posts a minute)."""
        for later in await session.scalars(
            select(OutboxItem).where(
                OutboxItem.case_id == item.case_id,
                OutboxItem.status == OutboxStatus.PENDING,
                OutboxItem.kind == OutboxKind.RECEIPT_CARD,
                OutboxItem.id > item.id,
            )
        ):
            payload = neighbour_payload(later)
            if isinstance(payload, ReceiptCardPayload) and payload.receipt_id == receipt_id:
                return True
        return False

    async def _news(self, item: OutboxItem, payload: NewsPayload, where: Where) -> list[Sent]:
        await self.gateway.call(
            where.chat_id,
            SendMessage(
                chat_id=where.chat_id,
                text=news_text(self.i18n, payload),
                reply_markup=news_keyboard(self.i18n, payload),
                protect_content=True,  # about the returnee's money: not to be forwarded
            ),
        )
        return [Sent(item, None, 0)]

    async def _counsellor(
        self, session: AsyncSession, item: OutboxItem, payload: CounsellorPayload, where: Where
    ) -> list[Sent]:
        text = await compose(session, self.i18n, payload, item.case_id)
        if text is None:
            # Consent withdrawn, the counsellor unlinked, or nothing to tell: never sent.
            logger.info("outbox item %s withheld: no longer for its counsellor", item.id)
            item.status, item.payload = OutboxStatus.FAILED, {}
            return []
        # About a case: protected from forwarding, like everything about a returnee.
        protected = Where(where.chat_id, None, protect=True)
        sent = await self._parts(
            session, item, payload, protected, split(text, [], TEXT_LIMIT), None
        )
        return [Sent(item, None, message_id) for message_id in sent]

    async def _erasure(
        self, session: AsyncSession, item: OutboxItem, payload: ErasurePayload, chat_id: int
    ) -> list[Sent]:
        """An erased case's topic deleted, its returnee's chat cleared, or a counsellor told.
        What Telegram refuses for good (the topic gone already, messages too old to delete, a
        person who blocked the bot) is skipped: nothing else could be done about it later.
        A 429 or a network error leaves the item waiting, with what is done kept in it."""
        if payload.step == "topic":
            assert payload.thread is not None
            try:
                await self.gateway.call(
                    chat_id, DeleteForumTopic(chat_id=chat_id, message_thread_id=payload.thread)
                )
            except TelegramBadRequest as error:
                # Deleted by hand already; a right missing holds the group (delivery policy).
                if not (thread_gone(error) or "topic_id_invalid" in error.message.lower()):
                    raise
                logger.info("outbox item %s: the erased case's topic was gone already", item.id)
        elif payload.step == "counsellor":
            counsellor = await session.scalar(
                select(Person).where(Person.telegram_user_id == chat_id)
            )
            language = counsellor.language if counsellor else None
            locale = pick_shipped(language, self.i18n.default_locale)
            text = self.i18n.gettext(ERASED_FOR_COUNSELLOR, locale=locale).format(code=payload.code)
            await self._tell_erased(item, chat_id, text)
        else:
            await self._clear_chat(session, item, payload, chat_id)
        return [Sent(item, None, 0)]

    async def _clear_chat(
        self, session: AsyncSession, item: OutboxItem, payload: ErasurePayload, chat_id: int
    ) -> None:
        """Delete the messages named, 100 at a time (those under 48 hours old first: Telegram
        refuses older ones, maybe a whole call of them), then tell the returnee. The chat's id
        is not kept afterwards, nor the bot's record of its messages."""
        blocked = False
        while (payload.recent or payload.older) and not blocked:
            older = not payload.recent
            ids = (payload.older if older else payload.recent)[:DELETE_AT_ONCE]
            try:
                await self.gateway.call(chat_id, DeleteMessages(chat_id=chat_id, message_ids=ids))
            except TelegramForbiddenError:
                blocked = True  # they blocked the bot: it can neither delete nor tell them
            except TelegramBadRequest as error:
                logger.info(
                    "outbox item %s: %d messages could not be deleted (%s)",
                    item.id,
                    len(ids),
                    type(error).__name__,
                )
            rest = (payload.older if older else payload.recent)[DELETE_AT_ONCE:]
            payload = payload.model_copy(
                update={"recent": [], "older": []}
                if blocked
                else {"older" if older else "recent": rest}
            )
            rewrite(item, payload)
            await session.commit()  # a retry after a 429 goes on from here
        if not blocked:
            locale = pick_shipped(payload.language, self.i18n.default_locale)
            await self._tell_erased(
                item, chat_id, self.i18n.gettext(ERASED_FOR_RETURNEE, locale=locale)
            )
        # The chat's dialog state (in a transaction of the storage's own: first, while this
        # session holds no lock), and the bot's record of the chat's messages, the last one too.
        if self.forget_chat is not None:
            await self.forget_chat(chat_id)
        await session.execute(delete(SentMessage).where(SentMessage.chat_id == chat_id))
        item.chat_id = None

    async def _tell_erased(self, item: OutboxItem, chat_id: int, text: str) -> None:
        try:
            await self.gateway.call(
                chat_id, SendMessage(chat_id=chat_id, text=text, protect_content=True)
            )
        except (TelegramForbiddenError, TelegramBadRequest) as error:
            logger.info(
                "outbox item %s: not told of the erasure (%s)", item.id, type(error).__name__
            )

    async def _text(
        self, session: AsyncSession, item: OutboxItem, payload: TextPayload, where: Where
    ) -> list[Sent]:
        parts = split(payload.text, _dumped(payload.entities), TEXT_LIMIT)
        sent = await self._parts(session, item, payload, where, parts, _reply(payload.reply_to))
        return [Sent(item, payload.message_id, message_id) for message_id in sent]

    async def _copy(
        self,
        session: AsyncSession,
        item: OutboxItem,
        payload: CopyPayload,
        case: Case | None,
        where: Where,
    ) -> list[Sent]:
        if payload.header and not payload.sent:
            await self.gateway.call(
                where.chat_id, SendMessage(**where.common(), text=payload.header)
            )
        if payload.media_group_id:
            return await self._album(session, item, payload, where)
        if payload.combinable is not None and case is not None:
            combined = await self._combined(session, item, case, where)
            if combined:
                return combined
        caption: Part | None = None
        rest: list[Part] = []
        if payload.caption is not None:
            # Too long with the bot's additions: the longest caption that fits goes with the
            # media, the rest (the signature, say) follows as a text replying to it.
            caption, after = split_head(
                payload.caption, _dumped(payload.caption_entities), CAPTION_LIMIT
            )
            if after is not None:
                # A tail of nothing but spaces and line breaks shows nothing, and Telegram
                # refuses it as empty: the copy goes without it.
                rest = [p for p in split(after.text, after.entities, TEXT_LIMIT) if p.text.strip()]
        sent = list(payload.sent)
        if not sent:
            copy = await self.gateway.call(
                where.chat_id,
                CopyMessage(
                    **where.common(),
                    from_chat_id=payload.from_chat_id,
                    message_id=payload.message_id,
                    caption=caption.text if caption else None,
                    caption_entities=_entities(caption.entities if caption else []),
                    reply_parameters=_reply(payload.reply_to),
                ),
            )
            sent = [copy.message_id]
            if rest:
                payload = payload.model_copy(update={"sent": sent})
                rewrite(item, payload)
                await session.commit()
        if rest:
            sent = await self._parts(session, item, payload, where, rest, _reply(sent[0]), after=1)
        return [Sent(item, payload.message_id, message_id) for message_id in sent]

    # ---- texts in parts, combined texts, albums ----------------------------------------------
    async def _parts(
        self,
        session: AsyncSession,
        item: OutboxItem,
        payload: CopyPayload | TextPayload | CounsellorPayload,
        where: Where,
        parts: list[Part],
        reply: ReplyParameters | None,
        *,
        after: int = 0,
    ) -> list[int]:
        """Send a text's parts in order, the first replying as asked; return the ids of all the
        item's messages, including the `after` sent before the text (a copy whose caption it
        goes on).

        Each part sent is noted in the item, so a part refused for a moment (429, a network
        error) is tried again without sending the ones before it twice.
        """
        sent: list[int] = list(payload.sent)
        # A part of nothing but spaces and line breaks (a long text's blank tail) is one that
        # Telegram refuses as empty: it shows nothing, so it is left out.
        parts = [part for part in parts if part.text.strip()] or parts[:1]
        for number, part in enumerate(parts):
            if after + number < len(sent):
                continue  # Telegram has it already
            message = await self.gateway.call(
                where.chat_id,
                SendMessage(
                    **where.common(),
                    text=part.text,
                    entities=_entities(part.entities),
                    reply_parameters=reply if number == 0 else None,
                ),
            )
            sent.append(message.message_id)
            if number < len(parts) - 1:
                payload = payload.model_copy(update={"sent": list(sent)})
                rewrite(item, payload)
                await session.commit()
        return sent

    async def _combined(
        self, session: AsyncSession, item: OutboxItem, case: Case, where: Where
    ) -> list[Sent]:
        """Consecutive short texts still waiting go as one topic message, each with its time.

        Returns nothing when there is only this one: it is then copied as it is.
        """
        following = await session.scalars(
            select(OutboxItem)
            .where(
                OutboxItem.case_id == case.id,
                OutboxItem.status == OutboxStatus.PENDING,
                OutboxItem.destination == Destination.TOPIC,
                OutboxItem.id >= item.id,
            )
            .order_by(OutboxItem.id)
            .limit(20)
        )
        zone = ZoneInfo(case.office.timezone)
        parts: list[tuple[OutboxItem, int]] = []
        lines: list[str] = []
        for part in following:
            if part.direction is not Direction.FROM_RETURNEE:
                break  # keep the order: stop at the first message that cannot join
            payload = neighbour_payload(part)
            if not isinstance(payload, CopyPayload) or payload.combinable is None:
                break  # keep the order: stop at the first message that cannot join
            at = datetime.fromtimestamp(payload.combinable.at or 0, tz=zone)
            line = f"[{at:%H:%M}] {payload.combinable.text}"
            if utf16_length("\n".join([*lines, line])) > TEXT_LIMIT:
                break
            parts.append((part, payload.message_id))
            lines.append(line)
        if len(parts) < 2:
            return []
        sent = await self.gateway.call(
            where.chat_id, SendMessage(**where.common(), text="\n".join(lines))
        )
        self.combined_saved += len(parts) - 1
        return [Sent(part, message_id, sent.message_id) for part, message_id in parts]

    async def _album(
        self, session: AsyncSession, item: OutboxItem, payload: CopyPayload, where: Where
    ) -> list[Sent]:
        parts: list[tuple[OutboxItem, int]] = []
        for part in await session.scalars(
            select(OutboxItem)
            .where(
                OutboxItem.case_id == item.case_id,
                OutboxItem.status == OutboxStatus.PENDING,
                OutboxItem.direction == item.direction,
            )
            .order_by(OutboxItem.id)
        ):
            other = neighbour_payload(part)
            if isinstance(other, CopyPayload) and other.media_group_id == payload.media_group_id:
                parts.append((part, other.message_id))
        parts.sort(key=lambda part: part[1])
        copies = await self.gateway.call(
            where.chat_id,
            CopyMessages(
                **where.common(),
                from_chat_id=payload.from_chat_id,
                message_ids=[message_id for _, message_id in parts],
            ),
        )
        return [
            Sent(part, message_id, copy.message_id)
            for (part, message_id), copy in zip(parts, copies, strict=False)
        ]
