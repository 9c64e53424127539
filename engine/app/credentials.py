"""Who may use the web app and the API: passwords (argon2id), logins with lockout, bearer tokens.

Every login, failed login, refusal while locked out and logout is a row of the login record
(``login_events``); the lockout is computed from that record, so several runners sharing a
database agree on it and a restart forgets nothing. Back-off: after ``user_threshold`` failures
in a row a username is refused for ``base`` seconds, doubling with each further failure up to
``cap``; an address that failed ``address_threshold`` times within ``address_window`` is refused
the same way, whichever names it tries. Tokens are random and stored as their SHA-256 digest: a
leaked database gives no usable token.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime, timedelta
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection

from engine.app import administration
from engine.app.account_seals import seal_accounts
from engine.app.runtime import Runtime
from engine.errors import InvalidInput, NotFound, TreckkError
from engine.store import credential_rows, staff_rows
from engine.store.credential_rows import LoginRecord
from engine.store.staff_rows import StaffMember

__all__ = ["Credentials", "LockedOut", "LockoutPolicy", "LoginFailed", "StaffMember", "TOKEN_PREFIX", "demo_password"]

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
TOKEN_PREFIX = "trk_"
MAX_TOKEN_NAME = 100
FAILURES = frozenset({"wrong_password", "unknown_user", "disabled"})
"""Outcomes that count towards a lockout (a refusal while locked does not lengthen it)."""

T = TypeVar("T")

# Verifying against this keeps an unknown username as slow as a wrong password.
_DUMMY_PASSWORD = "treckk-no-such-user"


class LoginFailed(TreckkError):
    """The username, password or token was not accepted (which one is not said)."""

    exit_code = 3
    http_status = 401


class LockedOut(LoginFailed):
    """Too many recent failures for this username or address; ``until`` says when trying may resume."""

    http_status = 429

    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message, value=until.isoformat())
        self.until = until


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """How many failures lock a username or an address out, and for how long."""

    user_threshold: int = 5
    address_threshold: int = 20
    base: timedelta = timedelta(minutes=1)
    cap: timedelta = timedelta(hours=1)
    user_window: timedelta = timedelta(hours=24)
    address_window: timedelta = timedelta(hours=1)

    def locked_until(self, failures: list[datetime], threshold: int) -> datetime | None:
        """The end of the lockout that ``failures`` (newest first) earn, or None below the threshold."""
        if len(failures) < threshold:
            return None
        extra = min(len(failures) - threshold, 30)
        return failures[0] + min(self.cap, self.base * (1 << extra))


class Credentials:
    """Passwords, logins, the login record and API tokens, on one runtime's database and clock."""

    def __init__(self, runtime: Runtime, *, hasher: PasswordHasher | None = None,
                 policy: LockoutPolicy | None = None) -> None:
        """``hasher`` defaults to argon2id with argon2-cffi's recommended cost."""
        self.runtime = runtime
        self.hasher = hasher or PasswordHasher()
        self.policy = policy or LockoutPolicy()

    @cached_property
    def _dummy_hash(self) -> str:
        # Made on the first login, not when the application is built (every CLI command builds one).
        return self.hasher.hash(_DUMMY_PASSWORD)

    # -- passwords ------------------------------------------------------------------------------
    def set_password(self, username: str, password: str, *, actor: str | None = None,
                     end_sessions_from: str | None = None) -> None:
        """Store ``password`` (checked for length) as the member's argon2id hash; recorded (never the
        password) with ``actor`` (``engine.app.administration.actor_label``; default ``system``). With
        ``end_sessions_from`` (the address of whoever reset it) every session the member has open ends
        (a ``sessions_ended`` row of the login record)."""
        _check_password(password)
        hashed = self.hasher.hash(password)

        def work(connection: Connection) -> None:
            member = staff_rows.by_username(connection, username)
            if member is None:
                raise NotFound(f"staff {username!r} not found; add them with `treckk staff add`",
                               field="username", value=username)
            credential_rows.set_password_hash(connection, member.id, hashed, self.runtime.clock())
            administration.record(self.runtime, connection, actor or administration.SYSTEM_ACTOR, "password_set",
                                  username)
            if end_sessions_from is not None:
                credential_rows.record_login(connection, self.runtime.clock(), username, end_sessions_from,
                                             "sessions_ended")
            seal_accounts(connection, [username])

        self.runtime.db.transaction(work)

    def login(self, username: str, password: str, address: str) -> StaffMember:
        """The member whose password this is; every attempt is recorded, refusals as ``LoginFailed``."""
        return self.login_recorded(username, password, address)[0]

    def login_recorded(self, username: str, password: str, address: str) -> tuple[StaffMember, int]:
        """``login``, and the id of the login record's row of this login (a session keeps it: a logout
        recorded after it ends the session, see ``member``)."""
        now = self.runtime.clock()
        username = username.strip()
        locked = self.db_read(lambda connection: self._locked_until(connection, username, address, now))
        if locked is not None:
            self._record(now, username, address, "locked")
            raise LockedOut(f"too many failed logins; try again after {locked.isoformat()}", locked)
        found = self.db_read(lambda connection: self._member_and_hash(connection, username))
        member, stored = found if found is not None else (None, None)
        accepted = self._verify(stored or self._dummy_hash, password) and stored is not None
        outcome = ("unknown_user" if member is None else "wrong_password" if not accepted
                   else "disabled" if not member.active else "ok")
        record_id = self._record(now, username, address, outcome)
        if outcome != "ok" or member is None:
            raise LoginFailed("wrong username or password", field="username", value=username)
        if stored is not None and self.hasher.check_needs_rehash(stored):
            rehashed = self.hasher.hash(password)

            def rehash(connection: Connection) -> None:
                credential_rows.set_password_hash(connection, member.id, rehashed, now)
                seal_accounts(connection, [member.username])

            self.runtime.db.transaction(rehash)
        return member, record_id

    def logout(self, member: StaffMember, address: str) -> None:
        """Record that ``member`` logged out."""
        self._record(self.runtime.clock(), member.username, address, "logout")

    def locked_until(self, username: str, address: str) -> datetime | None:
        """When a lockout on ``username`` or ``address`` ends, or None when neither is locked."""
        now = self.runtime.clock()
        return self.db_read(lambda connection: self._locked_until(connection, username, address, now))

    def member(self, staff_id: int, logged_in: int | None = None) -> StaffMember | None:
        """The active member with ``staff_id`` (a session's user), or None when gone or disabled, or
        when they logged out after the login record's row ``logged_in`` (the session's login)."""

        def read(connection: Connection) -> StaffMember | None:
            username = credential_rows.username_of(connection, staff_id)
            member = staff_rows.by_username(connection, username) if username is not None else None
            if member is None or not member.active:
                return None
            if logged_in is not None and credential_rows.logged_out_after(connection, member.username, logged_in):
                return None
            return member

        return self.db_read(read)

    def login_records(self, username: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest rows of the login record (one username's when given), as data."""
        rows = self.db_read(lambda connection: credential_rows.login_records(connection, username, limit))
        return [_record_view(row) for row in rows]

    # -- tokens ---------------------------------------------------------------------------------
    def create_token(self, username: str, name: str | None = None, *, actor: str | None = None) -> tuple[int, str]:
        """A new bearer token for ``username``: (its id, the token). The token is shown only here; its
        creation is recorded (id, owner and name, never the token) with ``actor``."""
        label = (name or "").strip() or "token"
        if len(label) > MAX_TOKEN_NAME or any(ord(c) < 32 for c in label):
            raise InvalidInput(f"bad token name {label[:40]!r}; use up to {MAX_TOKEN_NAME} printable characters",
                               field="name", value=label[:40])
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)

        def work(connection: Connection) -> int:
            member = staff_rows.by_username(connection, username)
            if member is None:
                raise NotFound(f"staff {username!r} not found", field="username", value=username)
            token_id = credential_rows.insert_token(connection, member.id, label, _digest(token), self.runtime.clock())
            administration.record(self.runtime, connection, actor or administration.SYSTEM_ACTOR, "token_created",
                                  username, {"token": token_id, "name": label})
            seal_accounts(connection, [username])
            return token_id

        return self.runtime.db.transaction(work), token

    def tokens(self) -> list[dict[str, Any]]:
        """Every token (never the token itself): id, owner, name, created, last used, revoked."""
        return [{"id": row.id, "username": row.username, "name": row.name, "created_at": row.created_at.isoformat(),
                 "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
                 "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}
                for row in self.db_read(credential_rows.tokens)]

    def revoke_token(self, token_id: int, *, actor: str | None = None) -> None:
        """Revoke a token for good (recorded with ``actor`` the first time); NotFound when there is no such id."""
        now = self.runtime.clock()

        def work(connection: Connection) -> bool:
            before = credential_rows.token_by_id(connection, token_id)
            if before is None:
                return False
            credential_rows.revoke_token(connection, token_id, now)
            if before.revoked_at is None:
                administration.record(self.runtime, connection, actor or administration.SYSTEM_ACTOR,
                                      "token_revoked", before.username, {"token": token_id, "name": before.name})
            seal_accounts(connection, [before.username])
            return True

        if not self.runtime.db.transaction(work):
            raise NotFound(f"token {token_id} not found; see `treckk token list`", field="id", value=token_id)

    def authenticate_token(self, token: str) -> StaffMember:
        """The active member a live token belongs to; ``LoginFailed`` for anything else."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            raise LoginFailed("the bearer token is not valid")
        now = self.runtime.clock()

        def work(connection: Connection) -> StaffMember | None:
            row = credential_rows.token_by_hash(connection, _digest(token))
            if row is None or row.revoked_at is not None:
                return None
            member = staff_rows.by_username(connection, row.username)
            if member is None or not member.active:
                return None
            if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
                credential_rows.touch_token(connection, row.id, now)
            return member

        member = self.runtime.db.transaction(work)
        if member is None:
            raise LoginFailed("the bearer token is not valid, or was revoked")
        return member

    # -- inside ---------------------------------------------------------------------------------
    def db_read(self, work: Callable[[Connection], T]) -> T:
        """``work(connection)`` in a read transaction of its own (it takes no write lock)."""
        return self.runtime.db.read(work)

    def _member_and_hash(self, connection: Connection, username: str) -> tuple[StaffMember, str | None] | None:
        member = staff_rows.by_username(connection, username) if 0 < len(username) <= 64 else None
        if member is None:
            return None
        return member, credential_rows.password_hash(connection, member.id)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return bool(self.hasher.verify(stored, password))
        except (VerificationError, InvalidHashError):
            return False

    def _record(self, now: datetime, username: str, address: str, outcome: str) -> int:
        return self.runtime.db.transaction(lambda connection: credential_rows.record_login(
            connection, now, username, address, outcome))

    def _locked_until(self, connection: Connection, username: str, address: str, now: datetime) -> datetime | None:
        policy = self.policy
        by_user = credential_rows.recent_by_username(connection, username, now - policy.user_window)
        in_a_row = []
        for row in by_user:
            if row.outcome == "ok":
                break
            if row.outcome in FAILURES:
                in_a_row.append(row.at)
        by_address = [row.at for row in credential_rows.recent_by_address(connection, address,
                                                                          now - policy.address_window)
                      if row.outcome in FAILURES]
        ends = [end for end in (policy.locked_until(in_a_row, policy.user_threshold),
                                policy.locked_until(by_address, policy.address_threshold)) if end is not None]
        latest = max(ends, default=None)
        return latest if latest is not None and latest > now else None


def demo_password(username: str) -> str:
    """The known password a demo staff member gets (``treckk demo --web`` prints it; the web tests log in with it)."""
    return f"{username}-demo-2026"


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the password is too short; use at least {MIN_PASSWORD_LENGTH} characters",
                           field="password")
    if len(password) > MAX_PASSWORD_LENGTH or "\x00" in password:
        raise InvalidInput(f"the password is not accepted; use at most {MAX_PASSWORD_LENGTH} characters and no NUL",
                           field="password")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _record_view(row: LoginRecord) -> dict[str, Any]:
    return {"id": row.id, "at": row.at.isoformat(), "username": row.username, "address": row.address,
            "outcome": row.outcome}
