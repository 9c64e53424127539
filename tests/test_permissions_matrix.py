"""Every (staff member, trigger, state) of workflows/treckk.yaml, on every database backend.

The expectation is read from the definition, not written out by hand: a trigger is allowed
exactly when a transition leaves the state with it, the actor holds one of its roles, and a
kecamatan-scoped role acts on its own kecamatan. A refused attempt must leave no trace: same
state, version, data and hash, no event and no notice row anywhere.

One case per state takes every refused attempt; each allowed attempt gets a fresh case driven
along a shortest path from the intake, so the suite stays fast on PostgreSQL too.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.compile.workflow import bundle_from_files, compile_bundle
from engine.definition.model import FieldSpec, TransitionSpec, WorkflowDefinition
from engine.errors import NotAllowed, PermissionDenied, TreckkError
from engine.app.commands import Commands
from engine.store.schema import cases, events, notices
from engine.app.queries import Queries
from tests.conftest import COMPLAINT, ROOT, STAFF

DEFINITION: WorkflowDefinition = compile_bundle(
    bundle_from_files(ROOT / "workflows" / "treckk.yaml", ROOT / "templates")).definition
CASE_KECAMATAN = COMPLAINT["kecamatan"]
# username → (its one role, its kecamatan) for every standard staff member.
ACTORS = {username: (roles[0], kecamatan) for username, _name, roles, kecamatan, _phone, _email in STAFF}
# Who drives a case along a path: one member per role, the team of the case's own kecamatan.
DRIVER = {role: username for username, (role, kecamatan) in reversed(list(ACTORS.items()))
          if kecamatan in (None, CASE_KECAMATAN)}
TRIGGERS = sorted(DEFINITION.triggers() | {DEFINITION.intake.trigger})


def sample_value(spec: FieldSpec) -> str:
    """A value every field of that type accepts."""
    return {
        "text": f"contoh {spec.label}",
        "choice": next(iter(spec.choices), ""),
        "boolean": "ya",
        "phone": "0812-3456-7890",
        "email": "pelapor@contoh.go.id",
        "datetime": "2026-11-29T21:00",
        "references": "foto-1.jpg",
    }[spec.type]


def inputs_for(trigger: str) -> dict[str, str]:
    """The required inputs of ``trigger``, so a refusal is never about missing values."""
    spec = next((t for t in DEFINITION.transitions if t.trigger == trigger), None)
    if spec is None:
        return {}
    return {i.field: sample_value(DEFINITION.fields[i.field]) for i in spec.inputs if i.required}


def shortest_paths(definition: WorkflowDefinition) -> dict[str, list[TransitionSpec]]:
    """For each state, the shortest list of transitions from the initial state (breadth first)."""
    paths: dict[str, list[TransitionSpec]] = {definition.initial: []}
    queue = deque([definition.initial])
    while queue:
        state = queue.popleft()
        for transition in definition.transitions_from(state):
            if transition.dest not in paths:
                paths[transition.dest] = [*paths[state], transition]
                queue.append(transition.dest)
    return paths


PATHS = shortest_paths(DEFINITION)


def expected_code(state: str, trigger: str, actor: str) -> int:
    """0 when the definition lets ``actor`` fire ``trigger`` in ``state``, else the refusal's exit code."""
    role, kecamatan = ACTORS[actor]
    if DEFINITION.roles.roles[role].scoped and kecamatan != CASE_KECAMATAN:
        # A case one may not see is refused before anything about it is said (as `show` does).
        return PermissionDenied.exit_code
    offered = [t for t in DEFINITION.transitions_from(state) if t.trigger == trigger]
    if not offered:
        return NotAllowed.exit_code
    if role not in offered[0].roles:
        return PermissionDenied.exit_code
    return 0


def open_case_in(engine: Commands, state: str) -> str:
    case = engine.submit("admin", COMPLAINT)
    for transition in PATHS[state]:
        engine.advance(case.number, transition.trigger, DRIVER[transition.roles[0]], inputs_for(transition.trigger))
    return case.number


def snapshot(engine: Commands, number: str) -> dict[str, Any]:
    """Everything a refused attempt must leave as it was."""
    with engine.db.begin() as connection:
        row = connection.execute(select(cases.c.id, cases.c.state, cases.c.version, cases.c.data, cases.c.last_hash,
                                        cases.c.due_at, cases.c.scope).where(cases.c.number == number)).one()
        return {
            **row._asdict(),
            "events": connection.execute(select(func.count()).select_from(events)).scalar_one(),
            "notices": connection.execute(select(func.count()).select_from(notices)).scalar_one(),
        }


def test_the_definition_gives_every_state_a_path_and_every_role_a_driver() -> None:
    assert set(PATHS) == set(DEFINITION.states)
    assert set(DRIVER) == set(DEFINITION.roles.roles)
    assert any(DEFINITION.roles.roles[role].scoped and kecamatan != CASE_KECAMATAN
               for role, kecamatan in ACTORS.values()), "the matrix needs a team of another kecamatan"


def test_every_actor_trigger_and_state(engine: Commands) -> None:
    views = Queries(engine)
    at_state = {state: open_case_in(engine, state) for state in DEFINITION.states}
    tried = {0: 0, NotAllowed.exit_code: 0, PermissionDenied.exit_code: 0}
    for state, number in at_state.items():
        assert views.show(number)["state"] == state
        for actor in ACTORS:
            codes = {trigger: expected_code(state, trigger, actor) for trigger in TRIGGERS}
            # What `show` offers the actor is exactly what the definition allows (guards aside).
            role, kecamatan = ACTORS[actor]
            if DEFINITION.roles.roles[role].scoped and kecamatan != CASE_KECAMATAN:
                with pytest.raises(PermissionDenied):
                    views.show(number, actor)
            else:
                offered = views.show(number, actor)["allowed_triggers"]
                assert sorted(offered) == sorted(t for t, code in codes.items() if code == 0), (state, actor)
            for trigger, code in codes.items():
                tried[code] += 1
                if code == 0:
                    fresh = open_case_in(engine, state)
                    before = views.show(fresh)
                    after = views.show(engine.advance(fresh, trigger, actor, inputs_for(trigger)).number)
                    last = views.history(fresh)[-1]
                    spec = next(t for t in DEFINITION.transitions_from(state) if t.trigger == trigger)
                    assert after["state"] == spec.dest
                    assert after["version"] == before["version"] + 1
                    assert (last["seq"], last["trigger"], last["from"], last["to"], last["actor"], last["role"]) == (
                        after["version"], trigger, state, spec.dest, actor, role)
                    continue
                before = snapshot(engine, number)
                with pytest.raises(TreckkError) as refused:
                    engine.advance(number, trigger, actor, inputs_for(trigger))
                assert refused.value.exit_code == code, (state, trigger, actor, str(refused.value))
                assert "\n" not in str(refused.value)
                assert snapshot(engine, number) == before, (state, trigger, actor)
    # Every kind of outcome really happened; the counts follow from the definition.
    assert tried[0] == sum(
        1 for t in DEFINITION.transitions for s in t.sources for a in ACTORS if expected_code(s, t.trigger, a) == 0)
    assert tried[0] >= len(DEFINITION.transitions)
    assert tried[PermissionDenied.exit_code] > 0 and tried[NotAllowed.exit_code] > 0


def test_only_the_intake_roles_may_record_a_complaint(engine: Commands) -> None:
    views = Queries(engine)
    for actor, (role, _kecamatan) in ACTORS.items():
        if role in DEFINITION.intake.roles:
            continue
        with pytest.raises(PermissionDenied, match="allowed roles are admin_lalisa, integrasi"):
            engine.submit(actor, COMPLAINT)
        # Refused before the values are read: even bad values give the permission answer.
        with pytest.raises(PermissionDenied):
            engine.submit(actor, {"kanal": "merpati pos"})
    with engine.db.begin() as connection:
        assert connection.execute(select(func.count()).select_from(cases)).scalar_one() == 0
        assert connection.execute(select(func.count()).select_from(notices)).scalar_one() == 0
    recorders = [actor for actor, (role, _k) in ACTORS.items() if role in DEFINITION.intake.roles]
    assert recorders == ["admin", "sistem_kota"]
    case = engine.submit("admin", COMPLAINT)
    assert case.number.endswith("-000001"), "refused intakes must not use up case numbers"
    assert views.history(case.number)[0]["trigger"] == DEFINITION.intake.trigger


def test_the_team_of_another_kecamatan_sees_and_does_nothing(engine: Commands) -> None:
    views = Queries(engine)
    own, other = (u for u, (role, _k) in ACTORS.items() if DEFINITION.roles.roles[role].scoped)
    number = open_case_in(engine, "verifikasi")
    assert ACTORS[own][1] == CASE_KECAMATAN != ACTORS[other][1]
    assert views.show(number, own)["allowed_triggers"] == ["laporkan_verifikasi"]
    for view in (views.show, views.history):
        with pytest.raises(PermissionDenied):
            view(number, other)
    assert [row["number"] for row in views.inbox(own)] == [number]
    assert views.inbox(other) == []
    assert views.list_cases(viewer_name=other) == []
    before = snapshot(engine, number)
    with pytest.raises(PermissionDenied, match="kecamatan"):
        engine.advance(number, "laporkan_verifikasi", other, inputs_for("laporkan_verifikasi"))
    assert snapshot(engine, number) == before

