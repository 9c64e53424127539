"""Forms made from the definition: a transition's (or the intake's) ``input`` gives the fields, the
field types give the widgets, ``required`` and ``requires`` mark what must be given, and the
engine's own value parser checks what was typed, each problem kept next to its field.

Nothing here knows TRECKK: every label, choice and limit comes from the workflow definition.
Widgets: choice → select; boolean → Ya/Tidak radio buttons; datetime → a local date-time input on
the workflow's clock; references → file upload (photos); phone → tel; email → email; text →
one-line input, or a text area with a counter when its ``max_length`` is long.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.core import fields as field_values
from engine.core import localtime
from engine.definition.model import FieldSpec, InputSpec, WorkflowDefinition
from engine.errors import InvalidInput

TEXTAREA_FROM = 200
"""A text field whose ``max_length`` is above this (or unlimited) is a text area with a counter."""

COMMENT_FIELD = "komentar"
"""The name of the free comment every action form carries (stored in the history, not the case data)."""
COMMENT_LIMIT = 4000

ACCEPTED_IMAGES = "image/jpeg,image/png,image/webp"


@dataclass(slots=True)
class FormField:
    """One field of a form as a template draws it."""

    name: str
    label: str
    widget: str
    """``text``, ``textarea``, ``select``, ``yesno``, ``datetime``, ``file``, ``tel`` or ``email``."""
    required: bool
    max_length: int | None = None
    choices: list[tuple[str, str]] = field(default_factory=list)
    value: str = ""
    error: str | None = None
    hint: str = ""
    carried: list[str] = field(default_factory=list)
    """For file fields: references already uploaded with an earlier try of the same form."""
    form: str = ""
    """The action of the form the field belongs to: ids stay unique with several forms on one page."""

    @property
    def html_id(self) -> str:
        return f"f-{self.form}-{self.name}" if self.form else f"f-{self.name}"


@dataclass(slots=True)
class Form:
    """A whole form: the action it fires, its fields, and what went wrong as a whole."""

    action: str
    """The trigger (or the intake's trigger) the form fires."""
    label: str
    fields: list[FormField]
    url: str
    version: int | None = None
    idempotency_key: str = ""
    error: str | None = None
    comment: str = ""
    multipart: bool = False
    open: bool = False
    """Whether the form is shown unfolded (it holds errors, or it is the only one)."""

    @property
    def has_errors(self) -> bool:
        return self.error is not None or any(f.error for f in self.fields)


def _widget(spec: FieldSpec) -> str:
    if spec.type == "choice":
        return "select"
    if spec.type == "boolean":
        return "yesno"
    if spec.type == "datetime":
        return "datetime"
    if spec.type == "references":
        return "file"
    if spec.type == "phone":
        return "tel"
    if spec.type == "email":
        return "email"
    if spec.type == "coordinates":
        return "text"
    return "textarea" if spec.max_length is None or spec.max_length > TEXTAREA_FROM else "text"


def needed(inputs: Sequence[InputSpec], requires: Sequence[str], current: Mapping[str, Any]) -> set[str]:
    """Fields the person must fill in: required inputs, and ``requires`` fields the case does not hold yet."""
    must = {spec.field for spec in inputs if spec.required}
    must.update(name for name in requires if current.get(name) in (None, "", []))
    return must


def form_fields(definition: WorkflowDefinition, inputs: Sequence[InputSpec], *, requires: Sequence[str] = (),
                current: Mapping[str, Any] | None = None, typed: Mapping[str, str] | None = None,
                errors: Mapping[str, str] | None = None, form: str = "") -> list[FormField]:
    """The fields of a form for ``inputs``: prefilled from what was ``typed`` (a retry) or the case's
    ``current`` values (what an optional input would change), with the ``errors`` by field."""
    current = current or {}
    typed = typed or {}
    errors = errors or {}
    must = needed(inputs, requires, current)
    zone = definition.timezone
    made = []
    for spec in inputs:
        field_spec = definition.fields[spec.field]
        widget = _widget(field_spec)
        if spec.field in typed:
            value = typed[spec.field]
        else:
            value = _shown(field_spec, current.get(spec.field), zone)
        hint = ""
        if widget == "datetime":
            hint = f"Waktu {localtime.zone_label(zone)}"
        elif widget == "file":
            hint = "Foto JPEG, PNG atau WebP"
        made.append(FormField(
            name=spec.field, label=field_spec.label, widget=widget, required=spec.field in must,
            max_length=field_spec.max_length,
            choices=list(field_spec.choices.items()), value=value if widget != "file" else "",
            error=errors.get(spec.field), hint=hint, form=form))
    return made


def _shown(spec: FieldSpec, value: Any, zone: str) -> str:
    """A stored value as a form input holds it."""
    if value is None or value == "" or spec.type == "references":
        return ""
    if spec.type == "boolean":
        return "ya" if value else "tidak"
    if spec.type == "datetime":
        moment = localtime.to_local(datetime.fromisoformat(str(value)), zone)
        return moment.strftime("%Y-%m-%dT%H:%M")
    return str(value)


def read_values(definition: WorkflowDefinition, inputs: Sequence[InputSpec], form: Mapping[str, str],
                references: Mapping[str, list[str]], *, requires: Sequence[str] = (),
                current: Mapping[str, Any] | None = None) -> tuple[dict[str, object], dict[str, str]]:
    """What a submitted form gives, as values for the command, and the problems by field.

    An empty input is "not given". Each given value is checked with the engine's own parser, so
    a problem is found and worded here, next to its field, before any command runs; the command
    checks everything again. ``references`` holds the stored uploads of each file field.
    """
    current = current or {}
    must = needed(inputs, requires, current)
    values: dict[str, object] = {}
    errors: dict[str, str] = {}
    for spec in inputs:
        field_spec = definition.fields[spec.field]
        if field_spec.type == "references":
            raw: object = references.get(spec.field) or None
        else:
            text = form.get(spec.field, "")
            raw = text if text.strip() else None
        if raw is None:
            if spec.field in must:
                errors[spec.field] = "Wajib diisi."
            continue
        try:
            parsed = field_values.parse_value(field_spec, raw, definition.timezone)
        except InvalidInput:
            errors[spec.field] = problem_text(field_spec, raw)
            continue
        if not spec.required and spec.field in current and parsed == current[spec.field]:
            continue  # an optional field left as the case holds it: not a change, not in the history
        values[spec.field] = raw
    return values, errors


def problem_text(spec: FieldSpec, raw: object) -> str:
    """What is wrong with a value the parser refused, in the words of the page."""
    if spec.type == "text":
        text = str(raw)
        if spec.max_length is not None and len(text) > spec.max_length:
            return f"Paling banyak {spec.max_length} karakter (sekarang {len(text)})."
        return "Teks ini tidak dapat diterima (kosong atau memuat karakter yang tidak diizinkan)."
    if spec.type == "choice":
        return "Pilih salah satu pilihan yang tersedia."
    if spec.type == "phone":
        return "Tulis nomor telepon Indonesia, mis. 0812-3456-7890."
    if spec.type == "email":
        return "Tulis alamat surel, mis. nama@contoh.go.id."
    if spec.type == "boolean":
        return "Pilih Ya atau Tidak."
    if spec.type == "datetime":
        return "Tulis tanggal dan jam."
    return "Nilai ini tidak dapat diterima."


def read_comment(form: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(the comment or None, a problem or None) of a submitted form."""
    text = form.get(COMMENT_FIELD, "")
    if not text.strip():
        return None, None
    if len(text) > COMMENT_LIMIT:
        return text, f"Paling banyak {COMMENT_LIMIT} karakter (sekarang {len(text)})."
    return text, None
