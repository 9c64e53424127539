"""Open311 GeoReport v2 under /open311/v2 on the real app (uvicorn on loopback, SQLite and PostgreSQL).

Every endpoint is called in JSON and in XML: the JSON is checked against the JSON Schemas in
tests/data/open311 (written from the spec's text), the XML is parsed and must carry the same
content. A request posted through Open311 is a case in the staff inbox; a bad api_key is 403, an
unknown service_code 400, a missing resource 404, each with the spec's list of errors.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from engine.app.georeport import GeoReport
from tests.web.conftest import Web

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "open311"
BASE = "/open311/v2"
WITA = timezone(timedelta(hours=8))
BOT = "sistem_kota"
"""The integration account: role ``integrasi``, which may record complaints and nothing else."""


def _registry() -> Registry:
    registry: Registry = Registry()
    for path in SCHEMAS.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    return registry


REGISTRY = _registry()


def conforms(document: Any, schema: str) -> None:
    """``document`` is valid against ``tests/data/open311/<schema>.schema.json``."""
    contents = json.loads((SCHEMAS / f"{schema}.schema.json").read_text())
    validator = Draft202012Validator(contents, registry=REGISTRY)
    problems = [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
                for error in validator.iter_errors(document)]
    assert problems == [], problems


def xml_of(response: httpx.Response, root: str) -> ElementTree.Element:
    """The answer's XML, with the spec's declaration and content type, rooted at ``root``."""
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    element = ElementTree.fromstring(response.content)
    assert element.tag == root
    return element


def json_of(response: httpx.Response, schema: str) -> Any:
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    document = response.json()
    conforms(document, schema)
    return document


def flat(value: Any) -> str:
    """A JSON value as the XML writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def same_rows(element: ElementTree.Element, rows: list[dict[str, Any]], skip: tuple[str, ...] = ()) -> None:
    """The XML list ``element`` holds the same rows, field by field, as the JSON list ``rows``."""
    assert len(element) == len(rows)
    for child, row in zip(element, rows):
        for name, value in row.items():
            if name in skip:
                continue
            node = child.find(name)
            assert node is not None, f"<{child.tag}> lacks <{name}>"
            assert (node.text or "") == flat(value), (name, node.text, value)


def errors_of(response: httpx.Response, status: int) -> list[str]:
    """The descriptions of an error answer (either format), after checking its status and shape."""
    assert response.status_code == status, response.text
    if response.headers["content-type"].startswith("application/json"):
        listed = json_of(response, "errors")
        assert all(row["code"] == status for row in listed)
        return [row["description"] for row in listed]
    root = xml_of(response, "errors")
    assert [error.findtext("code") for error in root] == [str(status)] * len(root) and len(root) >= 1
    return [error.findtext("description") or "" for error in root]


@pytest.fixture
def bot_key(web: Web) -> str:
    """A token of the demo's integration account."""
    return web.application.credentials.create_token(BOT, "open311")[1]


def post(web: Web, key: str | None, fmt: str = "json", **fields: str) -> httpx.Response:
    form = {"service_code": "keributan", "description": "Suara musik keras tiap malam di dekat pasar",
            "address_string": "Jl. Ahmad Yani dekat Pasar Paringin", "attribute[kecamatan]": "paringin",
            **fields}
    if key is not None:
        form["api_key"] = key
    return web.client().post(f"{BASE}/requests.{fmt}", data={k: v for k, v in form.items() if v is not None})


# -- discovery, services, definitions -----------------------------------------------------------
def test_discovery_in_both_formats(web: Web) -> None:
    client = web.client()
    document = json_of(client.get(f"{BASE}/discovery.json"), "discovery")
    endpoint = document["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2") and endpoint["formats"] == ["text/xml", "application/json"]
    assert document["changeset"].endswith("+08:00")
    root = xml_of(client.get(f"{BASE}/discovery.xml"), "discovery")
    assert root.findtext("changeset") == document["changeset"]
    assert root.findtext("key_service") == document["key_service"]
    assert [f.text for f in root.iter("format")] == endpoint["formats"]
    assert root.find("endpoints/endpoint/url").text == endpoint["url"]  # type: ignore[union-attr]


def test_services_are_the_values_of_the_services_field(web: Web) -> None:
    client = web.client()
    services = json_of(client.get(f"{BASE}/services.json"), "services")
    definition = web.application.queries.deployed()[0]
    assert definition.public is not None
    choices = definition.fields[definition.public.services].choices
    assert [(s["service_code"], s["service_name"]) for s in services] == list(choices.items())
    assert {s["type"] for s in services} == {"realtime"} and all(s["metadata"] for s in services)
    same_rows(xml_of(client.get(f"{BASE}/services.xml"), "services"), services)
    # jurisdiction_id may be given (the workflow's name) or left out; an unknown one is 404.
    assert client.get(f"{BASE}/services.json", params={"jurisdiction_id": "treckk"}).json() == services
    assert "not found" in errors_of(client.get(f"{BASE}/services.xml", params={"jurisdiction_id": "kota"}), 404)[0]


def test_a_service_definition_lists_the_public_inputs_open311_does_not_carry(web: Web) -> None:
    client = web.client()
    found = json_of(client.get(f"{BASE}/services/keributan.json"), "service_definition")
    assert found["service_code"] == "keributan"
    attributes = {a["code"]: a for a in found["attributes"]}
    # The fields Open311 carries itself (service, description, location, pin, contact) are no attributes.
    assert not {"kategori", "uraian", "lokasi", "koordinat", "nama_pelapor", "nomor_pelapor", "email_pelapor",
                "kanal", "foto_aduan"} & set(attributes)
    kecamatan = attributes["kecamatan"]
    assert kecamatan["datatype"] == "singlevaluelist" and kecamatan["required"] is True
    assert {"key": "paringin", "name": "Paringin"} in kecamatan["values"] and len(kecamatan["values"]) == 8
    assert sorted(a["order"] for a in found["attributes"]) == list(range(1, len(attributes) + 1))
    root = xml_of(client.get(f"{BASE}/services/keributan.xml"), "service_definition")
    assert root.findtext("service_code") == "keributan"
    same_rows(root.find("attributes"), found["attributes"], skip=("values",))  # type: ignore[arg-type]
    xml_values = [(v.findtext("key"), v.findtext("name"))
                  for v in root.iterfind("attributes/attribute[code='kecamatan']/values/value")]
    assert xml_values == [(v["key"], v["name"]) for v in kecamatan["values"]]
    for fmt in ("json", "xml"):
        assert "not a service" in errors_of(client.get(f"{BASE}/services/nope.{fmt}"), 404)[0]


# -- posting -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_posted_request_is_a_case_in_the_staff_inbox(web: Web, bot_key: str, fmt: str) -> None:
    answer = post(web, bot_key, fmt, lat="-2.334567", long="115.4712", first_name="Siti", last_name="Aminah",
                  email="siti@example.org", phone="0812 3456 7890", media_url="https://example.org/foto/1.jpg")
    assert answer.status_code == 200, answer.text
    assert "set-cookie" not in answer.headers  # no session on these routes
    if fmt == "json":
        number = json_of(answer, "posted")[0]["service_request_id"]
    else:
        number = xml_of(answer, "service_requests").findtext("request/service_request_id")
    assert re.fullmatch(r"TRK-2026-\d{6}", number or "")
    assert number is not None
    shown = web.application.queries.show(number, "rina")
    data = shown["data"]
    assert shown["state"] == "diterima"
    assert (data["kanal"], data["kategori"], data["kecamatan"], data["koordinat"]) == \
        ("open311", "keributan", "paringin", "-2.334567,115.4712")
    assert (data["nama_pelapor"], data["email_pelapor"], data["nomor_pelapor"]) == \
        ("Siti Aminah", "siti@example.org", "+6281234567890")
    opening = web.application.queries.history(number)[0]
    assert opening["actor"] == BOT and opening["role"] == "integrasi"
    assert opening["comment"] == "media_url: https://example.org/foto/1.jpg"
    # In the inbox of Admin La-Lisa, through the app layer and through the API.
    assert number in [row["number"] for row in web.application.queries.inbox_page("rina")["cases"]]
    inbox = web.api("rina").get("/api/v1/inbox").json()
    assert number in [row["number"] for row in inbox["cases"]]


def test_a_bad_or_missing_api_key_is_403(web: Web, bot_key: str) -> None:
    for fmt in ("json", "xml"):
        assert "api_key" in errors_of(post(web, "trk_not-a-real-token", fmt), 403)[0]
        assert "api_key is required" in errors_of(post(web, None, fmt), 403)[0]
        assert errors_of(post(web, "x" * 500, fmt), 403)
    # A live token of an account whose roles may not record complaints: 403 too.
    _, team_key = web.application.credentials.create_token("tim_paringin", "open311")
    assert errors_of(post(web, team_key), 403)
    revoked_id, revoked = web.application.credentials.create_token(BOT, "old")
    web.application.credentials.revoke_token(revoked_id)
    assert errors_of(post(web, revoked, "xml"), 403)
    assert web.application.queries.list_cases() == []


def test_an_unknown_service_code_is_400_with_an_error_list(web: Web, bot_key: str) -> None:
    for fmt in ("json", "xml"):
        described = errors_of(post(web, bot_key, fmt, service_code="jalan_berlubang"), 400)
        assert "service_code 'jalan_berlubang' is not a service here" in described[0]
        assert "keributan" in described[0]  # the known codes are named
    # Every problem of one request is listed, nothing is recorded.
    described = errors_of(post(web, bot_key, service_code="", address_string="", description="x" * 4001,
                               **{"attribute[kecamatan]": "", "attribute[warna]": "merah"}), 400)
    assert any("service_code is required" in text for text in described)
    assert any("longer than 4000" in text for text in described)
    assert any("location is required" in text for text in described)
    assert any("attribute 'warna' is not known" in text for text in described)
    assert any("attribute[kecamatan] is required" in text for text in described)
    described = errors_of(post(web, bot_key, **{"attribute[kecamatan]": "banjarmasin"}), 400)
    assert any("banjarmasin" in text for text in described)
    assert errors_of(post(web, bot_key, lat="95", long="115"), 400)
    assert errors_of(post(web, bot_key, lat="-2.3"), 400)
    assert errors_of(post(web, bot_key, media_url="javascript:alert(1)"), 400)
    assert "service_code" in errors_of(web.client().get(f"{BASE}/requests.json",
                                                        params={"service_code": "nope"}), 400)[0]
    assert web.application.queries.list_cases() == []


def test_posting_needs_no_csrf_and_refuses_other_bodies(web: Web, bot_key: str) -> None:
    client = web.client()
    url = f"{BASE}/requests.json"
    assert errors_of(client.post(url, json={"api_key": bot_key, "service_code": "keributan"}), 400)
    assert errors_of(client.post(url, content=b"api_key=" + b"a" * 70_000,
                                 headers={"content-type": "application/x-www-form-urlencoded"}), 413)
    assert errors_of(client.post(url, content=b"description=%FF%FE",
                                 headers={"content-type": "application/x-www-form-urlencoded"}), 400)
    control = errors_of(post(web, bot_key, description="bunyi\x01keras"), 400)
    assert "control character" in control[0]
    assert errors_of(client.post(url, data={f"attribute[a{i}]": "1" for i in range(300)}), 400)
    assert errors_of(client.put(url, data={"api_key": bot_key}), 405)
    twice = client.post(url, content=f"api_key={bot_key}&service_code=keributan&service_code=ternak_lepas".encode(),
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert "service_code was given 2 times" in errors_of(twice, 400)[0]
    assert web.application.queries.list_cases() == []


# -- reading requests ----------------------------------------------------------------------------
def _open_some(web: Web, key: str) -> list[str]:
    """Four requests a day apart (newest last): keributan, ternak_lepas, keributan, bangunan_liar."""
    numbers = []
    for code in ("keributan", "ternak_lepas", "keributan", "bangunan_liar"):
        answer = post(web, key, service_code=code)
        assert answer.status_code == 200, answer.text
        numbers.append(answer.json()[0]["service_request_id"])
        web.clock.advance(days=1)
    return numbers


def test_requests_in_both_formats_with_status_notes_and_deadline(web: Web, bot_key: str) -> None:
    numbers = _open_some(web, bot_key)
    commands = web.application.commands
    commands.advance(numbers[1], "teruskan", "rina", {"lokasi": "Pasar Paringin"})
    commands.advance(numbers[1], "tolak", "ahmad", {"alasan": "Bukan kewenangan Satpol PP"})
    client = web.client()
    listed = json_of(client.get(f"{BASE}/requests.json"), "requests")
    assert [row["service_request_id"] for row in listed] == numbers[::-1]  # newest first
    by_id = {row["service_request_id"]: row for row in listed}
    closed, still = by_id[numbers[1]], by_id[numbers[0]]
    public = web.application.queries.deployed()[0].public
    assert public is not None  # status_notes: the plain-words text of the state the case is in
    assert closed["status"] == "closed" and closed["status_notes"] == public.states["ditolak"]
    assert closed["expected_datetime"] is None
    assert still["status"] == "open" and still["status_notes"] == public.states["diterima"]
    case = web.application.queries.show(numbers[0])
    due = datetime.fromisoformat(case["deadline"]["due_at"]).astimezone(WITA)
    assert still["expected_datetime"] == due.isoformat(timespec="seconds")
    assert still["requested_datetime"] == "2026-11-30T08:00:00+08:00"
    assert still["service_name"] == "Keributan dan gangguan ketenteraman"
    assert still["address"] == "Jl. Ahmad Yani dekat Pasar Paringin"
    # The rejection's reason (an internal text) and who acted are never shown.
    body = client.get(f"{BASE}/requests.json").text + client.get(f"{BASE}/requests.xml").text
    assert "Bukan kewenangan" not in body and "Ahmad Fauzi" not in body and "Rina" not in body and "rina" not in body
    same_rows(xml_of(client.get(f"{BASE}/requests.xml"), "service_requests"), listed)
    one = json_of(client.get(f"{BASE}/requests/{numbers[1]}.json"), "requests")
    assert one == [closed]
    same_rows(xml_of(client.get(f"{BASE}/requests/{numbers[1]}.xml"), "service_requests"), one)
    for fmt in ("json", "xml"):
        assert "not found" in errors_of(client.get(f"{BASE}/requests/TRK-2026-999999.{fmt}"), 404)[0]
        assert errors_of(client.get(f"{BASE}/requests/{'A' * 80}.{fmt}"), 400)


def test_request_filters(web: Web, bot_key: str) -> None:
    numbers = _open_some(web, bot_key)
    commands = web.application.commands
    commands.advance(numbers[2], "tandai_duplikat", "rina", {"alasan": "Sama dengan aduan sebelumnya"})
    client = web.client()

    def ids(fmt: str = "json", **params: str) -> list[str]:
        answer = client.get(f"{BASE}/requests.{fmt}", params=params)
        if fmt == "xml":
            return [r.findtext("service_request_id") or "" for r in xml_of(answer, "service_requests")]
        return [row["service_request_id"] for row in json_of(answer, "requests")]

    for fmt in ("json", "xml"):
        assert ids(fmt, status="closed") == [numbers[2]]
        assert ids(fmt, status="open") == [numbers[3], numbers[1], numbers[0]]
        assert ids(fmt, status="open,closed") == numbers[::-1]
        assert ids(fmt, service_code="keributan") == [numbers[2], numbers[0]]
        assert ids(fmt, service_code="keributan,bangunan_liar", status="open") == [numbers[3], numbers[0]]
        assert ids(fmt, start_date="2026-12-01T00:00:00+08:00", end_date="2026-12-02T12:00:00+08:00") == \
            [numbers[2], numbers[1]]
        assert ids(fmt, start_date="2026-12-01T16:00:00Z") == [numbers[3], numbers[2]]
        assert ids(fmt, end_date="2026-11-30T00:00:00Z") == [numbers[0]]
        # service_request_id overrides every other filter; unknown ids are left out.
        assert ids(fmt, service_request_id=f"{numbers[1]},TRK-2026-999999,{numbers[0].lower()}",
                   status="closed") == [numbers[1], numbers[0]]
    # Paging: limit, and the next page's URL in the Link header.
    first = client.get(f"{BASE}/requests.json", params={"limit": "3", "status": "open,closed"})
    assert [row["service_request_id"] for row in first.json()] == numbers[:0:-1]
    link = re.fullmatch(r'<([^>]+)>; rel="next"', first.headers["link"])
    assert link is not None
    rest = client.get(link.group(1))
    assert [row["service_request_id"] for row in json_of(rest, "requests")] == [numbers[0]]
    assert "link" not in rest.headers


def test_hostile_request_parameters_get_a_clear_400(web: Web, bot_key: str) -> None:
    _open_some(web, bot_key)
    client = web.client()
    bad = [
        {"start_date": "kemarin"}, {"start_date": "2026-13-45T00:00:00Z"}, {"end_date": "2026-11-30"},
        {"start_date": "2026-11-30T00:00:00"},  # no zone
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-12-01T00:00:00Z"},  # more than 90 days
        {"start_date": "2026-12-02T00:00:00Z", "end_date": "2026-12-01T00:00:00Z"},
        {"status": "pending"}, {"limit": "0"}, {"limit": "1001"}, {"limit": "-1"}, {"limit": "١٠"},
        {"after": "not-a-cursor"}, {"service_request_id": ",".join(f"TRK-2026-{i:06d}" for i in range(101))},
        {"service_request_id": "<script>"}, {"service_code": ",".join(f"c{i}" for i in range(200))},
        {"jurisdiction_id": "x" * 500},
    ]
    for params in bad:
        for fmt in ("json", "xml"):
            answer = client.get(f"{BASE}/requests.{fmt}", params=params)
            assert answer.status_code in (400, 404), (params, answer.status_code, answer.text)
            assert errors_of(answer, answer.status_code), params
    assert errors_of(client.get(f"{BASE}/requests.json?" + "status=open&" * 300), 400)
    assert errors_of(client.get(f"{BASE}/requests.json", params={"status": "open\x00"}), 400)
    assert errors_of(client.get(f"{BASE}/requests.yaml"), 400)
    assert errors_of(client.get(f"{BASE}/requests"), 400)
    assert errors_of(client.get(f"{BASE}/nothing.json"), 404)


def test_xml_carries_any_stored_text_safely(web: Web, bot_key: str) -> None:
    """Text stored by another channel may hold what XML cannot: the answer stays well-formed."""
    case = web.application.commands.submit("rina", {"kanal": "telepon", "kategori": "keributan",
                                                    "uraian": "Ada <b>ribut</b> & \x01 \x1f teriakan ]]> \"keras\"",
                                                    "lokasi": "Pasar 'lama'"})
    client = web.client()
    root = xml_of(client.get(f"{BASE}/requests/{case.number}.xml"), "service_requests")
    assert root.findtext("request/description") == "Ada <b>ribut</b> & \ufffd \ufffd teriakan ]]> \"keras\""
    assert root.findtext("request/address") == "Pasar 'lama'"
    listed = json_of(client.get(f"{BASE}/requests/{case.number}.json"), "requests")
    assert listed[0]["description"].startswith("Ada <b>ribut</b> &")


def test_personal_data_is_never_in_a_request(web: Web, bot_key: str) -> None:
    post(web, bot_key, first_name="Siti", last_name="Aminah", email="siti@example.org", phone="081234567890")
    client = web.client()
    body = "".join(client.get(f"{BASE}/requests.{fmt}").text for fmt in ("json", "xml"))
    for value in ("Siti", "Aminah", "siti@example.org", "81234567890", "sistem_kota", "Sistem aduan kota"):
        assert value not in body


def test_tokens_in_both_formats(web: Web) -> None:
    client = web.client()
    for fmt in ("json", "xml"):
        assert "issues no tokens" in errors_of(client.get(f"{BASE}/tokens/12345.{fmt}"), 404)[0]
        assert errors_of(client.get(f"{BASE}/tokens/{'%3C' * 10}.{fmt}"), 400)


def test_georeport_reads_are_bounded(web: Web, bot_key: str) -> None:
    """A list is at most 1,000 requests, and names at most 100 ids, whatever is asked."""
    georeport = GeoReport(web.application.commands, web.application.credentials)
    from engine.app.georeport import MAX_IDS, MAX_REQUESTS, RequestQuery
    from engine.errors import InvalidInput

    with pytest.raises(InvalidInput):
        georeport.requests("treckk", RequestQuery(limit=MAX_REQUESTS + 1))
    with pytest.raises(InvalidInput):
        georeport.requests("treckk", RequestQuery(ids=tuple(f"TRK-2026-{i:06d}" for i in range(MAX_IDS + 1))))
