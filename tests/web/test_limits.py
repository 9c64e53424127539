"""Requests too big to read: the body limit is enforced while the body arrives, before any of it
is parsed or stored, and the answer is 413 in the page's language (problem details on the API)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

from sqlalchemy import func, select

from engine.adapters.web.app import FORM_BODY_LIMIT, upload_body_limit
from engine.store.schema import cases
from tests.web.conftest import Web


def _case_count(web: Web) -> int:
    with web.application.database.begin() as connection:
        return int(connection.execute(select(func.count()).select_from(cases)).scalar_one())


def _status_line(web: Web, head: bytes) -> bytes:
    """The status line the server answers ``head`` with (the body it announces is never sent)."""
    with socket.create_connection((web.server.host, web.server.port), timeout=10) as sock:
        sock.sendall(head)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


def test_an_announced_huge_upload_is_refused_before_its_body_is_sent(web: Web) -> None:
    # 10 GB announced, not a byte sent. The answer must come at once; a server that waits for the
    # body (to parse the form) never answers.
    cookie = web.login("rina").cookies["treckk_session"]
    head = (b"POST /kasus/baru HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=xx\r\n"
            b"Cookie: treckk_session=" + cookie.encode() +
            b"\r\nContent-Length: 10000000000\r\nConnection: close\r\n\r\n")
    assert _status_line(web, head).startswith(b"HTTP/1.1 413")


def test_a_streamed_upload_past_the_limit_is_refused_with_nothing_stored(web: Web) -> None:
    client = web.login("rina")
    token = web.csrf(client, "/kasus/baru")
    limit = upload_body_limit(web.application.settings)
    boundary = b"batas"

    def body() -> Iterator[bytes]:  # no Content-Length: chunked, so only counting while reading can stop it
        yield (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n' + token.encode()
               + b"\r\n--" + boundary + b'\r\nContent-Disposition: form-data; name="foto_aduan"; filename="a.jpg"'
               b"\r\nContent-Type: image/jpeg\r\n\r\n")
        chunk = b"\xff" * (1 << 20)
        for _ in range(limit // len(chunk) + 2):
            yield chunk
        yield b"\r\n--" + boundary + b"--\r\n"

    answer = client.post("/kasus/baru", content=body(),
                         headers={"Content-Type": "multipart/form-data; boundary=batas"})
    assert answer.status_code == 413
    assert "terlalu besar" in answer.text
    assert _case_count(web) == 0


def test_a_form_or_json_body_past_the_form_limit_is_413(web: Web) -> None:
    big = "x" * (FORM_BODY_LIMIT + 1)
    client = web.client()
    answer = client.post("/login", content=f"username={big}".encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 413 and "terlalu besar" in answer.text
    api = web.api("rina")
    answer = api.post("/api/v1/cases", content=('{"input": {"uraian": "' + big + '"}}').encode(),
                      headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert _case_count(web) == 0


# -- error pages speak Bahasa Indonesia --------------------------------------------------------------
ENGLISH = ("Method Not Allowed", "Missing boundary", "bad page cursor", "exceeded", "Field required",
           "not valid", "Not Found", "Bad Request")


def _page_text(html: str) -> str:
    import re

    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_error_pages_say_what_happened_in_bahasa_indonesia_not_in_the_frameworks_english(web: Web) -> None:
    client = web.login("rina")
    token = web.csrf(client)
    answers = {
        "GET /logout": client.get("/logout"),
        "PUT /kasus/baru": client.put("/kasus/baru"),
        "multipart without boundary": client.post("/kasus/baru", content=b"x", headers={
            "Content-Type": "multipart/form-data", "X-CSRF-Token": token}),
        "bad cursor": client.get("/kotak-masuk?setelah=zzz"),
        "huge multipart field": client.post("/kasus/baru", headers={"X-CSRF-Token": token},
                                            files={"uraian": (None, "x" * (FORM_BODY_LIMIT + 10))}),
    }
    for what, answer in answers.items():
        assert 400 <= answer.status_code < 500, what
        text = _page_text(answer.text)
        assert [word for word in ENGLISH if word in text] == [], f"{what}: {text[:300]}"
        assert "Kembali" in text, what
    assert _case_count(web) == 0


def test_an_upload_without_a_session_is_sent_to_the_login_before_its_body_is_read(web: Web) -> None:
    # Within the size limit, but nobody is logged in: the answer must not wait for (and spool) the body.
    for path in ("/kasus/baru", "/kasus/TRK-2026-000001/aksi/lapor_hasil"):
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=xx\r\n"
                f"Content-Length: {10 * 1024 * 1024}\r\nConnection: close\r\n\r\n").encode()
        assert _status_line(web, head).startswith(b"HTTP/1.1 303"), path
