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
    op.create_table(
        "check_in_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "check_in_id",
            sa.Integer(),
            sa.ForeignKey("check_ins.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("answer", sa.String(32), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("repeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("repeated", sa.Boolean(), nullable=False),
        sa.Column("taken_by_id", sa.Integer(), sa.ForeignKey("persons.id"), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_check_in_alerts_case_id", "check_in_alerts", ["case_id"])
    op.create_index("ix_check_in_alerts_open", "check_in_alerts", ["taken_at", "repeat_at"])
    op.create_table(
        "programme_schedules",
        sa.Column("programme", sa.String(16), primary_key=True),
        sa.Column("checkin_months", sa.JSON(), nullable=False),
    )
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("checkins", sa.String(16), server_default="on", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("checkins")
    op.drop_table("programme_schedules")
    op.drop_table("check_in_alerts")
    op.drop_table("check_ins")
