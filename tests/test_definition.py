"""The definition language: the shipped workflow validates, every broken one says exactly why.

Broken definitions live in ``tests/data/invalid/NAME.yaml``. The comment lines at the top of each
file state every problem it must produce, one per line::

    # expect: 12:5: unknown state 'ditelah' in the 'to' of transition 'teruskan'; ...

A case may bring its own roles file (``NAME.roles.yaml``, whose own ``# expect:`` lines name
the problems found in it) and extra templates (``NAME.templates/*.j2``). Otherwise roles and
templates come from ``tests/data/valid`` — stable copies, so that editing the shipped templates
under ``templates/`` never changes what these tests expect.
"""

from __future__ import annotations

import ast
import copy
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.compile.workflow import Bundle, _compile_cached, bundle_from_files, compile_bundle, read_templates
from engine.definition.parse import NoExternalChecks, parse_roles, parse_workflow
from engine.definition.yamlnodes import Reader
from engine.errors import DefinitionError, Problem

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "workflows" / "treckk.yaml"
VALID = ROOT / "tests" / "data" / "valid"
MINIMAL = VALID / "workflows" / "minimal.yaml"
INVALID = ROOT / "tests" / "data" / "invalid"
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$")
ROLES_NAME = re.compile(r"^roles:[ \t]*([^\s#]+)", re.MULTILINE)


# -- harness -------------------------------------------------------------------------------------


def roles_file_for(workflow: Path) -> Path | None:
    """The case's own ``NAME.roles.yaml``, else ``tests/data/valid/roles/<roles:>.yaml`` if it exists."""
    own = workflow.with_name(workflow.name.removesuffix(".yaml") + ".roles.yaml")
    if own.is_file():
        return own
    match = ROLES_NAME.search(workflow.read_text(encoding="utf-8"))
    shared = VALID / "roles" / f"{match.group(1)}.yaml" if match else None
    return shared if shared is not None and shared.is_file() else None


def case_bundle(workflow: Path) -> Bundle:
    """A bundle as ``bundle_from_files`` would build it, from the test data folders."""
    roles = roles_file_for(workflow)
    templates = read_templates(VALID / "templates")
    templates.update(read_templates(workflow.with_name(workflow.name.removesuffix(".yaml") + ".templates")))
    return Bundle(
        str(workflow),
        workflow.read_text(encoding="utf-8"),
        str(roles or ""),
        roles.read_text(encoding="utf-8") if roles else "",
        templates,
    )


def expected_problems(path: Path) -> list[tuple[str, int, int, str]]:
    """The ``# expect: LINE:COL: message`` lines of the comment block that opens ``path``."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        match = EXPECT.match(line)
        if match:
            found.append((str(path), int(match.group(1)), int(match.group(2)), match.group(3)))
    return found


def reported(workflow: Path) -> list[tuple[str, int, int, str]]:
    """Every problem ``compile_bundle`` reports for the case (it must report some)."""
    with pytest.raises(DefinitionError) as info:
        compile_bundle(case_bundle(workflow))
    return [(p.path, p.line, p.column, p.message) for p in info.value.problems]


def invalid_cases() -> list[Path]:
    return sorted(p for p in INVALID.glob("*.yaml") if not p.name.endswith(".roles.yaml"))


def compile_text(text: str, base: Bundle) -> None:
    """Compile ``text`` as the workflow of ``base``, bypassing the cache (fuzzing makes many)."""
    _compile_cached.__wrapped__(Bundle(base.workflow_path, text, base.roles_path, base.roles_text,
                                       base.templates).to_json())


def compile_variant(text: str, base: Path = MINIMAL) -> object:
    """Compile ``text`` with the roles and templates that ``base`` would use."""
    bundle = case_bundle(base)
    return compile_bundle(Bundle(bundle.workflow_path, text, bundle.roles_path, bundle.roles_text,
                                 bundle.templates))


def messages_of(text: str, base: Path = MINIMAL) -> list[str]:
    """``LINE:COL: message`` of every problem ``text`` has."""
    with pytest.raises(DefinitionError) as info:
        compile_variant(text, base)
    return [f"{p.line}:{p.column}: {p.message}" for p in info.value.problems]


# -- the shipped definition ------------------------------------------------------------------------


def test_shipped_workflow_validates() -> None:
    compiled = compile_bundle(bundle_from_files(SHIPPED))
    definition = compiled.definition
    assert len(definition.states) == 9
    assert len(definition.transitions) == 11
    assert definition.initial == "diterima"
    assert {name for name, state in definition.states.items() if state.final} == {"selesai", "ditolak", "dilimpahkan"}
    assert definition.timezone == "Asia/Makassar"
    assert definition.roles.roles["tim_treckk"].scoped


def test_shipped_workflow_points_at_the_names_it_defines() -> None:
    definition = compile_bundle(bundle_from_files(SHIPPED)).definition
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    for name, state in definition.states.items():
        assert lines[state.where.line - 1].strip() == f"{name}:", state.where
    for name, field in definition.fields.items():
        assert lines[field.where.line - 1].lstrip().startswith(f"{name}:"), field.where


def test_minimal_workflow_validates() -> None:
    definition = compile_bundle(bundle_from_files(MINIMAL)).definition
    assert list(definition.states) == ["diterima", "ditangani", "selesai", "ditolak"]
    assert definition.transitions[0].guard == "laporan_benar is not false"
    assert definition.transitions[1].sources == ("diterima", "ditangani")
    assert definition.transitions[2].roles == ("tim_treckk",)
    escalation = definition.states["diterima"].deadline.escalation  # type: ignore[union-attr]
    assert [str(step.after) for step in escalation] == ["0m", "2h"]
    assert escalation[1].notify == ("kabid_trantibum", "@kepala.satpol")


def test_shipped_roles_validate() -> None:
    path = ROOT / "roles" / "treckk.yaml"
    book, problems = parse_roles(path.read_text(encoding="utf-8"), str(path), "treckk")
    assert problems == []
    assert book is not None
    assert set(book.roles) == {"penanggung_jawab", "inovator", "admin_lalisa", "kabid_trantibum", "tim_treckk",
                               "integrasi"}


# -- broken definitions ------------------------------------------------------------------------------


def test_there_are_enough_broken_definitions() -> None:
    cases = invalid_cases()
    assert len(cases) >= 30
    for case in cases:
        assert expected_problems(case), f"{case.name} states no '# expect:' line"


@pytest.mark.parametrize("workflow", invalid_cases(), ids=lambda p: p.stem)
def test_broken_definition_reports_exactly_its_problems(workflow: Path) -> None:
    expected = expected_problems(workflow)
    roles = roles_file_for(workflow)
    if roles is not None and roles.name.endswith(".roles.yaml"):
        expected += expected_problems(roles)
    assert sorted(reported(workflow)) == sorted(expected)


@pytest.mark.parametrize("workflow", invalid_cases(), ids=lambda p: p.stem)
def test_every_message_is_one_located_line(workflow: Path) -> None:
    for path, line, column, message in reported(workflow):
        assert path in (str(workflow), str(roles_file_for(workflow)))
        assert line >= 1 and column >= 1
        assert "\n" not in message and message == message.strip() and len(message) < 400


def test_several_mistakes_are_reported_in_one_run() -> None:
    problems = reported(INVALID / "many_mistakes.yaml")
    assert len(problems) >= 5
    assert len({line for _, line, _, _ in problems}) == len(problems)
    kinds = ["version", "bad duration", "true or false", "unknown role", "unknown field", "unknown state",
             "bad cron", "no such template"]
    assert all(any(kind in message for *_, message in problems) for kind in kinds)


def test_problems_are_listed_in_file_order() -> None:
    with pytest.raises(DefinitionError) as info:
        compile_bundle(case_bundle(INVALID / "many_mistakes.yaml"))
    lines = str(info.value).splitlines()
    assert len(lines) == len(info.value.problems)
    assert [int(line.split(":")[1]) for line in lines] == sorted(p.line for p in info.value.problems)
    assert all(line.startswith(f"{INVALID / 'many_mistakes.yaml'}:") for line in lines)
    assert info.value.exit_code == 2


# -- YAML 1.1 words stay text ------------------------------------------------------------------------


def test_on_off_yes_no_stay_text() -> None:
    text = MINIMAL.read_text(encoding="utf-8")
    text = text.replace("values: {juai: Juai, halong: Halong}", "values: {on: yes, off: no, y: n}")
    text = text.replace("  ditolak: {label: Ditolak, final: true}", '  off: {label: no, final: "true"}')
    text = text.replace("to: ditolak", "to: off")
    definition = compile_variant(text).definition  # type: ignore[attr-defined]
    assert dict(definition.fields["kecamatan"].choices) == {"on": "yes", "off": "no", "y": "n"}
    assert definition.states["off"].label == "no"
    assert definition.states["off"].final is True
    assert definition.transitions[1].dest == "off"


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "1", "~"])
def test_only_true_and_false_are_booleans(word: str) -> None:
    text = MINIMAL.read_text(encoding="utf-8").replace("{label: Selesai, final: true}",
                                                       f"{{label: Selesai, final: {word}}}")
    (message,) = messages_of(text)
    assert message.startswith(f"50:36: final of state 'selesai' must be true or false, not '{word}'")


def test_true_in_any_case_is_a_boolean() -> None:
    text = MINIMAL.read_text(encoding="utf-8").replace("{label: Selesai, final: true}", "{label: Selesai, final: True}")
    assert compile_variant(text).definition.states["selesai"].final is True  # type: ignore[attr-defined]


# -- odd input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "1:1: the file is empty; expected a mapping"),
        ("   \n# only a comment\n", "1:1: the file is empty; expected a mapping"),
        ("- a\n- b\n", "1:1: the workflow file must be a mapping, not a list"),
        ("just some words\n", "1:1: the workflow file must be a mapping, not 'just some words'"),
        ("workflow: a\x00b\n", "1:12: YAML syntax error: the character U+0000 is not allowed in YAML text; remove it"),
        ("a: " + "[" * 1000, "1:1: YAML error: the text is nested too deeply to read"),
        ("? [a, b]\n: c\n", "1:3: the workflow file has a key that is a list; a key must be a plain name"),
    ],
)
def test_odd_files_are_reported_not_crashed_on(text: str, message: str) -> None:
    assert message in messages_of(text)


def test_huge_numbers_are_refused_plainly() -> None:
    text = MINIMAL.read_text(encoding="utf-8").replace("version: 1", "version: " + "9" * 5000)
    (message,) = messages_of(text)
    assert message.startswith("5:10: version '999") and message.endswith("is too large; use at most 15 digits")


def test_missing_keys_of_one_mapping_make_one_line() -> None:
    text = MINIMAL.read_text(encoding="utf-8").replace("schedules:\n", "  - {}\nschedules:\n")
    assert messages_of(text) == ["87:5: transition #4 is missing required keys 'trigger', 'label', 'from', 'to' "
                                 "and 'roles'"]


def test_merge_keys_are_refused() -> None:
    text = MINIMAL.read_text(encoding="utf-8").replace(
        "  ditangani:\n    label: Sedang ditangani\n", "  ditangani:\n    <<: {label: Sedang ditangani}\n")
    assert any("YAML merge keys ('<<') are not supported in state 'ditangani'" in m for m in messages_of(text))


def test_structure_only_validation_needs_no_engines() -> None:
    bundle = case_bundle(MINIMAL)
    book, _ = parse_roles(bundle.roles_text, bundle.roles_path, "treckk")
    definition, problems = parse_workflow(bundle.workflow_text, bundle.workflow_path, lambda name: book,
                                          NoExternalChecks())
    assert problems == [] and definition is not None
    assert definition.calendars["jam_kerja"].holiday_categories == ("public", "government")


def test_reader_reports_where_a_key_was_written() -> None:
    reader = Reader("x.yaml")
    root = reader.compose("a:\n  b: 1\n")
    assert root is not None
    keys = reader.mapping(root, "the file")
    assert keys is not None
    assert str(reader.key_where(keys["a"])) == "x.yaml:1:1"
    assert str(reader.where(keys["a"])) == "x.yaml:2:3"


def test_definition_package_stays_pure() -> None:
    forbidden = {"jinja2", "apscheduler", "sqlalchemy"}
    for path in (ROOT / "engine" / "definition").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not {n.split(".")[0] for n in names} & forbidden, f"{path.name} imports {names}"


def test_docs_name_every_top_level_key_and_field_type() -> None:
    from engine.definition.model import FIELD_TYPES
    from engine.definition.parse import _TOP_KEYS

    docs = (ROOT / "docs" / "definition.md").read_text(encoding="utf-8")
    for key in (*_TOP_KEYS, *FIELD_TYPES):
        assert f"`{key}`" in docs, key


# -- fuzzing: anything goes in, only DefinitionError comes out -------------------------------------


SHIPPED_BUNDLE = bundle_from_files(SHIPPED)
SHIPPED_LINES = SHIPPED_BUNDLE.workflow_text.splitlines(keepends=True)
YAML_BITS = ["", " ", "  ", "\t", ":", ": ", "- ", "-", "[", "]", "{", "}", ",", "&a ", "*a", "!!str ", "!x ",
             "'", '"', "#", "?", "|", ">", "%", "@", "`", "\\", "---", "...", "<<: ", "~", "null", "yes", "no",
             "on", "off", "true", "0", "-1", "1.5", "99999999999999999999", "4x", "0 77 * * *", "{{", "}}",
             ") or (", "ditelaah", "pelapor", "@user", "final: true", "\x85", "\u2028", "\ufeff", "\r", "é"]
line_edit = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.just("")),
    st.tuples(st.just("duplicate"), st.integers(0, 10_000), st.just("")),
    st.tuples(st.just("indent"), st.integers(0, 10_000), st.integers(0, 9).map(lambda n: " " * n)),
    st.tuples(st.just("replace_token"), st.integers(0, 10_000), st.one_of(st.sampled_from(YAML_BITS), st.text(max_size=12))),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.one_of(st.sampled_from(YAML_BITS), st.text(max_size=6))),
)


def apply_edits(lines: list[str], edits: list[tuple[str, int, str]]) -> str:
    lines = list(lines)
    for kind, position, payload in edits:
        if not lines:
            break
        index = position % len(lines)
        line = lines[index]
        if kind == "delete":
            del lines[index]
        elif kind == "duplicate":
            lines.insert(index, line)
        elif kind == "indent":
            lines[index] = payload + line.lstrip(" ")
        elif kind == "replace_token":
            tokens = line.split(" ")
            tokens[position % len(tokens)] = payload
            lines[index] = " ".join(tokens)
        else:
            cut = position % (len(line) + 1)
            lines[index] = line[:cut] + payload + line[cut:]
    return "".join(lines)


def only_definition_errors(text: str) -> None:
    try:
        compile_text(text, SHIPPED_BUNDLE)
    except DefinitionError as exc:
        assert exc.problems, "a DefinitionError must list at least one problem"
        assert all("\n" not in p.message for p in exc.problems)


# A compile of the shipped workflow takes ~0.1 s, so the default budget is small; raise it with
# TRECKK_FUZZ_EXAMPLES=5000 for a long hunt (derandomized, so every run tries the same inputs).
FUZZ_EXAMPLES = int(os.environ.get("TRECKK_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(st.lists(line_edit, min_size=1, max_size=4))
def test_mutated_shipped_workflow_only_raises_definition_error(edits: list[tuple[str, int, str]]) -> None:
    only_definition_errors(apply_edits(SHIPPED_LINES, edits))


@settings(FUZZ, max_examples=FUZZ_EXAMPLES * 4)
@given(st.one_of(st.text(max_size=200),
                 st.lists(st.sampled_from([*YAML_BITS, "\n", "\n  ", "a", "workflow", "states"]), max_size=60)
                 .map("".join)))
def test_random_text_only_raises_definition_error(text: str) -> None:
    only_definition_errors(text)


@FUZZ
@given(st.sampled_from(["guard: laporan_benar is not false", "cron: \"0 8 1 * *\"", "within: 3d",
                        "hours: \"07:30-16:00\"", "timezone: Asia/Makassar", "version: 1", "country: ID",
                        "template: pengingat.txt.j2", "to: ditelaah", "max_length: 300"]),
       st.one_of(st.text(max_size=30), st.sampled_from(YAML_BITS)))
def test_random_values_only_raise_definition_error(line: str, value: str) -> None:
    key = line.split(":")[0]
    assume(SHIPPED_BUNDLE.workflow_text.count(line) >= 1)
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    only_definition_errors(SHIPPED_BUNDLE.workflow_text.replace(line, f"{key}: {quoted}", 1))


# Structural fuzzing: the shipped workflow as data, a value somewhere replaced, deleted or wrapped
# in a list, written back as YAML. Text mutations mostly stop at the YAML syntax check; these
# reach every key's own reading.
SHIPPED_TREE = yaml.safe_load(SHIPPED_BUNDLE.workflow_text)
VOCABULARY = ["label", "type", "final", "deadline", "within", "calendar", "escalation", "after", "notify",
              "template", "trigger", "from", "to", "roles", "input", "requires", "guard", "notices", "values",
              "max_length", "days", "hours", "holidays", "country", "cron", "diterima", "selesai",
              "kabid_trantibum", "pelapor", "@rina", "1h", "0m", "required", "optional", "jam_kerja", "ID",
              "pengingat.txt.j2", "kecamatan", "choice", "office_hours", "laporan_benar is not false",
              "0 7 * * mon-fri", "07:30-16:00", "2026-12-24", "<<", ""]
leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**20), st.floats(allow_nan=False),
                 st.text(max_size=10), st.sampled_from(VOCABULARY))
any_value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.sampled_from(VOCABULARY) | st.text(max_size=5), inner, max_size=3),
                         max_leaves=8)


def tree_paths(node: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [prefix]
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        found += tree_paths(child, (*prefix, key))
    return found


def edit_tree(tree: object, position: int, kind: str, value: object) -> object:
    paths = tree_paths(tree)[1:]
    path = paths[position % len(paths)]
    parent: Any = tree
    for key in path[:-1]:
        parent = parent[key]
    if kind == "set":
        parent[path[-1]] = value
    elif kind == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = [parent[path[-1]]]
    return tree


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(["set", "delete", "wrap"]), any_value),
                min_size=1, max_size=3))
def test_structurally_edited_workflow_only_raises_definition_error(edits: list[tuple[int, str, object]]) -> None:
    tree = copy.deepcopy(SHIPPED_TREE)
    for position, kind, value in edits:
        tree = edit_tree(tree, position, kind, value)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # only writes the input; the reader stays pure Python
    only_definition_errors(yaml.dump(tree, Dumper=dumper, allow_unicode=True, sort_keys=False))


def test_libyaml_and_pyyaml_compose_every_shipped_and_test_file_alike() -> None:
    """The fast composer is used when present; the tree the reader walks must not depend on it."""
    import yaml

    from engine.definition.yamlnodes import compose_yaml

    def shape(node: yaml.Node | None) -> Any:
        if node is None:  # an empty document
            return None
        marks = (node.start_mark.line, node.start_mark.column, node.end_mark.line, node.end_mark.column)
        head = (type(node).__name__, node.tag, getattr(node, "style", None) or None,
                getattr(node, "flow_style", None), marks)
        if isinstance(node, yaml.ScalarNode):
            return (*head, node.value)
        if isinstance(node, yaml.SequenceNode):
            return (*head, [shape(item) for item in node.value])
        return (*head, [(shape(key), shape(value)) for key, value in node.value])

    files = [*sorted((ROOT / "workflows").rglob("*.yaml")), *sorted((ROOT / "roles").glob("*.yaml")),
             *sorted((ROOT / "tests" / "data").rglob("*.yaml"))]
    composed = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            reference = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            with pytest.raises(yaml.YAMLError) as raised:  # refused: with PyYAML's own message
                compose_yaml(text)
            assert str(raised.value) == str(exc)
            continue
        assert shape(compose_yaml(text)) == shape(reference), path
        composed += 1
    assert composed >= 30 and getattr(yaml, "CSafeLoader", None) is not None


@pytest.mark.parametrize("text", ["a:\tb\n", "a: b\t\n", "a: [1,\t2]\n", "pilihan: [Sudah?, Belum]\n",
                                  "roles: {a: [x?]}\n", "a: 1\nb: x\ufeffy\n"])
def test_text_libyaml_would_read_differently_is_read_by_pyyaml(text: str) -> None:
    """libyaml accepts tabs as spacing and '?' in flow collections; PyYAML, the reference, does not."""
    import yaml

    from engine.definition.yamlnodes import compose_yaml

    try:
        expected: Any = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        with pytest.raises(yaml.YAMLError, match=re.escape(str(exc).splitlines()[0])):
            compose_yaml(text)
        return
    node = compose_yaml(text)
    assert node is not None and expected is not None
    assert [(k.value, v.end_mark.column) for k, v in node.value] == \
        [(k.value, v.end_mark.column) for k, v in expected.value]
