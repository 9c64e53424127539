"""The resident command server: a short command answered by it is the command a fresh process runs.

Each test starts a real server (``python -m engine.adapters.cli.resident_server``) on a socket in
a private runtime folder of its own, runs ``runner.py`` as a real process with
``TRECKK_RESIDENT=yes`` against a copy of the demo's SQLite database, and compares what it prints,
its exit code and what it changed with the same command run in a process of its own
(``TRECKK_RESIDENT=no``). The server reports how many commands it forked when it stops, so a test
knows the commands really went through it.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.adapters.cli.resident import private_folder, socket_path
from tests.conftest import ROOT

NOW = "2026-12-01T09:00:00+08:00"
WAIT_S = 60.0
"""The longest a test waits for a process it started to reach a state (never a fixed sleep)."""

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the resident server forks")


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("resident-demo")
    subprocess.run([sys.executable, "runner.py", "demo", "--keep", str(work), "--quiet-notices"], cwd=ROOT,
                   env={**os.environ, "TRECKK_CACHE_DIR": str(work / "cache"), "TRECKK_NOW": NOW}, check=True,
                   capture_output=True)
    return work / "treckk.db"


@dataclass
class Setup:
    env: dict[str, str]
    folder: Path
    database: Path

    @property
    def socket(self) -> Path:
        return socket_path(self.folder, self.env.get("PYTHONPATH", ""))

    def treckk(self, *args: str, resident: bool = True, stdin: str | None = None, cwd: Path = ROOT,
               closed: tuple[int, ...] = (), **env: str) -> subprocess.CompletedProcess[str]:
        """Run ``runner.py``; ``closed``: standard descriptors it starts without (``<&-``, ``>&-``, ``2>&-``)."""
        return subprocess.run([sys.executable, str(ROOT / "runner.py"), *args], cwd=cwd, input=stdin or "",
                              env={**self.env, "TRECKK_RESIDENT": "yes" if resident else "no", **env},
                              capture_output=True, text=True, timeout=WAIT_S,
                              preexec_fn=(lambda: [os.close(n) for n in closed]) if closed else None)

    def start(self, *options: str, **env: str) -> Server:
        process = subprocess.Popen([sys.executable, "-m", "engine.adapters.cli.resident_server", str(self.socket),
                                    *options], cwd=ROOT, env={**self.env, **env}, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("resident server: ready on"), first
        return Server(process)


@dataclass
class Server:
    process: subprocess.Popen[str]

    def stop(self) -> str:
        """Stop it (SIGTERM) and give what it printed after starting."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=WAIT_S)
        return out

    def served(self) -> int:
        last = self.stop().strip().splitlines()[-1]
        assert last.startswith("resident server: stopping after"), last
        return int(last.split()[-2])

    def child_reading_a_pipe(self, known: frozenset[int] = frozenset()) -> int:
        """The pid of a live child it forked, other than ``known``, once that child waits to read a pipe
        (its command has begun and asked for standard input; waits, bounded)."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    if int(fields[1]) == self.process.pid and fields[0] != "Z" and int(entry.name) not in known \
                            and "pipe" in _read(entry / "wchan"):
                        return int(entry.name)
            os.sched_yield()
        raise AssertionError("the server forked no child")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


@pytest.fixture
def setup(demo_database: Path, tmp_path: Path) -> Iterator[Setup]:
    database = tmp_path / "treckk.db"
    shutil.copy(demo_database, database)
    runtime = Path(tempfile.mkdtemp(prefix="trr-", dir="/tmp"))  # short: a socket's path is at most 107 bytes
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "TRECKK_DATABASE_URL": f"sqlite:///{database}",
           "TRECKK_CACHE_DIR": str(tmp_path / "cache"), "TRECKK_NOW": NOW,
           "TRECKK_OUTBOX_DIR": str(tmp_path / "outbox")}
    folder = runtime / "treckk"
    assert private_folder(folder)
    yield Setup(env, folder, database)
    for lock in folder.glob("*.lock"):
        pid = lock.read_text().strip()
        if pid.isdigit() and "resident_server" in _read(Path(f"/proc/{pid}/cmdline")):  # one a client started
            try:
                os.kill(int(pid), signal.SIGTERM)
            except ProcessLookupError:
                pass
    shutil.rmtree(runtime, ignore_errors=True)


def _same(cold: subprocess.CompletedProcess[str], warm: subprocess.CompletedProcess[str]) -> None:
    assert (warm.returncode, warm.stdout, warm.stderr) == (cold.returncode, cold.stdout, cold.stderr)


READS = [
    ("show", "TRK-2026-000001", "--as", "ahmad"),
    ("show", "TRK-2026-000001", "--as", "ahmad", "--json"),
    ("history", "TRK-2026-000001", "--as", "ahmad"),
    ("cases", "--as", "ahmad"),
    ("inbox", "--as", "ahmad"),
    ("notices", "--case", "TRK-2026-000001", "--as", "ahmad"),
    ("validate",),
    ("show", "TRK-2026-999999", "--as", "ahmad"),  # not found: exit 6
    ("show", "TRK-2026-000001", "--as", "nobody"),  # an unknown user
    ("show",),  # bad usage: exit 2
    ("show", "--help"),
]


def test_reads_answered_by_the_server_print_and_exit_as_a_process_of_their_own(setup: Setup) -> None:
    server = setup.start()
    pairs = [(setup.treckk(*args, resident=False), setup.treckk(*args)) for args in READS]
    assert server.served() == len(READS)
    for cold, warm in pairs:
        _same(cold, warm)
    codes = [cold.returncode for cold, _ in pairs]
    assert codes[0] == 0 and "TRK-2026-000001" in pairs[0][0].stdout
    assert codes[-4] == 6 and "not found" in pairs[-4][0].stderr
    assert codes[-2] == 2 and codes[-1] == 0


def _submitted(setup: Setup, resident: bool) -> str:
    done = setup.treckk("submit", "--as", "rina", "--set", "kanal=telepon", "--set", "uraian=-", "--set",
                        "nomor_pelapor=0812-5100-9999", resident=resident,
                        stdin="Musik keras dari rumah sebelah sejak pukul sepuluh malam.\n")
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[0]


def test_changes_through_the_server_are_made_once_with_the_client_s_stdin(setup: Setup) -> None:
    server = setup.start()
    cold_number = _submitted(setup, resident=False)
    warm_number = _submitted(setup, resident=True)  # the complaint's text comes from this client's stdin
    moves = ("teruskan", "--as", "rina", "--set", "kategori=keributan", "--set", "kecamatan=paringin", "--set",
             "lokasi=Jl. Uji")
    cold = setup.treckk("advance", cold_number, *moves, resident=False)
    warm = setup.treckk("advance", warm_number, *moves)
    again = setup.treckk("advance", warm_number, *moves)  # the same trigger a second time is refused
    shown = [setup.treckk("show", number, "--as", "ahmad", resident=False) for number in (cold_number, warm_number)]
    history = setup.treckk("history", warm_number, "--as", "ahmad", resident=False)
    assert server.served() == 3
    assert cold.returncode == warm.returncode == 0
    assert warm.stdout.replace(warm_number, cold_number) == cold.stdout
    assert again.returncode == 4 and again.stderr.startswith("treckk: error:")
    assert [s.stdout.replace(warm_number, cold_number) for s in shown] == [shown[0].stdout] * 2
    assert "Ditelaah Kepala Bidang (ditelaah)" in shown[1].stdout
    assert "Musik keras dari rumah sebelah" in shown[1].stdout
    assert history.stdout.count("teruskan") == 1


def test_the_child_reads_the_client_s_environment_and_folder_not_the_server_s(setup: Setup, tmp_path: Path) -> None:
    server = setup.start(TRECKK_DATABASE_URL="sqlite:////nonexistent/server.db")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    empty = setup.treckk("init", "--db", "sqlite:///local.db", resident=False, cwd=elsewhere)
    assert empty.returncode == 0, empty.stderr
    by_env = setup.treckk("show", "TRK-2026-000001", "--as", "ahmad")
    relative = setup.treckk("show", "TRK-2026-000001", "--as", "ahmad", "--db", "sqlite:///local.db", cwd=elsewhere)
    other_env = setup.treckk("show", "TRK-2026-000001", "--as", "ahmad",
                             TRECKK_DATABASE_URL=f"sqlite:///{elsewhere / 'local.db'}")
    bad_setting = setup.treckk("show", "TRK-2026-000001", "--as", "ahmad", TRECKK_SCAN_INTERVAL="abc")
    assert server.served() == 4
    assert by_env.returncode == 0 and "TRK-2026-000001" in by_env.stdout
    assert relative.returncode == other_env.returncode  # the empty database beside the client, both ways
    assert relative.returncode != 0 and relative.stderr == other_env.stderr
    assert bad_setting.returncode == 2 and "TRECKK_SCAN_INTERVAL='abc' is not a number" in bad_setting.stderr


def test_ctrl_c_reaches_the_command_and_a_killed_child_is_reported_not_rerun(setup: Setup) -> None:
    server = setup.start()
    before = setup.treckk("cases", "--as", "ahmad", "--json", resident=False).stdout.count('"number"')
    command = [sys.executable, str(ROOT / "runner.py"), "submit", "--as", "rina", "--set", "kanal=telepon",
               "--set", "uraian=-", "--set", "nomor_pelapor=0812-5100-9999"]
    env = {**setup.env, "TRECKK_RESIDENT": "yes"}
    children: set[int] = set()
    for sent, expected in ((signal.SIGINT, 130), (signal.SIGKILL, 1)):
        client = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        child = server.child_reading_a_pipe(frozenset(children))  # the client's stdin, which nobody writes
        children.add(child)
        if sent == signal.SIGINT:
            client.send_signal(sent)  # what a terminal's Ctrl-C does to the foreground process
        else:
            os.kill(child, sent)
        out, err = client.communicate(timeout=WAIT_S)
        assert client.returncode == expected, err
        assert out == ""
        if sent == signal.SIGKILL:
            assert "berhenti sebelum selesai" in err
    after = setup.treckk("cases", "--as", "ahmad", "--json", resident=False).stdout.count('"number"')
    assert before > 0 and after == before  # neither interrupted complaint was recorded
    assert server.served() == 2


def test_a_client_starts_a_server_and_one_whose_code_changed_on_disk_hands_over(setup: Setup, tmp_path: Path) -> None:
    modules = tmp_path / "modules"
    modules.mkdir()
    marker = modules / "sitecustomize.py"  # imported by every process on this path: one of the server's files
    marker.write_text("")
    env = {"PYTHONPATH": str(modules)}
    setup.env.update(env)
    first = setup.treckk("show", "TRK-2026-000001", "--as", "ahmad", **env)  # none yet: here, and starts one
    assert first.returncode == 0
    deadline = time.monotonic() + WAIT_S
    while not setup.socket.exists() and time.monotonic() < deadline:
        os.sched_yield()
    assert stat.S_IMODE(os.stat(setup.socket).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(setup.folder).st_mode) == 0o700
    pid = int(setup.socket.with_suffix(".lock").read_text())
    served = setup.treckk("show", "TRK-2026-000001", "--as", "ahmad", **env)
    os.utime(marker, ns=(time.time_ns(), time.time_ns() + 10**9))
    handed_over = setup.treckk("show", "TRK-2026-000001", "--as", "ahmad", **env)
    assert served.stdout == handed_over.stdout == first.stdout
    assert handed_over.returncode == 0
    log = setup.socket.with_suffix(".log")
    deadline = time.monotonic() + WAIT_S
    while "stopping after" not in log.read_text() and time.monotonic() < deadline:
        os.sched_yield()
    assert f"ready on {setup.socket} (pid {pid})" in log.read_text()
    assert f"{marker} changed on disk" in log.read_text()
    assert "stopping after 1 commands" in log.read_text()


def test_a_folder_others_can_enter_is_not_used(setup: Setup) -> None:
    os.chmod(setup.folder, 0o777)
    done = setup.treckk("show", "TRK-2026-000001", "--as", "ahmad")
    assert done.returncode == 0 and "TRK-2026-000001" in done.stdout
    assert list(setup.folder.iterdir()) == []  # no socket, lock or log: no server was started there


def test_a_link_or_another_s_folder_is_not_private(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    assert private_folder(real) and not private_folder(link)
    os.chmod(real, 0o750)
    assert not private_folder(real)
    assert not private_folder(tmp_path / "missing" / "treckk")  # its parent is not made


def test_garbage_on_the_socket_is_dropped_and_the_server_serves_on(setup: Setup) -> None:
    import socket

    server = setup.start()
    for junk in (b"", b"\x00\x00\x00\x05nope!", b"\xff\xff\xff\xff", b"\x00\x00\x00\x02{}"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as peer:
            peer.connect(str(setup.socket))
            peer.sendall(junk)
            peer.shutdown(socket.SHUT_WR)
            assert peer.recv(100) == b""  # nothing forked, nothing answered
    done = setup.treckk("show", "TRK-2026-000001", "--as", "ahmad")
    assert done.returncode == 0 and "TRK-2026-000001" in done.stdout
    assert server.served() == 1


def test_commands_at_once_each_get_their_own_child(setup: Setup) -> None:
    server = setup.start()
    numbers = [_submitted(setup, resident=False) for _ in range(4)]
    env = {**setup.env, "TRECKK_RESIDENT": "yes"}
    clients = [subprocess.Popen([sys.executable, str(ROOT / "runner.py"), "advance", number, "teruskan", "--as",
                                 "rina", "--set", "kategori=keributan", "--set", "kecamatan=paringin", "--set",
                                 "lokasi=Jl. Uji"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for number in numbers]
    finished = [client.communicate(timeout=WAIT_S) for client in clients]
    assert [client.returncode for client in clients] == [0] * 4, finished
    for number, (out, _) in zip(numbers, finished):
        assert out.startswith(number)
        shown = setup.treckk("show", number, "--as", "ahmad", resident=False)
        assert "(ditelaah)" in shown.stdout
    assert server.served() == 4


def test_a_server_idle_too_long_stops_and_removes_its_socket(setup: Setup) -> None:
    server = setup.start("--idle", "0.1")
    assert server.process.wait(timeout=WAIT_S) == 0
    assert not setup.socket.exists()
    assert server.served() == 0


def test_a_stuck_server_is_given_up_on_and_the_command_runs_once_here(setup: Setup) -> None:
    server = setup.start()
    before = setup.treckk("cases", "--as", "ahmad", "--json", resident=False).stdout.count('"number"')
    server.process.send_signal(signal.SIGSTOP)  # accepts into its backlog, answers nothing
    try:
        number = _submitted(setup, resident=True)  # waits START_SECONDS for the child, then runs here
    finally:
        server.process.send_signal(signal.SIGCONT)
    shown = setup.treckk("show", number, "--as", "ahmad")  # queued behind the request given up on
    assert shown.returncode == 0 and number in shown.stdout
    assert server.served() == 2  # it forked for the old request too once it ran again; that child did nothing
    listed = setup.treckk("cases", "--as", "ahmad", "--json", resident=False).stdout
    assert listed.count('"number"') == before + 1 and number in listed


SUBMIT = ("submit", "--as", "rina", "--set", "kanal=telepon", "--set", "uraian=-", "--set",
          "nomor_pelapor=0812-5100-9999")


def test_standard_streams_closed_at_start_are_closed_for_the_command_too(setup: Setup) -> None:
    # With descriptor 0 (or 1, 2) closed, the client's own socket takes that number; handed over
    # as the child's stdin, the child waited for itself and the client for the child, for ever.
    server = setup.start()
    missing, found = ("show", "TRK-2026-999999", "--as", "ahmad"), ("show", "TRK-2026-000001", "--as", "ahmad")
    runs = [(SUBMIT, (0,)), (missing, (2,)), (found, (0, 1)), (missing, (0, 2))]
    pairs = [(setup.treckk(*args, resident=False, closed=closed), setup.treckk(*args, closed=closed))
             for args, closed in runs]
    assert server.served() == len(runs)
    for cold, warm in pairs:
        _same(cold, warm)
    assert pairs[0][0].returncode == 2 and "standard input, which is closed" in pairs[0][0].stderr  # no traceback
    assert pairs[1][0].returncode == 6 and "not found" in pairs[1][0].stdout  # print(file=None) goes to stdout


def _waiting_client(setup: Setup, server: Server) -> tuple[subprocess.Popen[str], int]:
    """A client whose command has begun in a child of ``server`` and waits for stdin, and that child's pid."""
    client = subprocess.Popen([sys.executable, str(ROOT / "runner.py"), *SUBMIT], cwd=ROOT,
                              env={**setup.env, "TRECKK_RESIDENT": "yes"}, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return client, server.child_reading_a_pipe()


@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGHUP])
def test_a_client_told_to_stop_stops_as_a_process_of_its_own_would(setup: Setup, sent: signal.Signals) -> None:
    server = setup.start()
    client, _child = _waiting_client(setup, server)
    client.send_signal(sent)  # passed on to the child, which dies of it
    out, err = client.communicate(timeout=WAIT_S)
    assert (client.returncode, out, err) == (-sent, "", "")  # killed by it, no "stopped before done" message
    assert server.served() == 1


def test_a_child_still_running_does_not_keep_the_next_server_from_starting(setup: Setup) -> None:
    server = setup.start()
    client, child = _waiting_client(setup, server)
    assert not any(os.readlink(fd).endswith(".lock") for fd in Path(f"/proc/{child}/fd").iterdir())
    assert server.served() == 1  # stopped (an upgrade, SIGTERM) while its child waits for the client's stdin
    successor = setup.start()  # takes the lock at once: it says it is ready
    client.communicate("Musik keras dari rumah sebelah sejak pukul sepuluh malam.\n", timeout=WAIT_S)
    assert client.returncode == 0
    assert successor.served() == 0


def test_a_stale_server_answers_stale_even_to_a_request_it_cannot_read(setup: Setup, tmp_path: Path) -> None:
    # A client of newer code may speak a newer protocol; refusing it, the old server stayed up
    # (till idle) and every command ran in a process of its own meanwhile.
    import json
    import socket
    import struct

    modules = tmp_path / "modules"
    modules.mkdir()
    marker = modules / "sitecustomize.py"
    marker.write_text("")
    setup.env["PYTHONPATH"] = str(modules)
    server = setup.start()
    os.utime(marker, ns=(time.time_ns(), time.time_ns() + 10**9))
    body = json.dumps({"protocol": 999, "argv": ["show"]}).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as peer:
        peer.connect(str(setup.socket))
        peer.sendall(struct.pack("!I", len(body)) + body)
        answer = peer.recv(100)
    assert json.loads(answer[4:]) == {"stale": True}
    assert server.served() == 0 and not setup.socket.exists()


def test_the_child_takes_the_client_s_local_zone() -> None:
    from engine.app.settings import adopt_environment

    saved = dict(os.environ)
    try:
        adopt_environment({**saved, "TZ": "Asia/Tokyo"})
        assert time.strftime("%Z", time.localtime(0)) == "JST"  # time.tzset() ran, as at a process's start
        adopt_environment({**saved, "TZ": "UTC"})
        assert time.strftime("%Z", time.localtime(0)) == "UTC"
    finally:
        adopt_environment(saved)


def test_a_client_with_other_warning_filters_is_not_answered_by_this_server(setup: Setup) -> None:
    server = setup.start()  # without PYTHONWARNINGS
    done = setup.treckk("show", "TRK-2026-000001", "--as", "ahmad", PYTHONWARNINGS="error")
    assert done.returncode == 0 and "TRK-2026-000001" in done.stdout
    assert server.served() == 0  # a server with the client's filters would be another socket


def _state(pid: int) -> str:
    return _read(Path(f"/proc/{pid}/stat")).rsplit(")", 1)[-1].split()[0]


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        os.sched_yield()


def test_ctrl_z_stops_the_child_with_the_client_and_fg_continues_both(setup: Setup) -> None:
    # The child is in the server's session: the terminal's SIGTSTP reaches only the client, and a
    # child running on would go on reading the terminal beside the shell.
    server = setup.start()
    client = subprocess.Popen([sys.executable, str(ROOT / "runner.py"), *SUBMIT], cwd=ROOT,
                              env={**setup.env, "TRECKK_RESIDENT": "yes"}, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              process_group=0)  # a job of its own, as a shell starts it
    child = server.child_reading_a_pipe()
    client.send_signal(signal.SIGTSTP)
    _until(lambda: _state(client.pid) == "T" and _state(child) == "T")
    client.send_signal(signal.SIGCONT)  # `fg`
    _until(lambda: _state(child) != "T")
    out, err = client.communicate("Musik keras dari rumah sebelah sejak pukul sepuluh malam.\n", timeout=WAIT_S)
    assert client.returncode == 0 and out.startswith("TRK-"), err
    assert server.served() == 1


def test_unbuffered_output_is_written_at_once_as_in_a_process_of_its_own(setup: Setup) -> None:
    # With -u / PYTHONUNBUFFERED the list on stdout comes before the note on stderr that follows it.
    server = setup.start(PYTHONUNBUFFERED="1")
    both = [subprocess.run([sys.executable, str(ROOT / "runner.py"), "cases", "--as", "ahmad", "--limit", "1"],
                           cwd=ROOT, env={**setup.env, "TRECKK_RESIDENT": resident, "PYTHONUNBUFFERED": "1"},
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=WAIT_S)
            for resident in ("no", "yes")]
    assert server.served() == 1
    assert both[0].returncode == both[1].returncode == 0
    assert both[1].stdout == both[0].stdout and both[0].stdout.startswith("Nomor")


BACKGROUND_JOB = """
import fcntl, os, subprocess, sys, termios
os.setsid()
terminal = os.open(os.ttyname(0), os.O_RDWR)  # our own terminal now: the pty's other end is the test
fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)
job = subprocess.Popen(sys.argv[1:], stdin=terminal, process_group=0)  # `treckk … &`: not the foreground job
print(job.pid, flush=True)
sys.exit(job.wait())
"""


def test_a_background_job_at_a_terminal_runs_in_its_own_process(setup: Setup) -> None:
    # Its child sits in the server's session, where the terminal is nobody's: it would read the
    # terminal beside the shell instead of being stopped (SIGTTIN) as a background job is.
    import pty

    server = setup.start()
    leader, follower = pty.openpty()
    shell = subprocess.Popen([sys.executable, "-c", BACKGROUND_JOB, sys.executable, str(ROOT / "runner.py"), *SUBMIT],
                             cwd=ROOT, env={**setup.env, "TRECKK_RESIDENT": "yes"}, stdin=follower,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(follower)
    try:
        assert shell.stdout is not None
        client = int(shell.stdout.readline())
        _until(lambda: _state(client) == "T")  # stopped by SIGTTIN when it read the terminal
        os.kill(client, signal.SIGKILL)
        shell.communicate(timeout=WAIT_S)
    finally:
        os.close(leader)
    assert server.served() == 0
