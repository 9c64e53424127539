"""The compile cache: a mark per fully checked bundle and Jinja's compiled templates, in a folder of our own.

Real files under ``tmp_path``; whole processes where what a command imports is the point.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from engine.compile.cache import CompileCache
from engine.compile.templates import TemplateSet
from engine.compile.workflow import Bundle, _compiled_with_cache, bundle_from_files, compile_bundle
from engine.errors import DefinitionError
from tests.conftest import ROOT

SHIPPED = ROOT / "workflows" / "treckk.yaml"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def marks(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.checked"))


def test_a_full_compile_leaves_a_private_mark_and_the_next_compile_gives_the_same_workflow(tmp_path: Path) -> None:
    bundle = bundle_from_files(SHIPPED)
    cache = CompileCache(tmp_path / "cache")
    _compiled_with_cache.clear()
    full = compile_bundle(bundle, cache)
    (mark,) = marks(tmp_path / "cache")
    assert mode(tmp_path / "cache") == 0o700 and mode(mark) == 0o600
    assert json.loads(mark.read_text())["bundle"] == bundle.digest and cache.checked(bundle.digest)
    _compiled_with_cache.clear()
    again = compile_bundle(bundle, CompileCache(tmp_path / "cache"))
    assert again is not full and again.definition == full.definition and again.digest == full.digest
    assert again.guards.keys() == full.guards.keys()


def test_a_corrupt_stale_or_foreign_mark_is_not_believed(tmp_path: Path) -> None:
    bundle = bundle_from_files(SHIPPED)
    folder = tmp_path / "cache"
    cache = CompileCache(folder)
    cache.remember_checked(bundle.digest)
    (mark,) = marks(folder)
    mark.write_text(mark.read_text().replace('"full"', '"fool"'))
    assert not CompileCache(folder).checked(bundle.digest)  # edited
    CompileCache(folder).remember_checked(bundle.digest)
    assert CompileCache(folder).checked(bundle.digest)  # rewritten
    mark.chmod(0o666)
    assert not CompileCache(folder).checked(bundle.digest)  # anybody could have written it
    mark.chmod(0o600)
    other_engine = CompileCache(folder)
    other_engine._fingerprint = "0" * 64  # another engine's checks: another name
    assert not other_engine.checked(bundle.digest)
    folder.chmod(0o777)
    assert not CompileCache(folder).usable and not CompileCache(folder).checked(bundle.digest)
    folder.chmod(0o700)
    (tmp_path / "a-file").write_text("")
    assert not CompileCache(tmp_path / "a-file").usable  # not a folder: no cache, no error


def test_a_bundle_with_a_problem_is_never_marked(tmp_path: Path) -> None:
    base = bundle_from_files(SHIPPED)
    broken = Bundle(base.workflow_path, base.workflow_text, base.roles_path, base.roles_text,
                    {**base.templates, "pengingat.txt.j2": "{{ case.number }\n"}, base.templates_path)
    cache = CompileCache(tmp_path / "cache")
    with pytest.raises(DefinitionError):
        compile_bundle(broken, cache)
    assert marks(tmp_path / "cache") == [] and not cache.checked(broken.digest)


def test_compiled_template_code_is_kept_privately_and_a_damaged_file_is_ignored(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    sources = {"a.txt.j2": "Aduan {{ nomor }}\n{% for x in daftar %}- {{ x }}\n{% endfor %}"}
    first = TemplateSet(sources, bytecode_cache=CompileCache(folder).bytecode_cache())
    assert first.render("a.txt.j2", {"nomor": "TRK-1", "daftar": [1, 2]}).body == "Aduan TRK-1\n- 1\n- 2\n"
    (code,) = (folder / "templates").glob("*.code")
    assert mode(folder / "templates") == 0o700 and mode(code) == 0o600
    again = TemplateSet(sources, bytecode_cache=CompileCache(folder).bytecode_cache())
    assert again.render("a.txt.j2", {"nomor": "TRK-2", "daftar": []}).body == "Aduan TRK-2\n"
    damaged = bytearray(code.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    code.write_bytes(bytes(damaged))
    third = TemplateSet(sources, bytecode_cache=CompileCache(folder).bytecode_cache())
    assert third.render("a.txt.j2", {"nomor": "TRK-3", "daftar": [3]}).body == "Aduan TRK-3\n- 3\n"
    changed = TemplateSet({"a.txt.j2": "Lain {{ nomor }}\n"}, bytecode_cache=CompileCache(folder).bytecode_cache())
    assert changed.render("a.txt.j2", {"nomor": "TRK-4"}).body == "Lain TRK-4\n"  # the source decides, not the file


def _imported_by(tmp_path: Path, *args: str) -> set[str]:
    """The modules a ``treckk`` process imported to run ``args``."""
    script = ("import sys, runner\ntry:\n    runner.main(sys.argv[1:])\nfinally:\n"
              "    print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n")
    env = {**os.environ, "TRECKK_CACHE_DIR": str(tmp_path / "cache"),
           "TRECKK_DATABASE_URL": f"sqlite:///{tmp_path / 'treckk.db'}"}
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    return set(done.stderr.split())


def test_help_and_a_read_import_only_what_they_use(tmp_path: Path) -> None:
    helped = _imported_by(tmp_path, "--help")
    assert not {"sqlalchemy", "jinja2", "yaml", "holidays", "apscheduler", "alembic"} & helped
    subprocess.run([sys.executable, "runner.py", "init", "--db", f"sqlite:///{tmp_path / 'treckk.db'}"], cwd=ROOT,
                   env={**os.environ, "TRECKK_CACHE_DIR": str(tmp_path / "cache")}, check=True, capture_output=True)
    listed = _imported_by(tmp_path, "cases")
    assert "sqlalchemy" in listed
    assert not {"sqlalchemy.orm", "sqlalchemy.dialects.postgresql", "holidays", "apscheduler", "alembic"} & listed
