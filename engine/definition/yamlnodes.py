"""Reading YAML as a tree of located nodes, collecting problems instead of stopping at the first.

PyYAML's composer gives every node a start mark (line, column). We never let the resolver turn
scalars into Python values: each scalar is read as the raw text the administrator wrote and then
interpreted by what the schema expects, so ``on``/``off``/``yes``/``no`` stay strings and a
quoted ``"true"`` is still accepted where a boolean is wanted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import yaml

from engine.errors import Problem

_BOOLEANS = {"true": True, "false": False}
_INTEGER = re.compile(r"^[+-]?[0-9]+$")


@dataclass(frozen=True, slots=True)
class Where:
    """A place in a definition file (1-based line and column)."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


def _quote(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def allowed_list(values: Iterable[str]) -> str:
    """Render the accepted values of a message in a stable, readable order."""
    names = sorted(values)
    return ", ".join(names) if names else "(none)"


@dataclass(slots=True)
class Reader:
    """Walks composed YAML nodes of one file and records every problem it meets."""

    path: str
    problems: list[Problem] = field(default_factory=list)

    # -- locating and reporting --------------------------------------------------------------
    def where(self, node: yaml.Node) -> Where:
        mark = node.start_mark
        return Where(self.path, mark.line + 1, mark.column + 1)

    def problem(self, node: yaml.Node | Where, message: str) -> None:
        where = node if isinstance(node, Where) else self.where(node)
        self.problems.append(Problem(where.path, where.line, where.column, message))

    # -- composing ---------------------------------------------------------------------------
    def compose(self, text: str) -> yaml.Node | None:
        """Parse ``text`` into a node tree; a syntax error becomes a located problem."""
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            reason = exc.problem or exc.context or "invalid YAML"
            self.problems.append(Problem(self.path, line, column, f"YAML syntax error: {reason}"))
            return None
        except yaml.YAMLError as exc:
            self.problems.append(Problem(self.path, 1, 1, f"YAML error: {exc}"))
            return None
        if node is None:
            self.problems.append(Problem(self.path, 1, 1, "the file is empty; expected a mapping"))
        return node

    # -- shapes ------------------------------------------------------------------------------
    def mapping(
        self,
        node: yaml.Node,
        what: str,
        *,
        allowed: Iterable[str] | None = None,
        required: Iterable[str] = (),
    ) -> dict[str, yaml.Node] | None:
        """Read a mapping with string keys; report duplicates, unknown and missing keys."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping, not {self.describe(node)}")
            return None
        allowed_keys = set(allowed) if allowed is not None else None
        result: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, f"{what} has a key that is not a plain name")
                continue
            key = key_node.value
            if key in result:
                first = self.where(self._key_node(node, key))
                self.problem(key_node, f"duplicate key {key!r} in {what} (first at line {first.line})")
                continue
            if allowed_keys is not None and key not in allowed_keys:
                self.problem(
                    key_node,
                    f"unknown key {key!r} in {what}; allowed keys are {allowed_list(allowed_keys)}",
                )
                continue
            result[key] = value_node
        for key in required:
            if key not in result and not self._has_key(node, key):
                self.problem(node, f"{what} is missing required key {key!r}")
        return result

    @staticmethod
    def _key_node(node: yaml.MappingNode, key: str) -> yaml.Node:
        return next(k for k, _ in node.value if isinstance(k, yaml.ScalarNode) and k.value == key)

    @staticmethod
    def _has_key(node: yaml.MappingNode, key: str) -> bool:
        return any(isinstance(k, yaml.ScalarNode) and k.value == key for k, _ in node.value)

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, f"{what} must be a list, not {self.describe(node)}")
            return None
        return list(node.value)

    def string(self, node: yaml.Node, what: str, *, allow_empty: bool = False) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            self.problem(node, f"{what} must be a text value, not {self.describe(node)}")
            return None
        if not allow_empty and node.value.strip() == "":
            self.problem(node, f"{what} must not be empty")
            return None
        return str(node.value)

    def name(self, node: yaml.Node, what: str) -> str | None:
        """A machine name: lower-case letters, digits and underscores, starting with a letter."""
        value = self.string(node, what)
        if value is not None and not re.fullmatch(r"[a-z][a-z0-9_]*", value):
            self.problem(
                node,
                f"{what} {value!r} is not a valid name; use lower-case letters, digits and "
                "underscores, starting with a letter",
            )
            return None
        return value

    def integer(self, node: yaml.Node, what: str, *, minimum: int | None = None) -> int | None:
        if not isinstance(node, yaml.ScalarNode) or not _INTEGER.match(node.value.strip()):
            shown = node.value if isinstance(node, yaml.ScalarNode) else self.describe(node)
            self.problem(node, f"{what} must be a whole number, not {_quote(shown)}")
            return None
        value = int(node.value)
        if minimum is not None and value < minimum:
            self.problem(node, f"{what} must be at least {minimum}, not {value}")
            return None
        return value

    def boolean(self, node: yaml.Node, what: str) -> bool | None:
        if isinstance(node, yaml.ScalarNode) and node.value.lower() in _BOOLEANS:
            return _BOOLEANS[node.value.lower()]
        shown = node.value if isinstance(node, yaml.ScalarNode) else self.describe(node)
        self.problem(node, f"{what} must be true or false, not {_quote(shown)}")
        return None

    def names(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node]]:
        """One name or a list of names, each with its node for later reference checks."""
        items = [node] if isinstance(node, yaml.ScalarNode) else self.sequence(node, what) or []
        found: list[tuple[str, yaml.Node]] = []
        for item in items:
            value = self.string(item, f"each entry of {what}")
            if value is not None:
                found.append((value, item))
        return found

    @staticmethod
    def describe(node: yaml.Node) -> str:
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        return f"{node.value!r}"

