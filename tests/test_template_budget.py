"""The render budget (``engine.compile.template_budget``): a template that loops, computes or writes
too much gets one clear line at ``validate``/``deploy`` (exit 2, nothing deployed) and at run time
(the move refused with exit 2, nothing written), never a hang or a traceback.

The budget's iteration and size limits stop each of these long before the wall-clock deadline, so
these tests neither sleep nor depend on the machine's speed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.compile import template_budget
from engine.compile.templates import TemplateFailed, TemplateSet
from engine.store.schema import definitions
from tests.conftest import ROOT, run_cli
from tests.test_templates import footprint, submit_at

NOTICE = "kabid_aduan_baru.txt.j2"
"""Sent only on ``teruskan``, so a fault in it is one use: one line at validation."""

BAD = {
    # what the template does: (its source, what the one line says)
    "nested loops": ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                     f"render budget exceeded: more than {template_budget.MAX_ITERATIONS} loop iterations"),
    "a huge string": ("{{ 'x' * 10**9 }}", "render budget exceeded: a value larger than 256 KiB"),
    "a huge output": ("{% for i in range(50000) %}{{ data.uraian }}{% endfor %}",
                      "render budget exceeded: more than 256 KiB of output"),
    "a division by zero": ("{{ 1 // 0 }}", "ZeroDivisionError: integer division or modulo by zero"),
}

MORE = {
    "a huge power": "{{ 10 ** (10 ** 10) }}",
    "a huge width": "{{ 'x'.ljust(10**9) }}",
    "a huge filter width": "{{ 'x'|center(1000000000) }}",
    "a huge format width": "{{ '{:>1000000000}'.format(1) }}",
    "a huge printf width": "{{ '%*d' % (1000000000, 1) }}",
    "a doubling concatenation": "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
                                "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
}


@pytest.mark.parametrize("what", sorted(BAD) + sorted(MORE))
def test_each_excess_is_a_template_failure(what: str) -> None:
    source = BAD[what][0] if what in BAD else MORE[what]
    templates = TemplateSet({"t.txt.j2": source})
    failed = templates.render_problem("t.txt.j2", {"data": {"uraian": "Pedagang kaki lima."}})
    assert isinstance(failed, TemplateFailed), what
    expected = BAD[what][1] if what in BAD else "render budget exceeded: "
    assert expected in failed.located(), failed.located()
    assert failed.located().startswith("t.txt.j2:1: "), failed.located()


def test_what_a_notice_needs_stays_within_the_budget() -> None:
    """Loops, formats, widths and concatenation of ordinary size; the count starts over each render."""
    source = ("{% for i in range(60000) %}{% endfor %}{% for i in range(3) %}{{ loop.index }}{{ '-' * 3 }}"
              "{% endfor %} {{ '%05d' % 3 }} {{ 'a' ~ 'b' }} {{ '{:,}'.format(1500000) }} {{ 'x'|center(5) }} "
              "{{ 2 ** 10 }} {{ nomor|default('-') }}")
    templates = TemplateSet({"t.txt.j2": source})
    for _ in range(2):  # 60,000 iterations each time; together over the limit, which is per render
        assert templates.render("t.txt.j2", {"nomor": "081234567890"}).body == (
            "1---2---3--- 00003 ab 1,500,000   x   1024 081234567890")


def _bundle(tmp_path: Path, body: str, *, condition: str | None = None) -> Path:
    """A copy of the shipped bundle (version 2) whose ``NOTICE`` ends with ``body``, behind ``condition``."""
    for folder in ("workflows", "roles", "templates"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    workflow = tmp_path / "workflows" / "treckk.yaml"
    workflow.write_text(workflow.read_text(encoding="utf-8").replace("version: 1", "version: 2", 1), encoding="utf-8")
    notice = tmp_path / "templates" / NOTICE
    text = notice.read_text(encoding="utf-8")
    added = f"{{% if {condition} %}}{body}{{% endif %}}" if condition else body
    notice.write_text(f"{text.rstrip()}\n{added}\n", encoding="utf-8")
    return workflow


def _added_line(workflow: Path) -> int:
    return len((workflow.parent.parent / "templates" / NOTICE).read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize("what", sorted(BAD))
def test_validate_refuses_with_one_line(tmp_path: Path, what: str) -> None:
    source, reason = BAD[what]
    workflow = _bundle(tmp_path, source)
    result = run_cli("validate", workflow)
    assert result.code == 2, (result.out, result.err)
    assert result.out == ""
    [line] = result.err.splitlines()
    assert f"template {NOTICE!r} does not render" in line
    assert line.endswith(f"{tmp_path / 'templates' / NOTICE}:{_added_line(workflow)}: {reason}"), line


@pytest.mark.parametrize("what", sorted(BAD))
def test_deploy_refuses_with_one_line_and_deploys_nothing(engine: Any, cli: Any, tmp_path: Path, what: str) -> None:
    source, reason = BAD[what]
    workflow = _bundle(tmp_path, source)
    with engine.db.begin() as connection:
        before = connection.execute(select(func.count()).select_from(definitions)).scalar_one()
    result = cli("deploy", str(workflow), "--as", "inovator")
    assert result.code == 2, (result.out, result.err)
    assert result.out == ""
    [line] = result.err.splitlines()
    assert f"template {NOTICE!r} does not render" in line and line.endswith(reason), line
    with engine.db.begin() as connection:
        assert connection.execute(select(func.count()).select_from(definitions)).scalar_one() == before


@pytest.mark.parametrize("what", sorted(BAD))
def test_at_run_time_the_move_is_refused_with_one_line_and_nothing_written(
        engine: Any, cli: Any, tmp_path: Path, what: str) -> None:
    """Behind a condition no sample meets, the template deploys; the case that meets it cannot move."""
    source, reason = BAD[what]
    workflow = _bundle(tmp_path, source, condition="data.lokasi == 'Jalan Rusak'")
    engine.deploy(workflow, None)  # validation passes: no sample has that location

    fine, broken = submit_at(cli, "Jalan Ahmad Yani"), submit_at(cli, "Jalan Rusak")
    before = footprint(engine, broken)
    result = cli("advance", broken, "teruskan", "--as", "admin")
    assert result.code == 2, (result.out, result.err)
    assert result.out == ""
    [line] = result.err.splitlines()
    assert line == f"treckk: error: template {NOTICE!r} failed at {NOTICE}:{_added_line(workflow)}: {reason}"
    assert footprint(engine, broken) == before and before[0] == "diterima"  # no history row, no outbox row
    history = cli("history", broken, "--as", "admin", "--json")
    assert history.code == 0 and "teruskan" not in history.out
    assert cli("advance", fine, "teruskan", "--as", "admin").code == 0
    assert footprint(engine, fine)[0] == "ditelaah"
