"""The definition desk: open a deployed version, check, diff, try and deploy an edit; migrate running cases.

What the web editor calls (``application.definitions``). An edit is a ``Bundle`` held as text (the
workflow, its roles file and its templates) built from a deployed version's paths, so the
validator's messages name the same files and lines as ``treckk validate`` does for them. Nothing
is written until ``deploy`` (``Commands.deploy_bundle``) or ``migrate`` (``Commands.migrate``);
checking, diffing and trying only read. Every method checks the member's capability itself
(``deploy`` for the editor, ``migrate`` for migrations), in the newest deployed version's roles,
so a page that hides a link is never the only guard.
"""

from __future__ import annotations

import difflib
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from engine.app import diagram_svg, page_cursors
from engine.app.commands import Commands
from engine.app.migration_batches import BATCH_SIZE, MigrationProgress, latest_run, running_groups
from engine.compile.sources import MAX_SOURCE_BYTES
from engine.compile.workflow import TEMPLATE_SUFFIXES, Bundle, compile_bundle
from engine.core.permissions import capable_role
from engine.definition import diagram
from engine.definition.model import WorkflowDefinition
from engine.errors import Conflict, DefinitionError, InvalidInput, NotFound, PermissionDenied, Problem
from engine.store import case_rows, definition_rows, staff_rows
from engine.store.definition_rows import StoredDefinition

Edit = Bundle
"""An edit is a bundle held as text (what adapters name it by)."""
MAX_FILE_BYTES = MAX_SOURCE_BYTES
"""The largest file of an edit (the limit every definition source is read with)."""
WORKFLOW_FILE = "workflow"
ROLES_FILE = "roles"
"""The keys of an edit's two YAML files (a template's key is its name, e.g. ``pengingat.txt.j2``)."""
MAX_SCENARIO_STEPS = 300
"""The most steps a scenario tried in the editor may have (the shipped day has 26)."""
MAX_TEMPLATES = 200
"""The most templates one edit may hold."""
SHOWN_PER_GROUP = 50
"""How many case numbers of one (version, state) group a migration plan lists by name."""
DRY_RUN_PAGE = 200
"""How many cases one page of a migration's dry run lists."""
_TEMPLATE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}){0,3}")


@dataclass(frozen=True, slots=True)
class VersionRow:
    """One deployed version: who put it into service and when."""

    version: int
    digest: str
    deployed_at: datetime
    deployed_by: str


@dataclass(frozen=True, slots=True)
class WorkflowVersions:
    """A workflow and its deployed versions, newest first."""

    name: str
    title: str
    versions: tuple[VersionRow, ...]


@dataclass(frozen=True, slots=True)
class Located:
    """One problem of an edit, in the file (``workflow``, ``roles``, or ``scenario``) it is about."""

    file: str
    line: int
    column: int
    message: str


@dataclass(frozen=True, slots=True)
class Checked:
    """What checking an edit found: every problem (none: it would deploy), and its diagram when it compiles."""

    problems: tuple[Located, ...]
    definition: WorkflowDefinition | None = None
    drawing: diagram_svg.Drawing | None = None
    """Left to right, for a wide screen."""
    tall: diagram_svg.Drawing | None = None
    """The same diagram top to bottom, for a phone."""

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class FileDiff:
    """The unified diff of one file of the edit against the deployed version (``lines`` empty: unchanged)."""

    file: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SentNotice:
    """A notice a tried step queued, rendered as it would be sent."""

    template: str
    recipient: str
    channel: str
    subject: str
    body: str
    is_html: bool


@dataclass(frozen=True, slots=True)
class TriedStep:
    """One step of a scenario played against an edit."""

    index: int
    line: int
    action: str
    note: str
    at: datetime
    case: str | None
    before: str | None
    after: str | None
    exit: int
    error: str | None
    mismatches: tuple[str, ...]
    notices: tuple[SentNotice, ...]
    escalations: int


@dataclass(frozen=True, slots=True)
class Tried:
    """A scenario played against an edit; ``problems`` (of the edit or the scenario) when it could not run."""

    problems: tuple[Located, ...] = ()
    steps: tuple[TriedStep, ...] = ()
    timezone: str = "UTC"

    @property
    def differing(self) -> int:
        return sum(1 for step in self.steps if step.mismatches)


@dataclass(frozen=True, slots=True)
class CaseGroup:
    """The running cases of one older version in one state."""

    version: int
    state: str
    label: str
    count: int
    numbers: tuple[str, ...]
    """The first ``SHOWN_PER_GROUP`` of them."""


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """What one case becomes in a migration: its new state, or why it cannot move."""

    number: str
    version: int
    state: str
    to_state: str | None


@dataclass(frozen=True, slots=True)
class MigrationPlan:
    """The running cases of older versions of a workflow, the state map, and what each case becomes."""

    workflow: str
    target_version: int
    target_states: tuple[tuple[str, str], ...]
    """(name, label) of the target version's states."""
    groups: tuple[CaseGroup, ...]
    state_map: Mapping[str, str]
    """Each old state met → the target state it becomes ("" when unmapped)."""
    outcomes: tuple[CaseOutcome, ...] = field(default=())
    """One page of the dry run (``DRY_RUN_PAGE`` cases, by version, state and id), from ``after``."""
    after: str | None = None
    """The cursor this page starts after (None: the first page)."""
    next: str | None = None
    """The cursor of the next page (None: this is the last)."""

    @property
    def unmapped(self) -> tuple[str, ...]:
        return tuple(state for state, target in self.state_map.items() if not target)

    @property
    def count(self) -> int:
        return sum(group.count for group in self.groups)

    @property
    def becomes(self) -> tuple[tuple[str, int], ...]:
        """How many cases go to each state of the target version ("": unmapped, they cannot move), by state."""
        found: dict[str, int] = {}
        for group in self.groups:
            target = self.state_map.get(group.state, "")
            found[target] = found.get(target, 0) + group.count
        order = [name for name, _ in self.target_states]
        return tuple(sorted(found.items(), key=lambda item: (item[0] not in order,
                                                             order.index(item[0]) if item[0] in order else 0)))


@dataclass(frozen=True, slots=True)
class MigrationSummary:
    """A workflow's newest version and how many running cases are on older ones."""

    workflow: str
    title: str
    target_version: int
    behind: int


class DefinitionDesk:
    """Definition editing and case migration for staff whose roles may ``deploy`` or ``migrate``."""

    def __init__(self, engine: Commands) -> None:
        self.engine = engine

    # -- who may --------------------------------------------------------------------------------
    def _authorised(self, connection: Connection, username: str, workflow: str, capability: str,
                    what: str) -> StoredDefinition:
        """The newest deployed version of ``workflow``, once ``username`` holds ``capability`` in it."""
        latest = definition_rows.latest(connection, workflow)
        if latest is None:
            raise NotFound(f"workflow {workflow!r} is not deployed", field="workflow", value=workflow)
        member = staff_rows.by_username(connection, username, workflow)
        if member is None:
            raise PermissionDenied(f"staff {username!r} holds no role in workflow {workflow!r} and may not {what}")
        capable_role(member, self.engine.compiled(connection, workflow).definition.roles, capability, what)
        return latest

    def workflows(self, username: str, capability: str) -> list[str]:
        """The deployed workflows in which ``username`` holds ``capability``; PermissionDenied when none."""

        def work(connection: Connection) -> list[str]:
            found = []
            for name in definition_rows.workflows(connection):
                try:
                    self._authorised(connection, username, name, capability, capability)
                except PermissionDenied:
                    continue
                found.append(name)
            if not found:
                raise PermissionDenied(f"staff {username!r} may not {capability} in any workflow",
                                       field="role", value=username)
            return found

        return self.engine.db.read(work)

    # -- the editor -----------------------------------------------------------------------------
    def versions(self, username: str) -> list[WorkflowVersions]:
        """Every workflow ``username`` may deploy, with its deployed versions (who, when), newest first."""
        names = self.workflows(username, "deploy")

        def work(connection: Connection) -> list[WorkflowVersions]:
            found = []
            for name in names:
                rows = [VersionRow(s.version, s.digest, s.deployed_at, s.deployed_by)
                        for s in definition_rows.all_versions(connection) if s.workflow == name]
                title = self.engine.compiled(connection, name).definition.title
                found.append(WorkflowVersions(name, title, tuple(sorted(rows, key=lambda r: -r.version))))
            return found

        return self.engine.db.read(work)

    def opened(self, username: str, workflow: str, version: int | None = None) -> tuple[int, Bundle]:
        """A deployed version's texts (the newest when ``version`` is None) for ``username`` to edit."""

        def work(connection: Connection) -> tuple[int, Bundle]:
            self._authorised(connection, username, workflow, "deploy", "edit definitions")
            stored = (definition_rows.latest(connection, workflow) if version is None
                      else definition_rows.version(connection, workflow, version))
            if stored is None:
                raise NotFound(f"version {version} of workflow {workflow!r} is not deployed", field="versi",
                               value=version)
            return stored.version, Bundle.from_json(stored.bundle)

        return self.engine.db.read(work)

    def draft(self, workflow: str, workflow_text: str, roles_text: str, templates: Mapping[str, str]) -> Bundle:
        """An edit of ``workflow``: these texts under the paths of its newest deployed version (the templates
        under no folder of the server: they are the edit's, and messages call their folder ``templates/``).

        Line ends are made ``\\n`` (browsers send ``\\r\\n``); a file over the source size, a template
        name that is not a plain relative ``*.j2`` path, or too many templates is refused (InvalidInput
        naming the file).
        """
        base = self.engine.db.read(lambda connection: definition_rows.latest(connection, workflow))
        if base is None:
            raise NotFound(f"workflow {workflow!r} is not deployed", field="workflow", value=workflow)
        deployed = Bundle.from_json(base.bundle)
        if len(templates) > MAX_TEMPLATES:
            raise InvalidInput(f"an edit holds at most {MAX_TEMPLATES} templates", field="templates")
        texts = {WORKFLOW_FILE: workflow_text, ROLES_FILE: roles_text, **templates}
        for name, text in texts.items():
            if len(text.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
                raise InvalidInput(f"{name} is larger than {MAX_SOURCE_BYTES // 1024} KiB", field=name)
            if "\x00" in text:
                raise InvalidInput(f"{name} contains a NUL character", field=name)
        for name in templates:
            if not _TEMPLATE_NAME.fullmatch(name) or not name.endswith(TEMPLATE_SUFFIXES) or ".." in name:
                raise InvalidInput(f"bad template name {name[:100]!r}; use a file name ending in .j2 such as "
                                   "pengingat.txt.j2", field="templates", value=name[:100])
        roles_path = deployed.roles_path or str(Path(deployed.workflow_path).parent.parent / "roles" /
                                                f"{workflow}.yaml")
        return Bundle(deployed.workflow_path, _lines(workflow_text), roles_path, _lines(roles_text),
                      {name: _lines(text) for name, text in templates.items()}, "")

    def check(self, username: str, workflow: str, edit: Bundle) -> Checked:
        """Validate ``edit`` as ``treckk validate`` would: every problem with its file, line and column; the
        diagram (SVG by Graphviz, else the reason) when it compiles."""
        self.engine.db.read(lambda c: self._authorised(c, username, workflow, "deploy", "check definitions"))
        try:
            compiled = compile_bundle(edit)
        except DefinitionError as exc:
            return Checked(locate(edit, exc.problems))
        except InvalidInput as exc:
            return Checked((Located(WORKFLOW_FILE, 1, 1, str(exc)),))
        definition = compiled.definition
        problems: tuple[Located, ...] = ()
        if definition.name != workflow:
            line = next((n for n, text in enumerate(edit.workflow_text.splitlines(), 1)
                         if text.startswith("workflow:")), 1)
            problems = (Located(WORKFLOW_FILE, line, 1,
                                f"the file names workflow {definition.name!r}; an edit of {workflow!r} must keep "
                                f"`workflow: {workflow}`"),)
        return Checked(problems, definition, diagram_svg.draw(diagram.dot(definition)),
                       diagram_svg.draw(diagram.dot(definition, direction="TB")))

    def diff(self, username: str, workflow: str, edit: Bundle, version: int | None = None) -> list[FileDiff]:
        """Each file of ``edit`` against the deployed version (the newest when ``version`` is None)."""
        _, deployed = self.opened(username, workflow, version)
        pairs = [(WORKFLOW_FILE, deployed.workflow_text, edit.workflow_text),
                 (ROLES_FILE, deployed.roles_text, edit.roles_text)]
        for name in sorted({*deployed.templates, *edit.templates}):
            pairs.append((name, deployed.templates.get(name, ""), edit.templates.get(name, "")))
        return [FileDiff(name, tuple(difflib.unified_diff(old.splitlines(), new.splitlines(), f"terpasang/{name}",
                                                          f"suntingan/{name}", lineterm="")))
                for name, old, new in pairs]

    def try_scenario(self, username: str, workflow: str, edit: Bundle, scenario_text: str) -> Tried:
        """Play ``scenario_text`` (the ``treckk simulate`` format) against ``edit`` on a throwaway database,
        on the scenario's own clock; each step's result and the notices it queued, rendered."""
        from engine.app.scenario import describe, parse_scenario, run_scenario

        self.engine.db.read(lambda c: self._authorised(c, username, workflow, "deploy", "try definitions"))
        checked = self._compiles(edit)
        if checked is not None:
            return Tried(checked)
        if len(scenario_text.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
            raise InvalidInput(f"the scenario is larger than {MAX_SOURCE_BYTES // 1024} KiB", field="skenario")
        try:
            scenario = parse_scenario(_lines(scenario_text), Path("skenario.yaml"), against=Path(edit.workflow_path))
        except DefinitionError as exc:
            return Tried(tuple(Located("scenario", p.line, p.column, p.message) for p in exc.problems))
        if len(scenario.steps) > MAX_SCENARIO_STEPS:
            return Tried((Located("scenario", 1, 1, f"the scenario has {len(scenario.steps)} steps; at most "
                                                    f"{MAX_SCENARIO_STEPS} are played here"),))
        zone = compile_bundle(edit).definition.timezone
        with tempfile.TemporaryDirectory(prefix="treckk-coba-") as folder:
            work = Path(folder)
            try:
                results = run_scenario(scenario, f"sqlite:///{work / 'coba.db'}", self.engine.home,
                                       outbox=work / "outbox", bundle=edit)
            except (InvalidInput, NotFound, PermissionDenied, Conflict) as exc:
                # The scenario's staff do not fit the edit (an unknown role, a scope): said at line 1.
                return Tried((Located("scenario", 1, 1, str(exc)),), timezone=zone)
        steps = tuple(TriedStep(r.step.index, r.step.line, describe(r.step), r.step.note, r.at, r.case, r.before,
                                r.after, r.exit, r.error, tuple(r.mismatches),
                                tuple(_sent(n) for n in r.notices), len(r.escalations)) for r in results)
        return Tried((), steps, zone)

    def default_scenario(self, workflow: str) -> str:
        """The text of the home's scenario of ``workflow`` (``workflows/scenarios/*.yaml`` whose ``workflow:``
        is ``workflows/<workflow>.yaml``), the story the editor offers to try; "" when there is none."""
        from engine.app.scenario import load_scenario
        from engine.compile.sources import read_source
        from engine.errors import TreckkError

        home = self.engine.home
        target = (home / "workflows" / f"{workflow}.yaml").resolve()
        for path in sorted((home / "workflows" / "scenarios").glob("*.yaml")):
            try:
                if load_scenario(path).workflow == target:
                    return read_source(path, "scenario")
            except (TreckkError, OSError):
                continue
        return ""

    def deploy(self, username: str, workflow: str, edit: Bundle) -> tuple[StoredDefinition, bool]:
        """Store ``edit`` as the new version of ``workflow`` (only if it validates, only by a member who may
        deploy); (stored, False) when that content is already deployed."""
        self.engine.db.read(lambda c: self._authorised(c, username, workflow, "deploy", "deploy definitions"))
        return self.engine.deploy_bundle(edit, username, workflow=workflow)

    def _compiles(self, edit: Bundle) -> tuple[Located, ...] | None:
        try:
            compile_bundle(edit)
        except DefinitionError as exc:
            return locate(edit, exc.problems)
        except InvalidInput as exc:
            return (Located(WORKFLOW_FILE, 1, 1, str(exc)),)
        return None

    # -- migration ------------------------------------------------------------------------------
    def behind(self, username: str) -> list[MigrationSummary]:
        """Every workflow ``username`` may migrate, with how many running cases are on older versions."""
        names = self.workflows(username, "migrate")

        def work(connection: Connection) -> list[MigrationSummary]:
            found = []
            for name in names:
                latest = self.engine.compiled(connection, name)
                running = running_groups(self.engine, connection, name, latest.definition.version)
                found.append(MigrationSummary(name, latest.definition.title, latest.definition.version,
                                              sum(count for _, _, count in running)))
            return found

        return self.engine.db.read(work)

    def plan(self, username: str, workflow: str, state_map: Mapping[str, str] | None = None, *,
             after: str | None = None, page_size: int = DRY_RUN_PAGE) -> MigrationPlan:
        """The running cases of older versions, grouped by version and state (one grouped count); the state
        map (a state the newest version has maps to itself unless ``state_map`` says otherwise; "" is
        unmapped); one page of what each case becomes, after the cursor ``after`` (a previous page's
        ``next``). A map naming a state no case is in, or a target state the version lacks, is refused
        (InvalidInput whose field is ``peta.STATE``); so is a cursor that is no page's (field ``after``)."""
        start = _plan_cursor(after) if after else None

        def work(connection: Connection) -> MigrationPlan:
            latest = self._authorised(connection, username, workflow, "migrate", "migrate cases")
            target = self.engine.compiled(connection, workflow, latest.version).definition
            running = running_groups(self.engine, connection, workflow, latest.version)
            labels: dict[str, str] = {}
            for version, state, _ in running:
                own = self.engine.compiled(connection, workflow, version).definition.states.get(state)
                labels.setdefault(state, own.label if own is not None else state)
            met = sorted({state for _, state, _ in running}, key=lambda s: (s not in target.states, s))
            mapping = {state: state if state in target.states else "" for state in met}
            for old, new in (state_map or {}).items():
                if old not in mapping:
                    raise InvalidInput(f"no running case of an older version is in state {old!r}; states met: "
                                       f"{', '.join(mapping) or '(none)'}", field=f"peta.{old}", value=old,
                                       accepted=tuple(mapping))
                if new and new not in target.states:
                    raise InvalidInput(f"version {target.version} has no state {new!r}; its states are "
                                       f"{', '.join(target.states)}", field=f"peta.{old}", value=new,
                                       accepted=tuple(target.states))
                mapping[old] = new
            made = tuple(CaseGroup(version, state, labels[state], count,
                                   tuple(n for _, n in case_rows.numbers_in_group(connection, workflow, version, state,
                                                                                  limit=SHOWN_PER_GROUP)))
                         for version, state, count in running)
            page, following = _dry_run_page(connection, workflow, running, mapping, start, page_size)
            return MigrationPlan(workflow, target.version, tuple((n, s.label) for n, s in target.states.items()),
                                 made, mapping, page, after, following)

        return self.engine.db.read(work)

    def migrate(self, username: str, workflow: str, state_map: Mapping[str, str], *,
                expected: int | None = None, batch_size: int = BATCH_SIZE,
                after_batch: Callable[[MigrationProgress], None] | None = None,
                pause_s: float | None = None) -> MigrationProgress:
        """Move every running case of an older version to the newest, by ``state_map``, in batches of
        ``batch_size`` cases (each its own transaction, one history event per case; see
        ``engine.app.migration_batches``). Refused while a state met is unmapped; ``expected`` (the count
        the dry run showed) refuses (Conflict) when the running cases changed since. Running it again
        after a crash continues with the cases not yet migrated; ``progress`` shows a run under way."""
        made = self.plan(username, workflow, state_map, page_size=0)
        if made.unmapped:
            first = made.unmapped[0]
            raise InvalidInput(f"state {', '.join(made.unmapped)} is not mapped to a state of version "
                               f"{made.target_version}; choose one for each", field=f"peta.{first}", value=first,
                               accepted=tuple(name for name, _ in made.target_states))
        if expected is not None and expected != made.count:
            raise Conflict(f"{made.count} running case(s) are now on older versions, not {expected} as in the dry "
                           "run; check the plan again", field="jumlah", value=expected)
        renames = {old: new for old, new in made.state_map.items() if new != old}
        return self.engine.migrate_running(workflow, made.target_version, renames, username, batch_size=batch_size,
                                           after_batch=after_batch, pause_s=pause_s)

    def progress(self, workflow: str) -> MigrationProgress | None:
        """Where the last migration of ``workflow`` this process ran stands (``done`` False: under way)."""
        return latest_run(self.engine, workflow)


def _plan_cursor(after: str) -> tuple[int, str, int]:
    """The (version, state, id) a dry-run page cursor names; InvalidInput when it is no page's."""
    try:
        version, state, last = page_cursors.decode(after, 3)
        return int(version), state, int(last)
    except ValueError:
        raise page_cursors.refused(after[:40]) from None


def _dry_run_page(connection: Connection, workflow: str, running: Sequence[tuple[int, str, int]],
                  mapping: Mapping[str, str], start: tuple[int, str, int] | None,
                  size: int) -> tuple[tuple[CaseOutcome, ...], str | None]:
    """Up to ``size`` cases after ``start`` by (version, state, id), each with what it becomes, and the next
    page's cursor: keyset on the (version, state) groups, each one range of the index."""
    found: list[CaseOutcome] = []
    last: tuple[int, str, int] | None = None
    for version, state, _ in running:
        if len(found) > size:
            break
        if start is not None and (version, state) < start[:2]:
            continue
        after_id = start[2] if start is not None and (version, state) == start[:2] else 0
        for case_id, number in case_rows.numbers_in_group(connection, workflow, version, state, after_id=after_id,
                                                          limit=size + 1 - len(found)):
            if len(found) == size:
                return tuple(found), page_cursors.encode(*(str(part) for part in last or (version, state, 0)))
            found.append(CaseOutcome(number, version, state, mapping.get(state) or None))
            last = (version, state, case_id)
    return tuple(found), None


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def locate(edit: Bundle, problems: Sequence[Problem]) -> tuple[Located, ...]:
    """The validator's ``problems`` of ``edit``, each in the file of the edit it is about."""
    return tuple(_located(edit, problem) for problem in problems)


def _located(edit: Bundle, problem: Problem) -> Located:
    which = ROLES_FILE if edit.roles_path and problem.path == edit.roles_path else WORKFLOW_FILE
    return Located(which, problem.line, problem.column, problem.message)


def _sent(row: Mapping[str, Any]) -> SentNotice:
    recipient = row.get("recipient_name") or row.get("recipient_username") or row.get("recipient_role") or \
        row.get("recipient_kind") or ""
    return SentNotice(str(row["template"]), str(recipient), str(row.get("channel") or ""),
                      str(row.get("subject") or ""), str(row.get("body") or ""), bool(row.get("is_html")))
