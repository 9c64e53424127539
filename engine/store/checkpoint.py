"""SQLite WAL checkpoints off the command path.

In WAL mode SQLite copies the log back into the database file (a checkpoint, with an fsync) in
whichever commit makes the log pass ``wal_autocheckpoint`` pages — by default every thousand
pages, about every 65th move on TRECKK's tables, and that one command then takes several
milliseconds longer. A ``WalCheckpointer`` runs a PASSIVE checkpoint on its own thread and
connection shortly after commits instead, so commands do not wait for it; the connections the
engine writes with keep a much larger ``wal_autocheckpoint`` (``BACKSTOP_PAGES``) only as a
backstop, should this thread fall behind or not run at all.

A PASSIVE checkpoint never blocks writers or readers: it copies what it can and leaves the rest
for the next round. SQLite releases Python's lock while it works, so the copy and the fsync run
beside the commands on another core.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

BACKSTOP_PAGES = 20_000
"""``wal_autocheckpoint`` on writing connections: SQLite checkpoints in a command only past this."""
INTERVAL = 0.2
"""Seconds between checks for new commits to copy into the database file."""


class WalCheckpointer:
    """A daemon thread checkpointing one SQLite database file while commits arrive."""

    def __init__(self, path: str, interval: float = INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self.checkpoints = 0
        """PASSIVE checkpoints run so far (for tests and benchmarks)."""
        self._pending = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"wal-checkpoint {path}", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """Note that a transaction has just committed (cheap: sets a flag)."""
        self._pending.set()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while True:
                stopping = self._stopping.wait(self.interval)
                if self._pending.is_set():  # also once more when stopping, for the last commits
                    self._pending.clear()
                    try:
                        if connection is None:
                            # mode=rw: a database file removed meanwhile is not created again, empty.
                            connection = sqlite3.connect(f"{Path(self.path).resolve().as_uri()}?mode=rw", uri=True,
                                                         isolation_level=None, check_same_thread=False)
                    except sqlite3.Error as exc:
                        log.debug("cannot open %s for checkpoints: %s", self.path, exc)
                    else:
                        self.checkpoint(connection)
                if stopping:
                    break
        finally:
            if connection is not None:
                connection.close()

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        """One PASSIVE checkpoint: copy what the log holds into the database file, blocking nobody."""
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error as exc:  # busy, or the file vanished: the next round or the backstop does it
            log.debug("passive WAL checkpoint of %s skipped: %s", self.path, exc)

    def close(self) -> None:
        """Stop the thread, after checkpointing what was committed since its last round."""
        self._stopping.set()
        self._thread.join()
