"""Open311 GeoReport v2 under ``/open311/v2/``: the wire side (paths, parameters, XML and JSON, errors).

Each resource ends in ``.xml`` (text/xml) or ``.json`` (application/json): ``discovery``,
``services``, ``services/{service_code}``, ``requests`` (GET lists, POST records),
``requests/{service_request_id}`` and ``tokens/{token}``. What they mean is decided in
``engine.app.georeport``; this module parses the parameters, writes the two formats and words
the errors as the spec's list of ``{code, description}`` (XML ``<errors><error>``): 404 for a
resource that does not exist, 403 for a missing or bad ``api_key``, 400 for anything else.

These routes carry no session and no CSRF token (other systems call them; a POST is authorised by
its ``api_key``, never by a cookie). A POST body is ``application/x-www-form-urlencoded`` of at most
``BODY_LIMIT`` bytes. Paging beyond the spec: ``limit`` (1 to 1,000) and ``after`` on ``GET
requests``; the next page's URL is in the answer's ``Link: <…>; rel="next"`` header.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.adapters.web.auth import application_of
from engine.app.georeport import (
    SPECIFICATION, Attribute, GeoReport, Posted, RequestPage, RequestQuery, Service, ServiceDefinition,
    ServiceRequest, Submission,
)
from engine.errors import InvalidInput, NotFound, PermissionDenied, TreckkError

PREFIX = "/open311/v2"
BODY_LIMIT = 64 * 1024
"""The largest POST body accepted, in bytes (a 4,000-character description and every other field fit)."""
MAX_FIELDS = 200
"""The most parameters one request may carry."""
MAX_QUERY = 8 * 1024
"""The longest query string accepted, in characters."""
FORMATS = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
_ATTRIBUTE = re.compile(r"attribute\[([^\[\]]{1,64})\](\[\])?")
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
"""Characters XML 1.0 cannot carry (and lone surrogates): replaced in answers, refused in input."""
_SCALARS = ("service_code", "lat", "long", "address_string", "address_id", "email", "first_name", "last_name",
            "phone", "description", "media_url", "device_id", "account_id", "api_key", "jurisdiction_id")
_W3_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")

router = APIRouter(prefix=PREFIX, include_in_schema=False)


class _Refused(Exception):
    """An answer other than a TreckkError's: ``status`` and the descriptions to list."""

    def __init__(self, status: int, *descriptions: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(descriptions[0] if descriptions else "")
        self.status = status
        self.descriptions = descriptions
        self.headers = dict(headers or {})


# -- the one route ---------------------------------------------------------------------------------
@router.api_route("/{resource:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
async def open311(request: Request, resource: str) -> Response:
    """Dispatch ``resource.format`` to its handler and answer in that format, errors included."""
    path, dot, suffix = resource.rpartition(".")
    fmt = suffix.lower() if dot and suffix.lower() in FORMATS else "xml"
    try:
        if not dot or suffix.lower() not in FORMATS:
            raise _Refused(404 if not resource else 400,
                           f"unknown format {('.' + suffix)[:20]!r}; end the resource in .xml or .json"
                           if dot else "end the resource in .xml or .json (e.g. services.xml)")
        handler, methods, argument = _route(path)
        if request.method not in methods and not (request.method == "HEAD" and "GET" in methods):
            raise _Refused(405, f"{request.method} is not accepted here; use {' or '.join(methods)}",
                           headers={"Allow": ", ".join(methods)})
        if len(request.url.query) > MAX_QUERY:
            raise _Refused(400, f"the query string is longer than {MAX_QUERY} characters")
        form = await _form(request) if request.method == "POST" else {}
        params = _params(request.url.query, form)
        georeport = GeoReport(application_of(request).commands, application_of(request).credentials)
        body, headers = handler(_Call(request, georeport, params, argument), fmt)
        return Response(body, media_type=FORMATS[fmt], headers=headers)
    except _Refused as refused:
        return _errors(fmt, refused.status, refused.descriptions, refused.headers)
    except TreckkError as exc:
        status = 404 if isinstance(exc, NotFound) else 403 if isinstance(exc, PermissionDenied) else 400
        return _errors(fmt, status, [line for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__])
    except StarletteHTTPException as exc:  # the body limit of the whole app
        return _errors(fmt, exc.status_code, [str(exc.detail)])


class _Call:
    """One request's parts, as the handlers need them."""

    def __init__(self, request: Request, georeport: GeoReport, params: dict[str, list[str]], argument: str) -> None:
        self.request = request
        self.georeport = georeport
        self.params = params
        self.argument = argument

    def one(self, name: str) -> str | None:
        """The single value of a parameter (None when absent or empty: the spec's optional arguments)."""
        given = self.params.get(name, [])
        if len(given) > 1:
            raise _Refused(400, f"{name} was given {len(given)} times; give it once")
        return given[0] if given and given[0] != "" else None

    def many(self, name: str) -> tuple[str, ...]:
        """Every value of a comma-delimited parameter that may also be repeated."""
        values = [part.strip() for value in self.params.get(name, []) for part in value.split(",")]
        return tuple(value for value in values if value)

    def workflow(self) -> str:
        return self.georeport.jurisdiction(self.one("jurisdiction_id"))


Handler = Callable[[_Call, str], tuple[bytes, dict[str, str]]]


def _route(path: str) -> tuple[Handler, tuple[str, ...], str]:
    parts = path.split("/")
    if parts == ["discovery"]:
        return _discovery, ("GET",), ""
    if parts == ["services"]:
        return _services, ("GET",), ""
    if len(parts) == 2 and parts[0] == "services" and parts[1]:
        return _service_definition, ("GET",), parts[1]
    if parts == ["requests"]:
        return _requests, ("GET", "POST"), ""
    if len(parts) == 2 and parts[0] == "requests" and parts[1]:
        return _request, ("GET",), parts[1]
    if len(parts) == 2 and parts[0] == "tokens" and parts[1]:
        return _token, ("GET",), parts[1]
    raise _Refused(404, f"no resource {path[:60]!r} here; see discovery.xml")


# -- handlers ------------------------------------------------------------------------------------
def _discovery(call: _Call, fmt: str) -> tuple[bytes, dict[str, str]]:
    application = application_of(call.request)
    base = (application.settings.base_url or str(call.request.base_url)).rstrip("/")
    changed = call.georeport.changeset()
    changeset = _iso(changed) if changed is not None else ""
    document = {
        "changeset": changeset,
        "contact": f"The operators of this TRECKK installation at {base}.",
        "key_service": ("An api_key is a token an administrator makes with `treckk token create` for an account "
                        "whose role may record complaints; ask the operators for one."),
        "endpoints": [{"specification": SPECIFICATION, "url": f"{base}{PREFIX}", "changeset": changeset,
                       "type": "production", "formats": ["text/xml", "application/json"]}],
    }
    if fmt == "json":
        return _json(document), {}
    endpoint = document["endpoints"][0]
    assert isinstance(endpoint, dict)
    inner = (_element("specification", endpoint["specification"]) + _element("url", endpoint["url"])
             + _element("changeset", changeset) + _element("type", endpoint["type"])
             + _wrap("formats", "".join(_element("format", value) for value in endpoint["formats"])))
    return _xml(_wrap("discovery", _element("changeset", changeset) + _element("contact", document["contact"])
                      + _element("key_service", document["key_service"])
                      + _wrap("endpoints", _wrap("endpoint", inner)))), {}


def _services(call: _Call, fmt: str) -> tuple[bytes, dict[str, str]]:
    services = call.georeport.services(call.workflow())
    rows = [_service_row(service) for service in services]
    if fmt == "json":
        return _json(rows), {}
    return _xml(_wrap("services", "".join(_wrap("service", _fields(row)) for row in rows))), {}


def _service_row(service: Service) -> dict[str, Any]:
    return {"service_code": service.code, "service_name": service.name, "description": service.description,
            "metadata": service.metadata, "type": service.type, "keywords": ", ".join(service.keywords),
            "group": service.group}


def _service_definition(call: _Call, fmt: str) -> tuple[bytes, dict[str, str]]:
    found: ServiceDefinition = call.georeport.service_definition(call.workflow(), call.argument)
    attributes = [_attribute_row(attribute) for attribute in found.attributes]
    if fmt == "json":
        return _json({"service_code": found.service_code, "attributes": attributes}), {}
    inner = "".join(
        _wrap("attribute", _fields({k: v for k, v in row.items() if k != "values"})
              + (_wrap("values", "".join(_wrap("value", _fields(value)) for value in row["values"]))
                 if "values" in row else ""))
        for row in attributes)
    return _xml(_wrap("service_definition", _element("service_code", found.service_code)
                      + _wrap("attributes", inner))), {}


def _attribute_row(attribute: Attribute) -> dict[str, Any]:
    return {"variable": attribute.variable, "code": attribute.code, "datatype": attribute.datatype,
            "required": attribute.required, "datatype_description": attribute.datatype_description,
            "order": attribute.order, "description": attribute.description,
            # Only a list has values (the spec's singlevaluelist and multivaluelist).
            **({"values": [{"key": key, "name": name} for key, name in attribute.values]}
               if attribute.values else {})}


def _requests(call: _Call, fmt: str) -> tuple[bytes, dict[str, str]]:
    if call.request.method == "POST":
        return _post(call, fmt)
    workflow = call.workflow()
    query = RequestQuery(ids=call.many("service_request_id"), service_codes=call.many("service_code"),
                         start=_datetime(call.one("start_date"), "start_date"),
                         end=_datetime(call.one("end_date"), "end_date"),
                         statuses=tuple(status.lower() for status in call.many("status")),
                         limit=_limit(call.one("limit")), after=call.one("after"))
    page: RequestPage = call.georeport.requests(workflow, query)
    headers = {}
    if page.next is not None:
        kept = [(name, value) for name, values in call.params.items() if name not in ("after", "api_key")
                for value in values]
        headers["Link"] = f'<{call.request.url.path}?{urlencode([*kept, ("after", page.next)])}>; rel="next"'
    return _request_list(page.requests, fmt), headers


def _request(call: _Call, fmt: str) -> tuple[bytes, dict[str, str]]:
    workflow = call.workflow()
    found = call.georeport.request(workflow, call.argument)
    return _request_list([found], fmt), {}


def _post(call: _Call, fmt: str) -> tuple[bytes, dict[str, str]]:
    attributes: dict[str, list[str]] = {}
    for name, values in call.params.items():
        matched = _ATTRIBUTE.fullmatch(name)
        if matched:
            attributes.setdefault(matched.group(1), []).extend(values)
        elif name.startswith("attribute"):
            raise _Refused(400, f"parameter {name[:40]!r} is not understood; write attribute[CODE]=VALUE")
    submission = Submission(**{name: call.one(name) for name in _SCALARS if name not in ("api_key",
                                                                                          "jurisdiction_id")},
                            attributes={code: tuple(values) for code, values in attributes.items()})
    workflow = call.workflow()
    posted: Posted = call.georeport.post(workflow, call.one("api_key"), submission)
    row = {"service_request_id": posted.service_request_id, "service_notice": posted.service_notice,
           "account_id": posted.account_id}
    if fmt == "json":
        return _json([row]), {}
    return _xml(_wrap("service_requests", _wrap("request", _fields(row)))), {}


def _token(call: _Call, fmt: str) -> tuple[bytes, dict[str, str]]:
    call.georeport.token(call.workflow(), call.argument)
    raise AssertionError("token() always refuses")  # pragma: no cover


def _request_list(requests: Iterable[ServiceRequest], fmt: str) -> bytes:
    rows = [_request_row(found) for found in requests]
    if fmt == "json":
        return _json(rows)
    return _xml(_wrap("service_requests", "".join(_wrap("request", _fields(row)) for row in rows)))


def _request_row(found: ServiceRequest) -> dict[str, Any]:
    """A request's fields in the spec's order; its times are already in its workflow's zone."""
    return {
        "service_request_id": found.service_request_id, "status": found.status, "status_notes": found.status_notes,
        "service_name": found.service_name, "service_code": found.service_code, "description": found.description,
        "agency_responsible": found.agency_responsible, "service_notice": found.service_notice,
        "requested_datetime": _iso(found.requested_datetime),
        "updated_datetime": _iso(found.updated_datetime),
        "expected_datetime": _iso(found.expected_datetime) if found.expected_datetime else None,
        "address": found.address, "address_id": found.address_id, "zipcode": found.zipcode,
        "lat": found.lat, "long": found.long, "media_url": found.media_url,
    }


# -- parameters ----------------------------------------------------------------------------------
async def _form(request: Request) -> dict[str, list[str]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise _Refused(400, "send the request as application/x-www-form-urlencoded")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > BODY_LIMIT:
        raise _Refused(413, f"the request body is larger than {BODY_LIMIT} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > BODY_LIMIT:
            raise _Refused(413, f"the request body is larger than {BODY_LIMIT} bytes")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused(400, "the request body is not UTF-8") from None
    return _pairs(text, "the request body")


def _params(query: str, form: dict[str, list[str]]) -> dict[str, list[str]]:
    found = _pairs(query, "the query string")
    for name, values in form.items():
        found.setdefault(name, []).extend(values)
    if sum(len(values) for values in found.values()) > MAX_FIELDS:
        raise _Refused(400, f"more than {MAX_FIELDS} parameters were given")
    return found


def _pairs(text: str, where: str) -> dict[str, list[str]]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, encoding="utf-8", errors="strict",
                          max_num_fields=MAX_FIELDS)
    except ValueError:
        raise _Refused(400, f"{where} has more than {MAX_FIELDS} parameters, or bytes that are not UTF-8") from None
    found: dict[str, list[str]] = {}
    for name, value in pairs:
        if _UNSAFE.search(name) or _UNSAFE.search(value):
            raise _Refused(400, f"parameter {_safe(name)[:40]!r} holds a control character; send plain text "
                                "(line breaks and tabs are accepted)")
        found.setdefault(name, []).append(value)
    return found


def _datetime(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    if len(text) > 40 or not _W3_DATETIME.fullmatch(text.strip()):
        raise InvalidInput(f"{name} {_safe(text)[:40]!r} is not a w3 date and time with its zone, e.g. "
                           "2026-11-30T08:00:00+08:00 or 2026-11-30T00:00:00Z", field=name)
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name} {text[:40]!r} is not a real date and time", field=name) from None


def _limit(text: str | None) -> int:
    if text is None:
        return 1000
    if not text.isdigit() or len(text) > 6 or not text.isascii():
        raise InvalidInput(f"limit {_safe(text)[:20]!r} is not a whole number from 1 to 1000", field="limit")
    return int(text)


# -- formats -------------------------------------------------------------------------------------
def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _safe(text: str) -> str:
    """``text`` with what XML cannot carry replaced by U+FFFD."""
    return _UNSAFE.sub("\ufffd", text)


def _json(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _xml(root: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + root).encode("utf-8")


def _wrap(name: str, inner: str) -> str:
    return f"<{name}>{inner}</{name}>"


def _element(name: str, value: object) -> str:
    if value is None or value == "":
        return f"<{name}/>"
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return f"<{name}>{escape(_safe(text))}</{name}>"


def _fields(row: Mapping[str, Any]) -> str:
    return "".join(_element(name, value) for name, value in row.items())


def _errors(fmt: str, status: int, descriptions: Iterable[str], headers: Mapping[str, str] | None = None) -> Response:
    listed = [{"code": status, "description": _safe(text)} for text in descriptions]
    if fmt == "json":
        body = _json(listed)
    else:
        body = _xml(_wrap("errors", "".join(_wrap("error", _fields(row)) for row in listed)))
    return Response(body, status_code=status, media_type=FORMATS[fmt], headers=dict(headers or {}))
