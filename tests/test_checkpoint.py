"""SQLite's WAL is copied back into the database file off the command path.

Commands must not pay for checkpoints (a several-millisecond stall every few dozen moves): the
writing connections only checkpoint past a large backstop, and a ``WalCheckpointer`` does the
work on its own connection. No test here waits on a timer: the thread is stopped (which
checkpoints what is pending) or the checkpoint is called directly.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine.app.commands import Commands
from engine.store.checkpoint import BACKSTOP_PAGES, WalCheckpointer
from engine.store.database import Database
from tests.conftest import COMPLAINT, STAFF, FakeClock


def _wal_frames(path: Path) -> int:
    """How many frames the WAL file has held (it is reused from the start, never shrunk)."""
    page_size = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    return (Path(f"{path}-wal").stat().st_size - 32) // (page_size + 24)


def _busy_day(db: Database, home: Path, complaints: int) -> None:
    engine = Commands(db, FakeClock(), home)
    engine.deploy(home / "workflows" / "treckk.yaml", None)
    for username, name, roles, kecamatan, phone, email in STAFF:
        engine.add_staff(username, name, roles, kecamatan, phone, email)
    for _ in range(complaints):
        number = engine.submit("admin", COMPLAINT).number
        engine.advance(number, "teruskan", "admin")


def test_writing_connections_leave_checkpoints_to_the_background(tmp_path: Path, home: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'treckk.db'}")
    db.create_schema()
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == BACKSTOP_PAGES
    db._checkpointer = WalCheckpointer(str(tmp_path / "treckk.db"), interval=3600)  # never wakes on its own
    _busy_day(db, home, complaints=60)
    checkpointer = db._checkpointer
    # Past SQLite's default trigger of 1,000 pages, yet no command checkpointed (which would have
    # restarted the log from its beginning).
    assert _wal_frames(tmp_path / "treckk.db") > 1000
    assert checkpointer.checkpoints == 0
    db.dispose()  # stops the thread, which first checkpoints what is pending
    assert checkpointer.checkpoints == 1
    assert sqlite3.connect(tmp_path / "treckk.db").execute("SELECT count(*) FROM events").fetchone() == (120,)


def test_a_passive_checkpoint_copies_the_log_and_blocks_no_writer(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "treckk.db"
    db = Database(f"sqlite:///{path}")
    db.create_schema()
    db._checkpointer = WalCheckpointer(str(path), interval=3600)
    _busy_day(db, home, complaints=5)
    writer = db.engine.raw_connection()
    writer.cursor().execute("BEGIN IMMEDIATE")  # a command holding the write lock
    checkpointer = db._checkpointer
    reader = sqlite3.connect(path, isolation_level=None)
    checkpointer.checkpoint(reader)  # returns at once instead of waiting for the writer
    writer.rollback()
    writer.close()
    assert checkpointer.checkpoints == 1
    busy, log, copied = reader.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert (busy, copied) == (0, log)
    reader.close()
    db.dispose()


def test_databases_in_memory_have_no_checkpointer() -> None:
    db = Database("sqlite:///:memory:")
    db.create_schema()
    db.transaction(lambda connection: None)
    assert db._checkpointer is None
    db.dispose()


def test_a_database_file_removed_meanwhile_is_not_created_again(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    checkpointer = WalCheckpointer(str(path), interval=3600)
    checkpointer.committed()
    checkpointer.close()  # its last round finds no file: nothing checkpointed, nothing created
    assert checkpointer.checkpoints == 0
    assert not path.exists()
