"""State diagrams: Mermaid text and Graphviz DOT that ``dot`` really accepts.

The Graphviz check needs the ``dot`` binary: without it the test is skipped locally, with the
reason, and fails in CI (``CI=true``), which installs graphviz.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import replace

import pytest

from engine.definition import diagram
from engine.compile.workflow import bundle_from_files, compile_bundle
from tests.conftest import ROOT
from tests.test_validate_cli import treckk

DEFINITION = compile_bundle(bundle_from_files(ROOT / "workflows" / "treckk.yaml", ROOT / "templates")).definition
IN_CI = os.environ.get("CI", "").lower() == "true"


def graphviz() -> str:
    found = shutil.which("dot")
    if found is None:
        if IN_CI:
            pytest.fail("CI must check the DOT output with Graphviz: install graphviz (the `dot` binary)")
        pytest.skip("Graphviz `dot` is not installed here; CI installs it and runs this test")
    return found


def test_mermaid_from_the_cli() -> None:
    result = treckk("diagram", "--format", "mermaid")
    assert result.code == 0, result.err
    assert result.out.startswith("stateDiagram-v2\n")
    assert treckk("diagram").out == result.out  # mermaid is the default
    lines = result.out.splitlines()
    assert "    [*] --> diterima: catat (admin_lalisa, integrasi)" in lines
    for transition in DEFINITION.transitions:
        for source in transition.sources:
            assert f"    {source} --> {transition.dest}: {transition.trigger} ({', '.join(transition.roles)})" in lines
    for name, state in DEFINITION.states.items():
        assert any(line.startswith('    state "') and line.endswith(f" as {name}") for line in lines)
        assert (f"    {name} --> [*]" in lines) == state.final


def test_mermaid_keeps_each_statement_on_one_line() -> None:
    odd = replace(DEFINITION, title="Alur\nuji", states={
        name: replace(state, label=f'Label "{name}"\nbaris dua') for name, state in DEFINITION.states.items()})
    lines = diagram.mermaid(odd).splitlines()
    assert lines[:2] == ["stateDiagram-v2", "    %% Alur uji (versi 1)"]
    states = [line for line in lines if line.startswith("    state ")]
    assert len(states) == len(DEFINITION.states)
    assert all(re.fullmatch(r'    state "[^"\n]*" as [a-z_]+', line) for line in states), states
    assert all(re.match(r"    (state |\[\*\] --> |[a-z_]+ --> )", line) for line in lines[2:]), lines


def test_dot_is_accepted_by_graphviz() -> None:
    dot = graphviz()
    result = treckk("diagram", "--format", "dot")
    assert result.code == 0, result.err
    assert result.out.startswith('digraph "treckk" {')
    rendered = subprocess.run([dot, "-Tsvg"], input=result.out, capture_output=True, text=True, timeout=60)
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.lstrip().startswith(("<?xml", "<svg"))
    svg_texts = re.findall(r"<text[^>]*>([^<]*)</text>", rendered.stdout)
    # A label's second line is its own line in the picture, never a literal "\n".
    assert "Aduan diterima" in svg_texts and "batas 1h" in svg_texts
    assert not any("\\n" in t for t in svg_texts), [t for t in svg_texts if "\\n" in t]
    for transition in DEFINITION.transitions:
        assert transition.trigger in svg_texts


def test_dot_quotes_awkward_labels() -> None:
    dot = graphviz()
    odd = replace(DEFINITION, title='Alur "uji" \\ miring', states={
        name: replace(state, label=f'Label "{name}" \\ ꦲ 🚧\nbaris dua')
        for name, state in DEFINITION.states.items()})
    rendered = subprocess.run([dot, "-Tsvg"], input=diagram.dot(odd), capture_output=True, text=True, timeout=60)
    assert rendered.returncode == 0, rendered.stderr
    assert "baris dua" in re.findall(r"<text[^>]*>([^<]*)</text>", rendered.stdout)


def test_a_missing_workflow_or_format_is_refused() -> None:
    assert treckk("diagram", "tidak_ada").code == 6
    assert treckk("diagram", "--format", "png").code == 2
