"""Outbox revisions that grow with every edit: the edit time and the update's id, 64 bits

Two edits within one second shared their revision (the edit time in seconds) and the second was
lost. Revisions kept so far (edit times) are scaled to the new measure, so they keep their order.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 10:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An edit's revision is its edit time in seconds times 2**31, plus the update's id below that.


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.alter_column(
            "revision",
            existing_type=sa.Integer(),
            type_=sa.BigInteger(),
            existing_nullable=False,
            existing_server_default="0",
        )
    op.execute("UPDATE outbox SET revision = revision * 2147483648 WHERE revision > 0")


def downgrade() -> None:
    op.execute("UPDATE outbox SET revision = revision / 2147483648 WHERE revision > 0")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.alter_column(
            "revision",
            existing_type=sa.BigInteger(),
            type_=sa.Integer(),
            existing_nullable=False,
            existing_server_default="0",
        )
