"""The database layer: URLs, unreachable servers, retried serialisation failures, pool and sessions.

Tests that take ``database_url`` run on SQLite and on a real PostgreSQL server. Conflicts here
are real ones between two connections (a SERIALIZABLE write skew, a deadlock), never mocks.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from engine.errors import Conflict, InvalidInput
from engine.store.database import (
    MAX_OVERFLOW,
    POOL_SIZE,
    POSTGRES_CONNECT_ARGS,
    REPORT_WORK_MEM,
    Database,
    DatabaseNotInitialised,
    DatabaseUnavailable,
    masked,
)
from tests.conftest import ROOT

CLOSED_PORT_URL = "postgresql+psycopg://postgres@127.0.0.1:1/x"


def treckk(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a new process, as a shell would."""
    return subprocess.run([sys.executable, str(ROOT / "runner.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A Database on an empty database of each backend, with one ``ledger`` table."""
    database = Database(database_url)
    key = "INTEGER PRIMARY KEY" if database.is_sqlite else "SERIAL PRIMARY KEY"
    with database.begin() as connection:
        connection.execute(text(f"CREATE TABLE ledger (id {key}, name VARCHAR(16) NOT NULL, value INTEGER NOT NULL)"))
    yield database
    database.dispose()


def _values(database: Database) -> list[tuple[str, int]]:
    with database.begin() as connection:
        return [(r.name, r.value) for r in connection.execute(text("SELECT name, value FROM ledger ORDER BY id"))]


# -- URLs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, says", [
    ("nonsense", "bad database URL 'nonsense'"),
    ("postgresql://u:secret@db:port/treckk", "bad database URL"),
    ("mysql://u:secret@db/treckk", "unsupported database 'mysql'"),
    ("postgresql+asyncpg://u:secret@db/treckk", "unsupported PostgreSQL driver 'asyncpg'"),
    ("postgresql+psycopg2://u:secret@db/treckk", "unsupported PostgreSQL driver 'psycopg2'"),
    ("sqlite+aiosqlite:///x.db", "unsupported SQLite driver 'aiosqlite'"),
], ids=["garbage", "port", "mysql", "asyncpg", "psycopg2", "aiosqlite"])
def test_a_bad_url_is_invalid_input_that_names_the_accepted_forms(url: str, says: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        Database(url)
    message = str(raised.value)
    assert says in message
    assert "sqlite:///PATH" in message or "postgresql+psycopg://" in message
    assert "secret" not in message, "a password must never appear in a message"
    assert "\n" not in message
    assert raised.value.exit_code == 2


def test_the_cli_reports_a_bad_url_on_one_line_with_exit_2() -> None:
    result = treckk("cases", "--db", "mysql://u:secret@db/treckk")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("treckk: error: unsupported database 'mysql'")
    assert "secret" not in result.stderr and "Traceback" not in result.stderr


def test_masked_hides_passwords_even_in_urls_that_do_not_parse() -> None:
    assert masked("postgresql+psycopg://treckk:s3cr3t@db:5432/treckk") == "postgresql+psycopg://treckk:***@db:5432/treckk"
    assert masked("postgresql://treckk:s3cr3t@db:port/treckk") == "postgresql://treckk:***@db:port/treckk"
    assert masked("sqlite:///var/treckk.db") == "sqlite:///var/treckk.db"


# -- databases that cannot be used ------------------------------------------------------------

def test_a_closed_postgresql_port_is_unavailable_at_once_in_one_line() -> None:
    database = Database(CLOSED_PORT_URL)
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as raised:
        database.transaction(lambda connection: connection.execute(text("SELECT 1")))
    assert time.monotonic() - started < 3
    assert raised.value.exit_code == 7
    assert str(raised.value).startswith(f"database {CLOSED_PORT_URL} is not available: ")
    assert "Connection refused" in str(raised.value) and "\n" not in str(raised.value)


def test_the_cli_reports_an_unreachable_postgresql_in_one_line_with_exit_7() -> None:
    started = time.monotonic()
    result = treckk("cases", "--db", CLOSED_PORT_URL)
    assert time.monotonic() - started < 15
    assert result.returncode == 7, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("treckk: error: database postgresql+psycopg://"), result.stderr
    assert "Connection refused" in lines[0]


def test_a_server_that_never_answers_times_out_within_the_connect_timeout() -> None:
    with socket.socket() as silent:  # accepts TCP connections, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        database = Database(f"postgresql+psycopg://postgres@127.0.0.1:{silent.getsockname()[1]}/x")
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="timeout"):
            database.transaction(lambda connection: connection.execute(text("SELECT 1")))
    elapsed = time.monotonic() - started
    assert POSTGRES_CONNECT_ARGS["connect_timeout"] - 1 <= elapsed < POSTGRES_CONNECT_ARGS["connect_timeout"] + 3


def test_a_file_that_is_not_sqlite_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are not the tables you are looking for\n" * 100)
    with pytest.raises(DatabaseUnavailable, match="file is not a database"):
        Database(f"sqlite:///{path}").transaction(lambda connection: connection.execute(text("SELECT 1")))


def test_an_sqlite_folder_that_cannot_be_made_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the folder should be")
    with pytest.raises(DatabaseUnavailable, match="cannot create the folder"):
        Database(f"sqlite:///{tmp_path / 'taken' / 'treckk.db'}")


def test_a_missing_postgresql_database_is_unavailable(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite creates a missing database file")
    missing = database_url.rpartition("/")[0] + "/no_such_treckk_database"
    with pytest.raises(DatabaseUnavailable, match='database "no_such_treckk_database" does not exist'):
        Database(missing).transaction(lambda connection: connection.execute(text("SELECT 1")))


# -- transactions -----------------------------------------------------------------------------

def _half_done(connection: Connection) -> None:
    connection.execute(text("INSERT INTO ledger (name, value) VALUES ('lost', 2)"))
    raise InvalidInput("changed my mind")


def test_a_transaction_commits_its_work_or_none_of_it(db: Database) -> None:
    db.transaction(lambda c: c.execute(text("INSERT INTO ledger (name, value) VALUES ('kept', 1)")))
    with pytest.raises(InvalidInput):
        db.transaction(_half_done)
    assert _values(db) == [("kept", 1)]


def _driver_connection(connection: Connection) -> object:
    return connection.connection.dbapi_connection


def test_sqlite_keeps_a_connection_between_commands_that_holds_no_lock(db: Database) -> None:
    """Commands of one thread reuse one connection; between them another writer gets in at once."""
    first = db.transaction(_driver_connection)
    db.transaction(lambda c: c.execute(text("INSERT INTO ledger (name, value) VALUES ('a', 1)")))
    with pytest.raises(InvalidInput):
        db.transaction(_half_done)  # a refused command leaves the kept connection clean
    second = db.transaction(_driver_connection)
    if not db.is_sqlite:
        assert db._kept == []  # PostgreSQL connections go back to the pool (pinged, recycled there)
        return
    assert second is first and len(db._kept) == 1
    assert not db._kept[0].in_transaction()
    other = sqlite3.connect(db.engine.url.database, timeout=0)  # no busy wait: a held lock fails at once
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO ledger (name, value) VALUES ('c', 3)")
    other.commit()
    other.close()
    assert _values(db) == [("a", 1), ("c", 3)]
    db.dispose()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        first.execute("SELECT 1")  # type: ignore[attr-defined]
    assert db._kept == [] and db.transaction(lambda c: c.execute(text("SELECT count(*) FROM ledger")).scalar()) == 2


def test_a_commit_that_fails_leaves_no_lock_and_the_next_command_works(db: Database) -> None:
    """A deferred foreign key fails at COMMIT: the connection must not keep that transaction."""
    from sqlalchemy.exc import IntegrityError

    with db.begin() as connection:
        connection.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        connection.execute(text("CREATE TABLE child (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES parent (id) "
                                "DEFERRABLE INITIALLY DEFERRED)"))
    with pytest.raises(IntegrityError):
        db.transaction(lambda c: c.execute(text("INSERT INTO child (id, pid) VALUES (1, 99)")))
    if db.is_sqlite:
        other = sqlite3.connect(db.engine.url.database, timeout=0)
        other.execute("BEGIN IMMEDIATE")  # the write lock was released with the failed transaction
        other.rollback()
        other.close()
    db.transaction(lambda c: c.execute(text("INSERT INTO parent (id) VALUES (99)")))
    db.transaction(lambda c: c.execute(text("INSERT INTO child (id, pid) VALUES (1, 99)")))
    assert db.transaction(lambda c: c.execute(text("SELECT count(*) FROM child")).scalar()) == 1
    assert all(not kept.in_transaction() for kept in db._kept)


def test_threads_working_at_once_keep_at_most_a_few_sqlite_connections(db: Database) -> None:
    from engine.store.database import KEPT_SQLITE_CONNECTIONS

    start = threading.Barrier(8, timeout=20)

    def work(who: int) -> None:
        start.wait()
        for i in range(20):
            db.transaction(lambda c: c.execute(text("INSERT INTO ledger (name, value) VALUES (:n, :v)"),
                                               {"n": f"t{who}", "v": i}))

    threads = [threading.Thread(target=work, args=(who,)) for who in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert db.transaction(lambda c: c.execute(text("SELECT count(*) FROM ledger")).scalar()) == 160
    assert len(db._kept) <= (KEPT_SQLITE_CONNECTIONS if db.is_sqlite else 0)
    assert all(not connection.in_transaction() for connection in db._kept)


class Rendezvous:
    """Two threads meet once, on their first attempt only (a retry must not wait for anyone)."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=20)
        self.attempts = {0: 0, 1: 0}

    def first_attempt(self, who: int) -> bool:
        self.attempts[who] += 1
        return self.attempts[who] == 1

    def meet(self) -> None:
        self.barrier.wait()


def run_both(work: Callable[[int], object]) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(who: int) -> None:
        try:
            work(who)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(who,)) for who in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def _write_skew(db: Database, attempts: int) -> tuple[list[Database], Rendezvous, list[BaseException]]:
    """Each of two connections reads the count, then inserts count + 1: only a serial order gives 1, 2."""
    databases = [Database(db.url), Database(db.url)]
    meeting = Rendezvous()

    def work(who: int) -> None:
        def insert_next(connection: Connection) -> None:
            first = meeting.first_attempt(who)
            seen = connection.execute(text("SELECT count(*) FROM ledger")).scalar_one()
            if first and not db.is_sqlite:  # SQLite's second writer waits at BEGIN, so never meets
                meeting.meet()  # both have read before either writes
            connection.execute(text("INSERT INTO ledger (name, value) VALUES (:name, :value)"),
                               {"name": f"t{who}", "value": seen + 1})

        databases[who].transaction(insert_next, attempts=attempts, isolation="SERIALIZABLE")

    errors = run_both(work)
    for database in databases:
        database.dispose()
    return databases, meeting, errors


def test_a_real_serialisation_failure_is_retried_until_the_outcome_is_serial(db: Database) -> None:
    databases, meeting, errors = _write_skew(db, attempts=5)
    assert errors == []
    assert sorted(value for _, value in _values(db)) == [1, 2]
    if db.is_sqlite:
        assert sum(d.retries for d in databases) == 0, "BEGIN IMMEDIATE lets one writer in at a time"
    else:
        # PostgreSQL cancelled one of the two with 40001; it ran again and saw the other's row.
        assert sum(d.retries for d in databases) == 1
        assert sorted(meeting.attempts.values()) == [1, 2]


def test_a_serialisation_failure_that_outlasts_the_retries_is_a_conflict(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite runs one writer at a time; no serialisation failure can happen")
    _, _, errors = _write_skew(db, attempts=1)
    assert len(errors) == 1 and isinstance(errors[0], Conflict), errors
    assert errors[0].exit_code == 5 and "run it again" in str(errors[0])
    assert len(_values(db)) == 1


def test_a_real_deadlock_is_retried_and_both_commands_finish(db: Database) -> None:
    db.transaction(lambda c: c.execute(text("INSERT INTO ledger (id, name, value) VALUES (1, 'a', 0), (2, 'b', 0)")))
    databases = [Database(db.url), Database(db.url)]
    meeting = Rendezvous()

    def work(who: int) -> None:
        order = (1, 2) if who == 0 else (2, 1)  # opposite lock order: the textbook deadlock

        def bump_both(connection: Connection) -> None:
            first = meeting.first_attempt(who)
            connection.execute(text("UPDATE ledger SET value = value + 1 WHERE id = :id"), {"id": order[0]})
            if first and not db.is_sqlite:
                meeting.meet()  # each holds its first row before asking for the other's
            connection.execute(text("UPDATE ledger SET value = value + 1 WHERE id = :id"), {"id": order[1]})

        databases[who].transaction(bump_both)

    errors = run_both(work)
    for database in databases:
        database.dispose()
    assert errors == []
    assert _values(db) == [("a", 2), ("b", 2)]
    assert sum(d.retries for d in databases) == (0 if db.is_sqlite else 1)


def test_a_lock_wait_past_the_lock_timeout_is_unavailable_not_a_hang(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite waits on its busy timeout at BEGIN instead of on row locks")
    db.transaction(lambda c: c.execute(text("INSERT INTO ledger (id, name, value) VALUES (1, 'a', 0)")))
    with db.begin() as holder:
        holder.execute(text("SELECT value FROM ledger WHERE id = 1 FOR UPDATE"))

        def wait_for_row(connection: Connection) -> None:
            connection.execute(text("SET LOCAL lock_timeout = '200ms'"))
            connection.execute(text("UPDATE ledger SET value = 1 WHERE id = 1"))

        other = Database(db.url)
        with pytest.raises(DatabaseUnavailable, match="lock timeout"):
            other.transaction(wait_for_row)
        other.dispose()


def test_a_report_read_sorts_in_more_memory_for_its_own_transaction_only(db: Database) -> None:
    if db.is_sqlite:
        assert db.read(lambda c: c.exec_driver_sql("SELECT 1").scalar(), reports=True) == 1
        return

    def work_mem(connection: Connection) -> str:
        return str(connection.exec_driver_sql("SHOW work_mem").scalar())

    default = db.read(work_mem)
    assert db.read(work_mem, reports=True) == REPORT_WORK_MEM != default
    assert db.read(work_mem) == default  # SET LOCAL: gone with the report's transaction


# -- pool and session settings ----------------------------------------------------------------

def test_each_session_gets_the_settings_that_let_processes_share_the_database(db: Database) -> None:
    with db.begin() as connection:
        if db.is_sqlite:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        else:
            show = {name: connection.exec_driver_sql(f"SHOW {name}").scalar()
                    for name in ("application_name", "statement_timeout", "lock_timeout",
                                 "idle_in_transaction_session_timeout")}
            assert show == {"application_name": "treckk", "statement_timeout": "1min", "lock_timeout": "15s",
                            "idle_in_transaction_session_timeout": "2min"}


def test_postgresql_pools_are_small_per_process_and_configurable(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("the pool limits are for PostgreSQL servers shared by several runners")
    database = Database(database_url)
    assert (database.engine.pool.size(), database.engine.pool._max_overflow) == (POOL_SIZE, MAX_OVERFLOW)  # type: ignore[attr-defined]
    assert POOL_SIZE + MAX_OVERFLOW <= 10, "ten runners must fit PostgreSQL's default max_connections of 100"
    database.dispose()

    tuned = Database(f"{database_url}?application_name=runner-2", pool_size=8, max_overflow=0)
    assert (tuned.engine.pool.size(), tuned.engine.pool._max_overflow) == (8, 0)  # type: ignore[attr-defined]
    with tuned.begin() as connection:  # a setting in the URL wins over the default
        assert connection.exec_driver_sql("SHOW application_name").scalar() == "runner-2"
    tuned.dispose()


COUNTER_WORKER = """
import sys, time
from pathlib import Path
from sqlalchemy import text
from engine.store.database import Database

url, rendezvous, rounds = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
database = Database(url)
(rendezvous / f"ready-{sys.argv[4]}").touch()
deadline = time.monotonic() + 60
while not (rendezvous / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("never told to go")
    time.sleep(0.002)

def bump(connection):
    value = connection.execute(text("SELECT value FROM ledger WHERE id = 1")).scalar_one()
    connection.execute(text("UPDATE ledger SET value = :v WHERE id = 1"), {"v": value + 1})

for _ in range(rounds):
    database.transaction(bump, attempts=50, isolation="SERIALIZABLE")
print(database.retries)
"""


def start_together(argvs: list[list[str]], rendezvous: Path) -> list[subprocess.CompletedProcess[str]]:
    """Start one process per argv, wait until each says it is ready, then let them all go at once."""
    processes = [subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for argv in argvs]
    deadline = time.monotonic() + 60
    while len(list(rendezvous.glob("ready-*"))) < len(processes):
        assert time.monotonic() < deadline, "the worker processes never got ready"
        assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
        time.sleep(0.01)
    (rendezvous / "go").touch()
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


def test_several_processes_share_one_database_without_losing_an_update(db: Database, tmp_path: Path) -> None:
    db.transaction(lambda c: c.execute(text("INSERT INTO ledger (id, name, value) VALUES (1, 'counter', 0)")))
    processes, rounds = 3, 25
    results = start_together([["-c", COUNTER_WORKER, db.url, str(tmp_path), str(rounds), str(n)]
                              for n in range(processes)], tmp_path)
    assert [r.returncode for r in results] == [0] * processes, [r.stderr for r in results]
    # Read-then-write from three processes at once: without serialisable transactions and
    # retries (PostgreSQL) or the write lock at BEGIN (SQLite), increments would be lost.
    assert _values(db) == [("counter", processes * rounds)]


# -- times ------------------------------------------------------------------------------------

def test_times_are_stored_as_utc_and_read_back_aware_in_utc(database_url: str) -> None:
    """Any aware time goes in; the same instant comes out in UTC; a naive one is refused unwritten."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import Column, DateTime, Integer, MetaData, Table, insert, select

    from engine.store.schema import UTCDateTime

    database = Database(database_url)
    table = Table("moments", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime()),
                  Column("plain", DateTime()))
    wita = timezone(timedelta(hours=8))
    given = [datetime(2026, 11, 30, 8, 1, 2, 345, tzinfo=wita), datetime(999, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
             None]
    try:
        with database.begin() as connection:
            table.create(connection)
            connection.execute(insert(table), [{"id": i, "at": at} for i, at in enumerate(given)])
            with pytest.raises(Exception, match="naive datetime"):
                connection.execute(insert(table), {"id": 9, "at": datetime(2026, 11, 30)})
        with database.begin() as connection:
            read = [row.at for row in connection.execute(select(table).order_by(table.c.id))]
            assert read == given
            assert all(at.tzinfo is timezone.utc for at in read if at is not None)
            if database.is_sqlite:
                # The stored text is SQLAlchemy's own DATETIME form, in UTC, so plain DateTime
                # columns, older rows and hand-written SQL agree with it.
                stored = connection.exec_driver_sql("SELECT at FROM moments ORDER BY id").scalars().all()
                assert stored == ["2026-11-30 00:01:02.000345", "0999-01-02 03:04:05.000000", None]
                connection.execute(insert(table), {"id": 3, "plain": datetime(2026, 11, 30, 0, 1, 2, 345)})
                assert connection.exec_driver_sql("SELECT plain FROM moments WHERE id = 3").scalar() == stored[0]
                connection.exec_driver_sql("INSERT INTO moments (id, at) VALUES (4, '2026-11-30 00:00:00')")
                assert connection.execute(select(table.c.at).where(table.c.id == 4)).scalar() == \
                    datetime(2026, 11, 30, tzinfo=timezone.utc)
            assert connection.execute(select(table.c.id).where(table.c.id == 9)).first() is None
    finally:
        database.dispose()


# -- a database that was never set up ------------------------------------------------------------

def _run_cli(*args: str) -> tuple[int, str, str]:
    import contextlib
    import io

    import runner

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = runner.main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


NEEDS_A_DATABASE = (("cases",), ("show", "TRK-2026-000001"), ("inbox", "--as", "rina"), ("staff", "list"),
                    ("staff", "add", "rina", "--name", "Rina", "--role", "admin_lalisa"), ("db", "current"),
                    ("escalate",), ("serve", "--once"), ("notices",), ("deliver",), ("verify",),
                    ("submit", "--as", "rina", "--set", "kanal=web", "--set", "uraian=x"))


def test_commands_on_a_missing_sqlite_file_say_run_init_and_create_nothing(tmp_path: Path) -> None:
    path = tmp_path / "var" / "treckk.db"
    url = f"sqlite:///{path}"
    for args in NEEDS_A_DATABASE:
        code, out, err = _run_cli(*args, "--db", url)
        assert (code, out) == (7, ""), (args, err)
        assert err == (f"treckk: error: database {url} does not exist; run `treckk init` to create it "
                       "(or give --db / TRECKK_DATABASE_URL for another one)\n"), args
        assert not path.parent.exists(), args  # neither the file nor its folder
    with pytest.raises(DatabaseNotInitialised):
        Database(url, create=False)
    # `treckk db upgrade` and `treckk init` are the ones that create it.
    assert _run_cli("db", "upgrade", "--db", url)[0] == 0 and path.is_file()
    path.unlink()
    code, out, _ = _run_cli("init", "--db", url)
    assert code == 0 and out.startswith(f"Database ready: {url}") and path.is_file()
    assert _run_cli("cases", "--db", url)[:2] == (0, "(tidak ada aduan)\n")


def test_a_database_without_tables_says_run_init(database_url: str, tmp_path: Path) -> None:
    """An empty SQLite file (left by an older TRECKK) or an empty PostgreSQL database: exit 7, one line."""
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).touch()
    for args in NEEDS_A_DATABASE:
        if args == ("db", "current"):
            continue  # an empty database has no revision yet, and says so
        code, out, err = _run_cli(*args, "--db", database_url)
        assert (code, out) == (7, ""), (args, err)
        lines = err.splitlines()
        assert len(lines) == 1 and "has not been initialised" in lines[0] and "run `treckk init`" in lines[0], args
        assert "no such table" in lines[0] or "does not exist" in lines[0], lines
    code, out, _ = _run_cli("db", "current", "--db", database_url)
    assert code == 0 and "none (empty database)" in out
    assert _run_cli("init", "--db", database_url)[0] == 0
    assert _run_cli("staff", "list", "--db", database_url)[:2] == (0, "(belum ada petugas)\n")
