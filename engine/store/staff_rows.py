"""Staff members and their roles. Functions take the caller's connection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, insert, select, update

from engine.store.prepared import PreparedStatement
from engine.store.schema import staff, staff_roles


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A person who acts on cases, with every role they hold."""

    id: int
    username: str
    name: str
    roles: tuple[str, ...]
    kecamatan: str | None
    phone: str | None
    email: str | None
    active: bool


_COLUMNS = (staff.c.id, staff.c.username, staff.c.name, staff.c.kecamatan, staff.c.phone, staff.c.email,
            staff.c.active)


def _roles_of(connection: Connection, ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        rows = connection.execute(
            select(staff_roles.c.staff_id, staff_roles.c.role)
            .where(staff_roles.c.staff_id.in_(list(ids)))
            .order_by(staff_roles.c.staff_id, staff_roles.c.role)
        )
        for staff_id, role in rows:
            found[staff_id].append(role)
    return found


def _members(connection: Connection, statement: object) -> list[StaffMember]:
    rows = list(connection.execute(statement))  # type: ignore[call-overload]
    roles = _roles_of(connection, [row.id for row in rows])
    return [StaffMember(row.id, row.username, row.name, tuple(roles[row.id]), row.kecamatan, row.phone,
                        row.email, bool(row.active)) for row in rows]


# One statement for the actor of every command: the member and all their roles (outer join, so a
# member without roles is still found). Prepared once (engine.store.prepared).
_by_username = PreparedStatement(
    select(*_COLUMNS, staff_roles.c.role)
    .select_from(staff.outerjoin(staff_roles, staff_roles.c.staff_id == staff.c.id))
    .where(staff.c.username == bindparam("username"))
    .order_by(staff_roles.c.role)
)
_with_role_select = (
    select(*_COLUMNS)
    .join(staff_roles, staff_roles.c.staff_id == staff.c.id)
    .where(and_(staff_roles.c.role == bindparam("role"), staff.c.active.is_(True)))
    .order_by(staff.c.username)
)
_with_role = PreparedStatement(_with_role_select)
_with_role_in = PreparedStatement(_with_role_select.where(staff.c.kecamatan == bindparam("kecamatan")))


def by_username(connection: Connection, username: str) -> StaffMember | None:
    rows = _by_username.rows(connection, {"username": username})
    if not rows:
        return None
    staff_id, found, name, kecamatan, phone, email, active, _role = rows[0]
    roles = tuple(row[7] for row in rows if row[7] is not None)
    return StaffMember(staff_id, found, name, roles, kecamatan, phone, email, bool(active))


def all_staff(connection: Connection) -> list[StaffMember]:
    return _members(connection, select(*_COLUMNS).order_by(staff.c.username))


def active_with_role(connection: Connection, role: str, kecamatan: str | None = None) -> list[StaffMember]:
    """Active staff holding ``role``; when ``kecamatan`` is given, only those bound to it.

    Each member's ``roles`` holds just ``role``: recipients are addressed in that role, and
    skipping the lookup of their other roles saves a query on every notice.
    """
    if kecamatan is None:
        rows = _with_role.rows(connection, {"role": role})
    else:
        rows = _with_role_in.rows(connection, {"role": role, "kecamatan": kecamatan})
    return [StaffMember(staff_id, username, name, (role,), bound_to, phone, email, bool(active))
            for staff_id, username, name, bound_to, phone, email, active in rows]


def add_staff(connection: Connection, username: str, name: str, roles: Sequence[str], kecamatan: str | None,
              phone: str | None, email: str | None, now: datetime) -> None:
    staff_id = connection.execute(
        insert(staff).values(username=username, name=name, kecamatan=kecamatan, phone=phone, email=email,
                             active=True, created_at=now).returning(staff.c.id)
    ).scalar_one()
    connection.execute(insert(staff_roles), [{"staff_id": staff_id, "role": role} for role in dict.fromkeys(roles)])


def set_active(connection: Connection, username: str, active: bool) -> bool:
    return connection.execute(update(staff).where(staff.c.username == username).values(active=active)).rowcount == 1
