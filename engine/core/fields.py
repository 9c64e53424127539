"""Field values: parsing what a person typed into a typed, normalised value, and showing it back.

Pure functions over a ``FieldSpec``. Every refusal is an ``InvalidInput`` naming the field, the
value given and what would be accepted.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo
from datetime import datetime, timezone
from typing import Any

from engine.core import localtime
from engine.definition.model import FieldSpec
from engine.core.clock import within_range
from engine.errors import InvalidInput

MASK = "[dirahasiakan]"
"""What a viewer without the right to see personal data reads instead of it."""

_TRUE = {"ya", "true", "yes", "1", "benar", "y"}
_FALSE = {"tidak", "false", "no", "0", "salah", "t", "n"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_JUNK = re.compile(r"[\s\-().]")
_ASCII_DIGITS = re.compile(r"[0-9]+")
_MAX_REFERENCE = 300


def parse_value(spec: FieldSpec, raw: object, zone: str = "UTC") -> Any:
    """Turn a given value (text from the command line, or a JSON value) into the stored value.

    A date and time without a UTC offset is read on the clock of ``zone`` (the workflow's).
    """
    if raw is None:
        raise InvalidInput(f"field {spec.name!r} needs a value")
    if spec.type == "datetime":
        return _datetime(spec, raw, zone)
    parser = _PARSERS[spec.type]
    return parser(spec, raw)


def _text(spec: FieldSpec, raw: object) -> str:
    if not isinstance(raw, str):
        raise InvalidInput(f"field {spec.name!r} takes text, not {type(raw).__name__}")
    if raw.strip() == "":
        raise InvalidInput(f"field {spec.name!r} must not be empty")
    if spec.max_length is not None and len(raw) > spec.max_length:
        raise InvalidInput(
            f"field {spec.name!r} is {len(raw)} characters long; at most {spec.max_length} are accepted"
        )
    if "\x00" in raw:
        raise InvalidInput(f"field {spec.name!r} contains a NUL character, which is not accepted")
    _require_utf8(spec, raw)
    return raw


def _require_utf8(spec: FieldSpec, text: str) -> None:
    # Bytes that were not UTF-8 on the command line arrive as lone surrogates; they cannot be
    # stored or sent, so refuse them here rather than fail half-way through a write.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"field {spec.name!r} contains text that is not valid UTF-8") from None


def _choice(spec: FieldSpec, raw: object) -> str:
    text = str(raw).strip()
    if text in spec.choices:
        return text
    folded = text.casefold()
    for key, label in spec.choices.items():
        if folded in (key.casefold(), label.casefold()):
            return key
    raise InvalidInput(
        f"field {spec.name!r} does not accept {text!r}; accepted values are {', '.join(spec.choices)}"
    )


def normalise_phone(raw: str) -> str | None:
    """An Indonesian number in E.164 (``+62…``), or None when it is not one."""
    digits = _PHONE_JUNK.sub("", raw)
    if digits.startswith("+62"):
        national = digits[3:]
    elif digits.startswith("62"):
        national = digits[2:]
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        return None
    # str.isdigit() also accepts Arabic-Indic, full-width and superscript digits; a phone
    # number that a gateway will dial must be ASCII 0-9 only.
    if not _ASCII_DIGITS.fullmatch(national) or national.startswith("0") or not 8 <= len(national) <= 12:
        return None
    return "+62" + national


def _phone(spec: FieldSpec, raw: object) -> str:
    number = normalise_phone(str(raw))
    if number is None:
        raise InvalidInput(
            f"field {spec.name!r} does not accept {str(raw)!r}; write an Indonesian phone number such as "
            "0812-3456-7890, 62812 3456 7890 or +62 526 1234567"
        )
    return number


def _email(spec: FieldSpec, raw: object) -> str:
    text = str(raw).strip()
    if not _EMAIL.match(text) or len(text) > 254:
        raise InvalidInput(f"field {spec.name!r} does not accept {text!r}; write an e-mail address such as "
                           "nama@contoh.go.id")
    return text


def _boolean(spec: FieldSpec, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidInput(f"field {spec.name!r} does not accept {str(raw)!r}; write ya or tidak (true or false)")


def _datetime(spec: FieldSpec, raw: object, zone: str) -> str:
    text = str(raw).strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"field {spec.name!r} does not accept {text!r}; write a date and time in ISO 8601, e.g. "
            f"2026-11-30T08:00 ({localtime.zone_label(zone)}) or 2026-11-30T00:00+00:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    # Refused here, not when a later deadline or local time overflows and the case is stuck.
    return within_range(moment, f"field {spec.name!r} value").isoformat()


def _references(spec: FieldSpec, raw: object) -> list[str]:
    items = raw if isinstance(raw, list) else str(raw).split(",")
    refs = [str(item).strip() for item in items if str(item).strip()]
    if not refs:
        raise InvalidInput(f"field {spec.name!r} needs at least one reference (file names separated by commas)")
    for ref in refs:
        if len(ref) > _MAX_REFERENCE:
            raise InvalidInput(f"a reference in field {spec.name!r} is longer than {_MAX_REFERENCE} characters")
        if "\x00" in ref:
            raise InvalidInput(f"a reference in field {spec.name!r} contains a NUL character, which is not accepted")
        _require_utf8(spec, ref)
    return refs


_DECIMAL = re.compile(r"^[+-]?[0-9]{1,3}(\.[0-9]+)?$")
COORDINATE_DECIMALS = 6
"""Decimal places a ``coordinates`` value keeps (about 0.1 m): finer digits are rounded away."""


def _coordinates(spec: FieldSpec, raw: object) -> str:
    """``"LAT,LON"`` in decimal degrees (a string, or a pair of numbers), normalised to ``-3.2,115.4``."""
    if isinstance(raw, (list, tuple)) and len(raw) == 2:
        parts = [str(part).strip() for part in raw]
    else:
        parts = [part.strip() for part in str(raw).split(",")]
    refusal = (f"field {spec.name!r} does not accept {str(raw)[:60]!r}; write latitude,longitude in decimal degrees, "
               "e.g. -2.3245,115.6123 (latitude -90..90, longitude -180..180)")
    if len(parts) != 2 or not all(_DECIMAL.fullmatch(part) for part in parts):
        raise InvalidInput(refusal)
    latitude, longitude = (round(float(part), COORDINATE_DECIMALS) for part in parts)
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise InvalidInput(refusal)
    return f"{_degrees(latitude)},{_degrees(longitude)}"


def _degrees(value: float) -> str:
    text = f"{value:.{COORDINATE_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def coordinates_of(value: str) -> tuple[float, float]:
    """(latitude, longitude) of a stored ``coordinates`` value."""
    latitude, longitude = value.split(",")
    return float(latitude), float(longitude)


_PARSERS = {
    "text": _text,
    "choice": _choice,
    "phone": _phone,
    "email": _email,
    "boolean": _boolean,
    "references": _references,
    "coordinates": _coordinates,
}


def display_value(spec: FieldSpec | None, value: Any, zone: str = "UTC") -> str:
    """How a stored value reads to a person (choice label, Ya/Tidak, local time in ``zone``, list)."""
    if value is None:
        return "-"
    if spec is None:
        return str(value)
    if spec.type == "choice":
        return spec.choices.get(value, str(value))
    if spec.type == "boolean":
        return "Ya" if value else "Tidak"
    if spec.type == "datetime":
        moment = datetime.fromisoformat(value)
        return localtime.long_datetime_in(moment, zone)
    if spec.type == "references":
        return ", ".join(value)
    if spec.type == "coordinates":
        return str(value).replace(",", ", ")
    return str(value)
