"""The outbox of notices. Functions take the caller's connection.

A notice row is ``pending`` until a channel accepted it (``sent``) or delivery gave up
(``failed``). A delivery runner *claims* due rows in a short transaction — on PostgreSQL with
``FOR UPDATE SKIP LOCKED``, so several runners split the work instead of queueing on each other —
by counting the attempt and moving ``next_attempt_at`` to the end of a lease. Until the lease ends
no other runner takes the row; if the runner dies, the lease simply runs out and the row is due
again. The pair (``attempts``, ``next_attempt_at``) written by the claim is the claim's token:
recording a failure only touches the row while that token still holds, so a runner that was too
slow cannot undo what a later runner (or ``treckk notices retry``) did.

A row keeps the SHA-256 of its body; the body itself is stored once, compressed, in
``notice_bodies`` (``engine.store.body_rows``), and retention may delete it once delivered: such a
row reads with ``body`` None and its ``body_digest`` still there.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, select, update

from engine.store import body_rows, schema
from engine.store.prepared import PreparedStatement
from engine.store.schema import cases

notices = schema.notices

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
UNDELIVERABLE = "undeliverable"
"""A notice whose staff recipients resolved to nobody active: kept for the record, never sent."""
STATUSES = (PENDING, SENT, FAILED, UNDELIVERABLE)


@dataclass(frozen=True, slots=True)
class NoticeRow:
    """One outbox row, with the number of the case it is about (None for periodic notices)."""

    id: int
    message_id: str
    case_id: int | None
    case_number: str | None
    event_seq: int | None
    source: str
    template: str
    recipient_kind: str
    recipient_name: str
    recipient_username: str | None
    recipient_role: str | None
    channel: str
    address: str | None
    subject: str
    body_digest: str
    """The SHA-256 of the body's UTF-8 text, in hexadecimal."""
    is_html: bool
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    channel_data: str | None = None
    """What the channel needs beyond the text, as JSON (a WhatsApp template call), or None."""
    provider_id: str | None = None
    """The receiver's id for the sent message (WhatsApp's ``wamid``), when it gave one."""
    receipt: str | None = None
    """The last status the receiver reported for it (``delivered``, ``read``, ``failed``), if any."""
    body: str | None = None
    """The body sent, or None when retention pruned it (``body_digest`` proves what it was)."""

    @property
    def pruned(self) -> bool:
        return self.body is None


_COLUMNS = (
    notices.c.id, notices.c.message_id, notices.c.case_id, cases.c.number, notices.c.event_seq, notices.c.source,
    notices.c.template, notices.c.recipient_kind, notices.c.recipient_name, notices.c.recipient_username,
    notices.c.recipient_role, notices.c.channel, notices.c.address, notices.c.subject,
    notices.c.body_digest, notices.c.is_html, notices.c.status, notices.c.attempts, notices.c.next_attempt_at, notices.c.last_error,
    notices.c.created_at, notices.c.sent_at, notices.c.channel_data, notices.c.provider_id, notices.c.receipt,
)  # fmt: skip

_select = select(*_COLUMNS).select_from(notices.outerjoin(cases, cases.c.id == notices.c.case_id))


def _rows(connection: Connection, found: Iterable[Any]) -> list[NoticeRow]:
    """Rows as NoticeRow, each with its stored body (None when pruned)."""
    rows = [_without_body(row) for row in found]
    bodies = body_rows.load(connection, [row.body_digest for row in rows])
    return [replace(row, body=bodies.get(row.body_digest)) for row in rows]


def _without_body(row: Any) -> NoticeRow:
    values = list(row)
    values[14] = bytes(values[14]).hex()  # the digest is stored as its 32 bytes
    values[15] = bool(values[15])  # is_html comes back as 0/1 from SQLite
    return NoticeRow(*values)


def _row(connection: Connection, row: Any) -> NoticeRow | None:
    return _rows(connection, [row])[0] if row else None


_NOTICE_FIELDS = (
    "message_id", "case_id", "event_seq", "source", "template", "recipient_kind", "recipient_name",
    "recipient_username", "recipient_role", "channel", "address", "subject", "body_digest", "is_html", "status",
    "attempts", "next_attempt_at", "last_error", "created_at", "sent_at",
)
_OPTIONAL_FIELDS = ("channel_data",)
"""Columns a rendered row may leave out (None)."""
_insert_notice = PreparedStatement(insert(notices).values({name: bindparam(name)
                                                           for name in (*_NOTICE_FIELDS, *_OPTIONAL_FIELDS)}))


def insert_notices(connection: Connection, rows: Sequence[dict[str, Any]],
                   dictionary: body_rows.Dictionary | None = None) -> None:
    """Queue rendered notices in the caller's transaction (nothing is sent here).

    Each row gives every column of ``_NOTICE_FIELDS`` but ``body_digest``, and the ``body``
    (``engine.notices.outbox.render_rows`` builds them); the bodies are stored once each,
    compressed with ``dictionary`` (``engine.store.body_rows``).
    """
    if not rows:
        return
    digests = body_rows.store(connection, [row["body"] for row in rows], dictionary)
    _insert_notice.many(connection, [{**{name: row[name] for name in _NOTICE_FIELDS if name != "body_digest"},
                                      **{name: row.get(name) for name in _OPTIONAL_FIELDS},
                                      "body_digest": bytes.fromhex(digest)}
                                     for row, digest in zip(rows, digests, strict=True)])


def by_id(connection: Connection, notice_id: int) -> NoticeRow | None:
    """The notice with this id, or None."""
    return _row(connection, connection.execute(_select.where(notices.c.id == notice_id)).first())


def by_message_id(connection: Connection, message_id: str) -> NoticeRow | None:
    """The notice with this message id, or None."""
    return _row(connection, connection.execute(_select.where(notices.c.message_id == message_id)).first())


def list_notices(connection: Connection, *, case_id: int | None = None, status: str | None = None,
                 limit: int | None = None, bodies: bool = True) -> list[NoticeRow]:
    """Notices, oldest first (by id), optionally of one case and/or in one status; ``bodies=False``
    leaves every ``body`` None (not read nor decompressed), for listings."""
    statement = _select
    if case_id is not None:
        statement = statement.where(notices.c.case_id == case_id)
    if status is not None:
        statement = statement.where(notices.c.status == status)
    statement = statement.order_by(notices.c.id)
    if limit is not None:
        statement = statement.limit(limit)
    found = connection.execute(statement)
    return _rows(connection, found) if bodies else [_without_body(row) for row in found]


def _narrowed(status: str | None, channel: str | None, recipient: str | None, before: int | None) -> list[Any]:
    where: list[Any] = []
    if status is not None:
        where.append(notices.c.status == status)
    if channel is not None:
        where.append(notices.c.channel == channel)
    if recipient is not None:
        # The complainant has no username: the NULL range of the same index, narrowed to their kind.
        where.extend([notices.c.recipient_username.is_(None), notices.c.recipient_kind == recipient]
                     if recipient == "pelapor" else [notices.c.recipient_username == recipient])
    if before is not None:
        where.append(notices.c.id < before)
    return where


def page_newest_first(connection: Connection, *, status: str | None = None, channel: str | None = None,
                      recipient: str | None = None, before: int | None = None, limit: int = 50) -> list[NoticeRow]:
    """Up to ``limit`` notices with ids below ``before``, newest first, narrowed by status, channel and
    recipient (a username, or ``pelapor``: the complainant); bodies are not read. Each combination reads
    one range of an index ending in ``id``: ``(status, id)``, ``(channel, id)``,
    ``(recipient_username, id)``, or the primary key."""
    statement = (_select.where(and_(True, *_narrowed(status, channel, recipient, before)))
                 .order_by(notices.c.id.desc()).limit(limit))
    return [_without_body(row) for row in connection.execute(statement)]


def any_before(connection: Connection, *, status: str | None, channel: str | None, recipient: str | None,
               before: int) -> bool:
    """Whether any notice so narrowed has an id below ``before`` (one index probe)."""
    return connection.execute(select(notices.c.id).where(and_(True, *_narrowed(status, channel, recipient, before)))
                              .limit(1)).first() is not None


def count_by_status(connection: Connection) -> dict[str, int]:
    """How many notices are in each status (every status present, zero when none)."""
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in connection.execute(
            select(notices.c.status, func.count()).group_by(notices.c.status)):
        counts[status] = int(count)
    return counts


@dataclass(frozen=True, slots=True)
class Claimed:
    """What one claim transaction took: rows to send now, and rows it gave up on."""

    rows: list[NoticeRow]
    abandoned: list[NoticeRow]


def claim_due(connection: Connection, now: datetime, lease_until: datetime, limit: int,
              max_attempts: int, *, channels: Collection[str] | None = None,
              other_than: Collection[str] = ()) -> Claimed:
    """Take up to ``limit`` due pending notices for one runner until ``lease_until``.

    A row whose attempts are already used up (its earlier runners died before recording a
    result) is marked ``failed`` instead of being tried again, so a notice that kills its runner
    cannot stop delivery for ever. ``channels`` takes only notices of those channels, ``other_than``
    only notices of other channels (delivery claims each channel's notices on its own).
    """
    which = [notices.c.status == PENDING, notices.c.next_attempt_at <= now]
    if channels is not None:
        which.append(notices.c.channel.in_(list(channels)))
    if other_than:
        which.append(notices.c.channel.not_in(list(other_than)))
    due = (
        select(notices.c.id, notices.c.attempts)
        .where(and_(*which))
        .order_by(notices.c.next_attempt_at, notices.c.id)
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        # Rows another runner is claiming right now are skipped, not waited for.
        due = due.with_for_update(skip_locked=True)
    found = list(connection.execute(due))
    take = [row.id for row in found if row.attempts < max_attempts]
    exhausted = [row.id for row in found if row.attempts >= max_attempts]
    if exhausted:
        connection.execute(
            update(notices).where(notices.c.id.in_(exhausted)).values(
                status=FAILED, next_attempt_at=None,
                last_error=func.coalesce(notices.c.last_error, "") + _ABANDONED.format(max_attempts)))
    if take:
        connection.execute(
            update(notices).where(notices.c.id.in_(take)).values(
                attempts=notices.c.attempts + 1, next_attempt_at=lease_until))
    rows = _rows(connection, connection.execute(_select.where(notices.c.id.in_(take + exhausted))
                                                .order_by(notices.c.next_attempt_at, notices.c.id))) \
        if found else []
    return Claimed([r for r in rows if r.id in take], [r for r in rows if r.id in exhausted])


_ABANDONED = " [gave up: attempt {} did not record a result; the delivering process stopped while sending]"


def _claim_holds(row: NoticeRow) -> Any:
    return and_(notices.c.id == row.id, notices.c.status == PENDING, notices.c.attempts == row.attempts,
                notices.c.next_attempt_at == row.next_attempt_at)


def mark_sent(connection: Connection, row: NoticeRow, now: datetime, provider_id: str | None = None) -> bool:
    """Record that a channel accepted the notice (``provider_id``: the receiver's id for it, if given).

    Not fenced by the claim: the message did go out, which is true whoever claimed the row since.
    """
    values: dict[str, Any] = {"status": SENT, "sent_at": now, "next_attempt_at": None, "last_error": None}
    if provider_id is not None:
        values["provider_id"] = provider_id[:128]
    result = connection.execute(
        update(notices).where(and_(notices.c.id == row.id, notices.c.status != SENT)).values(**values))
    return result.rowcount == 1


def receipt_of(connection: Connection, provider_id: str) -> str | None:
    """The last status recorded for the message the receiver knows as ``provider_id``: ``""`` when none yet,
    None when no notice carries that id."""
    row = connection.execute(select(notices.c.receipt).where(notices.c.provider_id == provider_id).limit(1)).first()
    return None if row is None else (row.receipt or "")


def record_receipt(connection: Connection, provider_id: str, receipt: str, *, error: str | None = None) -> bool:
    """Record what the receiver reported about the message it knows as ``provider_id``.

    ``failed`` (the receiver could not deliver what it had accepted) makes a sent notice ``failed``
    with ``error``, so it is listed with the other failures and can be retried; other statuses
    are kept in ``receipt``. False when no notice carries that id.
    """
    values: dict[str, Any] = {"receipt": receipt[:16]}
    if receipt == FAILED:
        values.update(status=FAILED, last_error=error or "the receiver reported the message as failed")
    result = connection.execute(update(notices).where(notices.c.provider_id == provider_id).values(**values))
    return result.rowcount >= 1


def mark_retry(connection: Connection, row: NoticeRow, next_attempt_at: datetime, error: str) -> bool:
    """Record a failed attempt and when to try again; False when the claim no longer holds."""
    result = connection.execute(
        update(notices).where(_claim_holds(row)).values(next_attempt_at=next_attempt_at, last_error=error))
    return result.rowcount == 1


def mark_failed(connection: Connection, row: NoticeRow, error: str) -> bool:
    """Give up on the notice (``failed``); False when the claim no longer holds."""
    result = connection.execute(
        update(notices).where(_claim_holds(row)).values(status=FAILED, next_attempt_at=None, last_error=error))
    return result.rowcount == 1


def requeue(connection: Connection, notice_id: int, now: datetime, *, address: str | None = None) -> bool:
    """Make a pending or failed notice due at ``now`` with a fresh budget of attempts.

    ``address`` replaces where it goes, e.g. after a wrong phone number was corrected.
    ``last_error`` is kept so the earlier failure stays visible until a new attempt.
    """
    values: dict[str, Any] = {"status": PENDING, "attempts": 0, "next_attempt_at": now}
    if address is not None:
        values["address"] = address
    result = connection.execute(
        update(notices).where(and_(notices.c.id == notice_id, notices.c.status.in_((PENDING, FAILED))))
        .values(**values))
    return result.rowcount == 1


def release(connection: Connection, row: NoticeRow, now: datetime, error: str) -> bool:
    """Give a claimed notice back unsent: due at ``now``, its attempt not counted (delivery stopped
    or its channel hung before it was tried); False when the claim no longer holds."""
    result = connection.execute(
        update(notices).where(_claim_holds(row)).values(attempts=notices.c.attempts - 1, next_attempt_at=now,
                                                       last_error=error))
    return result.rowcount == 1
