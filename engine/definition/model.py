"""The frozen description of a workflow and its roles, as parsed from YAML.

Nothing here is mutated after it is built, and nothing here does I/O. Every object that came from
a file carries ``where`` so later checks (and the engine) can point at the line that defined it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from types import MappingProxyType
from typing import Literal

from engine.definition.where import Where

FieldType = Literal["text", "choice", "phone", "email", "boolean", "datetime", "references", "coordinates"]
FIELD_TYPES: tuple[str, ...] = ("text", "choice", "phone", "email", "boolean", "datetime", "references",
                                "coordinates")

DurationUnit = Literal["m", "h", "d"]

COMPLAINANT = "pelapor"
"""Recipient keyword for the person who filed the complaint."""

STAFF_PREFIX = "@"
"""A recipient written ``@username`` names one staff member."""

ALL_SCOPE = "all"
"""A role scope that covers every case."""

CAPABILITIES = ("deploy", "migrate", "manage_staff", "reports")
"""What a role may be given with ``can:`` beyond moving cases."""


def frozen_map(items: Mapping[str, object] | None = None) -> Mapping[str, object]:
    """A read-only view of a fresh dict, for mappings held by frozen dataclasses."""
    return MappingProxyType(dict(items or {}))


@dataclass(frozen=True, slots=True)
class Duration:
    """A span such as ``90m``, ``4h`` or ``3d``; its meaning depends on the calendar it runs on."""

    amount: int
    unit: DurationUnit

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    @property
    def minutes(self) -> int:
        """Length in minutes for ``m``/``h``; for ``d`` the number of days times 24 hours."""
        return self.amount * {"m": 1, "h": 60, "d": 1440}[self.unit]


@dataclass(frozen=True, slots=True)
class RoleSpec:
    """A staff role: its label, its scope (``all`` or the scope field), whether it sees PII, what it may do."""

    name: str
    label: str
    scope: str
    """``all``, or the name of the workflow's scope field: the role then acts only on its own value's cases."""
    sees_pii: bool
    description: str
    where: Where
    can: frozenset[str] = frozenset()
    """Capabilities beyond moving cases: ``deploy``, ``migrate``, ``manage_staff``, ``reports``."""

    @property
    def scoped(self) -> bool:
        """Whether staff of this role only see and act on cases of their own scope value."""
        return self.scope != ALL_SCOPE


@dataclass(frozen=True, slots=True)
class RoleBook:
    """All roles of one roles file, by name."""

    name: str
    roles: Mapping[str, RoleSpec]
    path: str

    def label(self, role: str) -> str:
        spec = self.roles.get(role)
        return spec.label if spec else role

    def with_capability(self, capability: str) -> tuple[str, ...]:
        """The roles that hold ``capability``, in the file's order."""
        return tuple(name for name, spec in self.roles.items() if capability in spec.can)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A case field: its type and constraints, and whether it is personal data."""

    name: str
    type: FieldType
    label: str
    pii: bool
    max_length: int | None
    choices: Mapping[str, str]
    """For ``choice`` fields: accepted value → label shown to people."""
    where: Where


@dataclass(frozen=True, slots=True)
class CalendarSpec:
    """How time is counted for deadlines: office hours with holidays, or around the clock."""

    name: str
    around_the_clock: bool
    weekdays: frozenset[int]
    """ISO weekday numbers (Monday = 1) that are working days."""
    opens: time
    closes: time
    holiday_country: str | None
    holiday_categories: tuple[str, ...]
    add_holidays: frozenset[date]
    remove_holidays: frozenset[date]
    where: Where


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """Whom to notify once the deadline has passed by ``after`` (counted on the calendar)."""

    after: Duration
    notify: tuple[str, ...]
    template: str
    where: Where


@dataclass(frozen=True, slots=True)
class Deadline:
    """How long a case may stay in a state, on which calendar, and what happens when late."""

    within: Duration
    calendar: str
    escalation: tuple[EscalationStep, ...]
    where: Where


@dataclass(frozen=True, slots=True)
class StateSpec:
    """A state of the workflow."""

    name: str
    label: str
    final: bool
    deadline: Deadline | None
    where: Where


@dataclass(frozen=True, slots=True)
class InputSpec:
    """A field the actor may or must give when firing a transition."""

    field: str
    required: bool


@dataclass(frozen=True, slots=True)
class NoticeSpec:
    """A notice sent when something happens: recipients (roles, ``pelapor``, ``@user``), template."""

    to: tuple[str, ...]
    template: str
    where: Where
    required: bool = False
    """When true, a move whose notice would reach no active staff member is refused (an order
    nobody receives must not be recorded as given); otherwise such a notice is kept as
    undeliverable and copied to the workflow's ``fallback`` recipients."""


@dataclass(frozen=True, slots=True)
class TransitionSpec:
    """A move from one or several states to another, fired by a trigger."""

    trigger: str
    label: str
    sources: tuple[str, ...]
    dest: str
    roles: tuple[str, ...]
    inputs: tuple[InputSpec, ...]
    requires: tuple[str, ...]
    guard: str | None
    notices: tuple[NoticeSpec, ...]
    where: Where

    def input_for(self, field: str) -> InputSpec | None:
        return next((spec for spec in self.inputs if spec.field == field), None)


@dataclass(frozen=True, slots=True)
class IntakeSpec:
    """How a case is opened: who may open it, what they give, whom it notifies."""

    trigger: str
    label: str
    roles: tuple[str, ...]
    inputs: tuple[InputSpec, ...]
    notices: tuple[NoticeSpec, ...]
    where: Where

    def input_for(self, field: str) -> InputSpec | None:
        return next((spec for spec in self.inputs if spec.field == field), None)


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A periodic notice (digest, recap), fired by a cron expression in the workflow's zone."""

    name: str
    label: str
    cron: str
    working_days: str | None
    """When set, the name of a calendar: the schedule is skipped on its non-working days."""
    to: tuple[str, ...]
    template: str
    where: Where


@dataclass(frozen=True, slots=True)
class CheckpointNoticeSpec:
    """Who is told of each signed checkpoint of the transparency log, and with which template.

    A checkpoint sent to people outside the server (the head of the unit's mailbox) is an anchor
    the database cannot take back: a history rewritten later no longer matches the root they hold.
    """

    to: tuple[str, ...]
    template: str
    where: Where


@dataclass(frozen=True, slots=True)
class ReportSpec:
    """What the periodic reports count: named groups of final states, and the fields they break down by."""

    outcomes: Mapping[str, tuple[str, ...]]
    """Outcome name → the final states counted under it (e.g. ``completed: [selesai]``)."""
    breakdowns: tuple[str, ...]
    """Fields the recap is broken down by, one ``per_<field>`` list each."""

    def outcome_of(self, state: str) -> str | None:
        """The outcome a final state counts under, or None."""
        return next((name for name, states in self.outcomes.items() if state in states), None)


NO_REPORTS = ReportSpec({}, ())


@dataclass(frozen=True, slots=True)
class ContactSpec:
    """Which fields hold the complainant's name, phone, e-mail and anonymity flag."""

    name: str | None
    phone: str | None
    email: str | None
    anonymous: str | None


@dataclass(frozen=True, slots=True)
class ChannelTemplate:
    """The approved message template a notice is sent as where free text may not be sent
    (WhatsApp outside the 24-hour window): its name, language and body parameters, each
    parameter a short Jinja text rendered with the notice's own context."""

    notice: str
    name: str
    language: str
    parameters: tuple[str, ...]
    where: Where


NO_CHANNEL_TEMPLATES: Mapping[str, ChannelTemplate] = MappingProxyType({})


PUBLIC_ROLE = "pelapor"
"""The role recorded on the events a complainant causes through a public channel (no staff role has it)."""

PUBLIC_ACTOR_PREFIX = "pelapor:"
"""A public event's actor is ``pelapor:<channel>`` (``pelapor:web``); ':' is never in a staff username."""

NOTE_TRIGGER = "catatan_pelapor"
"""The trigger of a complainant's note: an event that changes neither state nor data."""

RATING_TRIGGER = "penilaian_pelapor"
"""The trigger of a complainant's rating of a closed case: an event that changes neither state nor data."""

RESERVED_TRIGGERS = frozenset({NOTE_TRIGGER, RATING_TRIGGER, "migrasi"})
"""Triggers the engine records itself; a definition may not name a transition or its intake so."""


def public_actor(channel: str) -> str:
    """The actor recorded for a complainant who came through ``channel``."""
    return PUBLIC_ACTOR_PREFIX + channel


@dataclass(frozen=True, slots=True)
class PublicChannelSpec:
    """A public channel that may open a case by itself: the intake fields it may fill, the values it sets."""

    name: str
    inputs: tuple[InputSpec, ...]
    set: Mapping[str, object]
    """Field → the stored (parsed) value the channel records on every case it opens (``kanal: web``)."""
    where: Where

    def input_for(self, field: str) -> InputSpec | None:
        return next((spec for spec in self.inputs if spec.field == field), None)


@dataclass(frozen=True, slots=True)
class PublicSpec:
    """How the public (citizens, other systems) reach the workflow: which fields mean what, and the channels."""

    services: str
    """The choice field other systems list as services (Open311 ``service_code``)."""
    description: str
    """The text field holding what happened."""
    location: str
    """The text field holding where, as text."""
    pin: str | None
    """A ``coordinates`` field holding the map pin or shared location, if any."""
    photos: str | None
    """The ``references`` field holding the complainant's photos, if any."""
    channels: Mapping[str, PublicChannelSpec]
    states: Mapping[str, str]
    """State → what it means, in plain words for the complainant (``public.states``); others show their label."""
    note_template: str | None
    """The template announcing a complainant's note to the staff the case waits on (None: not announced)."""
    where: Where
    map_center: tuple[float, float] | None = None
    """Where the public form's map opens (latitude, longitude), and at which ``map_zoom``."""
    map_zoom: int = 11


DEFAULT_CASE_LABEL = "kasus"
"""What people call one case when the workflow does not say (``case_label``)."""


@dataclass(frozen=True, slots=True)
class WorkflowDefinition:
    """A complete, validated workflow: the single source every part of the engine reads."""

    name: str
    title: str
    version: int
    timezone: str
    number_prefix: str
    scope_field: str | None
    case_label: str
    """The noun people read for one case (``aduan``, ``permohonan``), in lists and messages."""
    contact: ContactSpec
    fields: Mapping[str, FieldSpec]
    calendars: Mapping[str, CalendarSpec]
    states: Mapping[str, StateSpec]
    initial: str
    intake: IntakeSpec
    transitions: tuple[TransitionSpec, ...]
    schedules: tuple[ScheduleSpec, ...]
    roles: RoleBook
    path: str
    reports: ReportSpec = NO_REPORTS
    public: PublicSpec | None = None
    """The public intake (``public:``), or None when only staff open cases."""
    fallback: tuple[str, ...] = ()
    checkpoints: CheckpointNoticeSpec | None = None
    """The notice sent with each transparency-log checkpoint (``checkpoints:``), or None."""
    """Who is told when a notice's staff recipients resolve to nobody active (roles of scope
    ``all`` or ``@username``); empty: the notice is only kept as undeliverable."""
    whatsapp_templates: Mapping[str, ChannelTemplate] = field(default_factory=lambda: NO_CHANNEL_TEMPLATES)
    """Notice template → the WhatsApp message template it is sent as outside the 24-hour window."""

    def transitions_from(self, state: str) -> tuple[TransitionSpec, ...]:
        return tuple(t for t in self.transitions if state in t.sources)

    def triggers(self) -> frozenset[str]:
        return frozenset(t.trigger for t in self.transitions)

    def templates(self) -> frozenset[str]:
        """Every template the definition names (notices, escalations, schedules)."""
        names: set[str] = {n.template for n in self.intake.notices}
        for transition in self.transitions:
            names.update(n.template for n in transition.notices)
        for state in self.states.values():
            if state.deadline:
                names.update(step.template for step in state.deadline.escalation)
        names.update(s.template for s in self.schedules)
        if self.public is not None and self.public.note_template is not None:
            names.add(self.public.note_template)
        return frozenset(names)
