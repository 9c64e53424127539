"""A second workflow, unlike TRECKK in every name, runs through every command of the engine.

``tests/data/izin`` is a project home of its own: a crowd-event permit (*izin keramaian*) of the
Kantor Distrik Sentani in Papua — other roles with their capabilities (``can:``), another scope
field (``kampung``), another time zone (Asia/Jayapura, WIT), another number prefix (``IZN``),
other fields, templates, calendars, escalation steps, schedules and report outcomes. Each test
copies it to a temporary directory used as ``TRECKK_HOME``, so TRECKK's workflow, roles and
templates are absent from the home the commands run in, and drives the real command line
in-process on SQLite and PostgreSQL (the ``cli`` fixture).

The process runs at ``TZ=Asia/Makassar`` (WITA, see conftest): a time shown in the process's zone,
or in TRECKK's, instead of the workflow's reads ``WITA`` or an hour off and fails here.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import ROOT, CliResult, FakeClock, run_cli

DATA = ROOT / "tests" / "data" / "izin"
WIT = ZoneInfo("Asia/Jayapura")
EXIT_INVALID, EXIT_PERMISSION, EXIT_SCENARIO_MISMATCH = 2, 3, 9

# username, name, role, scope value (kampung), phone, e-mail
STAFF = (
    ("yosina", "Yosina Wally", "petugas_loket", None, "0821-9900-0001", None),
    ("markus", "Markus Yoku", "kepala_seksi", None, "0821-9900-0002", "markus@distriksentani.go.id"),
    ("kadistrik", "Agustinus Pulanda", "kepala_distrik", None, None, "kadistrik@distriksentani.go.id"),
    ("aparat_hinekombe", "Aparat Kampung Hinekombe", "petugas_kampung", "hinekombe", "0821-9900-0011", None),
    ("aparat_sereh", "Aparat Kampung Sereh", "petugas_kampung", "sereh", "0821-9900-0012", None),
    ("admin", "Admin Sistem Distrik", "admin_sistem", None, None, "admin@distriksentani.go.id"),
)

# Bakar batu in Hinekombe: large, closes a road, so it needs a site inspection.
BAKAR_BATU = {
    "jalur": "loket",
    "nama_pemohon": "Yohanes Ohee",
    "telepon_pemohon": "0812-4800-3311",
    "penyelenggara": "Panitia Syukuran Marga Ohee",
    "jenis_acara": "bakar_batu",
    "kampung": "hinekombe",
    "tempat_acara": "Lapangan Kampung Hinekombe",
    "mulai_acara": "2026-12-05T10:00",  # no offset: read on the workflow's clock (WIT)
    "skala_acara": "besar",
    "uraian_acara": "Syukuran adat bakar batu dengan sekitar 600 tamu.",
    "pengeras_suara": "ya",
    "menutup_jalan": "ya",
}
PERNIKAHAN = {
    "jalur": "whatsapp",
    "nama_pemohon": "Maria Felle",
    "telepon_pemohon": "0813-4400-2299",
    "jenis_acara": "pernikahan",
    "kampung": "sereh",
    "tempat_acara": "Halaman rumah keluarga Felle",
    "mulai_acara": "2026-11-28T16:00",
    "skala_acara": "kecil",
    "uraian_acara": "Resepsi pernikahan keluarga, sekitar 80 tamu.",
}
KONSER = {**PERNIKAHAN, "nama_pemohon": "Ferdinand Monim", "jenis_acara": "konser", "kampung": "dobonsolo",
          "tempat_acara": "Pantai Dobonsolo", "berkas": "ktp.pdf", "skala_acara": "kecil"}
OLAHRAGA = {**PERNIKAHAN, "nama_pemohon": "Pilipus Yoku", "jenis_acara": "olahraga", "kampung": "yobeh",
            "tempat_acara": "Lapangan Yobeh"}
FESTIVAL = {**BAKAR_BATU, "nama_pemohon": "Sara Kaway", "jenis_acara": "festival", "tempat_acara": "Tepi Danau"}


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A moment of 2026 on the WIT clock."""
    return datetime(2026, month, day, hour, minute, tzinfo=WIT)


def sets(values: dict[str, str]) -> list[str]:
    return [arg for name, value in values.items() for arg in ("--set", f"{name}={value}")]


def ok(result: CliResult) -> str:
    assert result.code == 0, (result.code, result.err)
    assert result.err == "" or "error" not in result.err, result.err
    return result.out


def ok_json(result: CliResult) -> Any:
    return json.loads(ok(result))


def refused(result: CliResult, code: int) -> str:
    """A refusal: the expected exit code and exactly one ``treckk: error:`` line, nothing on stdout."""
    assert result.code == code, (result.code, result.out, result.err)
    lines = result.err.strip().splitlines()
    assert lines and all(line.startswith("treckk: error: ") for line in lines), result.err
    assert "Traceback" not in result.err
    return result.err


def wit_only(text: str) -> None:
    """Times are shown on the workflow's clock: WIT, never WITA (the process's and TRECKK's zone)."""
    assert re.search(r"\bWIT\b", text), text
    assert "WITA" not in text, text


@pytest.fixture
def izin_home(tmp_path: Path) -> Path:
    """A copy of tests/data/izin: the only definitions in the home the commands run in."""
    home = tmp_path / "home"
    shutil.copytree(DATA, home)
    assert sorted(p.name for p in (home / "workflows").glob("*.yaml")) == ["izin.yaml"]
    assert not list(home.rglob("treckk*"))
    return home


def _isolate(monkeypatch: pytest.MonkeyPatch, home: Path, outbox: Path) -> None:
    monkeypatch.setenv("TRECKK_HOME", str(home))
    monkeypatch.setenv("TRECKK_OUTBOX_DIR", str(outbox))
    for name in ("TRECKK_CHANNELS", "TRECKK_BASE_URL", "TRECKK_SMTP_HOST", "TRECKK_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def izin(cli: Any, izin_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``treckk ARGS`` with the izin home, on the test database (SQLite, then PostgreSQL)."""
    _isolate(monkeypatch, izin_home, tmp_path / "outbox")
    return cli


@pytest.fixture
def offline(izin_home: Path, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``treckk ARGS`` with the izin home, for the commands that bring their own database."""


    _isolate(monkeypatch, izin_home, tmp_path / "outbox")
    monkeypatch.setenv("TRECKK_DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")

    def run(*args: str) -> CliResult:
        monkeypatch.setenv("TRECKK_NOW", clock.iso())
        return run_cli(*args)

    return run


def _state(izin: Any, number: str) -> str:
    state: str = ok_json(izin("show", number, "--json"))["state"]
    return state


def _advance(izin: Any, number: str, trigger: str, actor: str, values: dict[str, str] | None = None) -> Any:
    return ok_json(izin("advance", number, trigger, "--as", actor, "--json", *sets(values or {})))


def _notice_texts(izin: Any, template: str, case: str | None = None) -> list[str]:
    """The rendered bodies of the notices made from ``template``, as the Kepala Seksi reads them."""
    rows = ok_json(izin("notices", "--json", *(["--case", case] if case else [])))
    return [ok_json(izin("notices", "show", str(row["id"]), "--as", "markus", "--json"))["body"]
            for row in rows if row["template"] == template]


# -- without a database ------------------------------------------------------------------------


def test_the_izin_home_validates_on_its_own(offline: Any, izin_home: Path) -> None:
    out = ok(offline("validate"))
    assert "workflow izin v1 (8 states, 10 transitions, 13 templates)" in out
    assert "roles izin (5 roles)" in out
    out = ok(offline("validate", izin_home / "workflows" / "izin.yaml"))
    assert out.startswith("OK: 1 file(s) valid: workflow izin v1")


def test_the_izin_scenario_passes(offline: Any, izin_home: Path) -> None:
    scenario = izin_home / "workflows" / "scenarios" / "izin.yaml"
    out = ok(offline("simulate", scenario))
    steps = out.strip().splitlines()[-1]
    assert re.fullmatch(r"(\d+) step\(s\), \1 as expected, 0 different", steps), out
    assert ok_json(offline("simulate", scenario, "--json"))["failed"] == []


def test_a_wrong_expectation_in_the_izin_scenario_is_named(offline: Any, izin_home: Path) -> None:
    scenario = izin_home / "workflows" / "scenarios" / "izin.yaml"
    text = scenario.read_text(encoding="utf-8")
    scenario.write_text(text.replace("expect: {state: izin_ditolak,", "expect: {state: izin_terbit,"),
                        encoding="utf-8")
    result = offline("simulate", scenario)
    assert result.code == EXIT_SCENARIO_MISMATCH, (result.out, result.err)
    assert "expected state 'izin_terbit', got 'izin_ditolak'" in result.out


# -- every command, on SQLite and PostgreSQL ----------------------------------------------------


def test_izin_runs_through_every_command(izin: Any, clock: FakeClock, izin_home: Path, tmp_path: Path) -> None:
    # init deploys what the home holds, and nothing else.
    clock.set(at(26, 8, 0))
    assert ok_json(izin("init", "--json"))["deployed"] == [{"workflow": "izin", "version": 1, "new": True}]

    # staff: the scoped role needs a value of the scope field; --scope binds it.
    for username, name, role, kampung, phone, email in STAFF:
        args = ["staff", "add", username, "--name", name, "--role", role]
        args += ["--scope", kampung] if kampung else []
        args += ["--phone", phone] if phone else []
        args += ["--email", email] if email else []
        if username == "admin":
            args += ["--workflow", "izin"]
        ok(izin(*args))
    refused(izin("staff", "add", "aparat_yobeh", "--name", "Aparat Yobeh", "--role", "petugas_kampung"),
            EXIT_INVALID)
    refused(izin("staff", "add", "aparat_x", "--name", "X", "--role", "petugas_kampung", "--scope", "paringin"),
            EXIT_INVALID)
    refused(izin("staff", "add", "tim", "--name", "Tim", "--role", "tim_treckk"), EXIT_INVALID)
    listed = {m["username"] for m in ok_json(izin("staff", "list", "--json"))}
    assert listed == {s[0] for s in STAFF}

    # submit: the only deployed workflow is used without --workflow; numbers carry its prefix.
    clock.set(at(26, 8, 30))
    assert ok(izin("submit", "--as", "yosina", *sets(BAKAR_BATU))).strip() == "IZN-2026-000001"
    b = ok_json(izin("submit", "--as", "yosina", "--workflow", "izin", "--json", *sets(PERNIKAHAN)))
    assert (b["number"], b["state"], b["workflow"]) == ("IZN-2026-000002", "permohonan_masuk", "izin")
    a, b = "IZN-2026-000001", "IZN-2026-000002"
    refused(izin("submit", "--as", "markus", *sets(PERNIKAHAN)), EXIT_PERMISSION)  # only the loket records

    # show: stored in UTC, read and shown on the WIT clock.
    view = ok_json(izin("show", a, "--json", "--as", "markus"))
    assert view["state"] == "permohonan_masuk" and view["definition_version"] == 1
    assert view["data"]["kampung"] == "hinekombe" and view["data"]["nama_pemohon"] == "Yohanes Ohee"
    assert view["scope"] == "hinekombe"
    assert datetime.fromisoformat(view["data"]["mulai_acara"]) == at(5, 10, month=12)
    assert datetime.fromisoformat(view["deadline"]["due_at"]) == at(26, 10, 30)  # 2 office hours
    assert view["allowed_triggers"] == ["minta_kelengkapan"]  # not yet ajukan_telaah: that is the loket's
    human = ok(izin("show", a, "--as", "yosina"))
    wit_only(human)
    assert "Kamis, 26 November 2026 pukul 10.30 WIT" in human
    assert ok_json(izin("show", a, "--json", "--as", "aparat_hinekombe"))["data"]["nama_pemohon"] == "[dirahasiakan]"
    refused(izin("show", a, "--as", "aparat_sereh"), EXIT_PERMISSION)  # another kampung

    # The applicant's receipt, in Bahasa Indonesia, with times in WIT.
    [receipt] = _notice_texts(izin, "pemohon_tanda_terima.txt.j2", a)
    assert receipt.startswith("Tanda terima permohonan izin keramaian IZN-2026-000001")
    assert "Yth. Bapak/Ibu Yohanes Ohee," in receipt
    assert "Diterima: Kamis, 26 November 2026 pukul 08.30 WIT" in receipt
    assert "Waktu mulai acara: Sabtu, 5 Desember 2026 pukul 10.00 WIT" in receipt
    wit_only(receipt)

    # advance: requires, guards and roles of this workflow.
    clock.set(at(26, 8, 50))
    assert _advance(izin, a, "ajukan_telaah", "yosina", {"berkas": "ktp.pdf, pengantar.pdf"})["state"] == "telaah_seksi"
    clock.set(at(26, 9, 0))
    assert "berkas" in refused(izin("advance", b, "ajukan_telaah", "--as", "yosina"), EXIT_INVALID)
    assert _state(izin, b) == "permohonan_masuk"
    assert _advance(izin, b, "minta_kelengkapan", "yosina",
                    {"catatan_telaah": "Lampirkan KTP"})["state"] == "perlu_dilengkapi"
    clock.set(at(26, 9, 30))
    tinjau = _advance(izin, a, "perintahkan_tinjau", "markus", {"catatan_telaah": "Periksa parkir"})
    assert tinjau["state"] == "tinjau_lapangan"
    assert datetime.fromisoformat(tinjau["deadline"]["due_at"]) == at(27, 9, 30)  # 24 h around the clock

    # inbox: each sees what they may act on now; a kampung sees only its own.
    inbox = ok_json(izin("inbox", "--as", "aparat_hinekombe", "--json"))
    assert [(r["number"], r["allowed_triggers"]) for r in inbox] == [(a, ["laporkan_tinjauan"])]
    assert ok_json(izin("inbox", "--as", "aparat_sereh", "--json")) == []
    assert [r["number"] for r in ok_json(izin("inbox", "--as", "yosina", "--json"))] == [b]
    listing = ok(izin("inbox", "--as", "yosina"))
    assert b in listing
    wit_only(listing)
    empty = ok(izin("inbox", "--as", "aparat_sereh"))
    assert empty.strip() == "(tidak ada permohonan)", empty  # the workflow's case_label, not TRECKK's aduan

    # A staff member of another kampung is refused: exit 3, nothing written.
    before = ok_json(izin("show", a, "--json"))["version"]
    err = refused(izin("advance", a, "laporkan_tinjauan", "--as", "aparat_sereh",
                       *sets({"hasil_peninjauan": "Lokasi aman", "lokasi_layak": "ya"})), EXIT_PERMISSION)
    assert "may not see case" in err and "hinekombe" not in err  # says no more than `show` would
    assert "kecamatan" not in err, err
    assert ok_json(izin("show", a, "--json"))["version"] == before

    # The clock moves past the inspection deadline: the case is overdue and escalates once.
    clock.set(at(27, 10, 0))
    overdue = ok_json(izin("cases", "--overdue", "--json"))
    assert [(r["number"], r["deadline"]["overdue_minutes"]) for r in overdue] == [(a, 30)]
    overdue_text = ok(izin("cases", "--overdue"))
    assert "TERLAMBAT 30 menit" in overdue_text
    wit_only(overdue_text)
    fired = ok_json(izin("escalate", "--json"))
    assert [(f["number"], f["state"], f["step"], f["recipients"], f["late_by_minutes"]) for f in fired] == [
        (a, "tinjau_lapangan", 1, 2, 30)]
    assert datetime.fromisoformat(fired[0]["due_at"]) == at(27, 9, 30)
    assert ok_json(izin("escalate", "--json")) == []  # each step exactly once
    rows = ok_json(izin("notices", "--case", a, "--json"))
    assert sorted(r["recipient_username"] for r in rows if r["template"] == "izin_pengingat.txt.j2") == [
        "aparat_hinekombe", "markus"]  # the scoped role only in its own kampung
    reminder = _notice_texts(izin, "izin_pengingat.txt.j2", a)[0]
    assert "Batas waktu: Jumat, 27 November 2026 pukul 09.30 WIT" in reminder
    assert "telah melewati batas waktu selama 30 menit" in reminder
    assert "Mohon aparat kampung Hinekombe segera meninjau lokasi" in reminder
    wit_only(reminder)

    # Through to a final state.
    clock.set(at(27, 10, 45))
    _advance(izin, a, "laporkan_tinjauan", "aparat_hinekombe",
             {"hasil_peninjauan": "Lapangan luas, jalur alternatif ada", "lokasi_layak": "ya"})
    refused(izin("advance", a, "terbitkan_izin", "--as", "markus"), EXIT_PERMISSION)
    clock.set(at(27, 11, 15))
    done = _advance(izin, a, "terbitkan_izin", "kadistrik", {"syarat_tambahan": "Selesai pukul 18.00 WIT"})
    assert (done["state"], done["final"], done["deadline"], done["allowed_triggers"]) == (
        "izin_terbit", True, None, [])
    history = ok_json(izin("history", a, "--json"))
    assert [(e["trigger"], e["from"], e["to"], e["actor"], e["role"]) for e in history] == [
        ("daftarkan", None, "permohonan_masuk", "yosina", "petugas_loket"),
        ("ajukan_telaah", "permohonan_masuk", "telaah_seksi", "yosina", "petugas_loket"),
        ("perintahkan_tinjau", "telaah_seksi", "tinjau_lapangan", "markus", "kepala_seksi"),
        ("laporkan_tinjauan", "tinjau_lapangan", "menunggu_keputusan", "aparat_hinekombe", "petugas_kampung"),
        ("terbitkan_izin", "menunggu_keputusan", "izin_terbit", "kadistrik", "kepala_distrik"),
    ]
    assert datetime.fromisoformat(history[-1]["at"]) == at(27, 11, 15)
    wit_only(ok(izin("history", a)))
    [granted] = _notice_texts(izin, "pemohon_izin_terbit.txt.j2", a)
    assert "Diterbitkan oleh Agustinus Pulanda (Kepala Distrik Sentani) pada Jumat, 27 November 2026 pukul " \
           "11.15 WIT." in granted
    [copy] = _notice_texts(izin, "kampung_tembusan_izin.txt.j2", a)
    assert copy.startswith("Tembusan: izin keramaian IZN-2026-000001 di Hinekombe")

    # A refused and a withdrawn request, for the report's outcomes.
    c = ok(izin("submit", "--as", "yosina", *sets(KONSER))).strip()
    _advance(izin, c, "ajukan_telaah", "yosina")
    assert _advance(izin, c, "tolak_permohonan", "kadistrik",
                    {"alasan_penolakan": "Bertepatan dengan ibadah Minggu"})["state"] == "izin_ditolak"
    d = ok(izin("submit", "--as", "yosina", *sets(OLAHRAGA))).strip()
    assert _advance(izin, d, "batalkan", "yosina", {"alasan_batal": "Pertandingan diundur"})["state"] == "dibatalkan"
    _advance(izin, b, "serahkan_kelengkapan", "yosina", {"berkas": "ktp-maria.jpg"})
    assert _state(izin, b) == "telaah_seksi"

    # deploy a version 2: only a role with `can: deploy` may.
    workflow = izin_home / "workflows" / "izin.yaml"
    source = workflow.read_text(encoding="utf-8")
    changed = source.replace("version: 1\n", "version: 2\n", 1).replace(
        "  permohonan_masuk:\n    label: Permohonan masuk\n    deadline:\n      within: 2h",
        "  permohonan_masuk:\n    label: Permohonan masuk\n    deadline:\n      within: 1h", 1)
    assert changed.count("version: 2") == 1 and "within: 1h" in changed
    workflow.write_text(changed, encoding="utf-8")
    clock.set(at(27, 12, 0))
    refused(izin("deploy", workflow, "--as", "markus"), EXIT_PERMISSION)
    deployed = ok_json(izin("deploy", workflow, "--as", "admin", "--json"))
    assert (deployed["workflow"], deployed["version"], deployed["new"]) == ("izin", 2, True)
    assert ok_json(izin("deploy", workflow, "--as", "admin", "--json"))["new"] is False

    # New requests start on version 2 (its one-hour deadline); running ones keep version 1.
    clock.set(at(27, 14, 0))
    e = ok(izin("submit", "--as", "yosina", *sets(FESTIVAL))).strip()
    view = ok_json(izin("show", e, "--json"))
    assert view["definition_version"] == 2
    assert datetime.fromisoformat(view["deadline"]["due_at"]) == at(27, 15, 0)
    assert ok_json(izin("show", b, "--json"))["definition_version"] == 1

    # migrate: only a role with `can: migrate` may; the case's own workflow is used.
    refused(izin("migrate", b, "--to-version", "2", "--as", "markus"), EXIT_PERMISSION)
    ok(izin("migrate", b, "--to-version", "2", "--as", "admin"))
    moved = ok_json(izin("show", b, "--json"))
    assert (moved["definition_version"], moved["state"]) == (2, "telaah_seksi")
    last = ok_json(izin("history", b, "--json"))[-1]
    assert (last["from"], last["to"], last["actor"], last["role"]) == (
        "telaah_seksi", "telaah_seksi", "admin", "admin_sistem")
    clock.set(at(27, 14, 30))
    _advance(izin, b, "usulkan_keputusan", "markus")  # small, no road closed: no inspection needed
    assert _advance(izin, b, "terbitkan_izin", "kadistrik")["state"] == "izin_terbit"

    # serve --once on the 1st of December, 09.30 WIT: the pending escalations of E, the
    # working-day digest of 08.00 and the monthly recap of 09.00 (for November) fire.
    clock.set(at(1, 9, 30, month=12))
    served = ok_json(izin("serve", "--once", "--json"))
    assert [(f["number"], f["step"]) for f in served["escalations"]] == [(e, 1), (e, 2)]
    runs = {r["schedule"]: r for r in served["schedules"]}
    assert {name: (r["workflow"], r["status"], r["notices"]) for name, r in runs.items()} == {
        "rangkuman_harian": ("izin", "queued", 1), "rekap_bulanan_izin": ("izin", "queued", 1)}
    assert datetime.fromisoformat(runs["rangkuman_harian"]["fire_at"]) == at(1, 8, 0, month=12)
    assert datetime.fromisoformat(runs["rekap_bulanan_izin"]["fire_at"]) == at(1, 9, 0, month=12)

    [digest] = _notice_texts(izin, "izin_rangkuman_harian.txt.j2")
    assert digest.startswith("Rangkuman harian izin keramaian: 1 terbuka, 1 terlambat (Selasa, 1 Desember 2026)")
    assert "Yth. Markus Yoku" in digest
    assert "per Selasa, 1 Desember 2026 pukul 09.30 WIT terdapat 1 permohonan izin" in digest
    assert f"1. {e} - Permohonan masuk (TERLAMBAT 3 hari 18 jam 30 menit)" in digest
    assert "Festival budaya di Hinekombe; batas waktu 27-11-2026 15.00 WIT" in digest
    assert ("Bulan November 2026: 5 permohonan masuk, 2 izin terbit, 1 ditolak, 1 dibatalkan." in digest), digest
    wit_only(digest)

    [recap] = _notice_texts(izin, "izin_rekap_bulanan.txt.j2")
    assert recap.startswith("Rekap bulanan izin keramaian Distrik Sentani: November 2026")
    for line in ("Permohonan masuk: 5", "Izin diterbitkan: 2", "Izin tidak diterbitkan: 1",
                 "Permohonan dibatalkan: 1", "Masih terbuka: 1", "Melewati batas waktu: 2",
                 "- Hinekombe: masuk 2, terbit 1, ditolak 0, dibatalkan 0, terbuka 1, terlambat 2;",
                 "- Sereh: masuk 1, terbit 1, ditolak 0, dibatalkan 0, terbuka 0, terlambat 0;",
                 "- Dobonsolo: masuk 1, terbit 0, ditolak 1, dibatalkan 0, terbuka 0, terlambat 0;",
                 "- Yobeh: masuk 1, terbit 0, ditolak 0, dibatalkan 1, terbuka 0, terlambat 0;",
                 "- Bakar batu / pesta adat: masuk 1, terbit 1,",
                 "- Konser atau hiburan musik: masuk 1, terbit 0, ditolak 1,"):
        assert line in recap, (line, recap)
    assert "Sentani Kota" not in recap  # values without a case are left out

    # The queued notices were delivered by the file channel; a second pass does nothing again.
    assert list((tmp_path / "outbox").iterdir())
    again = ok_json(izin("serve", "--once", "--json"))
    assert again["escalations"] == []
    assert {r["status"] for r in again["schedules"]} == {"already_ran"}

    # verify: every history chain of this workflow matches.
    verified = ok_json(izin("verify", "--json"))
    assert (verified["checked"], verified["broken"]) == (5, [])
    assert ok(izin("verify", a)).startswith("OK: 1 case(s)")
