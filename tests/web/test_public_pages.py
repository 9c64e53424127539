"""The public pages over HTTP: the complaint form and receipt, tracking, notes, ratings, and the abuse
they must withstand (floods, bots, bad uploads, guessed codes). The real app on loopback, SQLite and
PostgreSQL, the injected clock (moved, never slept on)."""

from __future__ import annotations

import io
import re
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import func, select

from engine.store.schema import attachments, cases
from tests.web.conftest import Web, csrf_of

COMPLAINT = {
    "kategori": "ternak_lepas",
    "kecamatan": "paringin",
    "desa": "Batu Piring",
    "lokasi": "Jalan Paringin–Juai km 3, dekat jembatan",
    "koordinat": "-2.301234,115.512345",
    "uraian": "Sapi lepas berkeliaran di badan jalan pada malam hari.",
    "nama_pelapor": "Mariana Lestari",
    "nomor_pelapor": "0813-5151-2626",
}
RECEIPT = re.compile(r'<dd class="nomor">([^<]+)</dd>.*?<dd class="kode">([^<]+)</dd>', re.S)


def photo(colour: str = "red", kind: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, kind)
    return buffer.getvalue()


def case_count(web: Web) -> int:
    with web.application.database.begin() as connection:
        return int(connection.execute(select(func.count()).select_from(cases)).scalar_one())


def open_form(web: Web, client: httpx.Client) -> str:
    """Open /aduan as a person would, and let the minimum fill time pass; the form's CSRF token."""
    page = client.get("/aduan")
    assert page.status_code == 200
    web.clock.advance(seconds=30)
    return csrf_of(page.text)


def send(client: httpx.Client, token: str, values: dict[str, str] | None = None,
         files: list[tuple[str, tuple[str, bytes, str]]] | None = None) -> httpx.Response:
    data = {"csrf_token": token, **(COMPLAINT if values is None else values)}
    return client.post("/aduan", data=data, files=files or [("foto_aduan", ("", b"", "application/octet-stream"))])


def file_complaint(web: Web, client: httpx.Client, **extra: Any) -> tuple[str, str]:
    token = open_form(web, client)
    answer = send(client, token, {**COMPLAINT, **extra})
    assert answer.status_code == 303 and answer.headers["location"] == "/aduan/terkirim", answer.text[:500]
    receipt = client.get("/aduan/terkirim")
    found = RECEIPT.search(receipt.text)
    assert found, receipt.text[:500]
    return found.group(1), found.group(2)


def test_the_form_is_public_in_bahasa_indonesia_and_says_how_personal_data_is_kept(web: Web) -> None:
    client = web.client()
    page = client.get("/aduan")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    html = page.text
    assert '<html lang="id">' in html and "Kirim aduan" in html and "Keluar" not in html
    assert "Peraturan Presiden Nomor 76 Tahun 2013" in html
    for name in ("kategori", "kecamatan", "desa", "lokasi", "koordinat", "uraian", "foto_aduan", "nama_pelapor",
                 "nomor_pelapor", "anonim"):
        assert f'name="{name}"' in html, name
    assert 'name="kanal"' not in html  # the channel sets it
    assert "/static/leaflet/leaflet.js" in html and "data-peta" in html
    assert client.get("/static/leaflet/LICENSE.txt").text.startswith("BSD 2-Clause License")
    assert client.get("/static/leaflet/leaflet.js").status_code == 200


def test_a_complaint_gets_a_number_and_code_and_lands_for_admin_la_lisa(web: Web) -> None:
    citizen = web.client()
    token = open_form(web, citizen)
    answer = send(citizen, token, files=[("foto_aduan", ("sapi.jpg", photo(), "image/jpeg"))])
    assert answer.status_code == 303
    receipt = citizen.get("/aduan/terkirim")
    number, code = RECEIPT.search(receipt.text).groups()  # type: ignore[union-attr]
    assert re.fullmatch(r"TRK-\d{4}-\d{6}", number) and re.fullmatch(r"[0-9A-Z]{5}-[0-9A-Z]{5}", code)
    # The code never appears in a URL: not in the redirect, not in the link to the tracking page.
    assert code not in answer.headers["location"] and f"/lacak/{number}" in receipt.text
    assert code.replace("-", "") not in "".join(re.findall(r'href="([^"]+)"', receipt.text))
    admin = web.login("rina")
    case = admin.get(f"/kasus/{number}")
    assert case.status_code == 200
    assert "Dikirim sendiri oleh pelapor melalui Situs web" in case.text
    assert "Titik lokasi di peta" in case.text and "-2.301234, 115.512345" in case.text
    assert "1 foto" in case.text
    view = web.application.queries.show(number, "rina")
    assert view["state"] == "diterima" and view["data"]["kanal"] == "web"


def test_a_bot_that_fills_the_honeypot_or_sends_at_once_gets_no_case(web: Web) -> None:
    client = web.client()
    token = csrf_of(client.get("/aduan").text)
    too_fast = send(client, token)
    assert too_fast.status_code == 422 and "terlalu cepat" in too_fast.text
    assert "Sapi lepas berkeliaran" in too_fast.text  # what was typed is kept
    web.clock.advance(seconds=30)
    trap = send(client, token, {**COMPLAINT, "situs_web": "http://spam.example"})
    assert trap.status_code == 400
    no_csrf = client.post("/aduan", data=COMPLAINT)
    assert no_csrf.status_code == 403
    assert case_count(web) == 0
    assert send(client, token).status_code == 303 and case_count(web) == 1


def test_a_thousand_submissions_from_one_address_in_a_minute_are_throttled_and_nothing_crashes(web: Web) -> None:
    client = web.client()
    token = open_form(web, client)
    answers: list[int] = []
    for index in range(1000):
        answers.append(client.post("/aduan", data={"csrf_token": token, **COMPLAINT}).status_code)
        if index % 20 == 0:
            web.clock.advance(seconds=1)
    limit = web.application.public.limits.submissions.count
    # Accepted up to the limit (each followed by "sent too fast" until the fill time has passed
    # again: one session's form is one complaint), then refused: never an error of the server.
    assert set(answers) <= {303, 422, 429} and answers.count(303) == limit
    first_refusal = answers.index(429)
    assert answers[first_refusal:] == [429] * (1000 - first_refusal) and first_refusal < 500
    assert case_count(web) == limit
    throttled = client.post("/aduan", data={"csrf_token": token, **COMPLAINT})
    assert "Terlalu banyak" in throttled.text and int(throttled.headers["retry-after"]) > 0
    assert client.get("/aduan").status_code == 200  # the form itself stays readable


def test_oversized_truncated_mislabelled_and_too_many_uploads_are_refused(web: Web) -> None:
    client = web.client()
    token = open_form(web, client)
    good = photo()
    max_bytes = web.application.settings.attachment_max_bytes
    cases_of_uploads = {
        "terlalu besar": [("foto_aduan", ("besar.jpg", good + b"\0" * max_bytes, "image/jpeg"))],
        "utuh": [("foto_aduan", ("potong.jpg", good[: len(good) // 2], "image/jpeg"))],
        "bukan foto": [("foto_aduan", ("surat.jpg", b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", "image/jpeg"))],
        "Paling banyak 3 foto": [("foto_aduan", (f"{i}.jpg", photo(c), "image/jpeg"))
                                 for i, c in enumerate(("red", "blue", "green", "white"))],
    }
    for expected, files in cases_of_uploads.items():
        answer = send(client, token, files=files)
        assert answer.status_code == 422, (expected, answer.status_code)
        assert expected in answer.text, expected
    # A PNG sent as "image/jpeg" named .jpg is taken for what its bytes are.
    assert send(client, token, files=[("foto_aduan", ("x.jpg", photo(kind="PNG"), "image/jpeg"))]).status_code == 303
    assert case_count(web) == 1
    with web.application.database.begin() as connection:
        kinds = [row[0] for row in connection.execute(select(attachments.c.media_type))]
    assert kinds == ["image/png"]


def test_tracking_with_the_right_code_only_and_the_same_answer_for_everything_else(web: Web) -> None:
    citizen = web.client()
    number, code = file_complaint(web, citizen)
    stranger = web.client()
    page = stranger.get(f"/lacak/{number}")
    assert page.status_code == 303 and page.headers["location"] == f"/lacak?nomor={number}"
    token = csrf_of(stranger.get("/lacak").text)
    wrong_code = stranger.post("/lacak", data={"csrf_token": token, "nomor": number, "kode": "0000000000"})
    unknown = stranger.post("/lacak", data={"csrf_token": token, "nomor": "TRK-2026-999999", "kode": code})
    assert wrong_code.status_code == unknown.status_code == 404
    assert wrong_code.text.replace(number, "N") == unknown.text.replace("TRK-2026-999999", "N")
    assert "Sapi" not in wrong_code.text and "diterima" not in wrong_code.text.lower().replace("diterima.", "")
    right = stranger.post("/lacak", data={"csrf_token": token, "nomor": number.lower(), "kode": code.lower()})
    assert right.status_code == 303 and right.headers["location"] == f"/lacak/{number}"
    shown = stranger.get(f"/lacak/{number}")
    assert shown.status_code == 200 and "Aduan diterima" in shown.text and "Kirim keterangan" in shown.text


def test_guessing_codes_is_throttled(web: Web) -> None:
    citizen = web.client()
    number, code = file_complaint(web, citizen)
    guesser = web.client()
    token = csrf_of(guesser.get("/lacak").text)
    limit = web.application.public.limits.wrong_codes_per_address.count
    answers = [guesser.post("/lacak", data={"csrf_token": token, "nomor": number, "kode": f"{i:010d}"}).status_code
               for i in range(limit + 5)]
    assert answers == [404] * limit + [429] * 5
    # While throttled the right code tells nothing either.
    assert guesser.post("/lacak", data={"csrf_token": token, "nomor": number, "kode": code}).status_code == 429
    web.clock.advance(minutes=20)
    assert guesser.post("/lacak", data={"csrf_token": token, "nomor": number, "kode": code}).status_code == 303


def test_a_note_while_open_and_one_rating_after_the_end(web: Web) -> None:
    citizen = web.client()
    number, _ = file_complaint(web, citizen)
    token = csrf_of(citizen.get(f"/lacak/{number}").text)
    noted = citizen.post(f"/lacak/{number}/catatan", data={"csrf_token": token, "catatan": "Sapinya kembali lagi."},
                         files=[("foto", ("lagi.jpg", photo("blue"), "image/jpeg"))])
    assert noted.status_code == 303, noted.text[:300]
    page = citizen.get(noted.headers["location"])
    assert "Keterangan Anda sudah kami terima" in page.text and "Keterangan tambahan dari pelapor" in page.text
    admin = web.login("rina")
    staff_page = admin.get(f"/kasus/{number}").text
    assert "Sapinya kembali lagi." in staff_page and "Keterangan dari pelapor" in staff_page
    assert "1 foto" in staff_page and "Foto pelapor kini 1" in staff_page
    early = citizen.post(f"/lacak/{number}/nilai", data={"csrf_token": token, "nilai": "5"})
    assert early.status_code == 409 or "Beri penilaian" not in citizen.get(f"/lacak/{number}").text
    commands = web.application.commands
    commands.advance(number, "teruskan", "rina")
    commands.advance(number, "tolak", "ahmad", {"alasan": "Sudah ditangani dinas peternakan"})
    page = citizen.get(f"/lacak/{number}")
    assert "Ditolak" in page.text and "Beri penilaian" in page.text and "Kirim keterangan" not in page.text
    assert "dinas peternakan" not in page.text  # an internal reason stays internal
    rated = citizen.post(f"/lacak/{number}/nilai", data={"csrf_token": token, "nilai": "3", "komentar": "Cukup"})
    assert rated.status_code == 303
    again = citizen.post(f"/lacak/{number}/nilai", data={"csrf_token": token, "nilai": "1"})
    assert again.status_code in (303, 409)
    assert web.application.public.ratings_summary("treckk").by_score == {1: 0, 2: 0, 3: 1, 4: 0, 5: 0}
    assert "Anda memberi nilai 3 dari 5" in citizen.get(f"/lacak/{number}").text
