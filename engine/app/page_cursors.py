"""Opaque page cursors: the fields of the last row shown, joined and base64url-encoded.

A page's ``next`` value is ``encode(field, ...)``; the following request gives it back and the
reader ``decode``s it into the same number of fields, turning them into its keyset position. What
the fields mean (a time, an id, a source name) is the reader's business; any cursor that does not
decode into that many fields is refused with the same clear error.
"""

from __future__ import annotations

import base64
import binascii

from engine.errors import InvalidInput

SEPARATOR = "|"


def encode(*fields: str) -> str:
    """The cursor of a page that ends at the row with these fields."""
    return base64.urlsafe_b64encode(SEPARATOR.join(fields).encode()).decode().rstrip("=")


def decode(cursor: str, count: int) -> list[str]:
    """The ``count`` fields of ``cursor``; ValueError when it is not such a cursor."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from None
    fields = text.split(SEPARATOR)
    if len(fields) != count:
        raise ValueError(f"{len(fields)} fields, not {count}")
    return fields


def refused(shown: str) -> InvalidInput:
    """The error for a cursor that is not the ``next`` value of a previous page (``shown``: as much of it
    as the message repeats)."""
    return InvalidInput(f"bad page cursor {shown!r}; give the `next` value of the previous page",
                        field="after", value=shown)
