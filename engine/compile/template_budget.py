"""The time and output budget of one template render, kept inside the sandbox.

A deployed template is trusted not to escape the sandbox, but not to be cheap: nested
``range(100000)`` loops, ``'x' * 10**9`` or a loop writing megabytes would hang ``treckk deploy``
(which renders every template against sample contexts) and every move that renders the notice. So
each render (a template with the partials it includes) gets a budget:

- at most ``MAX_OUTPUT`` characters of output, checked between the chunks Jinja generates (every
  64 chunks);
- at most ``MAX_SECONDS`` of wall-clock time, checked every 1,024 loop iterations, at every call
  and intercepted operator, and every 64 output chunks;
- at most ``MAX_ITERATIONS`` loop iterations in all (this is what stops nested loops in a fraction
  of the deadline, the same way on every machine);
- no single value built by ``*``, ``**``, ``%``, ``~``, a call or a filter larger than
  ``MAX_OUTPUT``, refused *before* it is built when its size is known from the operands (``'x' *
  10**9``, ``10 ** 10**10``, ``'%*d' % (10**9, 1)``, ``'x'.ljust(10**9)``, ``|center(10**9)``).

Going over raises ``BudgetExceeded``, which ``TemplateSet.render`` reports as a ``TemplateFailed``
like any other fault. The limits are far above what a notice needs (the longest shipped notice, the
monthly recap with 40 kecamatan, is under 8 KiB); they are documented in ``docs/templates.md``.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

MAX_OUTPUT = 256 * 1024
"""Characters of output (and of any one value built) per render: 256 KiB."""
MAX_SECONDS = 2.0
"""Wall-clock seconds per render."""
MAX_ITERATIONS = 100_000
"""Loop iterations per render, all loops and partials together."""

from jinja2.utils import _PassArg

_PASS_ARGS = tuple(_PassArg)
_WIDE_FORMAT = re.compile(r"\d{7,}")
"""A width or precision of seven digits or more in a format string (``{:>1000000}``, ``%1000000d``)."""


class BudgetExceeded(Exception):
    """A render went over its budget; the message says which limit."""


class Budget:
    """What one render has used so far."""

    __slots__ = ("deadline", "iterations", "clock")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.deadline = clock() + MAX_SECONDS
        self.iterations = 0

    def check_time(self) -> None:
        if self.clock() > self.deadline:
            raise BudgetExceeded(f"render budget exceeded: took more than {MAX_SECONDS:g} s")


_current: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


def start(clock: Callable[[], float] = time.monotonic) -> object:
    """Start a budget for the render about to run; returns the token ``finish`` takes."""
    return _current.set(Budget(clock))


def finish(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def check_time() -> None:
    budget = _current.get()
    if budget is not None:
        budget.check_time()


def looped(iterable: Iterable[Any]) -> Iterator[Any]:
    """``iterable``, counting each item against the budget (every ``{% for %}`` goes through here)."""
    budget = _current.get()
    for item in iterable:
        if budget is not None:
            budget.iterations += 1
            if budget.iterations > MAX_ITERATIONS:
                raise BudgetExceeded(f"render budget exceeded: more than {MAX_ITERATIONS} loop iterations")
            if budget.iterations % 1024 == 0:
                budget.check_time()
        yield item


def output(chunks: Iterator[str]) -> str:
    """The chunks of a render joined, stopping once they pass ``MAX_OUTPUT`` or the deadline.

    The error is thrown into the render where it stands, so it names the template line that wrote
    the chunk over the limit, like any other fault.
    """
    parts: list[str] = []
    size = 0
    while True:
        # Joined 64 chunks at a time: a Python step per chunk would cost more than the render.
        batch = "".join(itertools.islice(chunks, 64))
        if not batch:
            break
        size += len(batch)
        parts.append(batch)
        try:
            if size > MAX_OUTPUT:
                raise BudgetExceeded(f"render budget exceeded: more than {MAX_OUTPUT // 1024} KiB of output")
            check_time()
        except BudgetExceeded as exc:
            throw = getattr(chunks, "throw", None)  # Jinja's ``generate`` is a generator
            if throw is not None:
                throw(exc)
            raise  # a render that swallowed the error is still over budget
    return "".join(parts)


def _too_big() -> BudgetExceeded:
    return BudgetExceeded(f"render budget exceeded: a value larger than {MAX_OUTPUT // 1024} KiB")


def checked_value(value: Any) -> Any:
    """``value`` when it is within ``MAX_OUTPUT``; raises otherwise (sized values only)."""
    if isinstance(value, (str, bytes, list, tuple)) and len(value) > MAX_OUTPUT:
        raise _too_big()
    return value


def _sized(value: Any) -> bool:
    return isinstance(value, (str, bytes, list, tuple))


def before_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an operation whose result is known from its operands to exceed the budget."""
    check_time()
    if operator == "*":
        for sequence, count in ((left, right), (right, left)):
            if _sized(sequence) and isinstance(count, int) and len(sequence) * count > MAX_OUTPUT:
                raise _too_big()
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 64:
            # 2 ** 64 is the largest power a notice could want; 10 ** 10**10 would run for hours.
            raise BudgetExceeded("render budget exceeded: a power with an exponent above 64")
    elif operator == "%" and isinstance(left, str):
        check_format(left)
        check_widths(right if isinstance(right, tuple) else (right,), {})


def check_format(text: Any) -> None:
    """Refuse a format string asking for a width or precision of a million or more."""
    if isinstance(text, str) and _WIDE_FORMAT.search(text):
        raise BudgetExceeded("render budget exceeded: a format width of a million or more")


def check_widths(args: Iterable[Any], kwargs: dict[str, Any]) -> None:
    """Refuse a width-taking call (``ljust``, ``center``, ``indent``, ``%*d``) asked for a huge width."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_OUTPUT:
            raise BudgetExceeded(f"render budget exceeded: a width or count above {MAX_OUTPUT}")


def before_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse a call of a string method whose result is known from its arguments to exceed the budget."""
    check_time()
    owner = getattr(obj, "__self__", None)
    if isinstance(owner, str) and not getattr(obj, "__name__", "").startswith("format"):
        check_widths(args, kwargs)  # str.format's widths are checked when the sandbox wraps it


def budgeted_filter(name: str, show: Callable[..., Any]) -> Callable[..., Any]:
    """The filter ``show`` with its arguments and result held to the budget."""
    takes_context = any(getattr(show, "jinja_pass_arg", None) is mark for mark in _PASS_ARGS)

    def shown(*args: Any, **kwargs: Any) -> Any:
        value_at = 1 if takes_context else 0
        if name == "format" and len(args) > value_at:
            check_format(args[value_at])
        if len(args) > value_at + 1 or kwargs:
            check_widths(args[value_at + 1:], kwargs)
        return checked_value(show(*args, **kwargs))

    mark = getattr(show, "jinja_pass_arg", None)
    if mark is not None:
        shown.jinja_pass_arg = mark  # type: ignore[attr-defined]  # keeps Jinja's pass_context / pass_environment
    shown.__doc__ = show.__doc__
    return shown
