"""The layers of ``engine/`` (docs/architecture.md): imports point down only, and no module reaches itself.

Every import counts here — at the top, inside functions and under ``if TYPE_CHECKING:`` (a type
that points up is a dependency that points up). Imports are read with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Sequence
from functools import cache

from tests.conftest import ROOT
from tests.test_purity import imported_names, module_file, parsed

ENGINE = ROOT / "engine"

# Lower numbers are lower layers. A module may import its own layer's modules and any lower layer's.
LAYERS: dict[str, int] = {
    "engine.errors": 0,
    "engine.definition": 1,
    "engine.core": 2,
    "engine.compile": 3, "engine.store": 3, "engine.channels": 3,
    "engine.notices": 4,
    "engine.app": 5,
    "engine.adapters": 6,
}


def all_modules() -> list[str]:
    found = []
    for path in sorted(ENGINE.rglob("*.py")):
        if "alembic" in path.parts:
            continue  # Alembic loads its scripts itself; they are not imported by engine modules
        parts = path.relative_to(ROOT).with_suffix("").parts
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


@cache
def imports_of(name: str) -> frozenset[str]:
    """The ``engine`` modules that ``name`` imports anywhere in its source (TYPE_CHECKING and functions too)."""
    names = imported_names(name, list(ast.walk(parsed(name))))
    return frozenset(n for n in names if n.split(".")[0] == "engine" and module_file(n) is not None and n != name)


def layer_of(name: str) -> int | None:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "."):
            return LAYERS[prefix]
    return None


def cycles(modules: Sequence[str] | None = None,
           edges: Callable[[str], Iterable[str]] = imports_of) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges(node):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in all_modules() if modules is None else modules:
        if module not in index:
            visit(module)
    return groups


def test_no_import_cycle_among_engine_modules() -> None:
    assert cycles() == []


def test_every_engine_module_has_a_layer() -> None:
    assert [m for m in all_modules() if m != "engine" and layer_of(m) is None] == []


def test_imports_point_down_only() -> None:
    upward = []
    for module in all_modules():
        mine = layer_of(module)
        for target in sorted(imports_of(module)):
            theirs = layer_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{module} → {target}")
    assert upward == []


def test_the_checks_see_a_cycle_and_an_upward_import() -> None:
    # The checks must be able to fail: a cycle in a made-up graph is found (a self-contained pair
    # and a three-module ring, not the acyclic tail), and the real graph holds the edges judged.
    graph = {"a": ["b"], "b": ["a", "c"], "c": ["d"], "d": ["e"], "e": ["c"], "f": ["a"]}
    assert sorted(cycles(list(graph), lambda node: graph[node])) == [["a", "b"], ["c", "d", "e"]]
    assert "engine.definition.model" in imports_of("engine.core.fields")
    assert layer_of("engine.adapters.cli.context") == 6 and layer_of("engine.core.fields") == 2
    # Imports under TYPE_CHECKING count: the CLI context names the application's types only there.
    assert "engine.app.commands" in imports_of("engine.adapters.cli.context")


def test_adapters_reach_cases_only_through_the_application() -> None:
    # The one door: adapters call the commands and queries of engine/app. Of the store they may use
    # only the schema tooling (`treckk init`, `treckk db upgrade`) and the Database type the settings open.
    allowed = {"engine.store", "engine.store.migrations", "engine.store.database"}
    reaching = sorted(f"{module} → {target}" for module in all_modules() if module.startswith("engine.adapters")
                      for target in imports_of(module) if target.startswith("engine.store") and target not in allowed)
    assert reaching == []
