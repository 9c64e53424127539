"""Photos for a case's ``references`` fields: checked, re-encoded, stored by content, served to who may see.

An upload is accepted only when its bytes are a JPEG, PNG or WebP image (sniffed from the
content; the name is not trusted) no larger than the configured size. It is decoded and
re-encoded with Pillow, which drops anything riding along (a script appended to a JPEG, EXIF
with the place a phone took it), and stored under the SHA-256 of the new bytes in the attachment
folder, which no web route serves as a folder. A case refers to it by ``<digest>.<ext>`` in a
``references`` field; the file is given out only for a case the viewer may see that refers to it.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from engine.app.queries import Queries
from engine.core.localtime import to_local
from engine.definition.model import PUBLIC_ACTOR_PREFIX
from engine.errors import InvalidInput, NotFound
from engine.store import attachment_rows
from engine.store.attachment_rows import AttachmentRow

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
"""The largest upload accepted when the settings do not say (5 MiB)."""

MAX_PIXELS = 40_000_000
"""The most pixels an image may have (a 40-megapixel photo); larger ones are refused before decoding."""

THUMBNAIL_SIDE = 320
"""The longest side of a thumbnail, in pixels."""

NAME_LIMIT = 255


@dataclass(frozen=True, slots=True)
class Kind:
    """An accepted image type: how its bytes start, Pillow's format name, media type, extension."""

    pillow: str
    media_type: str
    extension: str


JPEG = Kind("JPEG", "image/jpeg", "jpg")
PNG = Kind("PNG", "image/png", "png")
WEBP = Kind("WEBP", "image/webp", "webp")
KINDS = {kind.extension: kind for kind in (JPEG, PNG, WEBP)}

REFERENCE = re.compile(r"^([0-9a-f]{64})\.(jpg|png|webp)$")
"""What a stored attachment is called in a case's data: ``<sha256>.<ext>``."""


def sniff(head: bytes) -> Kind | None:
    """The image type the first bytes announce, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return None


def parse_reference(reference: str) -> tuple[str, Kind] | None:
    """(digest, kind) of a reference written ``<sha256>.<ext>``, or None for anything else."""
    match = REFERENCE.fullmatch(reference)
    return (match.group(1), KINDS[match.group(2)]) if match else None


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file to send: where it is on disk and its media type."""

    path: Path
    media_type: str
    download_name: str


def check_name(name: str | None) -> str | None:
    """A file name as a browser sends it (no folder part); one that names folders or is odd is refused."""
    if name is None or name == "":
        return None
    if (len(name) > NAME_LIMIT or "/" in name or "\\" in name or name in (".", "..") or ".." in name
            or any(ord(c) < 32 or ord(c) == 127 for c in name)):
        raise InvalidInput(f"nama berkas {name[:60]!r} tidak diterima: nama berkas tidak boleh memuat folder, "
                           "'..' atau karakter kendali", field="name", value=name[:60])
    return name


class Attachments:
    """The attachment store of one application: a folder for the bytes, the ``attachments`` table for the rest."""

    def __init__(self, queries: Queries, folder: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.queries = queries
        self.engine = queries.engine
        self.folder = folder
        self.max_bytes = max_bytes

    # -- storing ---------------------------------------------------------------------------
    def store(self, actor: str, data: bytes, name: str | None = None, *, field: str = "file") -> str:
        """Check, re-encode and keep an upload by ``actor``; returns its reference ``<digest>.<ext>``."""
        original_name = check_name(name)
        if len(data) > self.max_bytes:
            raise InvalidInput(f"berkas terlalu besar ({_size(len(data))}); paling besar {_size(self.max_bytes)}",
                               field=field)
        kind = sniff(data[:16])
        if kind is None:
            raise InvalidInput("berkas bukan foto JPEG, PNG atau WebP (jenisnya dibaca dari isinya, bukan dari "
                               "namanya)", field=field, accepted=[k.media_type for k in KINDS.values()])
        image, clean = _reencode(data, kind, field)
        digest = hashlib.sha256(clean).hexdigest()
        reference = f"{digest}.{kind.extension}"
        self._write(self._path(digest, kind), clean)
        self._write(self._thumbnail_path(digest), _thumbnail(image))
        row = AttachmentRow(digest, kind.media_type, len(clean), image.width, image.height, original_name,
                            actor, self.engine.clock())

        def record(connection: Connection) -> None:
            if not actor.startswith(PUBLIC_ACTOR_PREFIX):  # a complainant (pelapor:<channel>) is no member
                self.engine.viewer(connection, actor)  # an unknown or disabled member stores nothing
            if attachment_rows.by_digest(connection, digest) is None:
                attachment_rows.insert_attachment(connection, row)

        try:
            self.engine.db.transaction(record)
        except Exception:
            if self.engine.db.transaction(lambda c: attachment_rows.by_digest(c, digest)) is None:
                raise
        return reference

    def uploaded_by(self, references: list[str], actor: str) -> bool:
        """Whether every reference names a stored file that ``actor`` uploaded (for values carried by a form)."""
        digests = []
        for reference in references:
            parsed = parse_reference(reference)
            if parsed is None:
                return False
            digests.append(parsed[0])
        rows = self.engine.db.transaction(lambda c: attachment_rows.by_digests(c, digests))
        owners = {row.digest: row.uploaded_by for row in rows}
        return all(owners.get(digest) == actor for digest in digests)

    def describe(self, references: list[str]) -> dict[str, AttachmentRow]:
        """What is recorded about each reference that names a stored file, by reference."""
        parsed = {ref: found for ref in references if (found := parse_reference(ref)) is not None}
        rows = self.engine.db.transaction(lambda c: attachment_rows.by_digests(c, [d for d, _ in parsed.values()]))
        by_digest = {row.digest: row for row in rows}
        return {ref: by_digest[digest] for ref, (digest, _) in parsed.items() if digest in by_digest}

    # -- giving out ------------------------------------------------------------------------
    def listing(self, number: str, viewer_name: str) -> list[dict[str, Any]]:
        """The photos case ``number``'s data refers to, in field order, as ``viewer_name`` may see them.

        PermissionDenied and NotFound from the case view pass through. A reference whose file is not
        stored is listed with ``stored`` false and no details. The original file name is left out
        (a name a phone or a person gave may say who or where).
        """
        view = self.queries.show(number, viewer_name)
        definition = self.queries.case_definition(view["number"])
        listed: list[dict[str, Any]] = []
        for name, spec in definition.fields.items():
            value = view["data"].get(name)
            if spec.type != "references" or not isinstance(value, list):
                continue
            references = [str(item) for item in value]
            described = self.describe(references)
            for reference in references:
                row = described.get(reference)
                listed.append({
                    "name": reference, "field": name, "field_label": spec.label, "stored": row is not None,
                    "digest": row.digest if row else None, "media_type": row.media_type if row else None,
                    "size": row.size if row else None, "width": row.width if row else None,
                    "height": row.height if row else None,
                    "uploaded_at": _utc_text(row.uploaded_at) if row else None,
                    "uploaded_at_local": (to_local(row.uploaded_at, definition.timezone).isoformat()
                                          if row else None),
                    "uploaded_by": row.uploaded_by if row else None,
                })
        return listed

    def open_for(self, number: str, reference: str, viewer_name: str, *, thumbnail: bool = False) -> StoredFile:
        """The file ``reference`` of case ``number`` for ``viewer_name``.

        NotFound unless the viewer may see the case (PermissionDenied from the case view is passed
        on for the adapter to answer as not found), the case's data refers to the file in a
        ``references`` field the viewer may read, and the file is stored.
        """
        parsed = parse_reference(reference)
        if parsed is None:
            raise NotFound("lampiran tidak ditemukan", field="reference")
        view = self.queries.show(number, viewer_name)
        definition = self.queries.case_definition(number)
        if reference not in case_references(definition.fields, view["data"]):
            raise NotFound("lampiran tidak ditemukan", field="reference")
        digest, kind = parsed
        path = self._thumbnail_path(digest) if thumbnail else self._path(digest, kind)
        if not path.is_file():
            raise NotFound("lampiran tidak ditemukan", field="reference")
        media_type = JPEG.media_type if thumbnail else kind.media_type
        extension = JPEG.extension if thumbnail else kind.extension
        return StoredFile(path, media_type, f"{view['number']}-{digest[:12]}.{extension}")

    # -- the folder --------------------------------------------------------------------------
    def _path(self, digest: str, kind: Kind) -> Path:
        return self.folder / digest[:2] / f"{digest}.{kind.extension}"

    def _thumbnail_path(self, digest: str) -> Path:
        return self.folder / "thumbs" / digest[:2] / f"{digest}.jpg"

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` whole (a temporary file renamed over it), unless it is there already."""
        if path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def case_references(fields: Any, data: dict[str, Any]) -> list[str]:
    """Every reference held by the ``references`` fields of ``data`` (masked values hold none)."""
    found: list[str] = []
    for name, value in data.items():
        spec = fields.get(name)
        if spec is not None and spec.type == "references" and isinstance(value, list):
            found.extend(str(item) for item in value)
    return found


def _utc_text(moment: datetime) -> str:
    """An instant in UTC as ISO 8601 (a naive value read back from SQLite is UTC already)."""
    return (moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)).isoformat()


def _size(count: int) -> str:
    return f"{count / (1024 * 1024):.1f} MB" if count >= 1024 * 1024 else f"{max(1, count // 1024)} KB"


def _reencode(data: bytes, kind: Kind, field: str) -> tuple[Any, bytes]:
    """The decoded image (upright) and its bytes written afresh in the same format, without metadata."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    refused = InvalidInput(f"berkas tidak dapat dibaca sebagai foto {kind.extension.upper()}; kirim foto yang utuh",
                           field=field)
    try:
        with Image.open(io.BytesIO(data), formats=[kind.pillow]) as probe:
            width, height = probe.size
            if width * height > MAX_PIXELS:
                raise InvalidInput(f"foto terlalu besar ({width}×{height} piksel); paling banyak "
                                   f"{MAX_PIXELS // 1_000_000} megapiksel", field=field)
            probe.verify()
        with Image.open(io.BytesIO(data), formats=[kind.pillow]) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except InvalidInput:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise refused from exc
    out = io.BytesIO()
    if kind is JPEG:
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=88, optimize=True)
    elif kind is PNG:
        if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            image = image.convert("RGBA")
        image.save(out, "PNG", optimize=True)
    else:
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.mode else "RGB")
        image.save(out, "WEBP", quality=85)
    return image, out.getvalue()


def _thumbnail(image: Any) -> bytes:
    small = image.copy()
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    if small.mode != "RGB":
        small = small.convert("RGB")
    out = io.BytesIO()
    small.save(out, "JPEG", quality=80)
    return out.getvalue()
