"""The context a notice template sees, built the same way for real notices and for checks.

See ``docs/templates.md`` for the documented shape. Values the complainant gave are plain data;
personal data is masked for recipients whose role may not see it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.core.records import CaseRecord
from engine.definition.model import (
    COMPLAINANT,
    NOTE_TRIGGER,
    PUBLIC_ROLE,
    InputSpec,
    ScheduleSpec,
    WorkflowDefinition,
)
from engine.definition.where import Where
from engine.core.fields import display_value
from engine.core.masking import shown_values


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a notice is for: a staff member (with role) or the complainant."""

    kind: str  # "staff" or "pelapor"
    name: str
    role: str | None
    sees_pii: bool
    username: str | None = None


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What happened, for the ``event`` part of the context."""

    trigger: str
    label: str
    from_state: str | None
    to_state: str
    actor_name: str
    actor_role: str
    at: datetime
    comment: str | None
    input: Mapping[str, Any]


class CaseContexts:
    """Contexts for every recipient of notices about one case at one moment.

    What does not depend on the recipient (the case, labels, the event, personal data shown or
    masked) is built once and shared; each recipient's context adds only who they are. Templates
    cannot change what they are given (the sandbox forbids mutating it).
    """

    def __init__(self, definition: WorkflowDefinition, case: CaseRecord, now: datetime, *,
                 event: EventFacts | None = None, escalation_step: int | None = None, base_url: str = "") -> None:
        self.definition = definition
        self.case = case
        self.event = event
        states = definition.states
        overdue_by = int((now - case.due_at).total_seconds() // 60) if case.due_at and now > case.due_at else 0
        scope_spec = definition.fields.get(definition.scope_field or "")
        self._shared: dict[str, Any] = {
            "workflow": {"name": definition.name, "title": definition.title, "version": definition.version,
                         "timezone": definition.timezone},
            "case": {
                "number": case.number,
                "state": case.state,
                "state_label": states[case.state].label if case.state in states else case.state,
                "version": case.version,
                "created_at": case.created_at,
                **dict.fromkeys(("scope", *((definition.scope_field,) if definition.scope_field else ())),
                                display_value(scope_spec, case.scope, definition.timezone) if case.scope else "-"),
                "due_at": case.due_at,
                "overdue": overdue_by > 0,
                "overdue_by": overdue_by,
                "url": f"{base_url.rstrip('/')}/kasus/{case.number}" if base_url else case.number,
            },
            "labels": {name: spec.label for name, spec in definition.fields.items()},
            "anonymous": bool(definition.contact.anonymous and case.data.get(definition.contact.anonymous)),
            "escalation": {"step": escalation_step + 1, "late_by": overdue_by} if escalation_step is not None else None,
            "report": None,
            "now": now,
        }
        self._by_pii: dict[bool, tuple[dict[str, str], dict[str, Any] | None]] = {}

    def _seen(self, sees_pii: bool) -> tuple[dict[str, str], dict[str, Any] | None]:
        """The case data and event as shown with or without personal data (built once each)."""
        seen = self._by_pii.get(sees_pii)
        if seen is None:
            event = _event_context(self.definition, self.event, sees_pii) if self.event else None
            data = shown_values(self.definition.fields, self.case.data, sees_pii, self.definition.timezone,
                                every_field=True)
            seen = self._by_pii[sees_pii] = (data, event)
        return seen

    def for_recipient(self, recipient: Recipient) -> dict[str, Any]:
        """The full context ``recipient``'s notice is rendered with."""
        data, event = self._seen(recipient.sees_pii)
        return {
            **self._shared,
            "data": data,
            "event": event,
            "recipient": {
                "kind": recipient.kind,
                "name": recipient.name,
                "role": recipient.role,
                "role_label": self.definition.roles.label(recipient.role) if recipient.role else "Pelapor",
            },
        }


def case_context(
    definition: WorkflowDefinition,
    case: CaseRecord,
    recipient: Recipient,
    now: datetime,
    *,
    event: EventFacts | None = None,
    escalation_step: int | None = None,
    base_url: str = "",
) -> dict[str, Any]:
    """Context for a notice about one case."""
    return CaseContexts(definition, case, now, event=event, escalation_step=escalation_step,
                        base_url=base_url).for_recipient(recipient)


def _event_context(definition: WorkflowDefinition, event: EventFacts, sees_pii: bool) -> dict[str, Any]:
    states = definition.states
    given = shown_values(definition.fields, event.input, sees_pii, definition.timezone)
    return {
        "trigger": event.trigger,
        "label": event.label,
        "from_state": event.from_state,
        "from_label": states[event.from_state].label if event.from_state and event.from_state in states else "-",
        "to_state": event.to_state,
        "to_label": states[event.to_state].label if event.to_state in states else event.to_state,
        "actor": event.actor_name,
        "actor_role": definition.roles.label(event.actor_role),
        "at": event.at,
        "comment": event.comment or "",
        "input": given,
    }


def report_context(
    definition: WorkflowDefinition,
    schedule: ScheduleSpec,
    recipient: Recipient,
    now: datetime,
    report: Mapping[str, Any],
) -> dict[str, Any]:
    """Context for a periodic notice (digest, recap); ``report`` comes from engine.app.reports."""
    return _caseless_context(definition, recipient, now, schedule={"name": schedule.name, "label": schedule.label},
                             report=dict(report))


def checkpoint_context(definition: WorkflowDefinition, recipient: Recipient, now: datetime,
                       checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """Context for the notice of a signed checkpoint: ``checkpoint`` is its JSON form plus
    ``time`` as a datetime (shown in the workflow's zone by the templates' filters)."""
    return _caseless_context(definition, recipient, now, checkpoint=dict(checkpoint))


def _caseless_context(definition: WorkflowDefinition, recipient: Recipient, now: datetime,
                      **extra: Any) -> dict[str, Any]:
    """The context of a notice about no case (a schedule's, a checkpoint's): every key a case
    notice has, empty, so templates and shared partials read them alike."""
    context: dict[str, Any] = {
        "workflow": {"name": definition.name, "title": definition.title, "version": definition.version,
                     "timezone": definition.timezone},
        "case": None,
        "data": {},
        "labels": {name: spec.label for name, spec in definition.fields.items()},
        "anonymous": False,
        "event": None,
        "recipient": {
            "kind": recipient.kind,
            "name": recipient.name,
            "role": recipient.role,
            "role_label": definition.roles.label(recipient.role) if recipient.role else "Pelapor",
        },
        "escalation": None,
        "schedule": None,
        "report": None,
        "checkpoint": None,
        "now": now,
    }
    context.update(extra)
    return context


# -- samples used when a definition is validated -----------------------------------------------

def sample_moment() -> datetime:
    """A fixed moment used in sample contexts, so template checks are repeatable."""
    return datetime.fromisoformat("2026-11-30T08:00:00+08:00")


_SAMPLE_DUE = sample_moment() - timedelta(minutes=90)


def sample_case(definition: WorkflowDefinition, state: str, *, due_at: datetime | None = _SAMPLE_DUE,
                data: Mapping[str, Any] | None = None) -> CaseRecord:
    """A plausible case in ``state``, overdue by 90 minutes unless told; every field filled unless ``data`` is given."""
    moment = sample_moment()
    values = dict(sample_data(definition) if data is None else data)
    scope = values.get(definition.scope_field) if definition.scope_field else None
    return CaseRecord(
        id=1, number=f"{definition.number_prefix}-2026-000001", workflow=definition.name,
        definition_version=definition.version, definition_digest="", state=state, data=values,
        scope=scope, version=3, created_at=moment - timedelta(hours=5), updated_at=moment,
        state_entered_at=moment - timedelta(hours=3), state_entry=3, due_at=due_at,
        next_step=0 if due_at else None, next_step_at=due_at,
    )


def sample_data(definition: WorkflowDefinition, kept: frozenset[str] | None = None) -> dict[str, Any]:
    """A plausible value for every field; with ``kept``, only those fields are filled, the others None."""
    moment = sample_moment()
    data: dict[str, Any] = {}
    for name, spec in definition.fields.items():
        if kept is not None and name not in kept:
            data[name] = None
        elif spec.type == "choice":
            data[name] = next(iter(spec.choices))
        elif spec.type == "boolean":
            data[name] = False
        elif spec.type == "phone":
            data[name] = "+6281234567890"
        elif spec.type == "email":
            data[name] = "pelapor@contoh.id"
        elif spec.type == "datetime":
            data[name] = moment.isoformat()
        elif spec.type == "references":
            data[name] = ["foto-1.jpg", "foto-2.jpg"]
        elif spec.type == "coordinates":
            data[name] = "-2.3245,115.6123"
        else:
            data[name] = f"Contoh {spec.label.lower()}"
    return data


def sample_event(definition: WorkflowDefinition, state: str) -> EventFacts:
    transition = next((t for t in definition.transitions if t.dest == state), None)
    case = sample_case(definition, state)
    if transition is None:
        return EventFacts(definition.intake.trigger, definition.intake.label, None, state, "Petugas Contoh",
                          definition.intake.roles[0], sample_moment(), "Catatan contoh", {})
    given = {i.field: case.data[i.field] for i in transition.inputs}
    return EventFacts(transition.trigger, transition.label, transition.sources[0], state, "Petugas Contoh",
                      transition.roles[0], sample_moment(), "Catatan contoh", given)


def sample_report(definition: WorkflowDefinition) -> dict[str, Any]:
    """A report computed the real way from sample rows (an open, an overdue and one finished case per outcome)."""
    return sample_reports(definition)[0][1]


def sample_reports(definition: WorkflowDefinition) -> list[tuple[str, dict[str, Any]]]:
    """(situation, report), each computed the real way from sample rows.

    With cases (an open, an overdue and one finished case per outcome); with values missing (one
    open case without a deadline and nothing finished, so no due time and no handling times); and
    with nothing to report (no rows at all).
    """
    from engine.core.reports import OpenCaseRow, Period, RecapCaseRow, compute_report

    now = sample_moment()
    period = Period(now - timedelta(days=30), now, "November 2026")
    case = sample_case(definition, definition.initial)
    created = now - timedelta(days=3)
    due = now - timedelta(hours=2)

    def report(open_due: datetime | None, *, finished: bool, rows: bool = True) -> dict[str, Any]:
        open_row = OpenCaseRow(1, case.number, case.state, case.scope, dict(case.data), created, open_due,
                               1 if open_due else None)
        recap = [RecapCaseRow(1, case.state, case.scope, dict(case.data), created, open_due, None)]
        for index, states in enumerate(definition.reports.outcomes.values(), start=2):
            if states and finished:
                recap.append(RecapCaseRow(index, states[0], case.scope, dict(case.data), created, None,
                                          created + timedelta(hours=4 * index)))
        return compute_report(definition, open_cases=[open_row] if rows else [], recap_cases=recap if rows else [],
                              late_ids={1} if open_due and rows else set(), period=period, now=now)

    return [("with cases", report(due, finished=True)),
            ("with values missing (None)", report(None, finished=False)),
            ("with nothing to report", report(None, finished=False, rows=False))]


@dataclass(frozen=True, slots=True)
class TemplateUse:
    """A place the definition sends a template, with every kind of context the template meets there."""

    template: str
    where: Where
    situations: tuple[tuple[str, dict[str, Any]], ...]
    """(what the situation is, in words; the context of it)."""


def template_uses(definition: WorkflowDefinition) -> list[TemplateUse]:
    """Every use of a template (notice, escalation step, schedule), each with its kinds of context.

    A notice on a move is rendered for each state it can come from, into its target state with a
    due time if that state has a deadline and without one if not; an escalation step in its
    state, overdue, without an event; each for every recipient of the notice (staff seeing
    personal data and not), the complainant anonymous and not, every field filled and only the
    fields that must be there filled (the others None, the step's optional inputs not given).
    A schedule's template gets the reports of ``sample_reports``.
    """
    intake = definition.intake
    must_have = frozenset(i.field for i in intake.inputs if i.required)
    uses: list[TemplateUse] = []
    for notice in intake.notices:
        uses.append(TemplateUse(notice.template, notice.where, tuple(_case_situations(
            definition, notice.to, definition.initial, step=None, kept=must_have,
            event=_event_maker(intake.trigger, intake.label, None, definition.initial, intake.roles[0], intake.inputs),
            lead=f"on {intake.trigger!r} into {definition.initial!r}"))))
    for transition in definition.transitions:
        kept = must_have | {i.field for i in transition.inputs if i.required} | set(transition.requires)
        for notice in transition.notices:
            situations: list[tuple[str, dict[str, Any]]] = []
            for source in transition.sources:
                situations.extend(_case_situations(
                    definition, notice.to, transition.dest, step=None, kept=kept,
                    event=_event_maker(transition.trigger, transition.label, source, transition.dest,
                                       transition.roles[0], transition.inputs),
                    lead=f"on {transition.trigger!r} from {source!r} into {transition.dest!r}"))
            uses.append(TemplateUse(notice.template, notice.where, tuple(situations)))
    for state in definition.states.values():
        for index, step in enumerate(state.deadline.escalation if state.deadline else ()):
            uses.append(TemplateUse(step.template, step.where, tuple(_case_situations(
                definition, step.notify, state.name, step=index, kept=must_have, event=None,
                lead=f"at escalation step {index + 1} in {state.name!r}"))))
    uses.extend(_note_uses(definition, must_have))
    now = sample_moment()
    reports = sample_reports(definition) if definition.schedules else []
    for schedule in definition.schedules:
        uses.append(TemplateUse(schedule.template, schedule.where, tuple(
            (f"for schedule {schedule.name!r}, to {who}, {what}",
             report_context(definition, schedule, recipient, now, report))
            for what, report in reports for recipient, who in _sample_recipients(definition, schedule.to, {}, False))))
    if definition.checkpoints is not None:
        spec = definition.checkpoints
        uses.append(TemplateUse(spec.template, spec.where, tuple(
            (f"for a checkpoint, to {who}", checkpoint_context(definition, recipient, now, sample_checkpoint()))
            for recipient, who in _sample_recipients(definition, spec.to, {}, False))))
    return uses


def sample_checkpoint() -> dict[str, Any]:
    """A plausible signed checkpoint, as its notice's context holds it."""
    return {"origin": "treckk", "size": 123456, "root": "ab" * 32, "time": sample_moment(),
            "key_id": "0123456789abcdef", "signature": "cd" * 64}


def _note_uses(definition: WorkflowDefinition, must_have: frozenset[str]) -> list[TemplateUse]:
    """The public note template, in every open state, to the roles the case waits on there, with a
    note of text only and of photos only."""
    public = definition.public
    if public is None or public.note_template is None:
        return []
    photos = public.photos
    uses = []
    for state in definition.states.values():
        waiting = tuple(dict.fromkeys(role for t in definition.transitions_from(state.name) for role in t.roles))
        if state.final or not waiting:
            continue

        def note(data: Mapping[str, Any], filled: bool, state: str = state.name) -> EventFacts:
            given = {photos: ["foto-3.jpg"]} if photos and filled else {}
            return EventFacts(NOTE_TRIGGER, "Catatan dari pelapor", state, state, "Pelapor (kanal web)",
                              PUBLIC_ROLE, sample_moment(), "Contoh keterangan tambahan" if not filled else None,
                              given)

        uses.append(TemplateUse(public.note_template, public.where, tuple(_case_situations(
            definition, waiting, state.name, step=None, kept=must_have, event=note,
            lead=f"on a complainant's note in {state.name!r}"))))
    return uses


def sample_contexts(definition: WorkflowDefinition) -> dict[str, list[dict[str, Any]]]:
    """Template name → every sample context it must render against (see ``template_uses``)."""
    contexts: dict[str, list[dict[str, Any]]] = {}
    for use in template_uses(definition):
        contexts.setdefault(use.template, []).extend(context for _, context in use.situations)
    return contexts


def _event_maker(trigger: str, label: str, source: str | None, dest: str, role: str,
                 inputs: Sequence[InputSpec]) -> Callable[[Mapping[str, Any], bool], EventFacts]:
    """Builds the event of a move from the case data: every input given, or only the required ones."""

    def event(data: Mapping[str, Any], filled: bool) -> EventFacts:
        given = {i.field: data[i.field] for i in inputs
                 if (filled or i.required) and data.get(i.field) is not None}
        return EventFacts(trigger, label, source, dest, "Petugas Contoh", role, sample_moment(),
                          "Catatan contoh" if filled else None, given)

    return event


def _case_situations(definition: WorkflowDefinition, to: Sequence[str], state: str, *, step: int | None,
                     kept: frozenset[str], event: Callable[[Mapping[str, Any], bool], EventFacts] | None,
                     lead: str) -> Iterator[tuple[str, dict[str, Any]]]:
    now = sample_moment()
    deadline = definition.states[state].deadline
    due: datetime | None
    if deadline is None:
        due, due_text = None, "no deadline"
    elif step is None:
        due, due_text = now + timedelta(minutes=deadline.within.minutes), "with a deadline"
    else:
        due, due_text = now - timedelta(minutes=max(deadline.escalation[step].after.minutes, 1)), "overdue"
    contact = definition.contact
    for filled in (True, False):
        fields = None if filled else kept
        if fields is not None and COMPLAINANT in to:
            # The complainant gets a notice only when a phone number or an e-mail address is known.
            fields = fields | {name for name in (contact.phone or contact.email,) if name}
        for anonymous in (False, True) if contact.anonymous else (False,):
            data = sample_data(definition, fields)
            if contact.anonymous and anonymous:
                data[contact.anonymous] = True
            contexts = CaseContexts(definition, sample_case(definition, state, due_at=due, data=data), now,
                                    event=event(data, filled) if event else None, escalation_step=step)
            detail = (f"{'anonymous' if anonymous else 'not anonymous'}, "
                      f"{'every field filled' if filled else 'optional fields missing'}")
            for recipient, who in _sample_recipients(definition, to, data, anonymous):
                yield f"{lead} ({due_text}), to {who}, {detail}", contexts.for_recipient(recipient)


def _sample_recipients(definition: WorkflowDefinition, to: Sequence[str], data: Mapping[str, Any],
                       anonymous: bool) -> Iterator[tuple[Recipient, str]]:
    """Each recipient a notice to ``to`` can have, with how to name it in a message."""
    roles = definition.roles.roles
    for name in to:
        if name == COMPLAINANT:
            given = data.get(definition.contact.name) if definition.contact.name else None
            yield Recipient(COMPLAINANT, "Pelapor" if anonymous or not given else str(given), None, True), name
            continue
        # ``@user`` is a staff member with any of the roles; a role's members may see personal
        # data or not depending on the roles file, and a preview shows either.
        role = name if name in roles else next(iter(roles), None)
        for sees in (True, False):
            yield (Recipient("staff", "Petugas Contoh", role, sees, "petugas"),
                   f"{name} ({'seeing' if sees else 'not seeing'} personal data)")
