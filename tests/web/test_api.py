"""The JSON API under /api/v1, as the issue's contract says: the objects of the CLI's --json, problem
details from the error tree, the case version as ETag with If-Match on advance, idempotency keys."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import COMPLAINT
from tests.web.conftest import Web

PROBLEM = "application/problem+json"


def _submit(client: httpx.Client, values: dict[str, object] | None = None, **headers: str) -> httpx.Response:
    return client.post("/api/v1/cases", json={"workflow": "treckk", "input": values or COMPLAINT}, headers=headers)


def _forwarded(web: Web) -> str:
    """A case in ``ditelaah`` (recorded and forwarded by Admin La-Lisa), through the API."""
    rina = web.api("rina")
    number = _submit(rina).json()["number"]
    assert rina.post(f"/api/v1/cases/{number}/advance", json={"trigger": "teruskan"}).status_code == 200
    return str(number)


def _problem(answer: httpx.Response, status: int) -> dict[str, object]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body: dict[str, object] = answer.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_submit_answers_201_with_the_case_object_its_location_and_etag(web: Web) -> None:
    answer = _submit(web.api("rina"))
    assert answer.status_code == 201
    case = answer.json()
    assert answer.headers["location"] == f"/api/v1/cases/{case['number']}"
    assert answer.headers["etag"] == '"1"' and case["version"] == 1 and case["state"] == "diterima"
    assert case == web.application.queries.show(case["number"], "rina")


def test_show_is_the_object_of_treckk_show_json(web: Web) -> None:
    number = _forwarded(web)
    for username in ("ahmad", "dewi", "tim_paringin"):
        answer = web.api(username).get(f"/api/v1/cases/{number}")
        assert answer.status_code == 200
        assert answer.json() == json.loads(json.dumps(web.application.queries.show(number, username)))
        assert answer.headers["etag"] == f'"{answer.json()["version"]}"'
    assert web.api("dewi").get(f"/api/v1/cases/{number}").json()["data"]["nama_pelapor"] != COMPLAINT["nama_pelapor"]


def test_history_and_notices_of_a_case(web: Web) -> None:
    number = _forwarded(web)
    ahmad = web.api("ahmad")
    events = ahmad.get(f"/api/v1/cases/{number}/history").json()
    assert [(e["trigger"], e["from"], e["to"], e["actor"]) for e in events] == [
        ("catat", None, "diterima", "rina"), ("teruskan", "diterima", "ditelaah", "rina")]
    assert events == web.application.queries.history(number, "ahmad")
    notices = ahmad.get(f"/api/v1/cases/{number}/notices").json()
    assert {n["template"] for n in notices} >= {"kabid_aduan_baru.txt.j2"}
    assert all(n["case"] == number for n in notices)


def test_advance_answers_the_case_after_the_move(web: Web) -> None:
    number = _forwarded(web)
    answer = web.api("ahmad").post(f"/api/v1/cases/{number}/advance", json={
        "trigger": "minta_verifikasi", "input": {"instruksi": "Cek lokasi."}, "comment": "segera"})
    assert answer.status_code == 200
    assert answer.json()["state"] == "verifikasi" and answer.headers["etag"] == '"3"'
    assert web.application.queries.history(number)[-1]["comment"] == "segera"


def test_if_match_with_the_current_version_moves_and_a_stale_one_is_412_and_changes_nothing(web: Web) -> None:
    number = _forwarded(web)
    ahmad = web.api("ahmad")
    etag = ahmad.get(f"/api/v1/cases/{number}").headers["etag"]
    stale = _problem(ahmad.post(f"/api/v1/cases/{number}/advance", headers={"If-Match": '"1"'},
                                json={"trigger": "minta_verifikasi", "input": {"instruksi": "x"}}), 412)
    assert "someone changed it first" in str(stale["detail"]) and stale["field"] == "version" and stale["value"] == 2
    assert (stale["kind"], stale["title"]) == ("precondition_failed", "Precondition failed")
    assert web.application.queries.show(number)["version"] == 2
    moved = ahmad.post(f"/api/v1/cases/{number}/advance", headers={"If-Match": etag},
                       json={"trigger": "minta_verifikasi", "input": {"instruksi": "x"}})
    assert moved.status_code == 200 and moved.headers["etag"] == '"3"'
    _problem(ahmad.post(f"/api/v1/cases/{number}/advance", headers={"If-Match": "versi-3"},
                        json={"trigger": "laporkan_verifikasi"}), 412)


def test_an_idempotency_key_makes_a_retried_post_act_once(web: Web) -> None:
    rina = web.api("rina")
    first = _submit(rina, **{"Idempotency-Key": "wa-4711"})
    again = _submit(rina, **{"Idempotency-Key": "wa-4711"})
    assert first.status_code == again.status_code == 201
    assert first.json()["number"] == again.json()["number"]
    assert len(rina.get("/api/v1/cases").json()["cases"]) == 1
    number = first.json()["number"]
    moves = [rina.post(f"/api/v1/cases/{number}/advance", json={"trigger": "teruskan"},
                       headers={"Idempotency-Key": "klik-1"}) for _ in range(2)]
    assert [m.status_code for m in moves] == [200, 200] and moves[1].json()["version"] == 2
    assert len(web.application.queries.history(number)) == 2


def test_inbox_lists_what_waits_for_the_caller(web: Web) -> None:
    number = _forwarded(web)
    assert [c["number"] for c in web.api("ahmad").get("/api/v1/inbox").json()["cases"]] == [number]
    assert web.api("tim_paringin").get("/api/v1/inbox").json()["cases"] == []
    assert web.api("rina").get("/api/v1/inbox").json()["cases"] == []


def test_cases_filter_by_state_scope_and_overdue_and_hide_other_kecamatans(web: Web) -> None:
    number = _forwarded(web)
    other = _submit(web.api("rina"), {**COMPLAINT, "kecamatan": "halong"}).json()["number"]
    ahmad = web.api("ahmad")

    def numbers(client: httpx.Client, query: str = "") -> list[str]:
        answer = client.get(f"/api/v1/cases{query}")
        assert answer.status_code == 200, answer.text
        return sorted(c["number"] for c in answer.json()["cases"])

    assert numbers(ahmad) == sorted([number, other])
    assert numbers(ahmad, "?state=ditelaah") == [number]
    assert numbers(ahmad, "?scope=halong") == [other]
    assert numbers(ahmad, "?overdue=true") == []
    web.clock.advance(days=3)
    assert numbers(ahmad, "?overdue=true") == sorted([number, other])
    assert numbers(web.api("tim_halong")) == [other]


def test_cases_take_the_contracts_query_with_empty_values_as_no_filter(web: Web) -> None:
    # The contract writes the request as GET /api/v1/cases?state=&scope=&overdue= : a script filling
    # that template leaves a filter empty to mean "any", as the inbox page's filters do.
    number = _forwarded(web)
    ahmad = web.api("ahmad")
    for query in ("?state=&scope=&overdue=", "?state=ditelaah&scope=&overdue=", "?state=&scope=paringin&overdue="):
        answer = ahmad.get(f"/api/v1/cases{query}")
        assert answer.status_code == 200, (query, answer.text)
        assert [c["number"] for c in answer.json()["cases"]] == [number], query
    assert ahmad.get("/api/v1/cases?state=&overdue=true").json()["cases"] == []
    assert ahmad.get("/api/v1/cases?overdue=maybe").status_code == 422


def test_staff_lists_members_and_roles_without_contact_details(web: Web) -> None:
    members = web.api("tim_halong").get("/api/v1/staff").json()
    assert {m["username"] for m in members} >= {"rina", "ahmad", "tim_paringin"}
    assert all(set(m) == {"username", "name", "roles", "scope", "active", "grants"} for m in members)
    assert web.api("ahmad").get("/api/v1/me").json()["username"] == "ahmad"


# -- errors as problem details ---------------------------------------------------------------------
def test_an_unknown_case_is_404(web: Web) -> None:
    body = _problem(web.api("ahmad").get("/api/v1/cases/TRK-2026-999999"), 404)
    assert body["kind"] == "not_found"


def test_a_trigger_the_state_does_not_offer_is_409(web: Web) -> None:
    number = _forwarded(web)
    body = _problem(web.api("ahmad").post(f"/api/v1/cases/{number}/advance", json={"trigger": "setujui"}), 409)
    assert body["kind"] == "not_allowed"


def test_a_role_that_may_not_is_403_and_another_kecamatan_is_403(web: Web) -> None:
    number = _forwarded(web)
    body = _problem(web.api("dewi").post(f"/api/v1/cases/{number}/advance",
                                         json={"trigger": "minta_verifikasi", "input": {"instruksi": "x"}}), 403)
    assert body["kind"] == "permission_denied"
    _problem(web.api("tim_halong").get(f"/api/v1/cases/{number}"), 403)
    _problem(web.api("tim_halong").get(f"/api/v1/cases/{number}/history"), 403)
    _problem(web.api("tim_halong").get(f"/api/v1/cases/{number}/notices"), 403)
    _problem(_submit(web.api("ahmad")), 403)


def test_invalid_input_is_422_naming_the_field(web: Web) -> None:
    body = _problem(_submit(web.api("rina"), {**COMPLAINT, "kanal": "merpati"}), 422)
    assert body["kind"] == "invalid_input" and "kanal" in str(body["detail"])
    _problem(web.api("rina").post("/api/v1/cases", json={"input": COMPLAINT, "extra": 1}), 422)
    _problem(web.api("rina").post("/api/v1/cases", json={"input": "teks"}), 422)
    _problem(web.api("rina").get("/api/v1/cases?state=" + "x" * 100), 422)


@pytest.mark.parametrize("body", [b"{", b"not json", b"\xff\xfe"])
def test_a_body_that_is_not_json_is_400(web: Web, body: bytes) -> None:
    answer = web.api("rina").post("/api/v1/cases", content=body, headers={"Content-Type": "application/json"})
    _problem(answer, 400)


def test_a_failed_request_writes_nothing(web: Web) -> None:
    number = _forwarded(web)
    before = web.application.queries.show(number)
    history = web.application.queries.history(number)
    rina = web.api("rina")
    rina.post(f"/api/v1/cases/{number}/advance", json={"trigger": "minta_verifikasi", "input": {"instruksi": "x"}})
    _submit(rina, {**COMPLAINT, "nomor_pelapor": "bukan nomor"})
    assert web.application.queries.show(number) == before
    assert web.application.queries.history(number) == history
    assert len(rina.get("/api/v1/cases").json()["cases"]) == 1


def test_the_openapi_document_describes_only_the_api(web: Web) -> None:
    document = web.client().get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/api/v1/inbox", "/api/v1/cases", "/api/v1/cases/{number}", "/api/v1/cases/{number}/history",
        "/api/v1/cases/{number}/notices", "/api/v1/cases/{number}/advance", "/api/v1/staff", "/api/v1/me",
        "/api/v1/cases/{number}/attachments", "/api/v1/cases/{number}/attachments/{name}",
        "/api/v1/cases/{number}/attachments/{name}/thumbnail", "/api/v1/cases/{number}/proof"}
    advance = document["paths"]["/api/v1/cases/{number}/advance"]["post"]
    assert {"400", "401", "403", "404", "409", "412", "422"} <= set(advance["responses"])
    assert PROBLEM in advance["responses"]["409"]["content"]


def test_the_personal_data_check_finds_a_leak(web: Web) -> None:
    number = _forwarded(web)
    shown = web.api("ahmad").get(f"/api/v1/cases/{number}").text  # Kepala Bidang: sees personal data
    web.seen.append(("dewi", "made up", shown))
    with pytest.raises(AssertionError, match="personal data shown to members without sees_pii"):
        web.assert_no_personal_data_leaked()
    web.seen.pop()
    masked = web.api("dewi").get(f"/api/v1/cases/{number}").json()
    assert masked["data"]["nomor_pelapor"] != web.application.queries.show(number, "ahmad")["data"]["nomor_pelapor"]
