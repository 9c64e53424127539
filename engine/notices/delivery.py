"""Delivering the outbox: claim due notices, send each through its channel, record the result.

At-least-once, never lost:

1. **Claim** (one short transaction): up to ``batch`` pending notices with ``next_attempt_at <=
   now`` get ``attempts + 1`` and ``next_attempt_at = now + lease`` — on PostgreSQL with ``FOR
   UPDATE SKIP LOCKED``, so several runners take different rows. Nothing is sent while a
   transaction is open.
2. **Send** each claimed notice through its channel, outside any transaction.
3. **Record** each result in its own short transaction: ``sent`` only after the channel accepted
   the message; otherwise ``next_attempt_at = now + backoff`` (temporary failure), or ``failed``
   when the failure is permanent or the attempts are used up.

A runner killed between 1 and 3 leaves its rows pending with the lease as ``next_attempt_at``:
when the lease runs out they are due again, and the receiver may get one notice twice — always
with the same message id, so it can drop the duplicate. The lease must outlast sending one batch
(``batch`` notices × the slowest channel's timeout; the defaults give 10 × 20 s < 300 s).

Backoff: ``backoff × 2^(attempts-1)``, at most ``backoff_max``, plus up to ``jitter`` of that,
derived from the message id (not random) so a replay schedules the same times while notices that
failed together still spread out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from engine.channels.base import ChannelSet, DeliveryFailure
from engine.channels.message import Outbound
from engine.errors import InvalidInput, NotFound
from engine.notices.policy import DeliveryPolicy
from engine.store import notice_rows
from engine.core.clock import Clock
from engine.store.database import Database
from engine.store.notice_rows import NoticeRow

_ERROR_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What happened to one notice in one delivery run."""

    notice_id: int
    message_id: str
    channel: str
    outcome: str
    """``sent``, ``retry`` (pending, tried again at ``next_attempt_at``), ``failed``, or ``superseded``
    (the claim ran out before the failure could be recorded; whoever holds the row now decides)."""
    attempts: int
    next_attempt_at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """Counts of one delivery run, and each notice's result."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    results: tuple[DeliveryResult, ...] = field(default_factory=tuple)

    @property
    def claimed(self) -> int:
        """How many notices this run took (each counted once)."""
        return len(self.results)


def outbound_of(row: NoticeRow) -> Outbound:
    """The message a channel sends for an outbox row (one whose body retention has not pruned)."""
    if row.body is None:
        raise NotFound(f"the body of notice {row.id} was deleted after delivery (retention); it was the text "
                       f"with sha256:{row.body_digest}")
    return Outbound(message_id=row.message_id, channel=row.channel, address=row.address,
                    recipient_name=row.recipient_name, subject=row.subject, body=row.body, is_html=row.is_html,
                    created_at=row.created_at, case_number=row.case_number, template=row.template)


@dataclass(frozen=True, slots=True)
class _Run:
    database: Database
    clock: Clock
    channels: ChannelSet
    policy: DeliveryPolicy
    now: datetime | None

    def moment(self) -> datetime:
        return self.now or self.clock()


def deliver_due(database: Database, clock: Clock, channels: ChannelSet, policy: DeliveryPolicy, *,
                limit: int = 100, now: datetime | None = None) -> DeliveryReport:
    """Send up to ``limit`` notices that are due through ``channels``; ``now`` defaults to ``clock()``
    (read per batch). The caller owns the channels (and closes them)."""
    if limit < 1:
        raise InvalidInput(f"--limit must be at least 1, not {limit}")
    run = _Run(database, clock, channels, policy, now)
    results: list[DeliveryResult] = []
    while len(results) < limit:
        moment = run.moment()
        lease_until = moment + timedelta(seconds=policy.lease)
        size = min(policy.batch, limit - len(results))
        claimed = database.transaction(lambda connection: notice_rows.claim_due(
            connection, moment, lease_until, size, policy.max_attempts))
        for row in claimed.abandoned:
            results.append(DeliveryResult(row.id, row.message_id, row.channel, "failed", row.attempts,
                                          None, row.last_error))
        for row in claimed.rows:
            results.append(_deliver_one(run, row))
        if not claimed.rows and not claimed.abandoned:
            break
    return DeliveryReport(
        sent=sum(r.outcome == "sent" for r in results),
        retried=sum(r.outcome == "retry" for r in results),
        failed=sum(r.outcome == "failed" for r in results),
        results=tuple(results),
    )


def _deliver_one(run: _Run, row: NoticeRow) -> DeliveryResult:
    channel = run.channels.get(row.channel)
    try:
        if channel is None:
            raise DeliveryFailure(f"channel {row.channel!r} is not configured in this process "
                                  f"({run.channels.how_to_configure(row.channel)})")
        channel.send(outbound_of(row))
    except DeliveryFailure as exc:
        return _record_failure(run, row, str(exc), exc.permanent)
    except Exception as exc:  # noqa: BLE001 - a channel bug must not stop the other notices; it is recorded
        return _record_failure(run, row, f"unexpected {type(exc).__name__} in channel {row.channel!r}: {exc}",
                               False)
    finished = run.moment()
    run.database.transaction(lambda connection: notice_rows.mark_sent(connection, row, finished))
    return DeliveryResult(row.id, row.message_id, row.channel, "sent", row.attempts)


def _outcome(recorded: bool, outcome: str) -> str:
    # A claim that no longer holds (the lease ran out and another runner, or `treckk notices
    # retry`, took the row) must not be overwritten; the run reports it as superseded.
    return outcome if recorded else "superseded"


def _record_failure(run: _Run, row: NoticeRow, error: str, permanent: bool) -> DeliveryResult:
    moment, policy = run.moment(), run.policy
    error = error[:_ERROR_LIMIT]
    if permanent or row.attempts >= policy.max_attempts:
        reason = "permanent failure" if permanent else f"gave up after {row.attempts} attempts"
        message = f"{reason}: {error}"
        recorded = run.database.transaction(lambda connection: notice_rows.mark_failed(connection, row, message))
        return DeliveryResult(row.id, row.message_id, row.channel, _outcome(recorded, "failed"), row.attempts, None,
                              message)
    retry_at = moment + policy.delay(row.attempts, row.message_id)
    message = f"attempt {row.attempts} of {policy.max_attempts} failed: {error}"
    recorded = run.database.transaction(lambda connection: notice_rows.mark_retry(connection, row, retry_at, message))
    return DeliveryResult(row.id, row.message_id, row.channel, _outcome(recorded, "retry"), row.attempts, retry_at,
                          message)
