"""Staff members and their roles. Functions take the caller's connection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, insert, select, update

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


def by_username(connection: Connection, username: str) -> StaffMember | None:
    found = _members(connection, select(*_COLUMNS).where(staff.c.username == username))
    return found[0] if found else None


def all_staff(connection: Connection) -> list[StaffMember]:
    return _members(connection, select(*_COLUMNS).order_by(staff.c.username))


def active_with_role(connection: Connection, role: str, kecamatan: str | None = None) -> list[StaffMember]:
    """Active staff holding ``role``; when ``kecamatan`` is given, only those bound to it."""
    statement = (
        select(*_COLUMNS)
        .join(staff_roles, staff_roles.c.staff_id == staff.c.id)
        .where(and_(staff_roles.c.role == role, staff.c.active.is_(True)))
        .order_by(staff.c.username)
    )
    if kecamatan is not None:
        statement = statement.where(staff.c.kecamatan == kecamatan)
    return _members(connection, statement)


def add_staff(connection: Connection, username: str, name: str, roles: Sequence[str], kecamatan: str | None,
              phone: str | None, email: str | None, now: datetime) -> None:
    staff_id = connection.execute(
        insert(staff).values(username=username, name=name, kecamatan=kecamatan, phone=phone, email=email,
                             active=True, created_at=now).returning(staff.c.id)
    ).scalar_one()
    connection.execute(insert(staff_roles), [{"staff_id": staff_id, "role": role} for role in dict.fromkeys(roles)])


def set_active(connection: Connection, username: str, active: bool) -> bool:
    return connection.execute(update(staff).where(staff.c.username == username).values(active=active)).rowcount == 1
