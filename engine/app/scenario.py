"""Scenarios: a story of moves and clock jumps, played against a definition on a throwaway database.

An administrator who changed the definition writes (or reuses) a scenario with the states and
notices each step should produce; ``treckk simulate`` plays it and names every step whose result
differs. ``treckk demo`` plays the shipped story with a transcript. The file format is described
in ``docs/definition.md`` (section "Scenarios").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from engine.compile.workflow import Bundle
from engine.core.clock import parse_moment
from engine.definition.yamlnodes import Reader
from engine.errors import DefinitionError, TreckkError

_JUMP = re.compile(r"^\+\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?$")
_STEP_KINDS = ("submit", "advance", "clock", "escalate", "deliver")
_EXPECT_KEYS = ("state", "exit", "notices", "escalations", "version")


@dataclass(frozen=True, slots=True)
class StaffSpec:
    """A staff member the scenario creates before its first step."""

    username: str
    name: str
    roles: tuple[str, ...]
    scope: str | None
    phone: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class Expect:
    """What a step must produce; None means 'not checked'."""

    state: str | None = None
    exit: int = 0
    notices: tuple[str, ...] | None = None
    escalations: int | None = None
    version: int | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One step: what to do (kind + parameters), where it is written, and what to expect."""

    index: int
    line: int
    kind: str
    params: dict[str, Any]
    note: str
    expect: Expect


@dataclass(frozen=True, slots=True)
class Scenario:
    """A parsed scenario file."""

    title: str
    path: str
    workflow: Path
    start: datetime
    staff: tuple[StaffSpec, ...]
    steps: tuple[Step, ...]


@dataclass
class SimulatedClock:
    """The scenario's clock: starts at ``start`` and only moves when a step says so."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class StepResult:
    """What a step did, and how it differs from what was expected."""

    step: Step
    at: datetime
    case: str | None = None
    actor: str | None = None
    before: str | None = None
    after: str | None = None
    version: int | None = None
    exit: int = 0
    error: str | None = None
    notices: list[dict[str, Any]] = field(default_factory=list)
    escalations: list[Any] = field(default_factory=list)
    delivered: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


# -- loading ------------------------------------------------------------------------------------


def load_scenario(path: Path) -> Scenario:
    """Parse a scenario file; every problem is reported at once with its line."""
    from engine.compile.sources import read_source

    return parse_scenario(read_source(path, "scenario"), path)


def parse_scenario(text: str, path: Path, *, against: Path | None = None) -> Scenario:
    """Parse scenario ``text`` (named ``path`` in messages); every problem is reported at once with its line.

    ``against`` is the workflow the story is played against whatever it names (an edit in the web
    editor): ``workflow:`` may then be left out, and is not looked up.
    """
    reader = Reader(str(path))
    root = reader.compose(text)
    if root is None:
        raise DefinitionError(reader.problems)
    required = ("scenario", "start", "steps") if against is not None else ("scenario", "workflow", "start", "steps")
    top = reader.mapping(root, "the scenario", allowed=("scenario", "workflow", "start", "staff", "steps"),
                         required=required) or {}
    title = reader.string(top["scenario"], "scenario") if "scenario" in top else None
    workflow = path.resolve() if against is None else against
    if "workflow" in top and against is None:
        given = reader.string(top["workflow"], "workflow")
        if given:
            workflow = (path.resolve().parent / given).resolve()
            if not workflow.is_file():
                reader.problem(top["workflow"], f"workflow file {given!r} does not exist (relative to the scenario)")
    start = datetime(2026, 11, 30, tzinfo=timezone.utc)
    if "start" in top:
        raw = reader.string(top["start"], "start")
        try:
            start = parse_moment(raw or "", "start")
        except TreckkError as exc:
            reader.problem(top["start"], str(exc))
    staff = tuple(_staff(reader, node) for node in reader.sequence(top["staff"], "staff") or []) if "staff" in top \
        else ()
    steps = tuple(_step(reader, index, node) for index, node in
                  enumerate(reader.sequence(top["steps"], "steps") or [] if "steps" in top else [], start=1))
    if reader.problems:
        raise DefinitionError(reader.problems)
    return Scenario(title or path.stem, str(path), workflow, start, tuple(s for s in staff if s),
                    tuple(s for s in steps if s))


def _staff(reader: Reader, node: yaml.Node) -> StaffSpec | None:
    # `kecamatan` is the older spelling of `scope`, kept so existing scenarios still load.
    keys = reader.mapping(node, "a staff entry",
                          allowed=("username", "name", "roles", "scope", "kecamatan", "phone", "email"),
                          required=("username", "name", "roles"))
    if not keys or not {"username", "name", "roles"} <= keys.keys():
        return None
    text = {k: reader.string(keys[k], k) for k in ("username", "name", "scope", "kecamatan", "phone", "email")
            if k in keys}
    roles = tuple(value for value, _ in reader.names(keys["roles"], "roles"))
    return StaffSpec(text["username"] or "", text["name"] or "", roles, text.get("scope") or text.get("kecamatan"),
                     text.get("phone"), text.get("email"))


def _step(reader: Reader, index: int, node: yaml.Node) -> Step | None:
    what = f"step {index}"
    keys = reader.mapping(node, what, allowed=(*_STEP_KINDS, "expect", "note"))
    if keys is None:
        return None
    kinds = [k for k in keys if k in _STEP_KINDS]
    if len(kinds) != 1:
        reader.problem(node, f"{what} must have exactly one of {', '.join(_STEP_KINDS)}")
        return None
    kind = kinds[0]
    params: dict[str, Any] = {}
    value = keys[kind]
    if kind == "clock":
        params["to"] = reader.string(value, f"the clock of {what}")
    elif isinstance(value, yaml.MappingNode):
        for key, item in (reader.mapping(value, f"the {kind} of {what}") or {}).items():
            if key == "set":
                params["set"] = {k: reader.string(v, f"--set {k} of {what}", allow_empty=True)
                                 for k, v in (reader.mapping(item, f"the set of {what}") or {}).items()}
            else:
                params[key] = reader.string(item, f"{key} of {what}")
    elif not (isinstance(value, yaml.ScalarNode) and value.value in ("", "~", "null")):
        reader.problem(value, f"the {kind} of {what} must be a mapping of its parameters")
    note = reader.string(keys["note"], f"the note of {what}") or "" if "note" in keys else ""
    expect = Expect()
    if "expect" in keys:
        e = reader.mapping(keys["expect"], f"the expect of {what}", allowed=_EXPECT_KEYS) or {}
        expect = Expect(
            state=reader.string(e["state"], "state") if "state" in e else None,
            exit=(reader.integer(e["exit"], "exit", minimum=0) or 0) if "exit" in e else 0,
            notices=tuple(v for v, _ in reader.names(e["notices"], "notices")) if "notices" in e else None,
            escalations=reader.integer(e["escalations"], "escalations", minimum=0) if "escalations" in e else None,
            version=reader.integer(e["version"], "version", minimum=1) if "version" in e else None,
        )
    return Step(index, node.start_mark.line + 1, kind, params, note, expect)


# -- running ------------------------------------------------------------------------------------


def run_scenario(scenario: Scenario, database_url: str, home: Path,
                 on_step: Callable[[StepResult], None] | None = None, *, outbox: Path,
                 bundle: Bundle | None = None) -> list[StepResult]:
    """Play ``scenario`` on the (empty) database at ``database_url``, delivering notices as files
    into ``outbox``; returns one result per step. ``bundle`` is deployed instead of the scenario's
    workflow file (the texts of an edit not yet deployed)."""
    from engine.app.commands import Commands
    from engine.channels.base import ChannelSet
    from engine.channels.file import FileChannel
    from engine.store.database import Database
    from engine.store.migrations import upgrade

    clock = SimulatedClock(scenario.start)
    database = Database(database_url)
    upgrade(database)
    engine = Commands(database, clock, home, channels=lambda: ChannelSet({FileChannel.name: FileChannel(outbox)}))
    if bundle is not None:
        engine.deploy_bundle(bundle, None)
    else:
        engine.deploy(scenario.workflow, None)
    for member in scenario.staff:
        engine.add_staff(member.username, member.name, member.roles, member.scope, member.phone, member.email)
    aliases: dict[str, str] = {}
    results = []
    try:
        for step in scenario.steps:
            result = _play(engine, clock, step, aliases)
            _compare(step, result)
            results.append(result)
            if on_step:
                on_step(result)
    finally:
        database.dispose()
    return results


def _jump(clock: SimulatedClock, target: str) -> None:
    match = _JUMP.match(target.strip())
    if match and any(match.groups()):
        days, hours, minutes = (int(g or 0) for g in match.groups())
        clock.now = clock.now + timedelta(days=days, hours=hours, minutes=minutes)
    else:
        clock.now = parse_moment(target, "clock")


def _play(engine: Any, clock: SimulatedClock, step: Step, aliases: dict[str, str]) -> StepResult:
    from engine.store import transcript_rows

    params = step.params
    if step.kind == "clock":
        _jump(clock, params["to"] or "")
        return StepResult(step, clock.now)
    result = StepResult(step, clock.now)
    marker = engine.db.transaction(transcript_rows.last_notice_id)
    try:
        if step.kind == "submit":
            case = engine.submit(params["as"], params.get("set") or {}, comment=params.get("comment"))
            aliases[params.get("case") or case.number] = case.number
            result.case, result.actor, result.after, result.version = case.number, params["as"], case.state, case.version
        elif step.kind == "advance":
            number = aliases.get(params.get("case", ""), params.get("case"))
            result.case, result.actor = number, params["as"]
            result.before = engine.db.transaction(lambda c: transcript_rows.case_state(c, number))
            case = engine.advance(number, params["trigger"], params["as"], params.get("set") or {},
                                  comment=params.get("comment"))
            result.after, result.version = case.state, case.version
        elif step.kind == "escalate":
            result.escalations = list(engine.escalate())
        elif step.kind == "deliver":
            report = engine.deliver()
            result.delivered = int(getattr(report, "sent", 0))
    except TreckkError as exc:
        result.exit, result.error = exc.exit_code, str(exc)
        if result.case:
            result.after = engine.db.transaction(lambda c: transcript_rows.case_state(c, result.case))
    result.notices = engine.db.transaction(lambda c: transcript_rows.notices_after(c, marker))
    return result


def _compare(step: Step, result: StepResult) -> None:
    expect = step.expect
    if result.exit != expect.exit:
        outcome = f"exit {result.exit} ({result.error})" if result.exit else "success"
        result.mismatches.append(f"expected exit {expect.exit}, got {outcome}")
    if expect.state is not None and result.after != expect.state:
        result.mismatches.append(f"expected state {expect.state!r}, got {result.after!r}")
    if expect.version is not None and result.version != expect.version:
        result.mismatches.append(f"expected version {expect.version}, got {result.version}")
    if expect.notices is not None:
        got = sorted(n["template"] for n in result.notices)
        if got != sorted(expect.notices):
            result.mismatches.append(f"expected notices {sorted(expect.notices)}, got {got}")
    if expect.escalations is not None and len(result.escalations) != expect.escalations:
        result.mismatches.append(f"expected {expect.escalations} escalation(s), got {len(result.escalations)}")


def describe(step: Step, aliases_hint: str | None = None) -> str:
    """A one-line description of a step, e.g. ``advance A teruskan as rina``."""
    p = step.params
    if step.kind == "submit":
        return f"submit as {p.get('as')}" + (f" (case {p['case']})" if p.get("case") else "")
    if step.kind == "advance":
        return f"advance {aliases_hint or p.get('case')} {p.get('trigger')} as {p.get('as')}"
    if step.kind == "clock":
        return f"clock {p.get('to')}"
    return step.kind
