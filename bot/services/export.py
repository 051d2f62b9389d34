"""Everything Homeward holds about one person, for their request to see it
(`python -m bot admin export --case CODE [--out FILE]`).

One case and its returnee: the case with its lifecycle, the returnee's person row (nothing from
a Telegram profile is ever stored, so there is none to give), consents, relays (ids and times:
the messages themselves stay in the chats), receipts with their files' ids, payouts, ledger
lines, check-ins and their alerts, status updates and plans, the case's audit events and the
office's response times. Rows of other cases never enter it: every query is by the case's id.

As JSON: dates and moments in ISO 8601 (UTC), amounts as strings (Decimal, exact), keys sorted,
rows in the order they were made. The export itself is audited (`case.exported`, ids only).
Encrypted columns are opened with ENCRYPTION_KEYS: the export is the person's copy, in the clear.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.services.cases import get_case
from bot.services.clock import as_utc
from bot.services.ledger import receipt_code
from storage.models import (
    AuditEvent,
    Case,
    CaseUpdate,
    CheckIn,
    CheckInAlert,
    Consent,
    LedgerLine,
    Payout,
    Receipt,
    Relay,
    ResponseTime,
)


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _at(moment: datetime | None) -> datetime | None:
    return as_utc(moment) if moment is not None else None


class PersonRow(_Row):
    id: int
    telegram_user_id: int
    role: str
    language: str | None
    created_at: datetime | None


class CaseRow(_Row):
    id: int
    code: str
    office: str
    language: str
    status: str
    programme: str | None
    return_date: date | None
    created_at: datetime | None
    eligible_on: date | None
    applied_on: date | None
    returned_on: date | None
    closed_on: date | None
    dropped_on: date | None
    drop_reason: str | None
    declined_on: date | None
    decline_reason: str | None
    first_contact_at: datetime | None
    checkins: str
    sharing: str
    unreachable: bool
    assigned_staff_id: int | None
    counsellor_ids: list[int]


class ConsentRow(_Row):
    id: int
    person_id: int
    granted: bool
    text_version: str
    language: str
    at: datetime


class RelayRow(_Row):
    id: int
    direction: str
    author_id: int | None
    source_chat_id: int
    source_message_id: int
    copy_chat_id: int
    copy_message_id: int
    at: datetime


class ReceiptFileRow(_Row):
    id: int
    file_unique_id: str
    chat_id: int
    message_id: int


class ReceiptRow(_Row):
    id: int
    code: str
    category: str
    amount: Decimal
    currency: str
    description: str
    status: str
    submitted_at: datetime
    submitted_on: date
    duplicate_of: int | None
    decided_by_id: int | None
    decided_at: datetime | None
    rejection_reason: str | None
    rejection_note: str | None
    question: str | None
    payout_id: int | None
    files: list[ReceiptFileRow]


class PayoutRow(_Row):
    id: int
    category: str
    amount: Decimal
    status: str
    method: str | None
    receipt_id: int | None
    rate: Decimal | None
    instalment: int | None
    due_on: date | None
    paid_on: date | None
    received: bool | None
    approved_by_id: int | None
    approved_at: datetime | None
    paid_by_id: int | None
    created_at: datetime | None


class LedgerRow(_Row):
    id: int
    kind: str
    category: str
    from_category: str | None
    amount: Decimal
    reason: str
    status: str
    actor_id: int | None
    at: datetime


class CheckInRow(_Row):
    id: int
    month: int
    status: str
    due_at: datetime
    asked_at: datetime | None
    reminders: int
    answered_at: datetime | None
    feeling: str | None
    safe: str | None
    housing: str | None
    activity: str | None
    money: str | None
    contact: str | None
    note: str | None


class AlertRow(_Row):
    id: int
    check_in_id: int
    answer: str
    raised_at: datetime
    repeated: bool
    taken_by_id: int | None
    taken_at: datetime | None


class UpdateRow(_Row):
    id: int
    kind: str
    status: str | None
    text: str | None
    author_id: int | None
    created_at: datetime
    confirmed_at: datetime | None
    cancelled: bool


class AuditRow(_Row):
    id: int
    action: str
    actor_person_id: int | None
    at: datetime


class ResponseTimeRow(_Row):
    id: int
    staff_id: int | None
    asked_at: datetime
    answered_at: datetime
    seconds: int


class CaseExport(_Row):
    exported_at: datetime
    case: CaseRow
    person: PersonRow | None  # None: nobody has joined the case yet
    consents: list[ConsentRow]
    relays: list[RelayRow]
    receipts: list[ReceiptRow]
    payouts: list[PayoutRow]
    ledger_lines: list[LedgerRow]
    check_ins: list[CheckInRow]
    alerts: list[AlertRow]
    updates: list[UpdateRow]
    audit_events: list[AuditRow]
    response_times: list[ResponseTimeRow]

    def to_json(self) -> str:
        return json.dumps(
            self.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False
        )


async def _rows(session: AsyncSession, model: Any, case_id: int) -> list[Any]:
    return list(
        await session.scalars(select(model).where(model.case_id == case_id).order_by(model.id))
    )


def _case_row(case: Case) -> CaseRow:
    return CaseRow(
        id=case.id,
        code=case.code,
        office=case.office.code,
        language=case.language,
        status=case.status.value,
        programme=case.programme,
        return_date=case.return_date,
        created_at=_at(case.created_at),
        eligible_on=case.eligible_on,
        applied_on=case.applied_on,
        returned_on=case.returned_on,
        closed_on=case.closed_on,
        dropped_on=case.dropped_on,
        drop_reason=case.drop_reason,
        declined_on=case.declined_on,
        decline_reason=case.decline_reason,
        first_contact_at=_at(case.first_contact_at),
        checkins=case.checkins,
        sharing=case.sharing,
        unreachable=case.unreachable,
        assigned_staff_id=case.assigned_staff_id,
        counsellor_ids=sorted(person.id for person in case.counsellors),
    )


def _receipt_row(case: Case, receipt: Receipt) -> ReceiptRow:
    return ReceiptRow(
        id=receipt.id,
        code=receipt_code(case, receipt.number),
        category=receipt.category,
        amount=receipt.amount,
        currency=receipt.currency,
        description=receipt.description,
        status=receipt.status.value,
        submitted_at=as_utc(receipt.submitted_at),
        submitted_on=receipt.submitted_on,
        duplicate_of=receipt.duplicate_of,
        decided_by_id=receipt.decided_by_id,
        decided_at=_at(receipt.decided_at),
        rejection_reason=receipt.rejection_reason,
        rejection_note=receipt.rejection_note,
        question=receipt.question,
        payout_id=receipt.payout_id,
        files=[
            ReceiptFileRow(
                id=f.id, file_unique_id=f.file_unique_id, chat_id=f.chat_id, message_id=f.message_id
            )
            for f in receipt.files
        ],
    )


def _payout_row(payout: Payout) -> PayoutRow:
    return PayoutRow(
        id=payout.id,
        category=payout.category,
        amount=payout.amount,
        status=payout.status.value,
        method=payout.method.value if payout.method else None,
        receipt_id=payout.receipt_id,
        rate=payout.rate,
        instalment=payout.instalment,
        due_on=payout.due_on,
        paid_on=payout.paid_on,
        received=payout.received,
        approved_by_id=payout.approved_by_id,
        approved_at=_at(payout.approved_at),
        paid_by_id=payout.paid_by_id,
        created_at=_at(payout.created_at),
    )


def _check_in_row(row: CheckIn) -> CheckInRow:
    return CheckInRow(
        id=row.id,
        month=row.month,
        status=row.status.value,
        due_at=as_utc(row.due_at),
        asked_at=_at(row.asked_at),
        reminders=row.reminders,
        answered_at=_at(row.answered_at),
        feeling=row.feeling,
        safe=row.safe,
        housing=row.housing,
        activity=row.activity,
        money=row.money,
        contact=row.contact,
        note=row.note,
    )


async def export_case(session: AsyncSession, code: str, now: datetime) -> CaseExport:
    """Everything held about the case `code` and its returnee; audited. The caller commits."""
    found = await get_case(session, code)
    case = await session.scalar(
        select(Case)
        .where(Case.id == found.id)
        .options(
            selectinload(Case.office), selectinload(Case.returnee), selectinload(Case.counsellors)
        )
    )
    assert case is not None
    person = case.returnee
    audit_events = await _rows(session, AuditEvent, case.id)
    export = CaseExport(
        exported_at=as_utc(now),
        case=_case_row(case),
        person=(
            PersonRow(
                id=person.id,
                telegram_user_id=person.telegram_user_id,
                role=person.role.value,
                language=person.language,
                created_at=_at(person.created_at),
            )
            if person is not None
            else None
        ),
        consents=[
            ConsentRow(
                id=c.id,
                person_id=c.person_id,
                granted=c.granted,
                text_version=c.text_version,
                language=c.language,
                at=as_utc(c.at),
            )
            for c in await _rows(session, Consent, case.id)
        ],
        relays=[
            RelayRow(
                id=r.id,
                direction=r.direction.value,
                author_id=r.author_id,
                source_chat_id=r.source_chat_id,
                source_message_id=r.source_message_id,
                copy_chat_id=r.copy_chat_id,
                copy_message_id=r.copy_message_id,
                at=as_utc(r.at),
            )
            for r in await _rows(session, Relay, case.id)
        ],
        receipts=[_receipt_row(case, r) for r in await _rows(session, Receipt, case.id)],
        payouts=[_payout_row(p) for p in await _rows(session, Payout, case.id)],
        ledger_lines=[
            LedgerRow(
                id=line.id,
                kind=line.kind.value,
                category=line.category,
                from_category=line.from_category,
                amount=line.amount,
                reason=line.reason,
                status=line.status.value,
                actor_id=line.actor_id,
                at=as_utc(line.at),
            )
            for line in await _rows(session, LedgerLine, case.id)
        ],
        check_ins=[_check_in_row(row) for row in await _rows(session, CheckIn, case.id)],
        alerts=[
            AlertRow(
                id=a.id,
                check_in_id=a.check_in_id,
                answer=a.answer,
                raised_at=as_utc(a.raised_at),
                repeated=a.repeated,
                taken_by_id=a.taken_by_id,
                taken_at=_at(a.taken_at),
            )
            for a in await _rows(session, CheckInAlert, case.id)
        ],
        updates=[
            UpdateRow(
                id=u.id,
                kind=u.kind.value,
                status=u.status,
                text=u.text,
                author_id=u.author_id,
                created_at=as_utc(u.created_at),
                confirmed_at=_at(u.confirmed_at),
                cancelled=u.cancelled,
            )
            for u in await _rows(session, CaseUpdate, case.id)
        ],
        audit_events=[
            AuditRow(id=e.id, action=e.action, actor_person_id=e.actor_person_id, at=as_utc(e.at))
            for e in audit_events
        ],
        response_times=[
            ResponseTimeRow(
                id=t.id,
                staff_id=t.staff_id,
                asked_at=as_utc(t.asked_at),
                answered_at=as_utc(t.answered_at),
                seconds=t.seconds,
            )
            for t in await _rows(session, ResponseTime, case.id)
        ],
    )
    session.add(
        AuditEvent(action="case.exported", case_id=case.id, office_id=case.office_id, at=now)
    )
    return export
