"""The user's resident command server: imports the engine once, then forks one child per short command.

Started in the background by the command line's client (``engine.adapters.cli.resident``) as
``python -m engine.adapters.cli.resident_server SOCKET``; one per user, interpreter and engine
(the socket's name says which). It holds a lock beside its socket for its whole life, so two
clients starting one at once leave one server. It serves until it has been idle for
``IDLE_SECONDS``, until SIGTERM, or until a file of a module it loaded has changed on disk (an
upgrade, an edit): then it answers "stale" to the next client, which runs that command itself,
and exits, and the client starts a server of the new code.

The parent never opens a database, reads a setting or a definition: it only imports modules and
builds the argument parsers, which read nothing from the environment. Everything a command
reads, its child reads after taking the client's environment, working folder and standard
streams, as a new process would; the compile cache on disk keeps the parsed definition between
children as it does between processes.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib
import io
import os
import pkgutil
import signal
import socket
import sys
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

from engine.adapters.cli.resident import PROTOCOL, RESIDENT_COMMANDS, ProtocolError, peer_is_this_user, receive, send

IDLE_SECONDS = 900.0
"""How long the server waits for the next command before it exits."""
REQUEST_SECONDS = 5.0
"""How long a client may take to send its request once connected."""
_NOT_PRELOADED = ("engine.adapters.web", "engine.adapters.scheduler")
"""Modules the resident commands never use (the web app's FastAPI is a tenth of a second alone)."""
_DRIVERS = ("sqlalchemy.dialects.sqlite.pysqlite", "sqlalchemy.dialects.postgresql.psycopg", "psycopg", "jinja2")


def preload() -> None:
    """Import what the resident commands use, and build their parsers, once for every child."""
    import engine
    import runner

    for module in pkgutil.walk_packages(engine.__path__, "engine."):
        if not module.name.startswith(_NOT_PRELOADED):
            importlib.import_module(module.name)
    for name in _DRIVERS:
        try:
            importlib.import_module(name)
        except ImportError:  # e.g. no PostgreSQL driver installed: a child imports what it needs
            pass
    for command in RESIDENT_COMMANDS:
        runner._shared_parser(command)


class LoadedFiles:
    """The files of every module this process has imported, as they were when it imported them."""

    def __init__(self, paths: Iterable[str]) -> None:
        self._seen = {path: self._state(path) for path in paths}

    @classmethod
    def of_modules(cls) -> LoadedFiles:
        return cls(sorted({path for module in list(sys.modules.values())
                           if isinstance(path := getattr(module, "__file__", None), str)}))

    @staticmethod
    def _state(path: str) -> tuple[int, int, int] | None:
        try:
            found = os.stat(path)
        except OSError:
            return None
        return found.st_mtime_ns, found.st_size, found.st_ino

    def changed(self) -> str | None:
        """The first file that is no longer what was imported, or None."""
        return next((path for path, state in self._seen.items() if self._state(path) != state), None)


class Server:
    """The accept loop: one connection, one checked request, one forked child."""

    def __init__(self, path: Path, idle_seconds: float = IDLE_SECONDS) -> None:
        self.path = path
        self.idle_seconds = idle_seconds
        self.stopping = False
        self.children: set[int] = set()
        self.served = 0

    def run(self) -> int:
        lock = self._lock = open(self.path.with_suffix(".lock"), "a")  # noqa: SIM115 - held for the server's life
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # another server already serves this socket
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")  # who serves, for a person (or a test) who wants it stopped
        lock.flush()
        preload()
        loaded = LoadedFiles.of_modules()
        listener = self._listen()
        print(f"resident server: ready on {self.path} (pid {os.getpid()})", flush=True)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            self._serve(listener, loaded)
        finally:
            self._forget(listener)
        print(f"resident server: stopping after {self.served} commands", flush=True)
        return 0

    def _listen(self) -> socket.socket:
        try:
            self.path.unlink()  # a socket left by a server that died: we hold the lock, so it is nobody's
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        previous = os.umask(0o177)
        try:
            listener.bind(str(self.path))
        finally:
            os.umask(previous)
        listener.listen(32)
        self._inode = os.stat(self.path).st_ino
        return listener

    def _forget(self, listener: socket.socket) -> None:
        """Stop listening, remove our socket and let the lock go (so a successor can start at once)."""
        if listener.fileno() < 0:
            return
        listener.close()
        try:
            if os.stat(self.path).st_ino == self._inode:
                self.path.unlink()
        except FileNotFoundError:
            pass
        self._lock.close()

    def _stop(self, _number: int, _frame: Any) -> None:
        self.stopping = True

    def _serve(self, listener: socket.socket, loaded: LoadedFiles) -> None:
        last = time.monotonic()
        while not self.stopping:
            self._reap()
            remaining = self.idle_seconds - (time.monotonic() - last)
            if remaining <= 0 and not self.children:
                return
            listener.settimeout(max(min(remaining, 1.0), 0.05))
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except InterruptedError:
                continue
            last = time.monotonic()
            with connection:
                if self._take(connection, listener, loaded) == "stale":
                    # Gone before the answer, so the server the client starts next can take over.
                    self._forget(listener)
                    _quietly_send(connection, {"stale": True})
                    return

    def _take(self, connection: socket.socket, listener: socket.socket, loaded: LoadedFiles) -> str:
        if not peer_is_this_user(connection):
            return "refused"
        connection.settimeout(REQUEST_SECONDS)
        try:
            received = receive(connection)
        except (OSError, ProtocolError):
            return "refused"
        if received is None:
            return "refused"
        # Stale first: a client of newer code may speak a newer protocol, which this server must
        # answer with "stale" (and go), not refuse for as long as it stays up.
        changed = loaded.changed()
        if changed is not None:
            print(f"resident server: {changed} changed on disk", flush=True)
            return "stale"
        request = received[0]
        if request.get("protocol") != PROTOCOL or not _well_formed(request):
            return "refused"
        pid = os.fork()
        if pid == 0:
            self._lock.close()  # the child must not hold the lock: a successor could not start while it runs
            _child(connection, listener, request)
        self.children.add(pid)
        self.served += 1
        return "forked"

    def _reap(self) -> None:
        for pid in list(self.children):
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.children.discard(pid)


def _well_formed(request: dict[str, Any]) -> bool:
    argv, env, streams = request.get("argv"), request.get("env"), request.get("streams")
    return (isinstance(argv, list) and bool(argv) and all(isinstance(a, str) for a in argv)
            and argv[0] in RESIDENT_COMMANDS and isinstance(request.get("cwd"), str)
            and isinstance(request.get("umask"), int) and isinstance(env, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
            and isinstance(streams, list) and len(streams) == 3
            and all(s is None or (isinstance(s, list) and len(s) == 2 and all(isinstance(p, str) for p in s))
                    for s in streams))


def _quietly_send(connection: socket.socket, message: dict[str, Any]) -> bool:
    try:
        send(connection, message)
    except OSError:
        return False
    return True


def _child(connection: socket.socket, listener: socket.socket, request: dict[str, Any]) -> NoReturn:
    """Become the client's process for one command: its streams, folder, umask and environment; then run it."""
    code = 1
    try:
        listener.close()
        for restored in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(restored, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        fds = _told_to_go(connection) if _quietly_send(connection, {"pid": os.getpid()}) else []
        if not fds:
            os._exit(1)  # the client gave up before the command began (and runs it itself): do nothing
        for number, fd in enumerate(fds):
            os.dup2(fd, number)
            if fd > 2:
                os.close(fd)
        _standard_streams(request["streams"], request.get("unbuffered") is True)
        from engine.app.settings import adopt_environment

        adopt_environment(request["env"])
        os.umask(request["umask"])
        sys.argv = ["treckk", *request["argv"]]
        try:
            os.chdir(request["cwd"])
        except OSError as error:
            print(f"treckk: error: folder kerja {request['cwd']!r} tidak dapat dibuka ({error.strerror})",
                  file=sys.stderr)
            code = 1
        else:
            code = _run(request["argv"])
        _flush()
    except KeyboardInterrupt:  # a Ctrl-C the client passed on before the command began
        code = 130
    except BaseException:  # noqa: BLE001 - whatever happens, the client gets an exit code
        traceback.print_exc()
        code = 1
    _quietly_send(connection, {"exit": code})
    os._exit(code & 0xFF)


def _told_to_go(connection: socket.socket) -> list[int]:
    """The client's stdin, stdout and stderr, sent with its "go"; empty if it gave up instead."""
    connection.settimeout(REQUEST_SECONDS)
    try:
        answer = receive(connection, max_fds=3)
    except (OSError, ProtocolError):
        return []
    finally:
        connection.settimeout(None)
    if answer is None:
        return []
    message, fds = answer
    if message.get("go") is True and len(fds) == 3:
        return fds
    for fd in fds:
        os.close(fd)
    return []


def _run(argv: list[str]) -> int:
    import runner

    try:
        return runner.main(argv)
    except SystemExit as stop:  # argparse's usage errors and --help, as sys.exit in a process
        if stop.code is None or isinstance(stop.code, int):
            return stop.code or 0
        print(stop.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _standard_streams(streams: list[list[str] | None], unbuffered_output: bool = False) -> None:
    """New sys.stdin/stdout/stderr on descriptors 0-2, encoded and buffered as the client's were;
    None where the client's was None (closed when it started), as in a process of its own."""
    def wrapped(number: int, stream: list[str] | None) -> io.TextIOWrapper | None:
        if stream is None:
            return None
        encoding, errors = stream
        unbuffered = number > 0 and unbuffered_output  # the client's -u or PYTHONUNBUFFERED: written at once
        return io.TextIOWrapper(io.open(number, "rb" if number == 0 else "wb", buffering=0 if unbuffered else -1,
                                        closefd=False),
                                encoding=encoding, errors=errors, write_through=unbuffered,
                                line_buffering=number == 2 or (number == 1 and os.isatty(1)))

    sys.stdin, sys.stdout, sys.stderr = (wrapped(number, stream) for number, stream in enumerate(streams))


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (BrokenPipeError, OSError):
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.adapters.cli.resident_server")
    parser.add_argument("socket", type=Path)
    parser.add_argument("--idle", type=float, default=IDLE_SECONDS, help="seconds without a command before exiting")
    args = parser.parse_args(argv)
    os.chdir("/")
    return Server(args.socket, args.idle).run()


if __name__ == "__main__":
    sys.exit(main())
