"""The outbound switch, erased cases' tombstones, the bot's messages in private chats

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 01:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "switches",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("on", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "erased_cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "office_id",
            sa.Integer(),
            sa.ForeignKey("offices.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("programme", sa.String(16), nullable=True),
        sa.Column("eligible_on", sa.Date(), nullable=True),
        sa.Column("applied_on", sa.Date(), nullable=True),
        sa.Column("returned_on", sa.Date(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("dropped_on", sa.Date(), nullable=True),
        sa.Column("drop_reason", sa.String(32), nullable=True),
        sa.Column("declined_on", sa.Date(), nullable=True),
        sa.Column("decline_reason", sa.String(32), nullable=True),
    )
    op.create_table(
        "sent_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delete_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_sent_messages_chat", "sent_messages", ["chat_id", "message_id"])
    op.create_index("ix_sent_messages_delete_at", "sent_messages", ["delete_at"])


def downgrade() -> None:
    op.drop_index("ix_sent_messages_delete_at", table_name="sent_messages")
    op.drop_index("ix_sent_messages_chat", table_name="sent_messages")
    op.drop_table("sent_messages")
    op.drop_table("erased_cases")
    op.drop_table("switches")
