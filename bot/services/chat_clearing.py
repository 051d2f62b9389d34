"""Deleting messages from a returnee's private chat: "Clear this chat" from the privacy menu, and
a staff message marked `/sensitive`, deleted from the returnee's chat some hours later.

What the Bot API allows (deleteMessage, deleteMessages): a bot may delete its own messages in a
private chat and the messages it received there, but only within 48 hours of their sending. It
cannot list a chat's messages, so only messages known by id can go: the bot's own (every one is
remembered in `sent_messages`, bot/telegram/sent_messages.py), the returnee's messages that
reached the office (their `relays`, and the outbox items that carried them or a note about
them, such as a shared location) and the files of receipts already shown to staff. What the
returnee typed into a menu (an amount, a check-in note) is known to no table, and stays; the
returnee is told how to delete the whole chat in Telegram for that. The returnee's own messages
are written into `sent_messages` too when a clear asks for them, so that the sweep can finish
the request.

A request is never lost: the rows are marked due (`delete_at`) and committed before Telegram is
asked. What Telegram deletes (or no longer has) gets `deleted_at`; what it cannot take just now
(a network error, a 5xx, a 429) stays due, and the leader's sweep (`delete_due`) tries again;
what it refuses (too old, say) stops being due, and for a sensitive message the case's topic is
told. Deleting a message twice is harmless (the second time Telegram no longer has it), so each
outcome is recorded by a conditional update after the call: a process killed in between asks
once more, and never records an outcome, or tells the topic, twice.

A clear request marks each message due from the moment it was sent (`delete_at = sent_at`);
staff's `/sensitive` sets a later moment. That is how the sweep knows whose failure staff must
hear of: never of the returnee clearing their own chat.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import audit, relay
from bot.services.case_rows import case_by_id
from bot.services.clock import as_utc
from storage.models import (
    Case,
    Direction,
    OutboxItem,
    OutboxStatus,
    Person,
    Receipt,
    ReceiptFile,
    Relay,
    SentMessage,
)

# Telegram deletes a message only within this time of its sending (deleteMessage).
TELEGRAM_DELETES_WITHIN = timedelta(hours=48)
# A sensitive message is deleted at the latest this long after it was sent, so that a sweep
# (every few minutes) reaches it while Telegram still allows it.
LATEST_DELETION = timedelta(hours=47)
# Ids in one deleteMessages call (Telegram's limit), and rows one sweep takes at most.
PER_CALL = 100
BATCH = 500
NOTICE = "sensitive_not_deleted"


@dataclass(frozen=True)
class DeletionOutcome:
    """What Telegram made of a request to delete messages from one chat."""

    deleted: tuple[int, ...] = ()  # gone, including those it no longer had
    refused: tuple[int, ...] = ()  # it will not delete them (older than 48 hours, ...)
    later: tuple[int, ...] = ()  # it could not be asked just now: try again


class Deleter(Protocol):
    """Deletes messages from a chat (bot/telegram/deletion.py)."""

    async def delete(self, chat_id: int, message_ids: Sequence[int]) -> DeletionOutcome: ...


# ---- "Clear this chat" --------------------------------------------------------------------


async def request_clearing(session: AsyncSession, chat_id: int, now: datetime) -> list[int]:
    """Mark every message of this private chat that the bot may still delete as due now, and
    return their ids. The caller commits before asking Telegram (then the sweep finishes what
    Telegram could not take at once)."""
    since = now - TELEGRAM_DELETES_WITHIN
    rows = list(
        await session.scalars(
            select(SentMessage).where(SentMessage.chat_id == chat_id, SentMessage.sent_at >= since)
        )
    )
    known = {row.message_id for row in rows}
    for row in rows:
        if row.deleted_at is None:
            row.delete_at = row.sent_at  # due since it was sent: a clear request, not staff's
    # The returnee's own messages that reached the office (or a note about them did: a shared
    # location, a poll), and receipt files shown to staff: delivered already, so deleting them
    # here loses the office nothing. What still waits in the outbox is left alone.
    theirs = await session.execute(
        select(Relay.source_message_id, Relay.at).where(
            Relay.source_chat_id == chat_id, Relay.at >= since
        )
    )
    noted = await session.execute(
        select(OutboxItem.source_message_id, OutboxItem.created_at).where(
            OutboxItem.source_chat_id == chat_id,
            OutboxItem.source_message_id.is_not(None),
            OutboxItem.status == OutboxStatus.SENT,
            OutboxItem.created_at >= since,
        )
    )
    files = await session.execute(
        select(ReceiptFile.message_id, Receipt.submitted_at)
        .join(Receipt, Receipt.id == ReceiptFile.receipt_id)
        .where(
            ReceiptFile.chat_id == chat_id,
            Receipt.card_message_id.is_not(None),
            Receipt.submitted_at >= since,
        )
    )
    for message_id, at in [*theirs.all(), *noted.all(), *files.all()]:
        if message_id is not None and message_id not in known:
            known.add(message_id)
            session.add(
                SentMessage(chat_id=chat_id, message_id=message_id, sent_at=at, delete_at=at)
            )
    await session.flush()
    return sorted(
        await session.scalars(
            select(SentMessage.message_id).where(
                SentMessage.chat_id == chat_id,
                SentMessage.deleted_at.is_(None),
                SentMessage.delete_at.is_not(None),
                SentMessage.delete_at <= now,
            )
        )
    )


async def settle(
    session: AsyncSession, chat_id: int, outcome: DeletionOutcome, now: datetime
) -> None:
    """Record what Telegram did with a clear request's messages (nothing for staff to hear)."""
    if outcome.deleted:
        await session.execute(
            update(SentMessage)
            .where(
                SentMessage.chat_id == chat_id,
                SentMessage.message_id.in_(outcome.deleted),
                SentMessage.deleted_at.is_(None),
            )
            .values(deleted_at=now)
            .execution_options(synchronize_session=False)
        )
    if outcome.refused:
        await session.execute(
            update(SentMessage)
            .where(
                SentMessage.chat_id == chat_id,
                SentMessage.message_id.in_(outcome.refused),
                SentMessage.deleted_at.is_(None),
            )
            .values(delete_at=None)
            .execution_options(synchronize_session=False)
        )


# ---- /sensitive ---------------------------------------------------------------------------


class NotMarked(enum.Enum):
    NOT_TO_RETURNEE = "not_to_returnee"  # no copy of it ever went to the returnee
    ON_ITS_WAY = "on_its_way"  # it waits in the outbox: no copy exists yet
    TOO_OLD = "too_old"  # sent more than 48 hours ago: Telegram no longer deletes it
    ALREADY_DELETED = "already_deleted"


@dataclass(frozen=True)
class Marked:
    delete_at: datetime


def deletion_moment(sent_at: datetime, now: datetime, hours: float) -> datetime | None:
    """When a message sent at `sent_at` and marked sensitive at `now` is deleted: `hours` after
    the mark, but never later than Telegram allows; None when that is already past."""
    sent_at = as_utc(sent_at)
    if now >= sent_at + TELEGRAM_DELETES_WITHIN:
        return None
    return max(now, min(now + timedelta(hours=hours), sent_at + LATEST_DELETION))


async def mark_sensitive(
    session: AsyncSession,
    case: Case,
    staff: Person,
    chat_id: int,
    message_id: int,
    *,
    now: datetime,
    hours: float,
) -> Marked | NotMarked:
    """Staff marked their message in the case's topic (`chat_id`, `message_id`) sensitive: its
    copies in the returnee's chat are deleted `hours` from now (the sweep does it)."""
    copies = list(
        await session.scalars(
            select(Relay)
            .where(
                Relay.case_id == case.id,
                Relay.source_chat_id == chat_id,
                Relay.source_message_id == message_id,
                Relay.direction == Direction.TO_RETURNEE,
            )
            .order_by(Relay.id)
        )
    )
    if not copies:
        waiting = await session.scalar(
            select(OutboxItem.id).where(
                OutboxItem.case_id == case.id,
                OutboxItem.source_chat_id == chat_id,
                OutboxItem.source_message_id == message_id,
                OutboxItem.direction == Direction.TO_RETURNEE,
                OutboxItem.status.in_((OutboxStatus.PENDING, OutboxStatus.HELD)),
            )
        )
        return NotMarked.ON_ITS_WAY if waiting is not None else NotMarked.NOT_TO_RETURNEE
    rows = [await _row_of(session, copy) for copy in copies]
    left = [row for row in rows if row.deleted_at is None]
    if not left:
        return NotMarked.ALREADY_DELETED
    moment = deletion_moment(min(as_utc(row.sent_at) for row in left), now, hours)
    if moment is None:
        return NotMarked.TOO_OLD
    for row in left:
        if row.delete_at is None or as_utc(row.delete_at) > moment:
            row.delete_at = moment
    audit.record(session, "message.sensitive", actor_id=staff.id, case_id=case.id)
    return Marked(moment)


async def _row_of(session: AsyncSession, copy: Relay) -> SentMessage:
    """The copy's row in `sent_messages`; written here if remembering it failed at the time."""
    row = await session.scalar(
        select(SentMessage)
        .where(
            SentMessage.chat_id == copy.copy_chat_id,
            SentMessage.message_id == copy.copy_message_id,
        )
        .order_by(SentMessage.id)
        .limit(1)
    )
    if row is None:
        row = SentMessage(
            chat_id=copy.copy_chat_id, message_id=copy.copy_message_id, sent_at=copy.at
        )
        session.add(row)
    return row


# ---- the sweep ------------------------------------------------------------------------------


async def delete_due(session: AsyncSession, deleter: Deleter, now: datetime) -> int:
    """Delete what is due at `now` (a batch at most), chat by chat; return how many messages
    were settled (deleted, or refused by Telegram)."""
    due = (
        await session.execute(
            select(SentMessage.id, SentMessage.chat_id, SentMessage.message_id)
            .where(SentMessage.deleted_at.is_(None), SentMessage.delete_at <= now)
            .order_by(SentMessage.chat_id, SentMessage.message_id)
            .limit(BATCH)
        )
    ).all()
    await session.commit()  # no transaction stays open while Telegram answers
    settled = 0
    for chat_id, chat_rows in groupby(due, key=lambda row: row.chat_id):
        ids = {row.message_id: row.id for row in chat_rows}
        outcome = await deleter.delete(chat_id, list(ids))
        for message_id in outcome.deleted:
            settled += await _record_deleted(session, ids[message_id], now)
        for message_id in outcome.refused:
            settled += await _record_refused(session, ids[message_id])
        await session.commit()
    return settled


async def _record_deleted(session: AsyncSession, row_id: int, now: datetime) -> int:
    done = await session.execute(
        update(SentMessage)
        .where(SentMessage.id == row_id, SentMessage.deleted_at.is_(None))
        .values(deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


async def _record_refused(session: AsyncSession, row_id: int) -> int:
    """Telegram will not delete it: it stops being due, and if staff had marked it sensitive,
    the topic is told (once: only the process whose update takes the row tells)."""
    row = await session.get(SentMessage, row_id, populate_existing=True)
    if row is None or row.deleted_at is not None or row.delete_at is None:
        return 0
    sensitive = as_utc(row.delete_at) > as_utc(row.sent_at)
    done = await session.execute(
        update(SentMessage)
        .where(
            SentMessage.id == row_id,
            SentMessage.deleted_at.is_(None),
            SentMessage.delete_at.is_not(None),
        )
        .values(delete_at=None)
        .execution_options(synchronize_session=False)
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        return 0
    if sensitive:
        await _tell_topic(session, row)
    return 1


async def _tell_topic(session: AsyncSession, row: SentMessage) -> None:
    copy = await session.scalar(
        select(Relay)
        .where(
            Relay.copy_chat_id == row.chat_id,
            Relay.copy_message_id == row.message_id,
            Relay.direction == Direction.TO_RETURNEE,
        )
        .limit(1)
    )
    if copy is None:
        return  # the case was erased meanwhile: nobody to tell
    case = await case_by_id(session, copy.case_id)
    await relay.notice(session, case, NOTICE, reply_to=copy.source_message_id)
    audit.record(session, "message.sensitive_not_deleted", case_id=case.id)
