"""What happens to the old account when a new returnee invite moves a case to a new one.

A new invite is how staff answer a lost or replaced phone, so the old account may now be in
someone else's hands. Nothing more goes there: messages still waiting for the old chat follow
the case to the new one (a held one, held because the old account had blocked the bot, is tried
again there), and everything of the old chat that the bot may still delete (its own messages and
the returnee's that reached the office, within Telegram's 48 hours) is marked due, so the
leader's sweep deletes it as "Clear this chat" would. Audited by ids.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import audit, chat_clearing
from storage.models import Case, Destination, OutboxItem, OutboxStatus


async def leave_old_account(
    session: AsyncSession, case: Case, old_chat_id: int, new_chat_id: int, now: datetime
) -> int:
    """Moves what waits for `old_chat_id` to `new_chat_id` and marks the old chat for clearing;
    returns how many waiting messages moved. The caller commits."""
    moved = await session.execute(
        update(OutboxItem)
        .where(
            OutboxItem.case_id == case.id,
            OutboxItem.destination == Destination.PRIVATE,
            OutboxItem.chat_id == old_chat_id,
            OutboxItem.status.in_((OutboxStatus.PENDING, OutboxStatus.HELD)),
        )
        .values(chat_id=new_chat_id, status=OutboxStatus.PENDING)
        .execution_options(synchronize_session=False)
    )
    # The new account has not blocked the bot, whatever the old one did.
    case.unreachable = False
    await chat_clearing.request_clearing(session, old_chat_id, now)
    audit.record(session, "case.moved_account", case_id=case.id, office_id=case.office_id)
    return int(moved.rowcount or 0)  # type: ignore[attr-defined]  # a CursorResult for an UPDATE
