"""A regular (non-editable) install carries the definitions and finds them without TRECKK_HOME."""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from engine.app.settings import default_home
from tests.conftest import ROOT

SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_engine_package_is_listed_for_the_wheel() -> None:
    found = {".".join(path.parent.relative_to(ROOT).parts) for path in (ROOT / "engine").rglob("__init__.py")}
    listed = {name for name in SETUPTOOLS["packages"] if name.startswith("engine")}
    assert found == listed, "list every engine package in pyproject.toml's [tool.setuptools] packages"


def test_every_shipped_definition_is_package_data() -> None:
    shipped = {path for part in ("workflows", "roles", "templates") for path in (ROOT / part).rglob("*")
               if path.is_file() and path.suffix in (".yaml", ".j2")}
    covered = set()
    for package, folder in SETUPTOOLS["package-dir"].items():
        for pattern in SETUPTOOLS["package-data"][package]:
            covered |= {path for path in (ROOT / folder).rglob("*")
                        if fnmatch.fnmatch(str(path.relative_to(ROOT / folder)), pattern)}
    assert shipped and shipped <= covered, sorted(map(str, shipped - covered))


def test_without_definitions_beside_runner_the_installed_data_package_is_the_home(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    (site / "treckk_home" / "workflows").mkdir(parents=True)
    (site / "treckk_home" / "workflows" / "alur.yaml").write_text("workflow: alur\n")
    assert default_home(ROOT) == ROOT  # a checkout reads its own files
    monkeypatch.syspath_prepend(str(site))
    assert default_home(site) == site / "treckk_home"
    (site / "treckk_home" / "workflows" / "alur.yaml").unlink()
    assert default_home(site) == site  # nothing anywhere: validate and init then say so


def test_validate_and_init_refuse_a_home_without_workflows(tmp_path: Path) -> None:
    env = {**os.environ, "TRECKK_HOME": str(tmp_path), "TRECKK_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    for command in ("validate", "init"):
        result = subprocess.run([sys.executable, str(ROOT / "runner.py"), command], capture_output=True, text=True,
                                timeout=60, env=env, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert result.stderr == (f"treckk: error: no workflow files in {tmp_path / 'workflows'}; set TRECKK_HOME to "
                                 "the folder that holds workflows/, roles/ and templates/, or name the files to "
                                 "check\n")
    assert not (tmp_path / "x.db").exists()


@pytest.mark.slow
def test_a_built_wheel_installed_elsewhere_validates_and_deploys_the_shipped_definitions(tmp_path: Path) -> None:
    source = tmp_path / "source"
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    for name in tracked.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    wheels, site, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "work"
    work.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(source)], check=True, timeout=600,
                   capture_output=True)
    (wheel,) = wheels.glob("treckk-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=600,
                   capture_output=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRECKK_")}
    env.update(PYTHONPATH=str(site), TRECKK_OUTBOX_DIR=str(work / "outbox"))

    def treckk(*args: str) -> subprocess.CompletedProcess[str]:
        code = "import sys, runner; assert runner.__file__.startswith(sys.argv[1]), runner.__file__; " \
               "sys.exit(runner.main(sys.argv[2:]))"
        return subprocess.run([sys.executable, "-c", code, str(site), *args], capture_output=True, text=True,
                              timeout=120, env=env, cwd=work)

    validated = treckk("validate")
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.startswith("OK: 2 file(s) valid: workflow treckk v1 (9 states")
    # Its database is not put inside site-packages: without a URL, init says to give one.
    refused = treckk("init")
    assert refused.returncode == 2 and "set TRECKK_DATABASE_URL" in refused.stderr, refused.stderr
    assert not list(site.rglob("*.db"))
    env["TRECKK_DATABASE_URL"] = f"sqlite:///{work / 'treckk.db'}"
    initialised = treckk("init")
    assert initialised.returncode == 0, initialised.stderr
    assert "treckk v1: deployed" in initialised.stdout
    assert treckk("diagram").stdout.startswith("stateDiagram-v2")
