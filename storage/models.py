"""The database model. It stores as little as possible about people.

Nothing from a Telegram profile (names, username, photo) is ever written. A returnee has no name
here at all: staff know them by their case code. Staff and counsellor display names are typed in
by an admin.

Columns typed `EncryptedText` / `EncryptedJSON` hold what people wrote; with ENCRYPTION_KEYS set
they are sealed at rest (storage/encrypted.py). Never compare, order or search them in SQL by
content: only "" / {} / NULL stay plain, so "holds something" tests work and nothing else does.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.encrypted import EncryptedJSON, EncryptedText


class Base(DeclarativeBase):
    pass


class Role(enum.StrEnum):
    RETURNEE = "returnee"
    COUNSELLOR = "counsellor"
    STAFF = "staff"
    ADMIN = "admin"


class KnowledgeMode(enum.StrEnum):
    """What the bot does when a returnee's message matches a programme question."""

    OFF = "off"
    SUGGEST = "suggest"  # staff see the matching entry in the topic
    ANSWER = "answer"  # the returnee also gets the answer at once, marked as automatic


class PaidAs(enum.StrEnum):
    CASH = "cash"
    IN_KIND = "in_kind"  # transferred only against receipts, pro-forma invoices or agreements


class CaseStatus(enum.StrEnum):
    PREPARING = "preparing"
    RETURNED = "returned"
    CLOSED = "closed"
    DROPPED_OUT = "dropped_out"


def _enum(kind: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings (no native PostgreSQL enum), so SQLite and PostgreSQL agree.
    return Enum(kind, name=name, native_enum=False, values_callable=lambda k: [m.value for m in k])


case_counsellors = Table(
    "case_counsellors",
    Base.metadata,
    Column("case_id", ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
    Column("person_id", ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True),
)


class Office(Base):
    __tablename__ = "offices"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64))
    # Language codes in the office's order of preference, e.g. ["ro", "en"].
    languages: Mapped[list[str]] = mapped_column(JSON)
    staff_group_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Opening hours in the office's time zone: {"mon": ["09:00", "17:00"], ...}; empty = always.
    working_hours: Mapped[dict[str, list[str]]] = mapped_column(
        JSON, default=dict, server_default=text("'{}'")
    )
    holidays: Mapped[list[str]] = mapped_column(  # ISO dates
        JSON, default=list, server_default=text("'[]'")
    )
    # Sign answers with the staff member's registered first name as well as the office's name.
    sign_with_staff_name: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )

    # Told to a returnee at once when their message holds a danger phrase.
    emergency_contact: Mapped[str | None] = mapped_column(String(200))
    knowledge_mode: Mapped[KnowledgeMode] = mapped_column(
        _enum(KnowledgeMode, "knowledge_mode"),
        default=KnowledgeMode.ANSWER,
        server_default=KnowledgeMode.ANSWER.value,
    )

    cases: Mapped[list[Case]] = relationship(back_populates="office")
    extra_inboxes: Mapped[list[OfficeInbox]] = relationship(
        cascade="all, delete-orphan", order_by="OfficeInbox.id"
    )

    def inbox_chat_ids(self) -> list[int]:
        """The office's staff groups: the main one first, then those added to spread the load."""
        main = [self.staff_group_chat_id] if self.staff_group_chat_id else []
        return main + [inbox.chat_id for inbox in self.extra_inboxes]


class OfficeInbox(Base):
    """A further staff group of an office: Telegram's 20 posts a minute hold per group, so an
    office with many cases spreads them over several groups."""

    __tablename__ = "office_inboxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger, unique=True)


class Person(Base):
    """Someone who talks to the bot. Returnees carry no name; staff and counsellors have one."""

    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    language: Mapped[str | None] = mapped_column(String(16))
    display_name: Mapped[str | None] = mapped_column(String(100))
    organisation: Mapped[str | None] = mapped_column(String(100))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # A counsellor who also wants events as they happen, besides the monthly digest.
    events: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    office: Mapped[Office | None] = relationship()
    counselled_cases: Mapped[list[Case]] = relationship(
        secondary=case_counsellors, back_populates="counsellors"
    )


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    returnee_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), unique=True)
    language: Mapped[str] = mapped_column(String(16))
    status: Mapped[CaseStatus] = mapped_column(
        _enum(CaseStatus, "case_status"), default=CaseStatus.PREPARING
    )
    return_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Where the case lives in its office's inbox: the staff group and the case's forum topic.
    # The Bot API cannot list topics, so this mapping is the only record of them.
    inbox_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    topic_id: Mapped[int | None] = mapped_column(Integer)
    card_message_id: Mapped[int | None] = mapped_column(Integer)
    assigned_staff_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    # The returnee blocked the bot: office messages wait until they write again.
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    topic_closed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The day (office time) the returnee last got the "office is closed" answer.
    closed_reply_on: Mapped[date | None] = mapped_column(Date)
    # The programme whose budget applies, e.g. "dk"; None until the admin sets it.
    programme: Mapped[str | None] = mapped_column(String(16))
    # Monthly check-ins: "on", or "paused" / "stopped" by the returnee until staff resume them.
    checkins: Mapped[str] = mapped_column(String(16), default="on", server_default="on")
    # What the case's counsellors get (bot/services/sharing.py): "status" by default, or
    # "checkins" when the returnee also shares how they answer the monthly check-ins.
    sharing: Mapped[str] = mapped_column(String(16), default="status", server_default="status")
    # The lifecycle, for the programme's statistics (bot/services/lifecycle.py).
    eligible_on: Mapped[date | None] = mapped_column(Date)
    applied_on: Mapped[date | None] = mapped_column(Date)  # first consent given
    returned_on: Mapped[date | None] = mapped_column(Date)  # arrival confirmed
    closed_on: Mapped[date | None] = mapped_column(Date)
    dropped_on: Mapped[date | None] = mapped_column(Date)
    drop_reason: Mapped[str | None] = mapped_column(String(32))
    declined_on: Mapped[date | None] = mapped_column(Date)  # chose not to join
    decline_reason: Mapped[str | None] = mapped_column(String(32))
    # The office's first message to the returnee: an event for the counsellors, once.
    first_contact_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    office: Mapped[Office] = relationship(back_populates="cases")
    returnee: Mapped[Person | None] = relationship(foreign_keys=[returnee_id])
    assigned_staff: Mapped[Person | None] = relationship(foreign_keys=[assigned_staff_id])
    counsellors: Mapped[list[Person]] = relationship(
        secondary=case_counsellors, back_populates="counselled_cases"
    )
    consents: Mapped[list[Consent]] = relationship(
        back_populates="case", order_by="Consent.id", cascade="all, delete-orphan"
    )


class Consent(Base):
    """One consent decision: given or withdrawn, for which text version, in which language."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    granted: Mapped[bool] = mapped_column(Boolean)
    text_version: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    case: Mapped[Case] = relationship(back_populates="consents")


class Invite(Base):
    """A single-use onboarding link. Only a hash of the token is kept."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "invite_role"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    display_name: Mapped[str | None] = mapped_column(String(100))
    organisation: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str | None] = mapped_column(String(16))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    case: Mapped[Case | None] = relationship()
    office: Mapped[Office | None] = relationship()


class AuditEvent(Base):
    """Who did what, when, on which case. Never message text or personal details."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    action: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Direction(enum.StrEnum):
    FROM_RETURNEE = "from_returnee"
    TO_RETURNEE = "to_returnee"
    FROM_COUNSELLOR = "from_counsellor"
    TO_COUNSELLOR = "to_counsellor"
    OFFICE_NOTICE = "office_notice"


class Relay(Base):
    """One message carried between a private chat and a case topic, by ids only.

    It pairs the original with its copy, so that replies and edits can follow either way.
    """

    __tablename__ = "relays"
    __table_args__ = (
        Index("ix_relays_source", "source_chat_id", "source_message_id"),
        Index("ix_relays_copy", "copy_chat_id", "copy_message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "direction"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    source_chat_id: Mapped[int] = mapped_column(BigInteger)
    source_message_id: Mapped[int] = mapped_column(Integer)
    copy_chat_id: Mapped[int] = mapped_column(BigInteger)
    copy_message_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    HELD = "held"  # waiting for something outside the sender, e.g. a returnee who blocked the bot
    FAILED = "failed"


class OutboxKind(enum.StrEnum):
    """What an outbox item asks of Telegram. Each kind's payload type is in
    bot/services/outbox.py (`PAYLOADS`)."""

    COPY = "copy"  # a message copied by id (with a caption or header the bot adds)
    TEXT = "text"  # a text the bot writes: signed, headed, or a correction
    EDIT_TEXT = "edit_text"  # a copy edited in place
    NOTICE = "notice"  # a note from the bot, rendered in the reader's language when sent
    CARD = "card"  # the case card edited to show the case as it is now
    PIN = "pin"  # the case card pinned
    CLOSE_TOPIC = "close_topic"
    EDIT_FOLLOWS = "edit_follows"  # an edit waiting behind its not yet delivered original
    RECEIPT_CARD = "receipt_card"  # a receipt's card in the topic: sent with its files, or edited
    NEWS = "news"  # a message to a person about their own case, in their language
    COUNSELLOR = "counsellor"  # a status update, plan, event or digest for a counsellor
    # Telegram's part of an erased case: its topic deleted, the returnee's chat cleared, a
    # counsellor told. The case is gone: such items have no case, only chat and message ids.
    ERASURE = "erasure"


class Destination(enum.StrEnum):
    TOPIC = "topic"  # the case's topic in its office's staff group
    PRIVATE = "private"  # a person's private chat (chat_id)


def _string_enum(kind: type[enum.Enum], length: int) -> Enum:
    # The same VARCHAR as before the enum existed: no migration, values checked when read.
    return Enum(
        kind, native_enum=False, length=length, values_callable=lambda k: [m.value for m in k]
    )


class OutboxItem(Base):
    """A message waiting to be sent. Kept until Telegram confirms it, so a restart loses nothing.

    The payload holds what the send needs (ids for copies; text only where the bot writes
    text itself) and is emptied once the message is delivered.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "not_before"),
        # Every delivery looks at its case's waiting items (lane order, combining, albums):
        # without this, each look scans every waiting item of every case.
        Index("ix_outbox_case", "case_id", "status", "id"),
        # An update Telegram delivers twice (after a crash) must not be relayed twice.
        UniqueConstraint(
            "source_chat_id",
            "source_message_id",
            "direction",
            "revision",
            name="uq_outbox_source",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    destination: Mapped[Destination] = mapped_column(_string_enum(Destination, 16))
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[OutboxKind] = mapped_column(_string_enum(OutboxKind, 32))
    payload: Mapped[dict[str, object]] = mapped_column(
        EncryptedJSON("outbox.payload"), default=dict
    )
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "outbox_direction"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    source_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    source_message_id: Mapped[int | None] = mapped_column(Integer)
    # 0 for the message itself; an edit carries a revision that grows with each later edit
    # (bot/telegram/incoming.py `revision`), so each version goes once.
    revision: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    status: Mapped[OutboxStatus] = mapped_column(
        _enum(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SavedReply(Base):
    """An office's ready answer, one text per language, sent with /s <name>."""

    __tablename__ = "saved_replies"
    __table_args__ = (UniqueConstraint("office_id", "name", "language", name="uq_saved_reply"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)


class ResponseTime(Base):
    """How long a returnee waited for the office's first answer (for the statistics)."""

    __tablename__ = "response_times"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seconds: Mapped[int] = mapped_column(Integer)


class FsmRecord(Base):
    """aiogram FSM and aiogram-dialog state, so a restart never loses a half-finished dialog."""

    __tablename__ = "fsm_records"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, object]] = mapped_column(EncryptedJSON("fsm_records.data"), default=dict)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


__all__ = [
    "AuditEvent",
    "Base",
    "Case",
    "CaseStatus",
    "Consent",
    "Direction",
    "FsmRecord",
    "Invite",
    "Office",
    "OfficeInbox",
    "OutboxItem",
    "OutboxStatus",
    "Person",
    "Relay",
    "ResponseTime",
    "Role",
    "SavedReply",
    "case_counsellors",
]


# ---- money: receipts, payouts and the ledger (bot/services/money/) -------------------------


class ReceiptStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    NEEDS_INFO = "needs_info"
    APPROVED = "approved"
    PAID = "paid"
    REJECTED = "rejected"


class PayoutStatus(enum.StrEnum):
    DUE = "due"  # an instalment the programme plans (a monthly allowance)
    APPROVED = "approved"  # decided, not yet paid
    PAID = "paid"


class PaymentMethod(enum.StrEnum):
    BANK = "bank"
    MOBILE_MONEY = "mobile_money"
    CASH = "cash"
    SUPPLIER = "supplier"  # paid straight to the seller


class LedgerKind(enum.StrEnum):
    ADJUSTMENT = "adjustment"  # the case's amount in a category raised or lowered
    DEDUCTION = "deduction"  # e.g. a partner's administration fee
    REALLOCATION = "reallocation"  # moved from `from_category` into `category`


class LineStatus(enum.StrEnum):
    REQUESTED = "requested"  # a returnee's reallocation waiting for staff
    DONE = "done"
    REFUSED = "refused"


class BudgetCategory(Base):
    """One category of a programme's reintegration budget and the most it pays."""

    __tablename__ = "budget_categories"
    __table_args__ = (UniqueConstraint("programme", "category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))  # see bot/services/budget.py CATEGORIES
    maximum: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    paid_as: Mapped[PaidAs] = mapped_column(_enum(PaidAs, "paid_as"))
    # A monthly allowance pays `maximum` each month for this many months.
    months: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # The most staff may raise one case's amount in this category to (None: the maximum).
    ceiling: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    # Money may be moved into or out of this category at the returnee's request.
    reallocatable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The figure is an example: the programme's documents do not give it.
    example: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Payout(Base):
    """Money paid out to a returnee from one budget category."""

    __tablename__ = "payouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    category: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    paid_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    status: Mapped[PayoutStatus] = mapped_column(
        _string_enum(PayoutStatus, 16), default=PayoutStatus.PAID, server_default="paid"
    )
    method: Mapped[PaymentMethod | None] = mapped_column(_string_enum(PaymentMethod, 16))
    receipt_id: Mapped[int | None] = mapped_column(Integer)
    # An exchange rate: programme currency per unit of the receipt's currency.
    rate: Mapped[Decimal | None] = mapped_column(Numeric(18, 8))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    # A planned instalment: its number and due day; the returnee says whether it arrived.
    instalment: Mapped[int | None] = mapped_column(Integer)
    due_on: Mapped[date | None] = mapped_column(Date)
    received: Mapped[bool | None] = mapped_column(Boolean)
    overdue_told_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Receipt(Base):
    """A receipt a returnee sent for a budget category. Its files stay in the returnee's
    private chat and are copied into the case's topic by message id."""

    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("case_id", "number", name="uq_receipt_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # shown as R-<case>-<number>
    category: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(EncryptedText("receipts.description"))
    status: Mapped[ReceiptStatus] = mapped_column(
        _string_enum(ReceiptStatus, 16), default=ReceiptStatus.SUBMITTED
    )
    # Grows with every change: a button pressed on an older card changes nothing.
    version: Mapped[int] = mapped_column(Integer, default=1)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    submitted_on: Mapped[date] = mapped_column(Date)  # the office's day, for duplicates
    duplicate_of: Mapped[int | None] = mapped_column(Integer)  # the number of an earlier one
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rejection_reason: Mapped[str | None] = mapped_column(String(32))
    rejection_note: Mapped[str | None] = mapped_column(EncryptedText("receipts.rejection_note"))
    question: Mapped[str | None] = mapped_column(EncryptedText("receipts.question"))
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"))
    card_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    card_message_id: Mapped[int | None] = mapped_column(Integer)
    # A bot message in the topic that staff answer by replying (a question, a reason, a rate).
    prompt_message_id: Mapped[int | None] = mapped_column(Integer)
    prompt: Mapped[str | None] = mapped_column(String(32))

    files: Mapped[list[ReceiptFile]] = relationship(
        cascade="all, delete-orphan", order_by="ReceiptFile.id", lazy="selectin"
    )


class ReceiptFile(Base):
    __tablename__ = "receipt_files"
    __table_args__ = (Index("ix_receipt_files_unique", "file_unique_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    file_unique_id: Mapped[str] = mapped_column(String(128))
    chat_id: Mapped[int] = mapped_column(BigInteger)  # the returnee's private chat
    message_id: Mapped[int] = mapped_column(Integer)


class LedgerLine(Base):
    """A change to a case's budget that is not a payout: who, why, how much."""

    __tablename__ = "ledger_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[LedgerKind] = mapped_column(_string_enum(LedgerKind, 16))
    category: Mapped[str] = mapped_column(String(32))
    from_category: Mapped[str | None] = mapped_column(String(32))
    # An adjustment may be negative; a deduction or reallocation is positive.
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    reason: Mapped[str] = mapped_column(EncryptedText("ledger_lines.reason"), default="")
    status: Mapped[LineStatus] = mapped_column(
        _string_enum(LineStatus, 16), default=LineStatus.DONE
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# ---- check-ins after return (bot/services/checkins.py) -------------------------------------


class CheckInStatus(enum.StrEnum):
    SCHEDULED = "scheduled"  # waits for its moment
    ASKED = "asked"  # queued for the returnee; waits for the answer
    ANSWERED = "answered"
    MISSED = "missed"  # no answer within ten days
    SKIPPED = "skipped"  # staff chose not to ask this one
    CANCELLED = "cancelled"  # the case closed, consent withdrawn, or check-ins paused


class CheckIn(Base):
    """One monthly check-in of a case: when it is due, and what the returnee answered.

    The row is the source of truth for what is due; a sweep claims it by a conditional update
    (`status` from scheduled to asked) in the same transaction that queues the message.
    """

    __tablename__ = "check_ins"
    __table_args__ = (
        UniqueConstraint("case_id", "month", name="uq_check_in_month"),
        Index("ix_check_ins_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    month: Mapped[int] = mapped_column(Integer)  # months after the return date
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[CheckInStatus] = mapped_column(
        _string_enum(CheckInStatus, 16), default=CheckInStatus.SCHEDULED
    )
    asked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The answers, each None when skipped (see bot/services/checkins.py QUESTIONS).
    feeling: Mapped[str | None] = mapped_column(String(16))
    safe: Mapped[str | None] = mapped_column(String(16))
    housing: Mapped[str | None] = mapped_column(String(16))
    activity: Mapped[str | None] = mapped_column(String(16))
    money: Mapped[str | None] = mapped_column(String(16))
    contact: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(EncryptedText("check_ins.note"))


class CheckInAlert(Base):
    """An answer that needs a person: open until a staff member takes it; repeated once if
    nobody has after one working day."""

    __tablename__ = "check_in_alerts"
    __table_args__ = (Index("ix_check_in_alerts_open", "taken_at", "repeat_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    check_in_id: Mapped[int] = mapped_column(ForeignKey("check_ins.id", ondelete="CASCADE"))
    answer: Mapped[str] = mapped_column(String(32))  # "safe.no"
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    repeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    repeated: Mapped[bool] = mapped_column(Boolean, default=False)
    taken_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProgrammeSchedule(Base):
    """When a programme asks its returnees how they are: months after the return (1 to 12)."""

    __tablename__ = "programme_schedules"

    programme: Mapped[str] = mapped_column(String(16), primary_key=True)
    checkin_months: Mapped[list[int]] = mapped_column(JSON)


# ---- status updates, plans and digests for counsellors (bot/services/updates.py) -----------


class UpdateKind(enum.StrEnum):
    STATUS = "status"
    PLAN = "plan"


class CaseUpdate(Base):
    """A status update or a version of the reintegration plan, written by office staff.

    A draft until staff confirm the preview; only confirmed rows reach counsellors, and the
    newest confirmed plan is the case's current plan."""

    __tablename__ = "case_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[UpdateKind] = mapped_column(_string_enum(UpdateKind, 8))
    status: Mapped[str | None] = mapped_column(String(32))  # a key of updates.STATUSES
    text: Mapped[str | None] = mapped_column(EncryptedText("case_updates.text"))  # note or plan
    author_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The bot's question in the topic that staff answer by replying with the note.
    prompt_message_id: Mapped[int | None] = mapped_column(Integer)


class Digest(Base):
    """One counsellor's monthly digest: the row is the claim, so it is sent once a month."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("counsellor_id", "period", name="uq_digest_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    counsellor_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(7))  # the month it covers, "2026-11"
    # The month as moments in the counsellors' time zone: [starts_at, ends_at).
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# ---- trust: the outbound switch, erased cases, the bot's own messages in private chats ------


class Switch(Base):
    """A switch an operator turns (`python -m bot admin pause-outbound`): read by every
    process, so one command stops them all."""

    __tablename__ = "switches"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    on: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ErasedCase(Base):
    """What is left of an erased case: no code, no person, only what the statistics count."""

    __tablename__ = "erased_cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id", ondelete="SET NULL"))
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    programme: Mapped[str | None] = mapped_column(String(16))
    eligible_on: Mapped[date | None] = mapped_column(Date)
    applied_on: Mapped[date | None] = mapped_column(Date)
    returned_on: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    dropped_on: Mapped[date | None] = mapped_column(Date)
    drop_reason: Mapped[str | None] = mapped_column(String(32))
    declined_on: Mapped[date | None] = mapped_column(Date)
    decline_reason: Mapped[str | None] = mapped_column(String(32))


class SentMessage(Base):
    """A message the bot sent into a private chat, by ids only: what "clear this chat", an
    erasure and a sensitive message's deletion can delete again."""

    __tablename__ = "sent_messages"
    __table_args__ = (Index("ix_sent_messages_chat", "chat_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Staff marked it sensitive (`/sensitive`): deleted from the chat at this moment.
    delete_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
