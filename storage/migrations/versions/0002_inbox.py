"""Inbox: case topics, relays between chats and topics, the outbox, office hours,
response times

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:29:39.028829
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("destination", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column(
            "direction",
            sa.Enum(
                "from_returnee",
                "to_returnee",
                "from_counsellor",
                "to_counsellor",
                "office_notice",
                name="outbox_direction",
                native_enum=False,
            ),
            nullable=False,
        ),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("source_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("source_message_id", sa.Integer(), nullable=True),
        sa.Column("revision", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "sent", "held", "failed", name="outbox_status", native_enum=False),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["persons.id"],
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "source_chat_id", "source_message_id", "direction", "revision", name="uq_outbox_source"
        ),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["status", "not_before"], unique=False)

    op.create_table(
        "relays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column(
            "direction",
            sa.Enum(
                "from_returnee",
                "to_returnee",
                "from_counsellor",
                "to_counsellor",
                "office_notice",
                name="direction",
                native_enum=False,
            ),
            nullable=False,
        ),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("source_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("source_message_id", sa.Integer(), nullable=False),
        sa.Column("copy_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("copy_message_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["persons.id"],
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("relays", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_relays_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_relays_copy", ["copy_chat_id", "copy_message_id"], unique=False)
        batch_op.create_index(
            "ix_relays_source", ["source_chat_id", "source_message_id"], unique=False
        )

    op.create_table(
        "response_times",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["offices.id"],
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["persons.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("response_times", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_response_times_case_id"), ["case_id"], unique=False)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inbox_chat_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("topic_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("card_message_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("assigned_staff_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("unreachable", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("topic_closed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("closed_reply_on", sa.Date(), nullable=True))
        batch_op.create_foreign_key(
            "fk_cases_assigned_staff_id_persons", "persons", ["assigned_staff_id"], ["id"]
        )

    with op.batch_alter_table("offices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("working_hours", sa.JSON(), server_default=sa.text("'{}'"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("holidays", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "sign_with_staff_name", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )

    op.create_table(
        "saved_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["office_id"], ["offices.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("office_id", "name", "language", name="uq_saved_reply"),
    )

    op.create_table(
        "office_inboxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["office_id"], ["offices.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chat_id"),
    )


def downgrade() -> None:
    op.drop_table("office_inboxes")
    op.drop_table("saved_replies")
    with op.batch_alter_table("offices", schema=None) as batch_op:
        batch_op.drop_column("sign_with_staff_name")
        batch_op.drop_column("holidays")
        batch_op.drop_column("working_hours")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint("fk_cases_assigned_staff_id_persons", type_="foreignkey")
        batch_op.drop_column("closed_reply_on")
        batch_op.drop_column("topic_closed")
        batch_op.drop_column("unreachable")
        batch_op.drop_column("assigned_staff_id")
        batch_op.drop_column("card_message_id")
        batch_op.drop_column("topic_id")
        batch_op.drop_column("inbox_chat_id")

    with op.batch_alter_table("response_times", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_response_times_case_id"))

    op.drop_table("response_times")
    with op.batch_alter_table("relays", schema=None) as batch_op:
        batch_op.drop_index("ix_relays_source")
        batch_op.drop_index("ix_relays_copy")
        batch_op.drop_index(batch_op.f("ix_relays_case_id"))

    op.drop_table("relays")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("outbox")
