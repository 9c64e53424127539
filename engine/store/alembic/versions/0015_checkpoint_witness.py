"""The sends of checkpoints to an outside witness, and staff accounts sealed in the log.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01

- ``checkpoint_witness``: one row per checkpoint offered to the witness URL
  (the witness URL setting): status (pending, sent, superseded), attempts, when it is
  next tried, the last error (URL secrets stripped), when it was sent and the witness's answer.
- ``log_leaves.subject``: the username of a staff leaf. Every existing account is sealed as it
  stands now (one staff leaf each, in username order), so ``verify`` finds any later change made
  behind the engine's back; changes made before this revision are not provable.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkpoint_witness",
        sa.Column("checkpoint_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
    )
    op.create_index("ix_checkpoint_witness_status", "checkpoint_witness", ["status", "next_attempt_at"])
    with op.batch_alter_table("log_leaves") as batch:
        batch.add_column(sa.Column("subject", sa.String(length=64), nullable=True))
    _seal_accounts(op.get_bind())


def _seal_accounts(connection: sa.Connection) -> None:
    from engine.core.log_entries import staff_entry
    from engine.store import log_rows
    from engine.store.staff_seals import account_states

    states = account_states(connection)
    if states:
        log_rows.ensure_head(connection)
        log_rows.append(connection, [staff_entry(username, state) for username, state in sorted(states.items())])


def downgrade() -> None:
    # Staff leaves stay in the tree (a log never loses leaves); without their subject they are only hashes.
    with op.batch_alter_table("log_leaves") as batch:
        batch.drop_column("subject")
    op.drop_index("ix_checkpoint_witness_status", table_name="checkpoint_witness")
    op.drop_table("checkpoint_witness")
