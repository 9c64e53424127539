"""Transition throughput and latency through the engine service, against the replayed-SQL floor."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench.recorder import Recorder, replay_postgres, replay_sqlite
from bench.seed import add_staff, bulk_cases, copy_sqlite, new_engine

# (trigger, actor, input) moves applied to every case in order; tugaskan has a guard, required
# input and three notices (one of them the HTML Surat Perintah Tugas).
MOVES: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("teruskan", "admin", {}),
    ("tugaskan", "kabid", {"instruksi": "Tertibkan PKL dan buka kembali badan jalan."}),
)


def _engine_run(url: str, numbers: list[str], trigger: str, actor: str, values: dict[str, str],
                latencies: list[float] | None = None) -> float:
    engine = new_engine_no_deploy(url)
    started = time.perf_counter()
    for number in numbers:
        t0 = time.perf_counter()
        engine.advance(number, trigger, actor, values)
        if latencies is not None:
            latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    engine.db.dispose()
    return elapsed


def new_engine_no_deploy(url: str) -> Any:
    """An engine on an already prepared database (deploy is a no-op there)."""
    return new_engine(url)


def _record_moves(url: str, numbers: list[str]) -> dict[str, Any]:
    """Run every move through the engine on ``url`` and capture the SQL it sent, per trigger."""
    engine = new_engine(url)
    recordings = {}
    for trigger, actor, values in MOVES:
        recorder = Recorder(engine.db.engine)
        recorder.start()
        for number in numbers:
            engine.advance(number, trigger, actor, values)
        recordings[trigger] = recorder.stop()
    engine.db.dispose()
    return recordings


def sqlite_throughput(workdir: Path, count: int) -> dict[str, Any]:
    """Engine vs floor on SQLite files prepared identically."""
    seed = workdir / "seed.db"
    engine = new_engine(f"sqlite:///{seed}")
    add_staff(engine)
    numbers = bulk_cases(engine, count)
    engine.db.dispose()
    record, run, floor = workdir / "record.db", workdir / "engine.db", workdir / "floor.db"
    for target in (record, run, floor):
        copy_sqlite(seed, target)

    results: dict[str, Any] = {"cases": count, "moves": {}}
    recordings = _record_moves(f"sqlite:///{record}", numbers)

    latencies: list[float] = []
    for trigger, actor, values in MOVES:
        floor_started = time.perf_counter()
        replay_sqlite(str(floor), recordings[trigger])
        floor_elapsed = time.perf_counter() - floor_started
        engine_elapsed = _engine_run(f"sqlite:///{run}", numbers, trigger, actor, values, latencies)
        results["moves"][trigger] = _row(count, engine_elapsed, floor_elapsed, recordings[trigger])
    results["latency_ms"] = _latency(latencies)
    return results


def postgres_throughput(admin_url: str, count: int) -> dict[str, Any]:
    """Engine vs psycopg floor on three identical PostgreSQL databases (template copies)."""
    import uuid

    import psycopg

    libpq = admin_url.replace("postgresql+psycopg://", "postgresql://", 1)
    base = admin_url.rpartition("/")[0]
    tag = uuid.uuid4().hex[:8]
    names = {kind: f"treckk_bench_{kind}_{tag}" for kind in ("seed", "record", "engine", "floor")}
    with psycopg.connect(libpq, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{names["seed"]}"')
    try:
        seed_engine = new_engine(f"{base}/{names['seed']}")
        add_staff(seed_engine)
        numbers = bulk_cases(seed_engine, count)
        seed_engine.db.dispose()
        with psycopg.connect(libpq, autocommit=True) as admin:
            for kind in ("record", "engine", "floor"):
                admin.execute(f'CREATE DATABASE "{names[kind]}" TEMPLATE "{names["seed"]}"')
        recordings = _record_moves(f"{base}/{names['record']}", numbers)
        results: dict[str, Any] = {"cases": count, "moves": {}}
        latencies: list[float] = []
        for trigger, actor, values in MOVES:
            floor_started = time.perf_counter()
            replay_postgres(f"{base}/{names['floor']}", recordings[trigger])
            floor_elapsed = time.perf_counter() - floor_started
            engine_elapsed = _engine_run(f"{base}/{names['engine']}", numbers, trigger, actor, values, latencies)
            results["moves"][trigger] = _row(count, engine_elapsed, floor_elapsed, recordings[trigger])
        results["latency_ms"] = _latency(latencies)
        return results
    finally:
        with psycopg.connect(libpq, autocommit=True) as admin:
            for name in names.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _row(count: int, engine_elapsed: float, floor_elapsed: float, recording: Any) -> dict[str, Any]:
    return {
        "engine_per_s": count / engine_elapsed,
        "floor_per_s": count / floor_elapsed,
        "ratio": floor_elapsed / engine_elapsed,
        "engine_us_per_move": engine_elapsed / count * 1e6,
        "floor_us_per_move": floor_elapsed / count * 1e6,
        "statements_per_move": recording.statement_count() / max(1, len(recording.transactions)),
    }


def _latency(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median": statistics.median(ordered) * 1000,
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "max": ordered[-1] * 1000,
    }
