"""``treckk validate``: a one-line summary for good files, one located line per problem otherwise.

No database is involved, so these run once, not once per backend.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.conftest import ROOT, CliResult, run_cli

LOCATED = re.compile(r"^treckk: error: (?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")


def treckk(*args: object) -> CliResult:
    return run_cli(*args)


def broken_copy(tmp_path: Path, workflow_edits: dict[str, str], roles_edits: dict[str, str] | None = None) -> Path:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "roles").mkdir()
    text = (ROOT / "workflows" / "treckk.yaml").read_text(encoding="utf-8")
    for old, new in workflow_edits.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    (tmp_path / "workflows" / "treckk.yaml").write_text(text, encoding="utf-8")
    roles = (ROOT / "roles" / "treckk.yaml").read_text(encoding="utf-8")
    for old, new in (roles_edits or {}).items():
        assert old in roles, old
        roles = roles.replace(old, new, 1)
    (tmp_path / "roles" / "treckk.yaml").write_text(roles, encoding="utf-8")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    return tmp_path / "workflows" / "treckk.yaml"


def test_the_shipped_files_validate_with_a_one_line_summary() -> None:
    result = treckk("validate")
    assert result.code == 0, result.err
    assert result.err == ""
    [line] = result.out.splitlines()
    assert line.startswith("OK: 2 file(s) valid: workflow treckk v1 (9 states, 11 transitions")
    assert "roles treckk (6 roles)" in line
    explicit = treckk("validate", ROOT / "workflows" / "treckk.yaml", ROOT / "roles" / "treckk.yaml")
    assert explicit.code == 0 and explicit.out == result.out


def test_a_broken_copy_gets_one_located_line_per_problem(tmp_path: Path) -> None:
    path = broken_copy(tmp_path, {
        "    to: selesai": "    to: tamat",
        "    input: {alasan: required}": "    input: {alasan: wajib}",
        "      within: 24h": "      within: sehari",
    })
    result = treckk("validate", path)
    assert result.code == 2
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 3, result.err
    located = [LOCATED.match(line) for line in lines]
    assert all(located), lines
    assert {m["path"] for m in located if m} == {str(path)}
    text = path.read_text(encoding="utf-8").splitlines()
    for match, bad in zip(sorted((m for m in located if m), key=lambda m: int(m["line"])),
                          ("sehari", "wajib", "tamat")):
        assert bad in match["message"], match["message"]
        assert bad in text[int(match["line"]) - 1], (match["line"], bad)  # the line named holds the bad value


def test_a_broken_roles_file_is_reported_once(tmp_path: Path) -> None:
    path = broken_copy(tmp_path, {}, {"    scope: kecamatan": "    scope: desa"})
    result = treckk("validate", path, tmp_path / "roles" / "treckk.yaml")
    assert result.code == 2
    lines = result.err.splitlines()
    assert len(lines) == len(set(lines)), "the same problem must not be listed twice"
    assert sum("'desa'" in line for line in lines) == 1
    assert all(LOCATED.match(line) for line in lines), lines


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    result = treckk("validate", tmp_path / "tidak-ada.yaml")
    assert result.code == 2 and "no such file" in result.err and len(result.err.splitlines()) == 1
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "rusak.yaml").write_bytes(b"workflow: [tidak ditutup\n")
    result = treckk("validate", tmp_path / "workflows" / "rusak.yaml")
    assert result.code == 2
    [line] = result.err.splitlines()
    match = LOCATED.match(line)
    assert match and "YAML" in match["message"], line


def test_a_copy_of_the_project_is_validated_with_its_own_roles_and_templates(tmp_path: Path) -> None:
    """The workflow, the roles and the templates all come from the copy's tree, never from the project."""
    from engine.compile.workflow import bundle_from_files, compile_bundle

    copy = tmp_path / "salinan"
    for folder in ("workflows", "roles", "templates"):
        shutil.copytree(ROOT / folder, copy / folder)
    workflow = copy / "workflows" / "treckk.yaml"
    templates = (copy / "templates").resolve()
    # A template only the copy has, named only by the copy's workflow: valid.
    (templates / "pelapor_selesai_baru.txt.j2").write_text(
        (templates / "pelapor_selesai.txt.j2").read_text(encoding="utf-8"), encoding="utf-8")
    text = workflow.read_text(encoding="utf-8")
    workflow.write_text(text.replace("template: pelapor_selesai.txt.j2", "template: pelapor_selesai_baru.txt.j2")
                        .replace("    pelapor_selesai.txt.j2:\n", "    pelapor_selesai_baru.txt.j2:\n"),  # whatsapp:
                        encoding="utf-8")
    result = treckk("validate", workflow)
    assert result.code == 0, result.err
    # A template the copy lacks is missing, whatever the project holds.
    (templates / "pelapor_ditolak.txt.j2").unlink()
    result = treckk("validate", workflow)
    assert result.code == 2 and result.out == ""
    located = [LOCATED.match(line) for line in result.err.splitlines()]
    assert len(located) == 2 and all(located), result.err  # the notices of tolak and tandai_duplikat
    for match in located:
        assert match and match["path"] == str(workflow)
        assert match["message"].startswith("template 'pelapor_ditolak.txt.j2' of notice 1 of transition ")
        assert f"no such template in {templates}; known templates are " in match["message"]
    # The copy's footer reads a due time, which final states do not have: every notice to the
    # complainant on entering one fails in the partial, and each use says so.
    (templates / "pelapor_ditolak.txt.j2").write_text(
        (ROOT / "templates" / "pelapor_ditolak.txt.j2").read_text(encoding="utf-8"), encoding="utf-8")
    footer = templates / "_footer.txt.j2"
    lines = footer.read_text(encoding="utf-8").split("\n")
    at = lines.index("Hormat kami,") + 1
    lines[at - 1] = "Hormat kami, {{ case.due_at.year }}"
    footer.write_text("\n".join(lines), encoding="utf-8")
    result = treckk("validate", workflow)
    assert result.code == 2 and result.out == ""
    definition = compile_bundle(bundle_from_files(ROOT / "workflows" / "treckk.yaml")).definition
    into_final = sorted(n.where.line for t in definition.transitions if definition.states[t.dest].final
                        for n in t.notices if "pelapor" in n.to)
    located = [LOCATED.match(line) for line in result.err.splitlines()]
    assert all(located), result.err
    assert sorted(int(m["line"]) for m in located if m) == into_final
    for match in located:
        assert match and match["path"] == str(workflow)
        assert "(no deadline), to pelapor" in match["message"]
        assert f": {templates}/pelapor_" in match["message"]
        assert match["message"].endswith(f", in the partial {footer}:{at}: 'None' has no attribute 'year'")
    assert treckk("validate").code == 0  # the project itself is untouched


def test_a_whatsapp_template_parameter_that_does_not_render_is_reported_at_its_mapping(tmp_path: Path) -> None:
    workflow = broken_copy(tmp_path, {'parameters: ["{{ case.number }}"]': 'parameters: ["{{ case.nomor_salah }}"]'})
    result = treckk("validate", workflow)
    assert result.code == 2
    [line] = [m for m in (LOCATED.match(x) for x in result.err.splitlines()) if m]
    line_of = next(i for i, text in enumerate(workflow.read_text().splitlines(), 1)
                   if text.strip() == "pelapor_tanda_terima.txt.j2:")
    assert int(line["line"]) == line_of
    assert line["message"].startswith("parameter 1 of whatsapp.templates.pelapor_tanda_terima.txt.j2 "
                                      "('{{ case.nomor_salah }}') does not render")
