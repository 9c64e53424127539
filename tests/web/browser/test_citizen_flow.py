"""A citizen's complaint in real Chromium: filed on the public form with a photo and a map pin, followed
with its number and code while staff move it in another browser context, added to, and rated.

The map tiles are unreachable here (and refused by the test, so nothing waits on them): the pin is
set by clicking the map, which works without tiles. Every page the citizen reaches is kept and
checked: no staff name or username, no personal data of any case, no internal comment; each is
checked with axe-core and must fit the window. Screenshots at 360 px and 1280 px go to
test-artifacts/browser/.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.web.browser.conftest import WIDTHS, Shots, Site, axe_problems
from tests.web.browser.test_complaint_flow import Walk, photo
from tests.web.conftest import DEMO_STAFF, personal_values

INTERNAL = ("Tertibkan sapi dan panggil pemiliknya", "Hasil baik, arsipkan", "Sapi dikandangkan pemiliknya",
            "Jalan kembali aman")
"""What staff write on the case (instructions, comments, the result): none of it reaches the citizen."""


class Citizen:
    """The citizen's own window (no login): every page it reaches is kept for the checks."""

    def __init__(self, browser: Any, site: Site, shots: Shots, width: int) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 800}, locale="id-ID",
                                           timezone_id="Asia/Makassar")
        self.context.route(re.compile(r"https?://([a-z]\.)?tile\.openstreetmap\.org/.*"), lambda route: route.abort())
        self.page = self.context.new_page()
        self.site = site
        self.shots = shots
        self.width = width
        self.seen: list[tuple[str, str]] = []
        self.axe: dict[str, list[str]] = {}

    def check(self, name: str) -> None:
        self.page.wait_for_load_state()
        self.seen.append((self.page.url, self.page.content()))
        self.shots.take(self.page, f"warga-{name}")
        problems = axe_problems(self.page)
        if problems:
            self.axe[name] = problems
        overflow = self.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name}: the page is {overflow}px wider than a {self.width}px window"

    def state(self) -> str:
        return self.page.locator("main .keadaan").first.inner_text()

    def reload(self, name: str, number: str) -> str:
        self.page.goto(f"{self.site.url}/lacak/{number}")
        self.check(name)
        return self.state()


@pytest.mark.parametrize("window", list(WIDTHS))
def test_a_citizen_files_follows_adds_to_and_rates_a_complaint(browser: Any, site: Site, shots: Shots,
                                                               tmp_path: Path, window: str) -> None:
    clock = site.application.clock
    citizen = Citizen(browser, site, shots, WIDTHS[window])
    page = citizen.page
    page.goto(site.url + "/aduan")
    page.locator(".peta .leaflet-container, .peta.leaflet-container").first.wait_for()
    citizen.check("formulir-kosong")
    form = page.locator("form.aduan")
    form.get_by_label("Kategori aduan").select_option(label="Hewan ternak lepas")
    form.get_by_label("Kecamatan").select_option(label="Paringin")
    form.get_by_label("Desa/kelurahan").fill("Batu Piring")
    form.get_by_label("Lokasi kejadian").fill("Jalan Paringin–Juai km 3, dekat jembatan")
    pin = form.get_by_label("Titik lokasi di peta")
    assert pin.input_value() == ""
    page.locator("#peta").click(position={"x": 120, "y": 90})
    assert re.fullmatch(r"-?\d+\.\d{6},-?\d+\.\d{6}", pin.input_value()), pin.input_value()
    assert page.locator("#peta .leaflet-marker-icon").count() == 1
    assert "OpenStreetMap" in page.locator("#peta .leaflet-control-attribution").inner_text()
    form.get_by_label("Uraian aduan").fill("Sapi lepas berkeliaran di badan jalan pada malam hari, hampir tertabrak.")
    form.get_by_label("Foto dari pelapor").set_input_files(str(photo(tmp_path, "sapi.jpg", (150, 110, 60))))
    form.get_by_label("Nama pelapor").fill("Mariana Lestari")
    form.get_by_label("Nomor telepon/WhatsApp pelapor").fill("0813-5151-2626")
    citizen.check("formulir-terisi")
    clock.advance(seconds=40)  # a person takes a while to fill the form in (the minimum fill time)
    form.get_by_role("button", name="Kirim aduan").click()
    page.wait_for_url("**/aduan/terkirim")
    citizen.check("tanda-terima")
    number = page.locator("dd.nomor").inner_text().strip()
    code = page.locator("dd.kode").inner_text().strip()
    assert re.fullmatch(r"TRK-\d{4}-\d{6}", number) and re.fullmatch(r"[0-9A-Z]{5}-[0-9A-Z]{5}", code)
    pinned = site.application.queries.show(number, "rina")["data"]["koordinat"]
    assert re.fullmatch(r"-?\d+\.\d+,-?\d+\.\d+", pinned)

    page.get_by_role("link", name="Lihat perkembangan aduan").click()
    page.wait_for_url(f"**/lacak/{number}")
    citizen.check("lacak-diterima")
    assert citizen.state() == "Aduan diterima"

    # Staff act in a browser of their own; the citizen watches the case move.
    staff = Walk(browser, site, shots, WIDTHS[window])
    staff.context.route(re.compile(r"https?://([a-z]\.)?tile\.openstreetmap\.org/.*"), lambda route: route.abort())
    staff.as_user("rina")
    staff.open_case(number)
    staff_text = staff.page.locator("main").inner_text()
    assert "Dikirim sendiri oleh pelapor melalui Situs web" in staff_text
    assert staff.page.locator("ul.foto img").count() == 1
    clock.advance(minutes=5)
    staff.act("Teruskan kepada Kepala Bidang")
    assert citizen.reload("lacak-ditelaah", number) == "Ditelaah Kepala Bidang"

    # The citizen adds something while the case is open; the Kepala Bidang reads it on the case page.
    page.get_by_label("Keterangan", exact=True).fill("Sapinya kembali lagi malam ini, pemiliknya warga RT 04.")
    page.get_by_label("Foto (tidak wajib)").set_input_files(str(photo(tmp_path, "lagi.jpg", (90, 90, 90))))
    page.get_by_role("button", name="Kirim keterangan").click()
    page.wait_for_url(f"**/lacak/{number}?terkirim=catatan")
    citizen.check("keterangan-terkirim")
    assert "Keterangan Anda sudah kami terima" in page.locator("main").inner_text()
    assert citizen.state() == "Ditelaah Kepala Bidang"

    staff.as_user("ahmad")
    staff.open_case(number)
    kabid_text = staff.page.locator("main").inner_text()
    assert "Keterangan dari pelapor" in kabid_text and "Sapinya kembali lagi malam ini" in kabid_text
    assert staff.page.locator("ul.foto img").count() == 2
    clock.advance(minutes=5)
    staff.act("Tugaskan tim (surat perintah tugas)", {"Instruksi tugas": INTERNAL[0]})
    assert citizen.reload("lacak-ditugaskan", number) == "Tim ditugaskan"

    commands = site.application.commands
    commands.advance(number, "mulai_tangani", "tim_paringin")
    commands.advance(number, "laporkan_hasil", "tim_paringin", {"tindakan": INTERNAL[2], "hasil": INTERNAL[3]})
    assert citizen.reload("lacak-menunggu-pengesahan", number) == "Menunggu pengesahan"
    assert page.get_by_role("button", name="Kirim penilaian").count() == 0

    staff.as_user("ahmad")
    staff.open_case(number)
    staff.act("Sahkan hasil penanganan", {"Catatan": INTERNAL[1]})
    assert citizen.reload("lacak-selesai", number) == "Selesai"
    text = page.locator("main").inner_text()
    assert "Aduan Anda sudah selesai ditangani" in text and "Kirim keterangan" not in text

    page.get_by_role("radio", name=re.compile(r"5 – Sangat baik")).check()
    page.get_by_label("Komentar (tidak wajib)").fill("Cepat ditangani, terima kasih.")
    page.get_by_role("button", name="Kirim penilaian").click()
    page.wait_for_url(f"**/lacak/{number}?terkirim=nilai")
    citizen.check("dinilai")
    assert "Anda memberi nilai 5 dari 5" in page.locator("main").inner_text()
    assert page.get_by_role("button", name="Kirim penilaian").count() == 0
    assert site.application.public.ratings_summary("treckk").by_score[5] == 1
    milestones = [item.inner_text() for item in page.locator("ol.tahap > li").all()]
    assert [m.split("\n")[0] for m in milestones] == [
        "Aduan diterima", "Ditelaah Kepala Bidang", "Keterangan tambahan dari pelapor", "Tim ditugaskan",
        "Sedang ditangani", "Menunggu pengesahan", "Selesai", "Penilaian dari pelapor"]
    assert all("WITA" in m for m in milestones)

    # The tracking page by number and code in a fresh window: the code is typed, not carried in a URL.
    other = Citizen(browser, site, shots, WIDTHS[window])
    other.page.goto(f"{site.url}/lacak/{number}")
    other.page.wait_for_url(f"**/lacak?nomor={number}")
    other.page.get_by_label("Kode pelacakan").fill("ZZZZZ-ZZZZZ")
    other.page.get_by_role("button", name="Lihat aduan").click()
    other.check("kode-salah")
    assert "tidak cocok" in other.page.locator("main").inner_text()
    other.page.get_by_label("Kode pelacakan").fill(code.lower())
    other.page.get_by_role("button", name="Lihat aduan").click()
    other.page.wait_for_url(f"**/lacak/{number}")
    other.check("lacak-dari-awal")
    assert other.state() == "Selesai"

    # Over every page the citizen reached: no staff name or username, no personal data, no internal text.
    secrets = {member.name for member in DEMO_STAFF} | personal_values(site.application) | set(INTERNAL)
    usernames = {member.username for member in DEMO_STAFF}
    for url, html in citizen.seen + other.seen:
        assert code.replace("-", "") not in url and code not in url
        for secret in secrets:
            assert secret not in html, (url, secret)
        for username in usernames:
            assert not re.search(rf"\b{re.escape(username)}\b", html), (url, username)
    assert citizen.axe == {} and other.axe == {}, (citizen.axe, other.axe)
    assert staff.axe == {}, staff.axe
    for window_context in (citizen.context, other.context, staff.context):
        window_context.close()
