"""The pure core stays pure: no SQLAlchemy, APScheduler or Jinja, directly or through engine modules.

Imports are read with ``ast`` (nothing is imported to check them) and followed through every
``engine`` module they reach, including the packages that hold them. Imports under
``if TYPE_CHECKING:`` do not run and are not followed; imports inside functions do run and are.
A subprocess then imports the core for real and looks at ``sys.modules``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import ROOT

FORBIDDEN = ("sqlalchemy", "apscheduler", "jinja2")
PURE = sorted(
    [f"engine.definition.{p.stem}" for p in (ROOT / "engine" / "definition").glob("*.py") if p.stem != "__init__"]
    + ["engine.definition", "engine.core.machine", "engine.core.deadlines", "engine.core.permissions",
       "engine.core.conversation"]
)


def module_file(name: str) -> Path | None:
    """The source of an ``engine`` module or package, else None."""
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node that can run, leaving out the bodies of ``if TYPE_CHECKING:``."""
    found: list[ast.AST] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        found.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return found


def imported_names(name: str, nodes: list[ast.AST]) -> set[str]:
    """Absolute names the import statements among ``nodes`` of module ``name`` import
    (``from a import b`` gives ``a`` and ``a.b``)."""
    path = module_file(name)
    assert path is not None, name
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def parsed(name: str) -> ast.AST:
    """The syntax tree of module ``name``."""
    path = module_file(name)
    assert path is not None, name
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


@cache
def imports_of(name: str) -> frozenset[str]:
    """Absolute names imported by module ``name`` when it runs (``if TYPE_CHECKING:`` left out)."""
    return frozenset(imported_names(name, _runtime_nodes(parsed(name))))


def reach(start: str) -> dict[str, list[str]]:
    """Every module imported when ``start`` is, with one import chain leading to it."""
    chains: dict[str, list[str]] = {}
    pending = [(start, [start])]
    while pending:
        name, chain = pending.pop()
        # Importing a.b.c runs a/__init__, a/b/__init__ and then a/b/c.
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            module = ".".join(parts[:i])
            if module in chains:
                continue
            chains[module] = chain if module == name else [*chain[:-1], module]
            if module.split(".")[0] == "engine" and module_file(module) is not None:
                pending.extend((imported, [*chains[module], imported]) for imported in imports_of(module))
    return chains


def forbidden_in(start: str) -> list[str]:
    return [" → ".join(chain) for module, chain in sorted(reach(start).items())
            if module.split(".")[0] in FORBIDDEN]


@pytest.mark.parametrize("module", PURE)
def test_the_pure_core_imports_no_database_scheduler_or_templates(module: str) -> None:
    assert module_file(module) is not None, f"{module} does not exist any more; update PURE"
    assert forbidden_in(module) == []


def test_the_check_sees_through_engine_modules() -> None:
    # The adapters do use them; if the check found nothing there it would prove nothing.
    assert any(chain.endswith("sqlalchemy") for chain in forbidden_in("engine.app.queries"))
    assert any(chain.split(" → ")[-1].startswith("jinja2") for chain in forbidden_in("engine.app.commands"))
    assert any(chain.endswith("apscheduler.triggers.cron") for chain in forbidden_in("engine.compile.workflow"))
    assert "engine.definition.model" in reach("engine.core.permissions")
    assert "engine" in reach("engine.core.machine") and "engine.errors" in reach("engine.core.machine")


def test_importing_the_core_loads_none_of_them() -> None:
    program = (
        "import sys\n"
        f"for name in {PURE!r}:\n"
        "    __import__(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
