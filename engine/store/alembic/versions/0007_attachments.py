"""Attachments: the photos staff upload for a case's ``references`` fields.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

One row per stored file, keyed by the SHA-256 of its (re-encoded) bytes: the media type sniffed
from the content, its size and pixel dimensions, who uploaded it and when. The bytes themselves
live content-addressed in the attachment folder, outside any folder the web app serves.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("original_name", sa.String(length=255), nullable=True),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
        sa.UniqueConstraint("digest", name=op.f("uq_attachments_digest")),
    )


def downgrade() -> None:
    op.drop_table("attachments")
