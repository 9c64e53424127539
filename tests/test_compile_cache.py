"""The compile cache: a mark per fully checked bundle, the definitions parsed from them and Jinja's compiled
templates, in a folder of our own.

Real files under ``tmp_path``; whole processes where what a command imports is the point.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
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
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stderr.split())


def test_help_and_a_read_import_only_what_they_use(tmp_path: Path) -> None:
    helped = _imported_by(tmp_path, "--help")
    assert not {"sqlalchemy", "jinja2", "yaml", "holidays", "apscheduler", "alembic"} & helped
    subprocess.run([sys.executable, "runner.py", "init", "--db", f"sqlite:///{tmp_path / 'treckk.db'}"], cwd=ROOT,
                   env={**os.environ, "TRECKK_CACHE_DIR": str(tmp_path / "cache")}, check=True, capture_output=True)
    listed = _imported_by(tmp_path, "cases")
    assert "sqlalchemy" in listed
    assert not {"sqlalchemy.orm", "sqlalchemy.dialects.postgresql", "holidays", "apscheduler", "alembic"} & listed


def _definition_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.definition"))


def _key(bundle: Bundle) -> str:
    return hashlib.sha256(bundle.to_json().encode("utf-8")).hexdigest()


class _Runs:
    """Pickles as a call of ``os.system``: what a forged cache file would hold."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (self.command,)


def test_the_parsed_definition_is_kept_privately_and_a_damaged_stale_or_foreign_one_is_parsed_again(
        tmp_path: Path) -> None:
    bundle = bundle_from_files(SHIPPED)
    folder = tmp_path / "cache"
    _compiled_with_cache.clear()
    full = compile_bundle(bundle, CompileCache(folder))
    (kept,) = _definition_files(folder)
    assert mode(kept) == 0o600
    assert CompileCache(folder).definition(_key(bundle)) == full.definition
    _compiled_with_cache.clear()
    again = compile_bundle(bundle, CompileCache(folder))
    assert again.definition == full.definition and again.guards.keys() == full.guards.keys()
    assert again.templates.sources == full.templates.sources
    # The same texts read from elsewhere are another bundle (the model's locations name the paths).
    moved = Bundle("elsewhere/treckk.yaml", bundle.workflow_text, bundle.roles_path, bundle.roles_text,
                   bundle.templates, bundle.templates_path)
    assert moved.digest == bundle.digest and CompileCache(folder).definition(_key(moved)) is None
    other_engine = CompileCache(folder)
    other_engine._fingerprint = "0" * 64
    assert other_engine.definition(_key(bundle)) is None  # another engine's file has another name

    damaged = bytearray(kept.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    kept.write_bytes(bytes(damaged))
    assert CompileCache(folder).definition(_key(bundle)) is None
    _compiled_with_cache.clear()
    assert compile_bundle(bundle, CompileCache(folder)).definition == full.definition  # parsed, and kept again
    assert CompileCache(folder).definition(_key(bundle)) == full.definition

    cache = CompileCache(folder)
    witness = tmp_path / "ran"
    forged = pickle.dumps((1, _key(bundle), cache.fingerprint, _Runs(f"touch {witness}")))
    kept.write_bytes(forged + hashlib.sha256(forged).digest())  # a well-formed file naming os.system
    assert cache.definition(_key(bundle)) is None and not witness.exists()
    cache.remember_definition(_key(moved), full.definition)
    (other,) = set(_definition_files(folder)) - {kept}
    kept.write_bytes(other.read_bytes())  # a genuine file of another bundle, under this bundle's name
    assert cache.definition(_key(bundle)) is None
    _compiled_with_cache.clear()
    assert compile_bundle(bundle, CompileCache(folder)).definition == full.definition


def test_showing_and_advancing_a_case_import_only_what_they_use(tmp_path: Path) -> None:
    env = {**os.environ, "TRECKK_CACHE_DIR": str(tmp_path / "cache"), "TRECKK_NOW": "2026-12-01T09:00:00+08:00"}
    subprocess.run([sys.executable, "runner.py", "demo", "--keep", str(tmp_path), "--quiet-notices"], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    submitted = subprocess.run([sys.executable, "runner.py", "submit", "--as", "rina", "--set", "kanal=telepon",
                                "--set", "uraian=Musik keras tengah malam.", "--set", "nomor_pelapor=0812-5100-9999"],
                               cwd=ROOT, env={**env, "TRECKK_DATABASE_URL": f"sqlite:///{tmp_path / 'treckk.db'}"},
                               check=True, capture_output=True, text=True)
    number = submitted.stdout.split()[0]
    never = {"yaml", "cryptography", "argon2", "PIL", "holidays", "apscheduler", "alembic", "sqlalchemy.orm",
             "sqlalchemy.ext", "sqlalchemy.dialects.postgresql", "psycopg", "engine.definition.parse",
             "engine.app.public_desk", "engine.app.whatsapp", "engine.app.credentials", "engine.app.definition_desk",
             "engine.app.escalation", "engine.app.reports", "engine.notices.delivery", "engine.core.tree_heads"}
    shown = _imported_by(tmp_path, "show", number, "--as", "ahmad")
    assert not (never | {"jinja2", "transitions", "engine.compile.templates"}) & shown
    advanced = _imported_by(tmp_path, "advance", number, "teruskan", "--as", "rina", "--set", "kategori=keributan",
                            "--set", "kecamatan=paringin", "--set", "lokasi=Jl. Uji")
    assert "jinja2" in advanced  # its notices are rendered in its transaction
    assert not never & advanced
