"""The permission matrix over HTTP: every (staff member, trigger, state) of workflows/treckk.yaml
through ``POST /api/v1/cases/{number}/advance``, and every member through ``POST /api/v1/cases``.

Expected answers are read from the definition (as in tests/test_permissions_matrix.py): 200 when
a transition leaves the state with the trigger, the member holds one of its roles and a
kecamatan-scoped role acts on its own kecamatan; 403 for a case the member may not see (before
anything about its state), 409 when the state does not offer the trigger; 403 otherwise. A
refused request leaves the case, its history and the outbox exactly as they were.
"""

from __future__ import annotations

import httpx

from tests.conftest import COMPLAINT
from tests.test_permissions_matrix import DEFINITION, PATHS, TRIGGERS, inputs_for, snapshot
from tests.web.conftest import DEMO_STAFF, Web

CASE_SCOPE = COMPLAINT["kecamatan"]
ACTORS = {member.username: (member.roles[0], member.scope) for member in DEMO_STAFF}
DRIVER = {role: username for username, (role, scope) in reversed(list(ACTORS.items())) if scope in (None, CASE_SCOPE)}


def expected_status(state: str, trigger: str, actor: str) -> int:
    role, scope = ACTORS[actor]
    if DEFINITION.roles.roles[role].scoped and scope != CASE_SCOPE:
        return 403  # a case the member may not see: refused as `show` is, before anything about its state
    offered = [t for t in DEFINITION.transitions_from(state) if t.trigger == trigger]
    if not offered:
        return 409
    if role not in offered[0].roles:
        return 403
    return 200


def _case_in(web: Web, state: str) -> str:
    commands = web.application.commands
    case = commands.submit(DRIVER[DEFINITION.intake.roles[0]], COMPLAINT)
    for transition in PATHS[state]:
        commands.advance(case.number, transition.trigger, DRIVER[transition.roles[0]], inputs_for(transition.trigger))
    return case.number


def test_the_demo_staff_cover_every_role_and_a_team_of_another_kecamatan() -> None:
    assert set(DRIVER) == set(DEFINITION.roles.roles)
    assert any(DEFINITION.roles.roles[role].scoped and scope != CASE_SCOPE for role, scope in ACTORS.values())


def test_every_member_trigger_and_state_over_the_api(web: Web) -> None:
    clients: dict[str, httpx.Client] = {actor: web.api(actor) for actor in ACTORS}
    at_state = {state: _case_in(web, state) for state in DEFINITION.states}
    tried = {200: 0, 403: 0, 409: 0}
    for state, number in at_state.items():
        for actor, client in clients.items():
            expected = {trigger: expected_status(state, trigger, actor) for trigger in TRIGGERS}
            shown = client.get(f"/api/v1/cases/{number}")
            role, scope = ACTORS[actor]
            if DEFINITION.roles.roles[role].scoped and scope != CASE_SCOPE:
                assert shown.status_code == 403, (state, actor)
            else:
                assert sorted(shown.json()["allowed_triggers"]) == sorted(
                    t for t, status in expected.items() if status == 200), (state, actor)
            for trigger, status in expected.items():
                tried[status] += 1
                body = {"trigger": trigger, "input": inputs_for(trigger)}
                if status == 200:
                    fresh = _case_in(web, state)
                    answer = client.post(f"/api/v1/cases/{fresh}/advance", json=body)
                    spec = next(t for t in DEFINITION.transitions_from(state) if t.trigger == trigger)
                    assert answer.status_code == 200, (state, trigger, actor, answer.text)
                    assert answer.json()["state"] == spec.dest
                    last = web.application.queries.history(fresh)[-1]
                    assert (last["trigger"], last["actor"], last["role"]) == (trigger, actor, role)
                    continue
                before = snapshot(web.application.commands, number)
                answer = client.post(f"/api/v1/cases/{number}/advance", json=body)
                assert answer.status_code == status, (state, trigger, actor, answer.text)
                assert answer.headers["content-type"] == "application/problem+json"
                assert snapshot(web.application.commands, number) == before, (state, trigger, actor)
    assert tried[200] == sum(1 for t in DEFINITION.transitions for s in t.sources for a in ACTORS
                             if expected_status(s, t.trigger, a) == 200)
    assert tried[403] > 0 and tried[409] > 0


def test_only_the_intake_roles_may_record_a_complaint_over_the_api(web: Web) -> None:
    for actor, (role, _scope) in ACTORS.items():
        answer = web.api(actor).post("/api/v1/cases", json={"input": COMPLAINT})
        if role in DEFINITION.intake.roles:
            assert answer.status_code == 201, answer.text
            continue
        assert answer.status_code == 403, (actor, answer.text)
        # Refused before the values are read: bad values give the same answer.
        assert web.api(actor).post("/api/v1/cases", json={"input": {"kanal": "merpati"}}).status_code == 403
    recorders = [actor for actor, (role, _s) in ACTORS.items() if role in DEFINITION.intake.roles]
    assert len(web.api("ahmad").get("/api/v1/cases").json()["cases"]) == len(recorders)
