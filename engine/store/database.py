"""Connecting to the database: SQLite (embedded default) or PostgreSQL (scale-out).

SQLite runs in WAL mode with ``synchronous=NORMAL`` and takes the write lock at ``BEGIN`` (``BEGIN
IMMEDIATE``), so two writers queue on the busy timeout instead of failing half-way through a
read-then-write. PostgreSQL uses a connection pool with timeouts; commands that can meet a
serialisation failure or deadlock are retried by ``Database.transaction``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from engine.errors import InvalidInput, TreckkError
from engine.store.schema import Base

T = TypeVar("T")

_RETRYABLE_PG = {"40001", "40P01"}  # serialization_failure, deadlock_detected


class DatabaseUnavailable(TreckkError):
    """The database cannot be reached or opened."""

    exit_code = 7


def default_url(home: Path) -> str:
    """``TRECKK_DATABASE_URL``, or an SQLite file under ``var/`` of the project."""
    return os.environ.get("TRECKK_DATABASE_URL") or f"sqlite:///{home / 'var' / 'treckk.db'}"


class Database:
    """One SQLAlchemy engine plus the transaction discipline every command uses."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise InvalidInput(f"bad database URL {url!r}; use sqlite:///PATH or "
                               "postgresql+psycopg://USER:PASSWORD@HOST/DBNAME") from None
        self.url = url
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        elif self.dialect == "postgresql":
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            self.engine = create_engine(
                parsed, echo=echo, pool_size=5, max_overflow=5, pool_timeout=30, pool_pre_ping=True,
                connect_args={"connect_timeout": 10, "options": "-c statement_timeout=60000 "
                              "-c lock_timeout=30000 -c idle_in_transaction_session_timeout=120000"},
            )
        else:
            raise InvalidInput(f"unsupported database {self.dialect!r} in {url!r}; use sqlite or postgresql")

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def create_schema(self) -> None:
        """Create missing tables directly from the models (tests and throwaway databases)."""
        with self._translate():
            Base.metadata.create_all(self.engine)

    @contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            raise DatabaseUnavailable(f"database {self.safe_url} is not available: {exc.orig}") from None

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: commits when the block ends, rolls back on any exception."""
        with self._translate(), self.engine.begin() as connection:
            yield connection

    def transaction(self, work: Callable[[Connection], T], *, attempts: int = 5) -> T:
        """Run ``work`` in one transaction, retrying serialisation failures and deadlocks."""
        for attempt in range(1, attempts + 1):
            try:
                with self.begin() as connection:
                    return work(connection)
            except DBAPIError as exc:
                if attempt == attempts or not self._retryable(exc):
                    raise
                time.sleep(0.01 * 2 ** attempt)
        raise AssertionError("unreachable")

    def _retryable(self, exc: DBAPIError) -> bool:
        code = getattr(exc.orig, "sqlstate", None)
        if code in _RETRYABLE_PG:
            return True
        return self.is_sqlite and "locked" in str(exc.orig).lower()

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE instead of pysqlite's deferred BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
