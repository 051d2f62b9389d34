"""Erasing a case and its returnee (issue 14), at the returnee's request: from the privacy menu,
confirmed by the office's staff in the case's topic, or by an admin
(`python -m bot admin erase --case RO-0007`).

What is left is a tombstone (`ErasedCase`): the office, the programme, and the lifecycle's dates
and reasons, which the programme's statistics count (bot/services/statistics.py); no code, no
person, nothing anybody wrote. Everything else about the case and its returnee goes, in one
transaction:

- every row that refers to the case (found through the foreign keys, so a table added later is
  covered too): consents, relays, outbox items, receipts and their files, payouts, ledger lines,
  check-ins and their alerts, status updates and plans, response times, the case's invites,
  its counsellors' link to it. The case's audit lines stay, without the case: who of the
  office's staff did what and when remains accountable, and nothing in them points to a person;
- the returnee's Person row; rows that name them lose the name (an audit line whose actor
  they were keeps its action and time, not the actor);
- what names their private chat: the outbox, relays, the bot's remembered messages
  (`sent_messages`), and their FSM and dialog state in the database (`fsm_records`). State kept
  in Redis is deleted by the caller (storage/fsm_keys.py), and by the sender once more when
  the erasure reaches Telegram, together with the bot process's cache (storage/fsm.py).

The counsellors' own rows (their digests) stay: they are the counsellor's.

What must happen in Telegram is queued in the outbox (kind ERASURE, bot/services/outbox.py
`ErasurePayload`), so a crash loses none of it and it leaves through the one sender: the case's
topic is deleted with all its messages; the messages in the returnee's chat that the bot knows of
(its own, and theirs it relayed) are deleted as far as the Bot API allows, and they are told
their data is erased; each counsellor is told, in their language, that the case was erased.
Those items have no case and carry chat and message ids, the returnee's language and, for the
counsellors, the case's code; a payload is emptied once Telegram has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import relay
from bot.services.case_rows import case_by_id, returnee_language
from bot.services.clock import as_utc
from bot.services.errors import NotFound, RuleViolation
from bot.services.inbox import may_act
from bot.services.outbox import ErasurePayload, NewsPayload, NoticeButton, queue, queue_news
from storage.fsm_keys import is_chat_key, like_pattern
from storage.models import (
    AuditEvent,
    Base,
    Case,
    Destination,
    Direction,
    ErasedCase,
    FsmRecord,
    OutboxItem,
    Person,
    Receipt,
    ReceiptFile,
    Relay,
    SentMessage,
)

# Telegram deletes a message only if it was sent less than 48 hours ago (deleteMessage).
DELETABLE_FOR = timedelta(hours=48)
REQUESTED = "erasure.requested"  # the returnee asked, from the privacy menu
REFUSED = "erasure.refused"  # staff refused that request
ERASED = "case.erased"  # no case on this line: it is gone


@dataclass(frozen=True)
class Erased:
    """What an erasure did: the tombstone's id and what it queued for Telegram."""

    tombstone_id: int
    returnee_chat: int | None  # whose FSM and dialog state the caller clears in Redis
    topic: bool  # the case had a topic, now queued for deletion
    messages: int  # in the returnee's chat, queued for deletion
    counsellors: int  # told that the case was erased


async def _lock(session: AsyncSession, case_id: int) -> None:
    """The case's row, held until the transaction ends (PostgreSQL): two staff pressing at once,
    or an admin and staff, decide once. SQLite serialises writers by itself."""
    if await session.scalar(select(Case.id).where(Case.id == case_id).with_for_update()) is None:
        raise NotFound("the case does not exist (erased already?)")


async def erase(
    session: AsyncSession, case: Case, *, actor: Person | None, now: datetime
) -> Erased:
    """Erase the case and its returnee; queue what Telegram must do. The caller commits."""
    await _lock(session, case.id)
    case = await case_by_id(session, case.id)
    returnee = case.returnee
    chat = returnee.telegram_user_id if returnee is not None else None
    group = case.inbox_chat_id or case.office.staff_group_chat_id
    thread = case.topic_id
    counsellor_chats = sorted(person.telegram_user_id for person in case.counsellors)
    code, language, office_id = case.code, returnee_language(case), case.office_id
    messages = await _messages_in_chat(session, case.id, chat) if chat is not None else {}

    tombstone = ErasedCase(
        office_id=office_id,
        erased_at=now,
        programme=case.programme,
        eligible_on=case.eligible_on,
        applied_on=case.applied_on,
        returned_on=case.returned_on,
        closed_on=case.closed_on,
        dropped_on=case.dropped_on,
        drop_reason=case.drop_reason,
        declined_on=case.declined_on,
        decline_reason=case.decline_reason,
    )
    await _remove(session, case, returnee, chat)
    session.add(tombstone)
    session.add(
        AuditEvent(
            action=ERASED, actor_person_id=actor.id if actor else None, office_id=office_id, at=now
        )
    )

    # Telegram's part, queued after the rows went: these items name the returnee's chat too.
    if thread is not None and group is not None:
        await queue(
            session,
            None,
            ErasurePayload(step="topic", thread=thread),
            destination=Destination.TOPIC,
            direction=Direction.OFFICE_NOTICE,
            author=None,
            chat_id=group,
        )
    if chat is not None:
        deletable = {m for m, at in messages.items() if at >= now - DELETABLE_FOR}
        recent = sorted(deletable, reverse=True)
        older = sorted(set(messages) - deletable, reverse=True)
        await queue(
            session,
            None,
            ErasurePayload(step="chat", recent=recent, older=older, language=language),
            destination=Destination.PRIVATE,
            direction=Direction.TO_RETURNEE,
            author=None,
            chat_id=chat,
        )
    for counsellor_chat in counsellor_chats:
        await queue(
            session,
            None,
            ErasurePayload(step="counsellor", code=code),
            destination=Destination.PRIVATE,
            direction=Direction.TO_COUNSELLOR,
            author=None,
            chat_id=counsellor_chat,
        )
    await session.flush()
    return Erased(
        tombstone_id=tombstone.id,
        returnee_chat=chat,
        topic=thread is not None and group is not None,
        messages=len(messages),
        counsellors=len(counsellor_chats),
    )


async def _messages_in_chat(session: AsyncSession, case_id: int, chat: int) -> dict[int, datetime]:
    """The messages of the returnee's private chat that the bot knows of, with when they were
    sent: its own (remembered as they were sent, whatever sent them), and the returnee's it
    relayed or took as a receipt's files (a bot may delete incoming messages in a private
    chat). Messages the bot never saw the id of (a message never passed on) cannot be named."""
    found: dict[int, datetime] = {}

    def note(message_id: int, at: datetime) -> None:
        moment = as_utc(at)
        found[message_id] = max(found.get(message_id, moment), moment)

    for message_id, at in await session.execute(
        select(SentMessage.message_id, SentMessage.sent_at).where(
            SentMessage.chat_id == chat, SentMessage.deleted_at.is_(None)
        )
    ):
        note(message_id, at)
    for source_chat, source, copy, at in await session.execute(
        select(
            Relay.source_chat_id,
            Relay.source_message_id,
            Relay.copy_message_id,
            Relay.at,
        ).where(
            Relay.case_id == case_id, or_(Relay.source_chat_id == chat, Relay.copy_chat_id == chat)
        )
    ):
        note(source if source_chat == chat else copy, at)
    for message_id, at in await session.execute(
        select(ReceiptFile.message_id, Receipt.submitted_at)
        .join(Receipt, Receipt.id == ReceiptFile.receipt_id)
        .where(ReceiptFile.case_id == case_id, ReceiptFile.chat_id == chat)
    ):
        note(message_id, at)
    for source_id, at in await session.execute(
        select(OutboxItem.source_message_id, OutboxItem.created_at).where(
            OutboxItem.source_chat_id == chat
        )
    ):
        if source_id is not None:
            note(source_id, at)
    return found


def _references(table: Table, target: Table) -> list[tuple[str, bool, bool]]:
    """The columns of `table` that refer to `target`: (name, set to NULL on delete, nullable)."""
    return [
        (fk.parent.name, (fk.ondelete or "").upper() == "SET NULL", bool(fk.parent.nullable))
        for fk in table.foreign_keys
        if fk.column.table is target and table is not target
    ]


async def _remove(
    session: AsyncSession, case: Case, returnee: Person | None, chat: int | None
) -> None:
    """Every row about the case and its returnee, children before parents."""
    cases, persons = Case.__table__, Person.__table__
    assert isinstance(cases, Table)
    assert isinstance(persons, Table)
    tables = list(reversed(Base.metadata.sorted_tables))
    for table in tables:
        for column, set_null, _ in _references(table, cases):
            if set_null:  # the audit log: the line stays, the case goes
                await session.execute(
                    update(table).where(table.c[column] == case.id).values({column: None})
                )
            else:
                await session.execute(delete(table).where(table.c[column] == case.id))
    if chat is not None:
        await session.execute(
            delete(OutboxItem).where(
                or_(OutboxItem.chat_id == chat, OutboxItem.source_chat_id == chat)
            )
        )
        await session.execute(
            delete(Relay).where(or_(Relay.source_chat_id == chat, Relay.copy_chat_id == chat))
        )
        await session.execute(delete(SentMessage).where(SentMessage.chat_id == chat))
        keys = [
            key
            for key in await session.scalars(
                select(FsmRecord.key).where(FsmRecord.key.like(like_pattern(chat)))
            )
            if is_chat_key(key, chat)
        ]
        if keys:
            await session.execute(delete(FsmRecord).where(FsmRecord.key.in_(keys)))
    await session.execute(delete(cases).where(cases.c.id == case.id))
    if returnee is not None:
        for table in tables:
            for column, _, nullable in _references(table, persons):
                where = table.c[column] == returnee.id
                if nullable:
                    await session.execute(update(table).where(where).values({column: None}))
                else:
                    await session.execute(delete(table).where(where))
        await session.execute(delete(persons).where(persons.c.id == returnee.id))
        session.expunge(returnee)
    session.expunge(case)


# ---- the returnee's request, and the office's answer -------------------------------------


async def pending_request(session: AsyncSession, case_id: int) -> AuditEvent | None:
    """The case's erasure request still waiting for the office, if there is one."""
    latest = await session.scalar(
        select(AuditEvent)
        .where(AuditEvent.case_id == case_id, AuditEvent.action.in_((REQUESTED, REFUSED)))
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    return latest if latest is not None and latest.action == REQUESTED else None


async def request(session: AsyncSession, case: Case, returnee: Person, now: datetime) -> bool:
    """The returnee asks to have their data erased: a note with two buttons goes to the case's
    topic. False if a request of theirs is already waiting (nothing more is sent)."""
    if case.returnee_id != returnee.id:
        raise RuleViolation("only the case's returnee asks to erase it")
    await _lock(session, case.id)
    if await pending_request(session, case.id) is not None:
        return False
    asked = AuditEvent(
        action=REQUESTED,
        actor_person_id=returnee.id,
        case_id=case.id,
        office_id=case.office_id,
        at=now,
    )
    session.add(asked)
    await session.flush()
    await relay.notice(
        session,
        case,
        "erasure_requested",
        buttons=[
            NoticeButton(action="erase_yes", target=asked.id),
            NoticeButton(action="erase_no", target=asked.id),
        ],
    )
    return True


async def decide(
    session: AsyncSession, request_id: int, staff: Person, *, erase_it: bool, now: datetime
) -> Erased | None:
    """Staff erase the case as its returnee asked (what was erased), or refuse (None; the
    returnee is told). Only the case's office's registered staff decide, and only the case's
    waiting request: a forged, replayed or out-of-date press raises RuleViolation."""
    asked = await session.get(AuditEvent, request_id)
    if asked is None or asked.action != REQUESTED or asked.case_id is None:
        raise RuleViolation("no such erasure request")
    case_id = asked.case_id
    await _lock(session, case_id)
    case = await case_by_id(session, case_id)
    if not may_act(staff, case.office):
        raise RuleViolation("only the case's office's registered staff decide")
    waiting = await pending_request(session, case.id)
    if waiting is None or waiting.id != request_id:
        raise RuleViolation("this erasure request was decided already")
    if erase_it:
        return await erase(session, case, actor=staff, now=now)
    session.add(
        AuditEvent(
            action=REFUSED,
            actor_person_id=staff.id,
            case_id=case.id,
            office_id=case.office_id,
            at=now,
        )
    )
    if case.returnee is not None:
        await queue_news(
            session,
            case,
            case.returnee,
            NewsPayload(news="erasure_refused", language=returnee_language(case)),
        )
    return None
