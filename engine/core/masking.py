"""Personal data hidden from those who may not read it (pure): one rule for views, notices and the outbox.

A field marked ``pii: true`` is shown as ``MASK`` to a reader whose role lacks ``sees_pii``;
everything else is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from engine.core.fields import MASK, display_value
from engine.definition.model import FieldSpec

__all__ = ["MASK", "masked_values", "shown_values", "text_masker", "without_secrets"]


def masked_values(fields: Mapping[str, FieldSpec], data: Mapping[str, Any], sees_pii: bool) -> dict[str, Any]:
    """``data`` with the values of personal-data fields replaced by ``MASK`` (stored values otherwise)."""
    return {name: MASK if not sees_pii and name in fields and fields[name].pii else value
            for name, value in data.items()}


def shown_values(fields: Mapping[str, FieldSpec], data: Mapping[str, Any], sees_pii: bool, zone: str, *,
                 every_field: bool = False) -> dict[str, str]:
    """``data`` as display text, personal data masked; with ``every_field`` each field of ``fields``
    appears (unset ones as their empty display), otherwise only the given fields the definition knows.
    Times are shown on the clock of ``zone``."""
    names = fields if every_field else [name for name in data if name in fields]
    shown: dict[str, str] = {}
    for name in names:
        value = data.get(name)
        spec = fields[name]
        shown[name] = MASK if spec.pii and value is not None and not sees_pii else display_value(spec, value, zone)
    return shown


def text_masker(fields: Mapping[str, FieldSpec], data: Mapping[str, Any], sees_pii: bool,
                zone: str) -> Callable[[str | None], str | None]:
    """A function that replaces the personal data of ``data`` wherever it appears in a text (rendered
    notices, addresses, errors), unless the reader may see it. Every value is masked whatever its
    length, where it stands as a whole word (not inside a longer word or number), so a two-letter
    name is hidden without mangling ordinary words that contain those letters."""
    if sees_pii:
        return lambda text: text
    secrets: set[str] = set()
    for name, spec in fields.items():
        value = data.get(name)
        if spec.pii and value not in (None, ""):
            secrets.update({str(value), display_value(spec, value, zone)})
    ordered = sorted((s for s in secrets if s.strip()), key=len, reverse=True)
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(s)}(?!\w)" for s in ordered)) if ordered else None

    def mask(text: str | None) -> str | None:
        if text is None or pattern is None:
            return text
        return pattern.sub(MASK, text)

    return mask


_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def without_secrets(text: str) -> str:
    """``text`` with every URL in it stripped of what may be a secret: the user and password
    (``https://user:pass@host`` → ``https://***@host``) and the values of its query
    (``?key=abc`` → ``?key=***``). For URLs that end up in errors, logs and listings."""
    return _URL.sub(lambda found: _url_without_secrets(found.group(0)), text)


def _url_without_secrets(url: str) -> str:
    scheme, rest = url.split("://", 1)
    authority, slash, tail = rest.partition("/")
    if not slash:
        authority, mark, tail = rest.partition("?")
        tail = f"?{tail}" if mark else ""
    else:
        tail = f"/{tail}"
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    path, mark, query = tail.partition("?")
    if mark:
        query, hash_mark, fragment = query.partition("#")
        pairs = [f"{pair.split('=', 1)[0]}=***" if pair else pair for pair in query.split("&")]
        path = f"{path}?{'&'.join(pairs)}{hash_mark}{fragment}"
    return f"{scheme}://{authority}{path}"
