"""WhatsApp: the webhook's inbox, message ids seen, each number's window and conversation; notice receipts.

Revision ID: 0013
Revises: 0012 (0008 before the merge of citizen; the lead rechains)
Create Date: 2026-12-01

- ``whatsapp_inbox``: each signed webhook POST as received (raw bytes), until processed.
- ``whatsapp_seen``: incoming message ids already handled (delivery is at least once).
- ``whatsapp_contacts``: when each number last wrote (its 24-hour window for free text).
- ``whatsapp_conversations``: the guided conversation under way per number.
- ``notices.channel_data`` (the template call outside the window), ``notices.provider_id`` (the
  receiver's message id, indexed for status callbacks) and ``notices.receipt`` (its last status).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("channel_data", sa.Text(), nullable=True))
        batch.add_column(sa.Column("provider_id", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("receipt", sa.String(length=16), nullable=True))
        batch.create_index("ix_notices_provider_id", ["provider_id"])
    op.create_table(
        "whatsapp_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whatsapp_inbox")),
    )
    op.create_index("ix_whatsapp_inbox_processed_at_due_at", "whatsapp_inbox", ["processed_at", "due_at"])
    op.create_table(
        "whatsapp_seen",
        sa.Column("message_id", sa.String(length=128), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_whatsapp_seen")),
    )
    op.create_table(
        "whatsapp_contacts",
        sa.Column("address", sa.String(length=32), nullable=False),
        sa.Column("last_heard_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_whatsapp_contacts")),
    )
    op.create_table(
        "whatsapp_conversations",
        sa.Column("address", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_whatsapp_conversations")),
    )


def downgrade() -> None:
    op.drop_table("whatsapp_conversations")
    op.drop_table("whatsapp_contacts")
    op.drop_table("whatsapp_seen")
    op.drop_index("ix_whatsapp_inbox_processed_at_due_at", table_name="whatsapp_inbox")
    op.drop_table("whatsapp_inbox")
    with op.batch_alter_table("notices") as batch:
        batch.drop_index("ix_notices_provider_id")
        batch.drop_column("receipt")
        batch.drop_column("provider_id")
        batch.drop_column("channel_data")
