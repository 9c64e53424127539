"""Staff passwords, the login record and API tokens. Functions take the caller's connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update

from engine.store.schema import api_tokens, login_events, staff, staff_passwords


SESSION_ENDINGS = ("logout", "sessions_ended")
"""Outcomes of the login record that end every session opened before them (a logout; a password reset)."""


@dataclass(frozen=True, slots=True)
class LoginRecord:
    """One row of the login record."""

    id: int
    at: datetime
    username: str
    address: str
    outcome: str


@dataclass(frozen=True, slots=True)
class TokenRow:
    """A bearer token as stored (its digest, never the token)."""

    id: int
    staff_id: int
    username: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def password_hash(connection: Connection, staff_id: int) -> str | None:
    """The stored hash of the member's password, or None when they have none."""
    return connection.execute(select(staff_passwords.c.password_hash)
                              .where(staff_passwords.c.staff_id == staff_id)).scalar_one_or_none()


def set_password_hash(connection: Connection, staff_id: int, hashed: str, now: datetime) -> None:
    """Store (or replace) the member's password hash."""
    connection.execute(delete(staff_passwords).where(staff_passwords.c.staff_id == staff_id))
    connection.execute(insert(staff_passwords).values(staff_id=staff_id, password_hash=hashed, changed_at=now))


def username_of(connection: Connection, staff_id: int) -> str | None:
    """The username of the member with ``staff_id``, or None."""
    return connection.execute(select(staff.c.username).where(staff.c.id == staff_id)).scalar_one_or_none()


def record_login(connection: Connection, at: datetime, username: str, address: str, outcome: str) -> int:
    """Append one row to the login record; its id (ids grow with each row)."""
    result = connection.execute(insert(login_events).values(at=at, username=username[:64], address=address[:64],
                                                            outcome=outcome))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def logged_out_after(connection: Connection, username: str, record_id: int) -> bool:
    """Whether ``username`` logged out (or had their sessions ended) after the login record row ``record_id``."""
    found = connection.execute(select(login_events.c.id).where(
        login_events.c.username == username[:64], login_events.c.outcome.in_(SESSION_ENDINGS),
        login_events.c.id > record_id).limit(1)).first()
    return found is not None


def recent_by_username(connection: Connection, username: str, since: datetime) -> list[LoginRecord]:
    """The user's login rows since ``since``, newest first."""
    return _records(connection, login_events.c.username == username[:64], since)


def recent_by_address(connection: Connection, address: str, since: datetime) -> list[LoginRecord]:
    """The address's login rows since ``since``, newest first."""
    return _records(connection, login_events.c.address == address[:64], since)


def _records(connection: Connection, condition: object, since: datetime, limit: int = 200) -> list[LoginRecord]:
    rows = connection.execute(
        select(login_events.c.id, login_events.c.at, login_events.c.username, login_events.c.address,
               login_events.c.outcome)
        .where(condition, login_events.c.at >= since)  # type: ignore[arg-type]
        .order_by(login_events.c.at.desc(), login_events.c.id.desc()).limit(limit))
    return [LoginRecord(*row) for row in rows]


def login_records(connection: Connection, username: str | None, limit: int) -> list[LoginRecord]:
    """The newest ``limit`` rows of the login record (one user's when ``username`` is given)."""
    query = select(login_events.c.id, login_events.c.at, login_events.c.username, login_events.c.address,
                   login_events.c.outcome)
    if username is not None:
        query = query.where(login_events.c.username == username)
    rows = connection.execute(query.order_by(login_events.c.at.desc(), login_events.c.id.desc()).limit(limit))
    return [LoginRecord(*row) for row in rows]


def insert_token(connection: Connection, staff_id: int, name: str, token_hash: str, now: datetime) -> int:
    """Store a new token's digest; its id."""
    result = connection.execute(insert(api_tokens).values(staff_id=staff_id, name=name, token_hash=token_hash,
                                                          created_at=now).returning(api_tokens.c.id))
    return int(result.scalar_one())


_TOKEN_COLUMNS = (api_tokens.c.id, api_tokens.c.staff_id, staff.c.username, api_tokens.c.name,
                  api_tokens.c.created_at, api_tokens.c.last_used_at, api_tokens.c.revoked_at)


def token_by_hash(connection: Connection, token_hash: str) -> TokenRow | None:
    """The token whose digest is ``token_hash``, or None."""
    row = connection.execute(select(*_TOKEN_COLUMNS).join(staff, staff.c.id == api_tokens.c.staff_id)
                             .where(api_tokens.c.token_hash == token_hash)).first()
    return TokenRow(*row) if row is not None else None


def token_by_id(connection: Connection, token_id: int) -> TokenRow | None:
    """The token with this id, or None."""
    row = connection.execute(select(*_TOKEN_COLUMNS).join(staff, staff.c.id == api_tokens.c.staff_id)
                             .where(api_tokens.c.id == token_id)).first()
    return TokenRow(*row) if row is not None else None


def has_password(connection: Connection, staff_id: int) -> bool:
    """Whether the member has a web password."""
    return password_hash(connection, staff_id) is not None


def tokens(connection: Connection) -> list[TokenRow]:
    """Every token, by id."""
    rows = connection.execute(select(*_TOKEN_COLUMNS).join(staff, staff.c.id == api_tokens.c.staff_id)
                              .order_by(api_tokens.c.id))
    return [TokenRow(*row) for row in rows]


def revoke_token(connection: Connection, token_id: int, now: datetime) -> bool:
    """Mark the token revoked (once); whether a token with that id exists."""
    exists = connection.execute(select(func.count()).select_from(api_tokens)
                                .where(api_tokens.c.id == token_id)).scalar_one()
    connection.execute(update(api_tokens).where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                       .values(revoked_at=now))
    return bool(exists)


def touch_token(connection: Connection, token_id: int, now: datetime) -> None:
    """Note when the token was last used."""
    connection.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now))
