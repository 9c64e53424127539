"""The transparency log: leaves, head, chunk hashes and signed checkpoints.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Existing history joins the log as it stands: first one leaf per deployed definition version (in
the order they were deployed), then one per event in the order the events were written (their
ids). An event's definition pin is what the case was on at the time: the version a migration
event moved it to, else the case's current version before its first migration, else the newest
version deployed by the event's time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "log_leaves",
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("workflow", sa.String(length=64), nullable=False),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.Column("definition_digest", sa.String(length=64), nullable=False),
        sa.Column("leaf", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_log_leaves")),
        sa.UniqueConstraint("case_id", "seq", name=op.f("uq_log_leaves_case_id_seq")),
    )
    op.create_table(
        "log_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("frontier", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_head")),
    )
    op.create_table(
        "log_chunks",
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_log_chunks")),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_checkpoints")),
    )
    op.create_index("ix_log_checkpoints_size", "log_checkpoints", ["size"])
    _backfill(op.get_bind())


def _backfill(connection: sa.Connection) -> None:
    from engine.core.log_entries import LogEntry, deploy_entry, event_entry
    from engine.store import log_rows

    log_rows.ensure_head(connection)
    definitions = connection.execute(sa.text(
        "SELECT workflow, version, digest, deployed_at FROM definitions ORDER BY id")).all()
    digests = {(row.workflow, row.version): row.digest for row in definitions}
    entries: list[LogEntry] = [deploy_entry(row.workflow, row.version, row.digest) for row in definitions]
    if entries:
        log_rows.append(connection, entries)
    cases = {row.id: row for row in connection.execute(sa.text(
        "SELECT id, number, workflow, definition_version FROM cases")).all()}
    migrated = {int(row.case_id) for row in connection.execute(sa.text(
        "SELECT DISTINCT case_id FROM events WHERE trigger = 'migrasi'"))}
    pins: dict[int, int] = {}
    batch: list[LogEntry] = []
    rows = connection.execute(sa.text("SELECT case_id, seq, trigger, input, at, hash FROM events ORDER BY id"))
    for row in rows.all():
        case = cases.get(row.case_id)
        if case is None:
            continue
        version = pins.get(row.case_id)
        if row.trigger == "migrasi":
            given: Any = row.input
            if isinstance(given, str):
                import json

                given = json.loads(given)
            version = int(given.get("to_version", version or case.definition_version))
        elif version is None:
            version = case.definition_version if row.case_id not in migrated else _deployed_by(definitions, case.workflow,
                                                                                              row.at)
        pins[row.case_id] = version
        batch.append(event_entry(row.case_id, case.number, row.seq, row.hash, case.workflow, version,
                                 digests.get((case.workflow, version), "")))
        if len(batch) >= 10_000:
            log_rows.append(connection, batch)
            batch = []
    if batch:
        log_rows.append(connection, batch)


def _deployed_by(definitions: Sequence[Any], workflow: str, at: Any) -> int:
    found = [row.version for row in definitions if row.workflow == workflow and str(row.deployed_at) <= str(at)]
    return max(found, default=1)


def downgrade() -> None:
    op.drop_index("ix_log_checkpoints_size", table_name="log_checkpoints")
    op.drop_table("log_checkpoints")
    op.drop_table("log_chunks")
    op.drop_table("log_head")
    op.drop_table("log_leaves")
