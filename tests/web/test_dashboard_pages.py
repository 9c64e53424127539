"""The dashboard page and its CSV downloads over HTTP, on the real app (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta, timezone

from engine.adapters.web.csv_export import cell, csv_text
from engine.app.dashboard import Dashboard
from tests.conftest import COMPLAINT
from tests.web.conftest import Web

WITA = timezone(timedelta(hours=8))


def _seed(web: Web) -> list[str]:
    """A few complaints in November 2026 (rina records, ahmad rejects one); the clock ends on 2 December."""
    commands = web.application.commands
    numbers = []
    for day, kecamatan in ((2, "paringin"), (3, "halong"), (10, "paringin"), (20, "juai")):
        web.clock.set(datetime(2026, 11, day, 9, 0, tzinfo=WITA))
        numbers.append(commands.submit("rina", {**COMPLAINT, "kecamatan": kecamatan}).number)
    web.clock.set(datetime(2026, 11, 20, 10, 0, tzinfo=WITA))
    commands.advance(numbers[0], "teruskan", "rina")
    commands.advance(numbers[0], "tolak", "ahmad", {"alasan": "Bukan pelanggaran"})
    web.clock.set(datetime(2026, 12, 2, 10, 0, tzinfo=WITA))
    return numbers


def test_a_role_that_can_report_sees_charts_tables_and_the_menu_link(web: Web) -> None:
    _seed(web)
    client = web.login("ahmad")
    home = client.get("/")
    assert '<a href="/dasbor">Dasbor</a>' in home.text
    page = client.get("/dasbor", params={"dari": "2026-11-01", "sampai": "2026-11-30"})
    assert page.status_code == 200
    html = page.text
    assert "<h1>Dasbor</h1>" in html and "1 Nov 2026 – 30 Nov 2026" in html
    # Each chart is named and described, and sits next to a table with the same numbers.
    charts = re.findall(r'<svg [^>]*role="img" aria-labelledby="([^"]+)"', html)
    assert len(charts) == 4
    for ids in charts:
        title, desc = ids.split()
        assert f'<title id="{title}">' in html and f'<desc id="{desc}">' in html
    assert html.count("<table") == 7  # open by state, by kecamatan, overdue, weekly, durations, per kecamatan, per kategori
    assert "Terlambat sekarang, dan menunggu siapa" in html and "Rina" in html
    for table in ("terbuka-keadaan", "terbuka-kecamatan", "terlambat", "mingguan", "durasi", "rekap",
                  "rekap-kecamatan", "rekap-kategori"):
        assert f'href="/dasbor/{table}.csv?alur=treckk&amp;dari=2026-11-01&amp;sampai=2026-11-30"' in html
    assert "<script" not in html.split("</head>", 1)[1]  # nothing on the page needs a script


def test_every_table_downloads_as_the_csv_of_the_same_numbers(web: Web) -> None:
    _seed(web)
    client = web.login("kasat")
    view = Dashboard(web.application.commands).view("kasat", first=date(2026, 11, 1), last=date(2026, 11, 30))
    for name, table in view.tables.items():
        answer = client.get(f"/dasbor/{name}.csv", params={"dari": "2026-11-01", "sampai": "2026-11-30"})
        assert answer.status_code == 200, name
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        assert answer.headers["content-disposition"] == \
            f'attachment; filename="dasbor-treckk-{name}-2026-11-01_2026-11-30.csv"'
        rows = list(csv.reader(io.StringIO(answer.text)))
        assert rows[0] == [c.label for c in table.columns]
        assert rows[1:] == [["" if v is None else str(v) for v in row] for row in table.rows], name
    received = list(csv.reader(io.StringIO(client.get("/dasbor/mingguan.csv", params={
        "dari": "2026-11-01", "sampai": "2026-11-30"}).text)))
    assert [r[2] for r in received[1:]] == ["0", "2", "1", "1", "0", "0"]
    assert client.get("/dasbor/gaji.csv").status_code == 404


def test_other_roles_get_neither_the_page_the_csv_nor_the_link(web: Web) -> None:
    for username in ("rina", "dewi", "tim_paringin"):
        client = web.login(username)
        assert '<a href="/dasbor">' not in client.get("/").text
        assert client.get("/dasbor").status_code == 403
        assert client.get("/dasbor/terbuka-keadaan.csv").status_code == 403
    anonymous = web.client()
    assert anonymous.get("/dasbor").status_code == 303
    assert anonymous.get("/dasbor/rekap.csv").status_code == 303


def test_a_bad_period_is_a_clear_page_not_a_crash(web: Web) -> None:
    client = web.login("ahmad")
    for params in ({"dari": "kemarin"}, {"dari": "2026-11-30", "sampai": "2026-11-01"},
                   {"dari": "2000-01-01", "sampai": "2026-11-01"}, {"dari": "2026-02-30"}):
        answer = client.get("/dasbor", params=params)
        assert answer.status_code == 422, params
        assert "Isian atau alamat halaman ini tidak dapat diterima" in answer.text


def test_a_cell_a_spreadsheet_would_run_is_written_as_text() -> None:
    for dangerous in ("=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert cell(dangerous) == "'" + dangerous
    assert cell(-3) == -3 and cell(2.5) == 2.5 and cell(None) == "" and cell("Paringin") == "Paringin"
    text = csv_text(["Nama", "Jumlah"], [["=1+1", 2], ["Juai, Halong", None]])
    assert text == "Nama,Jumlah\r\n'=1+1,2\r\n\"Juai, Halong\",\r\n"
