"""The escalation scan: fire every escalation step that has fallen due, each exactly once.

Entering a state stores its deadline and the time of its first escalation step on the case
(``next_step``/``next_step_at``, written by ``engine.app.commands`` in the same transaction as the move).
The scan reads the due cases through the ``next_step_at`` index, then handles each case in its
own short transaction: claim the row, check it still waits for the same step of the same state
entry, record the step under its unique key, queue the step's notices in the outbox, and move the
pointer to the next step with a compare-and-set. Whatever happens between the scan's read and a
case's transaction — a staff member moving the case, another runner, a crash — a step fires at
most once, and never for a state the case has left.

A runner that was down catches up: a case whose later steps are also past due comes back in the
next batch of the same scan and fires them in order, one step per transaction.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from engine.notices.outbox import case_notices, queue
from engine.app.runtime import Runtime
from engine.store import escalation_rows, notice_rows
from engine.store.escalation_rows import DueCase

__all__ = ["EscalationFired", "escalate_due", "fire_step"]

log = logging.getLogger(__name__)

MAX_BATCHES = 100_000
"""Safety bound on batches per scan; every productive batch fires at least one step anyway."""
IDLE_BATCHES = 3
"""Consecutive batches that fire nothing after which a scan leaves the rest to other runners."""


@dataclass(frozen=True, slots=True)
class EscalationFired:
    """One escalation step that fired: for whom it was queued and how late the case was."""

    number: str
    state: str
    step: int
    """1-based, as people count it: the first reminder after the deadline is step 1."""
    recipients: int
    due_at: datetime
    late_by: int
    """Whole minutes between the state's deadline and the moment the step fired."""
    undelivered: tuple[str, ...] = ()
    """The step's notice when it reached nobody (kept as undeliverable, copied to the fallback)."""


def escalate_due(engine: Runtime, *, limit: int = 1000, now: datetime | None = None,
                 should_stop: Callable[[], bool] | None = None) -> list[EscalationFired]:
    """Fire every escalation step due at ``now`` (default: the engine's clock); returns what fired.

    ``limit`` is the batch size: up to ``limit`` due cases are read at a time, the longest-waiting
    first, and batches are read again until none is left (or only cases another runner holds).
    ``should_stop`` lets a stopping server end the scan between cases; the next scan picks up
    the rest.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    moment = now or engine.clock()
    fired: list[EscalationFired] = []
    failed: set[int] = set()
    idle = 0
    for _ in range(MAX_BATCHES):
        batch = engine.db.read(lambda c: escalation_rows.due_cases(c, moment, limit, failed))
        if not batch:
            break
        # Runners that read the same batch start at different places in it and re-read it as
        # soon as they meet a case another runner holds or has just done, so they split the
        # work instead of one trailing the other and re-checking every case it did.
        start = random.randrange(len(batch))
        productive = False
        for due in batch[start:] + batch[:start]:
            if should_stop is not None and should_stop():
                return fired
            try:
                outcome, taken = engine.db.transaction(lambda connection: _fire(engine, connection, due, moment))
            except Exception:  # noqa: BLE001 - one broken case must not stop the reminders of all others
                log.exception("escalation of case id %s failed; it is retried on the next scan", due.id)
                failed.add(due.id)
                continue
            if outcome is not None:
                fired.append(outcome)
                productive = True
            if taken:
                break
        # Batches that fire nothing hold only cases other runners are doing (or that moved on
        # or failed); a few re-reads let this runner help, then it leaves them to the others.
        idle = 0 if productive else idle + 1
        if idle >= IDLE_BATCHES:
            break
    return fired


def fire_step(engine: Runtime, due: DueCase, now: datetime) -> EscalationFired | None:
    """Fire the step ``due`` points at, in one transaction; None if the case moved or it already fired."""
    return engine.db.transaction(lambda connection: _fire(engine, connection, due, now))[0]


def _fire(engine: Runtime, connection: Connection, due: DueCase,
          now: datetime) -> tuple[EscalationFired | None, bool]:
    """(the step fired or None, whether another runner or command had the case first)."""
    case = escalation_rows.claim_case(connection, due.id)
    if case is None:
        return None, True
    if (case.state_entry, case.next_step) != (due.state_entry, due.next_step):
        return None, True
    if case.next_step is None or case.next_step_at is None or case.due_at is None or case.next_step_at > now:
        return None, False
    compiled = engine.compiled(connection, case.workflow, case.definition_version)
    state = compiled.definition.states.get(case.state)
    deadline = state.deadline if state is not None else None
    index = case.next_step
    if deadline is None or index >= len(deadline.escalation):
        # The pointer outlived its steps (e.g. a state renamed by a migration): retire it quietly.
        escalation_rows.move_to_step(connection, case.id, case.state_entry, index, None, None)
        return None, False
    steps = deadline.escalation
    following = index + 1
    next_at = (engine.calendar(compiled, deadline.calendar).add(case.due_at, steps[following].after)
               if following < len(steps) else None)
    if not escalation_rows.move_to_step(connection, case.id, case.state_entry, index,
                                        following if next_at is not None else None, next_at):
        return None, True
    if not escalation_rows.record_step(connection, case, index, now):
        # Already recorded (a command that wrote back a stale pointer): the pointer has just been
        # moved past it, and the reminder went out the first time.
        return None, False
    step = steps[index]
    rows = case_notices(connection, compiled, case, [(step.notify, step.template)], now, engine.routing,
                        escalation_step=index, source="escalation", base_url=engine.base_url)
    queue(connection, compiled, rows)
    missed = tuple(f"notice {row['template']} reached nobody: {row['last_error']}"
                   for row in rows if row["status"] == notice_rows.UNDELIVERABLE)
    reached = sum(row["status"] != notice_rows.UNDELIVERABLE for row in rows)
    return EscalationFired(case.number, case.state, index + 1, reached, case.due_at,
                           max(0, int((now - case.due_at).total_seconds() // 60)), missed), False
