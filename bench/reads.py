"""What people wait on, at 1,000 / 100,000 / 1,000,000 cases in one growing SQLite database.

The database is seeded in bulk (``executemany`` straight on the driver, never through the engine)
as a service that has run for years at a steady ~50,000 cases a year: 2% of the cases are open
(60% of the first thousand, so the smallest size fills a page too)
(spread over the open states, eight kecamatan and the categories, deadlines around now, a tenth
overdue by days), the rest finished (selesai / ditolak / dilimpahkan) at the same rate month after
month, so a monthly recap counts about the same month at every size. Each case has its intake
event (one in three carries an idempotency key) and the finished ones their closing event.

Measured in-process at each size: the inbox (first page and a later one, for an unscoped and a
scoped staff member), ``cases`` (50 and 500 rows, and filtered), submit with a fresh and with a
retried idempotency key; at the largest size also the digest and the recap (each in a fresh
process, with its peak memory), and moves issued while reports run in another process.
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench.seed import START, fixed, rollup, staffed_digest
from engine.store.database import Database
from engine.app.commands import Commands
from engine.app.queries import Queries

OPEN_STATES = ("diterima", "ditelaah", "verifikasi", "ditugaskan", "ditangani", "menunggu_pengesahan")
FINAL = (("selesai", "sahkan", "menunggu_pengesahan"), ("ditolak", "tolak", "ditelaah"),
         ("dilimpahkan", "limpahkan", "ditelaah"))
KECAMATAN = ("juai", "halong", "awayan", "batu_mandi", "lampihong", "paringin", "paringin_selatan", "tebing_tinggi")
KATEGORI = ("pkl_tempat_usaha", "bangunan_liar", "reklame_spanduk", "minuman_keras", "keributan", "ternak_lepas",
            "fasilitas_umum", "perda_lain")
PER_YEAR = 50_000
OPEN_SHARE = 0.02
YOUNG_OPEN_SHARE = 0.6


def _text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")


def seed(path: Path, digest: str, total: int, rng: random.Random) -> None:
    """Add cases (and their events) until the database holds ``total``, in batches, on the driver."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    held, first = connection.execute("SELECT count(*), coalesce(max(id), 0) + 1 FROM cases").fetchone()
    last = first + total - held - 1
    span_minutes = max(1, (last - 0) * 525_600 // PER_YEAR)  # the history the cases fill at 50,000 a year
    batch = 50_000
    for start in range(first, last + 1, batch):
        case_rows: list[tuple[Any, ...]] = []
        event_rows: list[tuple[Any, ...]] = []
        for i in range(start, min(start + batch, last + 1)):
            kecamatan, kategori = KECAMATAN[i % len(KECAMATAN)], KATEGORI[(i // 8) % len(KATEGORI)]
            data = json.dumps({"kanal": "whatsapp", "nama_pelapor": "Budi Santoso", "nomor_pelapor": "+6281255550101",
                               "uraian": f"Aduan {i}: pedagang menutup badan jalan di depan pasar.",
                               "kecamatan": kecamatan, "kategori": kategori, "lokasi": "Jl. Ahmad Yani"})
            number = f"TRK-2000-{i:07d}"
            key = f"wa-{i}" if i % 3 == 0 else None
            # The first thousand are a young service's: most still open, so a page is full at every size.
            if rng.random() < (YOUNG_OPEN_SHARE if i <= 1000 else OPEN_SHARE):
                created = START - timedelta(minutes=rng.uniform(60, 20 * 1440))
                state = OPEN_STATES[i % len(OPEN_STATES)]
                due: datetime | None = START + timedelta(minutes=rng.uniform(-3 * 1440, 10 * 1440))
                if i % 10 == 0:
                    due = None
                entered, version = created, 1
            else:
                created = START - timedelta(minutes=rng.uniform(1440, span_minutes + 2 * 1440))
                state, trigger, before = FINAL[i % 3]
                entered = created + timedelta(minutes=rng.uniform(60, 20 * 1440))
                entered = min(entered, START - timedelta(minutes=1))
                due, version = None, 2
                event_rows.append((i, 2, trigger, before, state, "kabid", "kabid_trantibum", _text(entered), "{}",
                                   None, None, "0" * 64, "1" * 64))
            event_rows.append((i, 1, "catat", None, "diterima", "admin", "admin_lalisa", _text(created), data, None,
                               key, "", "0" * 64))
            case_rows.append((i, number, "treckk", 1, digest, state, data, kecamatan, version, _text(created),
                              _text(entered), _text(entered), version, _text(due) if due else None,
                              0 if due else None, _text(due) if due else None, "1" * 64))
        with connection:
            connection.executemany("INSERT INTO cases (id, number, workflow, definition_version, definition_digest, "
                                   "state, data, scope, version, created_at, updated_at, state_entered_at, "
                                   "state_entry, due_at, next_step, next_step_at, last_hash) VALUES "
                                   "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", case_rows)
            connection.executemany("INSERT INTO events (case_id, seq, trigger, from_state, to_state, actor, role, "
                                   "at, input, comment, idempotency_key, prev_hash, hash) VALUES "
                                   "(?,?,?,?,?,?,?,?,?,?,?,?,?)", event_rows)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def timed(run: Callable[[], object], repeat: int) -> dict[str, float]:
    """p50 / p99 / max in ms of ``repeat`` runs after two warm-up runs."""
    for _ in range(2):
        run()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"p50": statistics.median(samples), "p99": samples[min(len(samples) - 1, math.ceil(0.99 * len(samples)) - 1)],
            "max": samples[-1], "runs": repeat}


def _views(engine: Commands, repeat: int, counter: list[int]) -> dict[str, dict[str, float]]:
    views = Queries(engine)
    second = views.inbox_page("kabid")["next"]

    def fresh_submit() -> None:
        counter[0] += 1
        engine.submit("admin", {"kanal": "whatsapp", "nama_pelapor": "Budi", "nomor_pelapor": "+6281255550101",
                                "uraian": "Parkir liar.", "kecamatan": "paringin", "kategori": "fasilitas_umum"},
                      idempotency_key=f"bench-{counter[0]}")

    def retried_submit() -> None:
        engine.submit("admin", {"kanal": "whatsapp", "nama_pelapor": "Budi", "nomor_pelapor": "+6281255550101",
                                "uraian": "Parkir liar.", "kecamatan": "paringin", "kategori": "fasilitas_umum"},
                      idempotency_key="bench-1")

    return {
        "inbox kabid (50)": timed(lambda: views.inbox_page("kabid"), repeat),
        "inbox kabid, page 2": timed(lambda: views.inbox_page("kabid", after=second), repeat),
        "inbox tim (scoped)": timed(lambda: views.inbox_page("tim"), repeat),
        "inbox admin, search": timed(lambda: views.inbox_page("admin", search="pasar", category="keributan"), repeat),
        "cases (50)": timed(lambda: views.cases_page(limit=50), repeat),
        "cases (500)": timed(lambda: views.cases_page(limit=500), max(5, repeat // 5)),
        "cases --state --overdue": timed(lambda: views.cases_page(state="ditelaah", overdue=True, limit=50), repeat),
        "submit, fresh key": timed(fresh_submit, repeat),
        "submit, retried key": timed(retried_submit, repeat),
    }


REPORT_CHILD = """
import json, sys, time
from datetime import datetime, timedelta, timezone
from bench.seed import START
from engine.app.commands import Commands
from engine.store.database import Database
from pathlib import Path
engine = Commands(Database(sys.argv[1]), lambda: START, Path(sys.argv[2]))
schedule, loops = sys.argv[3], int(sys.argv[4])
times = []
engine.db.read(lambda connection: engine.compiled(connection, "treckk"))
print("ready", flush=True)
for n in range(loops):
    # The same period each time (December 1st, 08:00 WITA, a minute apart), each run claimed anew.
    fire = datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc) + timedelta(minutes=n + (100 if schedule == "rekap_bulanan" else 0))
    started = time.perf_counter()
    result = engine.run_schedule("treckk", schedule, fire)
    times.append((time.perf_counter() - started) * 1000)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so it would report the parent's size.
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"ms": times, "status": result.status, "peak_rss_mb": peak / 1024}), flush=True)
"""


def _report(url: str, root: Path, schedule: str, loops: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", REPORT_CHILD, url, str(root), schedule, str(loops)],
                            stdout=subprocess.PIPE, text=True, cwd=root)


def reports(url: str, root: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for schedule in ("ringkasan_pagi", "rekap_bulanan"):
        child = _report(url, root, schedule, 3)
        assert child.stdout is not None
        child.stdout.readline()
        result = json.loads(child.stdout.readline())
        child.wait()
        found[schedule] = {"ms": result["ms"], "best_ms": min(result["ms"]), "peak_rss_mb": result["peak_rss_mb"],
                           "status": result["status"]}
    return found


def move_during_reports(engine: Commands, url: str, root: Path, numbers: list[str]) -> dict[str, Any]:
    """Advance latency alone, then while another process runs recaps and digests back to back."""

    def advance_all(batch: list[str]) -> list[float]:
        samples = []
        for number in batch:
            started = time.perf_counter()
            engine.advance(number, "teruskan", "admin")
            samples.append((time.perf_counter() - started) * 1000)
        return samples

    alone = advance_all(numbers[:40])
    child = _report(url, root, "rekap_bulanan", 6)
    assert child.stdout is not None
    child.stdout.readline()  # the child is about to run its first report
    during = []
    batch = numbers[40:]
    while child.poll() is None and batch:
        during += advance_all(batch[:1])
        batch = batch[1:]
        time.sleep(0.01)  # spread the moves over the reports' run
    report = json.loads(child.stdout.readline())
    child.wait()
    return {"alone_p50_ms": statistics.median(alone), "alone_max_ms": max(alone),
            "during_p50_ms": statistics.median(during) if during else None,
            "during_max_ms": max(during) if during else None, "moves_during": len(during),
            "report_ms": report["ms"],
            "delay_ms": (max(during) - statistics.median(alone)) if during else None}


def _reports_and_moves(engine: Commands, url: str, root: Path) -> dict[str, Any]:
    fresh = [engine.submit("admin", {"kanal": "whatsapp", "nama_pelapor": "Budi", "uraian": "Uji.",
                                     "kecamatan": "paringin", "kategori": "keributan", "lokasi": "Pasar",
                                     "nomor_pelapor": "+6281255550101"}).number for _ in range(200)]
    return {"reports": reports(url, root), "move_during_reports": move_during_reports(engine, url, root, fresh)}


def reports_only(workdir: Path, size: int = 1_000_000) -> dict[str, Any]:
    """Only the reports (and the moves during them) at ``size`` cases: seeded as ``reads`` seeds it
    (in the same three steps, so the same cases), without the views."""
    root = Path(__file__).resolve().parent.parent
    path = workdir / "reads.db"
    url = f"sqlite:///{path}"
    digest = staffed_digest(url)
    rng = random.Random(18)
    started = time.perf_counter()
    for step in sorted({min(1_000, size), min(100_000, size), size}):
        seed(path, digest, step, rng)
    seeded_s = time.perf_counter() - started
    rollup_s = rollup(url)
    engine = Commands(Database(url), fixed(START), root)
    try:
        return {"cases": size, "seed_s": seeded_s, "rollup_s": rollup_s, **_reports_and_moves(engine, url, root)}
    finally:
        engine.db.dispose()


def growth(values: list[float], sizes: list[int]) -> str:
    """flat / logarithmic / linear, from the ratio of the last to the first measurement."""
    if len(values) < 2 or values[0] <= 0:
        return "n/a"
    ratio = values[-1] / values[0]
    size_ratio = sizes[-1] / sizes[0]
    if ratio < 2.0:
        return "flat"
    if ratio < math.log2(size_ratio):
        return "logarithmic"
    return "linear" if ratio > size_ratio / 10 else "sublinear"


def reads(workdir: Path, sizes: list[int], repeat: int = 50) -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    path = workdir / "reads.db"
    url = f"sqlite:///{path}"
    digest = staffed_digest(url)
    rng = random.Random(18)
    results: dict[str, Any] = {"sizes": sizes, "at": {}}
    counter = [0]
    for size in sizes:
        started = time.perf_counter()
        seed(path, digest, size, rng)
        seeded_s = time.perf_counter() - started
        engine = Commands(Database(url), fixed(START), root)
        at: dict[str, Any] = {"seed_s": seeded_s, "rollup_s": rollup(url), "views": _views(engine, repeat, counter)}
        if size == sizes[-1]:
            at.update(_reports_and_moves(engine, url, root))
        engine.db.dispose()
        results["at"][str(size)] = at
        print(f"  reads: {size:,} cases measured", file=sys.stderr, flush=True)
    names = list(results["at"][str(sizes[0])]["views"])
    results["growth"] = {name: growth([results["at"][str(s)]["views"][name]["p50"] for s in sizes], sizes)
                         for name in names}
    return results


def table(data: dict[str, Any]) -> list[str]:
    sizes = data["sizes"]
    lines = ["", "reads (in-process, ms p50 / p99):",
             "  {:<28}".format("") + "".join(f"{s:>18,}" for s in sizes) + "   growth"]
    for name, growth_name in data["growth"].items():
        cells = "".join("{:>18}".format(f"{data['at'][str(s)]['views'][name]['p50']:.2f} / "
                                        f"{data['at'][str(s)]['views'][name]['p99']:.2f}") for s in sizes)
        lines.append(f"  {name:<28}{cells}   {growth_name}")
    last = data["at"][str(sizes[-1])]
    for name, r in last.get("reports", {}).items():
        lines.append(f"  {name} at {sizes[-1]:,}: best {r['best_ms']:.0f} ms of {len(r['ms'])} "
                     f"({', '.join(f'{m:.0f}' for m in r['ms'])}), peak RSS of its process {r['peak_rss_mb']:.0f} MiB")
    move = last.get("move_during_reports")
    if move:
        lines.append(f"  advance alone p50 {move['alone_p50_ms']:.2f} ms; while recaps run in another process: "
                     f"p50 {move['during_p50_ms']:.2f} ms, max {move['during_max_ms']:.2f} ms over "
                     f"{move['moves_during']} moves (delay {move['delay_ms']:.1f} ms)")
    lines.append("  seeding (bulk): " + ", ".join(f"{s:,} in {data['at'][str(s)]['seed_s']:.0f} s" for s in sizes))
    return lines
