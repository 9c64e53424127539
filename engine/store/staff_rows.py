"""Staff members and the roles they hold in each workflow. Functions take the caller's connection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update

from engine.store.prepared import PreparedStatement
from engine.store.schema import staff, staff_grants


@dataclass(frozen=True, slots=True)
class Grant:
    """A role held in one workflow, bound there to a scope value (None: every case)."""

    workflow: str
    role: str
    scope: str | None


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A person who acts on cases, with every role they hold (``in_workflow`` narrows to one workflow)."""

    id: int
    username: str
    name: str
    grants: tuple[Grant, ...]
    phone: str | None
    email: str | None
    active: bool

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles of the grants, each once, in their order."""
        return tuple(dict.fromkeys(grant.role for grant in self.grants))

    @property
    def scope(self) -> str | None:
        """The scope value the grants are bound to (one per workflow; read it on ``in_workflow``)."""
        return next((grant.scope for grant in self.grants if grant.scope is not None), None)

    @property
    def workflows(self) -> tuple[str, ...]:
        """The workflows this member holds a role in."""
        return tuple(dict.fromkeys(grant.workflow for grant in self.grants))

    def in_workflow(self, workflow: str) -> StaffMember:
        """The same member with only the grants of ``workflow`` (what every permission check reads)."""
        return replace(self, grants=tuple(grant for grant in self.grants if grant.workflow == workflow))


_COLUMNS = (staff.c.id, staff.c.username, staff.c.name, staff.c.phone, staff.c.email, staff.c.active)
_GRANT_ORDER = (staff_grants.c.workflow, staff_grants.c.role)


def _grants_of(connection: Connection, ids: Sequence[int]) -> dict[int, list[Grant]]:
    found: dict[int, list[Grant]] = {i: [] for i in ids}
    if ids:
        rows = connection.execute(
            select(staff_grants.c.staff_id, staff_grants.c.workflow, staff_grants.c.role, staff_grants.c.scope)
            .where(staff_grants.c.staff_id.in_(list(ids)))
            .order_by(staff_grants.c.staff_id, *_GRANT_ORDER)
        )
        for staff_id, workflow, role, scope in rows:
            found[staff_id].append(Grant(workflow, role, scope))
    return found


# One statement for the actor of every command: the member and all their grants (outer join, so a
# member without roles is still found). Prepared once (engine.store.prepared).
_by_username = PreparedStatement(
    select(*_COLUMNS, staff_grants.c.workflow, staff_grants.c.role, staff_grants.c.scope)
    .select_from(staff.outerjoin(staff_grants, staff_grants.c.staff_id == staff.c.id))
    .where(staff.c.username == bindparam("username"))
    .order_by(*_GRANT_ORDER)
)
_with_role_select = (
    select(*_COLUMNS, staff_grants.c.scope)
    .join(staff_grants, staff_grants.c.staff_id == staff.c.id)
    .where(and_(staff_grants.c.workflow == bindparam("workflow"), staff_grants.c.role == bindparam("role"),
                staff.c.active.is_(True)))
    .order_by(staff.c.username)
)
_with_role = PreparedStatement(_with_role_select)
_with_role_in = PreparedStatement(_with_role_select.where(staff_grants.c.scope == bindparam("scope")))


def by_username(connection: Connection, username: str, workflow: str | None = None) -> StaffMember | None:
    """The member called ``username`` with all their grants (only ``workflow``'s when given), or None."""
    rows = _by_username.rows(connection, {"username": username})
    if not rows:
        return None
    staff_id, found, name, phone, email, active = rows[0][:6]
    grants = tuple(Grant(row[6], row[7], row[8]) for row in rows if row[7] is not None
                   and (workflow is None or row[6] == workflow))
    return StaffMember(staff_id, found, name, grants, phone, email, bool(active))


def all_staff(connection: Connection) -> list[StaffMember]:
    """Every staff member with every grant, by username."""
    rows = list(connection.execute(select(*_COLUMNS).order_by(staff.c.username)))
    grants = _grants_of(connection, [row.id for row in rows])
    return [StaffMember(row.id, row.username, row.name, tuple(grants[row.id]), row.phone, row.email,
                        bool(row.active)) for row in rows]


def active_with_role(connection: Connection, workflow: str, role: str, scope: str | None = None) -> list[StaffMember]:
    """Active staff holding ``role`` in ``workflow``; when ``scope`` is given, only those bound to it.

    Each member's grants hold just that role: recipients are addressed in that role, and skipping
    the lookup of their other roles saves a query on every notice.
    """
    if scope is None:
        rows = _with_role.rows(connection, {"workflow": workflow, "role": role})
    else:
        rows = _with_role_in.rows(connection, {"workflow": workflow, "role": role, "scope": scope})
    return [StaffMember(staff_id, username, name, (Grant(workflow, role, bound_to),), phone, email, bool(active))
            for staff_id, username, name, phone, email, active, bound_to in rows]


def add_staff(connection: Connection, username: str, name: str, phone: str | None, email: str | None,
              now: datetime, added_by: str | None = None) -> int:
    """A new member without roles; returns their id. ``added_by`` names the operator who added them."""
    staff_id: int = connection.execute(
        insert(staff).values(username=username, name=name, phone=phone, email=email, active=True,
                             created_at=now, added_by=added_by, revision=1).returning(staff.c.id)
    ).scalar_one()
    return staff_id


def set_grants(connection: Connection, staff_id: int, workflow: str, roles: Sequence[str], scope: str | None) -> None:
    """Replace the member's roles in ``workflow`` by ``roles``, bound to ``scope``."""
    connection.execute(delete(staff_grants).where(and_(staff_grants.c.staff_id == staff_id,
                                                       staff_grants.c.workflow == workflow)))
    if roles:
        connection.execute(insert(staff_grants), [{"staff_id": staff_id, "workflow": workflow, "role": role,
                                                   "scope": scope} for role in dict.fromkeys(roles)])


def update_details(connection: Connection, staff_id: int, *, name: str, phone: str | None,
                   email: str | None) -> None:
    """Set the member's name and contacts."""
    connection.execute(update(staff).where(staff.c.id == staff_id).values(name=name, phone=phone, email=email))


def set_active(connection: Connection, username: str, active: bool) -> bool:
    """Enable or disable a member; False when there is no such member."""
    return connection.execute(update(staff).where(staff.c.username == username).values(active=active)).rowcount == 1


def revision_of(connection: Connection, username: str) -> int | None:
    """The member's revision (raised by each change), or None when there is no such member."""
    found = connection.execute(select(staff.c.revision).where(staff.c.username == username)).scalar_one_or_none()
    return None if found is None else int(found)


def added_by(connection: Connection, username: str) -> tuple[str | None, datetime] | None:
    """(who added the member, when), or None when there is no such member."""
    row = connection.execute(select(staff.c.added_by, staff.c.created_at).where(staff.c.username == username)).first()
    return None if row is None else (row.added_by, row.created_at)


def raise_revision(connection: Connection, staff_id: int, expected: int | None) -> bool:
    """Raise the member's revision by one; with ``expected``, only while it still is that revision
    (False otherwise: someone changed the member since ``expected`` was read)."""
    condition = staff.c.id == staff_id
    if expected is not None:
        condition = and_(condition, staff.c.revision == expected)
    return connection.execute(update(staff).where(condition).values(revision=staff.c.revision + 1)).rowcount == 1
