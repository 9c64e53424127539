"""The in-memory shape of one case and one history event, shared by the core and the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class CaseRecord:
    """A case as loaded for one command; the shared state machine sets ``state`` on it."""

    id: int
    number: str
    workflow: str
    definition_version: int
    definition_digest: str
    state: str
    data: dict[str, Any]
    scope: str | None
    """The case's value of its workflow's ``scope_field`` (None when it has none or it is not set yet)."""
    version: int
    created_at: datetime
    updated_at: datetime
    state_entered_at: datetime
    state_entry: int
    """Sequence number of the event that entered the current state; keys escalation steps."""
    due_at: datetime | None = None
    next_step: int | None = None
    """Index of the next escalation step of the current state (0-based), or None."""
    next_step_at: datetime | None = None
    last_hash: str = ""
    undelivered: tuple[str, ...] = field(default=(), compare=False, metadata={"stored": False})
    """What the command that returned this record wants its caller told: each notice it queued
    that reached nobody (kept as undeliverable, copied to the fallback). Not stored."""


def enter_state(case: CaseRecord, state: str, now: datetime, due_at: datetime | None, next_step: int | None,
                next_step_at: datetime | None) -> None:
    """Put ``case`` into ``state`` as of ``now``: the entry is keyed by the case's current version
    (the sequence number of the event that enters it), and the state's deadline starts afresh."""
    case.state = state
    case.state_entered_at = now
    case.state_entry = case.version
    case.due_at, case.next_step, case.next_step_at = due_at, next_step, next_step_at


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One row of a case's append-only history."""

    case_id: int
    seq: int
    trigger: str
    from_state: str | None
    to_state: str
    actor: str
    role: str
    at: datetime
    input: dict[str, Any] = field(default_factory=dict)
    comment: str | None = None
    idempotency_key: str | None = None
    prev_hash: str = ""
    hash: str = ""


def case_number_key(text: str) -> str:
    """A case number as it is stored: prefixes are capitals, so ``trk-2026-000001`` is ``TRK-2026-000001``."""
    return text.strip().upper()
