"""Deployed definition versions. Functions take the caller's connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, func, insert, select

from engine.store.schema import definitions


@dataclass(frozen=True, slots=True)
class StoredDefinition:
    """One deployed version of a workflow, with its bundle text."""

    workflow: str
    version: int
    digest: str
    bundle: str
    deployed_at: datetime
    deployed_by: str


_COLUMNS = (definitions.c.workflow, definitions.c.version, definitions.c.digest, definitions.c.bundle,
            definitions.c.deployed_at, definitions.c.deployed_by)


def latest(connection: Connection, workflow: str) -> StoredDefinition | None:
    row = connection.execute(
        select(*_COLUMNS).where(definitions.c.workflow == workflow).order_by(definitions.c.version.desc()).limit(1)
    ).first()
    return StoredDefinition(*row) if row else None


def version(connection: Connection, workflow: str, number: int) -> StoredDefinition | None:
    row = connection.execute(
        select(*_COLUMNS).where(and_(definitions.c.workflow == workflow, definitions.c.version == number))
    ).first()
    return StoredDefinition(*row) if row else None


def workflows(connection: Connection) -> list[str]:
    return list(connection.execute(select(definitions.c.workflow).distinct().order_by(definitions.c.workflow))
                .scalars())


def versions(connection: Connection, workflow: str) -> list[int]:
    """The deployed version numbers of ``workflow``, oldest first."""
    return [int(v) for v in connection.execute(select(definitions.c.version).where(
        definitions.c.workflow == workflow).order_by(definitions.c.version)).scalars()]


def all_versions(connection: Connection) -> list[StoredDefinition]:
    return [StoredDefinition(*row) for row in
            connection.execute(select(*_COLUMNS).order_by(definitions.c.workflow, definitions.c.version))]


def insert_version(connection: Connection, stored: StoredDefinition) -> None:
    connection.execute(insert(definitions).values(
        workflow=stored.workflow, version=stored.version, digest=stored.digest, bundle=stored.bundle,
        deployed_at=stored.deployed_at, deployed_by=stored.deployed_by))


def count(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(definitions)).scalar_one())
