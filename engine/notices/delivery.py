"""Delivering the outbox: claim due notices, send each through its channel, record the result.

At-least-once, never lost:

1. **Claim** (one short transaction): up to ``batch`` pending notices with ``next_attempt_at <=
   now`` get ``attempts + 1`` and ``next_attempt_at = now + lease`` — on PostgreSQL with ``FOR
   UPDATE SKIP LOCKED``, so several runners take different rows. Nothing is sent while a
   transaction is open.
2. **Send** each claimed notice through its channel, outside any transaction: each channel claims
   and sends its notices one after the other on a thread of its own, each within the channel's deadline (its
   ``*_TIMEOUT`` setting, for the whole send), so a receiver that stalls holds up only its own
   notices. A send that outlives its deadline is abandoned and retried with backoff; when the run is
   asked to stop, the sends under way are abandoned and their notices released (due again at once).
3. **Record** each result in its own short transaction: ``sent`` only after the channel accepted
   the message; otherwise ``next_attempt_at = now + backoff`` (temporary failure), or ``failed``
   when the failure is permanent or the attempts are used up.

A runner killed between 1 and 3 leaves its rows pending with the lease as ``next_attempt_at``:
when the lease runs out they are due again, and the receiver may get one notice twice — always
with the same message id, so it can drop the duplicate. The lease must outlast sending one batch
(``batch`` notices × the slowest channel's deadline; the defaults give 10 × 20 s < 300 s).
Errors are stored without the secrets of any URL in them (``engine.core.masking.without_secrets``).

Backoff: ``backoff × 2^(attempts-1)``, at most ``backoff_max``, plus up to ``jitter`` of that,
derived from the message id (not random) so a replay schedules the same times while notices that
failed together still spread out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection

from engine.channels.base import Channel, ChannelSet, DeliveryFailure
from engine.channels.message import Outbound
from engine.core.masking import without_secrets
from engine.errors import InvalidInput, NotFound
from engine.notices.policy import DeliveryPolicy
from engine.store import body_rows, notice_rows
from engine.core.clock import Clock
from engine.store.database import Database
from engine.store.notice_rows import NoticeRow

FORGOTTEN_ONCE_SENT = frozenset({"whatsapp"})
"""Sources of notices whose text is deleted as soon as they are delivered (the row and the digest of
what was sent stay): the WhatsApp conversation's replies, which carry the tracking code — kept
nowhere else but as a hash."""

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
                    created_at=row.created_at, case_number=row.case_number, template=row.template,
                    channel_data=row.channel_data)


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
                limit: int = 100, now: datetime | None = None,
                should_stop: Callable[[], bool] | None = None) -> DeliveryReport:
    """Send up to ``limit`` notices that are due through ``channels``; ``now`` defaults to ``clock()``
    (read per batch). The caller owns the channels (and closes them).

    Each configured channel claims and sends its own notices on a thread of its own (one more
    thread takes the notices of channels not configured here), so a receiver that stalls holds up
    only its own notices. ``should_stop`` is asked between notices and while a send is under way:
    once it answers true, the sends under way are abandoned (their notices are due again at once,
    no attempt counted) and the run returns within a fraction of a second.
    """
    if limit < 1:
        raise InvalidInput(f"--limit must be at least 1, not {limit}")
    run = _Run(database, clock, channels, policy, now)
    budget = _Budget(limit, should_stop or (lambda: False))
    configured = list(channels)
    lanes = [_Lane(run, budget, name, channels.get(name)) for name in configured]
    lanes.append(_Lane(run, budget, None, None, other_than=tuple(configured)))
    threads = [threading.Thread(target=lane.work, name=f"treckk-deliver-{lane.name or 'other'}", daemon=True)
               for lane in lanes]
    for thread in threads:
        thread.start()
    for thread in threads:
        # Joined with a timeout so the calling (main) thread keeps running signal handlers.
        while thread.is_alive():
            thread.join(_POLL)
    failures = [lane.crash for lane in lanes if lane.crash is not None]
    if failures:
        raise failures[0]
    results = [result for lane in lanes for result in lane.results]
    return DeliveryReport(
        sent=sum(r.outcome == "sent" for r in results),
        retried=sum(r.outcome == "retry" for r in results),
        failed=sum(r.outcome == "failed" for r in results),
        results=tuple(results),
    )


_GRACE = 2.0
"""Seconds past a channel's own deadline after which its lane stops waiting for the send."""
_POLL = 0.1
"""Seconds between two looks at ``should_stop`` while a send is under way."""
DEFAULT_DEADLINE = 30.0
"""The deadline of one send through a channel that names none (``deadline`` attribute)."""


class _Budget:
    """How many notices the run may still take, shared by the lanes; and whether to stop."""

    def __init__(self, limit: int, should_stop: Callable[[], bool]) -> None:
        self._left = limit
        self._lock = threading.Lock()
        self.stop = should_stop

    def take(self, wanted: int) -> int:
        with self._lock:
            granted = min(wanted, self._left)
            self._left -= granted
            return granted

    def give_back(self, unused: int) -> None:
        with self._lock:
            self._left += unused


class _Lane:
    """The notices of one channel (or of every channel not configured here) in one run."""

    def __init__(self, run: _Run, budget: _Budget, name: str | None, channel: Channel | None, *,
                 other_than: tuple[str, ...] = ()) -> None:
        self.run, self.budget, self.name, self.channel = run, budget, name, channel
        self.other_than = other_than
        self.deadline = float(getattr(channel, "deadline", DEFAULT_DEADLINE))
        self.results: list[DeliveryResult] = []
        self.crash: BaseException | None = None

    def work(self) -> None:
        try:
            self._work()
        except BaseException as exc:  # noqa: BLE001 - raised again on the caller's thread
            self.crash = exc

    def _work(self) -> None:
        run, policy = self.run, self.run.policy
        while not self.budget.stop():
            size = self.budget.take(policy.batch)
            if size == 0:
                return
            moment = run.moment()
            lease_until = moment + timedelta(seconds=policy.lease)
            only = None if self.name is None else (self.name,)
            claimed = run.database.transaction(lambda connection: notice_rows.claim_due(
                connection, moment, lease_until, size, policy.max_attempts, channels=only,
                other_than=self.other_than))
            self.budget.give_back(size - len(claimed.rows) - len(claimed.abandoned))
            for row in claimed.abandoned:
                self.results.append(DeliveryResult(row.id, row.message_id, row.channel, "failed", row.attempts,
                                                   None, row.last_error))
            if not claimed.rows and not claimed.abandoned:
                return
            for index, row in enumerate(claimed.rows):
                result, go_on = self._deliver_one(row)
                self.results.append(result)
                if not go_on:
                    why = "delivery stopped" if self.budget.stop() else f"an earlier send through {row.channel!r} hung"
                    self.results.extend(_release(run, rest, why) for rest in claimed.rows[index + 1:])
                    return

    def _deliver_one(self, row: NoticeRow) -> tuple[DeliveryResult, bool]:
        """Send one notice on a thread of its own and wait for it, its deadline, or a stop;
        the flag says whether this lane may go on sending (its channel is not stuck)."""
        if self.budget.stop():
            return _release(self.run, row, "delivery stopped"), False
        outcome: list[BaseException | str | None] = []
        sender = threading.Thread(target=_send, args=(self.run, self.channel, row, outcome),
                                  name=f"treckk-send-{row.channel}", daemon=True)
        started = time.monotonic()
        sender.start()
        while sender.is_alive():
            sender.join(_POLL)
            if not sender.is_alive():
                break
            if self.budget.stop():
                # The thread may stay blocked in the channel; the notice is given back unsent.
                return _release(self.run, row, "delivery stopped while sending"), False
            if time.monotonic() - started > self.deadline + _GRACE:
                return _record_failure(self.run, row, f"sending through {row.channel!r} did not finish within "
                                                      f"{self.deadline:g} s; abandoned", False), False
        return _result_of(self.run, row, outcome[0] if outcome else None), True


def _send(run: _Run, channel: Channel | None, row: NoticeRow, outcome: list[BaseException | str | None]) -> None:
    try:
        if channel is None:
            raise DeliveryFailure(f"channel {row.channel!r} is not configured in this process "
                                  f"({run.channels.how_to_configure(row.channel)})")
        provider_id = channel.send(outbound_of(row))
    except Exception as exc:  # noqa: BLE001 - a channel bug must not stop the other notices; it is recorded
        outcome.append(exc)
        return
    outcome.append(provider_id if isinstance(provider_id, str) else None)


def _result_of(run: _Run, row: NoticeRow, error: BaseException | str | None) -> DeliveryResult:
    """``error`` is the send's exception, or (when it succeeded) the receiver's id for the message or None."""
    if isinstance(error, DeliveryFailure):
        return _record_failure(run, row, str(error), error.permanent)
    if isinstance(error, BaseException):
        return _record_failure(run, row, f"unexpected {type(error).__name__} in channel {row.channel!r}: {error}",
                               False)
    finished = run.moment()

    def sent(connection: Connection) -> None:
        if notice_rows.mark_sent(connection, row, finished, error) and row.source in FORGOTTEN_ONCE_SENT:
            body_rows.forget_delivered(connection, row.body_digest)

    run.database.transaction(sent)
    return DeliveryResult(row.id, row.message_id, row.channel, "sent", row.attempts)


def _release(run: _Run, row: NoticeRow, why: str) -> DeliveryResult:
    """Give a claimed notice back unsent: due again now, the attempt not counted."""
    moment = run.moment()
    message = f"not sent: {why}"
    recorded = run.database.transaction(lambda connection: notice_rows.release(connection, row, moment, message))
    return DeliveryResult(row.id, row.message_id, row.channel, _outcome(recorded, "retry"), row.attempts - 1,
                          moment, message)


def _outcome(recorded: bool, outcome: str) -> str:
    # A claim that no longer holds (the lease ran out and another runner, or `treckk notices
    # retry`, took the row) must not be overwritten; the run reports it as superseded.
    return outcome if recorded else "superseded"


def _record_failure(run: _Run, row: NoticeRow, error: str, permanent: bool) -> DeliveryResult:
    moment, policy = run.moment(), run.policy
    error = without_secrets(error)[:_ERROR_LIMIT]
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
