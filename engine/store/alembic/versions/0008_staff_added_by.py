"""Who added each staff member: the operator account that ran ``treckk staff add``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

- ``staff.added_by`` (nullable): the operating-system account on the server that ran the command
  (``os:NAME``), or the staff member it acted for with ``--as`` (``os:NAME as USER``). Members
  added before this revision have none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("added_by", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("added_by")
