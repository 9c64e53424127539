"""`treckk demo` and `treckk simulate`: the shipped story plays as written; a wrong expectation is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.app.scenario import load_scenario
from engine.errors import DefinitionError

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "workflows" / "scenarios" / "treckk-demo.yaml"


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    import runner

    monkeypatch.setenv("TRECKK_DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    monkeypatch.delenv("TRECKK_NOW", raising=False)
    monkeypatch.delenv("TRECKK_CHANNELS", raising=False)

    def invoke(*args: str) -> tuple[int, str, str]:
        code = runner.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def test_demo_transcript_reaches_every_state_with_one_escalation(run, tmp_path: Path) -> None:
    code, out, err = run("demo", "--json", "--keep", str(tmp_path / "demo"))
    assert code == 0, err
    steps = json.loads(out)
    assert all(step["ok"] for step in steps), [s for s in steps if not s["ok"]]
    moves = [(s["case"], s["before"], s["after"]) for s in steps if s["kind"] in ("submit", "advance") and not s["exit"]]
    states_a = [after for case, _, after in moves if case == "TRK-2026-000001"]
    assert states_a == ["diterima", "ditelaah", "verifikasi", "ditelaah", "ditugaskan", "ditangani",
                        "menunggu_pengesahan", "selesai"]
    assert [after for case, _, after in moves if case == "TRK-2026-000002"] == ["diterima", "ditelaah", "dilimpahkan"]
    assert sum(s["escalations"] for s in steps) == 1
    refused = [s for s in steps if s["exit"]]
    assert [(s["actor"], s["exit"]) for s in refused] == [("tim_halong", 3)]
    templates = [n["template"] for s in steps for n in s["notices"]]
    assert templates.count("pengingat.txt.j2") == 1
    assert "pelapor_selesai.txt.j2" in templates and "pelapor_dilimpahkan.txt.j2" in templates
    assert "tim_surat_perintah_tugas.html.j2" in templates
    # The kept files: the database and one readable file per delivered notice.
    assert (tmp_path / "demo" / "treckk.db").is_file()
    delivered = list((tmp_path / "demo" / "outbox").glob("*"))
    assert len(delivered) >= len(templates)


def test_demo_human_transcript_is_readable_indonesian(run) -> None:
    code, out, err = run("demo")
    assert code == 0, err
    assert "Senin, 30 November 2026 pukul 08.05 WITA" in out
    assert "Tanda terima aduan TRK-2026-000001" in out
    assert "pemindaian eskalasi: 1 langkah eskalasi" in out
    assert "DITOLAK (exit 3)" in out
    assert "Rantai riwayat: utuh" in out
    assert "Traceback" not in out + err


def test_simulate_passes_on_the_shipped_story(run) -> None:
    code, out, err = run("simulate", str(DEMO))
    assert code == 0, out + err
    assert "0 different" in out


def test_simulate_names_the_step_whose_expectation_is_wrong(run, tmp_path: Path) -> None:
    text = DEMO.read_text(encoding="utf-8").replace("expect: {state: verifikasi, notices: [tim_permintaan_verifikasi.txt.j2]}",
                                                    "expect: {state: ditugaskan, notices: [tim_permintaan_verifikasi.txt.j2]}")
    wrong = tmp_path / "scenarios" / "wrong.yaml"
    wrong.parent.mkdir()
    wrong.write_text(text.replace("workflow: ../treckk.yaml", f"workflow: {ROOT / 'workflows' / 'treckk.yaml'}"),
                     encoding="utf-8")
    code, out, _ = run("simulate", str(wrong))
    assert code == 9
    line = next(n for n, l in enumerate(text.splitlines(), 1) if "trigger: minta_verifikasi" in l)
    assert f"wrong.yaml:{line}: step " in out
    assert "(advance A minta_verifikasi as ahmad): expected state 'ditugaskan', got 'verifikasi'" in out
    assert "1 different" in out


def test_simulate_against_a_changed_definition_reports_the_difference(run, tmp_path: Path) -> None:
    # An administrator shortens the review deadline to 2 working hours: the reminder now fires
    # earlier, so the scenario's escalation still happens; but removing the reminder step changes it.
    changed = tmp_path / "workflows" / "treckk.yaml"
    changed.parent.mkdir()
    source = (ROOT / "workflows" / "treckk.yaml").read_text(encoding="utf-8")
    without_reminder = source.replace(
        "  ditelaah:\n    label: Ditelaah Kepala Bidang\n    deadline:\n      within: 4h",
        "  ditelaah:\n    label: Ditelaah Kepala Bidang\n    deadline:\n      within: 8h")
    assert without_reminder != source
    changed.write_text(without_reminder, encoding="utf-8")
    (tmp_path / "roles").symlink_to(ROOT / "roles")
    (tmp_path / "templates").symlink_to(ROOT / "templates")
    code, out, _ = run("simulate", str(DEMO), "--workflow", str(changed))
    assert code == 9
    assert "(escalate): expected 1 escalation(s), got 0" in out


def test_a_broken_scenario_file_is_reported_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenario: x\nstart: 2026-11-30T08:00\nsteps:\n  - jump: +1h\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_scenario(bad)
    messages = str(caught.value)
    assert "bad.yaml:2:8: start '2026-11-30T08:00' has no UTC offset" in messages
    assert "bad.yaml:4:5: unknown key 'jump' in step 1" in messages
