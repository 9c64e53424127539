"""Opening a database for reading only, as ``verify`` does: no write lock, no file created, backups welcome.

SQLite is opened through a ``file:…?mode=ro`` URI, so SQLite itself refuses every write, a missing
file is an error instead of a new empty database, and a transaction is a plain deferred read that
never takes the write lock (writers go on beside it, in WAL mode). A backup on read-only storage,
where SQLite cannot create the ``-shm`` file a WAL database needs, is opened ``immutable=1`` (it
cannot change under the reader). PostgreSQL sessions are ``default_transaction_read_only`` and run
in REPEATABLE READ, so one transaction sees one snapshot however long it streams.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from engine.store.database import Database, DatabaseNotInitialised, DatabaseUnavailable, masked


class ReadOnlyDatabase:
    """An engine that can only read ``url``; ``begin()`` gives one read transaction."""

    def __init__(self, url: str, *, url_setting: str = "a database URL") -> None:
        # Parses and checks the URL as every command does, and words database errors the same way
        # (its own engine never connects).
        self._errors = Database(url, create=False, url_setting=url_setting)
        self.url = url
        self.dialect = self._errors.dialect
        self.safe_url = masked(url)
        parsed = make_url(url)
        if self.dialect == "sqlite":
            self.engine = self._sqlite(parsed.database or "")
        else:
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            self.engine = create_engine(
                parsed, poolclass=NullPool, isolation_level="REPEATABLE READ",
                connect_args={"connect_timeout": 5, "application_name": "treckk-verify",
                              "options": "-c default_transaction_read_only=on -c statement_timeout=0"})

    def _sqlite(self, database: str) -> Engine:
        if not database or database == ":memory:" or database.startswith("file:"):
            raise DatabaseUnavailable(f"verify reads a database file; {self.safe_url} is not one")
        path = Path(database)
        if not path.is_file():
            raise DatabaseNotInitialised(f"database {self.safe_url} does not exist; give the path of an existing "
                                         "database file (nothing was created)")
        uri = path.resolve().as_uri()
        immutable = not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK)

        def connect() -> sqlite3.Connection:
            suffix = "?mode=ro&immutable=1" if immutable else "?mode=ro"
            connection = sqlite3.connect(f"{uri}{suffix}", uri=True, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA query_only=ON")
            return connection

        return create_engine("sqlite://", creator=connect, poolclass=NullPool)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One read-only transaction (SQLite: a deferred ``BEGIN``; PostgreSQL: read only, repeatable read)."""
        with self._errors.translate_errors(), self.engine.connect() as connection:
            if self.dialect == "sqlite":
                connection.exec_driver_sql("BEGIN")
                try:
                    yield connection
                finally:
                    connection.exec_driver_sql("ROLLBACK")
            else:
                with connection.begin() as transaction:
                    yield connection
                    transaction.rollback()

    def dispose(self) -> None:
        self.engine.dispose()
        self._errors.dispose()
