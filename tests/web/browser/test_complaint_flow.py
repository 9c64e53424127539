"""A complaint from intake to approval, all by clicking in real Chromium, on a phone and on a desk.

Admin La-Lisa records a complaint with a photo and forwards it; the Kepala Bidang orders
verification; the Paringin team reports; the Kepala Bidang assigns; the team starts, handles and
reports with a photo; the Kepala Bidang approves. The Halong team sees none of it, by URL either.
Every staff page met is checked with axe-core (no serious or critical violation) and kept as a
screenshot under test-artifacts/browser/.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

from tests.web.browser.conftest import WIDTHS, Shots, Site, axe_problems


def photo(tmp_path: Path, name: str, colour: tuple[int, int, int]) -> Path:
    from PIL import Image

    path = tmp_path / name
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), colour).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())
    return path


class Walk:
    """One browser window: pages visited are checked with axe and photographed."""

    def __init__(self, browser: Any, site: Site, shots: Shots, width: int) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 800}, locale="id-ID",
                                           timezone_id="Asia/Makassar")
        self.page = self.context.new_page()
        self.site = site
        self.shots = shots
        self.width = width
        self.axe: dict[str, list[str]] = {}
        self.axe_checked: set[str] = set()

    def check(self, name: str) -> None:
        self.shots.take(self.page, name)
        problems = axe_problems(self.page)
        if problems:
            self.axe[name] = problems
        overflow = self.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name}: the page is {overflow}px wider than a {self.width}px window"

    def as_user(self, username: str) -> None:
        self.context.clear_cookies()
        if "login" not in self.axe_checked:
            self.page.goto(self.site.url + "/login")
            self.check("login")
            self.axe_checked.add("login")
        self.site.login(self.page, username)
        self.check(f"{username}-kotak-masuk")

    def open_case(self, number: str) -> None:
        self.page.get_by_role("link", name=number).click()
        self.page.wait_for_url(f"**/kasus/{number}")
        self.check(f"kasus-{number}")

    def act(self, label: str, fill: dict[str, str] | None = None, *, choose: dict[str, str] | None = None,
            yes: tuple[str, ...] = (), files: dict[str, Path] | None = None, shot: str = "") -> None:
        """Open the action ``label``, fill its fields (by their labels) and send it."""
        section = self.page.locator("details.aksi", has=self.page.locator("summary", has_text=label))
        if section.get_attribute("open") is None:
            section.locator("summary").click()
        form = section.locator("form")
        for field, value in (fill or {}).items():
            form.get_by_label(field, exact=False).first.fill(value)
        for field, value in (choose or {}).items():
            form.get_by_label(field, exact=False).first.select_option(label=value)
        for legend in yes:
            form.locator("fieldset", has_text=legend).get_by_label("Ya").check()
        for field, path in (files or {}).items():
            form.get_by_label(field, exact=False).first.set_input_files(str(path))
        if shot:
            self.check(shot)
        form.get_by_role("button", name=label).click()
        self.page.wait_for_load_state()
        expect_saved = self.page.locator(".pesan.ok")
        assert expect_saved.count() == 1, self.page.locator("main").inner_text()[:2000]
        self.check(f"setelah-{label[:30].replace(' ', '-').lower()}")

    def state(self) -> str:
        return self.page.locator("main .keadaan").first.inner_text()


@pytest.mark.parametrize("window", list(WIDTHS))
def test_a_complaint_moves_from_intake_to_approval_by_clicking(browser: Any, site: Site, shots: Shots,
                                                               tmp_path: Path, window: str) -> None:
    walk = Walk(browser, site, shots, WIDTHS[window])
    page = walk.page
    complaint_photo = photo(tmp_path, "aduan.jpg", (180, 40, 40))
    result_photo = photo(tmp_path, "hasil.jpg", (40, 160, 60))

    walk.as_user("rina")
    page.get_by_role("link", name=re.compile("Catat aduan baru")).click()
    walk.check("catat-kosong")
    form = page.locator("form.aksi")
    form.get_by_label("Kanal aduan").select_option(label="WhatsApp La-Lisa")
    form.get_by_label("Nama pelapor").fill("Siti Rahmah")
    form.get_by_label("Nomor telepon/WhatsApp pelapor").fill("0812-7777-0101")
    form.get_by_label("Uraian aduan").fill("Lapak pedagang menutup trotoar di depan Pasar Paringin sejak pagi.")
    form.get_by_label("Kategori aduan").select_option(label="PKL dan tempat usaha")
    form.get_by_label("Kecamatan").select_option(label="Paringin")
    form.get_by_label("Lokasi kejadian").fill("Jl. Ahmad Yani, depan Pasar Paringin")
    form.get_by_label("Foto dari pelapor").set_input_files(str(complaint_photo))
    walk.check("catat-terisi")
    form.get_by_role("button", name="Simpan aduan").click()
    page.wait_for_url(re.compile(r"/kasus/TRK-\d{4}-\d+"))
    number = re.search(r"TRK-\d{4}-\d+", page.url).group(0)  # type: ignore[union-attr]
    walk.check("aduan-tercatat")
    assert walk.state() == "Aduan diterima"
    complaint_thumb = page.locator("ul.foto img").first
    assert complaint_thumb.evaluate("img => img.complete && img.naturalWidth > 0")
    photo_url = page.locator("ul.foto a").first.get_attribute("href")
    assert photo_url and photo_url.startswith(f"/kasus/{number}/lampiran/")
    walk.act("Teruskan kepada Kepala Bidang")
    assert walk.state() == "Ditelaah Kepala Bidang"

    walk.as_user("ahmad")
    walk.open_case(number)
    assert "Siti Rahmah" in page.locator("main").inner_text()  # the Kabid may read personal data
    walk.act("Perintahkan verifikasi lapangan", {"Instruksi tugas": "Periksa lapak di depan pasar."})
    assert walk.state() == "Verifikasi lapangan"

    walk.as_user("tim_paringin")
    walk.open_case(number)
    text = page.locator("main").inner_text()
    assert "Siti Rahmah" not in text and "7777" not in text and "[dirahasiakan]" in text
    walk.act("Laporkan hasil verifikasi", {"Temuan verifikasi": "Benar, tiga lapak menutup trotoar."},
             yes=("Laporan terbukti benar",))
    assert walk.state() == "Ditelaah Kepala Bidang"

    walk.as_user("ahmad")
    walk.open_case(number)
    walk.act("Tugaskan tim (surat perintah tugas)", {"Instruksi tugas": "Tertibkan lapak dan beri teguran."})
    assert walk.state() == "Tim ditugaskan"

    walk.as_user("tim_paringin")
    walk.open_case(number)
    walk.act("Mulai penanganan di lokasi")
    walk.act("Laporkan hasil penanganan", {"Tindakan yang dilakukan": "Teguran lisan, lapak dipindah.",
                                           "Hasil penanganan": "Trotoar kembali bisa dilalui."},
             files={"Foto hasil penanganan": result_photo}, shot="laporan-hasil-terisi")
    assert walk.state() == "Menunggu pengesahan"
    assert page.locator("ul.foto img").count() == 2

    walk.as_user("ahmad")
    walk.open_case(number)
    walk.act("Sahkan hasil penanganan", {"Catatan": "Terima kasih."})
    assert walk.state() == "Selesai"
    history = page.locator("ol.riwayat > li")
    assert history.count() == 8  # intake and seven moves, newest first
    assert "Sahkan hasil penanganan" in history.first.inner_text()

    # The Halong team sees none of it: not in its inbox, not by the case's URL, not by the photo's.
    walk.as_user("tim_halong")
    assert page.get_by_text(number).count() == 0
    answer = page.goto(f"{site.url}/kasus/{number}")
    assert answer is not None and answer.status == 404
    assert page.get_by_text(number).count() == 0
    walk.check("halong-kasus-lain")
    answer = page.goto(f"{site.url}{photo_url}")
    assert answer is not None and answer.status == 404

    assert walk.axe == {}, walk.axe
    walk.context.close()


def test_a_form_is_used_with_the_keyboard_alone(browser: Any, site: Site, shots: Shots) -> None:
    """Tab to the action, open it with Enter, type the reason, Tab to the button and press Enter."""
    from tests.conftest import COMPLAINT

    case = site.application.commands.submit("rina", COMPLAINT)
    site.application.commands.advance(case.number, "teruskan", "rina")
    walk = Walk(browser, site, shots, WIDTHS["phone"])
    page = walk.page
    walk.as_user("ahmad")
    page.goto(f"{site.url}/kasus/{case.number}")

    def tab_to(selector: str, limit: int = 80) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to("details.aksi:has(#form-tolak) > summary")
    page.keyboard.press("Enter")
    tab_to("#f-tolak-alasan")
    page.keyboard.type("Bukan kewenangan Satpol PP.")
    tab_to("#form-tolak button[type=submit]")
    walk.check("tolak-dengan-papan-ketik")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/kasus/{case.number}?selesai=tolak")
    assert walk.state() == "Ditolak"
    assert page.locator(".pesan.ok").count() == 1
    assert walk.axe == {}, walk.axe
    walk.context.close()
