"""The ``file`` channel: one readable text file per notice, for offices without e-mail or a gateway.

Files are named ``YYYYMMDD-<message id>.txt`` (the UTC date the notice was rendered), so a
directory listing sorts by day and a notice delivered twice overwrites its own file instead of
making a second one. Files are written to a temporary name and renamed, so a reader (or a crash)
never sees half a notice. HTML notices get the HTML beside the text, as ``.html``. The directory
is the setting ``OUTBOX_DIR`` (default ``<home>/var/outbox``); the channel is always there.
"""

from __future__ import annotations

from datetime import timezone

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.channels.base import ChannelSpec, DeliveryFailure, Options

if TYPE_CHECKING:
    from engine.channels.message import Outbound

_UNSAFE = re.compile(r"[^A-Za-z0-9@._-]")


def file_stem(message: Outbound) -> str:
    """``20261130-<message id>``: the name of a notice's files without the extension."""
    day = message.created_at.astimezone(timezone.utc).strftime("%Y%m%d")
    return f"{day}-{_UNSAFE.sub('_', message.message_id)}"


class FileChannel:
    """Writes each notice as a text file (and an .html file for HTML notices) under ``directory``."""

    name = "file"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def paths(self, message: Outbound) -> list[Path]:
        """The files a notice is written to."""
        stem = file_stem(message)
        return [self.directory / f"{stem}.txt", *([self.directory / f"{stem}.html"] if message.is_html else [])]

    def send(self, message: Outbound) -> None:
        """Write the notice's files; a full disk or a missing permission is a retryable failure."""
        # Imported here: every command reads the channels' settings, only delivery writes notices.
        from engine.channels.message import readable

        text_path, *html_path = self.paths(message)
        try:
            # Notices hold personal data: the folder is the owner's alone (0700), its files 0600.
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            # The .txt file is written last: its presence means the notice is complete.
            if html_path:
                _write_atomically(html_path[0], message.body)
            extra = (("HTML-File", html_path[0].name),) if html_path else ()
            _write_atomically(text_path, readable(message, extra=extra))
        except OSError as exc:
            raise DeliveryFailure(f"cannot write to outbox directory {self.directory}: {exc}") from exc

    def close(self) -> None:
        """Nothing is kept open between notices."""


@dataclass(frozen=True, slots=True)
class FileSettings:
    """Where the notices' files go."""

    directory: Path

    @classmethod
    def from_options(cls, options: Options) -> FileSettings:
        """``OUTBOX_DIR``, else ``var/outbox`` under the project home."""
        return cls(Path(options.get("OUTBOX_DIR") or options.home / "var" / "outbox"))


def _open(settings: FileSettings) -> FileChannel:
    return FileChannel(settings.directory)


SPEC = ChannelSpec(FileChannel.name, "none", ("OUTBOX_DIR",), None, FileSettings.from_options, _open)
"""The ``file`` channel: no address needed, always configured."""


def _write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
