"""An index for the dashboard: the cases received in each week of its period.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-01

- ``cases (workflow, created_at)``: the dashboard counts one workflow's cases received in each
  week of its period, one index range per week (``engine.store.dashboard_rows.weekly``). Its other
  reads use the indexes of revision 0003.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_workflow_created_at", "cases", ["workflow", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_workflow_created_at", table_name="cases")
