"""Capturing the exact SQL the engine sends, to replay it by hand with the plain driver.

The floor of a benchmark is the very same statements with the same parameters, executed with
``sqlite3`` or ``psycopg`` directly in the same transaction pattern: whatever the engine costs
beyond that is the engine's own overhead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event


@dataclass
class Transaction:
    """Statements of one transaction, in order: (sql, parameters, executemany)."""

    statements: list[tuple[str, Any, bool]] = field(default_factory=list)


@dataclass
class Recording:
    """Every committed transaction seen while recording."""

    transactions: list[Transaction] = field(default_factory=list)
    current: Transaction = field(default_factory=Transaction)

    def statement_count(self) -> int:
        return sum(len(t.statements) for t in self.transactions)


class Recorder:
    """Listens on a SQLAlchemy engine; ``start()``/``stop()`` bracket what is recorded."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.recording = Recording()
        self.active = False
        event.listen(engine, "before_cursor_execute", self._on_execute)
        event.listen(engine, "commit", self._on_commit)
        event.listen(engine, "rollback", self._on_rollback)

    def _on_execute(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
                    executemany: bool) -> None:
        if self.active:
            params = [tuple(p) if isinstance(p, (list, tuple)) else dict(p) for p in parameters] if executemany \
                else (tuple(parameters) if isinstance(parameters, (list, tuple)) else dict(parameters or {}))
            self.recording.current.statements.append((statement, params, executemany))

    def _on_commit(self, _conn: Any) -> None:
        if self.active:
            self.recording.transactions.append(self.recording.current)
            self.recording.current = Transaction()

    def _on_rollback(self, _conn: Any) -> None:
        if self.active:
            self.recording.current = Transaction()

    def start(self) -> None:
        self.recording = Recording()
        self.active = True

    def stop(self) -> Recording:
        self.active = False
        event.remove(self.engine, "before_cursor_execute", self._on_execute)
        event.remove(self.engine, "commit", self._on_commit)
        event.remove(self.engine, "rollback", self._on_rollback)
        return self.recording


class SqliteReplay:
    """The plain ``sqlite3`` driver with the product's pragmas, BEGIN IMMEDIATE/COMMIT and checkpoints.

    The WAL is checkpointed as the product does it (a background ``WalCheckpointer`` and the
    same backstop), so the floor and the engine pay for the same journal work. Open it before
    timing and ``close()`` it after, as the engine's own start-up is not timed either.
    """

    def __init__(self, path: str) -> None:
        import sqlite3

        from engine.store.checkpoint import BACKSTOP_PAGES, WalCheckpointer

        self.connection = sqlite3.connect(path, isolation_level=None, timeout=30)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000",
                       f"wal_autocheckpoint={BACKSTOP_PAGES}"):
            self.connection.execute(f"PRAGMA {pragma}")
        self.checkpointer = WalCheckpointer(path)
        self.cursor = self.connection.cursor()

    def run(self, transactions: list[Transaction]) -> None:
        for transaction in transactions:
            _execute(self.cursor, transaction)
            self.connection.execute("COMMIT")
            self.checkpointer.committed()

    def close(self) -> None:
        self.checkpointer.close()
        self.connection.close()


class PostgresReplay:
    """``psycopg`` directly: the same statements, one transaction each."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.connection = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1))
        self.cursor = self.connection.cursor()

    def run(self, transactions: list[Transaction]) -> None:
        for transaction in transactions:
            _execute(self.cursor, transaction)
            self.connection.commit()

    def close(self) -> None:
        self.connection.close()


def replay_sqlite(path: str, recording: Recording) -> None:
    """Replay a whole recording on SQLite (see ``SqliteReplay``)."""
    replay = SqliteReplay(path)
    replay.run(recording.transactions)
    replay.close()


def _execute(cursor: Any, transaction: Transaction) -> None:
    """Send one transaction's statements through a plain DB-API cursor."""
    for sql, params, many in transaction.statements:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
