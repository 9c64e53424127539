"""Indexes for the reads people wait on: inbox and case lists, idempotency keys, the reports.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

- ``cases``: every list is one workflow's cases, ordered by ``(due_at, id)`` and paged by keyset
  on that pair, so each index behind a list leads with ``workflow`` and ends in that pair:
  ``(workflow, due_at, id)``, ``(workflow, state, due_at, id)``, ``(workflow, state, scope,
  due_at, id)`` and ``(workflow, scope, due_at, id)``. They replace ``(state, scope)`` and
  ``(due_at)``, which are no longer read.
- ``events``: ``idempotency_key`` (a retried submit looks its key up across all cases; the unique
  ``(case_id, idempotency_key)`` only serves a lookup within one case) and ``(to_state, at)``
  (the cases that reached a final state in a recap's period).
- ``escalations``: ``due_at`` (the steps whose deadline fell in a recap's period).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NEW = (
    ("ix_cases_workflow_due_at", "cases", ["workflow", "due_at", "id"]),
    ("ix_cases_workflow_state_due_at", "cases", ["workflow", "state", "due_at", "id"]),
    ("ix_cases_workflow_state_scope_due_at", "cases", ["workflow", "state", "scope", "due_at", "id"]),
    ("ix_cases_workflow_scope_due_at", "cases", ["workflow", "scope", "due_at", "id"]),
    ("ix_events_idempotency_key", "events", ["idempotency_key"]),
    ("ix_events_to_state_at", "events", ["to_state", "at"]),
    ("ix_escalations_due_at", "escalations", ["due_at"]),
)


def upgrade() -> None:
    op.drop_index("ix_cases_state_scope", table_name="cases")
    op.drop_index("ix_cases_due_at", table_name="cases")
    for name, table, columns in _NEW:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(_NEW):
        op.drop_index(name, table_name=table)
    op.create_index("ix_cases_due_at", "cases", ["due_at"])
    op.create_index("ix_cases_state_scope", "cases", ["state", "scope"])
