"""YAML text → frozen definition objects, collecting every problem of a file in one pass.

Parsing is pure. Checks that need an engine of their own (guard expressions, cron expressions,
templates) are delegated to an ``ExternalChecks`` object passed in by the caller, so this package
never imports Jinja or APScheduler.

Every problem names the place (``path:line:col``), the bad value and what would be accepted.
A mistake is reported once: a reference to something that is itself broken (a field whose type
is wrong, a state without a label) is not reported again, and the whole-graph checks are skipped
while the graph has dangling ends, because their findings would only echo the first mistake.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, time
from typing import TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from engine.definition.model import (
    ALL_SCOPE,
    CAPABILITIES,
    COMPLAINANT,
    NO_CHANNEL_TEMPLATES,
    NO_REPORTS,
    FIELD_TYPES,
    STAFF_PREFIX,
    CalendarSpec,
    CheckpointNoticeSpec,
    ReportSpec,
    ContactSpec,
    Deadline,
    Duration,
    DurationUnit,
    DEFAULT_CASE_LABEL,
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
from engine.definition.channel_templates import parse_whatsapp
from engine.definition.public import check_reserved_triggers, parse_public
from engine.definition.yamlnodes import NAME, Reader, Where, allowed_list, shown, suggestion
from engine.definition.checks import HOLIDAY_CATEGORIES, ExternalChecks, NoExternalChecks, holiday_categories
from engine.errors import Problem

__all__ = ["ExternalChecks", "NoExternalChecks", "holiday_categories", "parse_duration", "parse_roles", "parse_workflow"]

T = TypeVar("T")

_DURATION = re.compile(r"^\s*([0-9]+)\s*([mhd])\s*$")
_MAX_DURATION_MINUTES = 366 * 24 * 60
_HOURS = re.compile(r"^\s*([0-2][0-9]):([0-5][0-9])\s*-\s*([0-2][0-9]):([0-5][0-9])\s*$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_WEEKDAYS = {
    "senin": 1, "selasa": 2, "rabu": 3, "kamis": 4, "jumat": 5, "sabtu": 6, "minggu": 7,
    "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7,
}  # fmt: skip
_CALENDAR_TYPES = ("office_hours", "around_the_clock")
_REQUIREMENT = ("required", "optional")
_ZONE = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")
_STAFF = re.compile(r"@[A-Za-z0-9_.-]+")
_PAIRS = {")": "(", "]": "[", "}": "{"}


def _external(check: Callable[..., str | None], *args: str) -> str | None:
    """Run one external check; an exception it lets escape becomes the problem's text.

    The checks wrap other engines (Jinja, APScheduler) whose error types are not all known here,
    and a definition must only ever be answered with a list of problems, never a traceback.
    """
    try:
        return check(*args)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        # Jinja's errors append a source excerpt to str(); their ``message`` is the one-line part.
        detail = " ".join(str(getattr(exc, "message", None) or exc).split()) or type(exc).__name__
        return f"it could not be checked ({detail})"


def parse_duration(reader: Reader, node: yaml.Node, what: str) -> Duration | None:
    """``90m``, ``4h`` or ``3d`` → Duration; anything else is a located problem."""
    text = reader.string(node, what)
    if text is None:
        return None
    match = _DURATION.match(text)
    if not match:
        reader.problem(
            node,
            f"bad duration {shown(text)} in {what}; write a whole number followed by m (minutes), "
            "h (hours) or d (days), e.g. 90m, 4h, 3d",
        )
        return None
    digits = match.group(1).lstrip("0") or "0"
    duration = Duration(int(digits), cast(DurationUnit, match.group(2))) if len(digits) <= 9 else None
    if duration is None or duration.minutes > _MAX_DURATION_MINUTES:
        reader.problem(node, f"duration {shown(text)} in {what} is longer than a year; at most 366d is accepted")
        return None
    return duration


def _guard_shape_problem(source: str) -> str | None:
    """Why ``source`` cannot be one expression, judged by its brackets, or None.

    The guard engine checks an expression by wrapping it in ``( … )``; an unmatched bracket or a
    top-level comma could close that wrapper early and pass the check yet fail to compile.
    """
    stack: list[str] = []
    quote: str | None = None
    escaped = False
    for char in source:
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "([{":
            stack.append(char)
        elif char in ")]}":
            if not stack or stack[-1] != _PAIRS[char]:
                return f"it does not parse (unmatched {char!r})"
            stack.pop()
        elif char == "," and not stack:
            return "it does not parse (a ',' outside brackets; join conditions with 'and' or 'or')"
    if quote is not None:
        return f"it does not parse (the text starting with {quote} is not closed)"
    if stack:
        return f"it does not parse ({stack[-1]!r} is not closed)"
    return None


def _office_minutes(calendar: CalendarSpec) -> int:
    return (calendar.closes.hour * 60 + calendar.closes.minute) - (calendar.opens.hour * 60 + calendar.opens.minute)


def _counted_minutes(duration: Duration, calendar: CalendarSpec | None) -> int:
    """Length on ``calendar``: on office hours a day counts as one opening-to-closing span."""
    if duration.unit == "d" and calendar is not None and not calendar.around_the_clock:
        return duration.amount * _office_minutes(calendar)
    return duration.minutes


def _span(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return f"{hours}h{rest:02d}m" if rest else f"{hours}h"


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
        entries = reader.mapping(top["roles"], "roles")
        if entries is not None and not cast(yaml.MappingNode, top["roles"]).value:
            reader.problem(top["roles"], "roles must name at least one role")
        for role_name, node in (entries or {}).items():
            spec = _parse_role(reader, role_name, node)
            if spec:
                roles[role_name] = spec
    book = RoleBook(name, frozen_map(roles), path) if not reader.problems else None  # type: ignore[arg-type]
    return book, reader.problems


def _parse_role(reader: Reader, name: str, node: yaml.Node) -> RoleSpec | None:
    what = f"role {name!r}"
    where = reader.key_where(node)
    if not NAME.fullmatch(name):
        reader.problem(where, f"role name {shown(name)} is not valid; use lower-case letters, digits and "
                              "underscores, starting with a letter")
    keys = reader.mapping(node, what, allowed=("label", "scope", "sees_pii", "can", "description"),
                          required=("label",))
    if keys is None:
        return None
    label = reader.string(keys["label"], f"the label of {what}") if "label" in keys else None
    scope = ALL_SCOPE
    if "scope" in keys:
        # Either `all` or the name of a workflow's scope field; the workflow checks which (it knows its field).
        scope = reader.name(keys["scope"], f"the scope of {what}") or ALL_SCOPE
    can: list[str] = []
    for item in (reader.sequence(keys["can"], f"the capabilities (can) of {what}") or []) if "can" in keys else []:
        capability = reader.string(item, f"a capability of {what}")
        if capability is None:
            continue
        if capability not in CAPABILITIES:
            reader.problem(item, f"unknown capability {shown(capability)} of {what}; allowed capabilities are "
                                 f"{allowed_list(CAPABILITIES)}")
        elif capability in can:
            reader.problem(item, f"capability {capability!r} is listed twice for {what}")
        else:
            can.append(capability)
    sees_pii = reader.boolean(keys["sees_pii"], f"sees_pii of {what}") if "sees_pii" in keys else False
    description = ""
    if "description" in keys:
        description = reader.string(keys["description"], f"the description of {what}", allow_empty=True) or ""
    if label is None:
        return None
    return RoleSpec(name, label, scope, bool(sees_pii), description, where, frozenset(can))


# -- workflow ----------------------------------------------------------------------------------

_TOP_KEYS = (
    "case_label",
    "workflow", "title", "version", "timezone", "roles", "number_prefix", "scope_field",
    "contact", "calendars", "fields", "states", "initial", "intake", "transitions", "schedules", "reports",
    "fallback", "checkpoints", "public", "whatsapp",
)  # fmt: skip
_TOP_REQUIRED = ("workflow", "title", "version", "timezone", "roles", "fields", "states", "initial",
                 "intake", "transitions")  # fmt: skip
_CONTACT_TYPES = {"name": ("text",), "phone": ("phone",), "email": ("email",), "anonymous": ("boolean",)}


def _peek(node: yaml.Node, key: str) -> str | None:
    """The plain-name value of ``key`` in a mapping node, read before the mapping is checked."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key and isinstance(value, yaml.ScalarNode):
                return str(value.value) if NAME.fullmatch(str(value.value)) else None
    return None


class _WorkflowParser:
    """Holds the reader and what has been parsed so far, so cross-references can be checked."""

    def __init__(self, reader: Reader, roles: RoleBook | None, checks: ExternalChecks) -> None:
        self.r = reader
        self.roles = roles
        self.checks = checks
        self.field_names: set[str] = set()
        """Every field declared with a valid name, even one whose own entry has problems."""
        self.fields: dict[str, FieldSpec] = {}
        self.calendar_names: set[str] = set()
        self.calendars: dict[str, CalendarSpec] = {}
        self.state_names: set[str] = set()
        self.states: dict[str, StateSpec] = {}
        self.unsure_final: set[str] = set()
        """States whose ``final`` could not be read: graph checks do not judge them."""
        self.graph_complete = True
        """False once a transition has a missing or unknown end; the graph checks then stay silent."""
        self.timezone = "UTC"  # until the file's own `timezone:` is read
        self.templates_seen: dict[str, str | None] = {}
        self.intake_trigger: yaml.Node | None = None
        self.unreadable: set[str] = set()
        """Sections (fields, states, calendars) that are missing or not a mapping: references into
        them cannot be judged and are not reported again."""

    # -- small helpers --------------------------------------------------------------------
    def optional(self, keys: dict[str, yaml.Node], key: str, read: Callable[[yaml.Node], T | None],
                 default: T) -> T:
        if key not in keys:
            return default
        value = read(keys[key])
        return default if value is None else value

    def _unknown(self, kind: str, value: str, at: yaml.Node | Where, what: str, known: Iterable[str]) -> None:
        names = sorted(known)
        self.r.problem(at, f"unknown {kind} {shown(value)} in {what}; known {kind}s are {allowed_list(names)}"
                           f"{suggestion(value, names)}")

    def role_ref(self, value: str, node: yaml.Node, what: str) -> None:
        if self.roles is not None and value not in self.roles.roles:
            self._unknown("role", value, node, what, self.roles.roles)

    def field_ref(self, value: str, at: yaml.Node | Where, what: str) -> bool:
        """Whether ``value`` names a declared field; an unknown one is reported."""
        if "fields" in self.unreadable:
            return False
        if value not in self.field_names:
            self._unknown("field", value, at, what, self.field_names)
            return False
        return True

    def state_ref(self, value: str, node: yaml.Node | Where, what: str) -> bool:
        """Whether ``value`` names a declared state; an unknown one is reported."""
        if "states" in self.unreadable:
            return False
        if value not in self.state_names:
            self._unknown("state", value, node, what, self.state_names)
            return False
        return True

    def calendar_ref(self, node: yaml.Node, what: str) -> str | None:
        value = self.r.string(node, what)
        if value is not None and "calendars" in self.unreadable:
            return None
        if value is not None and value not in self.calendar_names:
            self._unknown("calendar", value, node, what, self.calendar_names)
            return None
        return value

    def template_ref(self, node: yaml.Node, what: str) -> str | None:
        name = self.r.string(node, f"the template of {what}")
        if name is None:
            return None
        if name not in self.templates_seen:
            self.templates_seen[name] = _external(self.checks.template, name)
        error = self.templates_seen[name]
        if error:
            self.r.problem(node, f"template {shown(name)} of {what}: {error}")
        return name

    def recipients(self, node: yaml.Node, what: str, *, complainant: bool = True) -> tuple[str, ...]:
        found: list[str] = []
        for value, item in self.r.names(node, what):
            if value == COMPLAINANT:
                if not complainant:
                    self.r.problem(item, f"{what} cannot notify {COMPLAINANT!r}: it is not about one case; "
                                         "name roles or @username")
                    continue
            elif value.startswith(STAFF_PREFIX):
                if not _STAFF.fullmatch(value):
                    self.r.problem(item, f"bad staff recipient {shown(value)} in {what}; write @username with "
                                         "letters, digits, '.', '_' or '-'")
                    continue
            elif self.roles is not None and value not in self.roles.roles:
                options = sorted(self.roles.roles) + ([COMPLAINANT] if complainant else [])
                also = f", {COMPLAINANT!r}" if complainant else ""
                self.r.problem(item, f"unknown recipient {shown(value)} in {what}; use a role "
                                     f"({allowed_list(self.roles.roles)}){also} or @username"
                                     f"{suggestion(value, options)}")
                continue
            if value not in found:
                found.append(value)
        if isinstance(node, yaml.SequenceNode) and not node.value:
            self.r.problem(node, f"{what} must name at least one recipient")
        return tuple(found)

    # -- sections -------------------------------------------------------------------------
    def field(self, name: str, node: yaml.Node) -> FieldSpec | None:
        what = f"field {name!r}"
        keys = self.r.mapping(node, what, allowed=("type", "label", "pii", "max_length", "values"),
                              required=("type", "label"))
        if keys is None:
            return None
        ftype: str | None = None
        if "type" in keys:
            ftype = self.r.string(keys["type"], f"the type of {what}")
            if ftype is not None and ftype not in FIELD_TYPES:
                self.r.problem(keys["type"], f"unknown type {shown(ftype)} of {what}; allowed types are "
                                             f"{allowed_list(FIELD_TYPES)}{suggestion(ftype, FIELD_TYPES)}")
                ftype = None
        label = self.r.string(keys["label"], f"the label of {what}") if "label" in keys else None
        pii = self.optional(keys, "pii", lambda n: self.r.boolean(n, f"pii of {what}"), False)
        max_length: int | None = None
        if "max_length" in keys:
            if ftype not in (None, "text"):
                self.r.problem(self.r.key_where(keys["max_length"]),
                               f"max_length is only for text fields, and {what} is of type {ftype}")
            else:
                max_length = self.r.integer(keys["max_length"], f"max_length of {what}", minimum=1)
        choices: dict[str, str] = {}
        if "values" in keys:
            if ftype not in (None, "choice"):
                self.r.problem(self.r.key_where(keys["values"]),
                               f"values are only for choice fields, and {what} is of type {ftype}")
            else:
                entries = self.r.mapping(keys["values"], f"the values of {what}")
                if entries is not None and not cast(yaml.MappingNode, keys["values"]).value:
                    self.r.problem(keys["values"], f"{what} is a choice field and needs at least one value "
                                                   "(value: label)")
                for key, label_node in (entries or {}).items():
                    choice_label = self.r.string(label_node, f"the label of value {key!r} of {what}")
                    choices[key] = choice_label or key
        elif ftype == "choice":
            self.r.problem(keys["type"], f"{what} is a choice field and needs values (a mapping of value: label)")
        if ftype is None or label is None or (ftype == "choice" and not choices):
            return None
        return FieldSpec(name, cast(FieldType, ftype), label, pii, max_length, frozen_map(choices),  # type: ignore[arg-type]
                         self.r.key_where(node))

    def calendar(self, name: str, node: yaml.Node) -> CalendarSpec | None:
        what = f"calendar {name!r}"
        keys = self.r.mapping(node, what, allowed=("type", "days", "hours", "holidays", "add_holidays",
                                                    "remove_holidays"), required=("type",))
        if keys is None or "type" not in keys:
            return None
        kind = self.r.string(keys["type"], f"the type of {what}")
        if kind is None:
            return None
        if kind not in _CALENDAR_TYPES:
            self.r.problem(keys["type"], f"unknown calendar type {shown(kind)} of {what}; allowed types are "
                                         f"{allowed_list(_CALENDAR_TYPES)}{suggestion(kind, _CALENDAR_TYPES)}")
            return None
        where = self.r.key_where(node)
        if kind == "around_the_clock":
            for extra in ("days", "hours", "holidays", "add_holidays", "remove_holidays"):
                if extra in keys:
                    self.r.problem(self.r.key_where(keys[extra]),
                                   f"{extra} does not apply to {what}, which is around_the_clock")
            return CalendarSpec(name, True, frozenset(range(1, 8)), time(0), time(0), None, (), frozenset(),
                                frozenset(), where)
        missing = [needed for needed in ("days", "hours") if needed not in keys]
        for needed in missing:
            self.r.problem(node, f"{what} is an office_hours calendar and needs {needed!r}")
        weekdays = self.weekdays(keys["days"], what) if "days" in keys else None
        hours = self.hours(keys["hours"], what) if "hours" in keys else None
        country, categories = self.holidays(keys.get("holidays"), what)
        add = self.dates(keys.get("add_holidays"), f"add_holidays of {what}")
        remove = self.dates(keys.get("remove_holidays"), f"remove_holidays of {what}")
        if weekdays is None or hours is None:
            return None
        return CalendarSpec(name, False, frozenset(weekdays), hours[0], hours[1], country, categories,
                            frozenset(add), frozenset(remove), where)

    def weekdays(self, node: yaml.Node, what: str) -> set[int] | None:
        days: set[int] = set()
        entries = self.r.names(node, f"the days of {what}")
        bad = False
        for value, item in entries:
            if value.lower() not in _WEEKDAYS:
                self.r.problem(item, f"unknown day {shown(value)} in {what}; use senin, selasa, rabu, kamis, "
                                     f"jumat, sabtu, minggu (or mon … sun){suggestion(value.lower(), _WEEKDAYS)}")
                bad = True
            else:
                days.add(_WEEKDAYS[value.lower()])
        if isinstance(node, yaml.SequenceNode) and not node.value:
            self.r.problem(node, f"the days of {what} must name at least one working day")
        return days if days and not bad else None

    def hours(self, node: yaml.Node, what: str) -> tuple[time, time] | None:
        text = self.r.string(node, f"the hours of {what}")
        if text is None:
            return None
        match = _HOURS.match(text)
        parsed: tuple[time, time] | None = None
        if match:
            try:
                parsed = (time(int(match.group(1)), int(match.group(2))),
                          time(int(match.group(3)), int(match.group(4))))
            except ValueError:
                parsed = None
        if parsed is None or parsed[0] >= parsed[1]:
            self.r.problem(node, f"bad office hours {shown(text)} in {what}; write HH:MM-HH:MM with the opening "
                                 "before the closing, e.g. 07:30-16:00")
            return None
        return parsed

    def holidays(self, node: yaml.Node | None, what: str) -> tuple[str | None, tuple[str, ...]]:
        if node is None:
            return None, ()
        keys = self.r.mapping(node, f"the holidays of {what}", allowed=("country", "categories"),
                              required=("country",))
        if not keys or "country" not in keys:
            return None, ()
        country = self.r.string(keys["country"], f"the holiday country of {what}")
        offered: Iterable[str] = HOLIDAY_CATEGORIES
        if country is not None:
            categories_offered = self.checks.holiday_categories(country)
            if categories_offered is None:
                import holidays as holidays_lib

                supported = holidays_lib.list_supported_countries()
                self.r.problem(keys["country"], f"unknown holiday country {shown(country)} in {what}; use an "
                                                "ISO 3166 code supported by the holidays package, e.g. ID"
                                                f"{suggestion(country.upper(), supported)}")
                country = None
            else:
                offered = categories_offered
        categories: list[str] = []
        if "categories" in keys:
            for value, item in self.r.names(keys["categories"], f"the holiday categories of {what}"):
                if value not in offered:
                    place = f" for country {country!r}" if country else ""
                    self.r.problem(item, f"unknown holiday category {shown(value)}{place} in {what}; allowed "
                                         f"categories are {allowed_list(offered)}")
                elif value not in categories:
                    categories.append(value)
        return country, tuple(categories) or ("public",)

    def dates(self, node: yaml.Node | None, what: str) -> set[date]:
        found: set[date] = set()
        if node is None:
            return found
        for value, item in self.r.names(node, what):
            try:
                if not _DATE.match(value.strip()):
                    raise ValueError(value)
                found.add(date.fromisoformat(value.strip()))
            except ValueError:
                self.r.problem(item, f"bad date {shown(value)} in {what}; write YYYY-MM-DD, e.g. 2026-12-24")
        return found

    def deadline(self, state: str, node: yaml.Node) -> Deadline | None:
        what = f"the deadline of state {state!r}"
        keys = self.r.mapping(node, what, allowed=("within", "calendar", "escalation"),
                              required=("within", "calendar"))
        if keys is None:
            return None
        within = parse_duration(self.r, keys["within"], f"'within' of {what}") if "within" in keys else None
        if within is not None and within.amount == 0:
            self.r.problem(keys["within"], f"'within' of {what} must be longer than 0, not {within}")
            within = None
        calendar = self.calendar_ref(keys["calendar"], f"the calendar of {what}") if "calendar" in keys else None
        on_calendar = self.calendars.get(calendar) if calendar else None
        steps: list[EscalationStep] = []
        previous: tuple[int, Duration] | None = None
        items = self.r.sequence(keys["escalation"], f"the escalation of {what}") or [] if "escalation" in keys else []
        for index, item in enumerate(items):
            step_what = f"escalation step {index + 1} of state {state!r}"
            step_keys = self.r.mapping(item, step_what, allowed=("after", "notify", "template"),
                                       required=("after", "notify", "template"))
            if step_keys is None:
                continue
            after = parse_duration(self.r, step_keys["after"], f"'after' of {step_what}") \
                if "after" in step_keys else None
            notify = self.recipients(step_keys["notify"], step_what) if "notify" in step_keys else ()
            template = self.template_ref(step_keys["template"], step_what) if "template" in step_keys else None
            if after is not None:
                if previous is not None:
                    self.step_order(step_keys["after"], step_what, after, previous, on_calendar)
                previous = (index + 1, after)
            if after is not None and notify and template is not None:
                steps.append(EscalationStep(after, notify, template, self.r.where(item)))
        if within is None or calendar is None:
            return None
        return Deadline(within, calendar, tuple(steps), self.r.key_where(node))

    def step_order(self, node: yaml.Node, what: str, after: Duration, previous: tuple[int, Duration],
                   calendar: CalendarSpec | None) -> None:
        """Each step must come strictly later than the one before it."""
        number, before = previous
        if after.unit != before.unit and calendar is None:
            return  # the calendar is unknown (already reported), so days cannot be compared with hours
        if _counted_minutes(after, calendar) > _counted_minutes(before, calendar):
            return
        note = ""
        if "d" in (after.unit, before.unit) and after.unit != before.unit and calendar is not None \
                and not calendar.around_the_clock:
            note = f" (a day on calendar {calendar.name!r} is {_span(_office_minutes(calendar))} of office time)"
        self.r.problem(node, f"{what} comes at {after}, which is not later than step {number} at {before}{note}; "
                             "list the steps in order of 'after'")

    def state(self, name: str, node: yaml.Node) -> StateSpec:
        """The state as far as it can be read; a broken one still takes part in the graph."""
        what = f"state {name!r}"
        where = self.r.key_where(node)
        keys = self.r.mapping(node, what, allowed=("label", "final", "deadline"), required=("label",))
        if keys is None:
            self.unsure_final.add(name)
            return StateSpec(name, name, False, None, where)
        label = self.r.string(keys["label"], f"the label of {what}") if "label" in keys else None
        final = False
        if "final" in keys:
            read = self.r.boolean(keys["final"], f"final of {what}")
            if read is None:
                self.unsure_final.add(name)
            final = bool(read)
        deadline = self.deadline(name, keys["deadline"]) if "deadline" in keys else None
        if final and "deadline" in keys:
            self.r.problem(self.r.key_where(keys["deadline"]), f"{what} is final and cannot have a deadline")
        return StateSpec(name, label or name, final, deadline, where)

    def inputs(self, node: yaml.Node | None, what: str) -> tuple[InputSpec, ...]:
        if node is None:
            return ()
        specs: list[InputSpec] = []
        for field_name, item in (self.r.mapping(node, f"the input of {what}") or {}).items():
            known = self.field_ref(field_name, self.r.key_where(item), f"the input of {what}")
            requirement = self.r.string(item, f"input {field_name!r} of {what}")
            if requirement is not None and requirement not in _REQUIREMENT:
                self.r.problem(item, f"input {field_name!r} of {what} must be 'required' or 'optional', "
                                     f"not {shown(requirement)}")
                continue
            if known and requirement is not None:
                specs.append(InputSpec(field_name, requirement == "required"))
        return tuple(specs)

    def notices(self, node: yaml.Node | None, what: str) -> tuple[NoticeSpec, ...]:
        if node is None:
            return ()
        specs: list[NoticeSpec] = []
        for index, item in enumerate(self.r.sequence(node, f"the notices of {what}") or []):
            notice_what = f"notice {index + 1} of {what}"
            keys = self.r.mapping(item, notice_what, allowed=("to", "template", "required"),
                                  required=("to", "template"))
            if keys is None:
                continue
            to = self.recipients(keys["to"], notice_what) if "to" in keys else ()
            template = self.template_ref(keys["template"], notice_what) if "template" in keys else None
            required = False
            if "required" in keys:
                flag = self.r.boolean(keys["required"], f"required of {notice_what}")
                required = bool(flag)
                if required and to and all(name == COMPLAINANT for name in to):
                    self.r.problem(keys["required"], f"{notice_what} is required but names only {COMPLAINANT!r}; "
                                                     "required applies to staff recipients (roles or @username)")
            if to and template is not None:
                specs.append(NoticeSpec(to, template, self.r.where(item), required))
        return tuple(specs)

    def roles_list(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        found: list[str] = []
        for value, item in self.r.names(node, what):
            self.role_ref(value, item, what)
            if value not in found:
                found.append(value)
        if isinstance(node, yaml.SequenceNode) and not node.value:
            self.r.problem(node, f"{what} must name at least one role")
        return tuple(found)

    def guard(self, node: yaml.Node, what: str) -> str | None:
        source = self.r.string(node, f"the guard of {what}")
        if source is None:
            return None
        error = _guard_shape_problem(source)
        if error is None and "fields" not in self.unreadable:
            error = _external(self.checks.guard, source, frozenset(self.field_names))  # type: ignore[arg-type]
        if error:
            self.r.problem(node, f"bad guard {shown(source)} of {what}: {error}")
        return source

    def transition(self, index: int, node: yaml.Node) -> TransitionSpec | None:
        peeked = _peek(node, "trigger")
        what = f"transition {peeked!r}" if peeked else f"transition #{index + 1}"
        keys = self.r.mapping(node, what,
                              allowed=("trigger", "label", "from", "to", "roles", "input", "requires",
                                       "guard", "notices"),
                              required=("trigger", "label", "from", "to", "roles"))
        if keys is None:
            self.graph_complete = False
            return None
        trigger = self.r.name(keys["trigger"], f"the trigger of {what}") if "trigger" in keys else None
        label = self.r.string(keys["label"], f"the label of {what}") if "label" in keys else None
        sources: list[str] = []
        complete = "from" in keys and "to" in keys
        if "from" in keys:
            entries = self.r.names(keys["from"], f"the 'from' of {what}")
            for value, item in entries:
                if not self.state_ref(value, item, f"the 'from' of {what}"):
                    complete = False
                elif value in sources:
                    self.r.problem(item, f"state {value!r} is named twice in the 'from' of {what}")
                else:
                    sources.append(value)
            if not entries:
                complete = False
                if isinstance(keys["from"], yaml.SequenceNode) and not keys["from"].value:
                    self.r.problem(keys["from"], f"the 'from' of {what} must name at least one state")
        dest: str | None = None
        if "to" in keys:
            dest = self.r.string(keys["to"], f"the 'to' of {what}")
            if dest is not None and not self.state_ref(dest, keys["to"], f"the 'to' of {what}"):
                dest = None
            if dest is None:
                complete = False
        roles = self.roles_list(keys["roles"], f"the roles of {what}") if "roles" in keys else ()
        inputs = self.inputs(keys.get("input"), what)
        requires: list[str] = []
        for value, item in self.r.names(keys["requires"], f"the requires of {what}") if "requires" in keys else []:
            if self.field_ref(value, item, f"the requires of {what}") and value not in requires:
                requires.append(value)
        guard = self.guard(keys["guard"], what) if "guard" in keys else None
        notices = self.notices(keys.get("notices"), what)
        if not complete or trigger is None or label is None or dest is None or not roles:
            self.graph_complete = False  # a transition left out would make the graph checks misjudge
            return None
        return TransitionSpec(trigger, label, tuple(sources), dest, roles, inputs, tuple(requires), guard,
                              notices, self.r.where(node))

    def intake(self, node: yaml.Node) -> IntakeSpec | None:
        what = "the intake"
        keys = self.r.mapping(node, what, allowed=("trigger", "label", "roles", "input", "notices"),
                              required=("trigger", "label", "roles"))
        if keys is None:
            return None
        trigger = self.r.name(keys["trigger"], f"the trigger of {what}") if "trigger" in keys else None
        if trigger is not None:
            self.intake_trigger = keys["trigger"]
        label = self.r.string(keys["label"], f"the label of {what}") if "label" in keys else None
        roles = self.roles_list(keys["roles"], f"the roles of {what}") if "roles" in keys else ()
        inputs = self.inputs(keys.get("input"), what)
        notices = self.notices(keys.get("notices"), what)
        if trigger is None or label is None or not roles:
            return None
        return IntakeSpec(trigger, label, roles, inputs, notices, self.r.where(node))

    def schedule(self, name: str, node: yaml.Node) -> ScheduleSpec | None:
        what = f"schedule {name!r}"
        keys = self.r.mapping(node, what, allowed=("label", "cron", "working_days", "to", "template"),
                              required=("label", "cron", "to", "template"))
        if keys is None:
            return None
        label = self.r.string(keys["label"], f"the label of {what}") if "label" in keys else None
        cron = self.r.string(keys["cron"], f"the cron of {what}") if "cron" in keys else None
        if cron is not None:
            error = _external(self.checks.cron, cron, self.timezone)
            if error:
                self.r.problem(keys["cron"], f"bad cron expression {shown(cron)} in {what}: {error}")
                cron = None
        working_days: str | None = None
        if "working_days" in keys:
            working_days = self.calendar_ref(keys["working_days"], f"working_days of {what}")
        to = self.recipients(keys["to"], what, complainant=False) if "to" in keys else ()
        template = self.template_ref(keys["template"], what) if "template" in keys else None
        if label is None or cron is None or template is None or not to:
            return None
        return ScheduleSpec(name, label, cron, working_days, to, template, self.r.key_where(node))

    def checkpoint_notice(self, node: yaml.Node) -> CheckpointNoticeSpec | None:
        what = "checkpoints"
        keys = self.r.mapping(node, what, allowed=("to", "template"), required=("to", "template"))
        if keys is None:
            return None
        to = self.recipients(keys["to"], what, complainant=False) if "to" in keys else ()
        template = self.template_ref(keys["template"], what) if "template" in keys else None
        if template is None or not to:
            return None
        return CheckpointNoticeSpec(to, template, self.r.where(node))

    def named_entries(self, top: dict[str, yaml.Node], key: str, kind: str) -> dict[str, yaml.Node]:
        """The entries of a name → definition mapping whose names are valid."""
        if key not in top:
            if key in ("fields", "states"):
                self.unreadable.add(key)
            return {}
        entries = self.r.mapping(top[key], key)
        if entries is None:
            self.unreadable.add(key)
            return {}
        valid: dict[str, yaml.Node] = {}
        for entry_name, node in entries.items():
            if NAME.fullmatch(entry_name):
                valid[entry_name] = node
            else:
                self.r.problem(self.r.key_where(node), f"{kind} name {shown(entry_name)} is not valid; use "
                                                       "lower-case letters, digits and underscores, starting "
                                                       "with a letter")
        return valid


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
            if _known_zone(zone):
                parser.timezone = zone
            else:
                reader.problem(top["timezone"], f"unknown time zone {shown(zone)}; use an IANA name such as "
                                                "Asia/Makassar (WITA), Asia/Jakarta (WIB) or Asia/Jayapura (WIT)")
    prefix = "TRK"
    if "number_prefix" in top:
        value = reader.string(top["number_prefix"], "number_prefix")
        if value is not None and not re.fullmatch(r"[A-Z]{2,6}", value):
            reader.problem(top["number_prefix"], f"number_prefix {shown(value)} must be 2 to 6 capital letters "
                                                 "A-Z, e.g. TRK")
        elif value is not None:
            prefix = value
    case_label = DEFAULT_CASE_LABEL
    if "case_label" in top:
        label_text = reader.string(top["case_label"], "case_label")
        if label_text is not None and (len(label_text) > 40 or not label_text.isprintable()):
            reader.problem(top["case_label"], f"case_label {shown(label_text)} must be one line of at most 40 "
                                              "characters, e.g. aduan")
        elif label_text is not None:
            case_label = label_text.strip()

    field_nodes = parser.named_entries(top, "fields", "field")
    parser.field_names.update(field_nodes)
    for field_name, node in field_nodes.items():
        spec = parser.field(field_name, node)
        if spec:
            parser.fields[field_name] = spec

    scope_field: str | None = None
    scope_known = True
    if "scope_field" in top:
        scope_field = reader.string(top["scope_field"], "scope_field")
        scope_known = scope_field is not None and parser.field_ref(scope_field, top["scope_field"], "scope_field")
        if scope_known:
            spec_scope = parser.fields.get(scope_field or "")
            if spec_scope is not None and spec_scope.type != "choice":
                scope_known = False
                reader.problem(top["scope_field"], f"scope_field {scope_field!r} must be a choice field, not "
                                                   f"{spec_scope.type}")
    if roles is not None and scope_known:
        _check_role_scopes(reader, roles, scope_field, top["roles"])
    contact = _parse_contact(parser, top.get("contact"))

    calendar_nodes = parser.named_entries(top, "calendars", "calendar")
    parser.calendar_names.update(calendar_nodes)
    for cal_name, node in calendar_nodes.items():
        spec_cal = parser.calendar(cal_name, node)
        if spec_cal:
            parser.calendars[cal_name] = spec_cal

    # Register every state name first, so a deadline or transition may refer to any state.
    state_nodes = parser.named_entries(top, "states", "state")
    parser.state_names.update(state_nodes)
    if "states" in top and isinstance(top["states"], yaml.MappingNode) and not top["states"].value:
        reader.problem(top["states"], "states must name at least one state")
    for state_name, node in state_nodes.items():
        parser.states[state_name] = parser.state(state_name, node)

    initial: str | None = None
    if "initial" in top:
        initial = reader.string(top["initial"], "initial")
        if initial is not None and parser.state_ref(initial, top["initial"], "initial"):
            if parser.states[initial].final:
                reader.problem(top["initial"], f"the initial state {initial!r} must not be final: a new case "
                                               "would be closed at once")
                initial = None  # reachability from a closed start would only list every other state
        else:
            initial = None

    intake = parser.intake(top["intake"]) if "intake" in top else None

    transitions: list[TransitionSpec] = []
    if "transitions" in top:
        for index, node in enumerate(reader.sequence(top["transitions"], "transitions") or []):
            spec_t = parser.transition(index, node)
            if spec_t:
                transitions.append(spec_t)
        if not isinstance(top["transitions"], yaml.SequenceNode):
            parser.graph_complete = False

    schedules: list[ScheduleSpec] = []
    for sched_name, node in parser.named_entries(top, "schedules", "schedule").items():
        spec_s = parser.schedule(sched_name, node)
        if spec_s:
            schedules.append(spec_s)

    reports = _parse_reports(parser, top["reports"]) if "reports" in top else NO_REPORTS
    fallback = _parse_fallback(parser, top["fallback"]) if "fallback" in top else ()
    checkpoints = parser.checkpoint_notice(top["checkpoints"]) if "checkpoints" in top else None
    whatsapp = (parse_whatsapp(reader, top["whatsapp"], frozenset(parser.templates_seen)) if "whatsapp" in top
                else NO_CHANNEL_TEMPLATES)

    _check_graph(parser, top, initial, transitions, intake)
    check_reserved_triggers(parser, transitions, intake)
    public = parse_public(parser, top["public"]) if "public" in top else None

    if reader.problems or None in (name, title, version, initial, intake, roles):
        if not reader.problems:
            reader.problem(root, "the workflow is incomplete")
        return None, reader.problems
    definition = WorkflowDefinition(
        name=cast(str, name), title=cast(str, title), version=cast(int, version), timezone=parser.timezone,
        number_prefix=prefix, scope_field=scope_field, case_label=case_label, contact=contact,
        fields=frozen_map(parser.fields), calendars=frozen_map(parser.calendars),  # type: ignore[arg-type]
        states=frozen_map(parser.states), initial=cast(str, initial),  # type: ignore[arg-type]
        intake=cast(IntakeSpec, intake), transitions=tuple(transitions), schedules=tuple(schedules),
        roles=cast(RoleBook, roles), path=path, reports=reports, fallback=fallback, public=public,
        checkpoints=checkpoints, whatsapp_templates=whatsapp,
    )
    return definition, reader.problems


def _check_role_scopes(reader: Reader, roles: RoleBook, scope_field: str | None, where: yaml.Node) -> None:
    """Each role's scope is `all` or this workflow's scope field."""
    accepted = (ALL_SCOPE, scope_field) if scope_field else (ALL_SCOPE,)
    for spec in roles.roles.values():
        if spec.scope not in accepted:
            hint = (f"this workflow's scope_field is {scope_field!r}" if scope_field
                    else "this workflow has no scope_field, so every role must have scope: all")
            reader.problem(where, f"role {spec.name!r} (roles {roles.name!r}) has scope {spec.scope!r}; allowed scopes are "
                                  f"{allowed_list(accepted)} ({hint})")


_REPORT_SECTION_NAMES = frozenset({"received", "open", "overdue", "median_minutes", "p90_minutes", "name",
                                   "period_label", "period_start", "period_end"})


def _parse_fallback(parser: _WorkflowParser, node: yaml.Node) -> tuple[str, ...]:
    """``fallback: [role, @username]``: who is told when a notice reaches nobody; every one of them
    must be reachable whatever the case (no role bound to a scope value, no complainant)."""
    what = "fallback"
    names = parser.recipients(node, what, complainant=False)
    items = [node] if isinstance(node, yaml.ScalarNode) else node.value if isinstance(node, yaml.SequenceNode) else []
    for item in items:
        value = str(item.value) if isinstance(item, yaml.ScalarNode) else ""
        spec = parser.roles.roles.get(value) if parser.roles is not None else None
        if spec is not None and spec.scoped:
            parser.r.problem(item, f"fallback role {value!r} only sees the cases of its own "
                                   f"{spec.scope}; a fallback must reach someone whatever the case: use a role "
                                   "with scope: all or @username")
    return names


def _parse_reports(parser: _WorkflowParser, node: yaml.Node) -> ReportSpec:
    """``reports:`` — outcome name → final states, and the fields the recap breaks down by."""
    reader = parser.r
    keys = reader.mapping(node, "reports", allowed=("outcomes", "breakdowns"))
    if keys is None:
        return NO_REPORTS
    outcomes: dict[str, tuple[str, ...]] = {}
    counted: dict[str, str] = {}
    for outcome, states_node in (reader.mapping(keys["outcomes"], "reports.outcomes") or {}).items() \
            if "outcomes" in keys else ():
        what = f"outcome {outcome!r} of reports"
        if not NAME.fullmatch(outcome) or outcome in _REPORT_SECTION_NAMES:
            reader.problem(reader.key_where(states_node), f"outcome name {shown(outcome)} is not valid; use "
                           "lower-case letters, digits and underscores, and none of "
                           f"{allowed_list(sorted(_REPORT_SECTION_NAMES))}")
            continue
        states: list[str] = []
        for item in reader.sequence(states_node, what) or []:
            state = reader.string(item, f"a state of {what}")
            if state is None or not parser.state_ref(state, item, what):
                continue
            if not parser.states[state].final:
                reader.problem(item, f"state {state!r} of {what} is not final; outcomes count final states only")
            elif state in counted:
                reader.problem(item, f"state {state!r} is counted under outcome {counted[state]!r} already")
            else:
                counted[state] = outcome
                states.append(state)
        outcomes[outcome] = tuple(states)
    breakdowns: list[str] = []
    for item in (reader.sequence(keys["breakdowns"], "reports.breakdowns") or []) if "breakdowns" in keys else []:
        field_name = reader.string(item, "a field of reports.breakdowns")
        if field_name is None or not parser.field_ref(field_name, item, "reports.breakdowns"):
            continue
        if parser.fields.get(field_name) is not None and parser.fields[field_name].type != "choice":
            reader.problem(item, f"reports.breakdowns field {field_name!r} must be a choice field, not "
                                 f"{parser.fields[field_name].type}")
        elif field_name in breakdowns:
            reader.problem(item, f"field {field_name!r} is listed twice in reports.breakdowns")
        else:
            breakdowns.append(field_name)
    return ReportSpec(frozen_map(outcomes), tuple(breakdowns))  # type: ignore[arg-type]


def _known_zone(zone: str) -> bool:
    if not _ZONE.fullmatch(zone):
        return False
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _parse_contact(parser: _WorkflowParser, node: yaml.Node | None) -> ContactSpec:
    if node is None:
        return ContactSpec(None, None, None, None)
    keys = parser.r.mapping(node, "contact", allowed=_CONTACT_TYPES) or {}
    found: dict[str, str | None] = dict.fromkeys(_CONTACT_TYPES)
    for key, item in keys.items():
        value = parser.r.string(item, f"contact {key}")
        if value is None or not parser.field_ref(value, item, f"contact {key}"):
            continue
        spec = parser.fields.get(value)
        if spec is not None and spec.type not in _CONTACT_TYPES[key]:
            parser.r.problem(item, f"contact {key} field {value!r} must be of type "
                                   f"{' or '.join(_CONTACT_TYPES[key])}, not {spec.type}")
        found[key] = value
    return ContactSpec(found["name"], found["phone"], found["email"], found["anonymous"])


def _check_graph(parser: _WorkflowParser, top: dict[str, yaml.Node], initial: str | None,
                 transitions: list[TransitionSpec], intake: IntakeSpec | None) -> None:
    """Whole-graph checks: reachability, dead ends, exits from final states, ambiguous triggers."""
    reader, states = parser.r, parser.states
    if intake is not None and parser.intake_trigger is not None:
        clash = next((t for t in transitions if t.trigger == intake.trigger), None)
        if clash is not None:
            reader.problem(parser.intake_trigger, f"the intake trigger {intake.trigger!r} is also the trigger of "
                                                  f"the transition at line {clash.where.line}; give the intake "
                                                  "a trigger of its own")
    seen: dict[tuple[str, str], list[TransitionSpec]] = {}
    for t in transitions:
        for source in t.sources:
            if states[source].final:
                reader.problem(t.where, f"transition {t.trigger!r} leaves the final state {source!r}; a final "
                                        "state cannot have a way out")
            seen.setdefault((source, t.trigger), []).append(t)
    for (source, trigger), group in seen.items():
        for later_index in range(1, len(group)):
            later = group[later_index]
            twin = next((t for t in group[:later_index] if _same_guard(t.guard, later.guard)), None)
            if twin is not None:
                reader.problem(later.where, f"transition {trigger!r} from state {source!r} is defined again "
                                            f"(first at line {twin.where.line}) and their guards cannot be told "
                                            "apart; give each a different guard")

    if not parser.graph_complete or "transitions" not in top or "states" in parser.unreadable:
        return  # a dangling end was reported; a reachability verdict would only echo it
    for name, spec in states.items():
        if not spec.final and name not in parser.unsure_final and not any(name in t.sources for t in transitions):
            reader.problem(spec.where, f"state {name!r} is not final but no transition leaves it; add a "
                                       "transition from it or mark it final: true")
    if initial is None:
        return
    reachable = _closure({initial}, {s: {t.dest for t in transitions if s in t.sources} for s in states})
    for name, spec in states.items():
        if name not in reachable:
            reader.problem(spec.where, f"state {name!r} cannot be reached from the initial state {initial!r}")
    if parser.unsure_final:
        return
    finals = {name for name, spec in states.items() if spec.final}
    if not finals:
        reader.problem(top["states"], "no state is final: true, so no case could ever be closed; mark the "
                                      "states where handling ends final: true")
        return
    finishing = _closure(finals, _reverse(states, transitions))
    for name, spec in states.items():
        if name in reachable and name not in finishing and any(name in t.sources for t in transitions):
            reader.problem(spec.where, f"no final state can be reached from state {name!r}; a case there could "
                                       f"never be closed (final states: {allowed_list(finals)})")


def _same_guard(first: str | None, second: str | None) -> bool:
    """Two guards cannot be told apart when either is missing or they read the same."""
    if first is None or second is None:
        return True
    return " ".join(first.split()) == " ".join(second.split())


def _reverse(states: dict[str, StateSpec], transitions: list[TransitionSpec]) -> dict[str, set[str]]:
    back: dict[str, set[str]] = {name: set() for name in states}
    for t in transitions:
        for source in t.sources:
            back.setdefault(t.dest, set()).add(source)
    return back


def _closure(start: set[str], edges: dict[str, set[str]]) -> set[str]:
    found = set(start)
    frontier = list(start)
    while frontier:
        for nxt in edges.get(frontier.pop(), set()):
            if nxt not in found:
                found.add(nxt)
                frontier.append(nxt)
    return found
