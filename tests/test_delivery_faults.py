"""Delivery against receivers that misbehave: real sockets on loopback, each peer on its own threads.

Four ways to misbehave, for SMTP and for HTTP (the webhook): **trickling** (one byte every 2 s,
so no single socket operation ever times out), **hanging** (accepts and says nothing),
**resetting** (accepts and answers with a TCP reset) and **half-answering** (SMTP: greets and
answers EHLO, then says nothing to MAIL; HTTP: sends its status line and headers, then stalls in
the body). With one of them configured next to the file channel:

- a delivery run returns, every notice on the file channel is sent, and the faulty channel's
  notices are kept pending with an error saying what happened (a deadline of 1 s here);
- the faulty peer sees its connection closed: no thread is left reading from it;
- ``treckk serve`` (a real process, its deadline 60 s so a send is surely under way) delivers the
  file channel's notices while the faulty send hangs, and exits 0 within 5 s of SIGTERM, giving
  the notice back unsent (no attempt counted).
"""

from __future__ import annotations

import signal
import socket
import socketserver
import struct
import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.app.commands import Commands
from engine.app.settings import PREFIX, Settings
from engine.channels.registry import open_channels
from engine.store import notice_rows
from engine.store.notice_rows import NoticeRow
from tests.conftest import FakeClock
from tests.test_escalation import treckk_process
from tests.test_serve_process import wait_for

FAULTS = ("trickling", "hanging", "resetting", "half-answering")
PROTOCOLS = ("smtp", "webhook")


class FaultyPeer(socketserver.ThreadingTCPServer):
    """A receiver on loopback that misbehaves in one of the ``FAULTS`` ways, speaking SMTP or HTTP."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, protocol: str, fault: str) -> None:
        super().__init__(("127.0.0.1", 0), _FaultHandler)
        self.protocol, self.fault = protocol, fault
        self.stop = threading.Event()
        self.connected = threading.Event()
        """Set when a client connected (a send is under way)."""
        self.hung_up = threading.Event()
        """Set when a client closed or shut down its side of a connection."""

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client cutting the connection is what the tests expect


class _FaultHandler(socketserver.BaseRequestHandler):
    server: FaultyPeer
    request: socket.socket

    def handle(self) -> None:
        peer, sock = self.server, self.request
        peer.connected.set()
        sock.settimeout(0.2)
        try:
            getattr(self, f"_{peer.protocol}_{peer.fault.replace('-', '_')}")()
        except OSError:
            pass  # the client shut the connection while the peer was writing to it
        if self._client_gone():
            peer.hung_up.set()

    # -- helpers ------------------------------------------------------------------------------
    def _client_gone(self) -> bool:
        """Wait (until the test ends) for the client to close its side; True when it did."""
        while not self.server.stop.is_set():
            try:
                if self.request.recv(4096) == b"":
                    return True
            except socket.timeout:
                continue
            except OSError:
                return True
        return False

    def _read_until(self, marker: bytes) -> None:
        seen = b""
        while marker not in seen and not self.server.stop.is_set():
            try:
                chunk = self.request.recv(4096)
            except socket.timeout:
                continue
            if not chunk:
                return
            seen += chunk

    def _trickle(self, text: bytes) -> None:
        for byte in text:
            self.request.sendall(bytes([byte]))
            if self.server.stop.wait(2.0):
                return

    def _reset(self) -> None:
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.request.close()

    # -- SMTP ---------------------------------------------------------------------------------
    def _smtp_trickling(self) -> None:
        self._trickle(b"220 pelan.example ESMTP siap\r\n" * 10)

    def _smtp_hanging(self) -> None:
        return  # says nothing; _client_gone waits for the client to give up

    def _smtp_resetting(self) -> None:
        self._reset()

    def _smtp_half_answering(self) -> None:
        self.request.sendall(b"220 setengah.example ESMTP\r\n")
        self._read_until(b"\r\n")
        self.request.sendall(b"250 setengah.example\r\n")
        # MAIL FROM is never answered.

    # -- HTTP ---------------------------------------------------------------------------------
    def _webhook_trickling(self) -> None:
        self._read_until(b"\r\n\r\n")
        self._trickle(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")

    def _webhook_hanging(self) -> None:
        return

    def _webhook_resetting(self) -> None:
        self._read_until(b"\r\n\r\n")
        self._reset()

    def _webhook_half_answering(self) -> None:
        self._read_until(b"\r\n\r\n")
        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")


@pytest.fixture
def peer(request: pytest.FixtureRequest) -> Iterator[FaultyPeer]:
    protocol, fault = request.param
    server = FaultyPeer(protocol, fault)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.stop.set()
    server.shutdown()
    server.server_close()


CASES = [pytest.param((protocol, fault), id=f"{protocol}-{fault}") for protocol in PROTOCOLS for fault in FAULTS]


def channel_environment(peer: FaultyPeer, deadline: float, outbox: Path) -> dict[str, str]:
    """The settings that configure the faulty channel (with ``deadline`` per send) and the file channel."""
    if peer.protocol == "smtp":
        faulty = {"TRECKK_SMTP_HOST": "127.0.0.1", "TRECKK_SMTP_PORT": str(peer.port),
                  "TRECKK_SMTP_TIMEOUT": f"{deadline:g}"}
    else:
        faulty = {"TRECKK_WEBHOOK_URL": f"http://127.0.0.1:{peer.port}/kirim?key=rahasia",
                  "TRECKK_WEBHOOK_TIMEOUT": f"{deadline:g}"}
    return {**faulty, "TRECKK_OUTBOX_DIR": str(outbox)}


def queue_notices(engine: Commands, clock: FakeClock, faulty: str, count: int = 3) -> None:
    """``count`` notices due now on the faulty channel and as many on the file channel, interleaved."""
    address = {"smtp": "kabid@balangankab.go.id", "webhook": "+6281255550101"}[faulty]
    rows = []
    for index in range(count):
        for channel, to in ((faulty, address), ("file", None)):
            rows.append({"message_id": f"{channel}-{index}-{'0' * 20}@treckk", "case_id": None, "event_seq": None,
                         "source": "schedule:uji", "template": "uji.txt.j2", "recipient_kind": "staff",
                         "recipient_name": "Kepala Bidang", "recipient_username": "kabid",
                         "recipient_role": "kabid", "channel": channel, "address": to,
                         "subject": f"Uji {index}", "body": "Isi uji\n", "is_html": False, "status": "pending",
                         "attempts": 0, "next_attempt_at": clock() - timedelta(minutes=1), "last_error": None,
                         "created_at": clock() - timedelta(minutes=1), "sent_at": None})
    engine.db.transaction(lambda connection: notice_rows.insert_notices(connection, rows))


def outbox(engine: Commands) -> list[NoticeRow]:
    return engine.db.transaction(lambda c: notice_rows.list_notices(c))


EXPECTED = {"trickling": "did not finish within 1 s", "hanging": "did not finish within 1 s",
            "half-answering": "did not finish within 1 s", "resetting": ""}


@pytest.mark.parametrize("peer", CASES, indirect=True)
def test_a_misbehaving_receiver_delays_only_its_own_notices(engine: Commands, clock: FakeClock, home: Path,
                                                            tmp_path: Path, peer: FaultyPeer) -> None:
    queue_notices(engine, clock, peer.protocol, count=2)
    environment = {"TRECKK_HOME": str(home), **channel_environment(peer, 1.0, tmp_path / "outbox")}
    with open_channels(Settings.from_environment(environment).channels, prefix=PREFIX) as channels:
        report = engine.deliver(channels=channels)
    assert report.claimed == 4
    by_channel = {row.message_id: row for row in outbox(engine)}
    files = [row for row in by_channel.values() if row.channel == "file"]
    faulty = [row for row in by_channel.values() if row.channel == peer.protocol]
    assert [row.status for row in files] == ["sent"] * 2
    for row in faulty:
        assert row.status == "pending" and row.attempts == 1, row
        assert row.next_attempt_at is not None and row.next_attempt_at > clock()  # retried with backoff
        assert row.last_error is not None and EXPECTED[peer.fault] in row.last_error
        assert "rahasia" not in row.last_error  # the URL's key is not stored
    # The send let go of the connection: no thread is left reading from the peer.
    assert peer.hung_up.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("peer", CASES, indirect=True)
def test_serve_delivers_other_channels_and_stops_on_sigterm_whatever_the_receiver_does(
        engine: Commands, clock: FakeClock, database_url: str, tmp_path: Path, peer: FaultyPeer) -> None:
    queue_notices(engine, clock, peer.protocol, count=12)  # more than one batch on each channel
    env = channel_environment(peer, 60.0, tmp_path / "outbox")
    process = treckk_process(["serve", "--scan-interval", "3600"], database_url, clock(), extra_env=env)
    try:
        wait_for(lambda: sum(row.status == "sent" for row in outbox(engine) if row.message_id.startswith("file-")) == 12
                 or process.poll() is not None, "every notice on the file channel to be sent")
        assert process.poll() is None, process.communicate()
        assert peer.connected.wait(timeout=30)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail("serve did not exit within 5 s of SIGTERM")
        _, err = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    faulty = [row for row in outbox(engine) if row.channel == peer.protocol]
    assert all(row.status == "pending" for row in faulty)
    if peer.fault != "resetting":
        # The send under way was given back, its attempt not counted; the others were not tried.
        assert all(row.attempts == 0 for row in faulty), [(r.attempts, r.last_error) for r in faulty]
        assert any("delivery stopped" in (row.last_error or "") for row in faulty)
