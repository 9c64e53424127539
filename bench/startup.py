"""Start-up cost: whole processes (`treckk --help`, `show`, `advance`, `validate`) and in-process validation.

Each command is run as a process ``runs`` times (median wall time, and median CPU time of the
child, which other tenants of the machine disturb less). ``show`` and ``advance`` run on a copy of
the demo's database: ``show`` on one case, ``advance`` (``teruskan``, with its three fields) each
time on another fresh case, each in a process of its own (``TRECKK_RESIDENT=no``), and again
answered by a resident command server started before (``engine.adapters.cli.resident_server``;
the process timed is the command line's client, and its wall time includes the server's child
doing the work; its CPU column is the client's alone), with the compile cache (``TRECKK_CACHE_DIR``) warmed by one run
before, as every command after a deploy finds it; ``show`` is also measured with the cache off
(every process compiles and checks the definition in full, as before the cache). Two floors are
measured the same way: the interpreter alone and ``import sqlalchemy`` alone.

Wall and CPU times follow the load of a shared machine; where ``valgrind`` is installed, the
instructions each process executes are counted too (one run each, under callgrind): a count does
not change with the load, so it compares a command with the floors, and one run with another,
whatever else the machine was doing.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-12-01T09:00:00+08:00"


def _run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _median(commands: list[list[str]], env: dict[str, str]) -> dict[str, float]:
    samples = [_run(command, env) for command in commands]
    return {"median_s": statistics.median(s[0] for s in samples), "cpu_median_s": statistics.median(s[1] for s in samples),
            "min_s": min(s[0] for s in samples)}


def _instructions(command: list[str], env: dict[str, str]) -> int | None:
    """Instructions one process executes (callgrind's count), or None without valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    done = subprocess.run([valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *command], cwd=ROOT,
                          env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in done.stderr.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1].strip())
    return None


@contextlib.contextmanager
def _resident_server(env: dict[str, str], work: Path) -> Iterator[dict[str, str]]:
    """A resident command server of its own under ``work``; yields the environment of its clients."""
    from engine.adapters.cli.resident import private_folder

    runtime = Path(tempfile.mkdtemp(prefix="trb-", dir="/tmp"))  # a socket's path is at most 107 bytes
    folder = runtime / "treckk"
    if not private_folder(folder):
        raise RuntimeError(f"{folder} cannot be made a private folder")
    clients = {**env, "TRECKK_RESIDENT": "yes", "XDG_RUNTIME_DIR": str(runtime)}
    # The socket's name depends on the interpreter's flags, which the clients' environment sets
    # (this process may run with PYTHONDONTWRITEBYTECODE, they do not): ask a process like theirs.
    named = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from engine.adapters.cli."
                            "resident import socket_path; print(socket_path(Path(sys.argv[1]), sys.argv[2]))",
                            str(folder), env.get("PYTHONPATH", "")], cwd=ROOT, env=clients, check=True,
                           capture_output=True, text=True)
    server = subprocess.Popen([sys.executable, "-m", "engine.adapters.cli.resident_server", named.stdout.strip()],
                              cwd=ROOT, env=clients, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        if not server.stdout.readline().startswith("resident server: ready"):
            raise RuntimeError("the resident server did not start")
        yield clients
    finally:
        server.send_signal(signal.SIGTERM)
        said = server.communicate(timeout=60)[0]
        own_lock = Path(named.stdout.strip()).with_suffix(".lock").name
        others = [lock for lock in folder.glob("*.lock") if lock.name != own_lock]
        for lock in others:  # a server a client started: the rows above would not be this server's
            try:
                os.kill(int(lock.read_text().strip()), signal.SIGTERM)
            except (ValueError, ProcessLookupError):
                pass
        shutil.rmtree(runtime, ignore_errors=True)
    if others or "stopping after 0 commands" in said:
        raise RuntimeError("the clients were not answered by the bench's resident server")


def _treckk(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "runner.py"), *args]


def _prepare(work: Path, env: dict[str, str], fresh: int) -> list[str]:
    """The demo's database under ``work``, plus ``fresh`` new complaints (their numbers) to advance."""
    subprocess.run(_treckk("demo", "--keep", str(work), "--quiet-notices"), cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    numbers = []
    for index in range(fresh):
        done = subprocess.run(_treckk("submit", "--as", "rina", "--set", "kanal=telepon", "--set",
                                      f"uraian=Keluhan uji ke-{index + 1}: musik keras tengah malam.",
                                      "--set", "nomor_pelapor=0812-5100-9999"),
                              cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        numbers.append(done.stdout.strip().split()[0])
    return numbers


def startup(runs: int = 5) -> dict[str, Any]:
    from engine.compile.workflow import _compile_cached, bundle_from_files

    results: dict[str, Any] = {"runs": runs}
    with tempfile.TemporaryDirectory(prefix="treckk-startup-") as tmp:
        work = Path(tmp)
        # Any value of PYTHONDONTWRITEBYTECODE (even "0") stops Python writing bytecode: every process
        # would then compile the engine's sources again, which no installed engine does.
        env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
               "TRECKK_DATABASE_URL": f"sqlite:///{work / 'treckk.db'}", "TRECKK_RESIDENT": "no",
               "TRECKK_CACHE_DIR": str(work / "cache"), "TRECKK_NOW": NOW, "TRECKK_OUTBOX_DIR": str(work / "files")}
        numbers = _prepare(work, env, 2 * runs + 2)

        def advance(number: str) -> list[str]:
            return _treckk("advance", number, "teruskan", "--as", "rina", "--set", "kategori=keributan", "--set",
                           "kecamatan=paringin", "--set", "lokasi=Jl. Uji")

        show = _treckk("show", "TRK-2026-000001", "--as", "ahmad")
        _run(show, env)  # warms the file cache and bytecode, and leaves the compile cache's mark
        _run(advance(numbers[-1]), env)  # and the templates' code
        results["floor_python"] = _median([[sys.executable, "-c", "pass"]] * runs, env)
        results["floor_import_sqlalchemy"] = _median([[sys.executable, "-c", "import sqlalchemy"]] * runs, env)
        results["help"] = _median([_treckk("--help")] * runs, env)
        results["show"] = _median([show] * runs, env)
        results["advance"] = _median([advance(number) for number in numbers[:runs]], env)
        results["show_cache_off"] = _median([show] * runs, {**env, "TRECKK_CACHE_DIR": "off"})
        results["validate"] = _median([_treckk("validate")] * runs, env)
        with _resident_server(env, work) as resident:
            _run(show, resident)  # the server's first child: the file cache
            results["show_resident"] = _median([show] * runs, resident)
            results["advance_resident"] = _median([advance(number) for number in numbers[runs:2 * runs]], resident)
        counted = {"floor_python": [sys.executable, "-c", "pass"],
                   "floor_import_sqlalchemy": [sys.executable, "-c", "import sqlalchemy"],
                   "help": _treckk("--help"), "show": show, "advance": advance(numbers[-2])}
        for key, command in counted.items():
            instructions = _instructions(command, env)
            if instructions is not None:
                results[key]["instructions"] = instructions
    bundle = bundle_from_files(ROOT / "workflows" / "treckk.yaml")
    _compile_cached.__wrapped__(bundle.to_json())  # first compile pays imports once
    samples = []
    for _ in range(max(runs, 10)):
        started = time.perf_counter()
        _compile_cached.__wrapped__(bundle_from_files(ROOT / "workflows" / "treckk.yaml").to_json())
        samples.append(time.perf_counter() - started)
    results["load_validate_ms"] = statistics.median(samples) * 1000
    # The keys earlier runs wrote, kept so results.json stays comparable.
    results["help_s"], results["validate_s"] = results["help"]["median_s"], results["validate"]["median_s"]
    return results


TARGETS = {"help": 0.1, "show": 0.3, "advance": 0.3, "show_resident": 0.3, "advance_resident": 0.3}


def table(results: dict[str, Any]) -> list[str]:
    row = "  {:<34} {:>10} {:>10} {:>8} {:>14}"
    lines = [f"start-up, whole processes (median of {results['runs']}):",
             row.format("", "wall ms", "CPU ms", "target", "instructions")]
    for key, label in (("help", "treckk --help"), ("show", "treckk show (one case)"),
                       ("advance", "treckk advance (one case, notices)"),
                       ("show_resident", "treckk show, resident server"),
                       ("advance_resident", "treckk advance, resident server"),
                       ("show_cache_off", "treckk show, cache off"),
                       ("validate", "treckk validate"), ("floor_python", "floor: python -c pass"),
                       ("floor_import_sqlalchemy", "floor: import sqlalchemy")):
        m = results.get(key)
        if m is None:  # a row earlier runs did not measure
            continue
        target = f"{TARGETS[key] * 1000:.0f}" if key in TARGETS else ""
        counted = f"{m['instructions'] / 1e6:,.0f} M" if "instructions" in m else ""
        lines.append(row.format(label, f"{m['median_s'] * 1000:.0f}", f"{m['cpu_median_s'] * 1000:.0f}", target,
                                counted))
    lines.append(f"  load+validate in-process {results['load_validate_ms']:.1f} ms")
    return lines
