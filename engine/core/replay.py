"""Replaying a case from its history: what its row must hold, and where row, history and log disagree.

Given the case row, its events, the log's leaves for them (which carry the definition each event
was decided under) and the escalation steps recorded for it, ``replay_case`` recomputes every
column the rules decide — state, data, scope value, version, times, deadline and escalation
pointer, definition version and digest — and names each place where the stored row, the events
or the leaves do not agree. Pure: definitions and calendars are passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from engine.core.deadlines import WorkingCalendar, deadline_on_entry
from engine.core.integrity import first_broken
from engine.core.log_entries import event_entry
from engine.core.records import CaseRecord, EventRecord
from engine.definition.model import (
    NOTE_TRIGGER,
    PUBLIC_ACTOR_PREFIX,
    PUBLIC_ROLE,
    RATING_TRIGGER,
    WorkflowDefinition,
)


class PinnedLeaf(Protocol):
    """What replay reads of a stored leaf."""

    @property
    def idx(self) -> int: ...
    @property
    def seq(self) -> int | None: ...
    @property
    def workflow(self) -> str: ...
    @property
    def definition_version(self) -> int: ...
    @property
    def definition_digest(self) -> str: ...
    @property
    def leaf(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Finding:
    """One disagreement: the case, the event it is about (or None: the row), and what is wrong."""

    number: str
    seq: int | None
    reason: str


DefinitionOf = Callable[[str, int], WorkflowDefinition | None]
CalendarOf = Callable[[WorkflowDefinition, str], WorkingCalendar]


def replay_case(case: CaseRecord, events: Sequence[EventRecord], leaves: Sequence[PinnedLeaf],
                fired_steps: Mapping[int, Sequence[int]], definition_of: DefinitionOf,
                digest_of: Callable[[str, int], str | None], calendar_of: CalendarOf,
                migration_trigger: str) -> list[Finding]:
    """Every disagreement found for ``case``; an empty list when row, history and log agree.

    ``fired_steps`` maps a state entry to the escalation steps recorded for it; ``digest_of`` gives
    the verified digest of a deployed version (None when it is not deployed).
    """
    number = case.number
    broken = first_broken(number, events, case.last_hash, state=case.state, version=case.version)
    if broken is not None:
        return [Finding(number, broken[0], broken[1])]
    found = _against_log(case, events, leaves)
    if found:
        return found
    by_seq = {leaf.seq: leaf for leaf in leaves}
    return _against_rules(case, events, by_seq, fired_steps, definition_of, digest_of, calendar_of,
                          migration_trigger)


def _against_log(case: CaseRecord, events: Sequence[EventRecord], leaves: Sequence[PinnedLeaf]) -> list[Finding]:
    number = case.number
    found = []
    by_seq = {leaf.seq: leaf for leaf in leaves}
    for event in events:
        leaf = by_seq.get(event.seq)
        if leaf is None:
            found.append(Finding(number, event.seq, "the event is not in the transparency log (written behind "
                                                    "the engine's back)"))
            continue
        expected = event_entry(case.id, number, event.seq, event.hash, leaf.workflow, leaf.definition_version,
                               leaf.definition_digest).leaf().hex()
        if leaf.workflow != case.workflow:
            found.append(Finding(number, event.seq, f"its log leaf {leaf.idx} names workflow {leaf.workflow!r}, "
                                                    f"not the case's {case.workflow!r}"))
        elif expected != leaf.leaf:
            found.append(Finding(number, event.seq, f"the event is not the one log leaf {leaf.idx} holds (its history "
                                                    "was rewritten)"))
    for leaf in leaves:
        if leaf.seq is None or leaf.seq > len(events):
            found.append(Finding(number, leaf.seq, f"log leaf {leaf.idx} holds event {leaf.seq}, which is missing "
                                                   f"from the history (it ends at event {len(events)})"))
    return found


def _against_rules(case: CaseRecord, events: Sequence[EventRecord], leaves: Mapping[int | None, PinnedLeaf],
                   fired_steps: Mapping[int, Sequence[int]], definition_of: DefinitionOf,
                   digest_of: Callable[[str, int], str | None], calendar_of: CalendarOf,
                   migration_trigger: str) -> list[Finding]:
    number = case.number
    found: list[Finding] = []
    state: str | None = None
    data: dict[str, Any] = {}
    scope: Any = None
    entered: datetime | None = None
    entry = 0
    due: tuple[datetime | None, int | None, datetime | None] = (None, None, None)
    entry_definition: WorkflowDefinition | None = None
    pin: tuple[int, str] | None = None
    rated = False
    for event in events:
        leaf = leaves[event.seq]
        version, digest = leaf.definition_version, leaf.definition_digest
        definition = definition_of(case.workflow, version)
        if definition is None or digest_of(case.workflow, version) != digest:
            return [*found, Finding(number, event.seq, f"the event was decided under version {version} of workflow "
                                                       f"{case.workflow!r} with digest {digest[:12]}…, which is not "
                                                       "deployed")]
        migration = event.trigger == migration_trigger and event.seq > 1
        remark = event.trigger in (NOTE_TRIGGER, RATING_TRIGGER) and event.seq > 1
        if pin is not None and not migration and pin != (version, digest):
            found.append(Finding(number, event.seq, f"the event was decided under version {version} but the case "
                                                    f"was on version {pin[0]}"))
        if event.seq == 1:
            if event.from_state is not None or event.to_state != definition.initial \
                    or event.trigger != definition.intake.trigger:
                found.append(Finding(number, 1, f"the first event ({event.trigger!r} to {event.to_state!r}) is not "
                                                f"the intake {definition.intake.trigger!r} into {definition.initial!r}"))
            data = dict(event.input)
        elif event.from_state != state:
            found.append(Finding(number, event.seq, f"the event starts from state {event.from_state!r} but the case "
                                                    f"was in {state!r}"))
        elif migration:
            target = event.input.get("to_version") if isinstance(event.input, dict) else None
            if target != version:
                found.append(Finding(number, event.seq, f"the migration names version {target!r} but the log pins "
                                                        f"version {version}"))
        elif remark:
            problem = _remark_problem(definition, event, state or "", rated)
            if problem is not None:
                found.append(Finding(number, event.seq, problem))
            if event.trigger == NOTE_TRIGGER:
                data = {**data, **event.input}
            rated = rated or event.trigger == RATING_TRIGGER
        else:
            if not any(t.trigger == event.trigger and t.dest == event.to_state and event.role in t.roles
                       for t in definition.transitions_from(event.from_state or "")):
                found.append(Finding(number, event.seq, f"no transition {event.trigger!r} from {event.from_state!r} "
                                                        f"to {event.to_state!r} for role {event.role!r} in version "
                                                        f"{version}"))
            data = {**data, **event.input}
        if not migration:
            scope = data.get(definition.scope_field) if definition.scope_field else None
        if not (migration or remark) or event.to_state != state:
            if event.to_state not in definition.states:
                return [*found, Finding(number, event.seq, f"state {event.to_state!r} is not in version {version}")]
            entered, entry, entry_definition = event.at, event.seq, definition
            deadline = deadline_on_entry(definition.states[event.to_state], event.at,
                                         _calendars(definition, calendar_of))
            due = (deadline.due_at, deadline.next_step, deadline.next_step_at)
        state = event.to_state
        pin = (version, digest)
    if not events or pin is None or entered is None or entry_definition is None:
        return [*found, Finding(number, None, "the case has no history")]
    due_at, next_step, next_step_at = _pointer(entry_definition, state or "", due, fired_steps.get(entry, ()),
                                               calendar_of)
    expected: dict[str, Any] = {
        "state": state, "scope": scope, "version": len(events), "definition_version": pin[0],
        "definition_digest": pin[1], "created_at": events[0].at, "updated_at": events[-1].at,
        "state_entered_at": entered, "state_entry": entry, "due_at": due_at, "next_step": next_step,
        "next_step_at": next_step_at,
    }
    for column, value in expected.items():
        stored = getattr(case, column)
        if stored != value:
            found.append(Finding(number, None, f"the case row's {column} is {_shown(stored)} but its history gives "
                                               f"{_shown(value)}"))
    if case.data != data:
        changed = sorted(k for k in set(case.data) | set(data) if case.data.get(k) != data.get(k))
        found.append(Finding(number, None, f"the case row's data differs from what its history gives (field "
                                           f"{', '.join(changed)})"))
    return found


def _remark_problem(definition: WorkflowDefinition, event: EventRecord, state: str, rated: bool) -> str | None:
    """What is wrong with a complainant's note or rating event, or None: it keeps the state, comes from
    a public channel, a note only on an open case and only into the public photos field, a rating once
    on a closed one."""
    what = "note" if event.trigger == NOTE_TRIGGER else "rating"
    if event.to_state != state:
        return f"the complainant's {what} moves the case from {state!r} to {event.to_state!r}"
    if event.role != PUBLIC_ROLE or not event.actor.startswith(PUBLIC_ACTOR_PREFIX):
        return f"the complainant's {what} is recorded for {event.actor!r} as {event.role!r}, not a public channel"
    final = definition.states[state].final if state in definition.states else False
    if event.trigger == NOTE_TRIGGER:
        if final:
            return f"a complainant's note on the closed case (final state {state!r})"
        photos = definition.public.photos if definition.public is not None else None
        extra = sorted(set(event.input) - ({photos} if photos else set()))
        if extra:
            return f"the complainant's note changes field {', '.join(extra)}, which a note may not change"
        return None
    if not final:
        return f"a rating of the open case (state {state!r})"
    if rated:
        return "a second rating of the case (a case is rated once)"
    return None


def _calendars(definition: WorkflowDefinition, calendar_of: CalendarOf) -> Callable[[str], WorkingCalendar]:
    return lambda name: calendar_of(definition, name)


def _pointer(definition: WorkflowDefinition, state: str, due: tuple[datetime | None, int | None, datetime | None],
             fired: Sequence[int], calendar_of: CalendarOf) -> tuple[datetime | None, int | None, datetime | None]:
    """The deadline and escalation pointer after the steps ``fired`` of the current state entry."""
    due_at, next_step, next_step_at = due
    spec = definition.states[state].deadline
    if spec is None or due_at is None or not fired:
        return due_at, next_step, next_step_at
    following = len(fired)
    if following >= len(spec.escalation):
        return due_at, None, None
    return due_at, following, calendar_of(definition, spec.calendar).add(due_at, spec.escalation[following].after)


def _shown(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value)
