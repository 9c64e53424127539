"""Staff accounts as the transparency log seals them: each account's digest, and the newest staff leaves.

``account_states`` reads what ``engine.core.log_entries.staff_state`` covers (the staff row, its
grants, its password hash and its API tokens) with plain SQL, so the migration that seals the
accounts of an existing database reads them exactly as the engine and ``verify`` do. Functions
take the caller's connection; reads are bounded by the number of staff (and their changes), not
by cases.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, text

from engine.core.log_entries import STAFF, staff_state


def account_states(connection: Connection, usernames: Sequence[str] | None = None) -> dict[str, str]:
    """username → the digest of the account as stored (every account, or only ``usernames``)."""
    where, params = "", {}
    if usernames is not None:
        if not usernames:
            return {}
        where, params = " WHERE s.username IN :names", {"names": list(usernames)}

    def rows(sql: str) -> list[Sequence[object]]:
        statement = text(sql + where)
        if usernames is not None:
            statement = statement.bindparams(bindparam("names", expanding=True))
        return [tuple(row) for row in connection.execute(statement, params)]

    accounts = rows("SELECT s.id, s.username, s.name, s.phone, s.email, s.active FROM staff s")
    grants: dict[object, list[tuple[str, str, str | None]]] = {}
    for staff_id, workflow, role, scope in rows("SELECT g.staff_id, g.workflow, g.role, g.scope "
                                                "FROM staff_grants g JOIN staff s ON s.id = g.staff_id"):
        grants.setdefault(staff_id, []).append((str(workflow), str(role), None if scope is None else str(scope)))
    passwords = {staff_id: str(hashed) for staff_id, hashed in rows(
        "SELECT p.staff_id, p.password_hash FROM staff_passwords p JOIN staff s ON s.id = p.staff_id")}
    tokens: dict[object, list[tuple[int, str, bool]]] = {}
    for staff_id, token_id, token_hash, revoked_at in rows(
            "SELECT t.staff_id, t.id, t.token_hash, t.revoked_at FROM api_tokens t JOIN staff s ON s.id = t.staff_id"):
        tokens.setdefault(staff_id, []).append((int(str(token_id)), str(token_hash), revoked_at is not None))
    return {
        str(username): staff_state(str(username), str(name), None if phone is None else str(phone),
                                   None if email is None else str(email), bool(active), grants.get(staff_id, ()),
                                   passwords.get(staff_id), tokens.get(staff_id, ()))
        for staff_id, username, name, phone, email, active in accounts
    }


def newest_staff_leaves(connection: Connection) -> dict[str, tuple[int, str, str]]:
    """username → (index, sealed digest, leaf hash) of the newest staff leaf of each account in the log."""
    newest: dict[str, tuple[int, str, str]] = {}
    for idx, subject, digest, leaf in connection.execute(text(
            "SELECT idx, subject, definition_digest, leaf FROM log_leaves WHERE kind = :kind ORDER BY idx"),
            {"kind": STAFF}):
        newest[str(subject)] = (int(idx), str(digest), str(leaf))
    return newest
