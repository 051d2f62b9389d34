"""Items waiting in the outbox in their typed shape

Outbox payloads are typed per kind since this revision (bot/services/outbox.py). A note's
placeholder values used to sit beside its key, with the source message's ids; the ids are in the
item's own columns, and the values move under "values". A marked correction (a text or a copy)
also carried the ids of the copy it corrects, which its payload type has no place for (it replies
to that copy). Only items not yet delivered hold a payload, so only those are rewritten.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 20:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWN_FIELDS = ("mentions", "entry", "reply_to")
SOURCE_FIELDS = ("from_chat_id", "message_id")

outbox = sa.table(
    "outbox",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("status", sa.String),
    sa.column("payload", sa.JSON),
)


def _rewrite(convert: Any, kinds: tuple[str, ...] = ("notice",)) -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(outbox.c.id, outbox.c.payload).where(
            outbox.c.kind.in_(kinds), outbox.c.status.in_(("pending", "held"))
        )
    ).all()
    for item_id, payload in rows:
        if payload:
            connection.execute(
                outbox.update().where(outbox.c.id == item_id).values(payload=convert(payload))
            )


def _typed(payload: dict[str, Any]) -> dict[str, Any]:
    if "values" in payload:
        return payload
    typed: dict[str, Any] = {"notice": payload["notice"]}
    typed.update({k: payload[k] for k in OWN_FIELDS if payload.get(k) is not None})
    values = {k: v for k, v in payload.items() if k not in ("notice", *OWN_FIELDS, *SOURCE_FIELDS)}
    if values:
        typed["values"] = values
    return typed


def _flat(payload: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in payload.items() if k != "values"}
    flat.update(payload.get("values") or {})
    return flat


def _without_copy_ids(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in ("copy_chat_id", "copy_message_id")}


def upgrade() -> None:
    _rewrite(_typed)
    _rewrite(_without_copy_ids, kinds=("text", "copy"))


def downgrade() -> None:
    _rewrite(_flat)
