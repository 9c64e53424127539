"""One exception tree for the whole engine; each class carries the CLI exit code for it.

Only ``runner.py`` prints and exits. Everything else raises one of these, built from fields so
that the message always says what was wrong, where, and what would be accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class TreckkError(Exception):
    """Base of every error the engine reports to a person; exit code 1 means a bug."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(TreckkError, ValueError):
    """A value given by a person (a field, an argument, a file) is not acceptable."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in a definition file, located by file, line and column (1-based)."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


class DefinitionError(InvalidInput):
    """A workflow or roles definition has one or more problems; all of them are listed."""

    exit_code = 2

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: (p.path, p.line, p.column, p.message)))
        super().__init__("\n".join(str(p) for p in self.problems))


class PermissionDenied(TreckkError, PermissionError):
    """The actor's role or scope does not allow this action."""

    exit_code = 3


class NotAllowed(TreckkError):
    """The trigger does not exist or cannot fire from the case's current state."""

    exit_code = 4


class Conflict(TreckkError):
    """Someone else changed the case first (optimistic concurrency), or a key was reused."""

    exit_code = 5


class NotFound(TreckkError, LookupError):
    """A case, staff member, workflow, template or notice does not exist."""

    exit_code = 6
