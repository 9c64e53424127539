"""Who may do what: role and kecamatan checks, and who may read personal data (pure).

The checks take any object shaped like a staff member (``Actor``) so this module needs nothing
from the store: the pure core imports no SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from engine.definition.model import RoleBook
from engine.errors import PermissionDenied


class Actor(Protocol):
    """What the checks read of a staff member (``engine.store.staff_rows.StaffMember`` fits)."""

    @property
    def username(self) -> str: ...

    @property
    def roles(self) -> tuple[str, ...]: ...

    @property
    def kecamatan(self) -> str | None: ...

    @property
    def active(self) -> bool: ...


def _covers(actor: Actor, role: str, roles: RoleBook, case_kecamatan: str | None) -> bool:
    spec = roles.roles.get(role)
    return spec is None or not spec.scoped or (case_kecamatan is not None and actor.kecamatan == case_kecamatan)


def role_for(actor: Actor, allowed: Sequence[str], roles: RoleBook, case_kecamatan: str | None) -> str | None:
    """The first role of an active ``actor`` that may act on a case of ``case_kecamatan``, else None."""
    if not actor.active:
        return None
    for role in actor.roles:
        if role in allowed and _covers(actor, role, roles, case_kecamatan):
            return role
    return None


def acting_role(actor: Actor, allowed: Sequence[str], roles: RoleBook, case_kecamatan: str | None,
                what: str) -> str:
    """The first role of ``actor`` that may do ``what`` on a case of ``case_kecamatan``.

    Raises PermissionDenied naming the roles that would be accepted, or the kecamatan mismatch.
    """
    if not actor.active:
        raise PermissionDenied(f"staff {actor.username!r} is disabled and cannot {what}")
    found = role_for(actor, allowed, roles, case_kecamatan)
    if found is not None:
        return found
    if not any(role in allowed for role in actor.roles):
        raise PermissionDenied(
            f"staff {actor.username!r} (roles: {', '.join(actor.roles) or 'none'}) may not {what}; "
            f"allowed roles are {', '.join(allowed)}"
        )
    raise PermissionDenied(
        f"staff {actor.username!r} acts for kecamatan {actor.kecamatan or '(none)'} and may not {what} on a "
        f"case of kecamatan {case_kecamatan or '(none)'}"
    )


def capable_role(actor: Actor, roles: RoleBook, capability: str, what: str) -> str:
    """The first role of ``actor`` that holds ``capability`` (``deploy``, ``migrate``, ...), else PermissionDenied."""
    if not actor.active:
        raise PermissionDenied(f"staff {actor.username!r} is disabled and cannot {what}")
    holders = roles.with_capability(capability)
    found = next((role for role in actor.roles if role in holders), None)
    if found is None:
        allowed = ", ".join(holders) or f"none (no role has `can: [{capability}]`)"
        raise PermissionDenied(f"staff {actor.username!r} may not {what}; roles that may: {allowed}")
    return found


def may_view(viewer: Actor, roles: RoleBook, case_kecamatan: str | None) -> bool:
    """Kecamatan-scoped staff only see their own kecamatan's cases; everyone else sees all."""
    for role in viewer.roles:
        spec = roles.roles.get(role)
        if spec is not None and (not spec.scoped or viewer.kecamatan == case_kecamatan):
            return True
    return False


def sees_pii(viewer: Actor | None, roles: RoleBook) -> bool:
    """Whether ``viewer`` may read personal data; nobody (None) may not."""
    if viewer is None or not viewer.active:
        return False
    return any(roles.roles[r].sees_pii for r in viewer.roles if r in roles.roles)
