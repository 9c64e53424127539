"""An index for migrating running cases: ``(workflow, definition_version, state, id)`` on ``cases``.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01

A migration counts the cases of one workflow still on older versions by (version, state) in one
grouped statement, lists them page by page for its dry run (keyset on ``(version, state, id)``)
and takes them in batches; each (version, state) group is one range of this index, so a count
reads the index alone and a page or a batch costs its size, whatever the table holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_workflow_version_state", "cases", ["workflow", "definition_version", "state", "id"])


def downgrade() -> None:
    op.drop_index("ix_cases_workflow_version_state", table_name="cases")
