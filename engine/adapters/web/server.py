"""Running the web app on uvicorn: in the foreground (``treckk web``) or in a thread (``serve --web``, tests)."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

import uvicorn
from fastapi import FastAPI

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


def run(app: FastAPI, host: str, port: int) -> None:
    """Serve ``app`` until SIGINT or SIGTERM; returns normally after either."""
    _Server(_config(app, host, port)).run()


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
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    bound = sock.getsockname()[1]
    server = uvicorn.Server(_config(app, host, bound))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="treckk-web", daemon=True)
    thread.start()
    return RunningServer(server, thread, host, bound)
