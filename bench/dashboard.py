"""The dashboard of a year of a kabupaten (50,000 cases, ~300,000 events), against its own SQL's floor.

The database is seeded in bulk on the driver (never through the engine), then its stays rollup
derived as revision 0016 derives it (``rollup_s``): cases opened evenly over
the year before START, each with its whole history (intake, forwarding, then rejected, referred,
or verified, assigned, handled and approved, an hour to days per step); the month before START has
a third of its cases still open, older months a few stale ones, all past their deadline.

Measured in one run, on SQLite (and on PostgreSQL when an admin URL is given):
- ``view``: ``Dashboard.view`` in-process for three periods (the default 30 days, last month, a
  whole year), p50 / p99 (the slowest) of 5 runs after two warm-ups, and the median CPU time of the process (on SQLite
  the database's work included, so it does not grow with the machine's load as wall time does);
- ``floor``: the very statements ``view`` sent, with the same parameters, replayed on the plain
  driver (``sqlite3`` / ``psycopg``) in one read transaction and fetched: what the database alone
  costs; ``ratio`` = floor / view (1.0: the engine adds nothing);
- ``page`` and ``csv``: ``GET /dasbor`` and ``GET /dasbor/terlambat.csv`` over loopback HTTP from the
  real web app (logged in), the default period.

    python -m bench --only dashboard [--postgres URL]
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench.reads import KATEGORI, KECAMATAN, timed
from bench.recorder import Recorder
from bench.seed import ROOT, START, fixed, rollup, scratch_postgres, staffed_digest

CASES = 50_000
OPEN_STATES = ("diterima", "ditelaah", "verifikasi", "ditugaskan", "ditangani", "menunggu_pengesahan")
FULL_PATH = (("teruskan", "diterima", "ditelaah"), ("minta_verifikasi", "ditelaah", "verifikasi"),
             ("laporkan_verifikasi", "verifikasi", "ditelaah"), ("tugaskan", "ditelaah", "ditugaskan"),
             ("mulai_tangani", "ditugaskan", "ditangani"), ("laporkan_hasil", "ditangani", "menunggu_pengesahan"),
             ("sahkan", "menunggu_pengesahan", "selesai"))
SHORT_PATHS = ((("teruskan", "diterima", "ditelaah"), ("tolak", "ditelaah", "ditolak")),
               (("teruskan", "diterima", "ditelaah"), ("limpahkan", "ditelaah", "dilimpahkan")))
CASE_COLUMNS = ("id", "number", "workflow", "definition_version", "definition_digest", "state", "data", "scope",
                "version", "created_at", "updated_at", "state_entered_at", "state_entry", "due_at", "next_step",
                "next_step_at", "last_hash")
EVENT_COLUMNS = ("case_id", "seq", "trigger", "from_state", "to_state", "actor", "role", "at", "input", "comment",
                 "idempotency_key", "prev_hash", "hash")


def timed_cpu(run: Callable[[], object], repeat: int,
              server: Callable[[], float] | None = None) -> dict[str, float]:
    """p50 / p99 / max wall ms of ``repeat`` runs after two warm-ups (as ``bench.reads.timed``), and the
    median CPU ms of this process per run (``cpu_p50``): on SQLite the database works in this process
    too, so it is what a run costs whatever else the machine does (wall times grow with its load).
    ``server``: the CPU seconds the database server has used so far (PostgreSQL, ``server_cpu_ms``:
    the mean per run)."""
    for _ in range(2):
        run()
    wall, cpu = [], []
    served = server() if server else 0.0
    for _ in range(repeat):
        started, used = time.perf_counter(), time.process_time()
        run()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - used) * 1000)
    wall.sort()
    found = {"p50": statistics.median(wall), "p99": wall[-1], "max": wall[-1], "runs": repeat,
             "cpu_p50": statistics.median(cpu)}
    if server:
        found["server_cpu_ms"] = (server() - served) * 1000 / repeat
    return found


def server_cpu(url: str) -> Callable[[], float] | None:
    """For a PostgreSQL server on this machine: the CPU seconds (user + system, from ``/proc``) used
    so far by the backends connected to ``url``'s database, the load-independent cost of what they
    ran. Parallel workers' time is not in it (they come and go within a statement), so it is a
    lower bound when a plan runs some. None for SQLite or a server elsewhere."""
    if url.startswith("sqlite") or not Path("/proc/self/stat").exists():
        return None
    import psycopg

    name = url.rpartition("/")[2]
    libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
    ticks = os.sysconf("SC_CLK_TCK")

    def used() -> float:
        with psycopg.connect(libpq, autocommit=True) as watcher:
            pids = [row[0] for row in watcher.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))]
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return float("nan")  # not on this machine
            total += int(fields[11]) + int(fields[12])
        return total / ticks

    return used


def histories(count: int, digest: str, rng: random.Random) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
    """(case row, its event rows) for ``count`` cases opened over the year before START (aware times)."""
    for i in range(1, count + 1):
        created = START - timedelta(minutes=rng.uniform(60, 365 * 1440))
        kecamatan, kategori = KECAMATAN[i % len(KECAMATAN)], KATEGORI[(i // 8) % len(KATEGORI)]
        data = json.dumps({"kanal": "whatsapp", "uraian": f"Aduan {i}.", "kecamatan": kecamatan,
                           "kategori": kategori, "lokasi": "Jl. Ahmad Yani"})
        young = START - created < timedelta(days=30)
        roll = rng.random()
        path: tuple[tuple[str, str, str], ...] = FULL_PATH if roll < 0.7 else SHORT_PATHS[roll < 0.9]
        still_open = rng.random() < (0.33 if young else 0.01)
        if still_open:
            path = path[:rng.randrange(len(path))]
        events: list[tuple[Any, ...]] = [(i, 1, "catat", None, "diterima", "admin", "admin_lalisa", created, data, None, None, "", "0" * 64)]
        moment = created
        for seq, (trigger, before, after) in enumerate(path, start=2):
            moment = min(moment + timedelta(minutes=rng.uniform(20, 3 * 1440)), START - timedelta(minutes=1))
            events.append((i, seq, trigger, before, after, "kabid", "kabid_trantibum", moment, "{}", None, None,
                           "0" * 64, "1" * 64))
        state = path[-1][2] if path else "diterima"
        due = moment + timedelta(hours=rng.uniform(1, 48)) if still_open else None
        case = (i, f"TRK-2026-{i:07d}", "treckk", 1, digest, state, data, kecamatan, len(events), created, moment,
                moment, len(events), due, 0 if due else None, due, "1" * 64)
        yield case, events


def _text(value: Any) -> Any:
    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds") \
        if isinstance(value, datetime) else value


def seed_sqlite(path: Path, digest: str, count: int, rng: random.Random) -> int:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    written = 0
    cases: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []

    def flush() -> None:
        with connection:
            connection.executemany(f"INSERT INTO cases ({', '.join(CASE_COLUMNS)}) VALUES "
                                   f"({', '.join('?' * len(CASE_COLUMNS))})", cases)
            connection.executemany(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES "
                                   f"({', '.join('?' * len(EVENT_COLUMNS))})", events)
        cases.clear()
        events.clear()

    for case, history in histories(count, digest, rng):
        cases.append(tuple(_text(v) for v in case))
        events.extend(tuple(_text(v) for v in event) for event in history)
        written += len(history)
        if len(cases) >= 20_000:
            flush()
    flush()
    # No ANALYZE: the product never runs it on SQLite, so the planner's choices here are its own.
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return written


def seed_postgres(url: str, digest: str, count: int, rng: random.Random) -> int:
    import psycopg

    written = 0
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as connection:
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY cases ({', '.join(CASE_COLUMNS)}) FROM STDIN") as copy:
                histories_kept = []
                for case, history in histories(count, digest, rng):
                    copy.write_row(case)
                    histories_kept.append(history)
            with cursor.copy(f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                for history in histories_kept:
                    for event in history:
                        copy.write_row(event)
                        written += 1
            cursor.execute("SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT max(id) FROM cases))")
        connection.commit()
        connection.autocommit = True
        connection.execute("ANALYZE")
    return written


def _periods() -> dict[str, tuple[date | None, date | None]]:
    today = START.astimezone(timezone(timedelta(hours=8))).date()
    last_month_end = today.replace(day=1) - timedelta(days=1)
    return {"default (30 days)": (None, None), "last month": (last_month_end.replace(day=1), last_month_end),
            "a whole year": (today - timedelta(days=364), today)}


def _floor(url: str, statements: list[tuple[str, Any]]) -> Callable[[], None]:
    """The recorded statements on the plain driver, one read transaction, every row fetched."""
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)

        def run_sqlite() -> None:
            cursor = connection.cursor()
            cursor.execute("BEGIN")
            for sql, params in statements:
                cursor.execute(sql, params).fetchall()
            cursor.execute("COMMIT")

        return run_sqlite
    import psycopg

    pg = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1))

    def run_postgres() -> None:
        with pg.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            for sql, params in statements:
                cursor.execute(sql, params)
                if cursor.description is not None:
                    cursor.fetchall()
        pg.commit()

    return run_postgres


def measure(url: str, workdir: Path, repeat: int = 5) -> dict[str, Any]:
    """The view, its floor, the page and a CSV on the seeded database at ``url``."""
    from engine.app.commands import Commands
    from engine.app.dashboard import Dashboard
    from engine.store.database import Database

    engine = Commands(Database(url, prepared=False), fixed(START), ROOT)
    dashboard = Dashboard(engine)
    found: dict[str, Any] = {}
    for name, (first, last) in _periods().items():
        def view(first: date | None = first, last: date | None = last) -> Any:
            return dashboard.view("kabid", first=first, last=last)

        recorder = Recorder(engine.db.engine)
        recorder.start()
        view()
        recording = recorder.stop()
        # The transaction's own BEGIN / SET TRANSACTION are the floor's to send.
        statements = [(sql, params) for t in recording.transactions for sql, params, _many in t.statements
                      if not sql.lstrip().upper().startswith(("BEGIN", "COMMIT", "SET TRANSACTION"))]
        engine_ms = timed_cpu(view, repeat, server_cpu(url))
        floor_ms = timed_cpu(_floor(url, statements), repeat, server_cpu(url))
        found[name] = {"view_ms": engine_ms, "floor_ms": floor_ms, "statements": len(statements),
                       "ratio": floor_ms["p50"] / engine_ms["p50"]}
    engine.db.dispose()
    found["http"] = _http(url, workdir, repeat)
    return found


def _http(url: str, workdir: Path, repeat: int) -> dict[str, Any]:
    import httpx

    from engine.adapters.web.app import create_app
    from engine.adapters.web.server import start_in_thread
    from engine.app.assembly import build
    from engine.app.settings import Settings

    settings = Settings.from_environment({"TRECKK_HOME": str(ROOT), "TRECKK_DATABASE_URL": url,
                                          "TRECKK_OUTBOX_DIR": str(workdir / "outbox"),
                                          "TRECKK_ATTACHMENT_DIR": str(workdir / "attachments"),
                                          "TRECKK_SECRET_KEY": "bench-secret-key-0123456789-abcdefghijkl"})
    application = build(settings, clock=fixed(START))
    application.credentials.set_password("kabid", "bench-password-kabid-1")
    server = start_in_thread(create_app(application))
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            page = client.get("/login")
            token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
            client.post("/login", data={"username": "kabid", "password": "bench-password-kabid-1", "csrf_token": token})
            answer = client.get("/dasbor")
            assert answer.status_code == 200, answer.status_code
            page_bytes = len(answer.content)
            return {"page_ms": timed(lambda: client.get("/dasbor").raise_for_status(), repeat),
                    "csv_ms": timed(lambda: client.get("/dasbor/terlambat.csv").raise_for_status(), repeat),
                    "page_bytes": page_bytes}
    finally:
        server.stop()
        application.close()


def dashboard(workdir: Path, count: int = CASES, postgres: str | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {"cases": count}
    path = workdir / "dashboard.db"
    url = f"sqlite:///{path}"
    digest = staffed_digest(url)
    started = time.perf_counter()
    results["events"] = seed_sqlite(path, digest, count, random.Random(15))
    seeded_s = time.perf_counter() - started
    results["sqlite"] = {"seed_s": seeded_s, "rollup_s": rollup(url), **measure(url, workdir)}
    if postgres:
        results["postgresql"] = _postgres(postgres, workdir, count)
    return results


def _postgres(admin_url: str, workdir: Path, count: int) -> dict[str, Any]:
    try:
        with scratch_postgres(admin_url, "treckk_bench_dashboard") as url:
            digest = staffed_digest(url)
            started = time.perf_counter()
            seed_postgres(url, digest, count, random.Random(15))
            seeded_s = time.perf_counter() - started
            return {"seed_s": seeded_s, "rollup_s": rollup(url), **measure(url, workdir)}
    except Exception as exc:  # noqa: BLE001 - an absent server is reported, not fatal
        return {"skipped": f"{type(exc).__name__}: {exc}"}


def table(data: dict[str, Any]) -> list[str]:
    lines = ["", f"dashboard ({data['cases']:,} cases, {data.get('events', 0):,} events; ms p50 / p99; "
                 f"floor = the same SQL on the plain driver):"]
    for backend in ("sqlite", "postgresql"):
        found = data.get(backend)
        if not found:
            continue
        if "skipped" in found:
            lines.append(f"  {backend}: skipped ({found['skipped']})")
            continue
        for name, m in found.items():
            if not isinstance(m, dict) or "view_ms" not in m:
                continue
            served = (f"   server CPU {m['view_ms']['server_cpu_ms']:6.1f} (floor {m['floor_ms']['server_cpu_ms']:6.1f})"
                      if "server_cpu_ms" in m["view_ms"] else "")
            lines.append(f"  {backend:<10} {name:<18} view {m['view_ms']['p50']:7.1f} / {m['view_ms']['p99']:7.1f}"
                         f" (CPU {m['view_ms']['cpu_p50']:6.1f})   floor {m['floor_ms']['p50']:7.1f} (CPU "
                         f"{m['floor_ms']['cpu_p50']:6.1f})   ratio {m['ratio']:.2f}   ({m['statements']} stmts)"
                         f"{served}")
        web = found["http"]
        lines.append(f"  {backend:<10} GET /dasbor {web['page_ms']['p50']:.1f} / {web['page_ms']['p99']:.1f} "
                     f"({web['page_bytes']:,} bytes), GET /dasbor/terlambat.csv {web['csv_ms']['p50']:.1f} / "
                     f"{web['csv_ms']['p99']:.1f}; seeded in {found['seed_s']:.0f} s, "
                     f"rollup backfilled in {found.get('rollup_s', 0):.1f} s")
    return lines
