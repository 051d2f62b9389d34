"""Monthly check-ins after return

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "check_ins",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("feeling", sa.String(16), nullable=True),
        sa.Column("safe", sa.String(16), nullable=True),
        sa.Column("housing", sa.String(16), nullable=True),
        sa.Column("activity", sa.String(16), nullable=True),
        sa.Column("money", sa.String(16), nullable=True),
        sa.Column("contact", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.UniqueConstraint("case_id", "month", name="uq_check_in_month"),
    )
    op.create_index("ix_check_ins_case_id", "check_ins", ["case_id"])
    op.create_index("ix_check_ins_due", "check_ins", ["status", "due_at"])


def downgrade() -> None:
    op.drop_table("check_ins")
