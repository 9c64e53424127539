"""A table as CSV text that a spreadsheet opens safely.

A cell a spreadsheet would read as a formula (text starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return, OWASP's list) is written with a leading apostrophe, so it shows as text and
never runs; numbers are written as numbers. Empty values (no median when nothing finished) are
empty cells.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str | int | float:
    """One value as a CSV cell, defused when a spreadsheet would take it for a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ya" if value else "tidak"
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(headings: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The headings and rows as CSV (comma-separated, CRLF line ends as RFC 4180 says)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([cell(h) for h in headings])
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return out.getvalue()
