"""Bringing a database to the newest schema: Alembic revisions, shared by SQLite and PostgreSQL.

The revisions live in ``engine/store/alembic/versions`` and ship inside the package. No
alembic.ini is read: the configuration is built here, and ``env.py`` gets an open connection in
``config.attributes["connection"]`` that is already inside the migration transaction, so a
revision applies completely or not at all (DDL is transactional on both backends).

Two processes may upgrade at once (two runners starting, ``treckk init`` twice): on PostgreSQL
the transaction first takes an advisory lock, on SQLite ``BEGIN IMMEDIATE`` takes the write lock.
The second waits, then finds the database at head and does nothing.

A database made before migrations existed (its tables were created straight from the models by
``create_all``) has the tables of the initial revision but no ``alembic_version``; it is stamped
with the initial revision and upgraded from there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, inspect, text

from engine.errors import InvalidInput
from engine.store.database import Database, DatabaseUnavailable

SCRIPT_LOCATION = Path(__file__).resolve().with_name("alembic")
"""The Alembic script directory inside the package (env.py, script.py.mako, versions/)."""

INITIAL_REVISION = "0001"
"""The revision that creates the tables as they were before migrations existed."""

PRE_MIGRATION_TABLES = frozenset({
    "staff", "staff_roles", "definitions", "case_numbers", "cases", "events", "escalations", "schedule_runs", "notices",
})
"""The tables ``create_all`` made before Alembic; exactly those of the initial revision."""

MIGRATION_LOCK = 0x747265636B6B
"""PostgreSQL advisory lock key ("treckk" in ASCII) held by the transaction that migrates."""

# Alembic keeps the running environment in module globals (``alembic.context``), so two threads
# of one process must not run env.py at once; processes are kept apart by the database lock.
_ENVIRONMENT = threading.Lock()


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The newest revision this version of TRECKK knows."""
    head = _script().get_current_head()
    assert head is not None, f"no migration revisions in {SCRIPT_LOCATION}"
    return head


def revisions() -> list[str]:
    """Every known revision, oldest first."""
    return [revision.revision for revision in reversed(list(_script().walk_revisions()))]


def current_revision(database: Database) -> str | None:
    """The revision ``database`` is at; None for a database that was never migrated."""
    with database.begin() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(database: Database, revision: str = "head") -> str | None:
    """Bring ``database`` (empty, older, or made before migrations) to ``revision``; return where it is."""
    script = _script()
    target = _known(script, revision)

    def steps(current: Any, _context: MigrationContext) -> Any:
        return script._upgrade_revs(target, current)

    return _run(database, steps, target)


def downgrade(database: Database, revision: str) -> str | None:
    """Take ``database`` back to ``revision`` (``"base"`` drops every table); return where it is."""
    script = _script()
    target = _known(script, revision)

    def steps(current: Any, _context: MigrationContext) -> Any:
        return script._downgrade_revs(target, current)

    return _run(database, steps, target)


def new_revision(database: Database, message: str, *, autogenerate: bool = True) -> Path:
    """Write a new revision file comparing the models with ``database`` (a developer's tool).

    ``database`` must be at head; the file is numbered after the newest one. Review it before
    committing: autogenerate misses renames and data changes.
    """
    number = max((int(rev) for rev in revisions() if rev.isdigit()), default=0) + 1
    with _ENVIRONMENT, _migrating(database) as connection:
        config = _config(connection)
        written = command.revision(config, message=message, autogenerate=autogenerate, rev_id=f"{number:04d}")
    _script.cache_clear()
    assert written is not None and not isinstance(written, list)
    return Path(written.path)


def _known(script: ScriptDirectory, revision: str) -> str:
    if revision in ("head", "base"):
        return revision
    try:
        script.get_revision(revision)
    except CommandError:
        raise InvalidInput(f"unknown schema revision {revision!r}; known: {', '.join(revisions())}, head, base") from None
    return revision


def _run(database: Database, steps: Any, target: str) -> str | None:
    script = _script()
    with _ENVIRONMENT, _migrating(database) as connection:
        current = _adopted_revision(database, connection)
        if current is not None:
            try:
                script.get_revision(current)
            except CommandError:
                raise DatabaseUnavailable(
                    f"database {database.safe_url} is at schema revision {current!r}, which this TRECKK does not "
                    f"know (newest known: {head_revision()}); run the TRECKK version that upgraded it") from None
        try:
            with EnvironmentContext(_config(connection), script, fn=steps, destination_rev=target):
                script.run_env()
        except CommandError as exc:
            raise InvalidInput(f"cannot move the schema of {database.safe_url} from revision {current or 'base'} "
                               f"to {target}: {exc}") from None
        return MigrationContext.configure(connection).get_current_revision()


def _adopted_revision(database: Database, connection: Connection) -> str | None:
    """The current revision, after stamping a database made before migrations with the initial one."""
    context = MigrationContext.configure(connection)
    current = context.get_current_revision()
    if current is not None:
        return current
    tables = set(inspect(connection).get_table_names())
    if not tables & PRE_MIGRATION_TABLES:
        return None
    missing = PRE_MIGRATION_TABLES - tables
    if missing:
        raise DatabaseUnavailable(
            f"database {database.safe_url} has some TRECKK tables but not {', '.join(sorted(missing))}, and no "
            "migration record (alembic_version); it cannot be upgraded safely — restore it from a backup")
    context.stamp(_script(), INITIAL_REVISION)
    return INITIAL_REVISION


@contextmanager
def _migrating(database: Database) -> Iterator[Connection]:
    """One transaction that holds the migration lock; SQLite foreign keys are checked at the end."""
    with database.translate_errors(), database.engine.connect() as connection:
        if database.is_sqlite:
            # Batch migrations copy a table and drop the old one; with enforcement on, dropping a
            # referenced table fails. The PRAGMA only works outside a transaction, so it is set on the
            # raw connection before BEGIN, and every key is checked before the commit instead.
            raw = connection.connection.driver_connection
            assert raw is not None
            raw.execute("PRAGMA foreign_keys=OFF")
            try:
                with connection.begin():
                    yield connection
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise DatabaseUnavailable(f"migrating {database.safe_url} would break foreign keys: "
                                                  f"{broken[:5]}; nothing was changed")
            finally:
                raw.execute("PRAGMA foreign_keys=ON")
        else:
            with connection.begin():
                # A migration may legitimately wait for another process's migration or run long.
                connection.execute(text("SET LOCAL lock_timeout = '10min'"))
                connection.execute(text("SET LOCAL statement_timeout = 0"))
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                yield connection

