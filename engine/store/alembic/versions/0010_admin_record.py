"""The administrators' record: staff and token changes, migrations and notice retries, with who and when.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-01

- ``admin_events``: one row per administrative change (``staff_added``, ``staff_updated``,
  ``staff_disabled``, ``staff_enabled``, ``password_set``, ``token_created``, ``token_revoked``,
  ``migration``, ``notice_retry``): when, the actor (a staff username from the web app, or
  ``os:ACCOUNT`` / ``os:ACCOUNT as USER`` from the command line), what it was done to, and a JSON
  text of the details (never a password or a token). Indexed by ``(at, id)``: the audit page
  reads it newest first, a page at a time.
- It is filled with what was already known: each staff member with ``added_by`` (revision 0008)
  becomes a ``staff_added`` row, each earlier migration command (the ``migrasi`` history events
  of one actor at one moment) a ``migration`` row.
- ``staff.revision``: a counter raised by every change of a member, so two administrators editing
  the same member at once cannot silently overwrite each other (the second is refused).
- ``ix_login_events_at``: the audit page reads the login record by time across usernames.
- ``ix_notices_status_id``, ``ix_notices_channel_id``, ``ix_notices_recipient_username_id``:
  the outbox page lists notices newest first by status, channel or recipient, a range of an index each.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    """Stored as naive UTC on SQLite and timestamptz on PostgreSQL (``schema.UTCDateTime``)."""
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    admin_events = op.create_table(
        "admin_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_events")),
    )
    op.create_index("ix_admin_events_at", "admin_events", ["at", "id"])
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
    op.create_index("ix_login_events_at", "login_events", ["at", "id"])
    op.create_index("ix_notices_status_id", "notices", ["status", "id"])
    op.create_index("ix_notices_channel_id", "notices", ["channel", "id"])
    op.create_index("ix_notices_recipient_username_id", "notices", ["recipient_username", "id"])
    _backfill(admin_events)


def _backfill(admin_events: sa.Table | None) -> None:
    assert admin_events is not None
    connection = op.get_bind()
    staff = sa.table("staff", sa.column("username"), sa.column("name"), sa.column("created_at", _utc()),
                     sa.column("added_by"))
    events = sa.table("events", sa.column("case_id"), sa.column("trigger"), sa.column("actor"),
                      sa.column("at", _utc()), sa.column("input", sa.JSON()))
    cases = sa.table("cases", sa.column("id"), sa.column("number"), sa.column("workflow"))
    rows: list[dict[str, object]] = []
    for username, name, created_at, added_by in connection.execute(
            sa.select(staff.c.username, staff.c.name, staff.c.created_at, staff.c.added_by)
            .where(staff.c.added_by.is_not(None))):
        rows.append({"at": created_at, "actor": added_by, "action": "staff_added", "target": username,
                     "detail": json.dumps({"name": name}, ensure_ascii=False)})
    runs: dict[tuple[object, str], dict[str, object]] = {}
    for at, actor, given, number, workflow in connection.execute(
            sa.select(events.c.at, events.c.actor, events.c.input, cases.c.number, cases.c.workflow)
            .select_from(events.join(cases, cases.c.id == events.c.case_id))
            .where(events.c.trigger == "migrasi").order_by(events.c.at)):
        run = runs.setdefault((at, actor), {"at": at, "actor": actor, "workflow": workflow, "numbers": [],
                                            "to_version": (given or {}).get("to_version")})
        numbers = run["numbers"]
        assert isinstance(numbers, list)
        numbers.append(number)
    for run in runs.values():
        numbers = run["numbers"]
        assert isinstance(numbers, list)
        rows.append({"at": run["at"], "actor": run["actor"], "action": "migration", "target": run["workflow"],
                     "detail": json.dumps({"to_version": run["to_version"], "cases": len(numbers),
                                           "numbers": numbers[:20]}, ensure_ascii=False)})
    if rows:
        rows.sort(key=lambda row: str(row["at"]))
        op.bulk_insert(admin_events, rows)


def downgrade() -> None:
    op.drop_index("ix_notices_recipient_username_id", table_name="notices")
    op.drop_index("ix_notices_channel_id", table_name="notices")
    op.drop_index("ix_notices_status_id", table_name="notices")
    op.drop_index("ix_login_events_at", table_name="login_events")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("revision")
    op.drop_index("ix_admin_events_at", table_name="admin_events")
    op.drop_table("admin_events")
