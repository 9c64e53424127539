"""``python -m bench.web_load``: simulated staff against the web app on loopback, with locust, headless.

One run:

1. seeds an SQLite file with ``--cases`` cases (default 100,000: most closed, thousands waiting in
   ``ditelaah`` and ``verifikasi`` across the eight kecamatan) and the staff the load logs in as;
2. starts the web app (``create_app`` on uvicorn, one process) on a free 127.0.0.1 port;
3. runs locust headless, bounded (``--users`` simulated staff, ``--duration``; the statistics are reset once
   every member has logged in, so the logins of the ramp-up are not in them): each logs in through the
   login form, then loops over inbox → case page → advance (a Kepala Bidang orders verification on a
   case of its own slice; a kecamatan team reports the verification of one of its own), by the forms
   the pages serve (CSRF token, case version, idempotency key); each round also fetches a small static
   file, the HTTP stack's own floor under the same load;
4. measures the engine's own move (``Commands.advance`` of the same trigger, in process, on the same
   database file, after the server stopped) as the floor;
5. prints requests/s and p50/p95/p99 per page, and merges them into bench/results.json under
   ``web_load``.

This module is also the locustfile (``locust -f bench/web_load.py``): the staff it logs in as and
their case slices come from the JSON file named by ``TRECKK_BENCH_WEB_PLAN``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results.json"
PASSWORD = "bench-kata-sandi-1"
SECRET = "bench-secret-key-" + "x" * 40
KECAMATAN = ("juai", "halong", "awayan", "batu_mandi", "lampihong", "paringin", "paringin_selatan", "tebing_tinggi")
KATEGORI = ("pkl_tempat_usaha", "bangunan_liar", "reklame_spanduk", "keributan", "ternak_lepas", "fasilitas_umum")
PLAN_VARIABLE = "TRECKK_BENCH_WEB_PLAN"
WAIT_VARIABLE = "TRECKK_BENCH_WEB_WAIT"
"""``MIN,MAX`` seconds a simulated member pauses after each step (reading a page, typing a form)."""
FLOOR_MOVES = 300


# -- seeding ------------------------------------------------------------------------------------

def _mix(count: int) -> list[tuple[str, int]]:
    """(state, how many) for ``count`` cases: 30 % waiting for the Kabid, 10 % in verification, 10 %
    elsewhere open, half closed."""
    ditelaah, verifikasi = count * 30 // 100, count * 10 // 100
    other = count * 10 // 100
    return [("ditelaah", ditelaah), ("verifikasi", verifikasi), ("diterima", other // 4), ("ditugaskan", other // 4),
            ("ditangani", other // 4), ("menunggu_pengesahan", other - 3 * (other // 4)),
            ("selesai", count - ditelaah - verifikasi - other)]


def seed(path: Path, count: int, kabid_users: int, team_users: int) -> dict[str, Any]:
    """The database file at ``path`` with ``count`` cases and the load's staff; returns the load plan."""
    from sqlalchemy import insert

    from engine.app.assembly import build
    from engine.app.settings import Settings
    from engine.core.integrity import sealed
    from engine.core.records import EventRecord
    from engine.store.migrations import upgrade
    from engine.store.schema import cases, events

    app = build(Settings.from_environment({"TRECKK_HOME": str(ROOT), "TRECKK_DATABASE_URL": f"sqlite:///{path}",
                                           "TRECKK_SECRET_KEY": SECRET}))
    upgrade(app.database)
    commands = app.commands
    commands.deploy(ROOT / "workflows" / "treckk.yaml", None)
    commands.add_staff("admin", "Admin La-Lisa", ["admin_lalisa"], None, None, None)
    kabids = [f"kabid{i:02d}" for i in range(1, kabid_users + 1)]
    teams = [(f"tim{i:02d}", KECAMATAN[(i - 1) % len(KECAMATAN)]) for i in range(1, team_users + 1)]
    from argon2 import PasswordHasher

    app.credentials.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # seeding only
    for username in kabids:
        commands.add_staff(username, f"Kepala Bidang {username[-2:]}", ["kabid_trantibum"], None, None, None)
        app.credentials.set_password(username, PASSWORD)
    for username, kecamatan in teams:
        commands.add_staff(username, f"Tim {kecamatan} {username[-2:]}", ["tim_treckk"], kecamatan, None, None)
        app.credentials.set_password(username, PASSWORD)
    compiled = commands.db.transaction(lambda c: commands.compiled(c, "treckk"))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    rng = random.Random(7)
    by_state: dict[str, list[tuple[str, str]]] = {}
    number = 0
    rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []

    def flush() -> None:
        if rows:
            with commands.db.begin() as connection:
                connection.execute(insert(cases), rows)
                connection.execute(insert(events), event_rows)
            rows.clear()
            event_rows.clear()

    for state, how_many in _mix(count):
        final = compiled.definition.states[state].final
        for _ in range(how_many):
            number += 1
            case_number = f"TRK-2026-{number:06d}"
            kecamatan = KECAMATAN[number % len(KECAMATAN)]
            data = {"kanal": "whatsapp", "nama_pelapor": "Warga Pelapor", "nomor_pelapor": "+6281255550101",
                    "uraian": f"Aduan uji beban nomor {number}: pedagang menutup trotoar di dekat pasar.",
                    "kecamatan": kecamatan, "kategori": KATEGORI[number % len(KATEGORI)],
                    "lokasi": f"Jl. Uji {number % 97}, {kecamatan}"}
            created = now - timedelta(minutes=rng.randint(60, 60 * 24 * 30))
            due = None if final else now + timedelta(minutes=rng.randint(-600, 2400))
            intake = sealed(case_number, EventRecord(0, 1, "catat", None, state, "admin", "admin_lalisa", created,
                                                     dict(data)))
            rows.append({"id": number, "number": case_number, "workflow": "treckk", "definition_version": 1,
                         "definition_digest": compiled.digest, "state": state, "data": data, "scope": kecamatan,
                         "version": 1, "created_at": created, "updated_at": created, "state_entered_at": created,
                         "state_entry": 1, "due_at": due, "next_step": None, "next_step_at": None,
                         "last_hash": intake.hash})
            event_rows.append({"case_id": number, "seq": 1, "trigger": "catat", "from_state": None, "to_state": state,
                               "actor": "admin", "role": "admin_lalisa", "at": created, "input": data, "comment": None,
                               "idempotency_key": None, "prev_hash": "", "hash": intake.hash})
            by_state.setdefault(f"{state}:{kecamatan}", []).append((case_number, kecamatan))
            if len(rows) >= 20_000:
                flush()
    flush()
    app.close()
    ditelaah = [n for key, found in by_state.items() if key.startswith("ditelaah:") for n, _ in found]
    rng.shuffle(ditelaah)
    floor = ditelaah[:FLOOR_MOVES]
    pool = ditelaah[FLOOR_MOVES:]
    users: list[dict[str, Any]] = []
    for i, username in enumerate(kabids):
        users.append({"username": username, "trigger": "minta_verifikasi", "cases": pool[i::len(kabids)],
                      "input": {"instruksi": "Periksa ke lokasi (uji beban)."}})
    for i, (username, kecamatan) in enumerate(teams):
        mine = [n for n, _ in by_state.get(f"verifikasi:{kecamatan}", [])]
        sharing = [t for t, k in teams if k == kecamatan]
        slot = sharing.index(username)
        users.append({"username": username, "trigger": "laporkan_verifikasi", "cases": mine[slot::len(sharing)],
                      "input": {"temuan": "Benar adanya (uji beban).", "laporan_benar": "ya"}})
    return {"users": users, "floor_cases": floor, "floor_actor": kabids[0], "password": PASSWORD}


# -- the server ---------------------------------------------------------------------------------

DATABASE_VARIABLE = "TRECKK_BENCH_WEB_DATABASE"


def app_factory() -> Any:
    """The web app on the database named by ``TRECKK_BENCH_WEB_DATABASE`` (each server process makes one)."""
    from engine.adapters.web.app import create_app
    from engine.app.assembly import build
    from engine.app.settings import Settings

    database = os.environ[DATABASE_VARIABLE]
    folder = Path(database).parent
    settings = Settings.from_environment({"TRECKK_HOME": str(ROOT), "TRECKK_DATABASE_URL": f"sqlite:///{database}",
                                          "TRECKK_SECRET_KEY": SECRET, "TRECKK_OUTBOX_DIR": str(folder / "outbox"),
                                          "TRECKK_ATTACHMENT_DIR": str(folder / "lampiran")})
    return create_app(build(settings), settings)


def serve(database: str, port: int, workers: int = 1) -> None:
    """The web app on ``database`` at 127.0.0.1:``port`` in ``workers`` processes (the bench's server)."""
    import uvicorn

    os.environ[DATABASE_VARIABLE] = database
    uvicorn.run("bench.web_load:app_factory", factory=True, host="127.0.0.1", port=port, workers=workers,
                log_level="warning", access_log=False, lifespan="off")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _warm(url: str, plan: dict[str, Any]) -> None:
    """One member logs in and opens the inbox and a case: the server compiles its workflow and templates
    (about half a second, once per process) before the measured load, as a server in service has."""
    import httpx

    me = plan["users"][0]
    for _ in range(6):  # new connections, so each server process is likely to get some
        _warm_once(url, plan, me)


def _warm_once(url: str, plan: dict[str, Any], me: dict[str, Any]) -> None:
    import httpx

    with httpx.Client(base_url=url, timeout=60) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
        client.post("/login", data={"username": me["username"], "password": plan["password"],
                                    "csrf_token": token.group(1) if token else ""})
        client.get("/")
        client.get(f"/kasus/{plan['floor_cases'][0]}")
        client.get("/kasus/baru")


def _wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the web app exited before it served")
        try:
            urllib.request.urlopen(url + "/login", timeout=2).read()
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"the web app did not answer at {url} within {seconds:.0f} s")


# -- the engine's own move ------------------------------------------------------------------------

def engine_floor(database: Path, plan: dict[str, Any]) -> dict[str, float]:
    """``Commands.advance`` of the Kabid's trigger on the floor cases, one at a time: latency in ms."""
    from engine.app.assembly import build
    from engine.app.settings import Settings

    app = build(Settings.from_environment({"TRECKK_HOME": str(ROOT), "TRECKK_DATABASE_URL": f"sqlite:///{database}",
                                           "TRECKK_OUTBOX_DIR": str(database.parent / "outbox")}))
    timings = []
    for i, number in enumerate(plan["floor_cases"]):
        started = time.perf_counter()
        app.commands.advance(number, "minta_verifikasi", plan["floor_actor"],
                             {"instruksi": "Periksa ke lokasi (uji beban)."}, expect_version=1,
                             idempotency_key=f"floor-{i}")
        timings.append((time.perf_counter() - started) * 1000)
    app.close()
    return _percentiles(timings)


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    cut = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"count": len(ordered), "p50_ms": statistics.median(ordered), "p95_ms": cut[94], "p99_ms": cut[98],
            "max_ms": ordered[-1]}


# -- the run --------------------------------------------------------------------------------------

def run(cases: int, users: int, duration: str, spawn_rate: float, keep: Path | None, wait: str = "1,3",
        workers: int = 1) -> dict[str, Any]:
    work = keep or Path(tempfile.mkdtemp(prefix="treckk-web-load-"))
    work.mkdir(parents=True, exist_ok=True)
    database = work / "treckk.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    kabids = max(1, users * 7 // 10)
    started = time.perf_counter()
    plan = seed(database, cases, kabids, users - kabids)
    seeded_s = time.perf_counter() - started
    plan_file = work / "plan.json"
    plan_file.write_text(json.dumps(plan))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "bench.web_load", "--serve", str(database), "--port", str(port),
                               "--workers", str(workers)],
                              cwd=ROOT)
    try:
        _wait_for(url, server)
        _warm(url, plan)
        csv_prefix = work / "locust"
        subprocess.run([sys.executable, "-m", "locust", "-f", str(Path(__file__).resolve()), "--headless",
                        "-u", str(users), "-r", str(spawn_rate), "-t", duration, "--host", url,
                        "--csv", str(csv_prefix), "--only-summary", "--stop-timeout", "10"],
                       cwd=ROOT, env={**os.environ, PLAN_VARIABLE: str(plan_file), WAIT_VARIABLE: wait}, check=False)
    finally:
        server.terminate()
        server.wait(timeout=30)
    pages = _read_stats(Path(f"{csv_prefix}_stats.csv"))
    floor = engine_floor(database, plan)
    advance = pages.get("advance", {})
    result: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(), "cases": cases, "users": users, "duration": duration,
        "spawn_rate": spawn_rate, "pause_s": wait, "seed_s": round(seeded_s, 1), "server": f"uvicorn, {workers} process{'es' if workers > 1 else ''}, SQLite file",
        "pages": pages, "engine_move": floor,
        "advance_http_over_engine_p50": (advance["p50_ms"] / floor["p50_ms"]) if advance and floor["p50_ms"] else None,
    }
    return result


def _read_stats(path: Path) -> dict[str, dict[str, float]]:
    """locust's ``_stats.csv`` → name → requests, failures, req/s, p50/p95/p99 and mean (ms)."""
    found: dict[str, dict[str, float]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            name = row["Name"] if row["Name"] != "Aggregated" else "all"
            if row["50%"] == "N/A":
                continue  # requests made only before the statistics were reset (the logins)
            found[name] = {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                           "req_per_s": float(row["Requests/s"]), "p50_ms": float(row["50%"]),
                           "p95_ms": float(row["95%"]), "p99_ms": float(row["99%"]),
                           "mean_ms": float(row["Average Response Time"])}
    return found


def table(result: dict[str, Any]) -> str:
    lines = [f"web load: {result['users']} simulated staff for {result['duration']} on {result['cases']:,} cases "
             f"(seeded in {result['seed_s']} s), pausing {result['pause_s']} s after each step, {result['server']}",
             "{:<12} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}".format("page", "requests", "failures", "req/s", "p50 ms",
                                                                   "p95 ms", "p99 ms")]
    for name, row in result["pages"].items():
        lines.append("{:<12} {:>9} {:>9} {:>8.1f} {:>8.0f} {:>8.0f} {:>8.0f}".format(
            name, row["requests"], row["failures"], row["req_per_s"], row["p50_ms"], row["p95_ms"], row["p99_ms"]))
    floor = result["engine_move"]
    lines.append(f"engine's own move (Commands.advance, in process, same file): p50 {floor['p50_ms']:.2f} ms, "
                 f"p95 {floor['p95_ms']:.2f} ms, p99 {floor['p99_ms']:.2f} ms over {floor['count']} moves")
    ratio = result.get("advance_http_over_engine_p50")
    if ratio:
        lines.append(f"advance over HTTP / engine's move, at the median: {ratio:.1f}×")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", default="60s", help="locust's --run-time (e.g. 30s, 2m)")
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--pause", default="1,3", help="MIN,MAX seconds each simulated member pauses after a step")
    parser.add_argument("--label", default="web_load", help="the key the result is merged under in results.json")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (database, plan, locust CSV)")
    parser.add_argument("--no-write", action="store_true", help="do not merge the result into bench/results.json")
    parser.add_argument("--workers", type=int, default=1, help="server processes (uvicorn --workers)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.workers)
        return 0
    result = run(args.cases, args.users, args.duration, args.spawn_rate, args.keep, args.pause, args.workers)
    print(table(result))
    if not args.no_write:
        merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        merged[args.label] = result
        RESULTS.write_text(json.dumps(merged, indent=2) + "\n")
        print(f"\nmerged into {RESULTS} under {args.label}")
    return 0


# -- the locustfile -------------------------------------------------------------------------------

if os.environ.get(PLAN_VARIABLE):
    import itertools

    from locust import HttpUser, SequentialTaskSet, between, task

    _PLAN = json.loads(Path(os.environ[PLAN_VARIABLE]).read_text())
    _NEXT = itertools.count()
    _CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

    def _hidden(html: str, name: str, form: str) -> str | None:
        start = html.find(f'id="form-{form}"')
        if start < 0:
            return None
        found = re.search(rf'name="{name}" value="([^"]*)"', html[start:html.find("</form>", start)])
        return found.group(1) if found else None

    from gevent.event import Event

    _LOGGED_IN: list[str] = []
    _ALL_IN = Event()
    _WAIT = [float(part) for part in os.environ.get(WAIT_VARIABLE, "1,3").split(",")]

    class Round(SequentialTaskSet):  # type: ignore[misc]
        """What one member of staff does, a pause after each step: inbox, then a case, then the move."""

        number: str | None = None
        page = ""

        @task
        def inbox(self) -> None:
            self.client.get("/", name="inbox")
            # The HTTP floor under the same load: a small static file, no session, no database.
            self.client.get("/static/pages.css", name="static file")

        @task
        def case_page(self) -> None:
            self.number = next(self.user.cases, None)
            if self.number is not None:
                self.page = self.client.get(f"/kasus/{self.number}", name="case page").text

        @task
        def advance(self) -> None:
            me, page = self.user.me, self.page
            trigger = me["trigger"]
            csrf, version = _CSRF.search(page), _hidden(page, "version", trigger)
            key = _hidden(page, "idempotency_key", trigger)
            if self.number is None or not (csrf and version and key):
                return
            with self.client.post(f"/kasus/{self.number}/aksi/{trigger}", name="advance", allow_redirects=False,
                                  data={"csrf_token": csrf.group(1), "version": version, "idempotency_key": key,
                                        **me["input"]}, catch_response=True) as answer:
                if answer.status_code != 303:
                    answer.failure(f"advance answered {answer.status_code}")
                else:
                    answer.success()

    class Staff(HttpUser):  # type: ignore[misc]
        """One member of staff: logs in through the form, then does rounds of inbox → case page → advance."""

        wait_time = between(_WAIT[0], _WAIT[1])
        tasks = [Round]

        def on_start(self) -> None:
            me = _PLAN["users"][next(_NEXT) % len(_PLAN["users"])]
            self.me = me
            self.cases = iter(me["cases"])
            page = self.client.get("/login", name="login form").text
            token = _CSRF.search(page)
            self.client.post("/login", name="login", allow_redirects=False, data={
                "username": me["username"], "password": _PLAN["password"], "csrf_token": token.group(1) if token else ""})
            # Every member waits until all have logged in; the last one clears the statistics, so the
            # argon2id logins of the ramp-up are not counted in the pages' latencies.
            _LOGGED_IN.append(me["username"])
            if len(_LOGGED_IN) >= self.environment.runner.target_user_count:
                self.environment.runner.stats.reset_all()
                _ALL_IN.set()
            _ALL_IN.wait()


if __name__ == "__main__":
    sys.exit(main())
