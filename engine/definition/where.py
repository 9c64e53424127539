"""Where a piece of a definition was written: what the parsed model keeps to point back at its source.

Apart from the YAML reader (``yamlnodes``), so the model — and a definition loaded from the
compile cache — does not need PyYAML.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Where:
    """A place in a definition file (1-based line and column)."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"
