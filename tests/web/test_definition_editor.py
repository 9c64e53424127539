"""The definition editor and the migration pages over HTTP on the real server (SQLite and PostgreSQL).

Asserted: versions listed with who deployed them and when; a failed check lists every problem under
its line and keeps the typed text, and writes nothing; a valid edit checks with a Graphviz SVG
diagram; the diff against the deployed version; a scenario tried against the edit, with its notices
rendered, on a throwaway database; deploy only of an edit that validates, with a newer version and
the same workflow name; the migration plan grouped by version and state with unmapped states
flagged, its dry run, the migration recorded in each case's history, and a stale dry run refused;
CSRF on every POST; every other role refused by URL (403, nothing written), the app layer refusing
too; and every message the validator gives for ``tests/data/invalid/`` shown at its line.
"""

from __future__ import annotations

import base64
import html
import re
from typing import Any

import httpx
import pytest

from engine.app import diagram_svg
from engine.errors import PermissionDenied
from tests.test_definition import case_bundle, invalid_cases, reported
from tests.web.conftest import Web, csrf_of
from tests.web.definition_edits import (
    DEMO_SCENARIO, REVIEW_SCENARIO, ROLES, SHIPPED, TEMPLATES, full_edit, half_edit, line_of,
)

EDITOR = "/admin/definisi/treckk"
_PROBLEM = re.compile(r'<p class="masalah" data-file="(\w+)" data-line="(\d+)" data-column="(\d+)">'
                      r'<span class="letak">[^<]*</span> <span class="pesan-masalah">(.*?)</span></p>', re.S)
_LISTED_LINE = re.compile(r'<li id="(\w+)-baris-(\d+)"[^>]*>(.*?)</li>', re.S)


def form(csrf: str, workflow: str = SHIPPED, *, roles: str = ROLES, templates: dict[str, str] | None = None,
         scenario: str = "") -> dict[str, str]:
    """The editor form's fields as a browser sends them."""
    fields = {"csrf_token": csrf, "alur": workflow, "peran": roles, "skenario": scenario}
    fields.update({f"templat:{name}": text for name, text in (TEMPLATES if templates is None else templates).items()})
    return fields


def post(client: httpx.Client, action: str, fields: dict[str, str], path: str = EDITOR) -> httpx.Response:
    return client.post(f"{path}/{action}", data=fields)


def problems_in(page: str) -> list[tuple[str, int, int, str]]:
    """(file, line, column, message) of every problem a page shows, each checked to sit under its own line."""
    found = []
    for file, line, inside in _LISTED_LINE.findall(page):
        for p_file, p_line, p_column, message in _PROBLEM.findall(inside):
            assert (p_file, p_line) == (file, line), f"problem of {p_file}:{p_line} listed under {file}:{line}"
            found.append((p_file, int(p_line), int(p_column), html.unescape(message)))
    return found


def textarea(page: str, name: str) -> str:
    """The text of the textarea ``name`` as the browser reads it (the newline after the tag is dropped)."""
    found = re.search(rf'<textarea id="{name}"[^>]*>\n(.*?)</textarea>', page, re.S)
    assert found, f"no textarea {name}"
    return html.unescape(found.group(1))


def versions(web: Web) -> list[int]:
    return [v.version for v in web.application.definitions.versions("dewi")[0].versions]


def deploy(web: Web, client: httpx.Client, text: str) -> None:
    answer = post(client, "pasang", form(web.csrf(client, EDITOR), text))
    assert answer.status_code == 303, answer.text[:500]


# -- versions and opening --------------------------------------------------------------------------


def test_the_versions_say_who_deployed_them_and_when_and_open_with_their_texts(web: Web) -> None:
    client = web.login("dewi")
    listed = client.get("/admin/definisi")
    assert listed.status_code == 200
    assert "30-11-2026 08.00 WITA" in listed.text and "<td>system</td>" in listed.text
    assert '<a href="/admin/definisi">Definisi</a>' in listed.text and '<a href="/admin/migrasi">Migrasi</a>' in listed.text
    opened = client.get(EDITOR)
    assert opened.status_code == 200
    assert textarea(opened.text, "alur") == SHIPPED
    assert textarea(opened.text, "peran") == ROLES
    assert "workflows/scenarios" not in textarea(opened.text, "skenario")  # the demo story itself, not a path
    assert textarea(opened.text, "skenario") == DEMO_SCENARIO
    assert client.get(EDITOR + "?versi=1").status_code == 200
    assert client.get(EDITOR + "?versi=9").status_code == 404
    assert client.get(EDITOR + "?versi=abc").status_code == 422
    assert client.get("/admin/definisi/tidak_ada").status_code == 404


# -- check ------------------------------------------------------------------------------------------


def test_a_half_made_edit_shows_each_problem_under_its_line_keeps_the_text_and_writes_nothing(web: Web) -> None:
    client = web.login("dewi")
    half = half_edit()
    answer = post(client, "periksa", form(web.csrf(client, EDITOR), half.replace("\n", "\r\n")))
    assert answer.status_code == 200
    state_line = line_of(half, "ditinjau_ulang:")
    shown = problems_in(answer.text)
    assert sorted(shown) == sorted([
        ("workflow", state_line, 3, "state 'ditinjau_ulang' cannot be reached from the initial state 'diterima'"),
        ("workflow", state_line, 3, "state 'ditinjau_ulang' is not final but no transition leaves it; add a "
                                    "transition from it or mark it final: true"),
        ("workflow", line_of(half, "jam_kantor"), 17, "unknown calendar 'jam_kantor' in the calendar of the deadline "
                                                      "of state 'ditinjau_ulang'; known calendars are jam_kerja, sepanjang_waktu"),
    ])
    assert "3 masalah ditemukan" in answer.text
    assert textarea(answer.text, "alur") == half  # as typed (line ends made \n)
    assert versions(web) == [1]


def test_a_valid_edit_checks_with_its_diagram_drawn_by_graphviz(web: Web) -> None:
    client = web.login("dewi")
    answer = post(client, "periksa", form(web.csrf(client, EDITOR), full_edit()))
    assert answer.status_code == 200
    assert "Tidak ada masalah: definisi ini sah (10 keadaan, 13 perpindahan, versi 2)" in answer.text
    found = re.search(r'<img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', answer.text)
    assert found, "no diagram"
    svg = base64.b64decode(found.group(1)).decode("utf-8")
    assert "<svg" in svg and "Ditinjau ulang pimpinan" in svg and "tinjau_ulang" in svg
    assert "<td><code>ditinjau_ulang</code></td><td>Ditinjau ulang pimpinan</td><td>2h</td>" in answer.text
    assert versions(web) == [1]


def test_without_graphviz_the_diagram_says_why_and_keeps_the_dot_text() -> None:
    drawn = diagram_svg.draw("digraph x { a -> b }", program="treckk-no-such-dot")
    assert drawn.svg is None and "tidak terpasang" in (drawn.problem or "")
    assert drawn.dot == "digraph x { a -> b }"
    too_big = diagram_svg.draw("x" * (diagram_svg.MAX_DOT_BYTES + 1))
    assert too_big.svg is None and "terlalu besar" in (too_big.problem or "")
    broken = diagram_svg.draw("digraph { a -> }")
    assert broken.svg is None and "gagal" in (broken.problem or "")


# -- diff -------------------------------------------------------------------------------------------


def test_the_diff_shows_the_changed_lines_against_the_deployed_version(web: Web) -> None:
    client = web.login("dewi")
    changed = dict(TEMPLATES, **{"pengingat.txt.j2": TEMPLATES["pengingat.txt.j2"] + "Baris tambahan.\n"})
    answer = post(client, "selisih", form(web.csrf(client, EDITOR), full_edit(), templates=changed))
    assert answer.status_code == 200
    assert '<span class="hapus">-version: 1</span>' in answer.text
    assert '<span class="tambah">+version: 2</span>' in answer.text
    assert '<span class="tambah">+  ditinjau_ulang:</span>' in answer.text
    assert '<span class="tambah">+Baris tambahan.</span>' in answer.text
    assert "Tidak berubah: roles" in answer.text
    unchanged = post(client, "selisih", form(web.csrf(client, EDITOR)))
    assert "Tidak ada yang berubah." in unchanged.text


# -- try --------------------------------------------------------------------------------------------


def test_a_scenario_runs_against_the_edit_with_its_notices_rendered_and_nothing_stored(web: Web) -> None:
    client = web.login("dewi")
    answer = post(client, "coba", form(web.csrf(client, EDITOR), full_edit(), scenario=REVIEW_SCENARIO))
    assert answer.status_code == 200, answer.text[-2000:]
    assert "9 langkah, 9 sesuai harapan, 0 berbeda" in answer.text
    assert "menunggu_pengesahan → <span class=\"keadaan\">ditinjau_ulang</span>" in answer.text
    assert "(baris 20, 30-11-2026 08.05 WITA)" in answer.text or "08.05 WITA" in answer.text
    assert "11.05 WITA" in answer.text  # the virtual clock after +3h
    assert "<strong>H. Rahmadi</strong> lewat" in answer.text  # the escalation notice, rendered, to kasat
    assert "Siti Aminah" in answer.text  # pelapor_selesai greets the complainant by name
    assert web.application.queries.list_cases() == [] and versions(web) == [1]
    # The same scenario against the deployed version: the new triggers do not exist there.
    old = post(client, "coba", form(web.csrf(client, EDITOR), scenario=REVIEW_SCENARIO))
    assert "berbeda" in old.text and "unknown trigger &#39;tinjau_ulang&#39;" in old.text


def test_a_broken_scenario_or_edit_is_reported_at_its_line_and_the_texts_stay(web: Web) -> None:
    client = web.login("dewi")
    broken = REVIEW_SCENARIO.replace("start:", "mulai:")
    answer = post(client, "coba", form(web.csrf(client, EDITOR), full_edit(), scenario=broken))
    assert answer.status_code == 422
    files = {file for file, *_ in problems_in(answer.text)}
    assert files == {"scenario"}
    assert textarea(answer.text, "skenario") == broken and textarea(answer.text, "alur") == full_edit()
    assert 'id="skenario-galat"' in answer.text
    half = post(client, "coba", form(web.csrf(client, EDITOR), half_edit(), scenario=REVIEW_SCENARIO))
    assert half.status_code == 422
    assert {file for file, *_ in problems_in(half.text)} == {"workflow"}


# -- deploy -----------------------------------------------------------------------------------------


def test_deploy_stores_only_a_valid_newer_version_of_the_same_workflow(web: Web) -> None:
    client = web.login("dewi")
    same_version = post(client, "pasang", form(web.csrf(client, EDITOR), full_edit(version=1)))
    assert same_version.status_code == 422
    assert "raise `version:` to 2" in same_version.text and 'id="alur-galat"' in same_version.text
    half = post(client, "pasang", form(web.csrf(client, EDITOR), half_edit().replace("version: 1", "version: 2")))
    assert half.status_code == 422 and "Tidak dipasang" in half.text and len(problems_in(half.text)) == 3
    renamed = post(client, "pasang", form(web.csrf(client, EDITOR), full_edit().replace("workflow: treckk",
                                                                                        "workflow: lain")))
    assert renamed.status_code == 422 and "names workflow &#39;lain&#39;" in renamed.text
    assert versions(web) == [1]
    done = post(client, "pasang", form(web.csrf(client, EDITOR), full_edit()))
    assert done.status_code == 303 and done.headers["location"] == EDITOR + "?terpasang=2"
    after = client.get(done.headers["location"])
    assert "Versi 2 terpasang" in after.text and 'href="/admin/migrasi/treckk"' in after.text
    rows = web.application.definitions.versions("dewi")[0].versions
    assert [(r.version, r.deployed_by) for r in rows] == [(2, "dewi"), (1, "system")]
    again = post(client, "pasang", form(web.csrf(client, EDITOR), full_edit()))
    assert again.status_code == 200 and "sudah terpasang sebagai versi 2" in again.text


def test_files_can_be_uploaded_instead_of_typed(web: Web) -> None:
    client = web.login("dewi")
    fields = form(web.csrf(client, EDITOR), "diganti oleh unggahan")
    files = {"berkas_alur": ("treckk.yaml", full_edit().encode(), "text/yaml"),
             "berkas_templat": ("catatan_baru.txt.j2", b"Halo {{ penerima.nama }}\n", "text/plain")}
    answer = client.post(EDITOR + "/periksa", data=fields, files=files)
    assert answer.status_code == 200 and "Tidak ada masalah" in answer.text
    assert textarea(answer.text, "alur") == full_edit()
    assert 'name="templat:catatan_baru.txt.j2"' in answer.text
    not_text = client.post(EDITOR + "/periksa", data=fields, files={"berkas_peran": ("x.yaml", b"\xff\xfe", "x")})
    assert not_text.status_code == 422 and 'id="berkas_peran-galat"' in not_text.text
    bad_name = client.post(EDITOR + "/periksa", data=fields, files={"berkas_templat": ("x.exe", b"a", "x")})
    assert bad_name.status_code == 422 and "bukan templat" in bad_name.text
    traversal = post(client, "periksa", {**fields, "templat:../../etc/x.j2": "a"})
    assert traversal.status_code == 422 and "bad template name" in traversal.text


# -- migration --------------------------------------------------------------------------------------


def _case_in(web: Web, state: str) -> str:
    """A case moved (by the app layer, as staff would) into ``state``: verifikasi or ditangani."""
    commands = web.application.commands
    case = commands.submit("rina", {"kanal": "telepon", "uraian": "Lapak menutup jalan di depan pasar.",
                                    "kategori": "pkl_tempat_usaha", "kecamatan": "paringin", "lokasi": "Pasar"})
    commands.advance(case.number, "teruskan", "rina", {})
    if state == "verifikasi":
        commands.advance(case.number, "minta_verifikasi", "ahmad", {})
    else:
        commands.advance(case.number, "tugaskan", "ahmad", {"instruksi": "Tertibkan."})
        commands.advance(case.number, "mulai_tangani", "tim_paringin", {})
    return case.number


RENAMED = re.sub(r"\bverifikasi\b", "verifikasi_lapangan", full_edit())


def test_the_migration_plan_flags_unmapped_states_dry_runs_and_records_each_move(web: Web) -> None:
    checking, handling = _case_in(web, "verifikasi"), _case_in(web, "ditangani")
    client = web.login("dewi")
    deploy(web, client, RENAMED)
    page = client.get("/admin/migrasi/treckk")
    assert page.status_code == 200
    assert "Kasus berjalan pada versi lama (2)" in page.text
    assert "1 keadaan belum dipetakan: verifikasi." in page.text
    assert f'<a href="/kasus/{checking}">' in page.text and f'<a href="/kasus/{handling}">' in page.text
    assert "/pindahkan" not in page.text  # no migration before a dry run
    token = web.csrf(client, "/admin/migrasi/treckk")
    dry = client.post("/admin/migrasi/treckk/uji", data={"csrf_token": token, "peta.verifikasi": "",
                                                        "peta.ditangani": "ditangani"})
    assert dry.status_code == 200
    assert re.search(rf'data-case="{checking}">.*?belum dipetakan', dry.text, re.S)
    assert "/pindahkan" not in dry.text
    refused = client.post("/admin/migrasi/treckk/pindahkan", data={"csrf_token": token, "peta.verifikasi": "",
                                                                  "peta.ditangani": "ditangani", "jumlah": "2"})
    assert refused.status_code == 422 and "is not mapped" in refused.text
    bad = client.post("/admin/migrasi/treckk/uji", data={"csrf_token": token, "peta.verifikasi": "tidak_ada"})
    assert bad.status_code == 422 and 'id="peta-' in bad.text and "has no state" in bad.text
    mapped = {"csrf_token": token, "peta.verifikasi": "verifikasi_lapangan", "peta.ditangani": "ditangani"}
    dry = client.post("/admin/migrasi/treckk/uji", data=mapped)
    assert re.search(rf'data-case="{checking}">.*?v2 · verifikasi_lapangan', dry.text, re.S)
    assert 'action="/admin/migrasi/treckk/pindahkan"' in dry.text and 'name="jumlah" value="2"' in dry.text
    assert web.application.queries.show(checking)["definition_version"] == 1  # a dry run moves nothing
    moved = client.post("/admin/migrasi/treckk/pindahkan", data={**mapped, "jumlah": "2"})
    assert moved.status_code == 303 and moved.headers["location"] == "/admin/migrasi/treckk?dipindahkan=2"
    assert "2 kasus dipindahkan ke versi 2" in client.get(moved.headers["location"]).text
    shown = web.application.queries.show(checking)
    assert (shown["state"], shown["definition_version"]) == ("verifikasi_lapangan", 2)
    last = web.application.queries.history(checking)[-1]
    assert (last["trigger"], last["actor"], last["from"], last["to"]) == ("migrasi", "dewi", "verifikasi",
                                                                          "verifikasi_lapangan")
    assert web.application.queries.history(handling)[-1]["trigger"] == "migrasi"
    assert "Tidak ada kasus berjalan pada versi yang lebih lama." in client.get("/admin/migrasi/treckk").text


def test_the_dry_run_is_paged_sums_each_new_state_and_the_page_shows_a_migration_under_way(
        web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.adapters.web.definitions.migration as migration_page

    checking = [_case_in(web, "verifikasi"), _case_in(web, "verifikasi")]
    numbers = [_case_in(web, "ditangani"), *checking]  # the dry run's order: by version, state, then case
    client = web.login("dewi")
    deploy(web, client, RENAMED)
    monkeypatch.setattr(migration_page, "DRY_RUN_PAGE", 2)
    token = web.csrf(client, "/admin/migrasi/treckk")
    mapped = {"csrf_token": token, "peta.verifikasi": "verifikasi_lapangan", "peta.ditangani": "ditangani"}
    first = client.post("/admin/migrasi/treckk/uji", data=mapped)
    assert first.status_code == 200
    assert re.findall(r'data-case="([^"]+)"', first.text) == numbers[:2]
    assert re.search(r'data-becomes="verifikasi_lapangan">.*?<td>2</td>', first.text, re.S)
    assert re.search(r'data-becomes="ditangani">.*?<td>1</td>', first.text, re.S)
    assert "2 dari 3 kasus ditampilkan" in first.text
    following = html.unescape(re.search(r'<a href="([^"]+)" rel="next">', first.text).group(1))  # type: ignore[union-attr]
    assert following.startswith("/admin/migrasi/treckk/uji?") and "peta.verifikasi=verifikasi_lapangan" in following
    second = client.get(following)
    assert second.status_code == 200 and re.findall(r'data-case="([^"]+)"', second.text) == numbers[2:]
    assert 'rel="next"' not in second.text and "Halaman pertama" in second.text
    assert 'name="jumlah" value="3"' in second.text
    assert client.get("/admin/migrasi/treckk/uji?setelah=bm90LWEtY3Vyc29y").status_code == 422
    # The outcome page says how many are left and that running it again continues.
    resumed = client.get("/admin/migrasi/treckk?dipindahkan=0").text
    assert "3 kasus berjalan masih pada versi lama; keadaan verifikasi belum dipetakan" in resumed

    seen: list[str] = []

    def look(progress: object) -> None:
        if len(seen) == 0:
            seen.append(client.get("/admin/migrasi/treckk").text)

    done = web.application.definitions.migrate("dewi", "treckk", {"verifikasi": "verifikasi_lapangan"},
                                               batch_size=1, after_batch=look)
    assert (done.migrated, done.batches, done.left) == (3, 3, 0)
    assert "sedang berjalan: 1 kasus sudah dipindahkan (1 kelompok), 2 masih pada versi lama" in seen[0]
    assert "sedang berjalan" not in client.get("/admin/migrasi/treckk").text


def test_a_migration_longer_than_the_request_goes_on_and_the_page_shows_it_then_its_outcome(
        web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import engine.adapters.web.definitions.migration as migration_page
    from engine.app.definition_desk import DefinitionDesk

    numbers = [_case_in(web, "ditangani"), _case_in(web, "ditangani")]
    client = web.login("dewi")
    deploy(web, client, full_edit())
    go_on = threading.Event()
    original = DefinitionDesk.migrate

    def held(self: DefinitionDesk, *args: Any, **kwargs: Any) -> Any:
        go_on.wait()  # the migration is "long": it starts only once the page has answered
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DefinitionDesk, "migrate", held)
    monkeypatch.setattr(migration_page, "SYNC_WAIT_S", 0.0)
    token = web.csrf(client, "/admin/migrasi/treckk")
    answer = client.post("/admin/migrasi/treckk/pindahkan", data={"csrf_token": token, "peta.ditangani": "ditangani",
                                                                 "jumlah": "2"})
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/migrasi/treckk?berjalan=1"
    assert "Kasus berjalan pada versi lama (2)" in client.get(answer.headers["location"]).text
    go_on.set()
    migration_page.RUNS["treckk"].join()
    after = client.get(answer.headers["location"]).text
    assert "2 kasus dipindahkan ke versi 2" in after and "sedang berjalan" not in after
    assert all(web.application.queries.show(n)["definition_version"] == 2 for n in numbers)


def test_a_dry_run_that_went_stale_is_refused(web: Web) -> None:
    _case_in(web, "ditangani")
    client = web.login("dewi")
    deploy(web, client, full_edit())
    token = web.csrf(client, "/admin/migrasi/treckk")
    answer = client.post("/admin/migrasi/treckk/pindahkan", data={"csrf_token": token, "peta.ditangani": "ditangani",
                                                                 "jumlah": "5"})
    assert answer.status_code == 409 and "not 5 as in the dry run" in answer.text
    assert web.application.queries.list_cases()[0]["definition_version"] == 1


# -- who may ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["rina", "ahmad", "tim_paringin", "kasat"])
def test_other_roles_see_no_editor_or_migration_page_by_url_either(web: Web, username: str) -> None:
    number = _case_in(web, "ditangani")
    dewi = web.login("dewi")
    deploy(web, dewi, full_edit())
    client = web.login(username)
    inbox = client.get("/kotak-masuk")
    assert "/admin/definisi" not in inbox.text and "/admin/migrasi" not in inbox.text
    token = csrf_of(inbox.text)
    for path in ("/admin/definisi", EDITOR, EDITOR + "?versi=1", "/admin/migrasi", "/admin/migrasi/treckk"):
        assert client.get(path).status_code == 403, path
    for action in ("periksa", "selisih", "coba", "pasang"):
        answer = post(client, action, form(token, full_edit(version=3), scenario=REVIEW_SCENARIO))
        assert answer.status_code == 403, action
        assert "SHIPPED" not in answer.text and "ditinjau_ulang" not in answer.text
    for action in ("uji", "pindahkan"):
        answer = client.post(f"/admin/migrasi/treckk/{action}", data={"csrf_token": token, "peta.ditangani":
                                                                      "ditangani", "jumlah": "1"})
        assert answer.status_code == 403, action
    assert versions(web) == [2, 1]
    assert web.application.queries.show(number)["definition_version"] == 1


def test_the_app_layer_refuses_members_without_the_capability(web: Web) -> None:
    desk = web.application.definitions
    edit = desk.draft("treckk", full_edit(), ROLES, TEMPLATES)
    for call in (lambda: desk.versions("rina"), lambda: desk.opened("rina", "treckk"),
                 lambda: desk.check("rina", "treckk", edit), lambda: desk.deploy("rina", "treckk", edit),
                 lambda: desk.try_scenario("rina", "treckk", edit, REVIEW_SCENARIO),
                 lambda: desk.plan("rina", "treckk"), lambda: desk.migrate("rina", "treckk", {}),
                 lambda: desk.behind("ahmad")):
        with pytest.raises(PermissionDenied):
            call()
    assert web.application.queries.capabilities("dewi") >= {"deploy", "migrate"}
    assert web.application.queries.capabilities("rina") == frozenset()


def test_every_post_needs_the_csrf_token(web: Web) -> None:
    client = web.login("dewi")
    for action in ("periksa", "selisih", "coba", "pasang"):
        for token in ("", "salah"):
            answer = post(client, action, form(token, full_edit()))
            assert answer.status_code == 403, action
    for action in ("uji", "pindahkan"):
        assert client.post(f"/admin/migrasi/treckk/{action}", data={"jumlah": "0"}).status_code == 403
    assert versions(web) == [1]


def test_odd_input_is_answered_without_a_server_error(web: Web) -> None:
    client = web.login("dewi")
    token = web.csrf(client, EDITOR)
    odd = [form(token, "\x00"), form(token, "workflow: [", roles="{"), form(token, "a: \udcff".encode(
        "utf-8", "surrogatepass").decode("utf-8", "replace")), {"csrf_token": token}]
    for fields in odd:
        for action in ("periksa", "selisih", "coba", "pasang"):
            answer = post(client, action, fields)
            assert answer.status_code < 500, (action, answer.text[-500:])
    assert post(client, "hapus", form(token)).status_code == 404
    assert client.post("/admin/migrasi/treckk/hapus", data={"csrf_token": token}).status_code == 404
    assert client.post("/admin/migrasi/tidak_ada/uji", data={"csrf_token": token}).status_code == 404
    assert client.post("/admin/migrasi/treckk/uji", data={"csrf_token": token, "peta.tidak_ada": "x"}).status_code == 422
    assert versions(web) == [1]


# -- every validator message, at its line ------------------------------------------------------------


def test_every_message_of_the_invalid_definitions_appears_in_the_editor_at_its_line(web: Web) -> None:
    client = web.login("dewi")
    token = web.csrf(client, EDITOR)
    checked = 0
    for workflow in invalid_cases():
        bundle = case_bundle(workflow)
        expected = []
        for path, line, column, message in reported(workflow):
            file = "roles" if path == bundle.roles_path and path != bundle.workflow_path else "workflow"
            expected.append((file, line, column, message))
        answer = post(client, "periksa", form(token, bundle.workflow_text, roles=bundle.roles_text,
                                              templates=dict(bundle.templates)))
        assert answer.status_code == 200, workflow.name
        assert sorted(problems_in(answer.text)) == sorted(expected), workflow.name
        assert textarea(answer.text, "alur") == bundle.workflow_text.replace("\r\n", "\n"), workflow.name
        checked += len(expected)
    assert checked >= 70
    assert versions(web) == [1]
