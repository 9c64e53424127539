"""The stays rollup: the dashboard and the recap read small integer rows instead of joining events.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01

- ``stays``: one row per time a case entered a state (``engine.store.stay_rows``), written with
  each event from now on; derived here from the events of every existing case, in batches of
  ``stay_rows.BACKFILL_CASES`` cases per statement (a range of case ids each), so a database of a
  million cases is filled without holding its events in memory. The indexes are built after the
  rows are in (one of them partial: the intakes, ``from_state IS NULL``); on PostgreSQL the
  table is then analysed, so the planner knows its size at once (autovacuum would, later).
- ``events (to_state, at, from_state, case_id, seq)`` is dropped: the dashboard and the recap
  were its only readers and now read ``stays``, so a move writes one index fewer on ``events``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from engine.store import stay_rows

    op.create_table(
        "stays",
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", name="fk_stays_case_id_cases"),
                  primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("workflow", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("from_state", sa.String(length=64), nullable=True),
        sa.Column("entered_us", sa.BigInteger(), nullable=False),
        sa.Column("left_us", sa.BigInteger(), nullable=True),
        sa.Column("length_us", sa.BigInteger(), nullable=True),
        sa.Column("since_intake_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "seq", name="pk_stays"),
    )
    stay_rows.backfill(op.get_bind(), after=0)
    op.create_index("ix_stays_workflow_state_left_us", "stays", ["workflow", "state", "left_us", "length_us"])
    op.create_index("ix_stays_workflow_state_length_us", "stays", ["workflow", "state", "length_us", "left_us"])
    op.create_index("ix_stays_workflow_state_entered_us", "stays",
                    ["workflow", "state", "entered_us", "from_state", "since_intake_us", "case_id"])
    op.create_index("ix_stays_workflow_from_state_entered_us", "stays", ["workflow", "from_state", "entered_us"])
    op.drop_index("ix_events_to_state_at_from_state", table_name="events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE stays")


def downgrade() -> None:
    op.create_index("ix_events_to_state_at_from_state", "events", ["to_state", "at", "from_state", "case_id", "seq"])
    op.drop_table("stays")
