"""A returnee asks to move money between two budget categories; staff allow or refuse it in
the topic. Both lines of an allowed move are in the ledger (bot/services/ledger.py)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import ledger, relay
from bot.services.cases import case_by_id, returnee_language
from bot.services.errors import RuleViolation
from bot.services.inbox import may_act
from bot.services.outbox import Money, NewsPayload, NoticeButton, queue_news
from storage.models import Case, LedgerLine, Person


async def request(
    session: AsyncSession,
    case: Case,
    returnee: Person,
    from_category: str,
    to_category: str,
    amount: Decimal,
) -> LedgerLine:
    if case.returnee_id != returnee.id:
        raise RuleViolation("only the case's returnee asks to move its money")
    line = await ledger.request_reallocation(
        session, case, from_category, to_category, amount, returnee
    )
    await session.flush()
    currency = (await ledger.statement(session, case)).of(to_category).currency
    await relay.notice(
        session,
        case,
        "reallocation_requested",
        buttons=[
            NoticeButton(action="move_yes", target=line.id),
            NoticeButton(action="move_no", target=line.id),
        ],
        amount=f"{amount} {currency}",
        from_category=from_category,
        category=to_category,
    )
    return line


async def decide(session: AsyncSession, line_id: int, staff: Person, *, allow: bool) -> LedgerLine:
    """Allow or refuse a requested move; the returnee is told either way."""
    line = await session.get(LedgerLine, line_id)
    if line is None:
        raise RuleViolation("no such request")
    case = await case_by_id(session, line.case_id)
    if not may_act(staff, case.office):
        raise RuleViolation("only the case's office's registered staff decide")
    line = await ledger.decide_reallocation(session, case, line_id, approve=allow, staff=staff)
    currency = (await ledger.statement(session, case)).of(line.category).currency
    if case.returnee is not None:
        await queue_news(
            session,
            case,
            case.returnee,
            NewsPayload(
                news="moved" if allow else "move_refused",
                language=returnee_language(case),
                category=line.category,
                amount=Money(amount=str(line.amount), currency=currency),
            ),
        )
    return line
