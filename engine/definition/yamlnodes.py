"""Reading YAML as a tree of located nodes, collecting problems instead of stopping at the first.

PyYAML's composer gives every node a start mark (line, column). We never let the resolver turn
scalars into Python values: each scalar is read as the raw text the administrator wrote and then
interpreted by what the schema expects, so ``on``/``off``/``yes``/``no`` stay strings and a
quoted ``"true"`` is still accepted where a boolean is wanted.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import yaml

from engine.definition.where import Where as Where  # the place every node reports
from engine.errors import Problem

_BOOLEANS = {"true": True, "false": False}
_YAML11_BOOLEANS = {"yes", "no", "on", "off", "y", "n"}
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_MAX_DIGITS = 15
_SHOWN = 60
NAME = re.compile(r"[a-z][a-z0-9_]*")
"""What a machine name (state, field, trigger, role …) looks like."""


_FAST_LOADER = getattr(yaml, "CSafeLoader", None)
"""libyaml's composer (PyYAML wheels carry it), several times faster than the pure-Python one."""
_LIBYAML_LENIENT = ("\t", "?", "\ufeff")
"""Text with one of these goes to PyYAML only: libyaml accepts tabs as spacing and ``?`` inside
flow collections, which PyYAML refuses, and counts a stray BOM as a column."""


def compose_yaml(text: str) -> yaml.Node | None:
    """``text`` as a node tree with line and column marks; PyYAML's own errors when it is not YAML.

    libyaml composes when it is there and the text has none of the constructs where the two
    disagree (``_LIBYAML_LENIENT``); text it refuses is composed again by the pure-Python
    composer, so a mistake is always reported with PyYAML's wording and position. The two give the
    same tree (tags, values, marks), except that a plain scalar's style is "" instead of None.
    """
    if _FAST_LOADER is not None and not any(sign in text for sign in _LIBYAML_LENIENT):
        try:
            return yaml.compose(text, Loader=_FAST_LOADER)
        except (yaml.YAMLError, RecursionError, UnicodeError):
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def allowed_list(values: Iterable[str]) -> str:
    """Render the accepted values of a message in a stable, readable order."""
    names = sorted(values)
    return ", ".join(names) if names else "(none)"


def suggestion(value: str, options: Iterable[str]) -> str:
    """``; did you mean 'x'?`` when ``value`` looks like a misspelling of one option, else ``''``."""
    close = difflib.get_close_matches(value, sorted(options), n=1, cutoff=0.8)
    return f"; did you mean {close[0]!r}?" if close else ""


def shown(text: str) -> str:
    """A value quoted for a one-line message, shortened when long."""
    one_line = text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
    return repr(one_line)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    """A one-line explanation of a PyYAML syntax error, with a hint for the common ones."""
    problem = _one_line(exc.problem or "")
    context = _one_line(exc.context or "")
    if "'\\t'" in problem:
        return "YAML syntax error: a tab character cannot be used here; indent with spaces only"
    if problem == "mapping values are not allowed here":
        return ("YAML syntax error: ':' is not allowed here; check the indentation of this line, or put "
                "a value that contains ': ' in quotes")
    if context.startswith("expected a single document"):
        return "YAML syntax error: a second YAML document starts here; a definition file holds exactly one"
    if problem.startswith("found undefined alias"):
        name = problem.rpartition(" ")[2]
        return f"YAML syntax error: the alias *{name.strip(chr(39))} refers to no anchor &{name.strip(chr(39))} above it"
    if context.startswith(("while parsing a flow sequence", "while parsing a flow mapping")) and exc.context_mark:
        opened, closer = ("[", "]") if "sequence" in context else ("{", "}")
        return (f"YAML syntax error: the {opened} opened at line {exc.context_mark.line + 1} is not closed with "
                f"{closer} before this point ({problem})")
    if problem.startswith("expected <block end>"):
        start = f" that starts at line {exc.context_mark.line + 1}" if exc.context_mark else ""
        return (f"YAML syntax error: this line is not indented like the rest of the block{start} "
                f"({problem})")
    if not problem:
        return f"YAML syntax error: {context or 'the text is not valid YAML'}"
    if context and exc.context_mark is not None:
        return f"YAML syntax error: {problem} ({context} at line {exc.context_mark.line + 1})"
    return f"YAML syntax error: {problem}"


@dataclass(slots=True)
class Reader:
    """Walks composed YAML nodes of one file and records every problem it meets."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    _key_nodes: dict[int, yaml.Node] = field(default_factory=dict, repr=False)

    # -- locating and reporting --------------------------------------------------------------
    def where(self, node: yaml.Node) -> Where:
        """The place where ``node`` starts."""
        mark = node.start_mark
        return Where(self.path, mark.line + 1, mark.column + 1)

    def key_where(self, value: yaml.Node) -> Where:
        """The place of the key that introduced ``value`` in a mapping (the value's own if none)."""
        key = self._key_nodes.get(id(value))
        return self.where(key if key is not None else value)

    def problem(self, node: yaml.Node | Where, message: str) -> None:
        """Record one problem at ``node`` (or at an already computed place)."""
        where = node if isinstance(node, Where) else self.where(node)
        self.problems.append(Problem(where.path, where.line, where.column, message))

    # -- composing ---------------------------------------------------------------------------
    def compose(self, text: str) -> yaml.Node | None:
        """Parse ``text`` into a node tree; a syntax error becomes a located problem."""
        try:
            node = compose_yaml(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            self.problems.append(Problem(self.path, line, column, _syntax_message(exc)))
            return None
        except yaml.reader.ReaderError as exc:
            line, column = _position(text, exc.position)
            code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
            self.problems.append(Problem(
                self.path, line, column,
                f"YAML syntax error: the character U+{code:04X} is not allowed in YAML text; remove it"))
            return None
        except yaml.YAMLError as exc:
            self.problems.append(Problem(self.path, 1, 1, f"YAML error: {_one_line(str(exc))}"))
            return None
        except RecursionError:
            # PyYAML composes recursively; thousands of nested brackets exhaust the stack.
            self.problems.append(Problem(self.path, 1, 1, "YAML error: the text is nested too deeply to read"))
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
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, f"{what} has a key that is {self.describe(key_node)}; a key must be a "
                                       "plain name")
                continue
            key = str(key_node.value)
            if key in first_line:
                self.problem(key_node, f"duplicate key {shown(key)} in {what} (first at line "
                                       f"{first_line[key]}); each key may appear only once")
                continue
            first_line[key] = key_node.start_mark.line + 1
            if key == "<<" and not key_node.style:  # plain: style None (PyYAML) or "" (libyaml)
                self.problem(key_node, f"YAML merge keys ('<<') are not supported in {what}; write the keys out")
                continue
            if allowed_keys is not None and key not in allowed_keys:
                self.problem(
                    key_node,
                    f"unknown key {shown(key)} in {what}; allowed keys are {allowed_list(allowed_keys)}"
                    f"{suggestion(key, allowed_keys)}",
                )
                continue
            result[key] = value_node
            self._key_nodes[id(value_node)] = key_node
        missing = [key for key in required if key not in first_line]
        if len(missing) == 1:
            self.problem(node, f"{what} is missing required key {missing[0]!r}")
        elif missing:
            listed = ", ".join(repr(key) for key in missing[:-1]) + f" and {missing[-1]!r}"
            self.problem(node, f"{what} is missing required keys {listed}")
        return result

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node] | None:
        """Read a list; anything else is a problem."""
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, f"{what} must be a list, not {self.describe(node)}")
            return None
        return list(node.value)

    def string(self, node: yaml.Node, what: str, *, allow_empty: bool = False) -> str | None:
        """Read a text value; lists, mappings and (unless allowed) empty text are problems."""
        if not isinstance(node, yaml.ScalarNode):
            self.problem(node, f"{what} must be a text value, not {self.describe(node)}")
            return None
        if not allow_empty and str(node.value).strip() == "":
            self.problem(node, f"{what} must not be empty")
            return None
        return str(node.value)

    def name(self, node: yaml.Node, what: str) -> str | None:
        """A machine name: lower-case letters, digits and underscores, starting with a letter."""
        value = self.string(node, what)
        if value is not None and not NAME.fullmatch(value):
            self.problem(
                node,
                f"{what} must be a name of lower-case letters, digits and underscores, starting with a "
                f"letter, not {shown(value)}",
            )
            return None
        return value

    def integer(self, node: yaml.Node, what: str, *, minimum: int | None = None) -> int | None:
        """Read a whole number (written without quotes or with); anything else is a problem."""
        text = str(node.value).strip() if isinstance(node, yaml.ScalarNode) else ""
        if not _INTEGER.match(text):
            self.problem(node, f"{what} must be a whole number, not {self.describe(node)}")
            return None
        if len(text.lstrip("+-")) > _MAX_DIGITS:
            self.problem(node, f"{what} {shown(text)} is too large; use at most {_MAX_DIGITS} digits")
            return None
        value = int(text)
        if minimum is not None and value < minimum:
            self.problem(node, f"{what} must be at least {minimum}, not {value}")
            return None
        return value

    def boolean(self, node: yaml.Node, what: str) -> bool | None:
        """Read ``true`` or ``false``; ``yes``/``no``/``on``/``off`` are text, hence refused here."""
        if isinstance(node, yaml.ScalarNode) and str(node.value).lower() in _BOOLEANS:
            return _BOOLEANS[str(node.value).lower()]
        hint = ""
        if isinstance(node, yaml.ScalarNode) and str(node.value).lower() in _YAML11_BOOLEANS:
            hint = f" ({node.value} is read as text here)"
        self.problem(node, f"{what} must be true or false, not {self.describe(node)}{hint}")
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
        """How a node reads in a message: ``a mapping``, ``a list``, ``an empty value`` or its text."""
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        text = str(node.value)
        if text == "" and getattr(node, "style", None) is None:
            return "an empty value"
        return shown(text)


_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of character ``index`` of ``text``, counting breaks as YAML does."""
    before = text[: max(index, 0)]
    breaks = list(_LINE_BREAK.finditer(before))
    start = breaks[-1].end() if breaks else 0
    return len(breaks) + 1, len(before) - start + 1
