"""The context a notice template sees, built the same way for real notices and for checks.

See ``docs/templates.md`` for the documented shape. Values the complainant gave are plain data;
personal data is masked for recipients whose role may not see it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.core.records import CaseRecord
from engine.definition.model import ScheduleSpec, WorkflowDefinition
from engine.core.reports import OpenCaseRow, Period, RecapCaseRow, compute_report
from engine.core.fields import display_value
from engine.core.masking import shown_values
from engine.compile.templates import sample_moment


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
            "workflow": {"name": definition.name, "title": definition.title, "version": definition.version},
            "case": {
                "number": case.number,
                "state": case.state,
                "state_label": states[case.state].label if case.state in states else case.state,
                "version": case.version,
                "created_at": case.created_at,
                **dict.fromkeys(("scope", *((definition.scope_field,) if definition.scope_field else ())),
                                display_value(scope_spec, case.scope) if case.scope else "-"),
                "due_at": case.due_at,
                "overdue": overdue_by > 0,
                "overdue_by": overdue_by,
                "url": f"{base_url.rstrip('/')}/aduan/{case.number}" if base_url else case.number,
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
            seen = self._by_pii[sees_pii] = (shown_values(self.definition.fields, self.case.data, sees_pii, every_field=True),
                                                  event)
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
    given = shown_values(definition.fields, event.input, sees_pii)
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
    return {
        "workflow": {"name": definition.name, "title": definition.title, "version": definition.version},
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
        "schedule": {"name": schedule.name, "label": schedule.label},
        "report": dict(report),
        "now": now,
    }


# -- samples used when a definition is validated -----------------------------------------------


def sample_case(definition: WorkflowDefinition, state: str) -> CaseRecord:
    """A plausible case with every field filled, in ``state``, overdue by 90 minutes."""
    moment = sample_moment()
    data: dict[str, Any] = {}
    for name, spec in definition.fields.items():
        if spec.type == "choice":
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
        else:
            data[name] = f"Contoh {spec.label.lower()}"
    scope = data.get(definition.scope_field) if definition.scope_field else None
    return CaseRecord(
        id=1, number=f"{definition.number_prefix}-2026-000001", workflow=definition.name,
        definition_version=definition.version, definition_digest="", state=state, data=data,
        scope=scope, version=3, created_at=moment - timedelta(hours=5), updated_at=moment,
        state_entered_at=moment - timedelta(hours=3), state_entry=3, due_at=moment - timedelta(minutes=90),
        next_step=0, next_step_at=moment - timedelta(minutes=90),
    )


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
    now = sample_moment()
    period = Period(now - timedelta(days=30), now, "November 2026")
    case = sample_case(definition, definition.initial)
    created = now - timedelta(days=3)
    open_row = OpenCaseRow(1, case.number, case.state, case.scope, dict(case.data), created,
                           now - timedelta(hours=2), 1)
    recap = [RecapCaseRow(1, case.state, case.scope, dict(case.data), created, now - timedelta(hours=2), None)]
    for index, states in enumerate(definition.reports.outcomes.values(), start=2):
        if states:
            recap.append(RecapCaseRow(index, states[0], case.scope, dict(case.data), created, None,
                                      created + timedelta(hours=4 * index)))
    return compute_report(definition, open_cases=[open_row], recap_cases=recap, late_ids={1}, period=period, now=now)


def sample_contexts(definition: WorkflowDefinition) -> dict[str, list[dict[str, Any]]]:
    """Template name → the sample contexts it must render against (one per place it is used)."""
    now = sample_moment()
    staff = Recipient("staff", "Petugas Contoh", definition.intake.roles[0], False, "petugas")
    pelapor = Recipient("pelapor", "Pelapor", None, True)
    contexts: dict[str, list[dict[str, Any]]] = {}

    def add(template: str, recipients: Sequence[str], state: str, step: int | None, with_event: bool) -> None:
        for who in recipients:
            recipient = pelapor if who == "pelapor" else Recipient(
                "staff", "Petugas Contoh", who if who in definition.roles.roles else staff.role, False, "petugas")
            contexts.setdefault(template, []).append(case_context(
                definition, sample_case(definition, state), recipient, now,
                event=sample_event(definition, state) if with_event else None, escalation_step=step))

    for notice in definition.intake.notices:
        add(notice.template, notice.to, definition.initial, None, True)
    for transition in definition.transitions:
        for notice in transition.notices:
            add(notice.template, notice.to, transition.dest, None, True)
    for state in definition.states.values():
        for index, step in enumerate(state.deadline.escalation if state.deadline else ()):
            add(step.template, step.notify, state.name, index, False)
    for schedule in definition.schedules:
        contexts.setdefault(schedule.template, []).append(
            report_context(definition, schedule, staff, now, sample_report(definition)))
    return contexts
