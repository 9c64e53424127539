"""Rendering notices from Jinja templates, sandboxed, with missing variables failing loudly.

Templates come from a deployed bundle (name → source), never from complaint text: what a
citizen typed is only ever a value in the context, so ``{{ 7*7 }}`` in a complaint stays literal.
HTML templates (``*.html.j2``) are autoescaped. The sandbox is the immutable one: a template cannot
change its context (notices of one event share parts of it), only read it. The first line of a text
template's output is the notice's subject; an HTML template's subject is its ``<title>``.

The context every template receives is documented in ``docs/templates.md``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import DictLoader, StrictUndefined, Template, TemplateError, TemplateNotFound, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.core import localtime as wita
from engine.errors import InvalidInput, NotFound

_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered notice: subject line, full body, and whether the body is HTML."""

    subject: str
    body: str
    is_html: bool


def is_html_template(name: str) -> bool:
    return name.endswith((".html.j2", ".html"))


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _NoticeEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with shortcuts that change no outcome (all through public methods).

    Templates read their context as ``case.number``, ``data.kategori``: Jinja first asks the dict
    for an attribute, which fails with an exception, then for the item. For a plain dict and a
    name that is not one of dict's own attributes the attribute lookup cannot succeed, so the
    item is read at once. Globals are a plain dict (see ``make_globals``), and a compiled
    template (a partial an include asks for, too) is found in a plain dict: a deployed bundle
    never changes. Includes are Jinja's own.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.compiled: dict[str, Template] = {}

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        # Jinja layers a template's globals over the environment's in a ChainMap, which every
        # render walks twice (to copy it into the context and to list its keys). Nothing changes
        # the globals after the templates are compiled, so one plain dict serves the same.
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def get_template(self, name: str | Template, parent: str | None = None,
                     globals: MutableMapping[str, Any] | None = None) -> Template:
        if globals is None and type(name) is str:
            template = self.compiled.get(name)
            if template is not None:
                return template
        template = super().get_template(name, parent, globals)
        if globals is None and type(name) is str:
            self.compiled[name] = template
        return template


class TemplateSet:
    """The templates of one deployed definition, compiled once and reused for every notice.

    ``directory`` is where the sources were read from, if known; it only serves messages.
    """

    def __init__(self, sources: Mapping[str, str], directory: str = "") -> None:
        self.sources = dict(sources)
        self.directory = directory
        self.environment = _NoticeEnvironment(
            loader=DictLoader(self.sources),
            undefined=StrictUndefined,
            autoescape=lambda name: bool(name) and is_html_template(str(name)),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,  # the sources never change after deploy; no up-to-date check per render
        )
        self.environment.filters.update(
            wita=wita.long_datetime,
            tanggal=wita.long_date,
            singkat=wita.short_datetime,
            durasi=wita.span,
        )

    def compile_problem(self, name: str) -> str | None:
        """Why ``name`` cannot be used (missing or does not compile), or None."""
        if name not in self.sources:
            known = ", ".join(sorted(self.sources)) or "(none)"
            where = f"in {self.directory}" if self.directory else "under templates/"
            return f"no such template {where}; known templates are {known}"
        try:
            self.environment.get_template(name)
        except TemplateSyntaxError as exc:
            return f"it does not compile: line {exc.lineno}: {exc.message}"
        return None

    def render_problem(self, name: str, context: Mapping[str, Any]) -> str | None:
        """Why ``name`` fails to render against ``context`` (e.g. an unknown variable), or None."""
        try:
            self.render(name, context)
        except (TemplateError, InvalidInput, TypeError, ValueError, AttributeError) as exc:
            return f"it does not render against the documented context: {exc}"
        return None

    def render(self, name: str, context: Mapping[str, Any]) -> Rendered:
        """Render ``name``; raises NotFound for an unknown template."""
        try:
            template = self.environment.get_template(name)
        except TemplateNotFound as exc:
            raise NotFound(f"template {name!r} not found; known templates are "
                           f"{', '.join(sorted(self.sources))}") from exc
        body = template.render(context)
        if is_html_template(name):
            match = _TITLE.search(body)
            subject = html.unescape(match.group(1).strip()) if match else name
            return Rendered(subject, body, True)
        stripped = body.lstrip("\n")
        subject, _, _rest = stripped.partition("\n")
        return Rendered(subject.strip(), stripped, False)


def sample_moment() -> datetime:
    """A fixed moment used in sample contexts, so template checks are repeatable."""
    return datetime.fromisoformat("2026-11-30T08:00:00+08:00")
