"""Rendered notice bodies, stored compactly: once per content, compressed. Functions take the caller's connection.

A body is known by the SHA-256 of its UTF-8 text (32 bytes in the database, hexadecimal here and
for people); the notices that carried it keep that digest,
so what was sent stays provable after retention (``prune``) deleted the text itself. Most of a
notice is its template's fixed text, so bodies are compressed by zlib with a *preset dictionary*:
the template text of the bundle that rendered them (its last 32 KiB, zlib's window), itself stored
once in ``notice_dictionaries`` by its digest. With the dictionary a notice of about 1.2 KB takes
about 0.22 KB; without (the rows the migration converted) about 0.6 KB. The compressed form is raw
deflate (RFC 1951, ``RAW_DEFLATE``).

Reading a body checks it against its digest: a body that does not match (a damaged row) is
refused as ``Unavailable`` naming the notice's digest, never shown as what was sent.
"""

from __future__ import annotations

import hashlib
import importlib
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, exists, select
from sqlalchemy import delete as delete_rows

from engine.errors import Unavailable
from engine.store.schema import notice_bodies, notice_dictionaries, notices

WINDOW = 32 * 1024
"""zlib looks back this far: a longer preset dictionary is cut to its last WINDOW bytes."""
LEVEL = 9


@dataclass(frozen=True, slots=True)
class Dictionary:
    """A preset dictionary for compressing bodies, and its SHA-256 (the row's key)."""

    digest: str
    content: bytes


def dictionary_of(templates: Mapping[str, str]) -> Dictionary | None:
    """The dictionary for bodies rendered from ``templates`` (their sources by name); None when there are none.

    The text most bodies share goes last (deflate codes nearer matches in fewer bits), so the
    sources are joined in name order, the partials (``_*``, included by many templates) last.
    """
    names = sorted(templates, key=lambda name: (name.rsplit("/", 1)[-1].startswith("_"), name))
    content = "".join(templates[name] for name in names).encode("utf-8")[-WINDOW:]
    return Dictionary(hashlib.sha256(content).hexdigest(), content) if content else None


def body_digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


RAW_DEFLATE = -15
"""zlib's window bits for raw deflate (RFC 1951): no zlib header nor Adler-32 (10 bytes a body with a
dictionary); the SHA-256 the body is read by checks it instead."""


def compress(body: str, dictionary: Dictionary | None) -> bytes:
    compressor = (zlib.compressobj(LEVEL, zlib.DEFLATED, RAW_DEFLATE, 9, zlib.Z_DEFAULT_STRATEGY, dictionary.content)
                  if dictionary is not None else zlib.compressobj(LEVEL, zlib.DEFLATED, RAW_DEFLATE))
    return compressor.compress(body.encode("utf-8")) + compressor.flush()


def decompress(content: bytes, dictionary: bytes | None) -> str:
    decompressor = (zlib.decompressobj(RAW_DEFLATE, dictionary) if dictionary is not None
                    else zlib.decompressobj(RAW_DEFLATE))
    return (decompressor.decompress(content) + decompressor.flush()).decode("utf-8")


_known_dictionaries: set[tuple[str, str]] = set()
"""(database URL, digest) of dictionaries known to be stored: they never change nor go."""


def store(connection: Connection, bodies: Iterable[str], dictionary: Dictionary | None) -> list[str]:
    """Store each body not stored yet (compressed with ``dictionary``); their digests, in order."""
    given = list(bodies)
    digests = [body_digest(body) for body in given]
    if not given:
        return digests
    if dictionary is not None:
        _store_dictionary(connection, dictionary)
    wanted = dict(zip(digests, given, strict=True))
    present = {bytes(found).hex() for found in connection.execute(
        select(notice_bodies.c.digest).where(notice_bodies.c.digest.in_([bytes.fromhex(d) for d in sorted(wanted)])))
        .scalars()}
    missing = [{"digest": bytes.fromhex(digest), "dictionary": bytes.fromhex(dictionary.digest) if dictionary else None,
                "content": compress(body, dictionary)} for digest, body in wanted.items() if digest not in present]
    if missing:
        # Another transaction may store the same body meanwhile: the same digest is the same body.
        connection.execute(_insert_ignoring(connection, notice_bodies), missing)
    return digests


def _insert_ignoring(connection: Connection, table: Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, with the dialect's own ``insert`` (imported only when used)."""
    dialect = importlib.import_module(f"sqlalchemy.dialects.{connection.dialect.name}")
    return dialect.insert(table).on_conflict_do_nothing()


def _store_dictionary(connection: Connection, dictionary: Dictionary) -> None:
    key = (repr(connection.engine.url), dictionary.digest)
    if key in _known_dictionaries:
        return
    key_bytes = bytes.fromhex(dictionary.digest)
    stored = connection.execute(select(notice_dictionaries.c.digest)
                                .where(notice_dictionaries.c.digest == key_bytes)).first()
    if stored is None:
        connection.execute(_insert_ignoring(connection, notice_dictionaries).values(
            digest=key_bytes, content=zlib.compress(dictionary.content, LEVEL)))
    else:
        _known_dictionaries.add(key)  # committed by someone: it stays (this transaction may still roll back)


def load(connection: Connection, digests: Sequence[str]) -> dict[str, str]:
    """The stored bodies among ``digests``, by digest (a pruned body is absent), each checked against its digest."""
    if not digests:
        return {}
    rows = list(connection.execute(
        select(notice_bodies.c.digest, notice_bodies.c.content, notice_dictionaries.c.content)
        .select_from(notice_bodies.outerjoin(notice_dictionaries,
                                             notice_dictionaries.c.digest == notice_bodies.c.dictionary))
        .where(notice_bodies.c.digest.in_([bytes.fromhex(d) for d in sorted(set(digests))]))))
    found = {}
    for key, content, dictionary in rows:
        digest = bytes(key).hex()
        try:
            body = decompress(bytes(content), zlib.decompress(bytes(dictionary)) if dictionary is not None else None)
        except (zlib.error, UnicodeDecodeError):
            body = None
        if body is None or body_digest(body) != digest:
            raise Unavailable(f"the stored notice body sha256:{digest} is damaged: it does not match its digest")
        found[digest] = body
    return found


def forget_delivered(connection: Connection, digest: str) -> bool:
    """Delete the body ``digest`` now if every notice that has it was delivered (``sent``); whether it went.

    For notices whose text must not outlive its delivery (a reply carrying a tracking code): the
    notice row keeps the digest of what was sent, as after retention.
    """
    key = bytes.fromhex(digest)
    still_needed = exists().where(and_(notices.c.body_digest == key, notices.c.status != "sent"))
    if connection.execute(select(still_needed)).scalar():
        return False
    return bool(connection.execute(delete_rows(notice_bodies).where(notice_bodies.c.digest == key)).rowcount)


def prune(connection: Connection, delivered_before: datetime, limit: int) -> int:
    """Delete up to ``limit`` bodies whose every notice was delivered (``sent``) before ``delivered_before``.

    A body another notice still needs (pending, failed, or sent since) is kept; the notice rows,
    their digests and delivery records are never touched. Returns how many bodies went.
    """
    other = notices.alias("other")
    still_needed = exists().where(and_(
        other.c.body_digest == notice_bodies.c.digest,
        (other.c.status != "sent") | (other.c.sent_at.is_(None)) | (other.c.sent_at >= delivered_before)))
    delivered = exists().where(and_(notices.c.body_digest == notice_bodies.c.digest, notices.c.status == "sent",
                                    notices.c.sent_at < delivered_before))
    chosen = list(connection.execute(select(notice_bodies.c.digest).where(and_(delivered, ~still_needed))
                                     .limit(limit)).scalars())
    if chosen:
        connection.execute(delete_rows(notice_bodies).where(notice_bodies.c.digest.in_(chosen)))
    return len(chosen)
