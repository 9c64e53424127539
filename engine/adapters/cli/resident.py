"""The command line's door to the user's resident command server, and the protocol both sides speak.

A short command (``show``, ``advance``, …) does about 30 ms of work, but a new Python process
spends ~0.35 s importing SQLAlchemy, Jinja and the engine before it can start. The resident server
(``engine.adapters.cli.resident_server``) pays that once: it imports everything, then forks a
child per command. The child takes this process's arguments, working folder, umask, environment
and its stdin, stdout and stderr themselves (passed over the socket as file descriptors), runs
``runner.main`` as a fresh process would, and sends back the exit code. The same design as
Mercurial's command server behind ``chg``.

This module is what the client imports, so it imports only the standard library and
``engine.app.settings`` (whose ``resident_plan`` says whether to use the server and where its socket is). It never
makes a command run twice or not at all: whenever the server cannot take a command (none running,
a folder that is not private, a server whose code is older than the files on disk, anything
unexpected before the child has said it started), the command runs in this process instead, and a
missing or outdated server is started for the next command.

The socket lies in a folder only this user can open (mode 0700, owned by them, not a link); the
server also checks each peer's uid. Both sides are the same user, so nothing crosses a privilege
boundary.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import stat
import struct
import sys
from pathlib import Path
from typing import Any

RESIDENT_COMMANDS = frozenset({"show", "history", "advance", "submit", "inbox", "cases", "notices", "render",
                               "validate", "proof"})
"""Commands the server answers: short and never asking at a terminal (``staff`` may prompt for a
password through ``/dev/tty``, which a child of a detached server has not got; ``serve``, ``web``
and ``demo`` run long, where start-up does not matter)."""

PROTOCOL = 1
START_SECONDS = 5.0
"""How long the client waits for a child to say it has started before running the command itself."""
_HEADER = struct.Struct("!I")
_CREDENTIALS = struct.Struct("3i")
MAX_MESSAGE = 4 * 1024 * 1024
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
"""What the client passes on to the child running its command (Ctrl-C, a kill, a closed terminal)."""


class ProtocolError(Exception):
    """A message that is not the protocol's: cut short, too long, or not a JSON object."""


def send(connection: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    """One length-prefixed JSON message, with ``fds`` passed alongside (SCM_RIGHTS)."""
    body = json.dumps(message).encode("ascii")  # ASCII: undecodable names travel as \\udcXX escapes
    data = _HEADER.pack(len(body)) + body
    sent = socket.send_fds(connection, [data], fds) if fds else connection.send(data)
    if sent < len(data):
        connection.sendall(data[sent:])


def receive(connection: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any], list[int]] | None:
    """The next message and the descriptors that came with it; None at a clean end of the stream."""
    fds: list[int] = []
    if max_fds:
        data, fds, _flags, _address = socket.recv_fds(connection, _HEADER.size, max_fds)
    else:
        data = connection.recv(_HEADER.size)
    if not data:
        return None
    try:
        while len(data) < _HEADER.size:
            data += _exactly(connection, _HEADER.size - len(data))
        (length,) = _HEADER.unpack(data)
        if length > MAX_MESSAGE:
            raise ProtocolError(f"a message of {length} bytes is longer than {MAX_MESSAGE}")
        message = json.loads(_exactly(connection, length))
        if not isinstance(message, dict):
            raise ProtocolError("a message is not a JSON object")
    except (ProtocolError, ValueError):
        for fd in fds:
            os.close(fd)
        raise ProtocolError("a malformed message") from None
    return message, fds


def _exactly(connection: socket.socket, count: int) -> bytes:
    chunks = []
    while count:
        chunk = connection.recv(min(count, 65536))
        if not chunk:
            raise ProtocolError("the stream ended inside a message")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def peer_is_this_user(connection: socket.socket) -> bool:
    """Whether the process at the other end of ``connection`` runs as this process's user (SO_PEERCRED)."""
    try:
        _pid, uid, _gid = _CREDENTIALS.unpack(connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                   _CREDENTIALS.size))
    except OSError:
        return False
    return bool(uid == os.getuid())


def socket_path(folder: Path, search_path: str = "") -> Path:
    """The socket of the server for this interpreter, its flags and options, this engine (one per checkout or
    install) and the module search path ``search_path`` (``PYTHONPATH``) the server imports with."""
    import engine

    # sys.flags leaves out -W/PYTHONWARNINGS and -X options: a server started with other warning
    # filters (or -X options) would run the command with those.
    identity = "\0".join((sys.executable, sys.version, repr(sys.flags), repr(sys.warnoptions),
                          repr(sorted(sys._xoptions.items())), sys.getfilesystemencoding(),
                          str(Path(engine.__file__).resolve().parent), search_path))
    return folder / f"cli-{hashlib.sha256(identity.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}.sock"


def private_folder(folder: Path) -> bool:
    """Whether ``folder`` is (or has now been made) a real folder of this user's that nobody else can enter."""
    try:
        folder.mkdir(mode=0o700, parents=False, exist_ok=True)
        found = os.lstat(folder)
    except OSError:
        return False
    return (stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid()
            and stat.S_IMODE(found.st_mode) & 0o077 == 0)


def answered_by_resident(argv: list[str]) -> int | None:
    """Run ``argv`` in the user's resident server and give its exit code; None: run it here instead."""
    if argv[0] not in RESIDENT_COMMANDS or not hasattr(socket, "AF_UNIX") or not hasattr(os, "fork"):
        return None
    from engine.app.settings import resident_plan

    plan = resident_plan()
    if plan is None:
        return None
    environment, folder = plan
    if _background_at_a_terminal() or not private_folder(folder):
        return None
    path = socket_path(folder, environment.get("PYTHONPATH", ""))
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            connection.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            start_server(path)
            return None
        except OSError:  # a path too long for a socket, a full table of descriptors …
            return None
        if not peer_is_this_user(connection):  # the folder was swapped under us: not ours to trust
            return None
        return _hand_over(connection, argv, environment, path)
    finally:
        connection.close()


def _background_at_a_terminal() -> bool:
    """Whether we read a terminal whose foreground job is not ours (``treckk … &``): then the
    command runs here, where job control stops it when it reads; a child in the server's session,
    where that terminal is nobody's, would read it beside the shell."""
    try:
        return os.isatty(0) and os.tcgetpgrp(0) != os.getpgrp()
    except OSError:  # not our controlling terminal: no job control to keep
        return False


def _hand_over(connection: socket.socket, argv: list[str], environment: dict[str, str], path: Path) -> int | None:
    streams = [sys.stdin, sys.stdout, sys.stderr]
    try:
        folder = os.getcwd()
    except OSError:  # a working folder removed meanwhile: let the command meet that here
        return None
    # A stream Python found closed at start-up is None here, as in a process of its own; the
    # child makes it None too (and gets /dev/null on its descriptor, which may by now be ours).
    request = {"protocol": PROTOCOL, "argv": argv, "cwd": folder, "env": environment, "umask": _umask(),
               "streams": [None if s is None else [getattr(s, "encoding", None) or "utf-8",
                                                   getattr(s, "errors", None) or "strict"] for s in streams],
               "unbuffered": bool(getattr(sys.stdout, "write_through", False))}  # -u, PYTHONUNBUFFERED
    relay = _Relay()
    previous = {number: signal.signal(number, relay.received) for number in FORWARDED_SIGNALS}
    previous[signal.SIGTSTP] = signal.signal(signal.SIGTSTP, relay.suspended)
    try:
        connection.settimeout(START_SECONDS)
        try:
            send(connection, request)
            started = receive(connection)
            # The child runs the command only once told to go, and only that message carries our
            # standard streams: until then, giving up (a stuck or overloaded server) leaves it
            # nothing to do, so the command cannot run twice, and no stream of ours stays open
            # in a queue nobody reads (a pipe's reader would wait for its end).
            if started is not None and isinstance(started[0].get("pid"), int):
                _send_go(connection, [s is not None for s in streams])
        except (OSError, ProtocolError):
            started = None
        if started is None or not isinstance(started[0].get("pid"), int):
            if started is not None and started[0].get("stale"):
                start_server(path)  # the old server has gone; the next command finds a new one
            return relay.here()
        connection.settimeout(None)
        relay.child_started(started[0]["pid"])
        try:
            finished = receive(connection)
        except (OSError, ProtocolError):
            finished = None
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if (finished is None or not isinstance(finished[0].get("exit"), int)) and relay.passed_on:
        return relay.stop_as_asked(relay.passed_on[-1])  # the child died of a signal we passed on
    if finished is None or not isinstance(finished[0].get("exit"), int):
        # The command started in the child and may have done its work; running it again here
        # could do it twice. Say so, as a process killed mid-command would leave it.
        print("treckk: error: proses perintah di server residen berhenti sebelum selesai; periksa hasilnya "
              "(mis. treckk show) sebelum mengulang", file=sys.stderr)
        return 1
    code: int = finished[0]["exit"]
    return code


def _send_go(connection: socket.socket, present: list[bool]) -> None:
    """Tell the child to run the command, handing it our stdin, stdout and stderr (those ``present``)."""
    opened: list[int] = []
    fds = []
    for number in (0, 1, 2):
        try:
            # A descriptor closed when we started may hold our socket now: never hand that over
            # (a child reading it as stdin would wait for itself).
            if not present[number] or number == connection.fileno():
                raise OSError
            os.fstat(number)
            fds.append(number)
        except OSError:  # a closed standard stream: the child gets /dev/null there, as we would
            opened.append(os.open(os.devnull, os.O_RDWR))
            fds.append(opened[-1])
    try:
        send(connection, {"go": True}, fds)
    finally:
        for fd in opened:
            os.close(fd)


class _Relay:
    """Signals that reach the client: passed on to the child once it has started, kept until then."""

    def __init__(self) -> None:
        self.child: int | None = None
        self.pending: list[int] = []
        self.passed_on: list[int] = []

    def received(self, number: int, _frame: Any) -> None:
        if self.child is None:
            self.pending.append(number)
        else:
            self.passed_on.append(number)
            _pass_on(self.child, number)

    def suspended(self, _number: int, _frame: Any) -> None:
        """Ctrl-Z: stop the child too (SIGSTOP: in the server's orphaned process group SIGTSTP would be
        dropped, and a child running on would read the terminal with the shell), then stop ourselves;
        when continued, continue it (as chg does)."""
        if self.child is not None:
            _pass_on(self.child, signal.SIGSTOP)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)
        signal.signal(signal.SIGTSTP, self.suspended)
        if self.child is not None:
            _pass_on(self.child, signal.SIGCONT)

    def child_started(self, pid: int) -> None:
        self.child = pid
        self.passed_on.extend(self.pending)
        for number in self.pending:
            _pass_on(pid, number)

    def here(self) -> int | None:
        """No child ran the command: None (run it here), unless a signal came meanwhile (stop, as it asked)."""
        if not self.pending:
            return None
        return self.stop_as_asked(self.pending[0])

    @staticmethod
    def stop_as_asked(number: int) -> int:
        """End as a process of its own would at signal ``number``: 130 after Ctrl-C (the command line
        catches it), else killed by it (so a shell or service manager sees the signal, not an error)."""
        if number == signal.SIGINT:
            return 130
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        return 128 + number  # not reached unless the signal is blocked


def _pass_on(child: int, number: int) -> None:
    try:
        os.kill(child, number)
    except ProcessLookupError:
        pass


def _umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def start_server(path: Path) -> None:
    """Start a resident server on ``path`` in the background, detached from this terminal and session."""
    import subprocess

    import engine

    log = path.with_suffix(".log")
    try:
        with open(log, "ab") as output:
            subprocess.Popen([sys.executable, "-m", "engine.adapters.cli.resident_server", str(path)],
                             cwd=Path(engine.__file__).resolve().parent.parent, stdin=subprocess.DEVNULL,
                             stdout=output, stderr=output, start_new_session=True, close_fds=True)
    except OSError:
        pass  # no server then; every command runs in its own process, as before
