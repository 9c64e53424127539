"""The events' index for the periods' reads, widened so the dashboard and the recap need not read events' rows.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

- ``events (to_state, at, from_state, case_id, seq)`` replaces ``events (to_state, at)``: the
  events of a period that opened a case (no ``from_state``), left a state (the dashboard's stays)
  or reached a final state (the dashboard's weeks and the recap) are read from the index alone,
  not from the events' rows, which are large (input, hashes). Same number of indexes, so moves pay
  no extra index write.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_events_to_state_at_from_state", "events", ["to_state", "at", "from_state", "case_id", "seq"])
    op.drop_index("ix_events_to_state_at", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_to_state_at", "events", ["to_state", "at"])
    op.drop_index("ix_events_to_state_at_from_state", table_name="events")
