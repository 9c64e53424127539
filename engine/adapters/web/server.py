"""Running the web app on uvicorn: in the foreground (``treckk web``) or in a thread (``serve --web``, tests)."""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

log = logging.getLogger("treckk.web")


def _config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    # No lifespan: the application is built (and closed) by the caller; access logs stay off, the
    # login record is the audit trail.
    return uvicorn.Config(app, host=host, port=port, lifespan="off", access_log=False, log_level="warning",
                          server_header=False, proxy_headers=False)


def run(app: FastAPI, host: str, port: int) -> None:
    """Serve ``app`` until SIGINT or SIGTERM."""
    uvicorn.Server(_config(app, host, port)).run()


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
