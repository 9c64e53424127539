"""The case commands as a person or a script uses them: ``treckk submit/advance/show/history/inbox``.

Every test runs the real command line in-process (the ``cli`` fixture) on SQLite and PostgreSQL,
and asserts exit codes, the one-line error on stderr and the ``--json`` shapes.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from engine.app.commands import Commands
from engine.store import notice_rows
from engine.store.schema import case_numbers, cases, events, notices
from tests.conftest import COMPLAINT, CliResult

Step = tuple[str, str, dict[str, str]]  # trigger, actor, --set values

HAPPY_PATH: list[Step] = [
    ("teruskan", "admin", {}),
    ("minta_verifikasi", "kabid", {"instruksi": "Cek lokasi pagi ini"}),
    ("laporkan_verifikasi", "tim_paringin", {"temuan": "Benar, 6 lapak menutup bahu jalan", "laporan_benar": "ya"}),
    ("tugaskan", "kabid", {"instruksi": "Tertibkan dengan persuasif"}),
    ("mulai_tangani", "tim_paringin", {}),
    ("laporkan_hasil", "tim_paringin", {"tindakan": "Sosialisasi dan penertiban", "hasil": "Lapak dipindah",
                                        "foto_hasil": "sebelum.jpg, sesudah.jpg"}),
    ("kembalikan", "kabid", {"catatan": "Lampirkan berita acara"}),
    ("laporkan_hasil", "tim_paringin", {"tindakan": "Penertiban, berita acara dilampirkan", "hasil": "Jalan bebas"}),
    ("sahkan", "kabid", {}),
]
STATES_ALONG = ["diterima", "ditelaah", "verifikasi", "ditelaah", "ditugaskan", "ditangani", "menunggu_pengesahan",
                "ditangani", "menunggu_pengesahan", "selesai"]

SIDE_PATHS: dict[str, list[tuple[str, str, dict[str, str], int, str]]] = {
    # name: [(trigger, actor, values, expected exit code, state afterwards)]
    "tolak": [
        ("teruskan", "admin", {}, 0, "ditelaah"),
        ("tolak", "kabid", {"alasan": "Bukan pelanggaran Perda"}, 0, "ditolak"),
    ],
    "limpahkan": [
        ("teruskan", "admin", {}, 0, "ditelaah"),
        ("limpahkan", "kabid", {"instansi": "Dinas Perhubungan", "alasan": "Urusan parkir"}, 0, "dilimpahkan"),
    ],
    "tandai_duplikat": [
        ("tandai_duplikat", "admin", {"alasan": "Sama dengan TRK-2026-000000"}, 0, "ditolak"),
    ],
    "verification_false": [
        ("teruskan", "admin", {}, 0, "ditelaah"),
        ("minta_verifikasi", "kabid", {}, 0, "verifikasi"),
        ("laporkan_verifikasi", "tim_paringin", {"temuan": "Tidak ada PKL di lokasi", "laporan_benar": "tidak"}, 0,
         "ditelaah"),
        ("tugaskan", "kabid", {"instruksi": "Tetap tertibkan"}, 4, "ditelaah"),
        ("tolak", "kabid", {"alasan": "Laporan tidak terbukti"}, 0, "ditolak"),
    ],
    "kembalikan": [
        ("teruskan", "admin", {}, 0, "ditelaah"),
        ("tugaskan", "kabid", {"instruksi": "Tertibkan"}, 0, "ditugaskan"),
        ("mulai_tangani", "tim_paringin", {}, 0, "ditangani"),
        ("laporkan_hasil", "tim_paringin", {"tindakan": "Teguran", "hasil": "Selesai"}, 0, "menunggu_pengesahan"),
        ("kembalikan", "kabid", {}, 2, "menunggu_pengesahan"),  # catatan is required
        ("kembalikan", "kabid", {"catatan": "Foto kurang jelas"}, 0, "ditangani"),
        ("laporkan_hasil", "tim_paringin", {"tindakan": "Teguran", "hasil": "Foto diperbaiki"}, 0,
         "menunggu_pengesahan"),
        ("sahkan", "kabid", {"catatan": "Terima kasih"}, 0, "selesai"),
    ],
}


def sets(values: dict[str, str]) -> list[str]:
    return [arg for name, value in values.items() for arg in ("--set", f"{name}={value}")]


def submit(cli: Any, values: dict[str, str] | None = None, *extra: str) -> CliResult:
    result: CliResult = cli("submit", "--as", "admin", "--json", *sets(COMPLAINT if values is None else values),
                            *extra)
    return result


def ok_json(result: CliResult) -> Any:
    assert result.code == 0, result.err
    assert result.err == ""
    return json.loads(result.out)


def one_line_error(result: CliResult, code: int) -> str:
    assert result.code == code, (result.code, result.out, result.err)
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("treckk: error: ") and len(lines[0]) > 25, result.err
    assert result.out == ""
    return lines[0]


def counts(engine: Commands) -> dict[str, Any]:
    with engine.db.begin() as connection:
        return {
            "cases": connection.execute(select(func.count()).select_from(cases)).scalar_one(),
            "events": connection.execute(select(func.count()).select_from(events)).scalar_one(),
            "notices": connection.execute(select(func.count()).select_from(notices)).scalar_one(),
            "counter": connection.execute(select(func.max(case_numbers.c.last))).scalar_one(),
            "cases_rows": sorted(tuple(r) for r in connection.execute(
                select(cases.c.number, cases.c.state, cases.c.version, cases.c.data, cases.c.last_hash))),
        }


# -- the whole flow ---------------------------------------------------------------------------

def test_happy_path_through_the_cli(engine: Commands, cli: Any) -> None:
    opened = ok_json(submit(cli))
    number = opened["number"]
    assert {"number", "state", "version", "data", "allowed_triggers"} <= set(opened)
    assert (opened["state"], opened["version"], opened["allowed_triggers"]) == (
        "diterima", 1, ["teruskan", "tandai_duplikat"])
    assert opened == ok_json(cli("show", number, "--as", "admin", "--json"))
    for step, (trigger, actor, values) in enumerate(HAPPY_PATH, start=2):
        moved = ok_json(cli("advance", number, trigger, "--as", actor, "--json", *sets(values)))
        assert (moved["state"], moved["version"]) == (STATES_ALONG[step - 1], step)
        # advance --json prints the case exactly as `show --json` does for the same person.
        assert moved == ok_json(cli("show", number, "--as", actor, "--json"))
    history = ok_json(cli("history", number, "--as", "kabid", "--json"))
    assert isinstance(history, list)
    assert all({"seq", "trigger", "from", "to", "actor", "at"} <= set(event) for event in history)
    assert [(e["seq"], e["trigger"], e["from"], e["to"], e["actor"]) for e in history] == [
        (1, "catat", None, "diterima", "admin"),
        *[(seq, trigger, STATES_ALONG[seq - 2], STATES_ALONG[seq - 1], actor)
          for seq, (trigger, actor, _values) in enumerate(HAPPY_PATH, start=2)],
    ]
    assert history[-1]["to"] == "selesai"
    assert history[6]["input"] == {"tindakan": "Sosialisasi dan penertiban", "hasil": "Lapak dipindah",
                                   "foto_hasil": ["sebelum.jpg", "sesudah.jpg"]}
    final = ok_json(cli("show", number, "--as", "kabid", "--json"))
    assert (final["state"], final["final"], final["allowed_triggers"], final["version"]) == ("selesai", True, [], 10)
    assert final["deadline"] is None
    # A final case accepts nothing more, and saying so changes nothing.
    one_line_error(cli("advance", number, "kembalikan", "--as", "kabid", "--set", "catatan=lagi"), 4)
    assert ok_json(cli("show", number, "--as", "kabid", "--json")) == final
    human = cli("history", number, "--as", "kabid")
    assert human.code == 0 and ("(sahkan): Menunggu pengesahan (menunggu_pengesahan) → Selesai (selesai)  oleh kabid "
                                "(Kepala Bidang Trantibum dan Perda)") in human.out
    verified = cli("verify", "--json")
    assert verified.code == 0 and (json.loads(verified.out)["checked"], json.loads(verified.out)["broken"]) == (1, [])


def test_side_paths_through_the_cli(engine: Commands, cli: Any) -> None:
    for path in SIDE_PATHS:
        walk_side_path(cli, path)
    verified = cli("verify", "--json")
    assert verified.code == 0
    assert (json.loads(verified.out)["checked"], json.loads(verified.out)["broken"]) == (len(SIDE_PATHS), [])


def walk_side_path(cli: Any, path: str) -> None:
    number = ok_json(submit(cli))["number"]
    expected = [(1, "catat", None, "diterima", "admin")]
    state = "diterima"
    for trigger, actor, values, code, after in SIDE_PATHS[path]:
        result = cli("advance", number, trigger, "--as", actor, "--json", *sets(values))
        if code:
            message = one_line_error(result, code)
            if code == 4:
                assert "laporan_benar is not false" in message  # the guard is named
        else:
            assert ok_json(result)["state"] == after
            expected.append((len(expected) + 1, trigger, state, after, actor))
        state = after
        shown = ok_json(cli("show", number, "--as", "kabid", "--json"))
        assert (shown["state"], shown["version"]) == (state, len(expected))
    history = ok_json(cli("history", number, "--as", "kabid", "--json"))
    assert [(e["seq"], e["trigger"], e["from"], e["to"], e["actor"]) for e in history] == expected, path


# -- bad input --------------------------------------------------------------------------------

BAD_SUBMITS: dict[str, tuple[dict[str, str], str]] = {
    # name: (values, a word the message must contain)
    "unknown field": ({**COMPLAINT, "warna": "merah"}, "warna"),
    "boolean maybe": ({**COMPLAINT, "anonim": "maybe"}, "maybe"),
    "over-long text": ({**COMPLAINT, "uraian": "x" * 4001}, "4000"),
    "bad phone": ({**COMPLAINT, "nomor_pelapor": "12345"}, "12345"),
    "foreign phone": ({**COMPLAINT, "nomor_pelapor": "+1 202 555 0101"}, "+1 202 555 0101"),
    "arabic-indic digits in phone": ({**COMPLAINT, "nomor_pelapor": "٠٨١٢٥٥٥٥٠١٠١"}, "nomor_pelapor"),
    "unknown kecamatan": ({**COMPLAINT, "kecamatan": "banjarmasin"}, "paringin"),
    "unknown kanal": ({**COMPLAINT, "kanal": "merpati"}, "whatsapp"),
    "field of another trigger": ({**COMPLAINT, "temuan": "belum diverifikasi"}, "temuan"),
    "missing required": ({k: v for k, v in COMPLAINT.items() if k != "uraian"}, "uraian"),
    "blank text": ({**COMPLAINT, "uraian": "   "}, "empty"),
    "bad e-mail": ({**COMPLAINT, "email_pelapor": "budi at contoh"}, "budi at contoh"),
    "bad time": ({**COMPLAINT, "waktu_kejadian": "kemarin sore"}, "ISO 8601"),
    "undecodable bytes": ({**COMPLAINT, "lokasi": "Jl. \udcff"}, "UTF-8"),
}


def test_bad_submits_get_exit_2_one_line_and_write_nothing(engine: Commands, cli: Any) -> None:
    before = counts(engine)
    for name, (values, word) in BAD_SUBMITS.items():
        message = one_line_error(submit(cli, values), 2)
        assert word in message, (name, message)
        assert counts(engine) == before, name
    for args in (["--set", "uraian"], ["--set", "=x"], ["--set", "uraian=a", "--set", "uraian=b"]):
        one_line_error(cli("submit", "--as", "admin", "--set", "kanal=web", *args), 2)
    one_line_error(cli("submit", "--set", "kanal=web"), 2)  # --as is required (argparse)
    assert counts(engine) == before
    # The counter was never touched: the first good complaint still gets number 1.
    assert ok_json(submit(cli))["number"] == "TRK-2026-000001"


def test_bad_advances_get_exit_2_one_line_and_write_nothing(engine: Commands, cli: Any) -> None:
    number = ok_json(submit(cli))["number"]
    bare = ok_json(submit(cli, {"kanal": "telepon", "uraian": "Tanpa lokasi"}))["number"]
    ok_json(cli("advance", number, "teruskan", "--as", "admin", "--json"))
    ok_json(cli("advance", number, "minta_verifikasi", "--as", "kabid", "--json"))
    before = counts(engine)
    bad = [
        (number, "laporkan_verifikasi", "tim_paringin", {"temuan": "ok", "laporan_benar": "maybe"}, "maybe"),
        (number, "laporkan_verifikasi", "tim_paringin", {"temuan": "ok"}, "laporan_benar"),
        (number, "laporkan_verifikasi", "tim_paringin", {"temuan": "t" * 2001, "laporan_benar": "ya"}, "2000"),
        (number, "laporkan_verifikasi", "tim_paringin",
         {"temuan": "ok", "laporan_benar": "ya", "nama_pelapor": "Orang Lain"}, "nama_pelapor"),
        (number, "laporkan_verifikasi", "tim_paringin", {"temuan": "ok", "laporan_benar": "ya", "hasil": "x"},
         "hasil"),
        (bare, "teruskan", "admin", {"kecamatan": "paringin", "lokasi": "x"}, "kategori"),  # requires it
        (bare, "teruskan", "admin", {"kategori": "perda_lain", "kecamatan": "kota baru", "lokasi": "x"}, "juai"),
        (number, "bogus", "kabid", {"x": "1"}, "bogus"),
    ]
    for case, trigger, actor, values, word in bad:
        result = cli("advance", case, trigger, "--as", actor, *sets(values))
        message = one_line_error(result, 4 if trigger == "bogus" else 2)
        assert word in message, message
        assert counts(engine) == before, (trigger, values)


GOOD_TEXTS = {
    "arabic": "شكوى: الباعة يغلقون الطريق أمام السوق",
    "emoji": "🚧🛵 PKL di trotoar 👮‍♀️🇮🇩",
    "javanese": "ꦥꦼꦢꦒꦁ ꦏꦏꦶ ꦭꦶꦩ ꦤꦸꦠꦸꦥ꧀ ꦢꦭꦤ꧀",
    "sql": "'; DROP TABLE cases; --",
    "sql2": "Robert'); DELETE FROM events WHERE ('1'='1",
    "template": "{{ 7*7 }} {% for x in range(3) %}{{ x }}{% endfor %}",
    "combining": "Pe\u0301dagang cafe\u0301 \u200f\u202eRTL\u202c",
    "quotes": 'kutip "ganda" \'tunggal\' `balik` \\ garis miring',
    "lines": "baris satu\nbaris dua\r\n\tbaris tiga",
    "spaces": "  spasi di tepi  ",
    "longest": "ꦲ" * 4000,
}


def test_unicode_and_sql_looking_text_is_stored_exactly(engine: Commands, cli: Any) -> None:
    for name, text in GOOD_TEXTS.items():
        opened = ok_json(submit(cli, {**COMPLAINT, "uraian": text, "nama_pelapor": text[:100]}))
        number = opened["number"]
        shown = cli("show", number, "--as", "kabid", "--json")
        data = ok_json(shown)["data"]
        assert data["uraian"] == text and data["nama_pelapor"] == text[:100], name
        assert json.dumps(text, ensure_ascii=False)[1:-1] in shown.out, name  # the exact text, not \u-escaped
        assert ok_json(cli("history", number, "--as", "kabid", "--json"))[0]["input"]["uraian"] == text
        moved = ok_json(cli("advance", number, "teruskan", "--as", "admin", "--json"))
        assert moved["data"]["uraian"] == text
        assert ok_json(cli("advance", number, "tolak", "--as", "kabid", "--json", "--set", f"alasan={text[:1000]}",
                           "--comment", text))["state"] == "ditolak"
        history = ok_json(cli("history", number, "--as", "kabid", "--json"))
        assert history[-1]["input"] == {"alasan": text[:1000]} and history[-1]["comment"] == text
    # Nothing was executed: every table is there, every case and event too, and complaint text
    # reached the notices as text, never as template source.
    expected = len(GOOD_TEXTS)
    with engine.db.begin() as connection:
        assert connection.execute(select(func.count()).select_from(cases)).scalar_one() == expected
        assert connection.execute(select(func.count()).select_from(events)).scalar_one() == 3 * expected
        bodies = [row.body or "" for row in notice_rows.list_notices(connection)
                  if row.template == "kabid_aduan_baru.txt.j2"]
    assert any("{{ 7*7 }}" in body for body in bodies)
    assert not any("49 012" in body for body in bodies)
    assert cli("verify").code == 0


def test_phone_numbers_are_normalised_and_intake_keys_act_once(engine: Commands, cli: Any) -> None:
    written = {
        "0812-5555-0101": "+6281255550101",
        "+62 812 5555 0101": "+6281255550101",
        "62812 5555 0101": "+6281255550101",
        "(0812) 5555.0101": "+6281255550101",
        "+62-812-5555-0101": "+6281255550101",
        "0526 2021234": "+625262021234",
    }
    for given, stored in written.items():
        number = ok_json(submit(cli, {**COMPLAINT, "nomor_pelapor": given}))["number"]
        assert ok_json(cli("show", number, "--as", "kabid", "--json"))["data"]["nomor_pelapor"] == stored, given
    opened = len(written)
    first = ok_json(submit(cli, None, "--idempotency-key", "wa-123"))
    again = ok_json(submit(cli, None, "--idempotency-key", "wa-123"))
    assert again["number"] == first["number"] and counts(engine)["cases"] == opened + 1
    assert cli("submit", "--as", "admin", *sets(COMPLAINT), "--idempotency-key", "wa-124").out.strip() == \
        f"TRK-2026-{opened + 2:06d}"


# -- keys, versions, who --------------------------------------------------------------------

def test_idempotency_key_versions_unknowns_and_disabled_staff(engine: Commands, cli: Any) -> None:
    number = ok_json(submit(cli))["number"]
    first = ok_json(cli("advance", number, "teruskan", "--as", "admin", "--json", "--idempotency-key", "req-1"))
    again = ok_json(cli("advance", number, "teruskan", "--as", "admin", "--json", "--idempotency-key", "req-1"))
    assert again == first and first["version"] == 2
    assert [e["trigger"] for e in ok_json(cli("history", number, "--json"))] == ["catat", "teruskan"]
    before = counts(engine)
    one_line_error(cli("advance", number, "tolak", "--as", "kabid", "--set", "alasan=x", "--idempotency-key",
                       "req-1"), 5)
    one_line_error(cli("advance", number, "teruskan", "--as", "kabid", "--idempotency-key", "req-1"), 5)
    message = one_line_error(cli("advance", number, "tolak", "--as", "kabid", "--set", "alasan=x",
                                 "--expect-version", "1"), 5)
    assert "version 2" in message
    one_line_error(cli("advance", "TRK-2026-999999", "teruskan", "--as", "admin"), 6)
    one_line_error(cli("advance", "TRK-2026-000001' OR '1'='1", "teruskan", "--as", "admin"), 6)
    one_line_error(cli("advance", number, "tolak", "--as", "siapa", "--set", "alasan=x"), 6)
    one_line_error(cli("show", "TRK-2026-999999"), 6)
    one_line_error(cli("show", number, "--as", "siapa"), 6)
    one_line_error(cli("history", "TRK-2026-999999"), 6)
    one_line_error(cli("submit", "--as", "siapa", *sets(COMPLAINT)), 6)
    assert counts(engine) == before
    assert ok_json(cli("advance", number, "tolak", "--as", "kabid", "--json", "--set", "alasan=x",
                       "--expect-version", "2"))["version"] == 3

    # A disabled member may neither act nor look.
    other = ok_json(submit(cli))["number"]
    assert cli("staff", "disable", "admin").code == 0
    before = counts(engine)
    one_line_error(cli("advance", other, "teruskan", "--as", "admin"), 3)
    one_line_error(cli("submit", "--as", "admin", *sets(COMPLAINT)), 3)
    one_line_error(cli("show", other, "--as", "admin"), 3)
    one_line_error(cli("inbox", "--as", "admin"), 3)
    assert counts(engine) == before




PII = ("Budi Santoso", "+6281255550101", "8125555")


def test_personal_data_is_masked_for_the_team_and_shown_to_the_kabid(engine: Commands, cli: Any) -> None:
    to_verify = ok_json(submit(cli))["number"]
    to_review = ok_json(submit(cli))["number"]
    for number in (to_verify, to_review):
        ok_json(cli("advance", number, "teruskan", "--as", "admin", "--json"))
    ok_json(cli("advance", to_verify, "minta_verifikasi", "--as", "kabid", "--json"))

    team = [cli("show", to_verify, "--as", "tim_paringin", "--json"),
            cli("history", to_verify, "--as", "tim_paringin", "--json"),
            cli("inbox", "--as", "tim_paringin", "--json"),
            cli("show", to_verify, "--as", "tim_paringin"),
            cli("history", to_verify, "--as", "tim_paringin"),
            cli("inbox", "--as", "tim_paringin"),
            cli("cases", "--as", "tim_paringin", "--json")]
    for result in team:
        assert result.code == 0, result.err
        assert not any(secret in result.out for secret in PII), result.out
    shown = ok_json(team[0])
    assert shown["data"]["nama_pelapor"] == shown["data"]["nomor_pelapor"] == "[dirahasiakan]"
    assert shown["data"]["uraian"] == COMPLAINT["uraian"]
    assert ok_json(team[1])[0]["input"]["nama_pelapor"] == "[dirahasiakan]"
    inbox = ok_json(team[2])
    assert [row["number"] for row in inbox] == [to_verify]
    assert inbox[0]["data"]["nama_pelapor"] == "[dirahasiakan]"
    # The team's own command output is masked as well.
    reported = ok_json(cli("advance", to_verify, "laporkan_verifikasi", "--as", "tim_paringin", "--json",
                           "--set", "temuan=benar", "--set", "laporan_benar=ya"))
    assert reported["data"]["nomor_pelapor"] == "[dirahasiakan]"

    kabid_show = ok_json(cli("show", to_review, "--as", "kabid", "--json"))
    assert (kabid_show["data"]["nama_pelapor"], kabid_show["data"]["nomor_pelapor"]) == PII[:2]
    assert ok_json(cli("history", to_review, "--as", "kabid", "--json"))[0]["input"]["nama_pelapor"] == PII[0]
    kabid_inbox = ok_json(cli("inbox", "--as", "kabid", "--json"))
    assert {row["number"] for row in kabid_inbox} == {to_verify, to_review}
    assert all(row["data"]["nama_pelapor"] == PII[0] for row in kabid_inbox)
    # Without a viewer nothing personal is shown either.
    assert ok_json(cli("show", to_review, "--json"))["data"]["nama_pelapor"] == "[dirahasiakan]"

    # A team of another kecamatan sees neither the case nor its history.
    for command in ("show", "history"):
        message = one_line_error(cli(command, to_verify, "--as", "tim_juai"), 3)
        assert "kecamatan" in message
    assert ok_json(cli("inbox", "--as", "tim_juai", "--json")) == []


# -- every problem at once, the triggers one may fire, any letter case ---------------------------

def error_lines(result: CliResult, code: int) -> list[str]:
    assert result.code == code, (result.code, result.out, result.err)
    assert result.out == ""
    lines = result.err.splitlines()
    assert lines and all(line.startswith("treckk: error: ") for line in lines), result.err
    return [line.removeprefix("treckk: error: ") for line in lines]


def test_every_missing_or_bad_field_is_reported_at_once_one_line_each(engine: Commands, cli: Any) -> None:
    before = counts(engine)
    lines = error_lines(cli("submit", "--as", "admin", *sets({"kanal": "merpati", "nomor_pelapor": "123",
                                                              "warna": "merah", "kategori": "pkl_tempat_usaha"})), 2)
    assert len(lines) == 4, lines
    assert "field 'kanal' does not accept 'merpati'" in lines[0]
    assert "field 'nomor_pelapor' does not accept '123'" in lines[1]
    assert lines[2].startswith("unknown field 'warna' for recording a complaint (catat); accepted fields are kanal")
    assert lines[3] == ("recording a complaint (catat) needs field 'uraian' (Uraian aduan); give it with "
                        "--set uraian=VALUE")
    assert counts(engine) == before
    # A move that `requires` three fields the case does not hold names all three.
    bare = ok_json(submit(cli, {"kanal": "telepon", "uraian": "Tanpa lokasi"}))["number"]
    before = counts(engine)
    lines = error_lines(cli("advance", bare, "teruskan", "--as", "admin"), 2)
    assert lines == [f"trigger 'teruskan' needs field '{name}' ({label}); give it with --set {name}=VALUE"
                     for name, label in (("kategori", "Kategori aduan"), ("kecamatan", "Kecamatan"),
                                         ("lokasi", "Lokasi kejadian"))]
    lines = error_lines(cli("advance", bare, "teruskan", "--as", "admin", *sets(
        {"kategory": "perda_lain", "kecamatan": "kota baru", "lokasi": "x" * 301})), 2)
    assert len(lines) == 4, lines
    assert lines[0].endswith("did you mean 'kategori'?")
    assert "'kota baru'" in lines[1] and "300" in lines[2] and "needs field 'kategori'" in lines[3]
    assert counts(engine) == before
    # Once all is given, the move goes through.
    assert ok_json(cli("advance", bare, "teruskan", "--as", "admin", "--json", *sets(
        {"kategori": "perda_lain", "kecamatan": "juai", "lokasi": "Jl. Baru"})))["state"] == "ditelaah"


def test_an_unknown_trigger_gets_a_suggestion_and_the_triggers_this_actor_may_fire_now(engine: Commands,
                                                                                         cli: Any) -> None:
    number = ok_json(submit(cli))["number"]
    before = counts(engine)
    message = one_line_error(cli("advance", number, "terusan", "--as", "admin"), 4)
    assert message == (f"treckk: error: unknown trigger 'terusan' in workflow 'treckk' (did you mean 'teruskan'?); "
                       f"on {number} (Aduan diterima) you may fire teruskan, tandai_duplikat")
    # Another state's trigger: only what this actor may fire from here is listed.
    message = one_line_error(cli("advance", number, "tugaskan", "--as", "admin"), 4)
    assert message.endswith(f"not allowed in state 'diterima'; on {number} (Aduan diterima) you may fire "
                            "teruskan, tandai_duplikat")
    message = one_line_error(cli("advance", number, "tugaskn", "--as", "kabid"), 4)
    assert "(did you mean 'tugaskan'?)" in message
    assert message.endswith(f"you may fire no trigger on {number} in state 'diterima'")
    ok_json(cli("advance", number, "teruskan", "--as", "admin", "--json"))
    message = one_line_error(cli("advance", number, "verifikasi", "--as", "kabid"), 4)
    assert message.endswith(f"on {number} (Ditelaah Kepala Bidang) you may fire minta_verifikasi, tugaskan, tolak, "
                            "limpahkan")
    assert "teruskan" not in message.partition("you may fire")[2]
    assert counts(engine)["events"] == before["events"] + 1


def test_case_numbers_are_accepted_in_any_letter_case(engine: Commands, cli: Any) -> None:
    number = ok_json(submit(cli))["number"]
    typed = number.lower()
    assert typed != number
    assert ok_json(cli("show", typed, "--as", "kabid", "--json"))["number"] == number
    moved = ok_json(cli("advance", f" {typed.title()} ", "teruskan", "--as", "admin", "--json"))
    assert (moved["number"], moved["state"]) == (number, "ditelaah")
    assert [e["trigger"] for e in ok_json(cli("history", typed, "--json"))] == ["catat", "teruskan"]
    assert ok_json(cli("notices", "--case", typed, "--json"))
    verified = json.loads(cli("verify", typed, "--json").out)
    assert (verified["checked"], verified["broken"]) == (1, [])
    # The history was sealed under the number as stored, so the whole chain still verifies.
    verified = json.loads(cli("verify", "--json").out)
    assert (verified["checked"], verified["broken"]) == (1, [])
    with engine.db.begin() as connection:
        assert list(connection.execute(select(cases.c.number)).scalars()) == [number]
