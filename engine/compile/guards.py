"""Guard conditions: small expressions over case data, evaluated in Jinja's immutable sandbox.

A guard is never passed to ``eval``. Its names are the workflow's fields; a field that the case
does not have yet is ``none``. Checking a guard reports syntax errors and unknown names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.errors import InvalidInput

Guard = Callable[[Mapping[str, object]], bool]

_environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined)


def guard_problem(source: str, names: frozenset[str]) -> str | None:
    """Why ``source`` is not a usable guard over ``names``, or None when it is."""
    try:
        tree = _environment.parse("{{ (" + source + ") }}")
        # compile_expression is what compile_guard runs: the wrapped parse alone accepts "a, b"
        # and "a) or (b", which then fail to compile after validation passed.
        _environment.compile_expression(source)
        declared = meta.find_undeclared_variables(tree)  # raises on an unknown filter or test
    except TemplateSyntaxError as exc:  # TemplateAssertionError is a subclass
        return f"it does not parse ({exc.message})"
    unknown = sorted(declared - names)
    if unknown:
        return f"unknown name {unknown[0]!r}; a guard may use the fields {', '.join(sorted(names))}"
    return None


@lru_cache(maxsize=512)
def compile_guard(source: str, names: frozenset[str]) -> Guard:
    """Compile once; the returned callable takes the case data and returns a bool."""
    expression = _environment.compile_expression(source, undefined_to_none=False)

    def evaluate(data: Mapping[str, object]) -> bool:
        values = {name: data.get(name) for name in names}
        try:
            return bool(expression(**values))
        except (SecurityError, UndefinedError, TypeError, ValueError) as exc:
            raise InvalidInput(f"guard {source!r} could not be evaluated: {exc}") from exc

    return evaluate
