"""Who changes staff, tokens and notices, and the record of it (``admin_events``).

The actor of an administrative change is named the same way everywhere: a staff member acting
through the web app is their username; an operator on the server (the command line, see
docs/operations.md: the trust model) is ``os:ACCOUNT``, and ``os:ACCOUNT as USER`` when acting for a
staff member with ``--as``. Whoever acts for a staff member (the web app always does) is checked:
that member must be active and hold a role with ``can: [manage_staff]``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from engine.app.runtime import Runtime
from engine.core.permissions import capable_role
from engine.errors import NotFound, PermissionDenied
from engine.store import admin_event_rows, definition_rows, staff_rows
from engine.store.staff_rows import StaffMember

SYSTEM_ACTOR = "system"


def actor_label(operator: str | None, acting_for: str | None) -> str:
    """The actor recorded for a change: ``USER``, ``os:ACCOUNT`` or ``os:ACCOUNT as USER``."""
    if operator is None:
        return acting_for or SYSTEM_ACTOR
    return f"{operator} as {acting_for}" if acting_for else operator


def manager(runtime: Runtime, connection: Connection, acting_for: str | None, what: str,
            workflow: str | None = None) -> StaffMember | None:
    """The staff member ``acting_for`` when they may manage staff (in ``workflow``, else in any deployed
    workflow); PermissionDenied when not; None when nobody is named (an operator acting as themselves)."""
    if acting_for is None:
        return None
    member = staff_rows.by_username(connection, acting_for)
    if member is None:
        raise NotFound(f"staff {acting_for!r} not found", field="as", value=acting_for)
    if not member.active:
        raise PermissionDenied(f"staff {acting_for!r} is disabled and cannot {what}")
    names = [workflow] if workflow is not None else definition_rows.workflows(connection)
    refusal: PermissionDenied | None = None
    for name in names:
        try:
            capable_role(member.in_workflow(name), runtime.compiled(connection, name).definition.roles,
                         "manage_staff", what)
            return member
        except PermissionDenied as exc:
            refusal = exc
    raise refusal or PermissionDenied(f"staff {acting_for!r} may not {what}: no workflow is deployed")


def may_manage(runtime: Runtime, connection: Connection, member: StaffMember, workflow: str | None = None) -> bool:
    """Whether ``member`` may manage staff (in ``workflow``, else in some deployed workflow)."""
    try:
        manager(runtime, connection, member.username, "manage staff", workflow)
    except (PermissionDenied, NotFound):
        return False
    return True


def record(runtime: Runtime, connection: Connection, actor: str, action: str, target: str | None,
           detail: dict[str, Any] | None = None) -> None:
    """Append one change to the administrators' record, at the runtime's clock, in the caller's transaction."""
    admin_event_rows.append(connection, runtime.clock(), actor, action, target, detail)
