"""``python -m bench.log [--events N] [--postgres URL]``: what the transparency log costs, and verify's speed.

Measured in one run, on this machine:

- a move (``advance``) with the log and without it (``log_rows.append`` replaced by a no-op, i.e. the
  engine as it was before the log), in-process, p50/p99 over the same number of moves, on a small
  database and on the big one (the log's head row does not grow, so neither should the cost);
- on PostgreSQL (when a URL is given), moves/s with 1 and 4 concurrent writers, with and without
  the log: the head-row lock serialises writers from their append to their commit;
- ``verify`` on a database of N events (cases of three events each, seeded in bulk with valid
  chains and leaves): a full run in one process and in parallel processes (one per core), and an
  incremental run from a checkpoint after 1,000 more moves; events per second each.

Writes ``bench/log_results.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from bench.seed import DATA, ROOT, START, STAFF, scratch_postgres
from engine.app.commands import Commands
from engine.core.integrity import sealed
from engine.core.log_entries import LogEntry, event_entry
from engine.core.records import EventRecord
from engine.store import log_rows
from engine.store.database import Database
from engine.store.migrations import upgrade
from engine.store.schema import case_numbers, cases, events

RESULTS = Path(__file__).resolve().parent / "log_results.json"
MOVES = (("teruskan", "admin", {}), ("tolak", "kabid", {"alasan": "bukan kewenangan Satpol PP"}))


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now


def engine_on(url: str) -> Commands:
    database = Database(url)
    upgrade(database)
    engine = Commands(database, Clock(), ROOT)
    engine.deploy(ROOT / "workflows" / "treckk.yaml", None)
    for username, name, roles, kecamatan, phone, email in STAFF:
        if engine.db.transaction(lambda c, u=username: __import__("engine.store.staff_rows", fromlist=["x"])
                                 .by_username(c, u)) is None:
            engine.add_staff(username, name, roles, kecamatan, phone, email)
    return engine


@contextmanager
def without_log() -> Iterator[None]:
    """The engine as it was before the log: no leaf appended (everything else unchanged)."""
    original = log_rows.append
    log_rows.append = lambda connection, entries: 0  # type: ignore[assignment]
    try:
        yield
    finally:
        log_rows.append = original  # type: ignore[assignment]


def _timed_moves(engine: Commands, count: int) -> list[float]:
    numbers = [engine.submit("admin", DATA).number for _ in range(count)]
    took = []
    for number in numbers:
        started = time.perf_counter()
        engine.advance(number, "teruskan", "admin")
        took.append(time.perf_counter() - started)
    return took


def _summary(took: list[float]) -> dict[str, float]:
    ordered = sorted(took)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 3),
            "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 3)}


def move_cost(engine: Commands, count: int) -> dict[str, Any]:
    """Moves with and without the log, interleaved in rounds so both see the same database and machine."""
    with_log: list[float] = []
    plain: list[float] = []
    rounds = 5
    for _ in range(rounds):
        with_log += _timed_moves(engine, count // rounds)
        with without_log():
            plain += _timed_moves(engine, count // rounds)
    a, b = _summary(with_log), _summary(plain)
    return {"with_log": a, "without_log": b, "added_p50_ms": round(a["p50_ms"] - b["p50_ms"], 3),
            "added_p50_pct": round((a["p50_ms"] / b["p50_ms"] - 1) * 100, 1)}


def template(engine: Commands, moves: tuple[tuple[str, str, dict[str, Any]], ...] = MOVES
             ) -> tuple[dict[str, Any], list[EventRecord]]:
    """A case submitted and moved by ``moves`` through the engine: its row and its history (what clones copy)."""
    from engine.store.case_rows import history

    number = engine.submit("admin", DATA).number
    for trigger, actor, values in moves:
        engine.advance(number, trigger, actor, values)
    with engine.db.begin() as c:
        row = c.execute(select(cases).where(cases.c.number == number)).one()._asdict()
        return row, history(c, int(row["id"]))


def clone(row: dict[str, Any], history: list[EventRecord], case_id: int, number: str,
          earlier: timedelta = timedelta(0)) -> tuple[list[EventRecord], list[LogEntry]]:
    """The template's ``history`` as case ``case_id`` (``number``) would have it, ``earlier`` than the
    template's: every event re-sealed (a valid chain) and each one's log entry."""
    previous = ""
    chain, entries = [], []
    for event in history:
        s = sealed(number, replace(event, case_id=case_id, prev_hash=previous, at=event.at - earlier))
        previous = s.hash
        chain.append(s)
        entries.append(event_entry(case_id, number, s.seq, s.hash, row["workflow"], row["definition_version"],
                                   row["definition_digest"]))
    return chain, entries


def seed(engine: Commands, case_count: int, batch: int = 5_000,
         moves: tuple[tuple[str, str, dict[str, Any]], ...] = MOVES) -> None:
    """``case_count`` cases like one submitted and moved by ``moves`` (by default three events: catat,
    teruskan, tolak), with valid chains and leaves."""
    row, evs = template(engine, moves)
    with engine.db.begin() as c:
        first_id = int(c.execute(select(cases.c.id).order_by(cases.c.id.desc())).scalars().first() or 0) + 1
        first_number = int(c.execute(select(case_numbers.c.last)).scalar_one()) + 1
    for offset in range(0, case_count, batch):
        case_rows_: list[dict[str, Any]] = []
        event_rows: list[dict[str, Any]] = []
        entries: list[LogEntry] = []
        for i in range(offset, min(offset + batch, case_count)):
            cid, number = first_id + i, f"TRK-2026-{first_number + i:06d}"
            chain, leaves = clone(row, evs, cid, number)
            event_rows += [{"case_id": cid, "seq": s.seq, "trigger": s.trigger, "from_state": s.from_state,
                            "to_state": s.to_state, "actor": s.actor, "role": s.role, "at": s.at,
                            "input": s.input, "comment": s.comment, "idempotency_key": None,
                            "prev_hash": s.prev_hash, "hash": s.hash} for s in chain]
            entries += leaves
            case_rows_.append({**row, "id": cid, "number": number, "last_hash": chain[-1].hash})
        with engine.db.begin() as c:
            c.execute(insert(cases), case_rows_)
            c.execute(insert(events), event_rows)
            log_rows.append(c, entries)
            c.execute(update(case_numbers).values(last=first_number + min(offset + batch, case_count) - 1))


def timed_verify(url: str, **options: Any) -> dict[str, Any]:
    from engine.app.verification import Anchors, verify

    started = time.perf_counter()
    report = verify(url, anchors=options.pop("anchors", Anchors(None)), **options)
    took = time.perf_counter() - started
    checked = report.events
    return {"seconds": round(took, 2), "events": checked, "cases": report.cases, "tree_size": report.tree_size,
            "events_per_s": round(checked / took) if took else None, "findings": len(report.findings),
            "mode": report.mode}


def postgres_writers(admin_url: str, per_writer: int) -> dict[str, Any]:
    """Moves/s with 1 and 4 concurrent writers on PostgreSQL, with and without the log."""
    found: dict[str, Any] = {}
    with scratch_postgres(admin_url, "treckk_bench") as url:
        engine = engine_on(url)
        for writers in (1, 4):
            for label, context in (("with_log", None), ("without_log", without_log)):
                numbers = [[engine.submit("admin", DATA).number for _ in range(per_writer)] for _ in range(writers)]

                def work(mine: list[str]) -> None:
                    for number in mine:
                        engine.advance(number, "teruskan", "admin")

                threads = [threading.Thread(target=work, args=(mine,)) for mine in numbers]
                with (context() if context else _nothing()):
                    started = time.perf_counter()
                    for thread in threads:
                        thread.start()
                    for thread in threads:
                        thread.join()
                    took = time.perf_counter() - started
                found[f"{writers}_writers_{label}_moves_per_s"] = round(writers * per_writer / took)
        engine.db.dispose()
    return found


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.log", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the verify database")
    parser.add_argument("--moves", type=int, default=2_000, help="moves timed for the cost of the log")
    parser.add_argument("--postgres", default=None, help="admin URL of a PostgreSQL server for the writers test")
    parser.add_argument("--keep", type=Path, help="keep the seeded SQLite file here")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"when": datetime.now(timezone.utc).isoformat(), "cores": os.cpu_count(),
                               "events": args.events}
    with tempfile.TemporaryDirectory(prefix="treckk-bench-log-") as tmp:
        small = engine_on(f"sqlite:///{Path(tmp) / 'small.db'}")
        results["move_small_db"] = move_cost(small, args.moves)
        small.db.dispose()
        print("move cost (small db):", results["move_small_db"], flush=True)
        path = args.keep or Path(tmp) / "big.db"
        url = f"sqlite:///{path}"
        big = engine_on(url)
        started = time.perf_counter()
        seed(big, args.events // 3)
        results["seed_seconds"] = round(time.perf_counter() - started, 1)
        print(f"seeded {args.events} events in {results['seed_seconds']} s", flush=True)
        results["verify_full_1_process"] = timed_verify(url, jobs=1)
        print("verify full, 1 process:", results["verify_full_1_process"], flush=True)
        results["verify_full_parallel"] = timed_verify(url, jobs=os.cpu_count() or 1)
        print("verify full, parallel:", results["verify_full_parallel"], flush=True)
        # Incremental: a checkpoint, then 1,000 more moves; verify from that checkpoint.
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from engine.app.transparency import write_checkpoint
        from engine.app.verification import Anchors

        key = Ed25519PrivateKey.generate()
        write_checkpoint(big, key, Path(tmp) / "checkpoints")
        for _ in range(500):
            number = big.submit("admin", DATA).number
            big.advance(number, "teruskan", "admin")
        results["verify_incremental"] = timed_verify(url, anchors=Anchors(key.public_key()), incremental=True)
        print("verify incremental:", results["verify_incremental"], flush=True)
        # Last: the moves made without the log leave events verify rightly reports.
        results["move_big_db"] = move_cost(big, args.moves)
        print("move cost (big db):", results["move_big_db"], flush=True)
        big.db.dispose()
    if args.postgres:
        results["postgresql"] = postgres_writers(args.postgres, 300)
        print("postgresql:", results["postgresql"], flush=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
