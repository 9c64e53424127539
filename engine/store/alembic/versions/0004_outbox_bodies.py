"""Notice bodies stored once each, compressed; notices keep the SHA-256 of what was sent.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

- ``notice_dictionaries`` (new): preset zlib dictionaries (a bundle's template text) by SHA-256.
- ``notice_bodies`` (new): a rendered body by the SHA-256 (32 bytes) of its UTF-8 text, raw-deflate compressed (with
  ``dictionary`` as preset dictionary when not NULL), stored once however many notices carry it.
- ``notices.body`` becomes ``notices.body_digest`` (indexed). Existing bodies are moved over,
  compressed without a dictionary (the engine uses one for the notices it queues from now on).

Downgrade puts every stored body back in ``notices.body``; a body retention already deleted comes
back as a line naming its digest. The compression here is written out, not imported, so this
revision does the same whatever the engine's code becomes.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
RAW_DEFLATE = -15
"""Bodies are raw deflate (RFC 1951), as ``engine.store.body_rows`` writes them; their SHA-256 checks them."""

_notices = sa.table("notices", sa.column("id", sa.Integer), sa.column("body", sa.Text),
                    sa.column("body_digest", sa.LargeBinary))
_bodies = sa.table("notice_bodies", sa.column("digest", sa.LargeBinary), sa.column("dictionary", sa.LargeBinary),
                   sa.column("content", sa.LargeBinary))
_dictionaries = sa.table("notice_dictionaries", sa.column("digest", sa.LargeBinary),
                         sa.column("content", sa.LargeBinary))


def upgrade() -> None:
    op.create_table(
        "notice_dictionaries",
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_notice_dictionaries")),
    )
    op.create_table(
        "notice_bodies",
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("dictionary", sa.LargeBinary(length=32), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["dictionary"], ["notice_dictionaries.digest"],
                                name=op.f("fk_notice_bodies_dictionary_notice_dictionaries")),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_notice_bodies")),
    )
    op.add_column("notices", sa.Column("body_digest", sa.LargeBinary(length=32), nullable=True))
    connection = op.get_bind()
    last = 0
    while True:
        rows = list(connection.execute(sa.select(_notices.c.id, _notices.c.body).where(_notices.c.id > last)
                                       .order_by(_notices.c.id).limit(BATCH)))
        if not rows:
            break
        last = rows[-1].id
        digests = {row.id: hashlib.sha256(row.body.encode("utf-8")).digest() for row in rows}
        present = {bytes(found) for found in connection.execute(
            sa.select(_bodies.c.digest).where(_bodies.c.digest.in_(sorted(set(digests.values()))))).scalars()}
        new: dict[bytes, bytes] = {}
        for row in rows:
            digest = digests[row.id]
            if digest not in present and digest not in new:
                compressor = zlib.compressobj(9, zlib.DEFLATED, RAW_DEFLATE)
                new[digest] = compressor.compress(row.body.encode("utf-8")) + compressor.flush()
        if new:
            connection.execute(sa.insert(_bodies), [{"digest": d, "dictionary": None, "content": c}
                                                    for d, c in new.items()])
        connection.execute(sa.update(_notices).where(_notices.c.id == sa.bindparam("notice_id"))
                           .values(body_digest=sa.bindparam("digest")),
                           [{"notice_id": notice_id, "digest": digest} for notice_id, digest in digests.items()])
    with op.batch_alter_table("notices") as batch:
        batch.alter_column("body_digest", existing_type=sa.LargeBinary(length=32), nullable=False)
        batch.drop_column("body")
    op.create_index("ix_notices_body_digest", "notices", ["body_digest"])


def _text(content: bytes, dictionary: bytes | None) -> str:
    decompressor = (zlib.decompressobj(RAW_DEFLATE, dictionary) if dictionary is not None
                    else zlib.decompressobj(RAW_DEFLATE))
    return (decompressor.decompress(content) + decompressor.flush()).decode("utf-8")


def downgrade() -> None:
    op.drop_index("ix_notices_body_digest", table_name="notices")
    op.add_column("notices", sa.Column("body", sa.Text(), nullable=True))
    connection = op.get_bind()
    dictionaries = {bytes(digest): zlib.decompress(bytes(content))
                    for digest, content in connection.execute(sa.select(_dictionaries.c.digest, _dictionaries.c.content))}
    last = 0
    while True:
        rows = list(connection.execute(sa.select(_notices.c.id, _notices.c.body_digest).where(_notices.c.id > last)
                                       .order_by(_notices.c.id).limit(BATCH)))
        if not rows:
            break
        last = rows[-1].id
        wanted = sorted({bytes(row.body_digest) for row in rows})
        bodies = {bytes(digest): _text(bytes(content), dictionaries[bytes(dictionary)] if dictionary else None)
                  for digest, dictionary, content in connection.execute(
                      sa.select(_bodies.c.digest, _bodies.c.dictionary, _bodies.c.content)
                      .where(_bodies.c.digest.in_(wanted)))}
        connection.execute(
            sa.update(_notices).where(_notices.c.id == sa.bindparam("notice_id")).values(body=sa.bindparam("text")),
            [{"notice_id": row.id,
              "text": bodies.get(bytes(row.body_digest),
                                 f"[deleted after delivery (retention); sha256:{bytes(row.body_digest).hex()}]")}
             for row in rows])
    with op.batch_alter_table("notices") as batch:
        batch.alter_column("body", existing_type=sa.Text(), nullable=False)
        batch.drop_column("body_digest")
    op.drop_table("notice_bodies")
    op.drop_table("notice_dictionaries")
