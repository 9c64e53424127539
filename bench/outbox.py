"""Outbox bytes per case: the demo's day played many times, then its outbox in the old and the new layout.

The demo scenario (``workflows/scenarios/treckk-demo.yaml``) is played ``days`` times on one SQLite
database (a day's cases, moves, escalations and deliveries each time, the clock moved a day on).
The notices it queued are then written out twice, each into a database file of its own holding
only the outbox:

- *old*: the ``notices`` table as it was before revision 0004, the rendered body as text in every
  row (the same rows, the bodies read back from the new layout);
- *new*: ``notices`` with the body's digest, ``notice_bodies`` and ``notice_dictionaries`` as the
  engine writes them.

Two measures, per case played:

- *rendered notices* (what the issue measured, 89% of the database): the old layout's body text
  against what the new one stores for it: each distinct body compressed, with its 32-byte
  digest key, the dictionary (one per deployed bundle, counted in full, so a short run is charged
  more than a long one), and the digest every notice row now keeps;
- *whole outbox tables*: the sizes of the two vacuumed files, indexes and the rows' own columns
  (message id, recipient, address, subject, status, times: about 660 bytes a notice, the same in
  both layouts) included. Those columns bound this ratio: even a body of 0 bytes would leave it
  under 3x on the demo's notices.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

_OLD_NOTICES = """CREATE TABLE notices (
    id INTEGER PRIMARY KEY, message_id VARCHAR(64) NOT NULL UNIQUE, case_id INTEGER, event_seq INTEGER,
    source VARCHAR(64) NOT NULL, template VARCHAR(128) NOT NULL, recipient_kind VARCHAR(16) NOT NULL,
    recipient_name VARCHAR(200) NOT NULL, recipient_username VARCHAR(64), recipient_role VARCHAR(64),
    channel VARCHAR(16) NOT NULL, address VARCHAR(254), subject TEXT NOT NULL, body TEXT NOT NULL,
    is_html BOOLEAN NOT NULL, status VARCHAR(16) NOT NULL, attempts INTEGER NOT NULL, next_attempt_at DATETIME,
    last_error TEXT, created_at DATETIME NOT NULL, sent_at DATETIME)"""
_OLD_INDEXES = ("CREATE INDEX ix_notices_status_next_attempt_at ON notices (status, next_attempt_at)",
                "CREATE INDEX ix_notices_case_id ON notices (case_id)")
_COMMON = ("id", "message_id", "case_id", "event_seq", "source", "template", "recipient_kind", "recipient_name",
           "recipient_username", "recipient_role", "channel", "address", "subject", "is_html", "status", "attempts",
           "next_attempt_at", "last_error", "created_at", "sent_at")


def _play_days(url: str, days: int) -> tuple[int, int]:
    """Play the demo day ``days`` times on ``url``; (cases, notices)."""
    from engine.app.commands import Commands
    from engine.app.scenario import SimulatedClock, _play, load_scenario
    from engine.channels.base import ChannelSet
    from engine.channels.file import FileChannel
    from engine.store.database import Database
    from engine.store.migrations import upgrade
    from sqlalchemy import func, select

    from engine.store.schema import cases, notices

    scenario = load_scenario(ROOT / "workflows" / "scenarios" / "treckk-demo.yaml")
    outbox = Path(url.removeprefix("sqlite:///")).parent / "files"
    clock = SimulatedClock(scenario.start)
    database = Database(url)
    upgrade(database)
    engine = Commands(database, clock, ROOT, channels=lambda: ChannelSet({FileChannel.name: FileChannel(outbox)}))
    engine.deploy(scenario.workflow, None)
    for member in scenario.staff:
        engine.add_staff(member.username, member.name, member.roles, member.scope, member.phone, member.email)
    try:
        for day in range(days):
            clock.now = scenario.start + timedelta(days=day)
            aliases: dict[str, str] = {}
            for step in scenario.steps:
                _play(engine, clock, step, aliases)
        with database.begin() as connection:
            counted = (connection.execute(select(func.count()).select_from(cases)).scalar_one(),
                       connection.execute(select(func.count()).select_from(notices)).scalar_one())
    finally:
        database.dispose()
    return int(counted[0]), int(counted[1])


def _size(path: Path) -> int:
    connection = sqlite3.connect(path)
    connection.execute("VACUUM")
    connection.close()
    return path.stat().st_size


def _layouts(source: Path, work: Path) -> tuple[int, int, dict[str, Any]]:
    """(old bytes, new bytes, details) of the outbox of the engine database ``source``."""
    from sqlalchemy import create_engine

    from engine.store import notice_rows

    new, old = work / "outbox-new.db", work / "outbox-old.db"
    for path in (new, old):
        path.unlink(missing_ok=True)
    connection = sqlite3.connect(source)
    connection.execute(f"VACUUM INTO '{new}'")
    connection.close()
    keep = {"notices", "notice_bodies", "notice_dictionaries"}
    connection = sqlite3.connect(new)
    connection.execute("PRAGMA foreign_keys = OFF")
    for (table,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        if table not in keep and not table.startswith("sqlite_"):
            connection.execute(f'DROP TABLE "{table}"')
    connection.commit()
    connection.close()

    engine = create_engine(f"sqlite:///{source}")
    with engine.connect() as sa_connection:
        rows = notice_rows.list_notices(sa_connection)
        raw = {name: list(sa_connection.exec_driver_sql(f"SELECT {', '.join(_COMMON)} FROM notices ORDER BY id"))
               for name in ("rows",)}["rows"]
    engine.dispose()
    bodies = {row.id: row.body or "" for row in rows}
    target = sqlite3.connect(old)
    target.execute(_OLD_NOTICES)
    for statement in _OLD_INDEXES:
        target.execute(statement)
    columns = (*_COMMON, "body")
    target.executemany(f"INSERT INTO notices ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                       [(*values, bodies[values[0]]) for values in raw])
    target.commit()
    target.close()
    details = {"notices": len(rows), "distinct_bodies": len(set(bodies.values())),
               "body_text_bytes": sum(len(body.encode("utf-8")) for body in bodies.values())}
    connection = sqlite3.connect(new)
    details["stored_body_bytes"] = connection.execute("SELECT COALESCE(SUM(LENGTH(content)), 0) FROM notice_bodies"
                                                      ).fetchone()[0]
    details["dictionary_bytes"] = connection.execute("SELECT COALESCE(SUM(LENGTH(content)), 0) "
                                                     "FROM notice_dictionaries").fetchone()[0]
    details["stored_bodies"] = connection.execute("SELECT COUNT(*) FROM notice_bodies").fetchone()[0]
    connection.close()
    return _size(old), _size(new), details


def outbox(work: Path, days: int = 50) -> dict[str, Any]:
    """Play the demo day ``days`` times; the outbox bytes per case in the old and the new layout."""
    folder = work / "outbox-bench"
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "treckk.db"
    case_count, notice_count = _play_days(f"sqlite:///{source}", days)
    old_bytes, new_bytes, details = _layouts(source, folder)
    digest = 32  # bytes of a SHA-256, as stored
    old_bodies = details["body_text_bytes"]
    new_bodies = (details["stored_body_bytes"] + digest * details["stored_bodies"] + details["dictionary_bytes"]
                  + digest * details["notices"])
    return {
        "days": days, "cases": case_count, "notices": notice_count,
        "bodies_old_bytes_per_case": old_bodies / case_count, "bodies_new_bytes_per_case": new_bodies / case_count,
        "bodies_ratio": old_bodies / new_bodies,
        "tables_old_bytes_per_case": old_bytes / case_count, "tables_new_bytes_per_case": new_bytes / case_count,
        "tables_ratio": old_bytes / new_bytes, **details,
    }


def table(result: dict[str, Any]) -> list[str]:
    return [f"outbox: demo day x{result['days']} ({result['cases']} cases, {result['notices']} notices, "
            f"{result['distinct_bodies']} distinct bodies)",
            f"  rendered notices: {result['bodies_old_bytes_per_case'] / 1024:.2f} KiB per case as text in every row, "
            f"{result['bodies_new_bytes_per_case'] / 1024:.2f} KiB stored once, zlib + template dictionary, digests "
            f"included -> {result['bodies_ratio']:.1f}x smaller (target 4x)",
            f"  whole outbox tables (vacuumed files): {result['tables_old_bytes_per_case'] / 1024:.2f} -> "
            f"{result['tables_new_bytes_per_case'] / 1024:.2f} KiB per case -> {result['tables_ratio']:.1f}x "
            "(bounded by the rows' own columns, unchanged)"]
