"""Workflow-neutral names: a case's scope value, and staff roles granted per workflow.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

- ``cases.kecamatan`` becomes ``cases.scope``: the case's value of its workflow's ``scope_field``,
  whatever the field is called (index ``ix_cases_state_kecamatan`` → ``ix_cases_state_scope``).
- ``staff_roles`` (one role per row) becomes ``staff_grants``: a role held in one workflow, with the
  scope value it is bound to there, so one person may serve several workflows with other roles and
  scopes. Existing roles are granted in the workflow deployed first (before this revision staff
  could only be added against a deployed workflow), bound to the member's old ``kecamatan``.
- ``staff.kecamatan`` is dropped: the scope lives on the grants.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_grants",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("workflow", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_staff_grants_staff_id_staff")),
        sa.PrimaryKeyConstraint("staff_id", "workflow", "role", name=op.f("pk_staff_grants")),
    )
    op.create_index("ix_staff_grants_workflow_role", "staff_grants", ["workflow", "role"])
    op.execute(
        "INSERT INTO staff_grants (staff_id, workflow, role, scope) "
        "SELECT staff_roles.staff_id, (SELECT workflow FROM definitions ORDER BY id LIMIT 1), staff_roles.role, "
        "staff.kecamatan FROM staff_roles JOIN staff ON staff.id = staff_roles.staff_id"
    )
    op.drop_index(op.f("ix_staff_roles_role"), table_name="staff_roles")
    op.drop_table("staff_roles")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("kecamatan")
    op.drop_index("ix_cases_state_kecamatan", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("kecamatan", new_column_name="scope", existing_type=sa.String(length=64),
                           existing_nullable=True)
    op.create_index("ix_cases_state_scope", "cases", ["state", "scope"])


def downgrade() -> None:
    op.drop_index("ix_cases_state_scope", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("scope", new_column_name="kecamatan", existing_type=sa.String(length=64),
                           existing_nullable=True)
    op.create_index("ix_cases_state_kecamatan", "cases", ["state", "kecamatan"])
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("kecamatan", sa.String(length=64), nullable=True))
    op.create_table(
        "staff_roles",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_staff_roles_staff_id_staff")),
        sa.PrimaryKeyConstraint("staff_id", "role", name=op.f("pk_staff_roles")),
    )
    op.create_index(op.f("ix_staff_roles_role"), "staff_roles", ["role"])
    # A role held in several workflows comes back once; the scope of any one grant comes back.
    op.execute("INSERT INTO staff_roles (staff_id, role) SELECT DISTINCT staff_id, role FROM staff_grants")
    op.execute("UPDATE staff SET kecamatan = (SELECT MAX(scope) FROM staff_grants "
               "WHERE staff_grants.staff_id = staff.id)")
    op.drop_index("ix_staff_grants_workflow_role", table_name="staff_grants")
    op.drop_table("staff_grants")
