"""One exception tree for the whole engine; each class carries its CLI exit code and HTTP status.

Only the adapters print, exit or answer. Everything else raises one of these. Besides the
message (what the command line prints, a contract), an error may carry structured fields — the
field or argument at fault, the bad value, the accepted values and a hint — so that each adapter
can word it its own way (a message next to a form field, problem details in the API).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class TreckkError(Exception):
    """Base of every error the engine reports to a person; exit code 1 means a bug."""

    exit_code: int = 1
    http_status: int = 500

    def __init__(self, message: str, *, field: str | None = None, value: object = None,
                 accepted: Sequence[str] = (), hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        """The field, argument or setting at fault, when there is one."""
        self.value = value
        """The value that was refused."""
        self.accepted = tuple(accepted)
        """What would have been accepted instead (names, states, roles), when that is a short list."""
        self.hint = hint
        """What to do about it, for a person."""

    @property
    def kind(self) -> str:
        """The class of the error as a lower-case name (``invalid_input``, ``not_found``, ...)."""
        name = type(self).__name__
        return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))

    def fields(self) -> dict[str, object]:
        """The structured part, for adapters that answer in data (no message wording)."""
        found: dict[str, object] = {"kind": self.kind}
        if self.field is not None:
            found["field"] = self.field
        if self.value is not None:
            found["value"] = self.value
        if self.accepted:
            found["accepted"] = list(self.accepted)
        if self.hint is not None:
            found["hint"] = self.hint
        return found

    def __str__(self) -> str:
        return self.message


class InvalidInput(TreckkError, ValueError):
    """A value given by a person (a field, an argument, a file) is not acceptable."""

    exit_code = 2
    http_status = 422


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in a definition file, located by file, line and column (1-based)."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


MAX_PROBLEMS_SHOWN = 50
"""How many problems of a definition are listed; the rest are counted."""


class DefinitionError(InvalidInput):
    """A workflow or roles definition has one or more problems; all of them are listed."""

    exit_code = 2

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: (p.path, p.line, p.column, p.message)))
        shown = [str(p) for p in self.problems[:MAX_PROBLEMS_SHOWN]]
        rest = len(self.problems) - len(shown)
        if rest > 0:
            # A 700,000-key file must not print 700,000 lines: the first ones say what is wrong.
            shown.append(f"... and {rest} more problem(s) not shown; fix these first")
        super().__init__("\n".join(shown))


class PermissionDenied(TreckkError, PermissionError):
    """The actor's role or scope does not allow this action."""

    exit_code = 3
    http_status = 403


class NotAllowed(TreckkError):
    """The trigger does not exist or cannot fire from the case's current state."""

    exit_code = 4
    http_status = 409


class Conflict(TreckkError):
    """Someone else changed the case first (optimistic concurrency), or a key was reused."""

    exit_code = 5
    http_status = 409


class NotFound(TreckkError, LookupError):
    """A case, staff member, workflow, template or notice does not exist."""

    exit_code = 6
    http_status = 404


class Unavailable(TreckkError):
    """Something the command needs (the database, a channel) cannot be reached or used right now."""

    exit_code = 7
    http_status = 503
