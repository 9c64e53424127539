"""Hot-path statements sent straight to the driver behave exactly as through SQLAlchemy.

``engine.store.prepared`` skips SQLAlchemy's execution machinery for the statements every command
runs. These tests hold it to its promise: the same SQL text and values reach the database, rows
come back with the same types, errors are the same ``sqlalchemy.exc`` classes (and a lost
PostgreSQL connection is recovered), and anyone listening on the engine sees every statement.
"""

from __future__ import annotations

import random
import re
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from engine.errors import Conflict
from engine.app.escalation import escalate_due
from engine.app.commands import Commands
from engine.store import case_rows
from engine.store.database import Database, DatabaseUnavailable
from engine.store.migrations import upgrade
from engine.store.prepared import observed
from tests.conftest import COMPLAINT, STAFF, FakeClock

_MESSAGE_ID = re.compile(r"'[0-9a-f]{32}@treckk'")


def _scripted_day(db: Database, clock: FakeClock, home: Path) -> None:
    """Intake, two moves with notices, and an escalation reminder, at fixed times."""
    engine = Commands(db, clock, home)
    engine.deploy(home / "workflows" / "treckk.yaml", None)
    for username, name, roles, kecamatan, phone, email in STAFF:
        engine.add_staff(username, name, roles, kecamatan, phone, email)
    first = engine.submit("admin", COMPLAINT).number
    second = engine.submit("admin", {**COMPLAINT, "kecamatan": "juai"}).number
    engine.advance(first, "teruskan", "admin")
    engine.advance(first, "tugaskan", "kabid", {"instruksi": "Tertibkan PKL."})
    engine.advance(second, "teruskan", "admin")
    clock.advance(days=3)
    assert second in [fired.number for fired in escalate_due(engine)]
    with pytest.raises(Conflict):
        engine.advance(first, "mulai_tangani", "tim_paringin", expect_version=1)


def _traced(url: str, clock: FakeClock, home: Path, *, observe: bool, prepared: bool = True) -> list[str]:
    """Every statement SQLite executed for the scripted day, as SQLite itself saw it."""
    db = Database(url, prepared=prepared)
    upgrade(db)
    seen: list[str] = []
    event.listen(db.engine, "connect", lambda dbapi, _record: dbapi.set_trace_callback(seen.append))
    db.dispose()  # reconnect, so every connection carries the trace callback
    if observe:
        event.listen(db.engine, "before_cursor_execute", lambda *_args: None)
    random.seed(7)  # the escalation scan starts each batch at a random case
    assert observed(db.engine.connect()) is (observe or not prepared)
    _scripted_day(db, clock, home)
    db.dispose()
    return [_MESSAGE_ID.sub("'<message-id>'", statement) for statement in seen]


def test_sqlite_receives_the_very_statements_sqlalchemy_would_send(tmp_path: Path, home: Path) -> None:
    start = FakeClock().now
    through_sqlalchemy = _traced(f"sqlite:///{tmp_path / 'a.db'}", FakeClock(start), home, observe=True)
    straight = _traced(f"sqlite:///{tmp_path / 'b.db'}", FakeClock(start), home, observe=False)
    switched_off = _traced(f"sqlite:///{tmp_path / 'c.db'}", FakeClock(start), home, observe=False, prepared=False)
    assert len(straight) > 60
    assert straight == through_sqlalchemy == switched_off
    dump = {name: [row for row in sqlite3.connect(tmp_path / name).execute(
        "SELECT number, state, version, data, due_at, next_step, next_step_at, last_hash FROM cases ORDER BY id")]
        for name in ("a.db", "b.db", "c.db")}
    assert dump["a.db"] == dump["b.db"] == dump["c.db"]


def test_rows_come_back_with_the_types_sqlalchemy_gives(engine: Commands) -> None:
    number = engine.submit("admin", COMPLAINT).number
    engine.advance(number, "teruskan", "admin")

    def both(connection: Any) -> tuple[Any, Any]:
        fast = case_rows.case_by_number(connection, number)
        full = connection.execute(case_rows._case_by_number, {"number": number}).first()
        return fast, full

    fast, full = engine.db.transaction(both)
    assert fast is not None and full is not None
    assert tuple(getattr(fast, name) for name in ("id", "number", "state", "data", "created_at", "due_at")) == \
        (full.id, full.number, full.state, full.data, full.created_at, full.due_at)
    assert fast.due_at is not None and fast.due_at.utcoffset() is not None
    assert fast.data["kategori"] == "pkl_tempat_usaha"


def test_a_duplicate_history_event_is_sqlalchemys_integrity_error_and_writes_nothing(engine: Commands) -> None:
    number = engine.submit("admin", COMPLAINT).number

    def twice(connection: Any) -> None:
        case = case_rows.case_by_number(connection, number)
        event_row = case_rows.history(connection, case.id)[0]
        case_rows.insert_event(connection, replace(event_row, comment="sekali lagi"), case)

    with pytest.raises(IntegrityError):
        engine.db.transaction(twice)
    history = engine.db.transaction(lambda c: case_rows.history(c, case_rows.case_by_number(c, number).id))
    assert [(e.seq, e.comment) for e in history] == [(1, None)]


def test_listeners_on_the_engine_see_every_statement_of_a_command(engine: Commands) -> None:
    number = engine.submit("admin", COMPLAINT).number
    statements: list[str] = []
    listener = lambda _c, _cur, sql, *_rest: statements.append(sql.split(None, 1)[0])  # noqa: E731
    event.listen(engine.db.engine, "before_cursor_execute", listener)
    try:
        engine.advance(number, "teruskan", "admin")
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", listener)
    # case, the stay left and log head; event, the stay entered, log leaf, the notice's body (stored
    # once, by digest) and the notice (on PostgreSQL the leaf and the head are one WITH statement)
    if engine.db.is_sqlite:
        assert statements.count("UPDATE") == 3 and statements.count("INSERT") == 5
    else:
        assert (statements.count("UPDATE"), statements.count("INSERT"), statements.count("WITH")) == (2, 4, 1)
    assert statements[0] == ("BEGIN" if engine.db.is_sqlite else "SELECT")


def test_with_prepared_off_the_same_day_runs_with_no_statement_sent_straight_to_the_driver(
        database_url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Database(prepared=False)`` (``TRECKK_PREPARED=no``), on SQLite and PostgreSQL alike."""
    from engine.store import prepared

    straight: list[str] = []
    driver_cursor = prepared._cursor
    monkeypatch.setattr(prepared, "_cursor", lambda connection: straight.append("cursor") or driver_cursor(connection))
    db = Database(database_url, prepared=False)
    upgrade(db)
    clock = FakeClock()
    _scripted_day(db, clock, home)
    assert observed(db.engine.connect()) and straight == []
    states = db.transaction(lambda c: sorted((case.number, case.state, case.version, case.next_step)
                                             for case in case_rows.list_cases(c)))
    db.dispose()
    assert [(state, version, step) for _, state, version, step in states] == [
        ("ditugaskan", 3, None), ("ditelaah", 2, None)]
    on = Database(database_url)  # the switch on again: the hot path is taken, so the check above can fail
    Commands(on, clock, home).advance(states[0][0], "mulai_tangani", "tim_paringin")
    on.dispose()
    assert straight


def _backend_pid(connection: Any) -> int:
    return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate_backend(database_url: str, pid: int) -> None:
    """Terminate, from outside, the server process ``pid``."""
    import psycopg

    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def _kill_pooled_connection(database_url: str, engine: Commands) -> None:
    """Terminate the server process behind the connection the pool hands out next (once it is back)."""
    with engine.db.engine.connect() as connection:
        pid = _backend_pid(connection)
    _terminate_backend(database_url, pid)


def _moves(engine: Commands, number: str) -> list[str]:
    return [e.trigger for e in engine.db.transaction(
        lambda c: case_rows.history(c, case_rows.case_by_number(c, number).id))]


def _kept_cursor(engine: Commands) -> Any:
    with engine.db.engine.connect() as connection:
        return connection.connection.info.get("treckk_cursor")


@pytest.mark.postgres
def test_postgresql_commands_share_one_cursor_per_connection_and_a_new_connection_gets_its_own(
        database_url: str, engine: Commands) -> None:
    if engine.db.is_sqlite:
        assert _kept_cursor(engine) is None  # SQLite cursors are closed after each statement
        return
    engine.db.engine.dispose()  # one pooled connection from here on: the commands take turns on it
    number = engine.submit("admin", COMPLAINT).number
    kept = _kept_cursor(engine)
    assert kept is not None and not kept.closed
    engine.advance(number, "teruskan", "admin")
    assert _kept_cursor(engine) is kept
    _kill_pooled_connection(database_url, engine)
    engine.db.ping_after_idle = 3600
    engine.advance(number, "tugaskan", "kabid", {"instruksi": "Tertibkan PKL."})
    assert engine.db.reconnects == 1
    replaced = _kept_cursor(engine)
    assert replaced is not None and replaced is not kept and replaced.connection is not kept.connection
    assert _moves(engine, number) == ["catat", "teruskan", "tugaskan"]


@pytest.mark.postgres
def test_a_rested_postgresql_connection_is_pinged_and_a_dead_one_replaced(database_url: str, engine: Commands) -> None:
    if engine.db.is_sqlite:
        pytest.skip("SQLite has no server that can drop the connection")
    number = engine.submit("admin", COMPLAINT).number
    _kill_pooled_connection(database_url, engine)
    engine.db.ping_after_idle = 0  # every connection counts as rested: checked at checkout
    assert engine.advance(number, "teruskan", "admin").state == "ditelaah"
    assert engine.db.reconnects == 0  # the ping found it dead; the command never met it
    assert _moves(engine, number) == ["catat", "teruskan"]


@pytest.mark.postgres
def test_a_busy_postgresql_connection_found_dead_runs_the_command_again_once(database_url: str,
                                                                            engine: Commands) -> None:
    if engine.db.is_sqlite:
        pytest.skip("SQLite has no server that can drop the connection")
    number = engine.submit("admin", COMPLAINT).number
    _kill_pooled_connection(database_url, engine)
    engine.db.ping_after_idle = 3600  # used moments ago: not pinged, so the command meets the dead one
    assert engine.advance(number, "teruskan", "admin").state == "ditelaah"
    assert engine.db.reconnects == 1
    assert _moves(engine, number) == ["catat", "teruskan"]  # run again, recorded once


@pytest.mark.postgres
def test_a_postgresql_connection_lost_mid_command_is_unavailable_and_then_recovered(database_url: str,
                                                                                    engine: Commands) -> None:
    if engine.db.is_sqlite:
        pytest.skip("SQLite has no server that can drop the connection")
    number = engine.submit("admin", COMPLAINT).number

    def killed_mid_command(connection: Any) -> None:
        _terminate_backend(database_url, _backend_pid(connection))
        case_rows.case_by_number(connection, number)  # sent straight to the driver: the server is gone

    with pytest.raises(DatabaseUnavailable, match="is not available"):
        engine.db.transaction(killed_mid_command)
    assert engine.db.reconnects == 1  # run again once on a new connection, which died the same way
    assert engine.advance(number, "teruskan", "admin").state == "ditelaah"


@pytest.mark.postgres
def test_a_postgresql_connection_lost_at_commit_is_reported_never_repeated(database_url: str,
                                                                          engine: Commands) -> None:
    if engine.db.is_sqlite:
        pytest.skip("SQLite has no server that can drop the connection")
    runs: list[int] = []

    def dies_before_commit(connection: Any) -> None:
        runs.append(1)
        _terminate_backend(database_url, _backend_pid(connection))

    with pytest.raises(DatabaseUnavailable, match="is not available"):
        engine.db.transaction(dies_before_commit)
    assert runs == [1] and engine.db.reconnects == 0  # whether it committed is unknown: not run again
