"""Tamper evidence: each history event is hashed over its content and the previous event's hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import timezone

from engine.core.records import EventRecord

_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
"""The one JSON form events are hashed in; never change it, or every stored chain breaks."""


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
    return hashlib.sha256(_CANONICAL.encode(content).encode("utf-8")).hexdigest()


def sealed(case_number: str, event: EventRecord) -> EventRecord:
    """The event with its hash filled in."""
    return replace(event, hash=event_hash(case_number, event))


def first_broken(case_number: str, events: Sequence[EventRecord], last_hash: str, *, state: str | None = None,
                 version: int | None = None) -> tuple[int, str] | None:
    """The first event (seq, reason) whose chain does not hold, or None when all match.

    ``state`` and ``version`` are the case row's: its state must be where the last event led, and
    when the case claims more events than are stored, the reason names the missing ones.
    """
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
        if version is not None and version > len(events):
            missing = len(events) + 1
            which = f"event {missing} is" if version == missing else f"events {missing} to {version} are"
            return missing, (f"{which} missing: the case is at version {version} but its history ends at "
                             f"event {len(events)}")
        return len(events), "the case's last hash does not match its last event (events removed or added)"
    if state is not None and events and events[-1].to_state != state:
        return events[-1].seq, (f"the case is in state {state!r} but its last event led to "
                                f"{events[-1].to_state!r}")
    return None
