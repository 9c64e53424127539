"""La-Lisa's guided conversation on WhatsApp, end to end against a local peer of the Cloud API.

Each message is POSTed, signed, to the real web app's ``/webhooks/whatsapp``; ``treckk serve
--once`` (``serve(application, once=True)``) then processes what was stored and delivers the
replies to the peer. Clock injected; nothing sleeps.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from engine.adapters.scheduler import serve
from engine.adapters.web.app import create_app
from engine.adapters.web.server import start_in_thread
from engine.app.assembly import build
from engine.app.settings import Settings
from engine.store.schema import cases
from tests.conftest import FakeClock
from tests.web.conftest import Web, seeded_application, app_environment
from tests.whatsapp_peer import Peer, message, signed, start_peer

CITIZEN = "6281255550101"
_ids = itertools.count(1)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def peer() -> Iterator[Peer]:
    started = start_peer()
    started.media["MEDIA1"] = (jpeg(), "image/jpeg")
    started.media["MEDIA_PDF"] = (b"%PDF-1.4 not a photo", "application/pdf")
    yield started
    started.stop()


class Lalisa:
    """The web app with WhatsApp pointed at the peer, and a citizen's phone to talk with it."""

    def __init__(self, database_url: str, clock: FakeClock, tmp_path: Path, peer: Peer) -> None:
        self.database_url, self.clock, self.tmp_path, self.peer = database_url, clock, tmp_path, peer
        self.extra = {**peer.settings(), "TRECKK_CHANNELS": "whatsapp,file"}
        self.application = seeded_application(database_url, clock, tmp_path / "app", extra=self.extra)
        self.web = Web(self.application, start_in_thread(create_app(self.application)), clock)

    def restart(self) -> None:
        """Stop the web app and the application, and start both again on the same database."""
        self.stop()
        settings = Settings.from_environment(app_environment(self.database_url, self.tmp_path / "app",
                                                              extra=self.extra))
        self.application = build(settings, clock=self.clock)
        self.web = Web(self.application, start_in_thread(create_app(self.application)), self.clock)

    def stop(self) -> None:
        self.web.close()
        self.web.server.stop()
        self.application.close()

    def post(self, payload: dict[str, Any]) -> int:
        body, headers = signed(payload)
        return self.web.client().post("/webhooks/whatsapp", content=body, headers=headers).status_code

    def say(self, kind: str, content: dict[str, Any], *, sender: str = CITIZEN, message_id: str | None = None,
            process: bool = True) -> str:
        """The citizen sends one message; returns its id. ``process``: then run ``serve --once``."""
        message_id = message_id or f"wamid.IN{next(_ids):05d}"
        stamp = int(self.clock().timestamp())
        assert self.post(message(sender, message_id, stamp, kind, content)) == 200
        if process:
            serve(self.application, once=True)
        return message_id

    def text(self, body: str, **kwargs: Any) -> str:
        return self.say("text", {"body": body}, **kwargs)

    def replies(self, to: str = CITIZEN) -> list[str]:
        return self.peer.texts_to(to)

    def case_data(self, number: str) -> dict[str, Any]:
        with self.application.database.begin() as connection:
            return dict(connection.execute(select(cases.c.data).where(cases.c.number == number)).scalar_one())

    def kecamatan_number(self, value: str) -> str:
        definition = self.application.queries.deployed()[0]
        return str(list(definition.fields["kecamatan"].choices).index(value) + 1)


@pytest.fixture
def lalisa(database_url: str, clock: FakeClock, tmp_path: Path, peer: Peer) -> Iterator[Lalisa]:
    made = Lalisa(database_url, clock, tmp_path, peer)
    yield made
    made.stop()


def talk_until_photos(lalisa: Lalisa) -> None:
    lalisa.text("Halo La-Lisa")
    assert "Aduan Anda tentang apa?" in lalisa.replies()[-1]
    lalisa.text("1")
    assert lalisa.replies()[-1] == "Ceritakan apa yang terjadi (singkat, jelas)."
    lalisa.text("Pedagang berjualan di trotoar depan Pasar Paringin sampai menutup jalan")
    assert "Di mana kejadiannya?" in lalisa.replies()[-1]
    lalisa.say("location", {"latitude": -2.323, "longitude": 115.621, "name": "Pasar Paringin",
                            "address": "Jl. Jend. A. Yani"})
    assert "Di kecamatan mana?" in lalisa.replies()[-1] and "Paringin" in lalisa.replies()[-1]
    lalisa.text(lalisa.kecamatan_number("paringin"))
    assert "Kirim foto kejadian" in lalisa.replies()[-1]


def finish(lalisa: Lalisa, **kwargs: Any) -> str:
    lalisa.say("image", {"id": "MEDIA1", "mime_type": "image/jpeg", "sha256": "x"})
    assert lalisa.replies()[-1] == "Foto diterima (1 dari paling banyak 3)."
    lalisa.text("selesai")
    assert "Bolehkah nama Anda dicatat" in lalisa.replies()[-1]
    return lalisa.text("1", **kwargs)


def receipts(lalisa: Lalisa) -> list[str]:
    return [text for text in lalisa.replies() if "Kode pelacakan:" in text]


def test_a_whole_conversation_becomes_a_case_and_the_receipt_goes_back(lalisa: Lalisa) -> None:
    talk_until_photos(lalisa)
    finish(lalisa)
    [receipt] = receipts(lalisa)
    number = receipt.split("nomor ")[1].split(".")[0]
    code = receipt.split("Kode pelacakan: ")[1].split("\n")[0]
    data = lalisa.case_data(number)
    assert data["kanal"] == "whatsapp" and data["kategori"] == "pkl_tempat_usaha"
    assert data["uraian"] == "Pedagang berjualan di trotoar depan Pasar Paringin sampai menutup jalan"
    assert (data["lokasi"], data["koordinat"]) == ("Pasar Paringin, Jl. Jend. A. Yani", "-2.323,115.621")
    assert data["kecamatan"] == "paringin"
    assert data["nama_pelapor"] == "Budi Santoso" and data["nomor_pelapor"] == "+6281255550101"
    [photo] = data["foto_aduan"]
    assert photo.endswith(".jpg")
    assert lalisa.application.public.track(number, code).number == number
    # Once delivered, the receipt's text (the one place the plain code was) is gone; its digest stays.
    from engine.app.whatsapp import REPLY_SOURCE
    from engine.notices.delivery import FORGOTTEN_ONCE_SENT
    from engine.store.schema import notice_bodies, notices

    assert REPLY_SOURCE in FORGOTTEN_ONCE_SENT
    with lalisa.application.database.begin() as connection:
        kept = [bytes(row[0]) for row in connection.execute(select(notice_bodies.c.content))]
        replies = list(connection.execute(select(notices.c.status, notices.c.body_digest)
                                          .where(notices.c.source == REPLY_SOURCE)))
    assert replies and all(status == "sent" and digest for status, digest in replies)
    from engine.store.body_rows import load

    with lalisa.application.database.begin() as connection:
        assert load(connection, [bytes(digest).hex() for _status, digest in replies]) == {}
    assert kept and not any(code.encode() in blob for blob in kept)
    # The workflow's own receipt notice went by WhatsApp too, as text: the citizen had just written.
    assert any(text.startswith(f"Tanda terima aduan {number}") or number in text.split("\n")[0]
               for text in lalisa.replies() if "Kode pelacakan" not in text)
    assert lalisa.peer.templates_to(CITIZEN) == []
    # "status NOMOR" answers with the tracking text.
    lalisa.text(f"status {number}")
    status = lalisa.replies()[-1]
    assert status.startswith(f"Aduan {number}\nStatus: ") and "Perjalanan aduan:" in status
    assert "Budi" not in status and "Rina" not in status


def test_the_same_message_delivered_twice_makes_one_case_and_one_receipt(lalisa: Lalisa) -> None:
    talk_until_photos(lalisa)
    last = finish(lalisa, process=False)
    lalisa.text("1", message_id=last, process=False)  # the platform delivers it again
    serve(lalisa.application, once=True)
    lalisa.text("1", message_id=last)  # and once more, after it was handled
    assert len(receipts(lalisa)) == 1
    with lalisa.application.database.begin() as connection:
        assert connection.execute(select(cases.c.number)).scalars().all() == [
            receipts(lalisa)[0].split("nomor ")[1].split(".")[0]]


def test_the_webhook_answers_without_calling_the_peer_while_its_media_endpoint_is_slow(lalisa: Lalisa) -> None:
    talk_until_photos(lalisa)
    before = len(lalisa.peer.requests)
    lalisa.peer.media_gate.clear()  # the media endpoint now holds every lookup until released
    lalisa.say("image", {"id": "MEDIA1", "mime_type": "image/jpeg"}, process=False)
    assert len(lalisa.peer.requests) == before  # the webhook stored the body; it called nobody
    lalisa.peer.media_gate.set()
    serve(lalisa.application, once=True)
    assert lalisa.replies()[-1] == "Foto diterima (1 dari paling banyak 3)."


def test_a_restart_in_the_middle_of_a_conversation_loses_nothing(lalisa: Lalisa) -> None:
    talk_until_photos(lalisa)
    lalisa.say("image", {"id": "MEDIA1", "mime_type": "image/jpeg"}, process=False)  # stored, not processed
    lalisa.restart()
    serve(lalisa.application, once=True)
    assert lalisa.replies()[-1] == "Foto diterima (1 dari paling banyak 3)."
    lalisa.text("selesai")
    lalisa.text("2")  # anonymous
    [receipt] = receipts(lalisa)
    assert "Nama Anda dirahasiakan." in receipt
    data = lalisa.case_data(receipt.split("nomor ")[1].split(".")[0])
    assert data["anonim"] is True and "nama_pelapor" not in data and len(data["foto_aduan"]) == 1
    assert data["koordinat"] == "-2.323,115.621" and data["kecamatan"] == "paringin"


def test_a_conversation_left_too_long_expires(lalisa: Lalisa) -> None:
    lalisa.text("Halo")
    lalisa.text("1")
    lalisa.clock.advance(minutes=61)
    lalisa.text("Ada keributan di depan rumah saya setiap malam")
    said = lalisa.replies()
    assert any("sudah berakhir karena lama tidak ada balasan" in text for text in said[-4:])
    # It started again, and took the long first message as what happened.
    assert "Di mana kejadiannya?" not in said[-1] and "Aduan Anda tentang apa?" in said[-1]


def test_refused_photos_are_explained_and_not_stored(lalisa: Lalisa) -> None:
    talk_until_photos(lalisa)
    lalisa.say("image", {"id": "MEDIA_PDF", "mime_type": "image/jpeg"})
    assert lalisa.replies()[-1].startswith("Foto itu tidak dapat diterima")
    lalisa.peer.media["BIG"] = (b"\xff\xd8\xff" + b"0" * (6 * 1024 * 1024), "image/jpeg")
    lalisa.say("image", {"id": "BIG", "mime_type": "image/jpeg"})
    assert lalisa.replies()[-1].startswith("Foto itu tidak dapat diterima")
    assert not any(r.path.startswith("/download/BIG") for r in lalisa.peer.requests)  # refused by its size


def test_a_message_from_a_number_with_an_open_case_can_become_a_note(lalisa: Lalisa) -> None:
    talk_until_photos(lalisa)
    finish(lalisa)
    number = receipts(lalisa)[0].split("nomor ")[1].split(".")[0]
    lalisa.text("Pedagangnya sekarang bertambah banyak")
    assert f"Anda punya aduan yang masih berjalan: {number}." in lalisa.replies()[-1]
    lalisa.text("1")
    assert lalisa.replies()[-1] == f"Keterangan Anda sudah ditambahkan pada aduan {number}. Terima kasih."
    history = lalisa.application.queries.history(number, "rina")
    assert any(event.get("trigger") == "catatan_pelapor" and event.get("comment") ==
               "Pedagangnya sekarang bertambah banyak" for event in history)


def test_notices_go_as_text_inside_the_window_and_as_a_template_outside(lalisa: Lalisa) -> None:
    talk_until_photos(lalisa)
    finish(lalisa)
    number = receipts(lalisa)[0].split("nomor ")[1].split(".")[0]
    assert lalisa.peer.templates_to(CITIZEN) == []  # the receipt notice went as text, inside the window
    lalisa.clock.advance(hours=25)
    lalisa.application.commands.advance(number, "tandai_duplikat", "rina", {"alasan": "Sudah dilaporkan"})
    serve(lalisa.application, once=True)
    [template] = lalisa.peer.templates_to(CITIZEN)
    assert template["name"] == "treckk_status_aduan" and template["language"] == {"code": "id"}
    assert [p["text"] for p in template["components"][0]["parameters"]][0] == number
    # Staff too: the Kepala Bidang wrote to La-Lisa an hour ago, so his notice goes as text.
    kabid = "6281251000002"
    lalisa.text("Selamat pagi", sender=kabid)
    lalisa.clock.advance(hours=1)
    second = lalisa.application.public.submit("web", {"uraian": "Ternak lepas di jalan raya Halong setiap pagi",
                                                      "lokasi": "Jl. Halong", "kecamatan": "halong",
                                                      "kategori": "ternak_lepas"})
    lalisa.application.commands.advance(second.number, "teruskan", "rina", {})
    serve(lalisa.application, once=True)
    assert any(second.number in text for text in lalisa.replies(kabid))
    assert lalisa.peer.templates_to(kabid) == []


def test_two_runners_handling_the_same_message_at_once_leave_a_working_code(lalisa: Lalisa,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.store import whatsapp_rows

    talk_until_photos(lalisa)
    last = finish(lalisa, process=False)
    lalisa.text("1", message_id=last, process=False)
    # Both copies are read as unseen, with the conversation as it stood, as when two runners take
    # them at the same moment: both file (one case: the same idempotency key); one records first.
    with lalisa.application.database.begin() as connection:
        before = whatsapp_rows.conversation(connection, CITIZEN)
    monkeypatch.setattr(whatsapp_rows, "is_seen", lambda connection, message_id: False)
    monkeypatch.setattr(whatsapp_rows, "conversation", lambda connection, address: before)
    serve(lalisa.application, once=True)
    found = receipts(lalisa)
    numbers = {text.split("nomor ")[1].split(".")[0] for text in found}
    assert len(found) == 2 and len(numbers) == 1
    number = numbers.pop()
    code = found[-1].split("Kode pelacakan: ")[1].split("\n")[0]
    assert lalisa.application.public.track(number, code).number == number  # the code last sent works
    with lalisa.application.database.begin() as connection:
        assert connection.execute(select(cases.c.number)).scalars().all() == [number]


def test_the_outbox_views_withhold_the_conversation_replies(lalisa: Lalisa) -> None:
    talk_until_photos(lalisa)
    finish(lalisa)
    for viewer in (None, "rina", "ahmad"):
        replies = [n for n in lalisa.application.queries.notices(viewer_name=viewer) if n["template"] ==
                   "whatsapp:balasan"]
        assert replies and all(n["address"] != CITIZEN and CITIZEN not in str(n) for n in replies)
        shown = lalisa.application.queries.notice(str(replies[-1]["id"]), viewer)
        assert "Kode pelacakan" not in str(shown) and CITIZEN not in str(shown)
