"""Reading the files a definition is made of: only regular files, and only up to a size.

``deploy /dev/zero`` would read for ever and ``deploy`` of a FIFO would wait for a writer for
ever; a 700,000-key YAML file would take minutes to check. Every workflow, roles, template and
scenario file is therefore checked to be a regular file before it is opened, and read up to
``MAX_SOURCE_BYTES``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from engine.errors import InvalidInput, NotFound

MAX_SOURCE_BYTES = 1024 * 1024
"""The largest definition, roles, template or scenario file read (1 MiB; TRECKK's are a few KiB)."""


def read_source(path: Path, what: str, *, limit: int = MAX_SOURCE_BYTES) -> str:
    """The UTF-8 text of the regular file ``path``; NotFound or InvalidInput (naming ``what``) otherwise."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise NotFound(f"{what} {path} does not exist") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise InvalidInput(f"{what} {str(path)[:200]!r} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    if not stat.S_ISREG(mode):
        raise InvalidInput(f"{what} {path} is not a regular file (a device, a pipe or a folder); give a file")
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise InvalidInput(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InvalidInput(f"{what} {path} is larger than {limit // 1024} KiB; no definition needs that much")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                           f"{exc.start}); save it as UTF-8") from None
