"""Rendering notices from Jinja templates, sandboxed, with missing variables failing loudly.

Templates come from a deployed bundle (name → source), never from complaint text: what a
citizen typed is only ever a value in the context, so ``{{ 7*7 }}`` in a complaint stays literal.
HTML templates (``*.html.j2``) are autoescaped. The sandbox is the immutable one: a template cannot
change its context (notices of one event share parts of it), only read it. The first line of a text
template's output is the notice's subject; an HTML template's subject is its ``<title>``.

Each render has a time and output budget (``engine.compile.template_budget``): a template that
loops, computes or writes too much fails like any other. A template that fails while rendering raises ``TemplateFailed`` (an ``InvalidInput``) naming the
template, its line and the partial it failed in, never a bare Jinja or Python error.

The context every template receives is documented in ``docs/templates.md``.
"""

from __future__ import annotations

import html
import re
import traceback
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import (BaseLoader, Environment, nodes, StrictUndefined, Template, TemplateError, TemplateNotFound,
                    TemplateSyntaxError)
from jinja2 import pass_context
from jinja2.bccache import BytecodeCache
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from engine.compile import template_budget
from engine.core import localtime
from engine.errors import InvalidInput, NotFound

_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)

Frame = tuple[str, int]
"""A template name and a line in it."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered notice: subject line, full body, and whether the body is HTML."""

    subject: str
    body: str
    is_html: bool


class TemplateFailed(InvalidInput):
    """A template failed while rendering: which one, where (the partial too), and why.

    ``frames`` runs from the template rendered to the line that failed: ``(("pengingat.txt.j2",
    15), ("_langkah.txt.j2", 3))`` is a fault on line 3 of a partial included on line 15.
    """

    def __init__(self, template: str, frames: Sequence[Frame], reason: str) -> None:
        self.template = template
        self.frames = tuple(frames)
        self.reason = reason
        super().__init__(f"template {template!r} failed at {self.located()}", value=template)

    @property
    def line(self) -> int | None:
        """The line of ``template`` itself that failed, or included the partial that failed."""
        return self.frames[0][1] if self.frames and self.frames[0][0] == self.template else None

    @property
    def partial(self) -> Frame | None:
        """The included partial (and its line) the fault is in, or None."""
        return self.frames[-1] if self.frames and self.frames[-1][0] != self.template else None

    def located(self, directory: str = "") -> str:
        """``FILE:LINE[, in the partial FILE:LINE]: reason``, files under ``directory`` when given."""
        return f"{located(self.frames or ((self.template, 0),), directory)}: {self.reason}"


def located(frames: Sequence[Frame], directory: str = "") -> str:
    """``a.txt.j2:3, in the partial _b.txt.j2:7`` (a line of 0 is left out)."""
    def one(frame: Frame) -> str:
        path = f"{directory.rstrip('/')}/{frame[0]}" if directory else frame[0]
        return f"{path}:{frame[1]}" if frame[1] else path

    return ", in the partial ".join(one(frame) for frame in frames)


def is_html_template(name: str) -> bool:
    return name.endswith((".html.j2", ".html"))


def _or_dash(show: Callable[[Any], str]) -> Callable[[Any], str]:
    """The filter ``show`` writing ``-`` for a missing value (None), as ``data`` shows one."""

    def shown(value: Any) -> str:
        return "-" if value is None else show(value)

    shown.__doc__ = show.__doc__
    return shown


def _in_zone(show: Callable[[Any, str], str]) -> Callable[[Any, Any], str]:
    """The time filter ``show`` in the time zone of the workflow the notice belongs to; ``-`` for None.

    The zone is read from the context the engine builds (``workflow.timezone``), so one template set
    serves any workflow; a context without it (hand-made in a test) is shown in UTC.
    """

    @pass_context
    def shown(context: Any, value: Any) -> str:
        if value is None:
            return "-"
        workflow = context.get("workflow")
        zone = workflow.get("timezone") if isinstance(workflow, dict) else None
        return show(value, zone or "UTC")

    shown.__doc__ = show.__doc__
    return shown


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

    intercepted_binops = frozenset({"*", "**", "%"})
    """Held to the render budget (``engine.compile.template_budget``); intercepted ones are never folded at compile."""

    budget_looped = staticmethod(template_budget.looped)
    budget_checked = staticmethod(template_budget.checked_value)

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.compiled: dict[str, Template] = {}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Every loop counts its iterations against the budget, and every ``~`` checks what it built.
        tree: nodes.Template = _Budgeting().visit(super()._parse(source, name, filename))
        return tree

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        template_budget.before_binop(operator, left, right)
        return template_budget.checked_value(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        template_budget.check_format(getattr(value, "__self__", None))
        return super().wrap_str_format(value)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's own
        template_budget.before_call(__obj, args, kwargs)
        return template_budget.checked_value(super().call(__context, __obj, *args, **kwargs))

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


class _Budgeting(NodeTransformer):
    """Rewrites ``{% for x in xs %}`` as a loop over ``budget_looped(xs)`` and ``a ~ b`` as ``budget_checked(a ~ b)``."""

    def _wrapped(self, attribute: str, node: nodes.Node) -> nodes.Expr:
        call = nodes.Call(nodes.EnvironmentAttribute(attribute), [node], [], None, None)
        call.set_lineno(node.lineno)
        return call

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._wrapped("budget_looped", node.iter)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._wrapped("budget_checked", node)


class _BundleLoader(BaseLoader):
    """The bundle's sources, each with its own name as file name.

    Jinja names the template file and line in the frames of a failure's traceback; with a
    ``DictLoader`` every template is called ``<template>``, and a fault in a partial could not
    be told from one in the template that includes it.
    """

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = sources

    def get_source(self, environment: Environment, template: str) -> tuple[str, str | None, Callable[[], bool] | None]:
        source = self.sources.get(template)
        if source is None:
            raise TemplateNotFound(template)
        return source, template, _unchanged

    def list_templates(self) -> list[str]:
        return sorted(self.sources)


def _unchanged() -> bool:
    return True


class TemplateSet:
    """The templates of one deployed definition, compiled once and reused for every notice.

    ``directory`` is where the sources were read from, if known; it only serves messages.
    """

    def __init__(self, sources: Mapping[str, str], directory: str = "", *,
                 bytecode_cache: BytecodeCache | None = None) -> None:
        """``bytecode_cache`` keeps Jinja's compiled template code across processes (``engine.compile.cache``)."""
        self.sources = dict(sources)
        self.directory = directory
        self.environment = _NoticeEnvironment(
            loader=_BundleLoader(self.sources),
            bytecode_cache=bytecode_cache,
            undefined=StrictUndefined,
            autoescape=lambda name: bool(name) and is_html_template(str(name)),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,  # the sources never change after deploy; no up-to-date check per render
        )
        self.environment.filters.update(
            waktu=_in_zone(localtime.long_datetime_in),
            tanggal=_in_zone(localtime.long_date_in),
            waktu_singkat=_in_zone(localtime.short_datetime_in),
            durasi=_or_dash(localtime.span),
            # The names from when every workflow was shown in WITA; they too follow the workflow's zone.
            wita=_in_zone(localtime.long_datetime_in),
            singkat=_in_zone(localtime.short_datetime_in),
        )
        self.environment.filters = {name: template_budget.budgeted_filter(name, show)
                                    for name, show in self.environment.filters.items()}
        self._compile_problems: dict[str, str | None] = {}
        self._snippets: dict[str, Any] = {}

    def _known(self) -> str:
        return ", ".join(sorted(self.sources)) or "(none)"

    def compile_problem(self, name: str) -> str | None:
        """Why ``name`` cannot be used, or None: it is missing, or it or a partial it names does not compile.

        Jinja compiles an included partial only when the include runs; the partials a template
        names with a fixed name are compiled here, so a broken one is found before it is needed.
        """
        if name not in self.sources:
            where = f"in {self.directory}" if self.directory else "under templates/"
            return f"no such template {where}; known templates are {self._known()}"
        if name not in self._compile_problems:
            self._compile_problems[name] = self._compile_problem(((name, 0),), set())
        return self._compile_problems[name]

    def _compile_problem(self, chain: tuple[Frame, ...], seen: set[str]) -> str | None:
        name = chain[-1][0]
        seen.add(name)
        try:
            self.environment.get_template(name)
        except TemplateSyntaxError as exc:
            frames = (*chain[:-1], (name, exc.lineno))
            return f"it does not compile: {located(frames, self.directory)}: {_one_line(exc.message or str(exc))}"
        for partial, line, optional in self._named_partials(name):
            frames = (*chain[:-1], (name, line))
            if partial not in self.sources:
                if optional:
                    continue
                return (f"{located(frames, self.directory)} includes {partial!r}, which is not a template; known "
                        f"templates are {self._known()}")
            if partial not in seen:
                problem = self._compile_problem((*frames, (partial, 0)), seen)
                if problem:
                    return problem
        return None

    def _named_partials(self, name: str) -> Iterator[tuple[str, int, bool]]:
        """(template, line, whether it may be missing) for each fixed name ``name`` includes, imports or extends."""
        tree = self.environment.parse(self.sources[name], name, name)
        for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            target = getattr(node, "template", None)
            if isinstance(target, nodes.Const) and isinstance(target.value, str):
                yield target.value, node.lineno, isinstance(node, nodes.Include) and node.ignore_missing

    def render_snippet(self, source: str, context: Mapping[str, Any]) -> str:
        """Render a short template text (a WhatsApp template parameter) in the same sandbox, on one line;
        raises TemplateFailed (named ``source``) when it does not compile or render."""
        try:
            template = self._snippets.get(source)
            if template is None:
                template = self._snippets[source] = self.environment.from_string(source)
            budget = template_budget.start()
            try:
                text = template_budget.output(template.generate(context))
            finally:
                template_budget.finish(budget)
        except Exception as exc:  # noqa: BLE001 - reported with where it is, never a traceback
            raise TemplateFailed(source, (), _one_line(str(exc))) from exc
        return " ".join(text.split())

    def render_problem(self, name: str, context: Mapping[str, Any]) -> TemplateFailed | None:
        """How ``name`` fails to render against ``context`` (e.g. an unknown variable), or None."""
        try:
            self.render(name, context)
        except TemplateFailed as exc:
            return exc
        return None

    def render(self, name: str, context: Mapping[str, Any]) -> Rendered:
        """Render ``name``; raises NotFound for an unknown template, TemplateFailed when it fails."""
        try:
            template = self.environment.get_template(name)
            budget = template_budget.start()
            try:
                body = template_budget.output(template.generate(context))
            finally:
                template_budget.finish(budget)
        except TemplateNotFound as exc:
            if exc.name == name:
                raise NotFound(f"template {name!r} not found; known templates are {self._known()}") from exc
            raise self._failed(name, exc) from exc
        except Exception as exc:  # noqa: BLE001 - whatever a template does wrong is reported, never a traceback
            raise self._failed(name, exc) from exc
        if is_html_template(name):
            match = _TITLE.search(body)
            subject = html.unescape(match.group(1).strip()) if match else name
            return Rendered(subject, body, True)
        stripped = body.lstrip("\n")
        subject, _, _rest = stripped.partition("\n")
        return Rendered(subject.strip(), stripped, False)

    def _failed(self, name: str, exc: Exception) -> TemplateFailed:
        # Jinja rewrites a failure's traceback so that its frames name the template file and line
        # (the loader gives each template its own name as file name); the frames of templates are
        # the chain from ``name`` to the partial that failed, a macro's frames folded into its file.
        frames: list[Frame] = []
        for frame, line in traceback.walk_tb(exc.__traceback__):
            file = frame.f_code.co_filename
            if file in self.sources:
                if frames and frames[-1][0] == file:
                    frames[-1] = (file, line)
                else:
                    frames.append((file, line))
        if isinstance(exc, TemplateSyntaxError):
            reason = f"{exc.name or 'a partial'} does not compile: {exc.message or exc}"
        elif isinstance(exc, TemplateNotFound):
            reason = f"it includes {exc.name!r}, which is not a template; known templates are {self._known()}"
        elif isinstance(exc, template_budget.BudgetExceeded):
            reason = str(exc)
        elif isinstance(exc, TemplateError):
            reason = str(exc)
        else:
            reason = f"{type(exc).__name__}: {exc}"
        return TemplateFailed(name, frames, _one_line(reason))


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "(no message)"
