"""The administrator's work by clicking in real Chromium, on a phone and on a desk.

The inovator (``can: manage_staff``) adds a team member (a bad phone number first: the message
appears next to the field), resets their password and hands it over (the member logs in with it),
disables them (their login is refused), retries a failed notice from the outbox, and reads all of it
on the audit page, then makes an integration token (shown once). The same is done once more with JavaScript off. Every page met is checked with
axe-core and kept as a screenshot under test-artifacts/browser/.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from engine.channels.base import ChannelSet
from engine.notices.policy import DeliveryPolicy
from tests.conftest import COMPLAINT
from tests.web.browser.conftest import WIDTHS, Shots, Site, axe_problems


class Desk:
    """One browser window of the administrator: pages are photographed, checked with axe and for overflow."""

    def __init__(self, browser: Any, site: Site, shots: Shots, width: int, *, javascript: bool = True) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 800}, locale="id-ID",
                                           timezone_id="Asia/Makassar", java_script_enabled=javascript)
        self.page = self.context.new_page()
        self.site, self.shots, self.width, self.javascript = site, shots, width, javascript
        self.axe: dict[str, list[str]] = {}

    def check(self, name: str) -> None:
        self.shots.take(self.page, name)
        if self.javascript:
            problems = axe_problems(self.page)
            if problems:
                self.axe[name] = problems
            overflow = self.page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name}: the page is {overflow}px wider than a {self.width}px window"

    def login(self, username: str, password: str | None = None) -> None:
        from tests.web.conftest import PASSWORDS

        page = self.page
        page.goto(self.site.url + "/login")
        page.get_by_label("Nama pengguna").fill(username)
        page.get_by_label("Kata sandi").fill(password or PASSWORDS[username])
        page.get_by_role("button", name="Masuk").click()
        page.wait_for_load_state()

    def close(self) -> None:
        self.context.close()


def failed_notice(site: Site) -> int:
    """A complaint whose notices all failed (no channel could take them); the id of the newest."""
    commands = site.application.commands
    commands.submit("rina", COMPLAINT)
    commands.deliver(channels=ChannelSet({}), policy=DeliveryPolicy(max_attempts=1))
    return max(row["id"] for row in site.application.queries.notices(status="failed"))


def administer(browser: Any, site: Site, shots: Shots, width: int, *, javascript: bool, username: str) -> None:
    desk = Desk(browser, site, shots, width, javascript=javascript)
    page = desk.page
    notice = failed_notice(site)
    desk.login("dewi")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Staf").click()
    page.wait_for_url("**/admin/staf")
    desk.check("staf-daftar")

    page.get_by_role("link", name="Tambah petugas").click()
    page.wait_for_url("**/admin/staf/baru")
    form = page.locator("form.aksi")
    form.get_by_label("Nama pengguna").fill(username)
    form.get_by_label("Nama lengkap").fill("Budi Hartono")
    form.get_by_label(re.compile("Tim Reaksi Cepat")).check()
    form.get_by_label("Kecamatan", exact=True).select_option(label="Paringin")
    form.get_by_label("Nomor telepon/WhatsApp").fill("12")
    form.get_by_label("Surel").fill("budi@satpolpp.balangankab.go.id")
    desk.check("staf-baru-terisi")
    form.get_by_role("button", name="Tambah petugas").click()
    page.wait_for_load_state()
    error = page.locator("#galat-phone")
    assert error.count() == 1 and "0812" in error.inner_text()
    assert page.get_by_label("Nama lengkap").input_value() == "Budi Hartono"  # what was typed stays
    desk.check("staf-baru-galat-telepon")
    page.get_by_label("Nomor telepon/WhatsApp").fill("0812-5100-0099")
    page.locator("form.aksi").get_by_role("button", name="Tambah petugas").click()
    page.wait_for_url(f"**/admin/staf/{username}?selesai=tambah")
    assert page.locator(".pesan.ok").count() == 1
    desk.check("staf-ditambahkan")

    page.get_by_role("button", name="Atur ulang kata sandi").click()
    page.wait_for_load_state()
    password = page.locator("#kata-sandi-baru").inner_text().strip()
    assert len(password) >= 10
    desk.check("staf-kata-sandi-baru")

    member = Desk(browser, site, shots, width, javascript=javascript)
    member.login(username, password)
    assert "/login" not in member.page.url and "Budi Hartono" in member.page.locator("header").inner_text()
    member.close()

    page.get_by_role("button", name="Nonaktifkan petugas").click()
    page.wait_for_url(f"**/admin/staf/{username}?selesai=nonaktif")
    assert "nonaktif" in page.locator("main").inner_text()
    desk.check("staf-dinonaktifkan")
    refused = Desk(browser, site, shots, width, javascript=javascript)
    refused.login(username, password)
    assert "/login" in refused.page.url
    refused.close()

    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Kotak keluar").click()
    page.wait_for_url("**/kotak-keluar")
    page.get_by_label("Status").select_option(label="Gagal")
    page.get_by_role("button", name="Saring").click()
    page.wait_for_url("**/kotak-keluar?status=failed**")
    card = page.locator(f"#kiriman-{notice}")
    assert "Galat terakhir" in card.inner_text()
    desk.check("kotak-keluar-gagal")
    card.get_by_role("button", name=f"Kirim ulang #{notice}").click()
    page.wait_for_url(f"**/kotak-keluar?diulang={notice}")
    assert f"Kiriman #{notice} dijadwalkan ulang" in page.locator(".pesan.ok").inner_text()
    assert "dicoba berikutnya" in page.locator(f"#kiriman-{notice}").inner_text()
    desk.check("kotak-keluar-diulang")

    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Audit").click()
    page.wait_for_url("**/admin/audit")
    trail = page.locator("ol.jejak").inner_text()
    for label in ("Petugas ditambahkan", "Kata sandi diatur", "Petugas dinonaktifkan", "Kiriman diulang",
                  "Gagal masuk", "Masuk", "Pasang definisi"):
        assert label in trail, label
    desk.check("audit")

    page.get_by_role("navigation", name="Administrasi").get_by_role("link", name="Token integrasi").click()
    page.wait_for_url("**/admin/token")
    page.get_by_label("Pemilik").select_option(value="rina")
    page.get_by_label("Nama token").fill("SP4N-LAPOR")
    page.get_by_role("button", name="Buat token").click()
    page.wait_for_load_state()
    token = page.locator("#token-baru").inner_text()
    assert token.startswith("trk_") and "hanya ditampilkan sekali" in page.locator("main").inner_text()
    desk.check("token-dibuat")
    page.goto(site.url + "/admin/token")
    assert token not in page.content()
    assert desk.axe == {}, desk.axe
    desk.close()


@pytest.mark.parametrize("window", list(WIDTHS))
def test_an_administrator_adds_resets_disables_and_retries_by_clicking(browser: Any, site: Site, shots: Shots,
                                                                        window: str) -> None:
    administer(browser, site, shots, WIDTHS[window], javascript=True, username="budi.tim")


def test_the_same_work_without_javascript(browser: Any, site: Site, shots: Shots) -> None:
    administer(browser, site, shots, WIDTHS["phone"], javascript=False, username="budi.nojs")
