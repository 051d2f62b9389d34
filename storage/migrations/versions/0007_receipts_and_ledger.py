"""Receipts, payouts that are approved before they are paid, planned instalments, the ledger

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("budget_categories") as batch:
        batch.add_column(sa.Column("ceiling", sa.Numeric(12, 2), nullable=True))
        batch.add_column(
            sa.Column("reallocatable", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(
            sa.Column("example", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    # Payouts recorded so far were paid when they were recorded.
    with op.batch_alter_table("payouts") as batch:
        batch.alter_column("paid_on", existing_type=sa.Date(), nullable=True)
        batch.add_column(sa.Column("status", sa.String(16), server_default="paid", nullable=False))
        batch.add_column(sa.Column("method", sa.String(16), nullable=True))
        batch.add_column(sa.Column("receipt_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rate", sa.Numeric(18, 8), nullable=True))
        batch.add_column(sa.Column("approved_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("paid_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("instalment", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("due_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("received", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("overdue_told_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key("fk_payouts_approved_by", "persons", ["approved_by_id"], ["id"])
        batch.create_foreign_key("fk_payouts_paid_by", "persons", ["paid_by_id"], ["id"])
    op.create_table(
        "receipts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("duplicate_of", sa.Integer(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), sa.ForeignKey("persons.id"), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejection_reason", sa.String(32), nullable=True),
        sa.Column("rejection_note", sa.Text(), nullable=True),
        sa.Column("question", sa.Text(), nullable=True),
        sa.Column("payout_id", sa.Integer(), sa.ForeignKey("payouts.id"), nullable=True),
        sa.Column("card_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("card_message_id", sa.Integer(), nullable=True),
        sa.Column("prompt_message_id", sa.Integer(), nullable=True),
        sa.Column("prompt", sa.String(32), nullable=True),
        sa.UniqueConstraint("case_id", "number", name="uq_receipt_number"),
    )
    op.create_index("ix_receipts_case_id", "receipts", ["case_id"])
    op.create_table(
        "receipt_files",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "receipt_id",
            sa.Integer(),
            sa.ForeignKey("receipts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("file_unique_id", sa.String(128), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
    )
    op.create_index("ix_receipt_files_unique", "receipt_files", ["file_unique_id"])
    op.create_table(
        "ledger_lines",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("from_category", sa.String(32), nullable=True),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("persons.id"), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ledger_lines_case_id", "ledger_lines", ["case_id"])


def downgrade() -> None:
    op.drop_table("ledger_lines")
    op.drop_table("receipt_files")
    op.drop_table("receipts")
    with op.batch_alter_table("payouts") as batch:
        batch.drop_constraint("fk_payouts_paid_by", type_="foreignkey")
        batch.drop_constraint("fk_payouts_approved_by", type_="foreignkey")
        for column in (
            "overdue_told_at",
            "received",
            "due_on",
            "instalment",
            "paid_by_id",
            "approved_at",
            "approved_by_id",
            "rate",
            "receipt_id",
            "method",
            "status",
        ):
            batch.drop_column(column)
        batch.alter_column("paid_on", existing_type=sa.Date(), nullable=False)
    with op.batch_alter_table("budget_categories") as batch:
        for column in ("example", "reallocatable", "ceiling"):
            batch.drop_column(column)
