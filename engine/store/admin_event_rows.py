"""The administrators' record (``admin_events``) and the audit trail read across every record.

An audit entry comes from one of three tables: the login record (``login_events``: logins,
failures, lockouts, logouts), the deployed definitions (``definitions``: who deployed which
version) and ``admin_events`` (staff and token changes, migrations, notice retries). The trail is
read newest first, keyset-paged by ``(at, source, id)``: each source is read from one index range
(``ix_login_events_at``, ``ix_admin_events_at``; the definitions are few) cut at the page size,
and the ranges merged, so a page costs its size times the sources read, whatever the tables hold.
Functions take the caller's connection.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, insert, literal, select, tuple_

from engine.store.schema import admin_events, definitions, login_events

SOURCES = ("login", "deploy", "admin")
"""The tables an audit entry comes from, in the order entries of the same instant are listed."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry of the audit trail: when, from which source, who, what, to what, and details."""

    at: datetime
    source: str
    id: int
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TrailPosition:
    """Where a page of the trail ended: its last entry's time, source and id."""

    at: datetime
    source: str
    id: int


def append(connection: Connection, at: datetime, actor: str, action: str, target: str | None,
           detail: dict[str, Any] | None = None) -> None:
    """Record one administrative change in the caller's transaction."""
    connection.execute(insert(admin_events).values(
        at=at, actor=actor[:200], action=action[:32], target=None if target is None else target[:200],
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else None))


def _before(at: ColumnElement[Any], row_id: ColumnElement[Any], source: str,
            after: TrailPosition | None) -> list[ColumnElement[bool]]:
    """The condition that keeps a source's rows strictly after ``after`` in the trail's order."""
    if after is None:
        return []
    moment = bindparam(None, after.at, type_=at.type)
    mine, theirs = SOURCES.index(source), SOURCES.index(after.source)
    if mine < theirs:  # same instant: this source came first, so all of it is already listed
        return [at < moment]
    if mine > theirs:
        return [at <= moment]
    return [tuple_(at, row_id) < tuple_(moment, literal(after.id))]


_FAILURES = ("wrong_password", "unknown_user", "disabled", "locked")


def trail(connection: Connection, *, sources: Sequence[str] = SOURCES, login_outcomes: Sequence[str] | None = None,
          actions: Sequence[str] | None = None, after: TrailPosition | None = None,
          limit: int = 50) -> list[AuditEntry]:
    """Up to ``limit`` entries after ``after``, newest first, of ``sources``; ``login_outcomes`` and
    ``actions`` narrow the login record and ``admin_events`` to some outcomes or actions."""
    found: list[AuditEntry] = []
    if "login" in sources:
        where = _before(login_events.c.at, login_events.c.id, "login", after)
        if login_outcomes is not None:
            where.append(login_events.c.outcome.in_(list(login_outcomes)))
        for row in connection.execute(
                select(login_events.c.id, login_events.c.at, login_events.c.username, login_events.c.address,
                       login_events.c.outcome).where(and_(True, *where))
                .order_by(login_events.c.at.desc(), login_events.c.id.desc()).limit(limit)):
            found.append(AuditEntry(row.at, "login", int(row.id), row.username,
                                    "login_failed" if row.outcome in _FAILURES else f"login_{row.outcome}",
                                    row.username, {"address": row.address, "outcome": row.outcome}))
    if "deploy" in sources:
        where = _before(definitions.c.deployed_at, definitions.c.id, "deploy", after)
        for deployed in connection.execute(
                select(definitions.c.id, definitions.c.deployed_at, definitions.c.deployed_by,
                       definitions.c.workflow, definitions.c.version, definitions.c.digest)
                .where(and_(True, *where))
                .order_by(definitions.c.deployed_at.desc(), definitions.c.id.desc()).limit(limit)):
            found.append(AuditEntry(deployed.deployed_at, "deploy", int(deployed.id), deployed.deployed_by, "deploy",
                                    deployed.workflow, {"version": int(deployed.version), "digest": deployed.digest}))
    if "admin" in sources:
        where = _before(admin_events.c.at, admin_events.c.id, "admin", after)
        if actions is not None:
            where.append(admin_events.c.action.in_(list(actions)))
        for event in connection.execute(
                select(admin_events).where(and_(True, *where))
                .order_by(admin_events.c.at.desc(), admin_events.c.id.desc()).limit(limit)):
            found.append(AuditEntry(event.at, "admin", int(event.id), event.actor, event.action, event.target,
                                    json.loads(event.detail) if event.detail else {}))
    order = {source: index for index, source in enumerate(SOURCES)}
    found.sort(key=lambda entry: (entry.at, -order[entry.source], entry.id), reverse=True)
    return found[:limit]
