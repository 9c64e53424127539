"""The public intake: cases opened by complainants, their tracking codes and ratings, and the throttles.

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-01

- ``public_cases``: one row per case opened through a public channel (web form, WhatsApp): the
  channel, the SHA-256 of the tracking code, the sender's address on that channel, the rating.
- ``public_attempts``: the attempts the public throttles count (submissions per address, wrong
  tracking codes per address and per number).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "public_cases",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("workflow", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("contact_address", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_public_cases_case_id_cases")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_public_cases")),
    )
    op.create_index("ix_public_cases_channel_contact_address", "public_cases", ["channel", "contact_address"])
    op.create_index("ix_public_cases_workflow_rated_at", "public_cases", ["workflow", "rated_at"])
    op.create_table(
        "public_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_attempts")),
    )
    op.create_index("ix_public_attempts_kind_key_at", "public_attempts", ["kind", "key", "at"])


def downgrade() -> None:
    op.drop_index("ix_public_attempts_kind_key_at", table_name="public_attempts")
    op.drop_table("public_attempts")
    op.drop_index("ix_public_cases_workflow_rated_at", table_name="public_cases")
    op.drop_index("ix_public_cases_channel_contact_address", table_name="public_cases")
    op.drop_table("public_cases")
