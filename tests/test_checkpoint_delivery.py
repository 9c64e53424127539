"""Checkpoints leave the server: a notice to the people ``checkpoints:`` names, and a witness URL.

The witness is a real HTTP server on loopback. A send that fails stays pending and is retried
with back-off on the injected clock; a newer checkpoint supersedes an older one still owed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.adapters.scheduler import Scheduler
from engine.app.commands import Commands
from engine.app.transparency import keygen, private_key, send_to_witness, witness_sends, write_checkpoint
from engine.core import tree_heads
from engine.store import notice_rows
from tests.conftest import COMPLAINT, FakeClock


@dataclass
class Witness:
    status: int = 200
    answer: bytes = b'{"cosigned": true}'
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _WitnessHandler(BaseHTTPRequestHandler):
    server: _WitnessServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        witness = self.server.witness
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with witness.lock:
            witness.received.append({"path": self.path, "json": json.loads(body),
                                     "authorization": self.headers.get("Authorization")})
        self.send_response(witness.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(witness.answer)))
        self.end_headers()
        self.wfile.write(witness.answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _WitnessServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, witness: Witness) -> None:
        super().__init__(("127.0.0.1", 0), _WitnessHandler)
        self.witness = witness


@pytest.fixture
def witness() -> Iterator[tuple[Witness, str]]:
    state = Witness()
    server = _WitnessServer(state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state, f"http://saksi:rahasia-sekali@127.0.0.1:{server.server_address[1]}/checkpoints"
    server.shutdown()
    server.server_close()


@pytest.fixture
def key(tmp_path: Path) -> Ed25519PrivateKey:
    keygen(tmp_path / "signing.key")
    return private_key(tmp_path / "signing.key", "TRECKK_SIGNING_KEY_FILE")


def checkpoint_notices(engine: Commands) -> list[Any]:
    with engine.db.begin() as connection:
        return [row for row in notice_rows.list_notices(connection, limit=100) if row.source.startswith("checkpoint:")]


def test_each_checkpoint_is_a_notice_to_the_penanggung_jawab(engine: Commands, key: Ed25519PrivateKey,
                                                              tmp_path: Path) -> None:
    engine.submit("admin", COMPLAINT)
    written = write_checkpoint(engine, key, tmp_path / "checkpoints")
    assert written is not None
    rows = checkpoint_notices(engine)
    assert [(row.recipient_username, row.recipient_role, row.status) for row in rows] == \
        [("kasat", "penanggung_jawab", "pending")]
    with engine.db.begin() as connection:
        full = notice_rows.by_id(connection, rows[0].id)
    assert full is not None and full.body is not None
    assert f"Akar (root): {written.root}" in full.body
    assert f"Jumlah catatan: {written.size}" in full.body
    assert f"Tanda tangan: {written.signature}" in full.body
    assert full.subject.startswith(f"Tanda tangan riwayat aduan TRECKK: {written.size} catatan")
    assert full.source == f"checkpoint:{written.size}"
    # The periodic job writes nothing, and tells nobody, while the log has not grown.
    assert write_checkpoint(engine, key, tmp_path / "checkpoints", only_if_grown=True) is None
    assert len(checkpoint_notices(engine)) == 1


def test_with_the_penanggung_jawab_disabled_the_checkpoint_notice_is_kept_as_undeliverable(
        engine: Commands, key: Ed25519PrivateKey, tmp_path: Path) -> None:
    engine.set_staff_active("kasat", False)
    write_checkpoint(engine, key, tmp_path / "checkpoints")
    statuses = sorted(row.status for row in checkpoint_notices(engine))
    assert "undeliverable" in statuses


def test_the_witness_gets_the_signed_checkpoint_and_its_answer_is_kept(
        engine: Commands, key: Ed25519PrivateKey, tmp_path: Path, witness: tuple[Witness, str]) -> None:
    state, url = witness
    written = write_checkpoint(engine, key, tmp_path / "checkpoints", witness=True)
    assert written is not None
    attempt = send_to_witness(engine, url, 5.0)
    assert attempt is not None and attempt.error is None and attempt.size == written.size
    assert len(state.received) == 1
    body = state.received[0]["json"]
    assert body == written.as_json()
    assert tree_heads.from_json(body, "witness").signature_holds(key.public_key())
    assert state.received[0]["path"] == "/checkpoints"
    assert state.received[0]["authorization"].startswith("Basic ")  # the URL's user and password
    sends = witness_sends(engine)
    assert [(s.status, s.attempts, s.answer) for s in sends] == [("sent", 1, '{"cosigned": true}')]
    # Nothing is owed any more: another pass sends nothing.
    assert send_to_witness(engine, url, 5.0) is None
    assert len(state.received) == 1


def test_a_witness_that_is_down_is_retried_with_back_off_and_a_newer_checkpoint_supersedes(
        engine: Commands, key: Ed25519PrivateKey, tmp_path: Path, witness: tuple[Witness, str],
        clock: FakeClock) -> None:
    state, url = witness
    state.status, state.answer = 503, b"sedang pemeliharaan"
    first = write_checkpoint(engine, key, tmp_path / "checkpoints", witness=True)
    assert first is not None
    attempt = send_to_witness(engine, url, 5.0)
    assert attempt is not None and attempt.error is not None
    assert "HTTP 503" in attempt.error and "sedang pemeliharaan" in attempt.error
    assert "rahasia-sekali" not in attempt.error  # the URL's password is never shown or stored
    assert attempt.retry_at is not None and (attempt.retry_at - clock()).total_seconds() == 60
    # Not due again before its retry time.
    assert send_to_witness(engine, url, 5.0) is None
    clock.advance(seconds=61)
    again = send_to_witness(engine, url, 5.0)
    assert again is not None and again.error is not None
    assert again.retry_at is not None and (again.retry_at - clock()).total_seconds() == 120  # doubled
    # A newer checkpoint while the witness is down: the older one is superseded, only the newer is owed.
    engine.submit("admin", COMPLAINT)
    second = write_checkpoint(engine, key, tmp_path / "checkpoints", witness=True)
    assert second is not None and second.size > first.size
    state.status, state.answer = 200, b"ok"
    sent = send_to_witness(engine, url, 5.0)
    assert sent is not None and sent.error is None and sent.size == second.size
    assert [r["json"]["size"] for r in state.received] == [first.size, first.size, second.size]
    sends = witness_sends(engine)
    assert [(s.status, s.last_error) for s in sends] == [("sent", None), ("superseded", sends[1].last_error)]
    assert sends[1].last_error is not None and "rahasia-sekali" not in sends[1].last_error


def test_an_unreachable_witness_is_a_pending_send_not_a_failed_checkpoint(
        engine: Commands, key: Ed25519PrivateKey, tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    written = write_checkpoint(engine, key, tmp_path / "checkpoints", witness=True)
    attempt = send_to_witness(engine, f"http://127.0.0.1:{port}/", 2.0)
    assert written is not None and attempt is not None
    assert attempt.error is not None and "not reachable" in attempt.error
    assert [s.status for s in witness_sends(engine)] == ["pending"]
    assert (tmp_path / "checkpoints").is_dir() and list((tmp_path / "checkpoints").glob("checkpoint-*.json"))


def test_serve_sends_the_checkpoint_to_the_witness_right_after_writing_it(
        engine: Commands, key: Ed25519PrivateKey, tmp_path: Path, witness: tuple[Witness, str]) -> None:
    from functools import partial

    state, url = witness
    runner = Scheduler(engine, checkpoint=partial(write_checkpoint, engine, key, tmp_path / "cp", only_if_grown=True,
                                                  witness=True),
                       witness=partial(send_to_witness, engine, url, 5.0))
    runner.checkpoint_and_witness()
    assert len(state.received) == 1 and [s.status for s in witness_sends(engine)] == ["sent"]
    runner.checkpoint_and_witness()  # the log has not grown: no checkpoint, nothing sent
    assert len(state.received) == 1


def test_the_checkpoint_command_warns_when_the_witness_does_not_take_it(
        cli: Any, engine: Commands, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        witness: tuple[Witness, str]) -> None:
    state, url = witness
    keygen(tmp_path / "cli.key")
    monkeypatch.setenv("TRECKK_SIGNING_KEY_FILE", str(tmp_path / "cli.key"))
    monkeypatch.setenv("TRECKK_CHECKPOINT_DIR", str(tmp_path / "cli-checkpoints"))
    monkeypatch.setenv("TRECKK_CHECKPOINT_WITNESS_URL", url)
    state.status = 500
    result = cli("checkpoint")
    assert result.code == 0, result.err
    printed = json.loads(result.out)
    assert printed["size"] >= 1
    assert "the witness did not take it" in result.err and "HTTP 500" in result.err
    assert "rahasia-sekali" not in result.err and len(result.err.strip().splitlines()) == 1
    state.status = 200
    result = cli("checkpoint")
    assert result.code == 0 and result.err == ""
    assert [r["json"]["size"] for r in state.received][-1] == json.loads(result.out)["size"]


@pytest.mark.parametrize("value", ["ftp://saksi.example.org/", "saksi.example.org", "http://", "http://a b/",
                                   "https://[::1/"])
def test_a_bad_witness_url_is_one_clear_line(cli: Any, engine: Commands, monkeypatch: pytest.MonkeyPatch,
                                             value: str) -> None:
    monkeypatch.setenv("TRECKK_CHECKPOINT_WITNESS_URL", value)
    result = cli("checkpoint")
    assert result.code == 2
    assert "TRECKK_CHECKPOINT_WITNESS_URL" in result.err and "http:// or https://" in result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1
