"""A definition's state diagram as SVG, drawn on this machine by Graphviz ``dot`` (no outside service).

``dot`` is run as a child process with a time limit, on input and output of bounded size; when it is
missing, too slow or fails, the answer says why (in Bahasa Indonesia, for the page) and carries no
picture, and the caller shows the DOT text instead.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

DOT_TIMEOUT_SECONDS = 10.0
"""The longest ``dot`` may draw one diagram (TRECKK's takes well under a second)."""
MAX_DOT_BYTES = 256 * 1024
"""The largest DOT text handed to ``dot``."""
MAX_SVG_BYTES = 4 * 1024 * 1024
"""The largest SVG accepted back."""


@dataclass(frozen=True, slots=True)
class Drawing:
    """The SVG of a diagram, or the reason there is none; ``dot`` is the source either way."""

    dot: str
    svg: str | None
    problem: str | None = None


def draw(dot_text: str, *, program: str = "dot") -> Drawing:
    """``dot_text`` drawn as SVG by ``program`` (found on PATH), within the limits above."""
    data = dot_text.encode("utf-8")
    if len(data) > MAX_DOT_BYTES:
        return Drawing(dot_text, None, f"Diagram terlalu besar untuk digambar ({len(data) // 1024} KiB).")
    executable = shutil.which(program)
    if executable is None:
        return Drawing(dot_text, None, "Graphviz (program `dot`) tidak terpasang di server ini, jadi diagram "
                                       "tidak dapat digambar; teks DOT-nya ada di bawah.")
    try:
        done = subprocess.run([executable, "-Tsvg"], input=data, capture_output=True, timeout=DOT_TIMEOUT_SECONDS,
                              check=False)
    except subprocess.TimeoutExpired:
        return Drawing(dot_text, None, f"Graphviz tidak selesai menggambar dalam {DOT_TIMEOUT_SECONDS:g} detik.")
    except OSError as exc:
        return Drawing(dot_text, None, f"Graphviz tidak dapat dijalankan: {exc.strerror or exc}.")
    if done.returncode != 0 or not done.stdout:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()[:1]
        return Drawing(dot_text, None, "Graphviz gagal menggambar diagram" + (f": {reason[0]}" if reason else "."))
    if len(done.stdout) > MAX_SVG_BYTES:
        return Drawing(dot_text, None, "Gambar diagram terlalu besar untuk ditampilkan.")
    return Drawing(dot_text, done.stdout.decode("utf-8", "replace"))
