"""Running the web app on uvicorn: in the foreground (``treckk web``) or in a thread (``serve --web``, tests)."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

import uvicorn
from fastapi import FastAPI

from engine.errors import Unavailable

log = logging.getLogger("treckk.web")


def _config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    # No lifespan: the application is built (and closed) by the caller; access logs stay off, the
    # login record is the audit trail.
    return uvicorn.Config(app, host=host, port=port, lifespan="off", access_log=False, log_level="warning",
                          server_header=False, proxy_headers=False)


class _Server(uvicorn.Server):
    """uvicorn's server, but a signal only asks it to stop: the call returns normally (exit 0, the
    caller's clean-up runs), as ``treckk serve`` does, instead of re-raising the signal afterwards."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(_signum: int, _frame: FrameType | None) -> None:
            self.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening (port 0: a free one).

    Bound before the server starts, so a caller can announce the address once connections are
    taken (they wait in the backlog until the server accepts them). A port already in use, or an
    address this machine does not have, is ``Unavailable`` (exit 7) with one line.
    """
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it Nagle's algorithm meets delayed ACKs and every answer waits about 40 ms.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise Unavailable(f"tidak bisa mendengarkan di {host}:{port}: {error.strerror or error}; "
                          "pilih --host atau --port lain") from None
    return sock


def run(app: FastAPI, host: str, port: int, *, ready: Callable[[], None] | None = None) -> None:
    """Serve ``app`` until SIGINT or SIGTERM; returns normally after either.

    ``ready`` is called once the socket listens, before serving: what it prints is true by then.
    """
    sock = listening_socket(host, port)
    if ready is not None:
        ready()
    _Server(_config(app, host, sock.getsockname()[1])).run(sockets=[sock])


@dataclass
class RunningServer:
    """A web server running in a thread of this process."""

    server: uvicorn.Server
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Let the open requests finish, then stop."""
        self.server.should_exit = True
        self.thread.join()


def start_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``app`` in a daemon thread; the socket listens before this returns (port 0: a free one)."""
    sock = listening_socket(host, port)
    bound = sock.getsockname()[1]
    server = uvicorn.Server(_config(app, host, bound))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="treckk-web", daemon=True)
    thread.start()
    return RunningServer(server, thread, host, bound)
