"""What a person reads from the command line: labels, local times, visible control characters.

``--json`` keeps keys and ISO times; the human output speaks the workflow's own words (field,
choice, state, trigger and role labels, its noun for a case, its scope field's label) and shows
times in its ``timezone``. Stored text never reaches the terminal with its control characters.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.app.commands import Commands
from engine.store.schema import cases
from tests.conftest import COMPLAINT, ROOT, CliResult
from tests.test_cli_cases import ok_json, sets

RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")

DETAILED = {**COMPLAINT, "anonim": "ya", "foto_aduan": "a.jpg, b.jpg", "waktu_kejadian": "2026-11-29T01:00+00:00"}


def copied_home(tmp_path: Path, edit: Callable[[str], str]) -> Path:
    """workflows/, roles/ and templates/ copied to a new home, the workflow file changed by ``edit``."""
    home = tmp_path / "home"
    for part in ("workflows", "roles", "templates"):
        shutil.copytree(ROOT / part, home / part)
    workflow = home / "workflows" / "treckk.yaml"
    workflow.write_text(edit(workflow.read_text(encoding="utf-8")), encoding="utf-8")
    return home


def start_in(home: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRECKK_HOME", str(home))
    assert cli("init").code == 0
    for args in (("admin", "--role", "admin_lalisa"), ("kabid", "--role", "kabid_trantibum"),
                 ("tim_paringin", "--role", "tim_treckk", "--kecamatan", "paringin")):
        assert cli("staff", "add", args[0], "--name", args[0].title(), *args[1:]).code == 0


def human(result: CliResult) -> str:
    assert result.code == 0, result.err
    assert not RAW_CONTROL.search(result.out), result.out
    return result.out


def test_show_history_and_lists_read_labels_and_local_times(engine: Commands, cli: Any) -> None:
    number = ok_json(cli("submit", "--as", "admin", "--json", *sets(DETAILED)))["number"]
    shown = human(cli("show", number, "--as", "kabid"))
    lines = shown.splitlines()
    assert lines[0] == f"{number}  Aduan diterima (diterima)  versi 1"
    assert lines[1] == "Alur: treckk v1   Dibuat: Senin, 30 November 2026 pukul 08.00 WITA"
    assert lines[2] == "Batas waktu: Senin, 30 November 2026 pukul 09.00 WITA (eskalasi 0/2)"
    for line in ("  Kanal aduan: WhatsApp La-Lisa", "  Kategori aduan: PKL dan tempat usaha", "  Kecamatan: Paringin",
                 "  Pelapor meminta identitasnya dirahasiakan: Ya", "  Foto dari pelapor: a.jpg, b.jpg",
                 "  Waktu kejadian: Minggu, 29 November 2026 pukul 09.00 WITA", "  Nama pelapor: Budi Santoso"):
        assert line in lines, (line, shown)
    assert lines[-1] == "Dapat dilakukan: -"  # the kabid acts once the admin passes it on
    assert not ISO_TIME.search(shown) and "True" not in shown and "['" not in shown and "pkl_tempat" not in shown
    as_admin = human(cli("show", number, "--as", "admin"))
    assert as_admin.splitlines()[-1] == ("Dapat dilakukan: Teruskan kepada Kepala Bidang (teruskan), "
                                         "Tandai sebagai aduan ganda (tandai_duplikat)")
    # --json keeps keys, typed values and ISO times.
    data = ok_json(cli("show", number, "--as", "kabid", "--json"))
    assert (data["data"]["kanal"], data["data"]["anonim"], data["data"]["foto_aduan"]) == (
        "whatsapp", True, ["a.jpg", "b.jpg"])
    assert data["data"]["waktu_kejadian"] == "2026-11-29T01:00:00+00:00"
    assert data["created_at"] == "2026-11-30T00:00:00+00:00"
    assert data["deadline"]["due_at_local"] == data["deadline"]["due_at_wita"] == \
        "Senin, 30 November 2026 pukul 09.00 WITA"

    ok_json(cli("advance", number, "teruskan", "--as", "admin", "--json", "--comment", "baris satu\nbaris dua"))
    story = human(cli("history", number, "--as", "kabid"))
    assert ("  1. Senin, 30 November 2026 pukul 08.00 WITA  Catat aduan baru (catat): - → Aduan diterima (diterima)  "
            "oleh admin (Admin La-Lisa)") in story.splitlines()
    assert "       Kanal aduan: WhatsApp La-Lisa" in story.splitlines()
    assert "(teruskan): Aduan diterima (diterima) → Ditelaah Kepala Bidang (ditelaah)" in story
    assert "       Catatan: baris satu\n         baris dua" in story  # later lines stay indented
    assert not ISO_TIME.search(story) and "True" not in story

    listed = human(cli("cases")).splitlines()
    assert listed[0].split() == ["Nomor", "Keadaan", "Kecamatan", "Batas", "waktu"]
    assert listed[1].startswith(f"{number}  Ditelaah Kepala Bidang") and " Paringin " in listed[1]
    assert "30-11-2026 12.00 WITA" in listed[1]
    inbox = human(cli("inbox", "--as", "kabid")).splitlines()
    assert inbox[1].endswith("[minta_verifikasi, tugaskan, tolak, limpahkan]")
    assert human(cli("inbox", "--as", "tim_paringin")).strip() == "(tidak ada aduan)"


@pytest.mark.parametrize(("zone", "label"), [("Asia/Jayapura", "WIT"), ("Asia/Tokyo", "UTC+09:00")])
def test_another_workflow_reads_in_its_own_zone_scope_label_and_noun(
        zone: str, label: str, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    home = copied_home(tmp_path, lambda text: text.replace("timezone: Asia/Makassar", f"timezone: {zone}")
                       .replace("case_label: aduan\n", "")
                       .replace("    label: Kecamatan\n", "    label: Wilayah tugas\n"))
    start_in(home, cli, monkeypatch)
    number = ok_json(cli("submit", "--as", "admin", "--json", *sets(DETAILED)))["number"]
    shown = human(cli("show", number, "--as", "kabid")).splitlines()
    # Monday 08:00 WITA is 09:00 on a UTC+9 clock; an hour of office time later is 10:00.
    assert shown[1].endswith(f"Dibuat: Senin, 30 November 2026 pukul 09.00 {label}")
    assert shown[2] == f"Batas waktu: Senin, 30 November 2026 pukul 10.00 {label} (eskalasi 0/2)"
    assert f"  Waktu kejadian: Minggu, 29 November 2026 pukul 10.00 {label}" in shown
    assert "  Wilayah tugas: Paringin" in shown
    deadline = ok_json(cli("show", number, "--json"))["deadline"]
    assert deadline["due_at"] == "2026-11-30T01:00:00+00:00"
    assert deadline["due_at_local"] == f"Senin, 30 November 2026 pukul 10.00 {label}"
    inbox = human(cli("inbox", "--as", "admin")).splitlines()
    assert inbox[0].split()[:3] == ["Nomor", "Keadaan", "Wilayah"] and "Kecamatan" not in inbox[0]
    assert f"30-11-2026 10.00 {label}" in inbox[1]
    # No case_label: a case is a "kasus".
    assert human(cli("inbox", "--as", "kabid")).strip() == "(tidak ada kasus)"
    assert human(cli("cases", "--state", "selesai")).strip() == "(tidak ada kasus)"
    assert f"next 30-11-2026 09.00 {label}" in human(cli("notices"))


def test_the_noun_for_a_case_comes_from_case_label(tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    home = copied_home(tmp_path, lambda text: text.replace("case_label: aduan\n", "case_label: permohonan\n"))
    start_in(home, cli, monkeypatch)
    assert human(cli("inbox", "--as", "kabid")).strip() == "(tidak ada permohonan)"


CONTROLLED = "PKL \x1b[31mMERAH\x1b[0m\x07 di\rpasar \x9b2J\x7f selesai\n\tbaris dua"


def test_control_characters_in_fields_are_never_printed_raw(engine: Commands, cli: Any) -> None:
    values = {**COMPLAINT, "uraian": CONTROLLED, "lokasi": "Jl. \x1b]0;judul\x07"}
    number = ok_json(cli("submit", "--as", "admin", "--json", *sets(values)))["number"]
    with engine.db.begin() as connection:
        stored = connection.execute(select(cases.c.data).where(cases.c.number == number)).scalar_one()
    assert stored["uraian"] == CONTROLLED  # stored exactly as given
    shown = human(cli("show", number, "--as", "kabid"))
    assert ("  Uraian aduan: PKL \\x1b[31mMERAH\\x1b[0m\\x07 di\\rpasar \\x9b2J\\x7f selesai\n    \tbaris dua"
            in shown)
    assert "  Lokasi kejadian: Jl. \\x1b]0;judul\\x07" in shown
    human(cli("history", number, "--as", "kabid"))
    human(cli("cases", "--as", "kabid"))
    # --json keeps the exact text, with every control character escaped the JSON way.
    for command in (("show", number), ("history", number), ("cases",)):
        result = cli(*command, "--as", "kabid", "--json")
        assert result.code == 0 and not RAW_CONTROL.search(result.out.replace("\n", "")), command
    assert ok_json(cli("show", number, "--as", "kabid", "--json"))["data"]["uraian"] == CONTROLLED
    # Error lines too: a trigger or value with escapes is written visibly.
    for args in (("advance", number, "\x1b[2Jteruskan", "--as", "admin"),
                 ("advance", number, "teruskan", "--as", "admin", "--set", "kategori=\x1b[5mx\x9b")):
        result = cli(*args)
        assert result.code in (2, 4) and result.err.startswith("treckk: error: ")
        assert not RAW_CONTROL.search(result.err.replace("\n", "")), result.err


def test_notice_bodies_are_shown_with_visible_control_characters(engine: Commands, cli: Any) -> None:
    number = ok_json(cli("submit", "--as", "admin", "--json", *sets({**COMPLAINT, "uraian": CONTROLLED})))["number"]
    ok_json(cli("advance", number, "teruskan", "--as", "admin", "--json"))
    listing = json.loads(cli("notices", "--case", number, "--json").out)
    kabid = next(row for row in listing if row["template"] == "kabid_aduan_baru.txt.j2")
    body = human(cli("notices", "show", str(kabid["id"]), "--as", "kabid"))
    assert "\\x1b[31mMERAH" in body


def test_serve_once_names_schedule_runs_in_local_time(engine: Commands, cli: Any) -> None:
    result = human(cli("serve", "--once"))
    schedules = [line for line in result.splitlines() if line.startswith("Jadwal ")]
    assert schedules and all(" WITA): " in line for line in schedules), result
    assert not ISO_TIME.search(result)
