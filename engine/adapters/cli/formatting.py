"""Human-readable renderings of the JSON-shaped views (labels in Bahasa Indonesia).

The views keep keys and ISO times (that is what ``--json`` prints); what a person reads here uses
the workflow's own labels (fields, choices, states, triggers, roles) and its ``timezone``. Every
human text passes through ``visible`` on its way to the terminal (``Context.emit`` and the error
lines of ``runner.main``), so a field holding ANSI escapes or a BEL cannot drive the terminal of
whoever reads the case.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from engine.core import localtime
from engine.core.fields import MASK, display_value
from engine.definition.model import DEFAULT_CASE_LABEL, WorkflowDefinition

Definitions = Callable[[str, int], WorkflowDefinition]
"""Looks up a deployed definition by workflow name and version."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_JSON_RAW_CONTROL = re.compile(r"[\x7f-\x9f]")


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return "\\r" if char == "\r" else f"\\x{ord(char):02x}"


def visible(text: str) -> str:
    """``text`` with control characters (C0 but newline and tab, DEL, C1) written as visible escapes."""
    return _CONTROL.sub(_escaped, text)


def json_escaped(text: str) -> str:
    """JSON text with DEL and C1 controls (which JSON may leave raw) as ``\\u`` escapes: the same JSON value."""
    return _JSON_RAW_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _indented(text: str, indent: str) -> str:
    return text.replace("\n", "\n" + indent)


class Shown:
    """How one definition's keys and stored values read to a person."""

    def __init__(self, definition: WorkflowDefinition) -> None:
        self.definition = definition
        self.zone = definition.timezone

    def when(self, iso: str | None) -> str:
        """``Senin, 30 November 2026 pukul 08.00 WITA`` for an ISO time; ``-`` for none."""
        return localtime.long_datetime_in(datetime.fromisoformat(iso), self.zone) if iso else "-"

    def when_short(self, iso: str | None) -> str:
        """``30-11-2026 08.00 WITA`` for an ISO time; ``-`` for none."""
        return localtime.short_datetime_in(datetime.fromisoformat(iso), self.zone) if iso else "-"

    def field_label(self, name: str) -> str:
        """The field's label; a name the definition does not know is shown as it is."""
        spec = self.definition.fields.get(name)
        return spec.label if spec else name

    def value(self, name: str, value: Any) -> str:
        """A stored (possibly masked) value as a person reads it: choice label, Ya/Tidak, local time, list."""
        if value == MASK:
            return MASK
        spec = self.definition.fields.get(name)
        if spec is None:
            return ", ".join(map(str, value)) if isinstance(value, list) else "-" if value is None else str(value)
        try:
            return display_value(spec, value, self.zone)
        except (TypeError, ValueError):  # a value stored under an older version's type
            return str(value)

    def state(self, name: str | None) -> str:
        """``Label (name)`` of a state."""
        if name is None:
            return "-"
        spec = self.definition.states.get(name)
        return f"{spec.label} ({name})" if spec else name

    def trigger(self, name: str) -> str:
        """``Label (name)`` of a trigger (the intake's too)."""
        if name == self.definition.intake.trigger:
            return f"{self.definition.intake.label} ({name})"
        label = next((t.label for t in self.definition.transitions if t.trigger == name), None)
        return f"{label} ({name})" if label else name

    def role(self, name: str) -> str:
        """The role's label."""
        return self.definition.roles.label(name)

    def scope(self, value: str | None) -> str:
        """The label of a case's scope value (``Paringin``), ``-`` when it has none."""
        field = self.definition.scope_field
        return self.value(field, value) if field and value is not None else "-"

    def data_lines(self, data: dict[str, Any], indent: str) -> list[str]:
        """``Label: value`` lines; later lines of a multi-line value are indented under it."""
        lines = []
        for name, value in data.items():
            shown = self.value(name, value)
            lines.append(f"{indent}{self.field_label(name)}: {_indented(shown, indent + '  ')}")
        return lines


def deadline_line(deadline: dict[str, Any] | None) -> str:
    """``Batas waktu: …`` with lateness and escalation steps, from a view's ``deadline``."""
    if not deadline:
        return "Batas waktu: -"
    line = f"Batas waktu: {deadline['due_at_local']}"
    if deadline["overdue"]:
        line += f" — TERLAMBAT {deadline['overdue_text']}"
    if deadline["escalation_steps"]:
        line += f" (eskalasi {deadline['escalation_steps_fired']}/{deadline['escalation_steps']})"
    return line


def case_text(view: dict[str, Any], definition: WorkflowDefinition) -> str:
    """A case as ``treckk show`` prints it, in the words of the definition version it runs on."""
    shown = Shown(definition)
    lines = [
        f"{view['number']}  {shown.state(view['state'])}  versi {view['version']}",
        f"Alur: {view['workflow']} v{view['definition_version']}   Dibuat: {shown.when(view['created_at'])}",
        deadline_line(view["deadline"]),
        "Data:",
        *shown.data_lines(view["data"], "  "),
    ]
    allowed = [shown.trigger(t) for t in view["allowed_triggers"]]
    lines.append(f"Dapat dilakukan: {', '.join(allowed) if allowed else '-'}")
    return "\n".join(lines)


def history_text(events: list[dict[str, Any]], definition: WorkflowDefinition) -> str:
    """A case's history, one event per line with its input and comment beneath."""
    shown = Shown(definition)
    lines = []
    for event in events:
        lines.append(f"{event['seq']:>3}. {shown.when(event['at'])}  {shown.trigger(event['trigger'])}: "
                     f"{shown.state(event['from'])} → {shown.state(event['to'])}  oleh {event['actor']} "
                     f"({shown.role(event['role'])})")
        lines.extend(shown.data_lines(event["input"], "       "))
        if event["comment"]:
            lines.append(f"       Catatan: {_indented(event['comment'], '         ')}")
    return "\n".join(lines)


def case_noun(definitions: Iterable[WorkflowDefinition]) -> str:
    """The word for a case shared by ``definitions``; the default when they differ or there are none."""
    labels = {d.case_label for d in definitions}
    return labels.pop() if len(labels) == 1 else DEFAULT_CASE_LABEL


def case_rows_text(rows: list[dict[str, Any]], definitions: Definitions, noun: Callable[[], str]) -> str:
    """A table of case summaries; ``noun`` names the cases when there are none (``tidak ada aduan``)."""
    if not rows:
        return f"(tidak ada {noun()})"
    shown_by_version: dict[tuple[str, int], Shown] = {}

    def shown_for(row: dict[str, Any]) -> Shown:
        key = (row["workflow"], row["definition_version"])
        if key not in shown_by_version:
            shown_by_version[key] = Shown(definitions(*key))
        return shown_by_version[key]

    scope_heading = "/".join(sorted({shown.field_label(shown.definition.scope_field)
                                     for shown in map(shown_for, rows) if shown.definition.scope_field}))
    lines = [f"{'Nomor':<16} {'Keadaan':<28} " + (f"{scope_heading:<16} " if scope_heading else "") + "Batas waktu"]
    for row in rows:
        shown = shown_for(row)
        deadline = row["deadline"]
        due = shown.when_short(deadline["due_at"]) if deadline else "-"
        late = f"  TERLAMBAT {deadline['overdue_text']}" if deadline and deadline["overdue"] else ""
        actions = f"  [{', '.join(row['allowed_triggers'])}]" if row.get("allowed_triggers") else ""
        scope = f"{shown.scope(row['scope']):<16} " if scope_heading else ""
        lines.append(f"{row['number']:<16} {row['state_label']:<28} {scope}{due}{late}{actions}")
    return "\n".join(lines)


class Zones:
    """The time zone a case (by its number's prefix) or a workflow is shown in.

    Where neither names a deployed workflow, the only deployed workflow's zone, else UTC.
    """

    def __init__(self, definitions: Iterable[WorkflowDefinition]) -> None:
        found = list(definitions)
        self.by_workflow = {d.name: d.timezone for d in found}
        self.definition_by_prefix = {d.number_prefix: d for d in reversed(found)}
        zones = set(self.by_workflow.values())
        self.fallback = zones.pop() if len(zones) == 1 else "UTC"

    def of_workflow(self, workflow: str | None) -> str:
        """The zone of workflow ``workflow``."""
        return self.by_workflow.get(workflow or "", self.fallback)

    def _definition(self, number: str | None) -> WorkflowDefinition | None:
        return self.definition_by_prefix.get((number or "").partition("-")[0].upper())

    def of_number(self, number: str | None) -> str:
        """The zone of the workflow whose number prefix ``number`` carries."""
        definition = self._definition(number)
        return definition.timezone if definition is not None else self.fallback

    def state(self, number: str, state: str) -> str:
        """``Label (state)`` in the newest version of case ``number``'s workflow, or the name alone."""
        definition = self._definition(number)
        return Shown(definition).state(state) if definition is not None else state

    def short(self, iso: str | None, zone: str) -> str:
        """``30-11-2026 08.00 WITA`` for an ISO time, ``-`` for none."""
        return localtime.short_datetime_in(datetime.fromisoformat(iso), zone) if iso else "-"
