"""YAML text → frozen definition objects, collecting every problem of a file in one pass.

Parsing is pure. Checks that need an engine of their own (guard expressions, cron expressions,
templates) are delegated to an ``ExternalChecks`` object passed in by the caller, so this package
never imports Jinja or APScheduler.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, time
from typing import Protocol, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from engine.definition.model import (
    COMPLAINANT,
    FIELD_TYPES,
    STAFF_PREFIX,
    CalendarSpec,
    ContactSpec,
    Deadline,
    Duration,
    DurationUnit,
    EscalationStep,
    FieldSpec,
    FieldType,
    InputSpec,
    IntakeSpec,
    NoticeSpec,
    RoleBook,
    RoleSpec,
    ScheduleSpec,
    StateSpec,
    TransitionSpec,
    WorkflowDefinition,
    frozen_map,
)
from engine.definition.yamlnodes import Reader, allowed_list
from engine.errors import Problem

T = TypeVar("T")

_DURATION = re.compile(r"^\s*([0-9]+)\s*([mhd])\s*$")
_HOURS = re.compile(r"^\s*([0-2][0-9]):([0-5][0-9])\s*-\s*([0-2][0-9]):([0-5][0-9])\s*$")
_WEEKDAYS = {
    "senin": 1, "selasa": 2, "rabu": 3, "kamis": 4, "jumat": 5, "sabtu": 6, "minggu": 7,
    "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7,
}  # fmt: skip
_HOLIDAY_CATEGORIES = ("public", "government", "optional", "bank", "school", "workday")
_SCOPES = ("all", "kecamatan")
_REQUIREMENT = ("required", "optional")


class ExternalChecks(Protocol):
    """Checks that need an expression, cron or template engine; each returns an error or None."""

    def guard(self, source: str, names: frozenset[str]) -> str | None: ...

    def cron(self, expression: str, timezone: str) -> str | None: ...

    def template(self, name: str) -> str | None: ...


class NoExternalChecks:
    """Accepts every guard, cron expression and template (structure-only validation)."""

    def guard(self, source: str, names: frozenset[str]) -> str | None:
        return None

    def cron(self, expression: str, timezone: str) -> str | None:
        return None

    def template(self, name: str) -> str | None:
        return None


def parse_duration(reader: Reader, node: yaml.Node, what: str) -> Duration | None:
    """``90m``, ``4h`` or ``3d`` → Duration; anything else is a located problem."""
    text = reader.string(node, what)
    if text is None:
        return None
    match = _DURATION.match(text)
    if not match:
        reader.problem(
            node,
            f"bad duration {text!r} in {what}; write a whole number followed by m (minutes), "
            "h (hours) or d (days), e.g. 90m, 4h, 3d",
        )
        return None
    return Duration(int(match.group(1)), cast(DurationUnit, match.group(2)))


# -- roles -------------------------------------------------------------------------------------


def parse_roles(text: str, path: str, name: str) -> tuple[RoleBook | None, list[Problem]]:
    """Parse a roles file (``roles/NAME.yaml``)."""
    reader = Reader(path)
    root = reader.compose(text)
    if root is None:
        return None, reader.problems
    top = reader.mapping(root, "the roles file", allowed=("roles",), required=("roles",))
    roles: dict[str, RoleSpec] = {}
    if top and "roles" in top:
        entries = reader.mapping(top["roles"], "roles") or {}
        for role_name, node in entries.items():
            spec = _parse_role(reader, role_name, node)
            if spec:
                roles[role_name] = spec
        if not entries and isinstance(top["roles"], yaml.MappingNode):
            reader.problem(top["roles"], "roles must name at least one role")
    book = RoleBook(name, frozen_map(roles), path) if not reader.problems else None  # type: ignore[arg-type]
    return book, reader.problems


def _parse_role(reader: Reader, name: str, node: yaml.Node) -> RoleSpec | None:
    what = f"role {name!r}"
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        reader.problem(node, f"role name {name!r} is not valid; use lower-case letters, digits, underscores")
    keys = reader.mapping(
        node, what, allowed=("label", "scope", "sees_pii", "description"), required=("label",)
    )
    if keys is None:
        return None
    label = reader.string(keys["label"], f"the label of {what}") if "label" in keys else None
    scope = "all"
    if "scope" in keys:
        scope = reader.string(keys["scope"], f"the scope of {what}") or "all"
        if scope not in _SCOPES:
            reader.problem(keys["scope"], f"unknown scope {scope!r} in {what}; allowed: {allowed_list(_SCOPES)}")
    sees_pii = reader.boolean(keys["sees_pii"], f"sees_pii of {what}") if "sees_pii" in keys else False
    description = ""
    if "description" in keys:
        description = reader.string(keys["description"], f"the description of {what}", allow_empty=True) or ""
    if label is None:
        return None
    return RoleSpec(name, label, scope == "kecamatan", bool(sees_pii), description, reader.where(node))


# -- workflow ----------------------------------------------------------------------------------

_TOP_KEYS = (
    "workflow", "title", "version", "timezone", "roles", "number_prefix", "scope_field",
    "contact", "calendars", "fields", "states", "initial", "intake", "transitions", "schedules",
)  # fmt: skip
_TOP_REQUIRED = ("workflow", "title", "version", "timezone", "roles", "fields", "states", "initial",
                 "intake", "transitions")  # fmt: skip


class _WorkflowParser:
    """Holds the reader and what has been parsed so far, so cross-references can be checked."""

    def __init__(self, reader: Reader, roles: RoleBook | None, checks: ExternalChecks) -> None:
        self.r = reader
        self.roles = roles
        self.checks = checks
        self.fields: dict[str, FieldSpec] = {}
        self.calendars: dict[str, CalendarSpec] = {}
        self.states: dict[str, StateSpec] = {}
        self.timezone = "Asia/Makassar"
        self.templates_seen: dict[str, str | None] = {}

    # -- small helpers --------------------------------------------------------------------
    def optional(self, keys: dict[str, yaml.Node], key: str, read: Callable[[yaml.Node], T | None],
                 default: T) -> T:
        if key not in keys:
            return default
        value = read(keys[key])
        return default if value is None else value

    def role_ref(self, value: str, node: yaml.Node, what: str) -> None:
        if self.roles is not None and value not in self.roles.roles:
            self.r.problem(node, f"unknown role {value!r} in {what}; known roles are "
                                 f"{allowed_list(self.roles.roles)}")

    def field_ref(self, value: str, node: yaml.Node, what: str) -> bool:
        if value not in self.fields:
            self.r.problem(node, f"unknown field {value!r} in {what}; known fields are "
                                 f"{allowed_list(self.fields)}")
            return False
        return True

    def state_ref(self, value: str, node: yaml.Node, what: str) -> bool:
        if value not in self.states:
            self.r.problem(node, f"unknown state {value!r} in {what}; known states are "
                                 f"{allowed_list(self.states)}")
            return False
        return True

    def template_ref(self, node: yaml.Node, what: str) -> str | None:
        name = self.r.string(node, f"the template of {what}")
        if name is None:
            return None
        if name not in self.templates_seen:
            self.templates_seen[name] = self.checks.template(name)
        error = self.templates_seen[name]
        if error:
            self.r.problem(node, f"template {name!r} of {what}: {error}")
        return name

    def recipients(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        found: list[str] = []
        for value, item in self.r.names(node, what):
            if value == COMPLAINANT:
                pass
            elif value.startswith(STAFF_PREFIX):
                if not re.fullmatch(r"@[A-Za-z0-9_.-]+", value):
                    self.r.problem(item, f"bad staff recipient {value!r} in {what}; write @username")
            else:
                if self.roles is not None and value not in self.roles.roles:
                    self.r.problem(
                        item,
                        f"unknown recipient {value!r} in {what}; use a role "
                        f"({allowed_list(self.roles.roles)}), {COMPLAINANT!r} or @username",
                    )
            found.append(value)
        if not found and not isinstance(node, yaml.ScalarNode):
            self.r.problem(node, f"{what} must name at least one recipient")
        return tuple(found)

    # -- sections -------------------------------------------------------------------------
    def field(self, name: str, node: yaml.Node) -> FieldSpec | None:
        what = f"field {name!r}"
        keys = self.r.mapping(node, what, allowed=("type", "label", "pii", "max_length", "values"),
                              required=("type", "label"))
        if keys is None or "type" not in keys or "label" not in keys:
            return None
        ftype = self.r.string(keys["type"], f"the type of {what}")
        if ftype is not None and ftype not in FIELD_TYPES:
            self.r.problem(keys["type"], f"unknown type {ftype!r} for {what}; allowed types are "
                                         f"{allowed_list(FIELD_TYPES)}")
            ftype = None
        label = self.r.string(keys["label"], f"the label of {what}")
        pii = self.optional(keys, "pii", lambda n: self.r.boolean(n, f"pii of {what}"), False)
        max_length: int | None = None
        if "max_length" in keys:
            if ftype not in (None, "text"):
                self.r.problem(keys["max_length"], f"max_length is only for text fields, and {what} is {ftype}")
            max_length = self.r.integer(keys["max_length"], f"max_length of {what}", minimum=1)
        choices: dict[str, str] = {}
        if "values" in keys:
            if ftype not in (None, "choice"):
                self.r.problem(keys["values"], f"values are only for choice fields, and {what} is {ftype}")
            for key, label_node in (self.r.mapping(keys["values"], f"the values of {what}") or {}).items():
                choice_label = self.r.string(label_node, f"the label of value {key!r} of {what}")
                choices[key] = choice_label or key
        if ftype == "choice" and not choices:
            self.r.problem(node, f"{what} is a choice field and needs values (value: label)")
        if ftype is None or label is None:
            return None
        return FieldSpec(name, cast(FieldType, ftype), label, pii, max_length, frozen_map(choices),  # type: ignore[arg-type]
                         self.r.where(node))

    def calendar(self, name: str, node: yaml.Node) -> CalendarSpec | None:
        what = f"calendar {name!r}"
        keys = self.r.mapping(node, what, allowed=("type", "days", "hours", "holidays", "add_holidays",
                                                    "remove_holidays"), required=("type",))
        if keys is None or "type" not in keys:
            return None
        kind = self.r.string(keys["type"], f"the type of {what}")
        kinds = ("office_hours", "around_the_clock")
        if kind is not None and kind not in kinds:
            self.r.problem(keys["type"], f"unknown calendar type {kind!r} for {what}; allowed: {allowed_list(kinds)}")
            return None
        where = self.r.where(node)
        if kind == "around_the_clock":
            for extra in ("days", "hours", "holidays", "add_holidays", "remove_holidays"):
                if extra in keys:
                    self.r.problem(keys[extra], f"{extra} does not apply to an around_the_clock calendar ({what})")
            return CalendarSpec(name, True, frozenset(range(1, 8)), time(0), time(0), None, (), frozenset(),
                                frozenset(), where)
        for needed in ("days", "hours"):
            if needed not in keys:
                self.r.problem(node, f"{what} is an office_hours calendar and needs {needed!r}")
        weekdays: set[int] = set()
        for value, item in self.r.names(keys["days"], f"the days of {what}") if "days" in keys else []:
            if value.lower() not in _WEEKDAYS:
                self.r.problem(item, f"unknown day {value!r} in {what}; use senin … minggu or mon … sun")
            else:
                weekdays.add(_WEEKDAYS[value.lower()])
        opens = closes = time(0)
        if "hours" in keys:
            text = self.r.string(keys["hours"], f"the hours of {what}") or ""
            match = _HOURS.match(text)
            parsed = None
            if match:
                try:
                    parsed = (time(int(match.group(1)), int(match.group(2))),
                              time(int(match.group(3)), int(match.group(4))))
                except ValueError:
                    parsed = None
            if parsed is None or parsed[0] >= parsed[1]:
                self.r.problem(keys["hours"], f"bad office hours {text!r} in {what}; write HH:MM-HH:MM "
                                              "with the opening before the closing, e.g. 07:30-16:00")
            else:
                opens, closes = parsed
        country, categories = self.holidays(keys.get("holidays"), what)
        add = self.dates(keys.get("add_holidays"), f"add_holidays of {what}")
        remove = self.dates(keys.get("remove_holidays"), f"remove_holidays of {what}")
        return CalendarSpec(name, False, frozenset(weekdays), opens, closes, country, categories,
                            frozenset(add), frozenset(remove), where)

    def holidays(self, node: yaml.Node | None, what: str) -> tuple[str | None, tuple[str, ...]]:
        if node is None:
            return None, ()
        keys = self.r.mapping(node, f"the holidays of {what}", allowed=("country", "categories"),
                              required=("country",))
        if not keys or "country" not in keys:
            return None, ()
        country = self.r.string(keys["country"], f"the holiday country of {what}")
        if country is not None:
            import holidays as holidays_lib  # slow import, only when a calendar asks for it

            supported = holidays_lib.list_supported_countries()
            if country not in supported:
                self.r.problem(keys["country"], f"unknown holiday country {country!r} in {what}; use an "
                                                "ISO 3166 code supported by the holidays package, e.g. ID")
                country = None
        categories: list[str] = []
        if "categories" in keys:
            for value, item in self.r.names(keys["categories"], f"the holiday categories of {what}"):
                if value not in _HOLIDAY_CATEGORIES:
                    self.r.problem(item, f"unknown holiday category {value!r} in {what}; allowed: "
                                         f"{allowed_list(_HOLIDAY_CATEGORIES)}")
                else:
                    categories.append(value)
        return country, tuple(categories) or ("public",)

    def dates(self, node: yaml.Node | None, what: str) -> set[date]:
        found: set[date] = set()
        if node is None:
            return found
        for value, item in self.r.names(node, what):
            try:
                found.add(date.fromisoformat(value))
            except ValueError:
                self.r.problem(item, f"bad date {value!r} in {what}; write YYYY-MM-DD, e.g. 2026-12-24")
        return found

    def deadline(self, state: str, node: yaml.Node) -> Deadline | None:
        what = f"the deadline of state {state!r}"
        keys = self.r.mapping(node, what, allowed=("within", "calendar", "escalation"),
                              required=("within", "calendar"))
        if keys is None or "within" not in keys or "calendar" not in keys:
            return None
        within = parse_duration(self.r, keys["within"], what)
        calendar = self.r.string(keys["calendar"], f"the calendar of {what}")
        if calendar is not None and calendar not in self.calendars:
            self.r.problem(keys["calendar"], f"unknown calendar {calendar!r} in {what}; known calendars are "
                                             f"{allowed_list(self.calendars)}")
        steps: list[EscalationStep] = []
        previous: Duration | None = None
        for index, item in enumerate(self.r.sequence(keys["escalation"], f"the escalation of {what}") or []
                                     if "escalation" in keys else []):
            step_what = f"escalation step {index + 1} of state {state!r}"
            step_keys = self.r.mapping(item, step_what, allowed=("after", "notify", "template"),
                                       required=("after", "notify", "template"))
            if not step_keys or len(step_keys) < 3:
                continue
            after = parse_duration(self.r, step_keys["after"], step_what)
            notify = self.recipients(step_keys["notify"], step_what)
            template = self.template_ref(step_keys["template"], step_what)
            if after is not None and previous is not None and after.minutes <= previous.minutes \
                    and after.unit == previous.unit:
                self.r.problem(step_keys["after"], f"{step_what} must come after the previous step "
                                                   f"({previous}), not at {after}")
            if after is not None and template is not None:
                steps.append(EscalationStep(after, notify, template, self.r.where(item)))
                previous = after
        if within is None or calendar is None:
            return None
        if within.amount == 0:
            self.r.problem(keys["within"], f"{what} must be longer than 0")
        return Deadline(within, calendar, tuple(steps), self.r.where(node))

    def state(self, name: str, node: yaml.Node) -> StateSpec | None:
        what = f"state {name!r}"
        keys = self.r.mapping(node, what, allowed=("label", "final", "deadline"), required=("label",))
        if keys is None or "label" not in keys:
            return None
        label = self.r.string(keys["label"], f"the label of {what}")
        final = self.optional(keys, "final", lambda n: self.r.boolean(n, f"final of {what}"), False)
        deadline = self.deadline(name, keys["deadline"]) if "deadline" in keys else None
        if final and deadline is not None:
            self.r.problem(keys["deadline"], f"{what} is final and cannot have a deadline")
        return StateSpec(name, label or name, final, deadline, self.r.where(node))

    def inputs(self, node: yaml.Node | None, what: str) -> tuple[InputSpec, ...]:
        if node is None:
            return ()
        specs: list[InputSpec] = []
        for field, item in (self.r.mapping(node, f"the input of {what}") or {}).items():
            requirement = self.r.string(item, f"input {field!r} of {what}")
            if requirement is not None and requirement not in _REQUIREMENT:
                self.r.problem(item, f"input {field!r} of {what} must be 'required' or 'optional', "
                                     f"not {requirement!r}")
                continue
            if self.field_ref(field, item, f"the input of {what}") and requirement is not None:
                specs.append(InputSpec(field, requirement == "required"))
        return tuple(specs)

    def notices(self, node: yaml.Node | None, what: str) -> tuple[NoticeSpec, ...]:
        if node is None:
            return ()
        specs: list[NoticeSpec] = []
        for index, item in enumerate(self.r.sequence(node, f"the notices of {what}") or []):
            notice_what = f"notice {index + 1} of {what}"
            keys = self.r.mapping(item, notice_what, allowed=("to", "template"), required=("to", "template"))
            if not keys or len(keys) < 2:
                continue
            to = self.recipients(keys["to"], notice_what)
            template = self.template_ref(keys["template"], notice_what)
            if template is not None:
                specs.append(NoticeSpec(to, template, self.r.where(item)))
        return tuple(specs)

    def roles_list(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        found = []
        for value, item in self.r.names(node, what):
            self.role_ref(value, item, what)
            found.append(value)
        if not found:
            self.r.problem(node, f"{what} must name at least one role")
        return tuple(found)

    def guard(self, node: yaml.Node, what: str) -> str | None:
        source = self.r.string(node, f"the guard of {what}")
        if source is None:
            return None
        error = self.checks.guard(source, frozenset(self.fields))
        if error:
            self.r.problem(node, f"bad guard {source!r} of {what}: {error}")
        return source

    def transition(self, index: int, node: yaml.Node) -> TransitionSpec | None:
        keys = self.r.mapping(node, f"transition {index + 1}",
                              allowed=("trigger", "label", "from", "to", "roles", "input", "requires",
                                       "guard", "notices"),
                              required=("trigger", "label", "from", "to", "roles"))
        if keys is None or "trigger" not in keys:
            return None
        trigger = self.r.name(keys["trigger"], f"the trigger of transition {index + 1}")
        what = f"transition {trigger or index + 1!r}"
        label = self.r.string(keys["label"], f"the label of {what}") if "label" in keys else None
        sources: list[str] = []
        if "from" in keys:
            for value, item in self.r.names(keys["from"], f"the 'from' of {what}"):
                if self.state_ref(value, item, f"the 'from' of {what}"):
                    sources.append(value)
        dest: str | None = None
        if "to" in keys:
            dest = self.r.string(keys["to"], f"the 'to' of {what}")
            if dest is not None and not self.state_ref(dest, keys["to"], f"the 'to' of {what}"):
                dest = None
        roles = self.roles_list(keys["roles"], f"the roles of {what}") if "roles" in keys else ()
        inputs = self.inputs(keys.get("input"), what)
        requires: list[str] = []
        for value, item in self.r.names(keys["requires"], f"the requires of {what}") if "requires" in keys else []:
            if self.field_ref(value, item, f"the requires of {what}"):
                requires.append(value)
        guard = self.guard(keys["guard"], what) if "guard" in keys else None
        notices = self.notices(keys.get("notices"), what)
        if trigger is None or label is None or not sources or dest is None or not roles:
            return None
        return TransitionSpec(trigger, label, tuple(sources), dest, roles, inputs, tuple(requires), guard,
                              notices, self.r.where(node))

    def intake(self, node: yaml.Node) -> IntakeSpec | None:
        what = "the intake"
        keys = self.r.mapping(node, what, allowed=("trigger", "label", "roles", "input", "notices"),
                              required=("trigger", "label", "roles"))
        if keys is None or not {"trigger", "label", "roles"} <= keys.keys():
            return None
        trigger = self.r.name(keys["trigger"], f"the trigger of {what}")
        label = self.r.string(keys["label"], f"the label of {what}")
        roles = self.roles_list(keys["roles"], f"the roles of {what}")
        inputs = self.inputs(keys.get("input"), what)
        notices = self.notices(keys.get("notices"), what)
        if trigger is None or label is None:
            return None
        return IntakeSpec(trigger, label, roles, inputs, notices, self.r.where(node))

    def schedule(self, name: str, node: yaml.Node) -> ScheduleSpec | None:
        what = f"schedule {name!r}"
        keys = self.r.mapping(node, what, allowed=("label", "cron", "working_days", "to", "template"),
                              required=("label", "cron", "to", "template"))
        if keys is None or not {"label", "cron", "to", "template"} <= keys.keys():
            return None
        label = self.r.string(keys["label"], f"the label of {what}")
        cron = self.r.string(keys["cron"], f"the cron of {what}")
        if cron is not None:
            error = self.checks.cron(cron, self.timezone)
            if error:
                self.r.problem(keys["cron"], f"bad cron expression {cron!r} in {what}: {error}")
        working_days: str | None = None
        if "working_days" in keys:
            working_days = self.r.string(keys["working_days"], f"working_days of {what}")
            if working_days is not None and working_days not in self.calendars:
                self.r.problem(keys["working_days"], f"unknown calendar {working_days!r} in {what}; known "
                                                     f"calendars are {allowed_list(self.calendars)}")
        to = self.recipients(keys["to"], what)
        template = self.template_ref(keys["template"], what)
        if label is None or cron is None or template is None:
            return None
        return ScheduleSpec(name, label, cron, working_days, to, template, self.r.where(node))


def parse_workflow(text: str, path: str, roles_loader: Callable[[str], RoleBook | None],
                   checks: ExternalChecks) -> tuple[WorkflowDefinition | None, list[Problem]]:
    """Parse and validate a workflow file; ``roles_loader`` resolves its ``roles:`` name."""
    reader = Reader(path)
    root = reader.compose(text)
    if root is None:
        return None, reader.problems
    top = reader.mapping(root, "the workflow file", allowed=_TOP_KEYS, required=_TOP_REQUIRED)
    if top is None:
        return None, reader.problems

    roles: RoleBook | None = None
    if "roles" in top:
        roles_name = reader.name(top["roles"], "roles")
        if roles_name is not None:
            roles = roles_loader(roles_name)
            if roles is None:
                reader.problem(top["roles"], f"roles {roles_name!r} could not be loaded; expected a valid "
                                             f"roles/{roles_name}.yaml")
    parser = _WorkflowParser(reader, roles, checks)

    name = reader.name(top["workflow"], "workflow") if "workflow" in top else None
    title = reader.string(top["title"], "title") if "title" in top else None
    version = reader.integer(top["version"], "version", minimum=1) if "version" in top else None
    if "timezone" in top:
        zone = reader.string(top["timezone"], "timezone")
        if zone is not None:
            try:
                ZoneInfo(zone)
                parser.timezone = zone
            except (ZoneInfoNotFoundError, ValueError):
                reader.problem(top["timezone"], f"unknown time zone {zone!r}; use an IANA name such as "
                                                "Asia/Makassar")
    prefix = "TRK"
    if "number_prefix" in top:
        value = reader.string(top["number_prefix"], "number_prefix")
        if value is not None and not re.fullmatch(r"[A-Z]{2,6}", value):
            reader.problem(top["number_prefix"], f"number_prefix {value!r} must be 2 to 6 capital letters, e.g. TRK")
        elif value is not None:
            prefix = value

    for field_name, node in (reader.mapping(top["fields"], "fields") or {}).items() if "fields" in top else []:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", field_name):
            reader.problem(node, f"field name {field_name!r} is not valid; use lower-case letters, digits, "
                                 "underscores")
            continue
        spec = parser.field(field_name, node)
        if spec:
            parser.fields[field_name] = spec

    scope_field: str | None = None
    if "scope_field" in top:
        scope_field = reader.string(top["scope_field"], "scope_field")
        if scope_field is not None and parser.field_ref(scope_field, top["scope_field"], "scope_field"):
            if parser.fields[scope_field].type != "choice":
                reader.problem(top["scope_field"], f"scope_field {scope_field!r} must be a choice field")
    contact = _parse_contact(parser, top.get("contact"))

    if "calendars" in top:
        for cal_name, node in (reader.mapping(top["calendars"], "calendars") or {}).items():
            spec_cal = parser.calendar(cal_name, node)
            if spec_cal:
                parser.calendars[cal_name] = spec_cal

    if "states" in top:
        state_nodes = reader.mapping(top["states"], "states") or {}
        # Register names first so a deadline or transition can refer to any state.
        for state_name, node in state_nodes.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", state_name):
                reader.problem(node, f"state name {state_name!r} is not valid; use lower-case letters, "
                                     "digits, underscores")
                continue
            spec_state = parser.state(state_name, node)
            if spec_state:
                parser.states[state_name] = spec_state

    initial: str | None = None
    if "initial" in top:
        initial = reader.string(top["initial"], "initial")
        if initial is not None and parser.state_ref(initial, top["initial"], "initial"):
            if parser.states[initial].final:
                reader.problem(top["initial"], f"the initial state {initial!r} must not be final")
        else:
            initial = None

    intake = parser.intake(top["intake"]) if "intake" in top else None

    transitions: list[TransitionSpec] = []
    if "transitions" in top:
        for index, node in enumerate(reader.sequence(top["transitions"], "transitions") or []):
            spec_t = parser.transition(index, node)
            if spec_t:
                transitions.append(spec_t)

    schedules: list[ScheduleSpec] = []
    if "schedules" in top:
        for sched_name, node in (reader.mapping(top["schedules"], "schedules") or {}).items():
            spec_s = parser.schedule(sched_name, node)
            if spec_s:
                schedules.append(spec_s)

    _check_graph(reader, top, parser.states, initial, transitions, intake)

    if reader.problems or None in (name, title, version, initial, intake, roles):
        if not reader.problems:
            reader.problem(root, "the workflow is incomplete")
        return None, reader.problems
    definition = WorkflowDefinition(
        name=cast(str, name), title=cast(str, title), version=cast(int, version), timezone=parser.timezone,
        number_prefix=prefix, scope_field=scope_field, contact=contact,
        fields=frozen_map(parser.fields), calendars=frozen_map(parser.calendars),  # type: ignore[arg-type]
        states=frozen_map(parser.states), initial=cast(str, initial),  # type: ignore[arg-type]
        intake=cast(IntakeSpec, intake), transitions=tuple(transitions), schedules=tuple(schedules),
        roles=cast(RoleBook, roles), path=path,
    )
    return definition, reader.problems


def _parse_contact(parser: _WorkflowParser, node: yaml.Node | None) -> ContactSpec:
    if node is None:
        return ContactSpec(None, None, None, None)
    expected = {"name": ("text",), "phone": ("phone",), "email": ("email",), "anonymous": ("boolean",)}
    keys = parser.r.mapping(node, "contact", allowed=expected) or {}
    found: dict[str, str | None] = dict.fromkeys(expected)
    for key, item in keys.items():
        value = parser.r.string(item, f"contact {key}")
        if value is not None and parser.field_ref(value, item, f"contact {key}"):
            if parser.fields[value].type not in expected[key]:
                parser.r.problem(item, f"contact {key} field {value!r} must be of type "
                                       f"{' or '.join(expected[key])}, not {parser.fields[value].type}")
            found[key] = value
    return ContactSpec(found["name"], found["phone"], found["email"], found["anonymous"])


def _check_graph(reader: Reader, top: dict[str, yaml.Node], states: dict[str, StateSpec], initial: str | None,
                 transitions: list[TransitionSpec], intake: IntakeSpec | None) -> None:
    """Whole-graph checks: reachability, dead ends, exits from final states, ambiguous triggers."""
    if intake is not None and any(t.trigger == intake.trigger for t in transitions):
        reader.problem(top["intake"], f"the intake trigger {intake.trigger!r} is also used by a transition")
    seen: dict[tuple[str, str], list[TransitionSpec]] = {}
    for t in transitions:
        for source in t.sources:
            if states.get(source) and states[source].final:
                reader.problem(t.where, f"transition {t.trigger!r} leaves the final state {source!r}; a final "
                                        "state cannot have a way out")
            seen.setdefault((source, t.trigger), []).append(t)
    for (source, trigger), group in seen.items():
        guards = [t.guard for t in group]
        if len(group) > 1 and (None in guards or len(set(guards)) < len(guards)):
            later = group[1]
            reader.problem(later.where, f"transition {trigger!r} from state {source!r} is defined twice "
                                        f"(first at line {group[0].where.line}) and their guards cannot be "
                                        "told apart; give each a different guard")
    if initial is None:
        return
    reachable = {initial}
    frontier = [initial]
    while frontier:
        state = frontier.pop()
        for t in transitions:
            if state in t.sources and t.dest not in reachable:
                reachable.add(t.dest)
                frontier.append(t.dest)
    for name, spec in states.items():
        if name not in reachable:
            reader.problem(spec.where, f"state {name!r} cannot be reached from the initial state {initial!r}")
        if not spec.final and not any(name in t.sources for t in transitions):
            reader.problem(spec.where, f"state {name!r} is not final but no transition leaves it; add a "
                                       "transition or mark it final: true")

