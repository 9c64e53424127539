"""``python -m bench [--quick]``: run every benchmark, print a table, write bench/results.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results.json"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sqlalchemy
    import sqlite3

    return {"python": platform.python_version(), "cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "sqlite": sqlite3.sqlite_version, "sqlalchemy": sqlalchemy.__version__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes; finishes in under a minute")
    parser.add_argument("--postgres", default=os.environ.get("TRECKK_BENCH_POSTGRES_URL")
                        or os.environ.get("TRECKK_TEST_POSTGRES_URL"), help="admin URL of a PostgreSQL server")
    parser.add_argument("--only", action="append",
                        choices=("throughput", "postgres", "scan", "memory", "startup", "peer", "reads", "outbox", "dashboard",
                                 "migration", "reports"),
                        help="reports: only the digest and the recap (and moves during them) at the largest reads size")
    args = parser.parse_args(argv)
    sizes: dict[str, Any] = {"moves": 500, "pg_moves": 200, "scan": 100_000, "memory": 10_000, "peer": 200,
                             "reads": [1_000, 10_000], "dashboard": 5_000, "migration": 5_000} if args.quick else \
        {"moves": 5_000, "pg_moves": 1_000, "scan": 1_000_000, "memory": 100_000, "peer": 2_000,
         "reads": [1_000, 100_000, 1_000_000], "dashboard": 50_000, "migration": 50_000}
    wanted = set(args.only or ("throughput", "postgres", "scan", "memory", "startup", "peer", "reads", "outbox",
                               "dashboard", "migration"))
    results: dict[str, Any] = {}
    if args.only and RESULTS.exists():
        # A partial run updates its own sections and keeps the others' last results.
        results = json.loads(RESULTS.read_text())
    results.update({"when": datetime.now(timezone.utc).isoformat(), "quick": args.quick, "machine": machine(),
                    "sizes": sizes})
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="treckk-bench-") as tmp:
        work = Path(tmp)
        if "throughput" in wanted:
            from bench.throughput import sqlite_throughput

            results["sqlite"] = sqlite_throughput(work, sizes["moves"])
        if "postgres" in wanted and args.postgres:
            from bench.throughput import postgres_throughput

            try:
                results["postgresql"] = postgres_throughput(args.postgres, sizes["pg_moves"])
            except Exception as exc:  # noqa: BLE001 - an absent server is reported, not fatal
                results["postgresql"] = {"skipped": f"{type(exc).__name__}: {exc}"}
        if "scan" in wanted:
            from bench.scan import scan

            results["scan"] = scan(work, sizes["scan"])
        if "memory" in wanted:
            from bench.memory import memory

            results["memory"] = memory(work, sizes["memory"])
        if "peer" in wanted:
            from bench.peer.spiff import spiff

            results["peer"] = spiff(sizes["peer"])
        if "reads" in wanted:
            from bench.reads import reads

            results["reads"] = reads(work, sizes["reads"])
        if "startup" in wanted:
            from bench.startup import startup

            results["startup"] = startup(5)
        if "outbox" in wanted:
            from bench.outbox import outbox

            results["outbox"] = outbox(work, 10 if args.quick else 50)
        if "reports" in wanted and "reads" not in wanted:
            from bench.reads import reports_only

            size = sizes["reads"][-1]
            found = reports_only(work, size)
            at = results.setdefault("reads", {}).setdefault("at", {}).setdefault(str(size), {})
            at.update({"reports": found["reports"], "move_during_reports": found["move_during_reports"],
                       "reports_run": {k: found[k] for k in ("cases", "seed_s", "rollup_s")}})
        if "dashboard" in wanted:
            from bench.dashboard import dashboard

            results["dashboard"] = dashboard(work, sizes["dashboard"], args.postgres)
        if "migration" in wanted:
            from bench.migration import migration

            results["migration"] = migration(work, sizes["migration"], args.postgres)
    results["total_s"] = time.perf_counter() - started
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten: {RESULTS}")
    return 0


def table(results: dict[str, Any]) -> str:
    lines = [f"TRECKK benchmarks ({'quick' if results['quick'] else 'full'}) on {results['machine']['cpu']}, "
             f"{results['machine']['cores']} cores, Python {results['machine']['python']}"]
    row = "{:<44} {:>14} {:>14} {:>8}"
    for backend in ("sqlite", "postgresql"):
        data = results.get(backend)
        if not data:
            continue
        if "skipped" in data:
            lines.append(f"{backend}: skipped ({data['skipped']})")
            continue
        lines.append("")
        lines.append(row.format(f"{backend}: transitions ({data['cases']} cases)", "engine/s", "floor/s", "ratio"))
        for trigger, m in data["moves"].items():
            lines.append(row.format(f"  advance {trigger} ({m['statements_per_move']:.0f} stmts, "
                                    f"{m['engine_us_per_move']:.0f} µs)", f"{m['engine_per_s']:.0f}",
                                    f"{m['floor_per_s']:.0f}", f"{m['ratio']:.2f}"))
        lat = data["latency_ms"]
        lines.append(f"  advance latency: median {lat['median']:.2f} ms, p99 {lat['p99']:.2f} ms, max {lat['max']:.1f} ms")
    scan = results.get("scan")
    if scan:
        lines += ["", f"escalation scan: {scan['open_cases']:,} open cases, {scan['due_cases']:,} due",
                  f"  query alone: {scan['query_ms']:.1f} ms   plan: {' | '.join(scan['query_plan'])}",
                  f"  escalate all due: {scan['escalate_s']:.2f} s (floor {scan['floor_s']:.2f} s, ratio "
                  f"{scan['ratio']:.2f}); escalated {scan['escalated']:,}",
                  f"  scan with none due: {scan['idle_scan_ms']:.2f} ms (median of 21; the first {scan['idle_scan_first_ms']:.2f} ms)"]
    mem = results.get("memory")
    if mem:
        lines += ["", f"memory: {mem['transitions']:,} transitions over as many cases: RSS {mem['rss_before_mb']:.1f} → "
                      f"{mem['rss_after_mb']:.1f} MiB (growth {mem['growth_mb']:+.1f} MiB)"]
    peer = results.get("peer")
    if peer:
        if "skipped" in peer:
            lines += ["", f"peer: skipped ({peer['skipped']})"]
        else:
            ours = results.get("sqlite", {}).get("moves", {})
            mine = " / ".join(f"{t} {m['engine_us_per_move']:.0f} µs" for t, m in ours.items())
            lines += ["", f"peer: SpiffWorkflow {peer['version']}: {peer['us_per_task']:.0f} µs per user task + "
                          f"{peer['us_per_serialisation']:.0f} µs per serialisation = {peer['us_per_saved_task']:.0f} µs "
                          f"per saved task, in memory",
                      f"      TRECKK per move, SQLite commit included: {mine or '(not measured)'}"]
    start = results.get("startup")
    if start:
        from bench import startup

        lines += ["", *startup.table(start)]
    box = results.get("outbox")
    if box:
        from bench import outbox

        lines += ["", *outbox.table(box)]
    if results.get("reads"):
        from bench.reads import table as reads_table

        lines += reads_table(results["reads"])
    if results.get("dashboard"):
        from bench.dashboard import table as dashboard_table

        lines += dashboard_table(results["dashboard"])
    if results.get("migration"):
        from bench.migration import table as migration_table

        lines += migration_table(results["migration"])
    lines.append(f"\ntotal {results['total_s']:.0f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
