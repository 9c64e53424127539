"""The ``whatsapp`` channel against a local peer of the Cloud API: templates outside the 24-hour window,
retries after a 500 with the same message, status callbacks on the outbox; the webhook's doors.

The application runs with ``TRECKK_CHANNELS=whatsapp,file`` and its WhatsApp settings pointing at
the peer (``tests.whatsapp_peer``); ``treckk serve --once`` is ``serve(application, once=True)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.adapters.scheduler import serve
from engine.adapters.web.app import create_app
from engine.adapters.web.server import start_in_thread
from engine.store.schema import notices, whatsapp_inbox
from tests.conftest import FakeClock
from tests.web.conftest import Web, seeded_application
from tests.whatsapp_peer import APP_SECRET, VERIFY_TOKEN, Peer, signed, start_peer, status

CITIZEN = "6281255550101"
COMPLAINT = {"kanal": "whatsapp", "uraian": "Pedagang berjualan di trotoar depan pasar Paringin",
             "nomor_pelapor": "+62 812-5555-0101", "kecamatan": "paringin", "kategori": "pkl_tempat_usaha",
             "lokasi": "Jl. Jend. A. Yani, depan Pasar Paringin"}


@pytest.fixture
def peer() -> Iterator[Peer]:
    started = start_peer()
    yield started
    started.stop()


@pytest.fixture
def lalisa(database_url: str, clock: FakeClock, tmp_path: Path, peer: Peer) -> Iterator[Web]:
    """The web app with WhatsApp pointed at the peer, preferring the whatsapp channel."""
    application = seeded_application(database_url, clock, tmp_path / "app",
                                     extra={**peer.settings(), "TRECKK_CHANNELS": "whatsapp,file"})
    web = Web(application, start_in_thread(create_app(application)), clock)
    yield web
    web.close()
    web.server.stop()
    application.close()


def _notice_rows(web: Web) -> list[Any]:
    with web.application.database.begin() as connection:
        return list(connection.execute(select(notices).order_by(notices.c.id)))


def _post(web: Web, payload: dict[str, Any], **kwargs: Any) -> int:
    body, headers = signed(payload, **kwargs)
    return web.client().post("/webhooks/whatsapp", content=body, headers=headers).status_code


# -- the webhook's doors --------------------------------------------------------------------------

def test_the_verify_handshake_echoes_the_challenge_only_for_the_right_token(lalisa: Web) -> None:
    client = lalisa.client()
    right = client.get("/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                                                     "hub.challenge": "1158201444"})
    assert (right.status_code, right.text) == (200, "1158201444")
    assert right.headers["content-type"].startswith("text/plain")
    for params in ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
                   {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
                   {"hub.mode": "subscribe", "hub.challenge": "1"}):
        refused = client.get("/webhooks/whatsapp", params=params)
        assert refused.status_code == 403
        assert VERIFY_TOKEN not in refused.text


def test_a_missing_or_wrong_signature_is_refused_and_nothing_is_stored(lalisa: Web, peer: Peer) -> None:
    payload = status("wamid.X", "delivered", 1796000000, CITIZEN)
    body, headers = signed(payload)
    client = lalisa.client()
    assert client.post("/webhooks/whatsapp", content=body,
                       headers={"Content-Type": "application/json"}).status_code == 401
    assert _post(lalisa, payload, secret="not-the-app-secret") == 403
    # The signature is over the bytes received: the same JSON re-serialised does not pass.
    reformatted = json.dumps(payload, separators=(",", ":")).encode()
    assert client.post("/webhooks/whatsapp", content=reformatted, headers=headers).status_code == 403
    assert client.post("/webhooks/whatsapp", content=body,
                       headers={**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}).status_code == 403
    with lalisa.application.database.begin() as connection:
        assert list(connection.execute(select(whatsapp_inbox))) == []
    assert peer.requests == []
    assert client.post("/webhooks/whatsapp", content=body, headers=headers).status_code == 200
    assert lalisa.application.whatsapp.stored() == 1


def test_an_oversized_body_is_refused(lalisa: Web) -> None:
    payload = status("wamid.X", "delivered", 1796000000, CITIZEN)
    payload["padding"] = "x" * (2 * 1024 * 1024)
    assert _post(lalisa, payload) == 413
    assert lalisa.application.whatsapp.stored() == 0


# -- outbound ---------------------------------------------------------------------------------------

def test_a_notice_outside_the_window_goes_as_its_approved_template(lalisa: Web, peer: Peer) -> None:
    case = lalisa.application.commands.submit("rina", COMPLAINT)
    serve(lalisa.application, once=True)
    templates = peer.templates_to(CITIZEN)
    assert templates == [{"name": "treckk_aduan_diterima", "language": {"code": "id"},
                          "components": [{"type": "body", "parameters": [{"type": "text", "text": case.number}]}]}]
    assert peer.texts_to(CITIZEN) == []
    row = next(r for r in _notice_rows(lalisa) if r.template == "pelapor_tanda_terima.txt.j2")
    assert (row.channel, row.status) == ("whatsapp", "sent")
    assert row.provider_id == next(iter(peer.accepted.values()))["wamid"]


def test_a_500_is_retried_with_backoff_as_the_same_message_never_lost(lalisa: Web, peer: Peer,
                                                                     clock: FakeClock) -> None:
    lalisa.application.commands.submit("rina", COMPLAINT)
    row = next(r for r in _notice_rows(lalisa) if r.template == "pelapor_tanda_terima.txt.j2")
    assert row.channel == "whatsapp"
    peer.fail_message(row.message_id, 500, 2)

    def attempts() -> list[dict[str, Any]]:
        return [send for send in peer.sends() if send["biz_opaque_callback_data"] == row.message_id]

    first = serve(lalisa.application, once=True).delivery
    assert first is not None and [r.outcome for r in first.results if r.notice_id == row.id] == ["retry"]
    pending = next(r for r in _notice_rows(lalisa) if r.id == row.id)
    assert pending.status == "pending" and "HTTP 500" in pending.last_error
    assert row.message_id not in peer.accepted
    serve(lalisa.application, once=True)  # not due yet: backoff
    assert len(attempts()) == 1
    clock.advance(seconds=70)
    serve(lalisa.application, once=True)
    assert len(attempts()) == 2 and row.message_id not in peer.accepted
    clock.advance(seconds=140)
    serve(lalisa.application, once=True)
    assert len(attempts()) == 3
    assert all(send == attempts()[0] for send in attempts())  # the same message each time, never a new one
    done = next(r for r in _notice_rows(lalisa) if r.id == row.id)
    assert (done.status, done.attempts, done.provider_id) == ("sent", 3, peer.accepted[row.message_id]["wamid"])
    clock.advance(hours=2)
    serve(lalisa.application, once=True)
    assert len(attempts()) == 3  # sent once: never again


def test_status_callbacks_update_the_outbox(lalisa: Web, peer: Peer) -> None:
    lalisa.application.commands.submit("rina", COMPLAINT)
    lalisa.application.commands.submit("rina", {**COMPLAINT, "nomor_pelapor": "081255550199"})
    serve(lalisa.application, once=True)
    first, second = [r for r in _notice_rows(lalisa) if r.template == "pelapor_tanda_terima.txt.j2"]
    assert second.address == "+6281255550199" and peer.accepted[second.message_id]["to"] == "6281255550199"
    assert _post(lalisa, status(first.provider_id, "delivered", 1796000000, CITIZEN)) == 200
    assert _post(lalisa, status(first.provider_id, "read", 1796000060, CITIZEN)) == 200
    assert _post(lalisa, status(first.provider_id, "delivered", 1796000030, CITIZEN)) == 200  # late, out of order
    assert _post(lalisa, status(second.provider_id, "failed", 1796000000, "6281255550199",
                                [{"code": 131026, "title": "Message undeliverable"}])) == 200
    assert _post(lalisa, status("wamid.UNKNOWN", "read", 1796000000, CITIZEN)) == 200
    done = serve(lalisa.application, once=True).inbox
    assert getattr(done, "statuses") == 4
    rows = {r.id: r for r in _notice_rows(lalisa)}
    assert (rows[first.id].status, rows[first.id].receipt) == ("sent", "read")
    assert (rows[second.id].status, rows[second.id].receipt) == ("failed", "failed")
    assert "131026 Message undeliverable" in rows[second.id].last_error


def test_the_secrets_are_never_shown(lalisa: Web) -> None:
    settings = lalisa.application.settings.channels["whatsapp"]
    shown = repr(settings) + repr(lalisa.application.settings)
    assert APP_SECRET not in shown and VERIFY_TOKEN not in shown and settings.token not in shown


def test_treckk_serve_once_processes_what_the_webhook_stored(lalisa: Web, peer: Peer, database_url: str,
                                                            monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                            clock: FakeClock) -> None:
    from tests.conftest import run_cli
    from tests.whatsapp_peer import message

    assert _post(lalisa, message(CITIZEN, "wamid.CLI1", int(clock().timestamp()), "text", {"body": "Halo"})) == 200
    for name, value in {**peer.settings(), "TRECKK_DATABASE_URL": database_url, "TRECKK_CHANNELS": "whatsapp,file",
                        "TRECKK_NOW": clock.iso(), "TRECKK_CACHE_DIR": str(tmp_path / "cache"),
                        "TRECKK_OUTBOX_DIR": str(tmp_path / "outbox")}.items():
        monkeypatch.setenv(name, value)
    result = run_cli("serve", "--once", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["whatsapp"] == {"bodies": 1, "messages": 1, "duplicates": 0, "statuses": 0,
                                                  "retried": 0, "cases": []}
    assert any("Selamat datang di La-Lisa" in text for text in peer.texts_to(CITIZEN))
    assert APP_SECRET not in result.err + result.out


def test_without_the_whatsapp_settings_the_webhook_is_not_there(web: Web) -> None:
    body, headers = signed(status("wamid.X", "read", 1796000000, CITIZEN))
    client = web.client()
    assert client.post("/webhooks/whatsapp", content=body, headers=headers).status_code == 404
    assert client.get("/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                                                    "hub.challenge": "1"}).status_code == 404
    assert web.application.whatsapp.stored() == 0
