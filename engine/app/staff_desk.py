"""The administrators' desk of the web app: staff, passwords, integration tokens and the audit trail.

Every method takes the acting staff member's username and checks, in the app layer, that they
hold a role with ``can: [manage_staff]`` (``engine.app.administration.manager``); a page that hides
a link is not the permission. Changes of staff themselves go through ``Commands`` (``add_staff``,
``update_staff``, ``set_staff_active`` with ``acting_for``), which check the same and record them.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from engine.app import administration, page_cursors
from engine.app.commands import Commands
from engine.app.credentials import Credentials
from engine.errors import InvalidInput, NotFound
from engine.store import admin_event_rows, credential_rows, definition_rows, staff_rows
from engine.store.admin_event_rows import AuditEntry, TrailPosition
from engine.store.staff_rows import StaffMember

AUDIT_KINDS = {
    "masuk": (("login",), ("ok", "logout", "sessions_ended"), None),
    "gagal": (("login",), ("wrong_password", "unknown_user", "disabled", "locked"), None),
    "pasang": (("deploy",), None, None),
    "migrasi": (("admin",), None, ("migration",)),
    "staf": (("admin",), None, ("staff_added", "staff_updated", "staff_disabled", "staff_enabled",
                                "password_set", "token_created", "token_revoked")),
    "kiriman": (("admin",), None, ("notice_retry",)),
}
"""The audit page's kinds of entries → (sources, login outcomes, admin actions) they read."""
AUDIT_PAGE = 50
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: it is read aloud or copied by hand


def temporary_password() -> str:
    """A random password to hand over once (``xxxx-xxxx-xxxx``, about 59 bits)."""
    groups = ["".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(4)) for _ in range(3)]
    return "-".join(groups)


def _trail_cursor(entry: AuditEntry) -> str:
    return page_cursors.encode(entry.at.isoformat(), entry.source, str(entry.id))


def _trail_position(cursor: str | None) -> TrailPosition | None:
    if not cursor:
        return None
    try:
        at, source, number = page_cursors.decode(cursor, 3)
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or source not in admin_event_rows.SOURCES:
            raise ValueError(at)
        return TrailPosition(moment, source, int(number))
    except ValueError:
        raise page_cursors.refused(cursor[:40]) from None


class StaffDesk:
    """Staff, passwords, tokens and the audit trail, for one acting administrator at a time."""

    def __init__(self, commands: Commands, credentials: Credentials) -> None:
        self.commands = commands
        self.credentials = credentials

    def _read(self, actor: str, work: Any, what: str = "manage staff") -> Any:
        def read(connection: Connection) -> Any:
            administration.manager(self.commands, connection, actor, what)
            return work(connection)

        return self.commands.db.read(read)

    # -- who may -------------------------------------------------------------------------------
    def check(self, actor: str, what: str = "manage staff") -> None:
        """PermissionDenied unless ``actor`` may manage staff (a page's form is shown only to them)."""
        self._read(actor, lambda connection: None, what)

    # -- staff ---------------------------------------------------------------------------------
    def members(self, actor: str) -> list[dict[str, Any]]:
        """Every staff member (active or not) with grants, contacts, revision and whether they have a password."""

        def work(connection: Connection) -> list[dict[str, Any]]:
            return [self._view(connection, member) for member in staff_rows.all_staff(connection)]

        result: list[dict[str, Any]] = self._read(actor, work)
        return result

    def member(self, actor: str, username: str) -> dict[str, Any]:
        """One member as the edit page shows them: grants, contacts, revision, who added them, tokens."""

        def work(connection: Connection) -> dict[str, Any]:
            member = staff_rows.by_username(connection, username)
            if member is None:
                raise NotFound(f"staff {username!r} not found", field="username", value=username)
            view = self._view(connection, member)
            added = staff_rows.added_by(connection, username)
            view["added_by"], view["created_at"] = added if added is not None else (None, None)
            view["tokens"] = [token for token in _tokens(connection) if token["username"] == username]
            return view

        result: dict[str, Any] = self._read(actor, work)
        return result

    def _view(self, connection: Connection, member: StaffMember) -> dict[str, Any]:
        return {"username": member.username, "name": member.name, "phone": member.phone, "email": member.email,
                "active": member.active, "revision": staff_rows.revision_of(connection, member.username),
                "has_password": credential_rows.has_password(connection, member.id),
                "grants": [{"workflow": g.workflow, "role": g.role, "scope": g.scope} for g in member.grants]}

    def reset_password(self, actor: str, username: str, address: str = "") -> str:
        """A new random password for ``username`` (returned once, to hand over), recorded with ``actor``;
        every session ``username`` has open ends (the old password may be what was misused)."""
        self._read(actor, lambda connection: None, "reset passwords")
        password = temporary_password()
        self.credentials.set_password(username, password, actor=actor, end_sessions_from=address or actor)
        return password

    # -- tokens --------------------------------------------------------------------------------
    def tokens(self, actor: str) -> list[dict[str, Any]]:
        """Every integration token (never the token itself)."""
        result: list[dict[str, Any]] = self._read(actor, _tokens)
        return result

    def create_token(self, actor: str, owner: str, name: str) -> tuple[int, str]:
        """A new bearer token of ``owner`` (whose roles it acts with): (id, token), the token shown once."""
        self._read(actor, lambda connection: None, "create tokens")
        if not name.strip():
            raise InvalidInput("give the token a name (which system uses it)", field="name")
        return self.credentials.create_token(owner, name, actor=actor)

    def revoke_token(self, actor: str, token_id: int) -> None:
        """Revoke a token for good, recorded with ``actor``."""
        self._read(actor, lambda connection: None, "revoke tokens")
        if not 0 < token_id < 2 ** 31:
            raise NotFound(f"token {token_id} not found", field="id", value=token_id)
        self.credentials.revoke_token(token_id, actor=actor)

    # -- the audit trail -----------------------------------------------------------------------
    def audit(self, actor: str, *, kind: str | None = None, after: str | None = None,
              limit: int = AUDIT_PAGE) -> dict[str, Any]:
        """One page of the audit trail, newest first: logins and failed logins, deploys, migrations,
        staff and token changes, notice retries (``kind`` narrows to one of ``AUDIT_KINDS``)."""
        if kind is not None and kind not in AUDIT_KINDS:
            raise InvalidInput(f"unknown kind {kind!r}; use {', '.join(AUDIT_KINDS)}", field="jenis", value=kind,
                               accepted=tuple(AUDIT_KINDS))
        if not 1 <= limit <= 200:
            raise InvalidInput(f"limit must be between 1 and 200, not {limit}", field="limit", value=limit)
        position = _trail_position(after)
        sources, outcomes, actions = AUDIT_KINDS[kind] if kind else (admin_event_rows.SOURCES, None, None)

        def work(connection: Connection) -> dict[str, Any]:
            found = admin_event_rows.trail(connection, sources=sources, login_outcomes=outcomes, actions=actions,
                                           after=position, limit=limit + 1)
            shown = found[:limit]
            return {"entries": [{"at": e.at.isoformat(), "source": e.source, "id": e.id, "actor": e.actor,
                                 "action": e.action, "target": e.target, "detail": e.detail} for e in shown],
                    "next": _trail_cursor(shown[-1]) if len(found) > limit else None}

        result: dict[str, Any] = self._read(actor, work, "read the audit trail")
        return result


def _tokens(connection: Connection) -> list[dict[str, Any]]:
    return [{"id": row.id, "username": row.username, "name": row.name, "created_at": row.created_at.isoformat(),
             "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
             "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}
            for row in credential_rows.tokens(connection)]
