"""The inovator changes the TRECKK flow in real Chromium, on a phone and on a desk: opens the deployed
definition, adds a state with a deadline, sees the errors of the half-made edit under their lines,
fixes them, sees the diagram and the diff, plays a scenario against the edit, deploys it and
migrates a running case, whose history then records the move. The other roles see none of these
pages, by URL either. Every page met is checked with axe-core and photographed under
test-artifacts/browser/ (no page wider than the window).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.browser.conftest import WIDTHS, Shots, Site
from tests.web.browser.test_complaint_flow import Walk
from tests.web.definition_edits import REVIEW_SCENARIO, full_edit, half_edit, line_of

PAGES = ("/admin/definisi", "/admin/definisi/treckk", "/admin/definisi/treckk?versi=1", "/admin/migrasi",
         "/admin/migrasi/treckk")


def running_case(site: Site) -> str:
    """A complaint the Paringin team is handling, on version 1."""
    commands = site.application.commands
    case = commands.submit("rina", {"kanal": "telepon", "uraian": "Lapak menutup trotoar di depan Pasar Paringin.",
                                    "kategori": "pkl_tempat_usaha", "kecamatan": "paringin", "lokasi": "Pasar"})
    commands.advance(case.number, "teruskan", "rina", {})
    commands.advance(case.number, "tugaskan", "ahmad", {"instruksi": "Tertibkan lapak."})
    commands.advance(case.number, "mulai_tangani", "tim_paringin", {})
    return case.number


@pytest.mark.parametrize("window", list(WIDTHS))
def test_the_inovator_edits_checks_tries_deploys_and_migrates(browser: Any, site: Site, shots: Shots,
                                                              window: str) -> None:
    number = running_case(site)
    walk = Walk(browser, site, shots, WIDTHS[window])
    page = walk.page

    walk.as_user("dewi")
    page.get_by_role("link", name="Definisi", exact=True).click()
    page.wait_for_url("**/admin/definisi")
    walk.check("definisi-versi")
    assert "system" in page.locator("table.versi").inner_text()
    page.get_by_role("link", name="Sunting versi terbaru").click()
    page.wait_for_url("**/admin/definisi/treckk")
    walk.check("editor-terbuka")

    # A half-made edit: a new state with a deadline on a calendar that does not exist, no way in or out.
    half = half_edit()
    page.locator("#alur").fill(half)
    page.get_by_role("button", name="Periksa").click()
    page.wait_for_url("**/periksa")
    problems = page.locator("p.masalah")
    assert problems.count() == 3
    state_line, calendar_line = line_of(half, "ditinjau_ulang:"), line_of(half, "jam_kantor")
    assert {problems.nth(i).get_attribute("data-line") for i in range(3)} == {str(state_line), str(calendar_line)}
    calendar_row = page.locator(f"#workflow-baris-{calendar_line}")
    assert "calendar: jam_kantor" in calendar_row.locator("code").inner_text()
    assert "unknown calendar 'jam_kantor'" in calendar_row.locator("p.masalah").inner_text()
    assert page.locator("#alur").input_value() == half  # the edit survives the failed check
    walk.check("editor-masalah")

    # Fixed: a real calendar, an escalation, a transition in and one out, and the next version number.
    page.locator("#alur").fill(full_edit())
    page.get_by_role("button", name="Periksa").click()
    page.wait_for_url("**/periksa")
    assert "Tidak ada masalah" in page.locator("#hasil").inner_text()
    diagram = page.locator(".diagram img")
    assert diagram.evaluate("img => img.complete && img.naturalWidth > 300")
    walk.check("editor-sah-diagram")

    page.get_by_role("button", name="Selisih").click()
    page.wait_for_url("**/selisih")
    assert "+  ditinjau_ulang:" in page.locator("#selisih").inner_text()
    walk.check("editor-selisih")

    page.locator("#skenario").fill(REVIEW_SCENARIO)
    page.get_by_role("button", name="Coba skenario").click()
    page.wait_for_url("**/coba")
    assert "9 langkah, 9 sesuai harapan, 0 berbeda" in page.locator("#coba").inner_text()
    escalation = page.locator("#langkah-8 details.pemberitahuan")
    escalation.locator("summary").click()
    assert "H. Rahmadi" in escalation.inner_text()
    walk.check("editor-coba")
    assert site.application.queries.list_cases()[0]["definition_version"] == 1  # trying wrote nothing

    page.get_by_role("button", name="Pasang").click()
    page.wait_for_url("**/admin/definisi/treckk?terpasang=2")
    assert "Versi 2 terpasang" in page.locator("main").inner_text()
    walk.check("editor-terpasang")

    page.get_by_role("link", name="Migrasikan kasus yang berjalan").click()
    page.wait_for_url("**/admin/migrasi/treckk")
    assert number in page.locator("table.kelompok").inner_text()
    walk.check("migrasi-rencana")
    page.get_by_role("button", name=re.compile("Uji coba")).click()
    page.wait_for_url("**/uji")
    assert "v2 · ditangani" in page.locator(f'tr[data-case="{number}"]').inner_text()
    walk.check("migrasi-uji")
    page.get_by_role("button", name="Migrasikan 1 kasus").click()
    page.wait_for_url("**/admin/migrasi/treckk?dipindahkan=1")
    assert "1 kasus dipindahkan ke versi 2" in page.locator("main").inner_text()
    walk.check("migrasi-selesai")

    page.goto(f"{site.url}/kasus/{number}")
    assert "migrasi ke versi 2" in page.locator("ol.riwayat").inner_text()
    walk.check("kasus-termigrasi")
    shown = site.application.queries.show(number)
    assert (shown["definition_version"], shown["state"]) == (2, "ditangani")

    # Nobody else gets these pages: no menu link, and 403 by URL.
    for username in ("tim_paringin", "rina"):
        walk.as_user(username)
        assert page.get_by_role("link", name="Definisi", exact=True).count() == 0
        assert page.get_by_role("link", name="Migrasi", exact=True).count() == 0
        for path in PAGES:
            answer = page.goto(site.url + path)
            assert answer is not None and answer.status == 403, (username, path)
            assert page.locator("h1").inner_text() == "Tidak diizinkan"
        walk.check(f"{username}-ditolak")

    assert walk.axe == {}, walk.axe
    walk.context.close()
