"""Tamper evidence: each history event is hashed over its content and the previous event's hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import timezone

from engine.cases import EventRecord


def event_hash(case_number: str, event: EventRecord) -> str:
    """SHA-256 over a canonical JSON of the event (UTC time, sorted keys) and the previous hash."""
    content = {
        "case": case_number,
        "seq": event.seq,
        "trigger": event.trigger,
        "from": event.from_state,
        "to": event.to_state,
        "actor": event.actor,
        "role": event.role,
        "at": event.at.astimezone(timezone.utc).isoformat(timespec="microseconds"),
        "input": event.input,
        "comment": event.comment,
        "idempotency_key": event.idempotency_key,
        "prev": event.prev_hash,
    }
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def sealed(case_number: str, event: EventRecord) -> EventRecord:
    """The event with its hash filled in."""
    return replace(event, hash=event_hash(case_number, event))


def first_broken(case_number: str, events: Sequence[EventRecord], last_hash: str) -> tuple[int, str] | None:
    """The first event (seq, reason) whose chain does not hold, or None when all match."""
    previous = ""
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            return event.seq, f"sequence number {event.seq} where {expected_seq} was expected"
        if event.prev_hash != previous:
            return event.seq, "its link to the previous event does not match"
        if event_hash(case_number, event) != event.hash:
            return event.seq, "its content does not match its hash"
        previous = event.hash
    if previous != last_hash:
        return len(events), "the case's last hash does not match its last event (events removed or added)"
    return None
