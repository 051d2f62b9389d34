"""Status updates, plans and digests for counsellors; the case's lifecycle for statistics

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIFECYCLE = (
    "eligible_on",
    "applied_on",
    "returned_on",
    "closed_on",
    "dropped_on",
    "declined_on",
)


def upgrade() -> None:
    with op.batch_alter_table("cases") as cases:
        cases.add_column(
            sa.Column("sharing", sa.String(16), nullable=False, server_default="status")
        )
        for column in LIFECYCLE:
            cases.add_column(sa.Column(column, sa.Date(), nullable=True))
        cases.add_column(sa.Column("drop_reason", sa.String(32), nullable=True))
        cases.add_column(sa.Column("decline_reason", sa.String(32), nullable=True))
        cases.add_column(sa.Column("first_contact_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("persons") as persons:
        persons.add_column(
            sa.Column("events", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Cases opened before: eligible from the day they were opened; applied when first agreed.
    op.execute("UPDATE cases SET eligible_on = DATE(created_at)")
    op.execute(
        "UPDATE cases SET applied_on = (SELECT DATE(MIN(consents.at)) FROM consents "
        "WHERE consents.case_id = cases.id AND consents.granted)"
    )
    op.create_table(
        "case_updates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("persons.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("prompt_message_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_case_updates_case_id", "case_updates", ["case_id"])
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "counsellor_id",
            sa.Integer(),
            sa.ForeignKey("persons.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("counsellor_id", "period", name="uq_digest_period"),
    )


def downgrade() -> None:
    op.drop_table("digests")
    op.drop_index("ix_case_updates_case_id", table_name="case_updates")
    op.drop_table("case_updates")
    with op.batch_alter_table("persons") as persons:
        persons.drop_column("events")
    with op.batch_alter_table("cases") as cases:
        for column in ("first_contact_at", "decline_reason", "drop_reason", *LIFECYCLE):
            cases.drop_column(column)
        cases.drop_column("sharing")
