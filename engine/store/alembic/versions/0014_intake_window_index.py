"""An index for the cases opened in a time window, newest first: Open311's ``GET requests``.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01

``(workflow, state, created_at, id)`` on ``cases``: a request list is one workflow's cases of
some states (``open`` is the non-final states, ``closed`` the final ones) opened between two
times, newest first, paged by keyset on ``(created_at, id)``. Each state is one range of this
index, so a page costs its size times the number of states, whatever the table holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_workflow_state_created_at", "cases", ["workflow", "state", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_cases_workflow_state_created_at", table_name="cases")
