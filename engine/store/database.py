"""Connecting to the database: SQLite (embedded default) or PostgreSQL (scale-out).

SQLite runs in WAL mode with ``synchronous=NORMAL`` and takes the write lock at ``BEGIN`` (``BEGIN
IMMEDIATE``), so two writers queue on the busy timeout instead of failing half-way through a
read-then-write, while views and reports begin deferred (``Database.read``) and never hold it; its WAL is checkpointed on a background thread (``engine.store.checkpoint``), and
a few connections stay open between commands (outside any transaction, so holding no lock).
PostgreSQL uses a small connection pool per process with timeouts on connecting, statements, lock
waits and idle transactions, so several runner processes can share one server; transactions that
lose a serialisation conflict or a deadlock are retried by ``Database.transaction``. With
``prepared=False`` every statement goes through SQLAlchemy's own execution path instead of
``engine.store.prepared`` (as it does whenever the engine is observed).

Database failures leave this module as ``DatabaseUnavailable`` (exit 7) with a one-line message,
a serialisation conflict that outlasts the retries as ``Conflict`` (exit 5), and a URL that cannot
work as ``InvalidInput`` (exit 2). Integrity and programming errors pass through unchanged: the
service turns the first into conflicts, and the second is a bug.
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DatabaseError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from engine.errors import Conflict, InvalidInput, TreckkError, Unavailable
from engine.store.checkpoint import BACKSTOP_PAGES, WalCheckpointer
from engine.store.prepared import bypass, run_driver_sql
from engine.store.schema import Base

T = TypeVar("T")

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
"""PostgreSQL's serialization_failure and deadlock_detected: the transaction may simply run again."""

POOL_SIZE = 3
"""Connections each process keeps open to PostgreSQL, unless the settings say otherwise."""
MAX_OVERFLOW = 2
"""Extra connections a process may open at a peak, closed again after, unless the settings say otherwise."""
POOL_TIMEOUT = 30
"""Seconds a thread waits for a free pooled connection before the command fails."""
POOL_RECYCLE = 1800
"""Seconds after which a pooled connection is replaced, so idle-dropping firewalls do no harm."""
PING_AFTER_IDLE = 10.0
"""Seconds a pooled PostgreSQL connection may rest before it is pinged when taken from the pool.

A connection used moments ago is taken as alive (pinging every one costs a round trip per
command); should it have died anyway, ``Database.transaction`` runs the command again on a new
connection, which is safe because nothing was committed."""

POSTGRES_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 5,
    "application_name": "treckk",
    # Per-session limits: a stuck statement, a lock wait or a forgotten open transaction ends
    # with an error instead of holding rows (and other runners) hostage.
    "options": "-c statement_timeout=60000 -c lock_timeout=15000 -c idle_in_transaction_session_timeout=120000",
}
"""libpq settings used unless the URL's query names the same key (``?connect_timeout=2``)."""

SQLITE_BUSY_TIMEOUT = 30
"""Seconds an SQLite writer waits for another process's write lock."""

KEPT_SQLITE_CONNECTIONS = 4
"""SQLite connections ``Database.transaction`` keeps open between commands (one per thread at work)."""

REPORT_WORK_MEM = "64MB"
"""On PostgreSQL, the memory each sort or hash of a report's read transaction may use
(``read(..., reports=True)``: the dashboard, the digest and the recap) before it spills to disk,
instead of the server's ``work_mem`` (4 MB by default): a year's recap sorts ~50,000 cases'
rows (~5 MB) per grouping. Set for that transaction only (``SET LOCAL``), so the server's setting
for everything else is untouched; bounded, since a statement may run a few such sorts at once."""

URL_FORMS = "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DBNAME"


class DatabaseUnavailable(Unavailable):
    """The database cannot be reached, opened or used right now."""


class DatabaseNotInitialised(DatabaseUnavailable):
    """The database (an SQLite file, or TRECKK's tables in it) was never created: ``treckk init`` makes it."""


def masked(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages (works on unparseable URLs too)."""
    return re.sub(r"(://[^:/@?#]*:)[^@/?#]*@", r"\1***@", url)


def _one_line(error: BaseException | None) -> str:
    """A driver message on one line: libpq adds hint lines that would break the CLI's one line."""
    parts = [part.strip() for part in str(error).splitlines() if part.strip()]
    return "; ".join(parts) or type(error).__name__


class Database:
    """One SQLAlchemy engine plus the transaction discipline every command uses."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int | None = None,
                 max_overflow: int | None = None, prepared: bool = True,
                 url_setting: str = "a database URL", pool_size_setting: str = "the pool size",
                 create: bool = True) -> None:
        """Connect lazily to ``url``; ``prepared=False`` sends every statement through SQLAlchemy.

        ``url_setting`` and ``pool_size_setting`` are how a person sets the URL and ``pool_size``,
        named in the messages that tell them to change it.
        ``create=False``: an SQLite file that does not exist is ``DatabaseNotInitialised``, and
        nothing (no file, no folder) is made; only the commands that set a database up create it.
        """
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError) as exc:
            raise InvalidInput(f"bad database URL {masked(url)!r} ({_one_line(exc)}); use {URL_FORMS}") from None
        self.url = url
        self.dialect = parsed.get_backend_name()
        self.prepared = prepared
        """Whether hot-path statements go straight to the driver (``engine.store.prepared``)."""
        self._url_setting = url_setting
        self._pool_size_setting = pool_size_setting
        self.retries = 0
        """Transactions run again after a serialisation failure or deadlock (for tests and logs)."""
        self.ping_after_idle = PING_AFTER_IDLE
        """Seconds a pooled PostgreSQL connection may rest before it is pinged at checkout."""
        self.reconnects = 0
        """Commands run again because their connection was found dead before they committed."""
        self._wal_file: str | None = None
        self._checkpointer: WalCheckpointer | None = None
        self._checkpointer_lock = threading.Lock()
        self._kept: list[Connection] = []
        """SQLite: connections between commands, taken and given back whole (see ``_take``)."""
        self._generation = 0
        self.create = create
        if self.dialect == "sqlite":
            self.engine: Engine = self._sqlite_engine(parsed, echo)
        elif self.dialect == "postgresql":
            self.engine = self._postgres_engine(parsed, echo, pool_size, max_overflow)
        else:
            raise InvalidInput(f"unsupported database {self.dialect!r} in {self.safe_url!r}; use {URL_FORMS}")
        if not prepared:
            bypass(self.engine)

    def _sqlite_engine(self, parsed: URL, echo: bool) -> Engine:
        if parsed.get_driver_name() != "pysqlite":
            raise InvalidInput(f"unsupported SQLite driver {parsed.get_driver_name()!r} in {self.safe_url!r}; "
                               "use sqlite:///PATH")
        database = parsed.database or ""
        is_file = bool(database) and database != ":memory:" and not database.startswith("file:")
        if is_file and not self.create and not Path(database).is_file():
            raise DatabaseNotInitialised(f"database {self.safe_url} does not exist; run `treckk init` to create it "
                                         f"(or give --db / {self._url_setting} for another one)")
        if is_file:
            try:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailable(f"cannot create the folder for the SQLite database {database!r}: "
                                          f"{exc.strerror or exc}") from None
            self._wal_file = database
            _create_private(Path(database))
        engine = create_engine(parsed, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
        if is_file and not self.create:
            # Open the file read-write only, so one removed after the check above is not made again, empty.
            event.listen(engine, "do_connect", partial(_existing_file_only, path=Path(database)))
        event.listen(engine, "connect", partial(_sqlite_connect, checkpointed=is_file))
        event.listen(engine, "begin", _sqlite_begin)
        return engine

    def _committed(self) -> None:
        """After each commit: SQLite files get their WAL checkpointed on a background thread."""
        if self._wal_file is None:
            return
        if self._checkpointer is None:
            with self._checkpointer_lock:
                if self._checkpointer is None:
                    self._checkpointer = WalCheckpointer(self._wal_file)
        self._checkpointer.committed()

    def _postgres_engine(self, parsed: URL, echo: bool, pool_size: int | None, max_overflow: int | None) -> Engine:
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.get_driver_name() != "psycopg":
            raise InvalidInput(f"unsupported PostgreSQL driver {parsed.get_driver_name()!r} in {self.safe_url!r}; "
                               "use postgresql+psycopg://USER:PASSWORD@HOST:PORT/DBNAME (psycopg 3)")
        connect_args = {key: value for key, value in POSTGRES_CONNECT_ARGS.items() if key not in parsed.query}
        try:
            engine = create_engine(
                parsed, echo=echo,
                pool_size=POOL_SIZE if pool_size is None else pool_size,
                max_overflow=MAX_OVERFLOW if max_overflow is None else max_overflow,
                pool_timeout=POOL_TIMEOUT, pool_recycle=POOL_RECYCLE, connect_args=connect_args,
            )
        except ArgumentError as exc:
            raise InvalidInput(f"bad database URL {self.safe_url!r}: {_one_line(exc)}") from None
        event.listen(engine, "checkin", _rested_since)
        event.listen(engine, "checkout", self._ping_if_rested)
        return engine

    def _ping_if_rested(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        """Ping a pooled connection that rested past ``ping_after_idle``; a dead one is replaced."""
        rested = record.info.get(_RESTED_SINCE)
        if rested is None or time.monotonic() - rested < self.ping_after_idle:
            return  # just opened, or used moments ago
        try:
            alive = self.engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - any failure to ping means the connection is gone
            raise DisconnectionError(f"pooled connection did not answer a ping: {_one_line(exc)}") from exc
        if not alive:
            raise DisconnectionError("pooled connection did not answer a ping")

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite backend."""
        return self.dialect == "sqlite"

    @property
    def safe_url(self) -> str:
        """The URL with its password hidden, for messages and output."""
        return masked(self.url)

    def create_schema(self) -> None:
        """Create missing tables straight from the models (throwaway databases; real ones migrate)."""
        with self.translate_errors():
            Base.metadata.create_all(self.engine)

    @contextmanager
    def translate_errors(self) -> Iterator[None]:
        """Turn connection, timeout and lock failures into one-line ``TreckkError``s."""
        try:
            yield
        except DBAPIError as exc:
            translated = self._translated(exc)
            if translated is None:
                raise
            raise translated from exc
        except PoolTimeout as exc:
            raise DatabaseUnavailable(
                f"database {self.safe_url}: every pooled connection of this process stayed busy for {POOL_TIMEOUT} s; "
                f"raise {self._pool_size_setting} or look for stuck commands") from exc

    def _translated(self, exc: DBAPIError) -> TreckkError | None:
        if _missing_table(exc):
            return DatabaseNotInitialised(f"database {self.safe_url} has not been initialised "
                                          f"({_one_line(exc.orig)}); run `treckk init` to create its tables")
        if self._retryable(exc):
            return Conflict(f"the database cancelled this command because a concurrent one changed the same rows "
                            f"({_one_line(exc.orig)}); run it again")
        if isinstance(exc, DataError):
            # The last guard for a value the command did not bound (PostgreSQL refuses a text longer
            # than its column); the command checks first, this keeps a miss from being a traceback.
            return InvalidInput(f"a value is not accepted by the database ({_one_line(exc.orig)}); nothing was "
                                "changed")
        if isinstance(exc, (OperationalError, InterfaceError)) or type(exc) is DatabaseError:
            # DatabaseError itself (not a subclass) is what SQLite raises for "file is not a database".
            return DatabaseUnavailable(f"database {self.safe_url} is not available: {_one_line(exc.orig)}")
        return None

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: commits when the block ends, rolls back on any exception."""
        with self.translate_errors(), self.engine.begin() as connection:
            yield connection
        self._committed()

    def read(self, work: Callable[[Connection], T], *, reports: bool = False) -> T:
        """Run ``work`` in a read transaction: one consistent snapshot that never blocks a writer.

        SQLite begins it deferred (a WAL reader takes no write lock, so commands go on while it
        runs); PostgreSQL runs it ``REPEATABLE READ, READ ONLY`` (one snapshot for all its
        statements, and a read-only one never fails to serialise). Every view and report goes through here; only
        commands take the write lock (``transaction``). ``reports``: the transaction counts a
        report (the dashboard, the digest, the recap); on PostgreSQL its sorts may use
        ``REPORT_WORK_MEM`` each.
        """
        return self.transaction(work, read_only=True, work_mem=REPORT_WORK_MEM if reports else None)

    def transaction(self, work: Callable[[Connection], T], *, attempts: int = 5,
                    isolation: str | None = None, read_only: bool = False, work_mem: str | None = None) -> T:
        """Run ``work`` in one transaction, running it again after a serialisation failure or deadlock.

        ``work`` may run more than once, so it must do nothing outside the connection it is given.
        ``isolation`` (e.g. ``"SERIALIZABLE"``) applies to PostgreSQL; SQLite transactions are
        serialisable already, since BEGIN IMMEDIATE lets one writer in at a time.
        ``read_only``: see ``read``; a write inside it fails on PostgreSQL. ``work_mem``: on
        PostgreSQL, this transaction's own ``work_mem`` (``SET LOCAL``; see ``REPORT_WORK_MEM``).
        """
        with self.translate_errors():
            attempt = 0
            reconnected = False
            while True:
                attempt += 1
                committing = False
                try:
                    connection, generation = self._take()
                    try:
                        if isolation and not self.is_sqlite:
                            connection.execution_options(isolation_level=isolation)
                        if read_only and self.is_sqlite:
                            connection.execution_options(**{_DEFERRED: True})
                        with connection.begin() as transaction:
                            if read_only and not self.is_sqlite:
                                run_driver_sql(connection, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                            if work_mem is not None and not self.is_sqlite:
                                run_driver_sql(connection, f"SET LOCAL work_mem = '{work_mem}'")
                            result = work(connection)
                            committing = True
                            transaction.commit()
                    finally:
                        if read_only and self.is_sqlite and not connection.closed:
                            connection.execution_options(**{_DEFERRED: False})
                        self._give_back(connection, generation)
                    if not read_only:
                        self._committed()
                    return result
                except DBAPIError as exc:
                    if exc.connection_invalidated and not committing and not reconnected:
                        # The connection died before this command committed anything: run it
                        # once more on a fresh one. (Lost during COMMIT, the outcome is unknown:
                        # that is reported, never repeated.)
                        reconnected = True
                        self.reconnects += 1
                        continue
                    if attempt >= attempts or not self._retryable(exc):
                        raise
                    self.retries += 1
                    # Jittered backoff, so two losers do not collide again in lockstep.
                    time.sleep(random.uniform(0.005, 0.02) * 2 ** attempt)

    def _take(self) -> tuple[Connection, int]:
        """A connection for one command (on an SQLite file, one kept from an earlier command if there
        is one) and the ``dispose`` generation it belongs to.

        Checking a connection out of SQLAlchemy's pool and back (a new ``Connection``, events, a
        reset) costs more than SQLite's own BEGIN and COMMIT. SQLite connections have no server
        that could drop them, and one outside a transaction holds no lock and no snapshot, so
        ``transaction`` keeps a few open between commands. PostgreSQL connections go back to the
        pool after each command, where they are pinged after a rest and recycled; in-memory SQLite
        ones are bound to their thread.
        """
        generation = self._generation
        try:
            return self._kept.pop(), generation
        except IndexError:
            return self.engine.connect(), generation

    def _give_back(self, connection: Connection, generation: int) -> None:
        """Keep ``connection`` for the next command if it is clean, else close it (or drop it)."""
        if connection.closed:
            return
        if connection.invalidated:
            connection.close()
            return
        if connection.get_transaction() is not None or _driver_in_transaction(connection):
            # A failed COMMIT can leave SQLite's transaction (and its write lock) open under a
            # finished SQLAlchemy one: drop the driver connection so the lock goes with it.
            connection.invalidate()
            connection.close()
            return
        if (self._wal_file is not None and generation == self._generation
                and len(self._kept) < KEPT_SQLITE_CONNECTIONS):
            self._kept.append(connection)
            if generation != self._generation:
                self._close_kept()  # ``dispose`` ran meanwhile: close what was kept, this one included
            return
        connection.close()

    def _close_kept(self) -> None:
        while True:
            try:
                connection = self._kept.pop()
            except IndexError:
                return
            connection.close()

    def _retryable(self, exc: DBAPIError) -> bool:
        return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES

    def dispose(self) -> None:
        """Close every pooled and kept connection (and stop the WAL checkpoint thread)."""
        self._generation += 1
        self._close_kept()
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        self.engine.dispose()


_RESTED_SINCE = "treckk_rested_since"


def _driver_in_transaction(connection: Connection) -> bool:
    dbapi_connection = connection.connection.dbapi_connection
    return bool(getattr(dbapi_connection, "in_transaction", False))


def _rested_since(_dbapi_connection: Any, record: Any) -> None:
    """Note when a connection went back to the pool (read by ``Database._ping_if_rested``)."""
    if record is not None:
        record.info[_RESTED_SINCE] = time.monotonic()


def _missing_table(exc: DBAPIError) -> bool:
    """SQLite's "no such table" or PostgreSQL's undefined_table: the schema was never made."""
    if getattr(exc.orig, "sqlstate", None) == "42P01":
        return True
    return isinstance(exc.orig, sqlite3.OperationalError) and str(exc.orig).startswith("no such table")


def _create_private(path: Path) -> None:
    """Create a missing SQLite file readable by its owner only (0600), before SQLite would create it
    with the umask's (often world-readable) mode; its -wal and -shm files take the same mode."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return
    except OSError:
        return  # SQLite reports what is wrong with the path when it opens it


def _existing_file_only(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any], *,
                        path: Path) -> None:
    cargs[:1] = [f"{path.resolve().as_uri()}?mode=rw"]
    cparams["uri"] = True


def _sqlite_connect(dbapi_connection: Any, _record: Any, *, checkpointed: bool) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE instead of pysqlite's deferred BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT * 1000}")
    # Switching a new database file to WAL needs an exclusive lock and SQLite answers "locked" at
    # once, without its busy handler, while another process is doing the same: retry briefly.
    for attempt in range(100):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.02 + 0.03 * random.random())
    cursor.execute("PRAGMA synchronous=NORMAL")
    if checkpointed:
        # Checkpoints run on a background thread (engine.store.checkpoint); a command only does
        # one itself when the log is far behind.
        cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


_DEFERRED = "treckk_deferred_begin"
"""Execution option set by ``Database.read``: begin SQLite's transaction deferred (a reader)."""


def _sqlite_begin(connection: Connection) -> None:
    deferred = connection.get_execution_options().get(_DEFERRED, False)
    run_driver_sql(connection, "BEGIN" if deferred else "BEGIN IMMEDIATE")
