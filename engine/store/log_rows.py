"""The transparency log's rows: leaves, the head (size and compact range), chunk hashes, checkpoints.

Leaves get their index inside the writing transaction, under the lock of the one ``log_head`` row
(``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite the transaction already holds the write lock),
so indexes are gap-free and follow commit order: a writer that takes index ``n`` holds the head
until it commits or rolls back, and the next writer reads the head only after that. The cost is
that writers of events serialise from their append to their commit (measured in bench/log.py).
Functions take the caller's connection.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, bindparam, func, insert, select, text, update

from engine.core.log_entries import LogEntry
from engine.core.merkle import CHUNK_LEVEL, append as tree_append
from engine.store.prepared import PreparedStatement
from engine.store.schema import log_checkpoints, log_chunks, log_head, log_leaves

if TYPE_CHECKING:
    from engine.core.tree_heads import TreeHead  # and cryptography: only checkpoints need it

HEAD_ID = 1

_head = select(log_head.c.size, log_head.c.frontier).where(log_head.c.id == HEAD_ID)
_read_head_locked = PreparedStatement(_head.with_for_update())
_write_head = PreparedStatement(update(log_head).where(log_head.c.id == HEAD_ID).values(
    size=bindparam("size"), frontier=bindparam("frontier")))
_LEAF_FIELDS = ("idx", "kind", "case_id", "seq", "workflow", "definition_version", "definition_digest", "leaf")
# Leaves without a subject are written without the column, so the migrations before the one that
# added it (0005's backfill) can still append through this module.
_insert_leaf = PreparedStatement(insert(log_leaves).values({name: bindparam(name) for name in _LEAF_FIELDS}))
_insert_chunk = PreparedStatement(insert(log_chunks).values(idx=bindparam("idx"), hash=bindparam("hash")))


@dataclass(frozen=True, slots=True)
class StoredLeaf:
    """A leaf row as stored."""

    idx: int
    kind: str
    case_id: int | None
    seq: int | None
    workflow: str
    definition_version: int
    definition_digest: str
    leaf: str
    subject: str | None = None


_LEAF_COLUMNS = tuple(getattr(log_leaves.c, name) for name in (*_LEAF_FIELDS, "subject"))


def _parse_frontier(text: str) -> list[bytes]:
    return [bytes.fromhex(part) for part in text.split()]


def ensure_head(connection: Connection) -> None:
    """Create the head row of an empty log if it is missing (migrations create it; bare schemas do not)."""
    from sqlalchemy.dialects import postgresql, sqlite

    upsert: Any = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(upsert(log_head).values(id=HEAD_ID, size=0, frontier="").on_conflict_do_nothing())


def append(connection: Connection, entries: Sequence[LogEntry]) -> int:
    """Give ``entries`` the next indexes, in order, and store them; returns the first index."""
    row = _read_head_locked.first(connection, {})
    if row is None:
        ensure_head(connection)
        row = _read_head_locked.first(connection, {})
        assert row is not None
    first, frontier_text = int(row[0]), str(row[1])
    size, frontier = first, _parse_frontier(frontier_text)
    chunks: list[dict[str, Any]] = []

    def completed(level: int, index: int, value: bytes) -> None:
        if level == CHUNK_LEVEL:
            chunks.append({"idx": index, "hash": value.hex()})

    leaves = []
    for entry in entries:
        leaf = entry.leaf()
        leaves.append({"idx": size, "kind": entry.kind, "case_id": entry.case_id, "seq": entry.seq,
                       "workflow": entry.workflow, "definition_version": entry.definition_version,
                       "definition_digest": entry.definition_digest, "leaf": leaf.hex()})
        if entry.subject is not None:
            leaves[-1]["subject"] = entry.subject
        size = tree_append(size, frontier, leaf, completed)
    head_values = {"size": size, "frontier": " ".join(h.hex() for h in frontier)}
    if any("subject" in leaf for leaf in leaves):
        # Staff leaves (rare): every row with the column, in one statement.
        connection.execute(insert(log_leaves), [{"subject": None, **leaf} for leaf in leaves])
    elif len(leaves) == 1 and not chunks and connection.dialect.name == "postgresql":
        # One round trip fewer for the common case (one event): the leaf and the head in one statement.
        connection.execute(_LEAF_AND_HEAD, {**leaves[0], **head_values})
        return first
    elif len(leaves) == 1:
        _insert_leaf.rowcount(connection, leaves[0])
    elif leaves:
        connection.execute(insert(log_leaves), leaves)
    for chunk in chunks:
        _insert_chunk.rowcount(connection, chunk)
    _write_head.rowcount(connection, head_values)
    return first


_LEAF_AND_HEAD = text(
    "WITH leaf AS (INSERT INTO log_leaves (idx, kind, case_id, seq, workflow, definition_version, definition_digest, "
    "leaf) VALUES (:idx, :kind, :case_id, :seq, :workflow, :definition_version, :definition_digest, :leaf)) "
    f"UPDATE log_head SET size = :size, frontier = :frontier WHERE id = {HEAD_ID}")


def head(connection: Connection) -> tuple[int, list[bytes]]:
    """(size, compact range) of the log as stored; (0, []) before the first leaf."""
    row = connection.execute(_head).first()
    return (0, []) if row is None else (int(row.size), _parse_frontier(row.frontier))


def leaf_count(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(log_leaves)).scalar_one())


def leaves_from(connection: Connection, start: int, *, batch: int = 20_000) -> Iterator[list[StoredLeaf]]:
    """Every leaf from index ``start`` on, by index, in batches (keyset paging: each batch on the primary key)."""
    after = start - 1
    while True:
        rows = connection.execute(select(*_LEAF_COLUMNS).where(log_leaves.c.idx > after)
                                  .order_by(log_leaves.c.idx).limit(batch)).all()
        if not rows:
            return
        yield [StoredLeaf(*row) for row in rows]
        after = rows[-1].idx


def leaf_hashes(connection: Connection, start: int, end: int) -> list[bytes]:
    """The leaf hashes of ``[start, end)`` (missing ones are skipped; callers compare counts)."""
    rows = connection.execute(select(log_leaves.c.leaf).where(and_(log_leaves.c.idx >= start, log_leaves.c.idx < end))
                              .order_by(log_leaves.c.idx))
    return [bytes.fromhex(value) for value in rows.scalars()]


def chunk_hashes(connection: Connection, start: int, end: int) -> list[bytes]:
    rows = connection.execute(select(log_chunks.c.hash).where(and_(log_chunks.c.idx >= start, log_chunks.c.idx < end))
                              .order_by(log_chunks.c.idx))
    return [bytes.fromhex(value) for value in rows.scalars()]


def all_chunks(connection: Connection) -> dict[int, str]:
    return {int(row.idx): str(row.hash) for row in connection.execute(select(log_chunks.c.idx, log_chunks.c.hash))}


def leaves_of_case(connection: Connection, case_id: int) -> list[StoredLeaf]:
    rows = connection.execute(select(*_LEAF_COLUMNS).where(log_leaves.c.case_id == case_id).order_by(log_leaves.c.seq))
    return [StoredLeaf(*row) for row in rows]


def leaves_of_cases(connection: Connection, ids: list[int]) -> dict[int, list[StoredLeaf]]:
    """The event leaves of the cases ``ids``, by case, in sequence order."""
    found: dict[int, list[StoredLeaf]] = {}
    rows = connection.execute(select(*_LEAF_COLUMNS).where(log_leaves.c.case_id.in_(ids))
                              .order_by(log_leaves.c.case_id, log_leaves.c.seq))
    for row in rows:
        found.setdefault(int(row.case_id), []).append(StoredLeaf(*row))
    return found


def case_ids_from(connection: Connection, start: int) -> list[int]:
    """The cases with an event leaf at index ``start`` or later (what changed since a tree of ``start`` leaves)."""
    return sorted(int(value) for value in connection.execute(
        select(log_leaves.c.case_id).where(and_(log_leaves.c.idx >= start, log_leaves.c.case_id.is_not(None)))
        .distinct()).scalars())


def insert_checkpoint(connection: Connection, checkpoint: TreeHead) -> int:
    """Store ``checkpoint``; returns its row id."""
    result = connection.execute(insert(log_checkpoints).values(
        origin=checkpoint.origin, size=checkpoint.size, root=checkpoint.root, time=checkpoint.time,
        key_id=checkpoint.key_id, signature=checkpoint.signature))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def checkpoint_by_id(connection: Connection, checkpoint_id: int) -> TreeHead | None:
    row = connection.execute(select(log_checkpoints.c.size, log_checkpoints.c.root, log_checkpoints.c.time,
                                    log_checkpoints.c.key_id, log_checkpoints.c.signature, log_checkpoints.c.origin)
                             .where(log_checkpoints.c.id == checkpoint_id)).first()
    return None if row is None else _tree_head(row)


def newest_checkpoint_size(connection: Connection) -> int | None:
    value = connection.execute(select(func.max(log_checkpoints.c.size))).scalar()
    return None if value is None else int(value)


def checkpoints(connection: Connection) -> list[TreeHead]:
    """Every checkpoint held, oldest first."""
    rows = connection.execute(select(log_checkpoints.c.size, log_checkpoints.c.root, log_checkpoints.c.time,
                                     log_checkpoints.c.key_id, log_checkpoints.c.signature, log_checkpoints.c.origin)
                              .order_by(log_checkpoints.c.size, log_checkpoints.c.id))
    return [_tree_head(r) for r in rows]


def _tree_head(row: Any) -> TreeHead:
    from engine.core.tree_heads import TreeHead

    return TreeHead(int(row.size), str(row.root), row.time, str(row.key_id), str(row.signature), str(row.origin))

