"""Migrating a kabupaten's backlog: 50,000 running cases moved to a new definition version in batches.

The database is seeded in bulk (``bench.seed.bulk_cases``: running cases spread over four states of
version 1, each with its intake event); version 2 (``ditangani`` renamed ``penanganan``) is then
deployed. A fresh process (so its peak memory is the migration's own) then:

- reads the plan (the grouped counts and the first dry-run page) and a later dry-run page, timed;
- runs ``Commands.migrate_running`` with the default batch size (and, each on a fresh seed, with
  batches of ``SMALL_BATCH`` and ``LARGE_BATCH``) while a staff member keeps moving
  other cases in another thread, and measures the whole run, each transaction (SQLAlchemy's
  ``begin``/``commit`` events on the engine: the longest is the longest time any lock was held
  by the migration) and each staff move (how long staff wait meanwhile);
- reports its peak RSS (VmHWM).

    python -m bench --only migration [--postgres URL]
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.seed import ROOT, START, add_staff, bulk_cases, fixed, new_engine, scratch_postgres

CASES = 50_000
STATES = ("diterima", "ditelaah", "ditugaskan", "ditangani")
SMALL_BATCH = 50
LARGE_BATCH = 500
"""The smaller and the larger batch size measured beside the default."""
STAFF_CASES = 2_000
"""Cases (already on the new version) a staff member moves while the migration runs."""


def _seed(url: str, count: int, workdir: Path) -> float:
    started = time.perf_counter()
    engine = new_engine(url)
    add_staff(engine)
    engine.add_staff("inovator", "Dewi Inovator", ["inovator"], None, None, None)
    first = 1
    share = count // len(STATES)
    for i, state in enumerate(STATES):
        size = share if i < len(STATES) - 1 else count - share * (len(STATES) - 1)
        bulk_cases(engine, size, state=state, first=first)
        first += size
    bulk_cases(engine, STAFF_CASES, state="diterima", first=first)  # the staff's, moved to v2 below
    engine.deploy(_version_2(workdir / "v2"), "inovator")
    staff = [f"TRK-2026-{i:07d}" for i in range(first, first + STAFF_CASES)]
    engine.migrate("treckk", 2, staff, {}, "inovator")
    engine.db.dispose()
    return time.perf_counter() - started


def _version_2(folder: Path) -> Path:
    """A copy of the shipped workflow as version 2, ``ditangani`` renamed ``penanganan`` (roles and
    templates beside it, as deploy expects)."""
    for part in ("roles", "templates"):
        shutil.copytree(ROOT / part, folder / part, dirs_exist_ok=True)
    (folder / "workflows").mkdir(parents=True, exist_ok=True)
    text = (ROOT / "workflows" / "treckk.yaml").read_text(encoding="utf-8")
    text = re.sub(r"^version: 1$", "version: 2", text, count=1, flags=re.MULTILINE)
    target = folder / "workflows" / "treckk.yaml"
    target.write_text(re.sub(r"\bditangani\b", "penanganan", text), encoding="utf-8")
    return target


def _child(url: str, count: int, batch_size: int) -> dict[str, Any]:
    """The measured run (in its own process)."""
    from sqlalchemy import event

    from engine.app.commands import Commands
    from engine.app.definition_desk import DefinitionDesk
    from engine.store.database import Database

    engine = Commands(Database(url), fixed(START), ROOT)
    desk = DefinitionDesk(engine)
    started = time.perf_counter()
    desk.plan("inovator", "treckk", {"ditangani": "penanganan"})
    cold_ms = (time.perf_counter() - started) * 1000  # the first also compiles both versions
    started = time.perf_counter()
    plan = desk.plan("inovator", "treckk", {"ditangani": "penanganan"})
    plan_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    later = desk.plan("inovator", "treckk", {"ditangani": "penanganan"}, after=plan.next)
    page_ms = (time.perf_counter() - started) * 1000
    assert len(later.outcomes) == len(plan.outcomes) and plan.count == count, (plan.count, len(later.outcomes))

    opened: dict[int, float] = {}
    spans: list[float] = []

    def begun(connection: Any) -> None:
        opened[id(connection)] = time.perf_counter()

    def ended(connection: Any) -> None:
        began = opened.pop(id(connection), None)
        if began is not None and threading.current_thread() is threading.main_thread():
            spans.append(time.perf_counter() - began)

    event.listen(engine.db.engine, "begin", begun)
    event.listen(engine.db.engine, "commit", ended)
    event.listen(engine.db.engine, "rollback", ended)
    moves: list[float] = []
    stop = threading.Event()

    def staff() -> None:
        for i in range(count + 1, count + 1 + STAFF_CASES):
            if stop.is_set():
                return
            began = time.perf_counter()
            engine.advance(f"TRK-2026-{i:07d}", "teruskan", "admin")
            moves.append((time.perf_counter() - began) * 1000)

    mover = threading.Thread(target=staff)
    mover.start()
    started = time.perf_counter()
    before = _peak_mb()
    done = engine.migrate_running("treckk", 2, {"ditangani": "penanganan"}, "inovator", batch_size=batch_size)
    total = time.perf_counter() - started
    stop.set()
    mover.join()
    assert (done.migrated, done.left) == (count, 0), (done.migrated, done.left)
    return {
        "plan_cold_ms": cold_ms, "plan_ms": plan_ms, "dry_run_page_ms": page_ms, "dry_run_page_rows": len(later.outcomes),
        "migrate_s": total, "cases_per_s": count / total, "batches": done.batches,
        "transactions": len(spans), "longest_transaction_ms": max(spans) * 1000,
        "median_transaction_ms": statistics.median(spans) * 1000,
        "staff_moves_meanwhile": len(moves),
        "staff_move_p50_ms": statistics.median(moves) if moves else None,
        "staff_move_max_ms": max(moves) if moves else None,
        "peak_rss_before_mb": before, "peak_rss_mb": _peak_mb(),
    }


def _peak_mb() -> float:
    """This process's peak RSS so far (VmHWM; not ru_maxrss, which Linux carries over exec)."""
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024


def _measure(url: str, count: int, batch_size: int) -> dict[str, Any]:
    found = subprocess.run([sys.executable, "-m", "bench.migration", url, str(count), str(batch_size)], capture_output=True, text=True,
                           cwd=ROOT, check=False)
    if found.returncode:
        raise RuntimeError(found.stderr.strip().splitlines()[-1] if found.stderr.strip() else "child failed")
    return dict(json.loads(found.stdout.strip().splitlines()[-1]))


def migration(workdir: Path, count: int = CASES, postgres: str | None = None) -> dict[str, Any]:
    """Each backend at the default batch size, and at ``SMALL_BATCH`` (shorter locks, more transactions)."""
    from engine.app.migration_batches import BATCH_SIZE

    results: dict[str, Any] = {"cases": count, "batch_size": BATCH_SIZE, "small_batch_size": SMALL_BATCH,
                               "large_batch_size": LARGE_BATCH}
    for key, size in (("", BATCH_SIZE), ("_small_batches", SMALL_BATCH), ("_large_batches", LARGE_BATCH)):
        folder = workdir / f"sqlite{key}"
        url = f"sqlite:///{folder / 'migration.db'}"
        folder.mkdir(parents=True)
        results[f"sqlite{key}"] = {"seed_s": _seed(url, count, folder), **_measure(url, count, size)}
        if postgres:
            results[f"postgresql{key}"] = _postgres(postgres, workdir / f"postgresql{key}", count, size)
    return results


def _postgres(admin_url: str, workdir: Path, count: int, batch_size: int) -> dict[str, Any]:
    try:
        with scratch_postgres(admin_url, "treckk_bench_migration") as url:
            return {"seed_s": _seed(url, count, workdir), **_measure(url, count, batch_size)}
    except Exception as exc:  # noqa: BLE001 - an absent server is reported, not fatal
        return {"skipped": f"{type(exc).__name__}: {exc}"}


def table(data: dict[str, Any]) -> list[str]:
    lines = ["", f"migration ({data['cases']:,} running cases; staff moving cases meanwhile):"]
    for key, size in (("", data["batch_size"]), ("_small_batches", data.get("small_batch_size")),
                      ("_large_batches", data.get("large_batch_size"))):
        for backend in ("sqlite", "postgresql"):
            found = data.get(f"{backend}{key}")
            if not found:
                continue
            if "skipped" in found:
                lines.append(f"  {backend}: skipped ({found['skipped']})")
                continue
            lines.append(f"  {backend}, batches of {size}: {found['migrate_s']:.1f} s ({found['cases_per_s']:.0f} "
                         f"cases/s, {found['batches']} batches), longest transaction "
                         f"{found['longest_transaction_ms']:.0f} ms (median {found['median_transaction_ms']:.0f}), "
                         f"peak RSS {found['peak_rss_before_mb']:.0f} -> {found['peak_rss_mb']:.0f} MiB; plan "
                         f"{found['plan_ms']:.0f} ms, a dry-run page {found['dry_run_page_ms']:.0f} ms; "
                         f"{found['staff_moves_meanwhile']} staff moves meanwhile, p50 "
                         f"{found['staff_move_p50_ms'] or 0:.0f} ms, max {found['staff_move_max_ms'] or 0:.0f} ms")
    return lines


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))), flush=True)
