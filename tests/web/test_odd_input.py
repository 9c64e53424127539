"""Odd input from a hostile or clumsy visitor (NUL characters, lone surrogates, LIKE wildcards, huge
numbers, traversal in file names) on the login, the pages and the API: never a 5xx, on either backend."""

from __future__ import annotations

from tests.web.conftest import Web, csrf_of


def test_odd_input_is_never_a_server_error(web: Web) -> None:
    anon = web.client()
    t = csrf_of(anon.get("/login").text)
    out: list[tuple[object, ...]] = []
    for name in ["rina\x00", "r\x00", "\x00", "rina\ud800".encode("utf-8", "surrogatepass").decode("latin-1")]:
        r = anon.post("/login", data={"username": name, "password": "x\x00y", "csrf_token": t}); out.append(("login", repr(name), r.status_code))
    c = web.login("rina")
    for p in ["/kasus/%00", "/kasus/TRK%00", "/kotak-masuk?cari=%00", "/kotak-masuk?cari=%25", "/kotak-masuk?cari=_", "/kotak-masuk?status=%00", "/kotak-masuk?wilayah=%00", "/kotak-masuk?kategori=%00", "/kotak-masuk?setelah=%00", "/kasus/TRK-2026-000001/lampiran/%00", "/login?next=%00"]:
        r = c.get(p); out.append((p, r.status_code))
    api = web.api("rina")
    for p in ["/api/v1/cases?state=a", "/api/v1/inbox?after=%00"]:
        r = api.get(p); out.append((p, r.status_code))
    r = api.post("/api/v1/cases", json={"input": {"kanal": "whatsapp", "uraian": "abcdefghijklmnop", "desa": "a\x00b"}}); out.append(("nul desa", r.status_code))
    r = api.post("/api/v1/cases", json={"workflow": "nope", "input": {}}); out.append(("wf nope", r.status_code))
    tok = web.csrf(c, "/kasus/baru")
    r = c.post("/kasus/baru", data={"csrf_token": tok, "kanal": "whatsapp", "uraian": "abc\x00defghijklmnop", "komentar": "a\x00"}); out.append(("form nul", r.status_code))
    r = c.post("/kasus/baru", data={"csrf_token": tok, "kanal": "whatsapp", "uraian": "abcdefghijklmnop", "idempotency_key": "k\x00"}); out.append(("form key nul", r.status_code))
    r = c.post("/kasus/baru", data={"csrf_token": tok, "kanal": "whatsapp", "uraian": "abcdefghijklmnop", "foto_aduan__ada": "x\x00"}); out.append(("carried nul", r.status_code))
    r = c.post("/kasus/baru", files={"csrf_token": (None, tok), "kanal": (None, "whatsapp"), "uraian": (None, "abcdefghijklmnop"), "foto_aduan": ("a\x00.jpg", b"\xff\xd8\xff")}); out.append(("file nul name", r.status_code))
    r = c.post("/kasus/baru", files={"csrf_token": (None, tok), "kanal": (None, "whatsapp"), "uraian": (None, "abcdefghijklmnop"), "foto_aduan": ("../../x.jpg", b"\xff\xd8\xff")}); out.append(("file traversal", r.status_code))
    r = c.post("/kasus/TRK-2026-000001/aksi/%00", data={"csrf_token": tok, "idempotency_key": "zz\x00"}); out.append(("act nul", r.status_code))
    r = c.post("/kasus/TRK-2026-000001/aksi/teruskan", data={"csrf_token": tok, "version": "99999999999999999999999999"}); out.append(("act ver", r.status_code))
    assert all(x[-1] < 500 for x in out), out
