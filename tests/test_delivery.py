"""Delivery of the outbox through real channels: an SMTP server and an HTTP webhook on loopback.

No mocks and no sleeping: the engine's clock is moved by hand past backoffs and leases; servers
run in threads on 127.0.0.1 (aiosmtpd for e-mail, ``http.server`` for the WhatsApp gateway
webhook), and the tests poll them only for a bounded time. One test kills a real ``treckk
deliver`` process in the middle of a batch. Database tests run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from engine.app.settings import PREFIX, Settings
from engine.channels.base import ChannelSet, DeliveryFailure
from engine.channels.registry import open_channels
from engine.channels.file import FileChannel
from engine.channels.message import Outbound
from engine.channels.webhook import WebhookChannel, WebhookSettings
from engine.notices.delivery import outbound_of
from engine.notices.policy import DeliveryPolicy
from engine.app.outbox import retry_notices
from engine.notices.routing import Routing
from engine.app.commands import Commands
from engine.store import notice_rows
from engine.store.notice_rows import NoticeRow
from engine.store.schema import staff
from tests.conftest import COMPLAINT, ROOT, FakeClock

TOKEN = "rahasia-gateway"
EXACT = DeliveryPolicy(jitter=0.0)  # exact backoff times, so tests can name them


# -- real servers on loopback --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    """Poll a real server's state for a bounded time."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


class MailRecorder:
    """aiosmtpd handler that keeps every envelope it accepted."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(e.content, policy=email.policy.default)  # type: ignore[misc]
                for e in self.envelopes]


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def mail_server(smtp_port: int) -> Iterator[Callable[[], MailRecorder]]:
    """Starts an SMTP server on ``smtp_port`` when called (the port is closed until then)."""
    controllers: list[Controller] = []

    def start() -> MailRecorder:
        recorder = MailRecorder()
        controller = Controller(recorder, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        controllers.append(controller)
        return recorder

    yield start
    for controller in controllers:
        controller.stop()


@dataclass
class Hook:
    """State of the fake WhatsApp gateway: what it received and how it answers."""

    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    """While cleared, the gateway holds each request after recording it (a slow gateway)."""
    rendezvous: threading.Barrier | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self) -> list[str]:
        return [r["json"]["message_id"] for r in self.requests]


class _HookHandler(BaseHTTPRequestHandler):
    server: _HookServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        hook = self.server.hook
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with hook.lock:
            hook.requests.append({"path": self.path, "headers": self.headers, "json": json.loads(body)})
            meet = hook.rendezvous if len(hook.requests) <= 2 else None
        if meet is not None:
            meet.wait(timeout=10)
        hook.gate.wait(timeout=30)
        status = hook.status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"ok": 200 <= status < 300}).encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _HookServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hook: Hook) -> None:
        super().__init__(("127.0.0.1", 0), _HookHandler)
        self.hook = hook

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client killed mid-request is part of the tests


@pytest.fixture
def webhook() -> Iterator[tuple[Hook, str]]:
    hook = Hook()
    hook.gate.set()
    server = _HookServer(hook)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield hook, f"http://127.0.0.1:{server.server_address[1]}/kirim"
    hook.gate.set()
    server.shutdown()
    server.server_close()


# -- helpers -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _outbox_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRECKK_OUTBOX_DIR", str(tmp_path / "outbox"))
    for name in ("TRECKK_SMTP_HOST", "TRECKK_WEBHOOK_URL", "TRECKK_CHANNELS", "TRECKK_DELIVERY_MAX_ATTEMPTS",
                 "TRECKK_DELIVERY_BACKOFF", "TRECKK_DELIVERY_JITTER", "TRECKK_DELIVERY_LEASE"):
        monkeypatch.delenv(name, raising=False)


def route(engine: Commands, *channels: str) -> None:
    engine.routing = Routing(tuple(channels), frozenset({"file", *channels}))


def channels_of(home: Path, environ: dict[str, str]) -> ChannelSet:
    """The channels a process with this environment opens."""
    return open_channels(Settings.from_environment({"TRECKK_HOME": str(home), **environ}).channels, prefix=PREFIX)


def smtp_channels(home: Path, port: int, tmp_path: Path) -> ChannelSet:
    return channels_of(home, {"TRECKK_SMTP_HOST": "127.0.0.1", "TRECKK_SMTP_PORT": str(port),
                                            "TRECKK_SMTP_TIMEOUT": "5", "TRECKK_SMTP_FROM":
                                            "TRECKK Satpol PP Balangan <treckk@satpolpp.balangankab.go.id>",
                                            "TRECKK_OUTBOX_DIR": str(tmp_path / "outbox")})


def hook_channels(home: Path, url: str, tmp_path: Path) -> ChannelSet:
    return channels_of(home, {"TRECKK_WEBHOOK_URL": url, "TRECKK_WEBHOOK_TOKEN": TOKEN,
                                            "TRECKK_WEBHOOK_TIMEOUT": "5",
                                            "TRECKK_OUTBOX_DIR": str(tmp_path / "outbox")})


def rows(engine: Commands, status: str | None = None) -> list[NoticeRow]:
    return engine.db.transaction(lambda c: notice_rows.list_notices(c, status=status))


def row(engine: Commands, notice_id: int) -> NoticeRow:
    found = engine.db.transaction(lambda c: notice_rows.by_id(c, notice_id))
    assert found is not None
    return found


# -- e-mail ----------------------------------------------------------------------------------------


def test_email_reaches_a_real_smtp_server(engine: Commands, clock: FakeClock, home: Path, tmp_path: Path,
                                          smtp_port: int, mail_server: Callable[[], MailRecorder]) -> None:
    route(engine, "smtp")
    case = engine.submit("admin", {**COMPLAINT, "email_pelapor": "budi.santoso@contoh.id"})
    engine.advance(case.number, "teruskan", "admin")
    recorder = mail_server()
    with smtp_channels(home, smtp_port, tmp_path) as channels:
        report = engine.deliver(channels=channels)
    assert (report.sent, report.retried, report.failed) == (2, 0, 0)
    by_address = {r.address: r for r in rows(engine)}
    assert {r.status for r in by_address.values()} == {"sent"}
    assert all(r.sent_at == clock() and r.attempts == 1 for r in by_address.values())
    assert sorted(e.rcpt_tos[0] for e in recorder.envelopes) == sorted(by_address)
    assert {e.mail_from for e in recorder.envelopes} == {"treckk@satpolpp.balangankab.go.id"}
    for message in recorder.messages():
        address = message["To"].addresses[0].addr_spec
        notice = by_address[address]
        assert message["Subject"] == notice.subject and case.number in message["Subject"]
        assert message["Message-ID"] == f"<{notice.message_id}>"
        assert message["X-TRECKK-Message-ID"] == notice.message_id
        assert message["X-TRECKK-Case"] == case.number
        assert message["Auto-Submitted"] == "auto-generated"
        assert message.get_content_type() == "text/plain"
        assert case.number in message.get_content()
    receipt = by_address["budi.santoso@contoh.id"]
    [mail] = [m for m in recorder.messages() if m["To"].addresses[0].addr_spec == receipt.address]
    assert mail["To"].addresses[0].display_name == "Budi Santoso"
    assert mail.get_content().replace("\r\n", "\n").rstrip() == receipt.body.rstrip()


def test_html_notice_is_sent_with_a_plain_text_alternative(
        engine: Commands, home: Path, tmp_path: Path, smtp_port: int,
        mail_server: Callable[[], MailRecorder]) -> None:
    engine.add_staff("tim_paringin2", "Tim Paringin Dua", ["tim_treckk"], "paringin", None, "tim2@contoh.id")
    route(engine, "smtp")
    case = engine.submit("admin", COMPLAINT)
    engine.advance(case.number, "teruskan", "admin")
    engine.advance(case.number, "tugaskan", "kabid", {"instruksi": "Tertibkan <lapak> & laporkan."})
    recorder = mail_server()
    with smtp_channels(home, smtp_port, tmp_path) as channels:
        engine.deliver(channels=channels)
    [letter] = [m for m in recorder.messages() if m["X-TRECKK-Template"] == "tim_surat_perintah_tugas.html.j2"]
    assert letter["To"].addresses[0].addr_spec == "tim2@contoh.id"
    assert letter.get_content_type() == "multipart/alternative"
    plain, html = letter.get_body(("plain",)), letter.get_body(("html",))
    assert plain is not None and html is not None
    assert "SURAT PERINTAH TUGAS" in plain.get_content() and "<" not in plain.get_content().split("MEMERINTAHKAN")[0]
    assert "Tertibkan <lapak> & laporkan." in plain.get_content()
    assert "Tertibkan &lt;lapak&gt; &amp; laporkan." in html.get_content()
    assert letter["Subject"] == f"Surat Perintah Tugas {case.number}"


def test_smtp_server_down_delays_notices_then_delivers_each_once(
        engine: Commands, clock: FakeClock, home: Path, tmp_path: Path, smtp_port: int,
        mail_server: Callable[[], MailRecorder]) -> None:
    route(engine, "smtp")
    case = engine.submit("admin", {**COMPLAINT, "email_pelapor": "budi@contoh.id"})
    engine.advance(case.number, "teruskan", "admin")
    start = clock()
    with smtp_channels(home, smtp_port, tmp_path) as channels:
        report = engine.deliver(channels=channels, policy=EXACT)
        assert (report.sent, report.retried, report.failed) == (0, 2, 0)
        for notice in rows(engine):
            assert (notice.status, notice.attempts) == ("pending", 1)
            assert notice.next_attempt_at == start + timedelta(seconds=60)
            assert "not reachable" in (notice.last_error or "") and "attempt 1 of 8" in (notice.last_error or "")
        # Nothing is due during the backoff, so nothing is tried.
        assert engine.deliver(channels=channels, policy=EXACT).claimed == 0
        clock.advance(seconds=59)
        assert engine.deliver(channels=channels, policy=EXACT).claimed == 0
        recorder = mail_server()
        clock.advance(seconds=1)
        report = engine.deliver(channels=channels, policy=EXACT)
        assert (report.sent, report.retried, report.failed) == (2, 0, 0)
        clock.advance(hours=1)
        assert engine.deliver(channels=channels, policy=EXACT).claimed == 0
    notices = rows(engine)
    assert {(n.status, n.attempts, n.last_error) for n in notices} == {("sent", 2, None)}
    assert sorted(m["X-TRECKK-Message-ID"] for m in recorder.messages()) == sorted(n.message_id for n in notices)


# -- webhook ---------------------------------------------------------------------------------------


def test_webhook_reaches_a_real_http_server(engine: Commands, clock: FakeClock, home: Path, tmp_path: Path,
                                            webhook: tuple[Hook, str]) -> None:
    hook, url = webhook
    route(engine, "webhook")
    case = engine.submit("admin", COMPLAINT)
    with hook_channels(home, url, tmp_path) as channels:
        report = engine.deliver(channels=channels)
    assert report.sent == 1
    [notice] = rows(engine)
    [request] = hook.requests
    assert request["path"] == "/kirim"
    headers = request["headers"]
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Idempotency-Key"] == notice.message_id == headers["X-TRECKK-Message-ID"]
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    body = request["json"]
    assert body["message_id"] == notice.message_id
    assert body["to"] == "+6281255550101" and body["name"] == "Budi Santoso"
    assert body["subject"] == notice.subject and case.number in body["subject"]
    assert body["text"] == notice.body and body["html"] is None
    assert body["case"] == case.number and body["template"] == "pelapor_tanda_terima.txt.j2"
    assert (notice.status, notice.sent_at) == ("sent", clock())


def test_webhook_answering_500_is_retried_with_backoff_then_failed_then_retried_by_hand(
        engine: Commands, clock: FakeClock, home: Path, tmp_path: Path, webhook: tuple[Hook, str],
        cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    hook, url = webhook
    hook.status = 500
    route(engine, "webhook")
    engine.submit("admin", COMPLAINT)
    [notice] = rows(engine)
    delays = []
    with hook_channels(home, url, tmp_path) as channels:
        for attempt in range(1, 8):
            before = clock()
            report = engine.deliver(channels=channels, policy=EXACT)
            assert (report.sent, report.retried, report.failed) == (0, 1, 0)
            current = row(engine, notice.id)
            assert (current.status, current.attempts) == ("pending", attempt)
            assert "HTTP 500" in (current.last_error or "")
            assert current.next_attempt_at is not None
            delays.append((current.next_attempt_at - before).total_seconds())
            clock.set(current.next_attempt_at - timedelta(seconds=1))
            assert engine.deliver(channels=channels, policy=EXACT).claimed == 0
            clock.set(current.next_attempt_at)
        report = engine.deliver(channels=channels, policy=EXACT)
    assert (report.sent, report.retried, report.failed) == (0, 0, 1)
    assert delays == [60, 120, 240, 480, 960, 1920, 3600]  # doubling, capped at an hour
    failed = row(engine, notice.id)
    assert (failed.status, failed.attempts, failed.next_attempt_at) == ("failed", 8, None)
    assert failed.last_error is not None and failed.last_error.startswith("gave up after 8 attempts")
    assert hook.ids() == [notice.message_id] * 8  # the same message id on every attempt

    # Put back by hand; delivered once the gateway is healthy.
    monkeypatch.setenv("TRECKK_WEBHOOK_URL", url)
    monkeypatch.setenv("TRECKK_WEBHOOK_TOKEN", TOKEN)
    result = cli("notices", "retry", str(notice.id))
    assert (result.code, result.err) == (0, "")
    again = row(engine, notice.id)
    assert (again.status, again.attempts, again.next_attempt_at) == ("pending", 0, clock())
    hook.status = 200
    result = cli("deliver", "--json")
    assert result.code == 0 and json.loads(result.out)["sent"] == 1
    assert row(engine, notice.id).status == "sent"
    assert hook.ids() == [notice.message_id] * 9


def test_webhook_refusing_the_message_fails_it_at_once_and_retry_uses_the_corrected_number(
        engine: Commands, clock: FakeClock, home: Path, tmp_path: Path, webhook: tuple[Hook, str]) -> None:
    hook, url = webhook
    hook.status = 422
    route(engine, "webhook")
    case = engine.submit("admin", {k: v for k, v in COMPLAINT.items() if k != "nomor_pelapor"})
    engine.advance(case.number, "teruskan", "admin")
    with hook_channels(home, url, tmp_path) as channels:
        report = engine.deliver(channels=channels)
    assert (report.sent, report.retried, report.failed) == (0, 0, 1)
    [notice] = rows(engine)
    assert (notice.recipient_username, notice.address) == ("kabid", "+6281200000002")
    assert (notice.status, notice.attempts) == ("failed", 1)
    assert (notice.last_error or "").startswith("permanent failure: webhook") and "HTTP 422" in (notice.last_error or "")

    # The Kabid's number was wrong; once corrected, a retry goes to the new number.
    engine.db.transaction(lambda c: c.execute(
        staff.update().where(staff.c.username == "kabid").values(phone="+6281299990002")))
    [retried] = retry_notices(engine, [str(notice.id)])
    assert retried["address_changed"] is True and row(engine, notice.id).address == "+6281299990002"
    hook.status = 200
    with hook_channels(home, url, tmp_path) as channels:
        assert engine.deliver(channels=channels).sent == 1
    assert [r["json"]["to"] for r in hook.requests] == ["+6281200000002", "+6281299990002"]
    assert hook.ids() == [notice.message_id] * 2


@pytest.mark.parametrize(("status", "permanent"), [
    (400, True), (410, True), (422, True),                      # the gateway refused this message
    (401, False), (403, False), (404, False),                   # our token or URL is wrong: an outage
    (408, False), (429, False), (500, False), (502, False), (503, False),
])
def test_webhook_answers_are_classified(status: int, permanent: bool, webhook: tuple[Hook, str]) -> None:
    hook, url = webhook
    hook.status = status
    channel = WebhookChannel(WebhookSettings(url, TOKEN, 5.0))
    with pytest.raises(DeliveryFailure) as caught:
        channel.send(_outbound())
    assert caught.value.permanent is permanent
    assert f"HTTP {status}" in str(caught.value)


def test_webhook_down_is_a_temporary_failure() -> None:
    channel = WebhookChannel(WebhookSettings(f"http://127.0.0.1:{free_port()}/kirim", None, 5.0))
    with pytest.raises(DeliveryFailure) as caught:
        channel.send(_outbound())
    assert caught.value.permanent is False and "not reachable" in str(caught.value)


def _outbound() -> Outbound:
    from datetime import datetime, timezone

    return Outbound("0" * 32 + "@treckk", "webhook", "+6281255550101", "Budi", "Subjek", "Isi\n", False,
                    datetime(2026, 11, 30, tzinfo=timezone.utc), "TRK-2026-000001", "t.txt.j2")


# -- files -----------------------------------------------------------------------------------------


def test_file_channel_writes_one_readable_file_per_notice(engine: Commands, clock: FakeClock, tmp_path: Path) -> None:
    case = engine.submit("admin", COMPLAINT)
    engine.advance(case.number, "teruskan", "admin")
    engine.advance(case.number, "tugaskan", "kabid", {"instruksi": "Tertibkan."})
    outbox = tmp_path / "outbox"
    with ChannelSet({"file": FileChannel(outbox)}) as channels:
        report = engine.deliver(channels=channels)
    notices = rows(engine)
    assert report.sent == len(notices) == 5
    names = sorted(p.name for p in outbox.iterdir())
    assert names == sorted([f"20261130-{n.message_id}.txt" for n in notices] +
                           [f"20261130-{n.message_id}.html" for n in notices if n.is_html])
    receipt = next(n for n in notices if n.template == "pelapor_tanda_terima.txt.j2")
    text = (outbox / f"20261130-{receipt.message_id}.txt").read_text(encoding="utf-8")
    head, _, body = text.partition("\n\n")
    assert f"Message-ID: <{receipt.message_id}>" in head
    assert "To: Budi Santoso <budi" not in head and "To: Budi Santoso <+6281255550101>" in head
    assert f"Subject: {receipt.subject}" in head and f"Case: {case.number}" in head
    assert body.rstrip() == receipt.body.rstrip()
    letter = next(n for n in notices if n.is_html)
    assert (outbox / f"20261130-{letter.message_id}.html").read_text(encoding="utf-8") == letter.body
    letter_text = (outbox / f"20261130-{letter.message_id}.txt").read_text(encoding="utf-8")
    assert "SURAT PERINTAH TUGAS" in letter_text and "<td" not in letter_text
    # Delivered again (a runner died before recording it): the same file, not a second one.
    FileChannel(outbox).send(outbound_of(row(engine, receipt.id)))
    assert sorted(p.name for p in outbox.iterdir()) == names


# -- claims, leases and crashes --------------------------------------------------------------------


def test_a_claim_whose_runner_died_is_retried_after_the_lease(
        engine: Commands, clock: FakeClock, home: Path, tmp_path: Path, webhook: tuple[Hook, str]) -> None:
    hook, url = webhook
    route(engine, "webhook")
    engine.submit("admin", COMPLAINT)
    now = clock()
    lease = timedelta(seconds=EXACT.lease)
    # A runner claims the notice and dies before sending (nothing is recorded after the claim).
    claimed = engine.db.transaction(lambda c: notice_rows.claim_due(c, now, now + lease, 10, 8))
    [stale] = claimed.rows
    with hook_channels(home, url, tmp_path) as channels:
        assert engine.deliver(channels=channels, policy=EXACT).claimed == 0  # the lease holds
        clock.set(now + lease)
        report = engine.deliver(channels=channels, policy=EXACT)
    assert report.sent == 1 and hook.ids() == [stale.message_id]
    # The dead runner's claim no longer holds: it cannot turn the delivered notice back.
    assert engine.db.transaction(lambda c: notice_rows.mark_retry(c, stale, clock(), "late")) is False
    assert engine.db.transaction(lambda c: notice_rows.mark_failed(c, stale, "late")) is False
    assert (row(engine, stale.id).status, row(engine, stale.id).attempts) == ("sent", 2)


def test_a_notice_whose_runners_keep_dying_is_given_up(engine: Commands, clock: FakeClock, home: Path,
                                                       tmp_path: Path, webhook: tuple[Hook, str]) -> None:
    hook, url = webhook
    route(engine, "webhook")
    engine.submit("admin", COMPLAINT)
    policy = DeliveryPolicy(max_attempts=2, jitter=0.0)
    lease = timedelta(seconds=policy.lease)
    for _ in range(2):
        now = clock()
        assert len(engine.db.transaction(lambda c: notice_rows.claim_due(c, now, now + lease, 10, 2)).rows) == 1
        clock.set(now + lease)
    with hook_channels(home, url, tmp_path) as channels:
        report = engine.deliver(channels=channels, policy=policy)
    assert (report.sent, report.failed) == (0, 1)
    [notice] = rows(engine)
    assert notice.status == "failed" and "did not record a result" in (notice.last_error or "")
    assert hook.requests == []


def test_two_runners_split_the_work_and_send_each_notice_once(
        engine: Commands, home: Path, tmp_path: Path, webhook: tuple[Hook, str]) -> None:
    hook, url = webhook
    route(engine, "webhook")
    for _ in range(12):
        engine.submit("admin", COMPLAINT)
    # The first two requests wait for each other: both runners must be sending at the same time.
    hook.rendezvous = threading.Barrier(2)
    policy = DeliveryPolicy(jitter=0.0, batch=2)
    reports: list[Any] = []

    def runner() -> None:
        with hook_channels(home, url, tmp_path) as channels:
            reports.append(engine.deliver(channels=channels, policy=policy))

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not hook.rendezvous.broken
    assert sorted(r.sent for r in reports) != [0, 12] and sum(r.sent for r in reports) == 12
    assert sorted(hook.ids()) == sorted(n.message_id for n in rows(engine))  # each exactly once
    assert {n.status for n in rows(engine)} == {"sent"}


def test_killed_delivery_process_loses_nothing(
        engine: Commands, clock: FakeClock, database_url: str, tmp_path: Path, webhook: tuple[Hook, str],
        cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    hook, url = webhook
    route(engine, "webhook")
    for _ in range(4):
        engine.submit("admin", COMPLAINT)
    notices = rows(engine)
    hook.gate.clear()  # a slow gateway: it holds every request until released
    env = {**os.environ, "TRECKK_DATABASE_URL": database_url, "TRECKK_NOW": clock.iso(),
           "TRECKK_WEBHOOK_URL": url, "TRECKK_OUTBOX_DIR": str(tmp_path / "outbox"), "TRECKK_DELIVERY_LEASE": "300"}
    process = subprocess.Popen([sys.executable, str(ROOT / "runner.py"), "deliver"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(hook.requests) >= 1)
    finally:
        process.kill()
        process.communicate(timeout=30)
    assert process.returncode < 0  # killed, not finished
    hook.gate.set()
    # Claimed but unrecorded: still pending, reserved until the lease ends, nothing marked sent.
    assert {n.status for n in rows(engine)} == {"pending"}
    assert {n.next_attempt_at for n in rows(engine)} == {clock() + timedelta(seconds=300)}
    monkeypatch.setenv("TRECKK_WEBHOOK_URL", url)
    result = cli("deliver", "--json")
    assert result.code == 0 and json.loads(result.out)["claimed"] == 0
    clock.advance(seconds=300)
    result = cli("deliver", "--json")
    assert result.code == 0 and json.loads(result.out)["sent"] == 4
    assert rows(engine, "pending") == []
    # Every notice reached the gateway at least once; a duplicate carries the same message id.
    assert set(hook.ids()) == {n.message_id for n in notices}
    assert len(hook.ids()) == 5 and hook.ids()[0] in hook.ids()[1:]
    for request in hook.requests:
        assert request["headers"]["Idempotency-Key"] == request["json"]["message_id"]


def test_policy_comes_from_the_environment() -> None:
    policy = Settings.from_environment({"TRECKK_DELIVERY_MAX_ATTEMPTS": "3", "TRECKK_DELIVERY_BACKOFF": "30",
                                        "TRECKK_DELIVERY_JITTER": "0.5", "TRECKK_DELIVERY_LEASE": "120"}).delivery
    assert (policy.max_attempts, policy.backoff, policy.jitter, policy.lease) == (3, 30.0, 0.5, 120.0)
    assert Settings.from_environment({}).delivery.max_attempts == 8
    delay = policy.delay(2, "x@treckk").total_seconds()
    assert 60 <= delay <= 90 and delay == policy.delay(2, "x@treckk").total_seconds()  # jitter is stable
    assert policy.delay(2, "y@treckk") != policy.delay(2, "x@treckk")  # and spreads notices out
    from engine.errors import InvalidInput

    with pytest.raises(InvalidInput, match="TRECKK_DELIVERY_MAX_ATTEMPTS"):
        Settings.from_environment({"TRECKK_DELIVERY_MAX_ATTEMPTS": "lots"})
    with pytest.raises(InvalidInput, match="TRECKK_SMTP_PORT"):
        channels_of(ROOT, {"TRECKK_SMTP_HOST": "mail", "TRECKK_SMTP_PORT": "x"})
