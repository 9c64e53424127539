"""The escalation scan at scale: many open cases, a few due; the index must make cost follow the due."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.recorder import Recorder, replay_sqlite
from bench.seed import DATA, START, copy_sqlite, new_engine, staffed_digest

_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores datetimes in SQLite


def seed_open_cases(path: Path, total: int, due_every: int) -> int:
    """``total`` cases waiting in ``ditelaah``; every ``due_every``-th one is overdue at START."""
    digest = staffed_digest(f"sqlite:///{path}")
    connection = sqlite3.connect(path)
    data = json.dumps(DATA)
    created = (START - timedelta(days=2)).strftime(_FORMAT)
    due_count = 0

    def rows() -> Any:
        nonlocal due_count
        for i in range(1, total + 1):
            is_due = i % due_every == 0
            due_count += is_due
            moment = START - timedelta(minutes=1 + i % 600) if is_due else START + timedelta(hours=1 + i % 500)
            stamp = moment.strftime(_FORMAT)
            yield (i, f"TRK-2026-{i:07d}", "treckk", 1, digest, "ditelaah", data, "paringin", 2, created, created,
                   created, 2, stamp, 0, stamp, "0" * 64)

    connection.execute("PRAGMA journal_mode=WAL")
    connection.executemany(
        "INSERT INTO cases (id, number, workflow, definition_version, definition_digest, state, data, scope, "
        "version, created_at, updated_at, state_entered_at, state_entry, due_at, next_step, next_step_at, last_hash) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows())
    connection.commit()
    connection.execute("ANALYZE")
    connection.close()
    return due_count


def _scan_query(recording: Any) -> tuple[str, Any]:
    for transaction in recording.transactions:
        for sql, params, _many in transaction.statements:
            if "next_step_at <=" in sql and sql.lstrip().upper().startswith("SELECT"):
                return sql, params
    raise RuntimeError("the recording holds no scan query")


def scan(workdir: Path, total: int, due_every: int = 100) -> dict[str, Any]:
    from engine.app.escalation import escalate_due

    seed = workdir / "scan-seed.db"
    due = seed_open_cases(seed, total, due_every)
    record, run, floor = workdir / "scan-record.db", workdir / "scan-engine.db", workdir / "scan-floor.db"
    for target in (record, run, floor):
        copy_sqlite(seed, target)

    recorder_engine = new_engine(f"sqlite:///{record}")
    recorder = Recorder(recorder_engine.db.engine)
    recorder.start()
    recorded_fired = escalate_due(recorder_engine, limit=1000)
    recording = recorder.stop()
    recorder_engine.db.dispose()
    sql, params = _scan_query(recording)

    connection = sqlite3.connect(run)
    plan = [row[-1] for row in connection.execute("EXPLAIN QUERY PLAN " + sql, params)]
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        connection.execute(sql, params).fetchall()
        samples.append(time.perf_counter() - started)
    connection.close()

    engine = new_engine(f"sqlite:///{run}")
    started = time.perf_counter()
    fired = escalate_due(engine, limit=1000)
    engine_elapsed = time.perf_counter() - started

    started = time.perf_counter()
    replay_sqlite(str(floor), recording)
    floor_elapsed = time.perf_counter() - started

    # Nothing due any more: the same scan again must cost next to nothing. One scan takes well
    # under a millisecond, so a single sample is mostly noise: report the median of several.
    idle_samples = []
    again: list[Any] = []
    for _ in range(21):
        started = time.perf_counter()
        again += escalate_due(engine, limit=1000)
        idle_samples.append(time.perf_counter() - started)
    engine.db.dispose()
    return {
        "open_cases": total,
        "due_cases": due,
        "escalated": len(fired),
        "recorded_escalated": len(recorded_fired),
        "query_ms": min(samples) * 1000,
        "query_plan": plan,
        "escalate_s": engine_elapsed,
        "floor_s": floor_elapsed,
        "ratio": floor_elapsed / engine_elapsed,
        "idle_scan_ms": sorted(idle_samples)[len(idle_samples) // 2] * 1000,
        "idle_scan_first_ms": idle_samples[0] * 1000,
        "idle_escalated": len(again),
    }
