"""Who may do what: role and kecamatan checks, and who may read personal data (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from engine.definition.model import RoleBook
from engine.errors import PermissionDenied
from engine.store.staff_rows import StaffMember


def acting_role(actor: StaffMember, allowed: Sequence[str], roles: RoleBook, case_kecamatan: str | None,
                what: str) -> str:
    """The first role of ``actor`` that may do ``what`` on a case of ``case_kecamatan``.

    Raises PermissionDenied naming the roles that would be accepted, or the kecamatan mismatch.
    """
    if not actor.active:
        raise PermissionDenied(f"staff {actor.username!r} is disabled and cannot {what}")
    candidates = [role for role in actor.roles if role in allowed]
    if not candidates:
        raise PermissionDenied(
            f"staff {actor.username!r} (roles: {', '.join(actor.roles) or 'none'}) may not {what}; "
            f"allowed roles are {', '.join(allowed)}"
        )
    for role in candidates:
        spec = roles.roles.get(role)
        if spec is None or not spec.scoped or (case_kecamatan is not None and actor.kecamatan == case_kecamatan):
            return role
    raise PermissionDenied(
        f"staff {actor.username!r} acts for kecamatan {actor.kecamatan or '(none)'} and may not {what} on a "
        f"case of kecamatan {case_kecamatan or '(none)'}"
    )


def may_view(viewer: StaffMember, roles: RoleBook, case_kecamatan: str | None) -> bool:
    """Kecamatan-scoped staff only see their own kecamatan's cases; everyone else sees all."""
    for role in viewer.roles:
        spec = roles.roles.get(role)
        if spec is not None and (not spec.scoped or viewer.kecamatan == case_kecamatan):
            return True
    return False


def sees_pii(viewer: StaffMember | None, roles: RoleBook) -> bool:
    """Whether ``viewer`` may read personal data; nobody (None) may not."""
    if viewer is None or not viewer.active:
        return False
    return any(roles.roles[r].sees_pii for r in viewer.roles if r in roles.roles)
