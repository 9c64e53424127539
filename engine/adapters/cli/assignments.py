"""Field values given on the command line: ``--set FIELD=VALUE``, ``--set FIELD=-`` and ``--set-file FIELD=PATH``.

Long text does not fit in an argument list (the kernel refuses about 128 KB per argument and a
few MB in all), so a value may come from standard input (``-``) or from a file. Both are read as
UTF-8 text, with the trailing line breaks dropped (as the shell's ``$(cat FILE)`` does); the field's
own limits (``max_length``) are checked by the command like any other value.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO

from engine.adapters.cli.context import parse_assignments
from engine.errors import InvalidInput

STDIN = "-"
"""The value that means "read it from standard input"."""

MAX_BYTES = 16 * 1024 * 1024
"""The most that is read for one value; far beyond any field, small enough not to exhaust memory."""


def _text(data: bytes, source: str) -> str:
    if len(data) > MAX_BYTES:
        raise InvalidInput(f"{source} is larger than {MAX_BYTES // (1024 * 1024)} MB; no field takes that much text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{source} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                           "save it as UTF-8") from None
    return text.rstrip("\r\n")


def _read_file(field: str, path: str) -> str:
    import os
    import stat

    source = f"--set-file {field}={path}"
    try:
        # Checked before opening: opening a FIFO waits for a writer, a device never ends.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise InvalidInput(f"{source}: not a regular file (a device, a pipe or a folder); give a file")
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InvalidInput(f"{source}: no such file") from None
    except OSError as exc:
        raise InvalidInput(f"{source}: the file cannot be read: {exc.strerror or exc}") from None
    return _text(data, f"{source}: the file")


def read_assignments(sets: list[str] | None, files: list[str] | None, stdin: BinaryIO | None = None) -> dict[str, str]:
    """The values of ``--set`` (``-`` reads standard input) and ``--set-file``; a field may be given once."""
    values = parse_assignments(sets)
    from_stdin = [name for name, value in values.items() if value == STDIN]
    if len(from_stdin) > 1:
        raise InvalidInput(f"only one field can be read from standard input; {', '.join(from_stdin)} all ask for it "
                           "(give the others with --set-file FIELD=PATH)")
    for name in from_stdin:
        if stdin is None and sys.stdin is None:  # started with descriptor 0 closed (`treckk submit … <&-`)
            raise InvalidInput(f"--set {name}=- reads standard input, which is closed; give the text there, "
                               f"or with --set-file {name}=PATH")
        source = stdin if stdin is not None else sys.stdin.buffer
        values[name] = _text(source.read(MAX_BYTES + 1), f"standard input (--set {name}=-)")
    for item in files or []:
        name, sep, path = item.partition("=")
        name = name.strip()
        if not sep or not name or not path:
            raise InvalidInput(f"bad --set-file {item!r}; write FIELD=PATH, the path of a UTF-8 text file")
        if name in values:
            raise InvalidInput(f"field {name!r} is given twice (with --set and --set-file, or twice)")
        values[name] = _read_file(name, str(Path(path).expanduser()))
    return values
