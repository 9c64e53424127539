"""Who may do what: role and scope checks, and who may read personal data (pure).

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
    def scope(self) -> str | None: ...

    @property
    def active(self) -> bool: ...


def _covers(actor: Actor, role: str, roles: RoleBook, case_scope: str | None) -> bool:
    spec = roles.roles.get(role)
    return spec is None or not spec.scoped or (case_scope is not None and actor.scope == case_scope)


def role_for(actor: Actor, allowed: Sequence[str], roles: RoleBook, case_scope: str | None) -> str | None:
    """The first role of an active ``actor`` that may act on a case of ``case_scope``, else None."""
    if not actor.active:
        return None
    for role in actor.roles:
        if role in allowed and _covers(actor, role, roles, case_scope):
            return role
    return None


def acting_role(actor: Actor, allowed: Sequence[str], roles: RoleBook, case_scope: str | None,
                what: str) -> str:
    """The first role of ``actor`` that may do ``what`` on a case of ``case_scope``.

    Raises PermissionDenied naming the roles that would be accepted, or the scope mismatch.
    """
    if not actor.active:
        raise PermissionDenied(f"staff {actor.username!r} is disabled and cannot {what}")
    found = role_for(actor, allowed, roles, case_scope)
    if found is not None:
        return found
    if not any(role in allowed for role in actor.roles):
        raise PermissionDenied(
            f"staff {actor.username!r} (roles: {', '.join(actor.roles) or 'none'}) may not {what}; "
            f"allowed roles are {', '.join(allowed)}", field="role", value=list(actor.roles), accepted=allowed
        )
    field = next((roles.roles[r].scope for r in actor.roles if r in allowed and r in roles.roles), "scope")
    raise PermissionDenied(
        f"staff {actor.username!r} acts for {field} {actor.scope or '(none)'} and may not {what} on a "
        f"case of {field} {case_scope or '(none)'}", field=field, value=actor.scope,
        accepted=(case_scope,) if case_scope else ()
    )


def capable_role(actor: Actor, roles: RoleBook, capability: str, what: str) -> str:
    """The first role of ``actor`` that holds ``capability`` (``deploy``, ``migrate``, ...), else PermissionDenied."""
    if not actor.active:
        raise PermissionDenied(f"staff {actor.username!r} is disabled and cannot {what}")
    holders = roles.with_capability(capability)
    found = next((role for role in actor.roles if role in holders), None)
    if found is None:
        allowed = ", ".join(holders) or f"none (no role has `can: [{capability}]`)"
        raise PermissionDenied(f"staff {actor.username!r} may not {what}; roles that may: {allowed}",
                               field="role", value=list(actor.roles), accepted=holders)
    return found


def may_view(viewer: Actor, roles: RoleBook, case_scope: str | None) -> bool:
    """Staff of scoped roles only see the cases of their own scope value; everyone else sees all."""
    for role in viewer.roles:
        spec = roles.roles.get(role)
        if spec is not None and (not spec.scoped or viewer.scope == case_scope):
            return True
    return False


def sees_pii(viewer: Actor | None, roles: RoleBook) -> bool:
    """Whether ``viewer`` may read personal data; nobody (None) may not."""
    if viewer is None or not viewer.active:
        return False
    return any(roles.roles[r].sees_pii for r in viewer.roles if r in roles.roles)
