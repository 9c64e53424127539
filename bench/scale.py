"""``python -m bench.scale --postgres URL --cases N``: what one PostgreSQL serves at N cases.

Seeds a fresh database on the server (``URL`` is an admin URL; a database ``treckk_scale_<N>`` is
created, or reused with ``--reuse`` when it already holds the cases) in bulk through
``bench.bulk.seed`` (COPY from parallel processes; see there): every case like one submitted and
moved by the engine, with a valid hash chain *and* its leaves in the transparency log
(log_leaves / log_chunks / log_head in step), so ``verify`` would find nothing. 97% of the cases
are closed (catat, teruskan, tolak: ``ditolak``, spread over ten years), 1% wait in ``ditelaah``
(kabid's inbox), 2% in ``diterima`` (the moves' pool). ``--seed-only`` seeds and stops; a later
``--reuse`` run measures.

Measured in-process, p50/p99: the inbox of kabid and of the scoped team (``Queries.inbox_page``),
the case page (show + history + notices), a move (``Commands.advance``), an escalation scan
(``Commands.escalate`` with a limit, at a moment when nothing is due, and the read of one batch of
due cases when all open ones are), the digest and the recap (``engine.app.reports.build_report``
and ``report_rows.digest`` alone, each in a report transaction, ``Database.read(reports=True)``,
as ``engine.app.reports`` reads them) and the dashboard's default view (``Dashboard.view``); then
moves/s with 1, 4 and 16 concurrent connections (threads, each its own ``Database`` and ``Commands``).

Then ``EXPLAIN (ANALYZE, BUFFERS)`` of every SELECT of the inbox and the case page, to
``bench/scale_explain_<N><label>.txt``, and (unless ``--skip-reports``) of the digest, the recap
and the dashboard, with the report transactions' ``work_mem``, to
``bench/scale_explain_<N><label>-reports.txt``. Merges the results under the ``scale`` key of
``bench/results.json`` (one entry per ``<N><label>``) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench import bulk
from bench.log import Clock, engine_on
from bench.reads import timed
from engine.app.commands import Commands
from engine.app.dashboard import Dashboard
from engine.app.queries import Queries
from engine.app.reports import build_report
from engine.store import escalation_rows, report_rows
from engine.store.database import REPORT_WORK_MEM, Database
from engine.store.schema import cases, events, log_leaves

RESULTS = Path(__file__).resolve().parent / "results.json"
ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = (1, 4, 16)


def _database(admin_url: str, name: str, reuse: bool) -> tuple[str, bool]:
    """The URL of database ``name`` on the server, created unless ``reuse`` and it exists; (url, existed)."""
    import psycopg

    libpq = admin_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        if exists and not reuse:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if not (exists and reuse):
            admin.execute(f'CREATE DATABASE "{name}"')
    return f"{admin_url.rsplit('/', 1)[0]}/{name}", exists and reuse


def _pool(engine: Commands) -> list[str]:
    """Numbers of the cases waiting in ``diterima``, oldest first (the moves' pool)."""
    return engine.db.read(lambda c: [str(n) for n in c.execute(
        select(cases.c.number).where(cases.c.state == "diterima").order_by(cases.c.id)).scalars()])


def concurrent_moves(url: str, numbers: list[str], connections: int) -> dict[str, Any]:
    """Moves/s with ``connections`` threads, each with its own Database, advancing its share of ``numbers``."""
    shares = [numbers[i::connections] for i in range(connections)]
    engines = [Commands(Database(url), Clock(), ROOT) for _ in range(connections)]
    for engine in engines:  # compile the definition and open a connection before the clock starts
        engine.db.transaction(lambda c, e=engine: e.compiled(c, "treckk"))
    failed: list[BaseException] = []

    def work(engine: Commands, mine: list[str]) -> None:
        try:
            for number in mine:
                engine.advance(number, "teruskan", "admin")
        except BaseException as error:  # noqa: BLE001 - reported below
            failed.append(error)

    threads = [threading.Thread(target=work, args=pair) for pair in zip(engines, shares)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - started
    for engine in engines:
        engine.db.dispose()
    if failed:
        raise failed[0]
    return {"connections": connections, "moves": len(numbers), "seconds": round(took, 2),
            "moves_per_s": round(len(numbers) / took)}


def report_views(engine: Commands) -> dict[str, Callable[[], Any]]:
    """The digest, the digest with the recap, and the dashboard's default view, as the app reads them."""
    definition = Queries(engine).definition("treckk")
    opened = [s.name for s in definition.states.values() if not s.final]
    fire = Clock().now + timedelta(days=1)
    board = Dashboard(engine)
    return {
        "digest (report_rows.digest)": lambda: engine.db.read(
            lambda c: report_rows.digest(c, "treckk", opened, fire, 20), reports=True),
        "digest + recap (build_report)": lambda: engine.db.read(
            lambda c: build_report(c, definition, fire, fire), reports=True),
        "dashboard, default 30 days (view)": lambda: board.view("kabid"),
    }


def measure(url: str, repeat: int, moves_per_level: int, reports: bool = True) -> dict[str, Any]:
    engine = Commands(Database(url), Clock(), ROOT)
    views = Queries(engine)
    pool = _pool(engine)
    needed = repeat + 2 + moves_per_level * len(CONNECTIONS)
    if len(pool) < needed:
        raise SystemExit(f"the pool holds {len(pool)} cases in diterima; {needed} are needed")
    page_case = pool[-1]
    results: dict[str, Any] = {}

    def report(label: str, run: Any, times: int = repeat) -> None:
        results[label] = {k: round(v, 2) if isinstance(v, float) else v for k, v in timed(run, times).items()}
        print(f"{label:<34} p50 {results[label]['p50']:>9.2f} ms  p99 {results[label]['p99']:>9.2f} ms", flush=True)

    report("inbox kabid (50)", lambda: views.inbox_page("kabid"))
    report("inbox tim, scoped (50)", lambda: views.inbox_page("tim"))
    report("case page (show+history+notices)", lambda: (views.show(page_case, "kabid"), views.history(page_case, "kabid"),
                                                        views.notices(case=page_case, viewer_name="kabid")))
    moving = iter(pool[:repeat + 2])
    report("move (advance)", lambda: engine.advance(next(moving), "teruskan", "admin"))
    # Nothing is due at the seeding moment; every open case is due a year later.
    report("escalation scan, none due", lambda: engine.escalate(limit=100, now=Clock().now))
    later = Clock().now + timedelta(days=365)
    report("due cases, one batch (100)", lambda: engine.db.read(lambda c: escalation_rows.due_cases(c, later, 100)))
    if reports:
        for label, run in report_views(engine).items():
            report(label, run, max(5, repeat // 10))
    engine.db.dispose()
    rest = pool[repeat + 2:]
    throughput = []
    for index, connections in enumerate(CONNECTIONS):
        share = rest[index * moves_per_level:(index + 1) * moves_per_level]
        throughput.append(concurrent_moves(url, share, connections))
        print(f"moves/s with {connections:>2} connections: {throughput[-1]['moves_per_s']}", flush=True)
    results["moves_per_s"] = throughput
    results["page_case"] = page_case
    return results


def explain(url: str, views: Callable[[Queries], dict[str, Callable[[], Any]]], work_mem: str | None = None) -> str:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of every SELECT (and WITH … SELECT) each of ``views(queries)`` sends (recorded from
    the engine, then run on the plain driver with the same parameters, and ``work_mem`` when given), as text."""
    import psycopg

    from bench.recorder import Recorder

    engine = Commands(Database(url, prepared=False), Clock(), ROOT)
    queries = Queries(engine)
    out: list[str] = []
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as pg:
        if work_mem is not None:
            pg.execute(f"SET work_mem = '{work_mem}'")
            pg.commit()
        for label, view in views(queries).items():
            view()  # warm: compile the definition and cache what the engine caches
            recorder = Recorder(engine.db.engine)
            recorder.start()
            view()
            recording = recorder.stop()
            statements = [(sql, params) for t in [*recording.transactions, recording.current]
                          for sql, params, _many in t.statements if sql.lstrip().upper().startswith(("SELECT", "WITH"))]
            out.append(f"=== {label}: {len(statements)} SELECT statements")
            for sql, params in statements:
                plan = pg.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
                out += ["", "-- " + " ".join(sql.split()), *(str(row[0]) for row in plan)]
            pg.rollback()
            out.append("")
    engine.db.dispose()
    return "\n".join(out)


SETTINGS = ("server_version", "shared_buffers", "work_mem", "maintenance_work_mem", "effective_cache_size",
            "max_wal_size", "checkpoint_timeout", "synchronous_commit", "fsync", "wal_sync_method",
            "max_parallel_maintenance_workers", "max_connections")


def settings(url: str) -> dict[str, str]:
    """The server's settings that bear on the numbers (as the measured sessions see them)."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as pg:
        return {name: str(pg.execute(f"SHOW {name}").fetchone()[0]) for name in SETTINGS}  # type: ignore[index]


def counts(url: str) -> dict[str, int]:
    database = Database(url)
    found = database.read(lambda c: {
        "cases": int(c.execute(select(func.count()).select_from(cases)).scalar_one()),
        "events": int(c.execute(select(func.count()).select_from(events)).scalar_one()),
        "log_leaves": int(c.execute(select(func.count()).select_from(log_leaves)).scalar_one()),
        "database_bytes": int(c.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one())})
    database.dispose()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", required=True, help="admin URL of a PostgreSQL server")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=100, help="runs per timed view")
    parser.add_argument("--moves", type=int, default=300, help="moves per concurrency level")
    parser.add_argument("--reuse", action="store_true", help="reuse a database seeded by an earlier run")
    parser.add_argument("--workers", type=int, default=2, help="processes generating and writing the seed")
    parser.add_argument("--batch", type=int, default=10_000, help="cases per seed transaction")
    parser.add_argument("--seed-minutes", type=float, default=None,
                        help="stop seeding (whole batches) after this long and measure at the size reached")
    parser.add_argument("--seed-only", action="store_true", help="seed (or count) and stop, measuring nothing")
    parser.add_argument("--skip-reports", action="store_true", help="measure neither the digest, the recap nor the dashboard")
    parser.add_argument("--label", default="", help="appended to the run's key in results.json (e.g. a code change)")
    args = parser.parse_args(argv)
    url, existed = _database(args.postgres, f"treckk_scale_{args.cases}", args.reuse)
    found: dict[str, Any] = {"when": datetime.now(timezone.utc).isoformat(), "cores": os.cpu_count(),
                             "cases_requested": args.cases}
    if not existed:
        engine = engine_on(url)
        started = time.perf_counter()
        deadline = time.time() + args.seed_minutes * 60 if args.seed_minutes else None
        found["seed"] = bulk.seed(engine, url, args.cases, workers=args.workers, batch=args.batch,
                                  deadline=deadline)
        found["seed"]["seconds"] = round(time.perf_counter() - started, 1)
        engine.db.dispose()
    found["size"] = counts(url)
    if found.get("seed"):
        found["seed"]["cases_per_s"] = round(found["size"]["cases"] / found["seed"]["seconds"])
    found["server"] = settings(url)
    print(f"database: {found['size']}", flush=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    # One entry per size run (the 1,000,000-case run of an earlier session kept beside the others).
    runs = results.get("scale", {})
    if "cases_requested" in runs:
        runs = {str(runs["cases_requested"]): runs}
    if existed and "seed" in runs.get(str(args.cases), {}):
        found["seed"] = runs[str(args.cases)]["seed"]  # seeded by an earlier --seed-only run
    if not args.seed_only:
        found["measured"] = measure(url, args.repeat, args.moves, not args.skip_reports)
        page_case = found["measured"].pop("page_case")
        plans = explain(url, lambda q: {"inbox kabid (first 50)": lambda: q.inbox_page("kabid"),
                                        "inbox tim, scoped (first 50)": lambda: q.inbox_page("tim"),
                                        "case page (show + history + notices)": lambda: (
                                            q.show(page_case, "kabid"), q.history(page_case, "kabid"),
                                            q.notices(case=page_case, viewer_name="kabid"))})
        explained = Path(__file__).resolve().parent / f"scale_explain_{args.cases}{args.label}.txt"
        explained.write_text(f"# python -m bench.scale --cases {args.cases}: {found['size']}\n\n{plans}\n")
        found["explain"] = str(explained.relative_to(ROOT))
        if not args.skip_reports:
            plans = explain(url, lambda q: report_views(q.engine), REPORT_WORK_MEM)
            explained = explained.with_name(f"scale_explain_{args.cases}{args.label}-reports.txt")
            explained.write_text(f"# python -m bench.scale --cases {args.cases} (work_mem {REPORT_WORK_MEM}): "
                                 f"{found['size']}\n\n{plans}\n")
            found["explain_reports"] = str(explained.relative_to(ROOT))
    runs[f"{args.cases}{args.label}"] = found
    results["scale"] = runs
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(found, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
