"""The administrators' pages over HTTP on the real server: staff, tokens, the audit page (SQLite and PostgreSQL).

Asserted: every page and action refused (403, nothing written) by URL to roles without
``manage_staff``; adding, editing, disabling, enabling and resetting a password, each recorded with
its actor; bad input answered next to its field with the right status and nothing written; a form
without its CSRF token refused; two administrators saving the same member — the second refused (409)
and shown the first one's change; a token shown once, working, then revoked; and the audit page
showing each kind of event after it happens.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from engine.store.schema import admin_events, staff
from tests.web.conftest import Web, csrf_of

ADMIN = "dewi"  # inovator: can [deploy, migrate, manage_staff]
OTHERS = ("rina", "ahmad", "kasat", "tim_paringin")
PAGES = ("/admin/staf", "/admin/staf/baru", "/admin/staf/rina", "/admin/token", "/admin/audit")


def post(client: httpx.Client, path: str, data: dict[str, object], page: str | None = None) -> httpx.Response:
    token = csrf_of(client.get(page or "/kotak-keluar").text)
    return client.post(path, data={"csrf_token": token, **data})  # type: ignore[arg-type]


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name}"
    return found.group(1)


def fail_login(web: Web, username: str = "rina") -> None:
    client = web.client()
    answer = client.post("/login", data={"username": username, "password": "salah-sekali-123",
                                         "csrf_token": csrf_of(client.get("/login").text)})
    assert answer.status_code in (401, 429), answer.status_code  # refused, or locked out after 5


def entry(label: str) -> str:
    """How an entry of the audit page shows its kind (the tabs carry the same words)."""
    return f'class="aksi-label">{label}<'


def staff_count(web: Web) -> int:
    with web.application.database.begin() as connection:
        return int(connection.execute(select(func.count()).select_from(staff)).scalar_one())


def recorded(web: Web) -> list[tuple[str, str, str | None]]:
    with web.application.database.begin() as connection:
        return [(r.actor, r.action, r.target) for r in connection.execute(
            select(admin_events).where(admin_events.c.actor != "system").order_by(admin_events.c.id))]


NEW = {"username": "budi.tim", "name": "Budi Hartono", "roles": ["tim_treckk"], "scope": "paringin",
       "phone": "0812-5100-0099", "email": "budi@satpolpp.balangankab.go.id"}


def test_roles_without_manage_staff_are_refused_every_page_and_action_by_url(web: Web) -> None:
    for username in OTHERS:
        client = web.login(username)
        home = client.get("/kotak-masuk").text
        assert 'href="/admin/staf"' not in home and 'href="/kotak-keluar"' in home
        for path in PAGES:
            answer = client.get(path)
            assert answer.status_code == 403, (username, path, answer.status_code)
            assert "Anda tidak berwenang" in answer.text and "Traceback" not in answer.text
        before = staff_count(web)
        for path, data in [("/admin/staf/baru", NEW), ("/admin/staf/rina", {**NEW, "revision": "1"}),
                           ("/admin/staf/rina/aktif", {"aktif": "0", "revision": "1"}),
                           ("/admin/staf/rina/sandi", {}), ("/admin/token", {"owner": "rina", "name": "x"}),
                           ("/admin/token/1/cabut", {})]:
            answer = post(client, path, data)
            assert answer.status_code == 403, (username, path, answer.status_code)
        assert staff_count(web) == before and recorded(web) == []
        assert web.application.credentials.tokens() == []
    admin = web.login(ADMIN)
    assert 'href="/admin/staf"' in admin.get("/kotak-masuk").text
    for path in PAGES:
        assert admin.get(path).status_code == 200, path


def test_an_administrator_adds_edits_disables_enables_and_resets_a_password(web: Web) -> None:
    admin = web.login(ADMIN)
    made = post(admin, "/admin/staf/baru", NEW, "/admin/staf/baru")
    assert made.status_code == 303 and made.headers["location"] == "/admin/staf/budi.tim?selesai=tambah"
    listed = admin.get("/admin/staf").text
    assert "Budi Hartono" in listed and "<dt>Kata sandi</dt><dd>belum ada</dd>" in listed
    page = admin.get("/admin/staf/budi.tim").text
    assert "Ditambahkan oleh dewi" in page and 'value="paringin" selected' in page

    saved = post(admin, "/admin/staf/budi.tim", {**NEW, "phone": "0812-5100-0100", "roles": ["tim_treckk"],
                                                 "scope": "halong", "revision": hidden(page, "revision")},
                 "/admin/staf/budi.tim")
    assert saved.status_code == 303
    member = web.application.queries.staff_view(_member(web, "budi.tim"))
    assert (member["phone"], member["scope"]) == ("+6281251000100", "halong")

    reset = post(admin, "/admin/staf/budi.tim/sandi", {}, "/admin/staf/budi.tim")
    assert reset.status_code == 200 and reset.headers["cache-control"] == "no-store"
    password = re.search(r'id="kata-sandi-baru">([^<]+)<', reset.text).group(1)  # type: ignore[union-attr]
    assert "hanya ditampilkan sekali" in reset.text
    assert password not in admin.get("/admin/staf/budi.tim").text
    budi = web.login("budi.tim", password)
    assert budi.get("/kotak-masuk").status_code == 200
    # A second reset ends the session opened with the first password.
    again = post(admin, "/admin/staf/budi.tim/sandi", {}, "/admin/staf/budi.tim")
    assert budi.get("/kotak-masuk").status_code == 303
    password = re.search(r'id="kata-sandi-baru">([^<]+)<', again.text).group(1)  # type: ignore[union-attr]
    budi = web.login("budi.tim", password)

    page = admin.get("/admin/staf/budi.tim").text
    off = post(admin, "/admin/staf/budi.tim/aktif", {"aktif": "0", "revision": hidden(page, "revision")},
               "/admin/staf/budi.tim")
    assert off.status_code == 303
    assert budi.get("/kotak-masuk").status_code == 303  # the session of a disabled member ends
    refused = web.client().post("/login", data={"username": "budi.tim", "password": password})
    assert refused.status_code != 303
    page = admin.get("/admin/staf/budi.tim").text
    assert "nonaktif" in page
    on = post(admin, "/admin/staf/budi.tim/aktif", {"aktif": "1", "revision": hidden(page, "revision")},
              "/admin/staf/budi.tim")
    assert on.status_code == 303
    web.login("budi.tim", password)

    assert recorded(web) == [("dewi", "staff_added", "budi.tim"), ("dewi", "staff_updated", "budi.tim"),
                             ("dewi", "password_set", "budi.tim"), ("dewi", "password_set", "budi.tim"),
                             ("dewi", "staff_disabled", "budi.tim"),
                             ("dewi", "staff_enabled", "budi.tim")]
    # Nobody disables themselves (the last administrator would lock everyone out).
    own = admin.get("/admin/staf/dewi").text
    assert "Nonaktifkan petugas" not in own
    refused_self = post(admin, "/admin/staf/dewi/aktif", {"aktif": "0", "revision": hidden(own, "revision")})
    assert refused_self.status_code == 409 and _member(web, "dewi").active
    assert admin.get("/admin/staf/nobody").status_code == 404
    assert admin.get("/admin/staf/" + "x" * 65).status_code == 422
    assert post(admin, "/admin/staf/nobody/sandi", {}).status_code == 404


def _member(web: Web, username: str):  # type: ignore[no-untyped-def]
    return web.application.database.transaction(
        lambda connection: __import__("engine.store.staff_rows", fromlist=["by_username"]).by_username(
            connection, username))


@pytest.mark.parametrize(("change", "field", "status"), [
    ({"username": "budi tim"}, "username", 422),
    ({"username": "rina"}, "username", 409),
    ({"name": ""}, "name", 422),
    ({"roles": []}, "role", 422),
    ({"scope": ""}, "scope", 422),
    ({"phone": "12"}, "phone", 422),
    ({"email": "budi at contoh"}, "email", 422),
])
def test_bad_input_is_answered_next_to_its_field_and_nothing_is_written(web: Web, change: dict[str, object],
                                                                       field: str, status: int) -> None:
    admin = web.login(ADMIN)
    before = staff_count(web)
    answer = post(admin, "/admin/staf/baru", {**NEW, **change}, "/admin/staf/baru")
    assert answer.status_code == status, answer.text[:300]
    assert f'id="galat-{field}"' in answer.text and "Traceback" not in answer.text
    assert staff_count(web) == before and recorded(web) == []
    # What was typed stays in the form.
    assert 'value="Budi Hartono"' in answer.text or change.get("name") == ""


def test_a_bad_edit_writes_nothing_and_a_form_without_csrf_is_refused(web: Web) -> None:
    admin = web.login(ADMIN)
    page = admin.get("/admin/staf/rina").text
    revision = hidden(page, "revision")
    bad = post(admin, "/admin/staf/rina", {"name": "Rina M", "roles": ["admin_lalisa"], "phone": "x1",
                                           "email": "", "revision": revision})
    assert bad.status_code == 422 and 'id="galat-phone"' in bad.text
    assert _member(web, "rina").name == "Rina Marlina"
    bare = admin.post("/admin/staf/rina", data={"name": "Rina M", "roles": ["admin_lalisa"], "revision": revision})
    assert bare.status_code == 403 and "token keamanan" in bare.text
    bare = admin.post("/admin/staf/baru", data=NEW)
    assert bare.status_code == 403
    assert _member(web, "rina").name == "Rina Marlina" and recorded(web) == []


def test_two_administrators_editing_the_same_member_the_second_is_refused_and_sees_the_first(web: Web) -> None:
    web.application.commands.add_staff("sari", "Sari Admin", ["inovator"], None, None, None)
    web.application.credentials.set_password("sari", "sari-password-2026")
    first, second = web.login(ADMIN), web.login("sari", "sari-password-2026")
    page_one, page_two = first.get("/admin/staf/rina").text, second.get("/admin/staf/rina").text
    revision = hidden(page_one, "revision")
    assert hidden(page_two, "revision") == revision
    common = {"roles": ["admin_lalisa"], "phone": "0812-5100-0001", "email": "rina@satpolpp.balangankab.go.id"}
    done = first.post("/admin/staf/rina", data={"csrf_token": csrf_of(page_one), "name": "Rina Marlina S.",
                                                "revision": revision, **common})
    assert done.status_code == 303
    late = second.post("/admin/staf/rina", data={"csrf_token": csrf_of(page_two), "name": "Rina Marlina",
                                                 "email": "rina.baru@satpolpp.balangankab.go.id",
                                                 "revision": revision, "roles": ["admin_lalisa"]})
    assert late.status_code == 409 and "sudah diubah orang lain" in late.text
    assert 'value="Rina Marlina S."' in late.text  # the page shows the member as they now are
    member = _member(web, "rina")
    assert (member.name, member.email) == ("Rina Marlina S.", "rina@satpolpp.balangankab.go.id")
    # Disabling on the old revision is refused the same way.
    stale = second.post("/admin/staf/rina/aktif", data={"csrf_token": csrf_of(page_two), "aktif": "0",
                                                        "revision": revision})
    assert stale.status_code == 409 and _member(web, "rina").active
    assert [a for _, a, _ in recorded(web)] == ["staff_updated"]


def test_a_token_is_shown_once_works_and_is_revoked(web: Web) -> None:
    admin = web.login(ADMIN)
    bad = post(admin, "/admin/token", {"owner": "", "name": "SP4N"}, "/admin/token")
    assert bad.status_code == 422 and 'id="galat-owner"' in bad.text
    bad = post(admin, "/admin/token", {"owner": "rina", "name": ""}, "/admin/token")
    assert bad.status_code == 422 and 'id="galat-name"' in bad.text
    made = post(admin, "/admin/token", {"owner": "rina", "name": "SP4N-LAPOR"}, "/admin/token")
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    token = re.search(r'id="token-baru">(trk_[^<]+)<', made.text).group(1)  # type: ignore[union-attr]
    listed = admin.get("/admin/token").text
    assert "SP4N-LAPOR" in listed and token not in listed
    api = web.client(headers={"Authorization": f"Bearer {token}"})
    assert api.get("/api/v1/cases").status_code == 200
    [row] = web.application.credentials.tokens()
    assert post(admin, f"/admin/token/{row['id']}/cabut", {}).status_code == 303
    assert api.get("/api/v1/cases").status_code == 401
    assert post(admin, "/admin/token/999/cabut", {}).status_code == 404
    assert recorded(web) == [("dewi", "token_created", "rina"), ("dewi", "token_revoked", "rina")]


def test_the_audit_page_shows_each_kind_of_event_after_it_happens(web: Web, tmp_path: Path) -> None:
    from tests.conftest import COMPLAINT, ROOT

    admin = web.login(ADMIN)
    commands = web.application.commands

    def audit(kind: str = "") -> str:
        return admin.get("/admin/audit" + (f"?jenis={kind}" if kind else "")).text

    assert entry("Gagal masuk") not in audit("gagal")
    fail_login(web)
    failed = audit("gagal")
    assert entry("Gagal masuk") in failed and "kata sandi salah" in failed
    assert entry("Masuk") in audit("masuk") and "dewi" in audit("masuk")

    assert entry("Pasang definisi") in audit("pasang")  # the seeded deploy
    source = (ROOT / "workflows" / "treckk.yaml").read_text()
    folder = tmp_path / "v2"
    (folder / "workflows").mkdir(parents=True)
    (folder / "workflows" / "treckk.yaml").write_text(source.replace("version: 1", "version: 2", 1))
    for name in ("roles", "templates"):
        (folder / name).symlink_to(ROOT / name)
    number = commands.submit("rina", COMPLAINT).number
    commands.deploy(folder / "workflows" / "treckk.yaml", "dewi")
    deployed = audit("pasang")
    assert "versi 2" in deployed and "oleh <b>dewi</b>" in deployed

    assert entry("Migrasi kasus") not in audit("migrasi")
    commands.migrate("treckk", 2, [number], {}, "dewi")
    migrated = audit("migrasi")
    assert entry("Migrasi kasus") in migrated and number in migrated and "ke versi 2" in migrated

    post(admin, "/admin/staf/baru", NEW, "/admin/staf/baru")
    post(admin, "/admin/token", {"owner": "budi.tim", "name": "SP4N"}, "/admin/token")
    changes = audit("staf")
    assert entry("Petugas ditambahkan") in changes and entry("Token dibuat") in changes and "budi.tim" in changes
    everything = audit()
    for label in ("Gagal masuk", "Pasang definisi", "Migrasi kasus", "Petugas ditambahkan", "Token dibuat"):
        assert entry(label) in everything
    assert admin.get("/admin/audit?jenis=lain").status_code == 422
    assert admin.get("/admin/audit?setelah=rusak!").status_code == 422


def test_the_audit_trail_pages_through_entries_of_the_same_instant_without_loss(web: Web) -> None:
    desk = web.application.staff_desk
    for index in range(7):  # the clock stands still: every entry has the same time
        web.application.commands.update_staff("rina", name=f"Rina {index}", acting_for="dewi")
        fail_login(web)
    seen: list[tuple[str, int]] = []
    after = None
    while True:
        page = desk.audit("dewi", after=after, limit=3)
        seen += [(entry["source"], entry["id"]) for entry in page["entries"]]
        after = page["next"]
        if after is None:
            break
    whole = desk.audit("dewi", limit=200)["entries"]
    assert seen == [(entry["source"], entry["id"]) for entry in whole] and len(set(seen)) == len(seen)
