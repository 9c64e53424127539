"""The dashboard in real Chromium, on a phone (360 px) and on a desk (1280 px), without JavaScript too.

The Kepala Bidang opens it from the menu, picks last month, and reads charts and tables; every view
is checked with axe-core (no serious or critical violation), must not be wider than the window,
and is kept as a screenshot under test-artifacts/browser/.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.conftest import COMPLAINT
from tests.web.browser.conftest import WIDTHS, Shots, Site, axe_problems

WITA = timezone(timedelta(hours=8))
KECAMATAN = ("paringin", "halong", "juai", "awayan", "paringin", "lampihong", "batu_mandi", "paringin")
KATEGORI = ("pkl_tempat_usaha", "bangunan_liar", "keributan", "ternak_lepas")


def seed(site: Site) -> None:
    """Twenty-four complaints over November 2026: some rejected or referred, the rest waiting, many late."""
    commands, clock = site.application.commands, site.application.clock
    for i in range(24):
        clock.set(datetime(2026, 11, 1 + i, 9, 0, tzinfo=WITA))
        number = commands.submit("rina", {**COMPLAINT, "kecamatan": KECAMATAN[i % len(KECAMATAN)],
                                          "kategori": KATEGORI[i % len(KATEGORI)]}).number
        if i % 3:
            clock.advance(hours=1 + i % 4)
            commands.advance(number, "teruskan", "rina")
        if i % 3 == 1:
            clock.advance(hours=3 + i)
            commands.advance(number, "tolak", "ahmad", {"alasan": "Bukan kewenangan Satpol PP"})
        elif i % 6 == 2:
            clock.advance(hours=20)
            commands.advance(number, "limpahkan", "ahmad", {"instansi": "Dinas Perhubungan", "alasan": "Parkir"})
    clock.set(datetime(2026, 12, 2, 10, 0, tzinfo=WITA))
    commands.escalate()


@pytest.mark.parametrize("window", list(WIDTHS))
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_dashboard_reads_well_on_a_phone_and_a_desk(browser: Any, site: Site, shots: Shots, window: str,
                                                        javascript: bool) -> None:
    seed(site)
    context = browser.new_context(viewport={"width": WIDTHS[window], "height": 800}, locale="id-ID",
                                  timezone_id="Asia/Makassar", java_script_enabled=javascript)
    page = context.new_page()
    try:
        site.login(page, "ahmad")
        page.get_by_role("link", name="Dasbor").click()
        page.wait_for_url("**/dasbor")
        problems: dict[str, list[str]] = {}

        def check(name: str) -> None:
            shots.take(page, name)
            if javascript:
                found = axe_problems(page)
                if found:
                    problems[name] = found
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name}: the page is {overflow}px wider than a {WIDTHS[window]}px window"

        check(f"dasbor-{window}")
        page.get_by_role("link", name="Bulan lalu").click()
        page.wait_for_url("**/dasbor?*dari=2026-11-01*")
        assert page.get_by_role("img", name="Aduan terbuka menurut keadaan").count() == 1
        assert page.locator("#mingguan table tbody tr").count() == 6
        check(f"dasbor-bulan-lalu-{window}")
        page.get_by_label("Dari tanggal").fill("2026-11-16")
        page.get_by_role("button", name="Tampilkan").click()
        page.wait_for_url("**dari=2026-11-16*")
        assert "16 Nov 2026 – 30 Nov 2026" in page.content()
        assert problems == {}, problems
    finally:
        context.close()
