"""Definition bundles: the workflow, its roles and its templates, loaded, checked and compiled.

A bundle is everything one deployed version needs, as text, so a stored version is complete by
itself: a running case keeps rendering with the templates it started with. Compiling a bundle
parses and validates it (every problem reported at once), compiles its guards, builds its shared
state machine and its template set.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.compile.sources import read_source
from engine.definition.checks import NoExternalChecks, holiday_categories
from engine.definition.model import RoleBook, WorkflowDefinition
from engine.errors import DefinitionError, InvalidInput, NotFound, Problem

if TYPE_CHECKING:
    from engine.compile.cache import CompileCache
    from engine.compile.guards import Guard
    from engine.compile.templates import TemplateSet
    from engine.core.machine import WorkflowMachine

# Jinja (guards, templates) and ``transitions`` (the machine) are imported where they are first
# needed: a read of a case (``treckk show``) needs neither.

TEMPLATE_SUFFIXES = (".j2",)


@dataclass(frozen=True, slots=True)
class Bundle:
    """The texts of one definition version: workflow, roles, templates."""

    workflow_path: str
    workflow_text: str
    roles_path: str
    roles_text: str
    templates: Mapping[str, str] = field(default_factory=dict)
    templates_path: str = ""
    """The directory the templates were read from ("" if unknown); it names files in messages."""

    def to_json(self) -> str:
        return json.dumps(
            {
                "workflow_path": self.workflow_path,
                "workflow_text": self.workflow_text,
                "roles_path": self.roles_path,
                "roles_text": self.roles_text,
                "templates": dict(sorted(self.templates.items())),
                "templates_path": self.templates_path,
            },
            ensure_ascii=False,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Bundle:
        raw = json.loads(text)
        return cls(raw["workflow_path"], raw["workflow_text"], raw["roles_path"], raw["roles_text"],
                   dict(raw["templates"]), raw.get("templates_path", ""))

    @property
    def digest(self) -> str:
        """SHA-256 over the content (not the paths), so the same texts give the same digest."""
        content = json.dumps([self.workflow_text, self.roles_text, sorted(self.templates.items())],
                             ensure_ascii=False)
        return hashlib.sha256(content.encode("utf-8")).hexdigest()


class CompiledWorkflow:
    """A validated definition with its machine, guards and templates, ready to run cases.

    A bundle compiled from a mark (``engine.compile.cache``) builds its templates, guards and machine
    on first use, once (a read of a case uses none of them); a full compile builds them as it checks.
    """

    __slots__ = ("definition", "bundle", "digest", "_cache", "_templates", "_guards", "_machine", "_lock")

    def __init__(self, definition: WorkflowDefinition, bundle: Bundle, digest: str, *,
                 cache: CompileCache | None = None, templates: TemplateSet | None = None,
                 guards: Mapping[str, Guard] | None = None, machine: WorkflowMachine | None = None) -> None:
        """``cache`` keeps Jinja's compiled template code; templates, guards and machine already built may be given."""
        self.definition = definition
        self.bundle = bundle
        self.digest = digest
        self._cache = cache
        self._templates = templates
        self._guards = guards
        self._machine = machine
        self._lock = threading.Lock()

    @property
    def templates(self) -> TemplateSet:
        """The bundle's templates (Jinja's compiled code kept in the cache, when there is one)."""
        if self._templates is None:
            with self._lock:
                if self._templates is None:
                    self._templates = _template_set(self.bundle, self._cache)
        return self._templates

    @property
    def guards(self) -> Mapping[str, Guard]:
        """Each transition guard's source → its compiled check."""
        if self._guards is None:
            with self._lock:
                if self._guards is None:
                    self._guards = _compiled_guards(self.definition)
        return self._guards

    @property
    def machine(self) -> WorkflowMachine:
        """The definition's one shared state machine."""
        if self._machine is None:
            from engine.core.machine import WorkflowMachine

            guards = self.guards
            with self._lock:
                if self._machine is None:
                    self._machine = WorkflowMachine(self.definition, guards)
        return self._machine


def _compiled_guards(definition: WorkflowDefinition) -> Mapping[str, Guard]:
    from engine.compile.guards import compile_guard

    names = frozenset(definition.fields)
    return {t.guard: compile_guard(t.guard, names) for t in definition.transitions if t.guard}


def _template_set(bundle: Bundle, cache: CompileCache | None) -> TemplateSet:
    from engine.compile.templates import TemplateSet

    return TemplateSet(bundle.templates, bundle.templates_path,
                       bytecode_cache=cache.bytecode_cache() if cache is not None else None)


class _Checks:
    """ExternalChecks backed by Jinja (guards, templates) and APScheduler (cron)."""

    def __init__(self, templates: TemplateSet) -> None:
        self.templates = templates

    def guard(self, source: str, names: frozenset[str]) -> str | None:
        from engine.compile.guards import guard_problem

        return guard_problem(source, names)

    def cron(self, expression: str, timezone: str) -> str | None:
        from apscheduler.triggers.cron import CronTrigger

        from datetime import datetime, timedelta
        from datetime import timezone as utc_zone

        try:
            trigger = CronTrigger.from_crontab(expression, timezone=timezone)
        except ValueError as exc:
            return f"{exc}; write five fields: minute hour day-of-month month day-of-week, e.g. '0 7 * * mon-fri'"
        # A cron that names a day no month has (31 February) would validate and never run.
        start = datetime(2026, 1, 1, tzinfo=utc_zone.utc)
        first = trigger.get_next_fire_time(None, start)
        if first is None or first > start + timedelta(days=8 * 366):
            return (f"cron {expression!r} never fires (no such day in any month or year); "
                    "write e.g. '0 7 * * mon-fri' or '0 8 1 * *'")
        return None

    def template(self, name: str) -> str | None:
        return self.templates.compile_problem(name)

    def holiday_categories(self, country: str) -> tuple[str, ...] | None:
        return holiday_categories(country)


class _AlreadyChecked(NoExternalChecks):
    """The checks a bundle marked as fully checked (``engine.compile.cache``) passed already: all accept,
    holiday categories included (looking them up is what loads ``holidays``)."""

    def holiday_categories(self, country: str) -> tuple[str, ...] | None:
        return _ANY_CATEGORY


class _AnyCategory(tuple[str, ...]):
    """Contains every category: the categories of a checked bundle were checked."""

    def __contains__(self, item: object) -> bool:
        return True


_ANY_CATEGORY = _AnyCategory()


def roles_path_for(workflow_path: Path, roles_name: str) -> Path:
    """``workflows/x.yaml`` names roles ``r`` → ``roles/r.yaml`` beside ``workflows/``."""
    return workflow_path.resolve().parent.parent / "roles" / f"{roles_name}.yaml"


def read_templates(directory: Path) -> dict[str, str]:
    """Every template under ``directory`` by its relative path."""
    if not directory.is_dir():
        return {}
    return {
        str(path.relative_to(directory)): _read_text(path, "template")
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name.endswith(TEMPLATE_SUFFIXES)
    }


def _read_text(path: Path, what: str) -> str:
    return read_source(path, what)


def templates_path_for(workflow_path: Path) -> Path:
    """``workflows/x.yaml`` → ``templates/`` beside ``workflows/``."""
    return workflow_path.resolve().parent.parent / "templates"


def bundle_from_files(workflow_path: Path, templates_dir: Path | None = None) -> Bundle:
    """Read a workflow file and, from the same tree, the roles file it names and the templates.

    The tree is the project's layout: ``workflows/x.yaml`` beside ``roles/`` and ``templates/``,
    so a copy of a project is read as a whole, never half from the copy and half from elsewhere.
    ``templates_dir`` reads the templates from another directory instead.
    """
    text = _read_text(workflow_path, "workflow file")
    roles_name = _roles_name(text)
    roles_file = roles_path_for(workflow_path, roles_name) if roles_name else None
    roles_text = _read_text(roles_file, "roles file") if roles_file and roles_file.is_file() else ""
    directory = templates_dir or templates_path_for(workflow_path)
    return Bundle(str(workflow_path), text, str(roles_file or ""), roles_text, read_templates(directory),
                  str(directory))


def _roles_name(workflow_text: str) -> str | None:
    """The ``roles:`` value, read leniently; the full parse reports it properly if it is wrong."""
    import yaml

    from engine.definition.yamlnodes import compose_yaml

    try:
        node = compose_yaml(workflow_text)
    except (yaml.YAMLError, RecursionError):  # deep nesting exhausts PyYAML's recursive composer
        return None
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "roles" and isinstance(value, yaml.ScalarNode):
                # Only a valid name becomes a path: "roles: ../../x" must not read a file outside roles/.
                return str(value.value) if re.fullmatch(r"[a-z][a-z0-9_]*", str(value.value)) else None
    return None


def compile_bundle(bundle: Bundle, cache: CompileCache | None = None) -> CompiledWorkflow:
    """Parse, validate and compile; raises DefinitionError listing every problem.

    With ``cache``, a bundle this engine checked in full before (in any process) is compiled
    from its structure alone — from the definition a process parsed and kept, when there is one —
    and Jinja's compiled template code is kept there too. Either way a
    bundle is compiled once per process (for the 32 bundles used last).
    """
    text = bundle.to_json()
    if cache is None:
        return _compile_cached(text)
    known = _compiled_with_cache.get(text)
    if known is not None:
        return known
    compiled = None
    text_digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if cache.checked(bundle.digest):
        definition = cache.definition(text_digest)
        if definition is not None:
            compiled = CompiledWorkflow(definition, bundle, bundle.digest, cache=cache)
        else:
            try:
                compiled = _compile(text, cache, checked=True)
            except Exception:  # noqa: BLE001 - not what the mark promised: the full compile reports the problems
                compiled = None
            if compiled is not None:
                cache.remember_definition(text_digest, compiled.definition)
    if compiled is None:
        compiled = _compile(text, cache, checked=False)
        cache.remember_checked(bundle.digest)
        cache.remember_definition(text_digest, compiled.definition)
    if len(_compiled_with_cache) >= _KEPT:
        _compiled_with_cache.pop(next(iter(_compiled_with_cache)))
    _compiled_with_cache[text] = compiled
    return compiled


_KEPT = 32
_compiled_with_cache: dict[str, CompiledWorkflow] = {}
"""Bundles compiled through a cache, by their JSON text (the oldest leaves first)."""


@lru_cache(maxsize=_KEPT)
def _compile_cached(bundle_json: str) -> CompiledWorkflow:
    return _compile(bundle_json, None, checked=False)


def _compile(bundle_json: str, cache: CompileCache | None, *, checked: bool) -> CompiledWorkflow:
    from engine.definition.parse import parse_roles, parse_workflow

    bundle = Bundle.from_json(bundle_json)
    templates = None if checked else _template_set(bundle, cache)
    problems: list[Problem] = []

    def load_roles(name: str) -> RoleBook | None:
        if not bundle.roles_text:
            return None
        book, role_problems = parse_roles(bundle.roles_text, bundle.roles_path, name)
        problems.extend(role_problems)
        return book

    checks: Any = _AlreadyChecked() if templates is None else _Checks(templates)
    definition, workflow_problems = parse_workflow(bundle.workflow_text, bundle.workflow_path, load_roles, checks)
    problems.extend(workflow_problems)
    if definition is None or problems:
        raise DefinitionError(problems or [Problem(bundle.workflow_path, 1, 1, "the workflow is incomplete")])
    if templates is not None:
        problems.extend(_render_checks(definition, templates))
    if problems:
        raise DefinitionError(problems)
    if templates is None:
        return CompiledWorkflow(definition, bundle, bundle.digest, cache=cache)
    from engine.core.machine import WorkflowMachine

    guards = _compiled_guards(definition)  # a full compile builds everything as it checks
    return CompiledWorkflow(definition, bundle, bundle.digest, cache=cache, templates=templates, guards=guards,
                            machine=WorkflowMachine(definition, guards))


def _render_checks(definition: WorkflowDefinition, templates: TemplateSet) -> list[Problem]:
    """Each use of a template renders against every kind of context it can meet there.

    A use that fails is one problem at the workflow line of the use, naming the situation, the
    template file and line, and the partial when the fault is in one.
    """
    from engine.compile.notice_context import template_uses

    problems = []
    uses = template_uses(definition)
    for use in uses:
        for situation, context in use.situations:
            failed = templates.render_problem(use.template, context)
            if failed:
                problems.append(Problem(use.where.path, use.where.line, use.where.column,
                                        f"template {use.template!r} does not render {situation}: "
                                        f"{failed.located(templates.directory)}"))
                break
    problems.extend(_channel_template_checks(definition, templates, uses))
    return problems


def _channel_template_checks(definition: WorkflowDefinition, templates: TemplateSet,
                             uses: list[Any]) -> list[Problem]:
    """Each WhatsApp template parameter renders, in every context its notice meets, to a non-empty line."""
    from engine.compile.templates import TemplateFailed

    problems = []
    for call in definition.whatsapp_templates.values():
        where = call.where
        for index, source in enumerate(call.parameters, start=1):
            problem = None
            for use in (u for u in uses if u.template == call.notice):
                for situation, context in use.situations:
                    try:
                        templates.render_snippet(source, context)
                    except TemplateFailed as failed:
                        problem = f"{situation}: {failed.reason}"
                        break
                if problem:
                    break
            if problem:
                problems.append(Problem(where.path, where.line, where.column,
                                        f"parameter {index} of whatsapp.templates.{call.notice} ({source!r}) does "
                                        f"not render {problem}"))
    return problems
