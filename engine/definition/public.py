"""The ``public:`` section: which fields mean what to the public, and the channels that may open a case.

Parsed after the fields, states, intake and transitions (it refers to fields and checks triggers),
with the same reader, so its problems carry lines like every other. Pure, like ``parse``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Protocol

import yaml

from engine.definition.model import (
    RESERVED_TRIGGERS,
    FieldSpec,
    InputSpec,
    IntakeSpec,
    PublicChannelSpec,
    PublicSpec,
    TransitionSpec,
    frozen_map,
)
from engine.definition.yamlnodes import NAME, Reader, Where, shown


class _WorkflowParser(Protocol):
    """What this section needs of the workflow parser (``engine.definition.parse``)."""

    @property
    def r(self) -> Reader: ...
    @property
    def fields(self) -> Mapping[str, FieldSpec]: ...
    @property
    def field_names(self) -> set[str]: ...

    def field_ref(self, value: str, at: yaml.Node | Where, what: str) -> bool: ...
    def state_ref(self, value: str, node: yaml.Node | Where, what: str) -> bool: ...
    def template_ref(self, node: yaml.Node, what: str) -> str | None: ...
    def inputs(self, node: yaml.Node | None, what: str) -> tuple[InputSpec, ...]: ...

_ROLES = {
    "services": ("choice",),
    "description": ("text",),
    "location": ("text",),
    "pin": ("coordinates",),
    "photos": ("references",),
}
"""Each key of ``public:`` that names a field → the type that field must have."""
_REQUIRED = ("services", "description", "location", "channels")
_ALLOWED = (*_ROLES, "channels", "states", "note_template", "map_center", "map_zoom")
_CENTER = re.compile(r"^\s*([+-]?[0-9]{1,3}(?:\.[0-9]+)?)\s*,\s*([+-]?[0-9]{1,3}(?:\.[0-9]+)?)\s*$")
_MAX_STATUS_TEXT = 300


def parse_public(parser: _WorkflowParser, node: yaml.Node) -> PublicSpec | None:
    """``public:`` of a workflow file; None (with problems recorded) when it cannot be used."""
    reader = parser.r
    keys = reader.mapping(node, "public", allowed=_ALLOWED, required=_REQUIRED)
    if keys is None:
        return None
    named: dict[str, str | None] = dict.fromkeys(_ROLES)
    usable = True
    for key, types in _ROLES.items():
        if key not in keys:
            continue
        value = reader.string(keys[key], f"public {key}")
        if value is None or not parser.field_ref(value, keys[key], f"public {key}"):
            usable = False
            continue
        spec = parser.fields.get(value)
        if spec is not None and spec.type not in types:
            reader.problem(keys[key], f"public {key} field {value!r} must be of type {' or '.join(types)}, "
                                      f"not {spec.type}")
            usable = False
            continue
        named[key] = value
    channels: dict[str, PublicChannelSpec] = {}
    if "channels" in keys:
        entries = reader.mapping(keys["channels"], "public channels")
        if entries is not None and not entries:
            reader.problem(keys["channels"], "public channels must name at least one channel (web, whatsapp, …)")
        for channel, channel_node in (entries or {}).items():
            spec_c = _channel(parser, channel, channel_node, named)
            if spec_c is None:
                usable = False
            else:
                channels[channel] = spec_c
    texts: dict[str, str] = {}
    for state, text_node in (reader.mapping(keys["states"], "public states") or {}).items() \
            if "states" in keys else ():
        if not parser.state_ref(state, reader.key_where(text_node), "public states"):
            continue
        text = reader.string(text_node, f"the public text of state {state!r}")
        if text is not None and (len(text) > _MAX_STATUS_TEXT or not text.strip()):
            reader.problem(text_node, f"the public text of state {state!r} must be 1 to {_MAX_STATUS_TEXT} "
                                      "characters")
        elif text is not None:
            texts[state] = text.strip()
    note_template = parser.template_ref(keys["note_template"], "public note_template") \
        if "note_template" in keys else None
    center: tuple[float, float] | None = None
    if "map_center" in keys:
        text_center = reader.string(keys["map_center"], "public map_center")
        match = _CENTER.fullmatch(text_center or "")
        if text_center is not None and (match is None or not (-90 <= float(match.group(1)) <= 90
                                                              and -180 <= float(match.group(2)) <= 180)):
            reader.problem(keys["map_center"], f"public map_center {shown(text_center)} must be \"LAT,LON\" in decimal "
                                               "degrees, e.g. \"-2.33,115.47\"")
        elif match is not None:
            center = (float(match.group(1)), float(match.group(2)))
    zoom = 11
    if "map_zoom" in keys:
        zoom = reader.integer(keys["map_zoom"], "public map_zoom", minimum=1) or 11
        if zoom > 19:
            reader.problem(keys["map_zoom"], f"public map_zoom {zoom} must be 1 to 19")
    if not usable or not channels or None in (named["services"], named["description"], named["location"]):
        return None
    return PublicSpec(str(named["services"]), str(named["description"]), str(named["location"]), named["pin"],
                      named["photos"], frozen_map(channels), frozen_map(texts), note_template,  # type: ignore[arg-type]
                      reader.where(node), center, zoom)


def _channel(parser: _WorkflowParser, channel: str, node: yaml.Node,
             named: dict[str, str | None]) -> PublicChannelSpec | None:
    reader = parser.r
    what = f"public channel {channel!r}"
    if not NAME.fullmatch(channel):
        reader.problem(reader.key_where(node), f"channel name {shown(channel)} is not valid; use lower-case letters, "
                                               "digits and underscores, starting with a letter (web, whatsapp)")
        return None
    keys = reader.mapping(node, what, allowed=("input", "set"), required=("input",))
    if keys is None:
        return None
    problems = len(reader.problems)
    inputs = parser.inputs(keys.get("input"), what)
    given = {spec.field for spec in inputs}
    description = named.get("description")
    if "input" in keys and description is not None and description not in given \
            and description in parser.field_names:
        reader.problem(keys["input"], f"the input of {what} must include the public description field "
                                      f"{description!r}: a complaint says what happened")
    fixed: dict[str, object] = {}
    for field_name, value_node in (reader.mapping(keys["set"], f"the set values of {what}") or {}).items() \
            if "set" in keys else ():
        where = reader.key_where(value_node)
        if not parser.field_ref(field_name, where, f"the set values of {what}"):
            continue
        if field_name in given:
            reader.problem(where, f"field {field_name!r} is both an input and a set value of {what}; the channel "
                                  "either asks for it or records a fixed value")
            continue
        value = reader.string(value_node, f"set value {field_name!r} of {what}")
        spec = parser.fields.get(field_name)
        if value is None or spec is None:
            continue
        if spec.type == "choice" and value not in spec.choices:
            reader.problem(value_node, f"set value {shown(value)} of field {field_name!r} in {what} is not one of its "
                                       f"values ({', '.join(spec.choices)})")
            continue
        if spec.type == "references":
            reader.problem(value_node, f"field {field_name!r} holds references and cannot be a set value of {what}")
            continue
        fixed[field_name] = value
    if len(reader.problems) > problems:
        return None
    return PublicChannelSpec(channel, inputs, frozen_map(fixed), reader.where(node))


def check_reserved_triggers(parser: _WorkflowParser, transitions: list[TransitionSpec],
                            intake: IntakeSpec | None) -> None:
    """The engine records notes, ratings and migrations under triggers of its own: none may be the definition's."""
    for transition in transitions:
        if transition.trigger in RESERVED_TRIGGERS:
            parser.r.problem(transition.where, f"trigger {transition.trigger!r} is reserved for events the engine "
                                               f"records itself ({', '.join(sorted(RESERVED_TRIGGERS))}); "
                                               "choose another name")
    if intake is not None and intake.trigger in RESERVED_TRIGGERS:
        parser.r.problem(intake.where, f"the intake trigger {intake.trigger!r} is reserved for events the engine "
                                       f"records itself ({', '.join(sorted(RESERVED_TRIGGERS))}); choose another name")
