"""Receipts: a returnee sends one for a budget category; the case's office approves, rejects or
asks; the payout follows. Each function here is the whole of what happens at that step: the
rules, the rows, the audit line, the card in the topic and the news to the returnee.

Rules hold whoever asks (handlers only translate): only categories paid against receipts take
them, a closed case takes none, only the case's office's registered staff decide, a decision
counts once (a conditional update on the receipt's status and version, so a stale or second
press changes nothing), and no approval goes above what is left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import audit, ledger, relay
from bot.services.cases import case_by_id, returnee_language
from bot.services.clock import utcnow
from bot.services.errors import RuleViolation
from bot.services.inbox import alerted_staff, may_act
from bot.services.ledger import Balance, hold_case_money, receipt_code
from bot.services.outbox import (
    Money,
    NewsButton,
    NewsPayload,
    ReceiptCardPayload,
    queue,
    queue_news,
)
from storage.models import (
    Case,
    Destination,
    Direction,
    PaymentMethod,
    Payout,
    Person,
    Receipt,
    ReceiptFile,
    ReceiptStatus,
)

MAX_FILES = 10
MAX_FILE_BYTES = 20 * 1024 * 1024  # what a bot may download: the office must be able to open it
DESCRIPTION_LIMIT = 200
OVERDUE_DAYS = 10
OPEN = ledger.OPEN_RECEIPTS
# Why a receipt is turned down; the returnee reads the reason in their language.
REJECTION_REASONS = ("unreadable", "wrong_category", "not_a_receipt", "duplicate", "over_budget")


@dataclass(frozen=True)
class ReceiptFileRef:
    """A photo or document the returnee sent, by ids: it stays in their chat and is copied."""

    file_unique_id: str
    chat_id: int
    message_id: int


def money(value: Decimal, currency: str) -> Money:
    return Money(amount=str(value), currency=currency)


def receipt_categories(balances: list[Balance]) -> list[Balance]:
    """Where a receipt can go: categories paid against receipts that still have money left."""
    return [b for b in balances if b.takes_receipts and b.left > 0]


async def _news(session: AsyncSession, case: Case, news: NewsPayload) -> None:
    if case.returnee is not None:
        await queue_news(session, case, case.returnee, news)


async def _card(
    session: AsyncSession,
    case: Case,
    receipt: Receipt,
    step: Literal["main", "methods", "amount", "reasons"] = "main",
    method: str | None = None,
) -> None:
    await queue(
        session,
        case,
        ReceiptCardPayload(receipt_id=receipt.id, step=step, method=method),
        destination=Destination.TOPIC,
        direction=Direction.OFFICE_NOTICE,
        author=None,
    )


def _text(value: str, limit: int, what: str) -> str:
    cleaned = " ".join(value.split())
    if not cleaned:
        raise RuleViolation(f"{what} is empty")
    if len(cleaned) > limit:
        raise RuleViolation(f"{what} is longer than {limit} characters")
    return cleaned


# ---- the returnee sends a receipt ----------------------------------------------------------


async def submit(
    session: AsyncSession,
    case: Case,
    returnee: Person,
    *,
    category: str,
    amount: Decimal,
    currency: str,
    description: str,
    files: list[ReceiptFileRef],
    on: date,
) -> Receipt:
    """A new receipt, numbered R-<case>-<n>: its card goes to the topic, flagged when it may
    repeat an earlier one (the same file, or the same amount, day and description)."""
    if case.returnee_id != returnee.id:
        raise RuleViolation("only the case's returnee sends its receipts")
    if not ledger.takes_new_receipts(case):
        raise RuleViolation("the case is closed, so it takes no new receipts")
    if not 1 <= len(files) <= MAX_FILES:
        raise RuleViolation(f"a receipt has 1 to {MAX_FILES} photos or files")
    if not amount.is_finite() or amount >= Decimal("1e12"):
        raise RuleViolation("the amount is not a number the budget can hold")
    amount = amount.quantize(Decimal("0.01"))
    if amount <= 0:
        raise RuleViolation("the amount must be more than zero")
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        raise RuleViolation("a currency is a three-letter code")
    description = _text(description, DESCRIPTION_LIMIT, "the description")
    await hold_case_money(session, case)
    balances = (await ledger.statement(session, case)).balances
    if category not in {b.category for b in receipt_categories(balances)}:
        raise RuleViolation("this category takes no receipts, or has no money left")
    number = 1 + (
        await session.scalar(select(func.max(Receipt.number)).where(Receipt.case_id == case.id))
        or 0
    )
    duplicate = await _earlier_copy(session, case, amount, currency, description, files, on)
    receipt = Receipt(
        case_id=case.id,
        number=number,
        category=category,
        amount=amount.quantize(Decimal("0.01")),
        currency=currency.upper(),
        description=description,
        status=ReceiptStatus.SUBMITTED,
        version=1,
        submitted_at=utcnow(),
        submitted_on=on,
        duplicate_of=duplicate,
        files=[
            ReceiptFile(
                case_id=case.id,
                file_unique_id=f.file_unique_id,
                chat_id=f.chat_id,
                message_id=f.message_id,
            )
            for f in files
        ],
    )
    session.add(receipt)
    await session.flush()
    await _card(session, case, receipt)
    audit.record(session, "receipt.submitted", actor_id=returnee.id, case_id=case.id)
    return receipt


async def _earlier_copy(
    session: AsyncSession,
    case: Case,
    amount: Decimal,
    currency: str,
    description: str,
    files: list[ReceiptFileRef],
    on: date,
) -> int | None:
    same_file = await session.scalar(
        select(func.min(Receipt.number))
        .join(ReceiptFile, ReceiptFile.receipt_id == Receipt.id)
        .where(
            Receipt.case_id == case.id,
            ReceiptFile.file_unique_id.in_([f.file_unique_id for f in files]),
        )
    )
    if same_file is not None:
        return int(same_file)
    for number, text in await session.execute(
        select(Receipt.number, Receipt.description).where(
            Receipt.case_id == case.id,
            Receipt.amount == amount.quantize(Decimal("0.01")),
            Receipt.currency == currency.upper(),
            Receipt.submitted_on == on,
        )
    ):
        if text.casefold() == description.casefold():
            return int(number)
    return None


# ---- staff decide in the topic -------------------------------------------------------------


async def receipt_of_case(session: AsyncSession, case: Case, reference: str) -> Receipt:
    """A receipt named in a command: its number (2) or its code (R-RO-0007-2)."""
    text = reference.strip()
    prefix = f"R-{case.code}-".casefold()
    if text.casefold().startswith(prefix):
        text = text[len(prefix) :]
    # Digits of any script (int() reads them), and no more than a receipt number can be.
    if not text.isdecimal() or len(text) > 9:
        raise RuleViolation("name a receipt by its number, e.g. 2")
    receipt = await session.scalar(
        select(Receipt).where(Receipt.case_id == case.id, Receipt.number == int(text))
    )
    if receipt is None:
        raise RuleViolation("this case has no such receipt")
    return receipt


async def _decidable(
    session: AsyncSession, receipt_id: int, staff: Person | None, version: int | None
) -> tuple[Case, Receipt]:
    receipt = await session.get(Receipt, receipt_id)
    if receipt is None:
        raise RuleViolation("no such receipt")
    case = await case_by_id(session, receipt.case_id)
    if staff is None or not may_act(staff, case.office):
        raise RuleViolation("only the case's office's registered staff decide on its receipts")
    if version is not None and version != receipt.version:
        raise RuleViolation("this button is out of date; use the receipt's newest card")
    if receipt.status not in OPEN:
        raise RuleViolation("this receipt was decided already")
    return case, receipt


async def _move(
    session: AsyncSession, receipt: Receipt, to: ReceiptStatus, *, from_: tuple[ReceiptStatus, ...]
) -> None:
    """Change the status only if nobody changed the receipt meanwhile: the one decision."""
    done = await session.execute(
        update(Receipt)
        .where(
            Receipt.id == receipt.id,
            Receipt.version == receipt.version,
            Receipt.status.in_(from_),
        )
        .values(status=to, version=Receipt.version + 1)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise RuleViolation("this receipt was decided already")
    await session.refresh(receipt)


async def start_review(
    session: AsyncSession, receipt_id: int, staff: Person, version: int | None = None
) -> Receipt | None:
    """A staff member opens a decision: a submitted receipt is now under review, and the
    returnee is told so, once. Returns the receipt when it changed."""
    case, receipt = await _decidable(session, receipt_id, staff, version)
    if receipt.status is not ReceiptStatus.SUBMITTED:
        return None
    await _move(session, receipt, ReceiptStatus.UNDER_REVIEW, from_=(ReceiptStatus.SUBMITTED,))
    await _card(session, case, receipt)
    await _news(
        session,
        case,
        NewsPayload(
            news="under_review", language=returnee_language(case), receipt=_code(case, receipt)
        ),
    )
    return receipt


async def show_step(
    session: AsyncSession,
    receipt_id: int,
    staff: Person,
    step: Literal["main", "methods", "amount", "reasons"],
    *,
    method: PaymentMethod | None = None,
    version: int | None = None,
) -> Receipt:
    """The card redrawn with the buttons of the next step of a decision. It waits its turn
    behind the card's other edits, so a later edit never hides the step."""
    case, receipt = await _decidable(session, receipt_id, staff, version)
    await _card(session, case, receipt, step, method.value if method else None)
    return receipt


def converted(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def positive_decimal(text: str) -> Decimal:
    """A rate or amount staff typed: digits with one decimal point or comma."""
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        raise RuleViolation("write a number like 0.22 or 150") from None
    if not value.is_finite() or value <= 0 or value >= Decimal("1e12"):
        raise RuleViolation("write a number more than zero")
    return value


async def approve(
    session: AsyncSession,
    receipt_id: int,
    staff: Person,
    *,
    method: PaymentMethod,
    amount: Decimal | None = None,
    rate: Decimal | None = None,
    version: int | None = None,
) -> Payout:
    """Approve a receipt: the full amount or less, in the programme's currency (at `rate`
    when the receipt is in another), to be paid by `method`. Two staff approving at once make
    one payout: the case's money is held first, then the receipt's status moves once."""
    case, receipt = await _decidable(session, receipt_id, staff, version)
    await hold_case_money(session, case)
    await session.refresh(receipt)
    case, receipt = await _decidable(session, receipt_id, staff, version)
    balance = (await ledger.statement(session, case)).of(receipt.category)
    if receipt.currency == balance.currency:
        full = receipt.amount
    elif rate is not None:
        full = converted(receipt.amount, rate)
    elif amount is None:
        raise RuleViolation(
            f"the receipt is in {receipt.currency}: give the rate to {balance.currency}"
        )
    else:
        full = amount
    value = full if amount is None else amount.quantize(Decimal("0.01"))
    if value > full:
        raise RuleViolation(f"approve at most the receipt's {full} {balance.currency}")
    # Every rule is checked before anything changes: a refusal writes nothing.
    if value <= 0:
        raise RuleViolation("the amount must be more than zero")
    if value > balance.left:
        raise RuleViolation(f"only {balance.left} {balance.currency} is left in {receipt.category}")
    await _move(session, receipt, ReceiptStatus.APPROVED, from_=OPEN)
    payout = await ledger.approve_payout(
        session,
        case,
        receipt.category,
        value,
        method=method,
        staff=staff,
        receipt_id=receipt.id,
        rate=rate,
    )
    receipt.payout_id, receipt.decided_by_id, receipt.decided_at = payout.id, staff.id, utcnow()
    receipt.prompt_message_id = receipt.prompt = None
    left = (await ledger.statement(session, case)).of(receipt.category).left
    await _card(session, case, receipt)
    await _news(
        session,
        case,
        NewsPayload(
            news="approved",
            language=returnee_language(case),
            receipt=_code(case, receipt),
            category=receipt.category,
            amount=money(value, balance.currency),
            left=money(left, balance.currency),
            reason=method.value,
        ),
    )
    audit.record(session, "receipt.approved", actor_id=staff.id, case_id=case.id)
    return payout


async def reject(
    session: AsyncSession,
    receipt_id: int,
    staff: Person,
    *,
    reason: str | None = None,
    note: str | None = None,
    version: int | None = None,
) -> Receipt:
    """Turn a receipt down with a reason from the list, or in the staff member's words."""
    if reason is None and not note:
        raise RuleViolation("give a reason")
    if reason is not None and reason not in REJECTION_REASONS:
        raise RuleViolation("not a known reason")
    case, receipt = await _decidable(session, receipt_id, staff, version)
    written = _text(note, 300, "the reason") if note else None
    await _move(session, receipt, ReceiptStatus.REJECTED, from_=OPEN)
    receipt.rejection_reason, receipt.rejection_note = reason, written
    receipt.decided_by_id, receipt.decided_at = staff.id, utcnow()
    receipt.prompt_message_id = receipt.prompt = None
    await _card(session, case, receipt)
    await _news(
        session,
        case,
        NewsPayload(
            news="rejected",
            language=returnee_language(case),
            receipt=_code(case, receipt),
            category=receipt.category,
            reason=reason,
            note=written,
        ),
    )
    audit.record(session, "receipt.rejected", actor_id=staff.id, case_id=case.id)
    return receipt


async def ask(
    session: AsyncSession,
    receipt_id: int,
    staff: Person,
    question: str,
    version: int | None = None,
) -> Receipt:
    """A question to the returnee about the receipt; their answer comes back to its card."""
    case, receipt = await _decidable(session, receipt_id, staff, version)
    written = _text(question, 500, "the question")
    await _move(session, receipt, ReceiptStatus.NEEDS_INFO, from_=OPEN)
    receipt.question = written
    receipt.prompt_message_id = receipt.prompt = None
    await _card(session, case, receipt)
    await _news(
        session,
        case,
        NewsPayload(
            news="question",
            language=returnee_language(case),
            receipt=_code(case, receipt),
            note=written,
            buttons=[NewsButton(action="answer", target=receipt.id)],
        ),
    )
    audit.record(session, "receipt.asked", actor_id=staff.id, case_id=case.id)
    return receipt


async def answer(session: AsyncSession, receipt_id: int, returnee: Person, text: str) -> Receipt:
    """The returnee answers the office's question; it reaches the topic under the card."""
    receipt = await session.get(Receipt, receipt_id)
    case = await case_by_id(session, receipt.case_id) if receipt else None
    if receipt is None or case is None or case.returnee_id != returnee.id:
        raise RuleViolation("not a receipt of this returnee")
    if receipt.status is not ReceiptStatus.NEEDS_INFO:
        raise RuleViolation("the office has no open question about this receipt")
    written = _text(text, 1000, "the answer")
    await _move(session, receipt, ReceiptStatus.UNDER_REVIEW, from_=(ReceiptStatus.NEEDS_INFO,))
    await relay.notice(
        session,
        case,
        "receipt_answered",
        reply_to=receipt.card_message_id,
        receipt=_code(case, receipt),
        answer=written,
    )
    await _card(session, case, receipt)
    audit.record(session, "receipt.answered", actor_id=returnee.id, case_id=case.id)
    return receipt


def _code(case: Case, receipt: Receipt) -> str:
    return receipt_code(case, receipt.number)


# ---- payouts: paid, received, overdue ------------------------------------------------------


async def mark_paid(
    session: AsyncSession, case: Case, payout_id: int, staff: Person, on: date
) -> Payout:
    """Staff confirm a payout was made; the returnee is told and asked whether it arrived."""
    if not may_act(staff, case.office):
        raise RuleViolation("only the case's office's registered staff record payouts")
    payout = await ledger.mark_paid(session, case, payout_id, staff, on)
    balance = (await ledger.statement(session, case)).of(payout.category)
    receipt = await session.get(Receipt, payout.receipt_id) if payout.receipt_id else None
    if receipt is not None:
        receipt.status, receipt.version = ReceiptStatus.PAID, receipt.version + 1
        await _card(session, case, receipt)
    await _news(
        session,
        case,
        NewsPayload(
            news="paid",
            language=returnee_language(case),
            receipt=_code(case, receipt) if receipt else None,
            category=payout.category,
            amount=money(payout.amount, balance.currency),
            left=money(balance.left, balance.currency),
            reason=payout.method.value if payout.method else None,
            buttons=[
                NewsButton(action="received", target=payout.id),
                NewsButton(action="not_received", target=payout.id),
            ],
        ),
    )
    return payout


async def received(
    session: AsyncSession, case: Case, payout_id: int, returnee: Person, *, arrived: bool
) -> Payout:
    """The returnee says whether the money arrived; "not received" alerts the office at once."""
    payout = await ledger.answer_received(
        session, case, payout_id, received=arrived, returnee=returnee
    )
    if not arrived:
        currency = (await ledger.statement(session, case)).of(payout.category).currency
        await relay.notice(
            session,
            case,
            "money_not_received",
            mentions=await alerted_staff(session, case),
            amount=f"{payout.amount} {currency}",
            category=payout.category,
        )
    return payout


async def tell_overdue(session: AsyncSession, now: datetime | None = None) -> int:
    """Approved payouts unpaid after ten days show up in their topic as overdue, once each."""
    moment = utcnow() if now is None else now
    told = 0
    for payout in await ledger.overdue(session, moment, OVERDUE_DAYS):
        case = await case_by_id(session, payout.case_id)
        receipt = await session.get(Receipt, payout.receipt_id) if payout.receipt_id else None
        currency = (await ledger.statement(session, case)).of(payout.category).currency
        await relay.notice(
            session,
            case,
            "payout_overdue",
            reply_to=receipt.card_message_id if receipt else None,
            amount=f"{payout.amount} {currency}",
            days=str(OVERDUE_DAYS),
        )
        told += 1
    return told


# ---- prompts: staff answer the bot by replying in the topic --------------------------------


async def set_prompt(
    session: AsyncSession,
    receipt_id: int,
    staff: Person,
    prompt: str,
    message_id: int,
    version: int,
) -> Receipt:
    """Remember the bot's question to staff (a question for the returnee, a reason, an amount
    or a rate): a reply to it in the topic is taken as the answer."""
    _, receipt = await _decidable(session, receipt_id, staff, version)
    receipt.prompt, receipt.prompt_message_id = prompt, message_id
    return receipt


async def prompted(session: AsyncSession, case: Case, message_id: int) -> Receipt | None:
    """The open receipt of the case whose prompt this message is."""
    return await session.scalar(
        select(Receipt).where(
            Receipt.case_id == case.id,
            Receipt.prompt_message_id == message_id,
            Receipt.status.in_(OPEN),
        )
    )


async def unpaid_of(session: AsyncSession, case: Case) -> list[tuple[Payout, str | None]]:
    """What staff may mark paid, with the receipt code where there is one."""
    numbers = dict(
        (
            await session.execute(
                select(Receipt.id, Receipt.number).where(Receipt.case_id == case.id)
            )
        ).all()
    )
    return [
        (p, receipt_code(case, numbers[p.receipt_id]) if p.receipt_id in numbers else None)
        for p in await ledger.unpaid(session, case)
    ]
