"""The JSON API under ``/api/v1``: the same commands, queries and permissions as the pages and the CLI.

Requests carry ``Authorization: Bearer TOKEN`` (``treckk token create``); the actor is the token's
staff member. Answers are the objects the CLI prints with ``--json`` (``GET /cases/{number}`` is
the object of ``treckk show --json``); errors are problem details (``application/problem+json``)
mapped from the error tree in ``error_problem``. A case's version is its ETag; ``If-Match`` on
advance refuses (412) a move on a case that changed since; ``Idempotency-Key`` on a POST makes a
retried request act once. A case's photos are listed and served (inert, as the pages serve them)
under ``/cases/{number}/attachments``; ``/cases/{number}/proof`` is the inclusion proof of its
events against the newest checkpoint. The document is at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import re
from urllib.parse import quote
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from engine.adapters.web import attachment_files
from engine.adapters.web.auth import application_of, current_staff
from engine.app.credentials import LockedOut, StaffMember
from engine.app.queries import Queries
from engine.errors import Conflict, InvalidInput, TreckkError

PREFIX = "/api/v1"
PROBLEM = "application/problem+json"
IDENTIFIER = r"^[A-Za-z0-9_.\-]{1,64}$"
"""What a state, scope value, trigger or workflow name may look like in a request."""
CASE_NUMBER = r"^[A-Za-z0-9_.\-/]{1,64}$"
KEY = r"^[\x21-\x7e]{1,128}$"
"""An idempotency key: 1 to 128 visible ASCII characters."""


# -- documented shapes ---------------------------------------------------------------------------
class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ProblemDetails(_Open):
    """An error (RFC 9457), with the fields of the engine's error when it has them."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    kind: str | None = None
    field: str | None = None
    value: Any = None
    accepted: list[str] | None = None
    hint: str | None = None
    errors: list[dict[str, Any]] | None = None


class Deadline(_Open):
    """When the case's current state is due, and how late it is."""

    due_at: str
    due_at_local: str
    overdue: bool
    overdue_minutes: int
    overdue_text: str
    escalation_steps_fired: int
    escalation_steps: int
    next_escalation_at: str | None


class CaseView(_Open):
    """A case as ``treckk show --json`` prints it (personal data masked unless the viewer may see it).

    The scope value is also given under the name of the workflow's scope field (e.g. ``kecamatan``).
    """

    number: str
    workflow: str
    definition_version: int
    state: str
    state_label: str
    final: bool
    version: int
    scope: str | None
    data: dict[str, Any]
    created_at: str
    updated_at: str
    state_entered_at: str
    deadline: Deadline | None
    allowed_triggers: list[str]


class CaseSummary(_Open):
    """A case in a list (``treckk cases --json``)."""

    number: str
    workflow: str
    definition_version: int
    state: str
    state_label: str
    scope: str | None
    data: dict[str, Any]
    version: int
    created_at: str
    deadline: Deadline | None
    allowed_triggers: list[str]


class CaseList(BaseModel):
    """Cases, in order; ``next`` is the cursor of the next page (null on the last)."""

    cases: list[CaseSummary]
    next: str | None = None


class InboxCounts(BaseModel):
    """How many cases wait in each tab: all, overdue, and per state the caller acts in."""

    semua: int
    terlambat: int
    by_state: dict[str, int]


class InboxPage(_Open):
    """What waits for the caller: the cases they may act on now, overdue first, then by deadline."""

    cases: list[CaseSummary]
    next: str | None = None
    counts: InboxCounts | None = None


class HistoryEvent(BaseModel):
    """One event of a case's history (``treckk history --json``)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    seq: int
    trigger: str
    from_: str | None = Field(alias="from")
    to: str
    actor: str
    role: str
    at: str
    input: dict[str, Any]
    comment: str | None
    hash: str


class NoticeSummary(_Open):
    """A notice of a case (``treckk notices --json``), personal data masked for the caller."""

    id: int
    case: str | None
    template: str
    status: str
    channel: str
    recipient_kind: str
    created_at: str


class Grant(BaseModel):
    """A role held in one workflow, bound there to a scope value (null: every case)."""

    workflow: str
    role: str
    scope: str | None


class StaffView(BaseModel):
    """A staff member, without contact details."""

    username: str
    name: str
    roles: list[str]
    scope: str | None
    active: bool
    grants: list[Grant]


class AttachmentInfo(BaseModel):
    """A photo a case's ``references`` field refers to; ``stored`` false (and no details) when its file is missing."""

    name: str = Field(description="the reference the case holds, ``<sha256>.<ext>``")
    field: str
    field_label: str
    stored: bool
    digest: str | None
    media_type: str | None
    size: int | None = Field(description="bytes")
    width: int | None
    height: int | None
    uploaded_at: str | None
    uploaded_at_local: str | None = Field(description="the upload time in the workflow's zone")
    uploaded_by: str | None = Field(description="the username of the uploader")
    url: str = Field(description="the file (``GET``, bearer token)")
    thumbnail_url: str = Field(description="its JPEG thumbnail")


class Checkpoint(BaseModel):
    """A signed head of the transparency log (as ``treckk checkpoint`` writes it)."""

    origin: str
    size: int
    root: str
    time: str
    key_id: str
    signature: str


class ProvenEvent(BaseModel):
    """One event of the case, its leaf in the log and the audit path to the checkpoint's root."""

    seq: int
    index: int
    event_hash: str
    workflow: str
    definition_version: int
    definition_digest: str
    proof: list[str]


class CaseProof(BaseModel):
    """The inclusion proof of a case's events against the newest checkpoint (``treckk proof CASE``);
    check it offline with ``treckk verify --proof FILE``."""

    case: str
    case_id: int
    checkpoint: Checkpoint
    events: list[ProvenEvent]


class SubmitRequest(BaseModel):
    """A new case: the intake's inputs, in the named workflow (or the only one deployed)."""

    model_config = ConfigDict(extra="forbid")
    workflow: str | None = Field(None, pattern=IDENTIFIER)
    input: dict[str, Any] = Field(default_factory=dict)
    comment: str | None = Field(None, max_length=4000)


class AdvanceRequest(BaseModel):
    """A move: the trigger to fire, its inputs, and a comment for the history."""

    model_config = ConfigDict(extra="forbid")
    trigger: str = Field(pattern=IDENTIFIER)
    input: dict[str, Any] = Field(default_factory=dict)
    comment: str | None = Field(None, max_length=4000)


def _problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {400: "the body is not JSON", 401: "no valid bearer token", 403: "the caller may not do this",
                 404: "no such case", 409: "not allowed in the case's state, or a conflicting change",
                 412: "the case changed since the If-Match version", 422: "invalid input",
                 429: "too many requests"}
    return {status: {"description": described[status],
                     "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}}
            for status in statuses}


def known_query_only(request: Request) -> None:
    """Refuse (422) a query parameter the operation does not declare: a typo must not widen a filter."""
    route = request.scope.get("route")
    declared = {param.alias for param in getattr(getattr(route, "dependant", None), "query_params", [])}
    for name in request.query_params:
        if name not in declared:
            raise InvalidInput(f"unknown query parameter {name[:40]!r}; accepted: {', '.join(sorted(declared)) or 'none'}",
                               field=name[:40], accepted=sorted(declared))


router = APIRouter(prefix=PREFIX, tags=["api"], responses=_problem_responses(401, 422),
                   dependencies=[Depends(known_query_only)])


def api_staff(request: Request) -> StaffMember:
    """The caller, by bearer token."""
    return current_staff(request)


def queries_of(request: Request) -> Queries:
    return application_of(request).queries


# -- problem details -----------------------------------------------------------------------------
def problem(status: int, title: str, detail: str, *, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    """A problem-details answer."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail,
            **{k: v for k, v in extra.items() if v is not None}}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


_TITLES = {"invalid_input": "Invalid input", "definition_error": "Invalid input", "permission_denied": "Forbidden",
           "not_allowed": "Not allowed in this state", "conflict": "Conflict", "not_found": "Not found",
           "unavailable": "Unavailable", "login_failed": "Unauthorized", "locked_out": "Too many failed logins",
           "precondition_failed": "Precondition failed"}


def error_problem(exc: TreckkError) -> JSONResponse:
    """The problem details of an engine error: its status, kind and fields."""
    fields = exc.fields()
    value = fields.get("value")
    if value is not None and not isinstance(value, (str, int, float, bool)):
        fields["value"] = str(value)
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    if isinstance(exc, LockedOut):
        headers = {"Retry-After": exc.until.isoformat()}
    return problem(exc.http_status, _TITLES.get(exc.kind, "Error"), exc.message, headers=headers, **fields)


def validation_problem(exc: RequestValidationError) -> JSONResponse:
    """A request FastAPI could not read: 400 when the body is not JSON at all, else 422 with each error."""
    errors = [{"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", "")),
               "type": str(error.get("type", ""))} for error in exc.errors()]
    if any(error["type"] == "json_invalid" for error in errors):
        return problem(400, "Bad request", "the request body is not valid JSON", kind="invalid_input",
                       errors=errors)
    detail = "; ".join(f"{'.'.join(error['loc'])}: {error['msg']}" for error in errors) or "invalid request"
    return problem(422, "Invalid input", detail, kind="invalid_input", errors=errors)


# -- ETags -----------------------------------------------------------------------------------------
def etag(view: dict[str, Any]) -> str:
    """The case's version as a strong entity tag."""
    return f'"{view["version"]}"'


_TAG = re.compile(r'\s*(?:W/)?"(\d{1,18})"\s*')


def expected_version(if_match: str | None) -> int | None:
    """The case version ``If-Match`` names (None for absent or ``*``); 412 for anything else."""
    if if_match is None or if_match.strip() == "*":
        return None
    match = _TAG.fullmatch(if_match)
    if match is None:
        raise PreconditionFailed(f"If-Match {if_match[:40]!r} is not a case version; send the ETag of the case, "
                                  'e.g. If-Match: "3"')
    return int(match.group(1))


class PreconditionFailed(TreckkError):
    """A stale or unreadable ``If-Match`` (412); its kind is ``precondition_failed``."""

    http_status = 412
    exit_code = 5


def _case_answer(view: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(view, status_code=status, headers={"ETag": etag(view), **(headers or {})})


# -- routes ----------------------------------------------------------------------------------------
IdempotencyKey = Header(None, alias="Idempotency-Key", pattern=KEY,
                        description="a key of the caller's choosing: a retried request with the same key acts once")


def inbox_of(queries: Queries, viewer: str, *, after: str | None = None, limit: int = 50) -> dict[str, Any]:
    """The caller's inbox page (the one call of the inbox query): its cases and the next page's cursor."""
    page = queries.inbox_page(viewer, after=after, limit=limit)
    return {"cases": page["cases"], "next": page["next"], "counts": page["counts"]}


EMPTY_IS_ABSENT = BeforeValidator(lambda value: None if value == "" else value)
"""A query parameter given empty (``?state=&scope=&overdue=``, as the contract writes it) is not given."""

Cursor = Query(None, max_length=200, description="the `next` of the previous page")


@router.get("/inbox", response_model=InboxPage, summary="What waits for me")
def inbox(request: Request, staff: StaffMember = Depends(api_staff), after: str | None = Cursor,
          limit: int = Query(50, ge=1, le=500)) -> JSONResponse:
    """Open cases the caller may act on now (their roles and scope), overdue first, then by deadline."""
    return JSONResponse(inbox_of(queries_of(request), staff.username, after=after, limit=limit))


@router.get("/cases", response_model=CaseList, summary="List cases", responses=_problem_responses(403))
def list_cases(request: Request, staff: StaffMember = Depends(api_staff),
               state: Annotated[str | None, Query(pattern=IDENTIFIER, description="only cases in this state (empty: any)"),
                                EMPTY_IS_ABSENT] = None,
               scope: Annotated[str | None, Query(pattern=IDENTIFIER,
                                                  description="only cases with this scope value (empty: any)"),
                                EMPTY_IS_ABSENT] = None,
               overdue: Annotated[bool | None, Query(description="only cases past their deadline (empty or false: any)"),
                                  EMPTY_IS_ABSENT] = None,
               limit: int = Query(100, ge=1, le=500), after: str | None = Cursor) -> JSONResponse:
    """The cases the caller may see, filtered (``treckk cases --json``), one page at a time."""
    page = queries_of(request).cases_page(state=state, scope=scope, overdue=bool(overdue), viewer_name=staff.username,
                                          limit=limit, after=after)
    return JSONResponse({"cases": page["cases"], "next": page["next"]})


_NUMBER = Path(pattern=CASE_NUMBER, description="the case number, e.g. TRK-2026-000001")


@router.get("/cases/{number}", response_model=CaseView, summary="Show a case",
            responses={**_problem_responses(403, 404), 200: {"headers": {"ETag": {"schema": {"type": "string"},
                                                                                  "description": "the version"}}}})
def show_case(request: Request, number: str = _NUMBER, staff: StaffMember = Depends(api_staff)) -> JSONResponse:
    """The case as ``treckk show --json`` prints it; its version is the ETag."""
    return _case_answer(queries_of(request).show(number, staff.username))


@router.get("/cases/{number}/history", response_model=list[HistoryEvent], summary="A case's history",
            responses=_problem_responses(403, 404))
def history(request: Request, number: str = _NUMBER, staff: StaffMember = Depends(api_staff)) -> JSONResponse:
    """Every event of the case, oldest first (``treckk history --json``)."""
    return JSONResponse(queries_of(request).history(number, staff.username))


@router.get("/cases/{number}/notices", response_model=list[NoticeSummary], summary="A case's notices",
            responses=_problem_responses(403, 404))
def notices(request: Request, number: str = _NUMBER, staff: StaffMember = Depends(api_staff)) -> JSONResponse:
    """The notices of the case the caller may see, with their delivery status."""
    queries = queries_of(request)
    queries.show(number, staff.username)  # refuses a case the caller may not see
    return JSONResponse(queries.notices(case=number, viewer_name=staff.username))


ATTACHMENT_NAME = r"^[A-Za-z0-9_.\-]{1,80}$"
_ATTACHMENT = Path(pattern=ATTACHMENT_NAME, description="the attachment's name as listed, ``<sha256>.<ext>``")
_IMAGE: dict[int | str, dict[str, Any]] = {200: {"description": "the bytes, inert (nosniff, a CSP that allows nothing and sandboxes)",
                "content": {kind: {"schema": {"type": "string", "format": "binary"}}
                            for kind in ("image/jpeg", "image/png", "image/webp")}}}


@router.get("/cases/{number}/attachments", response_model=list[AttachmentInfo], summary="A case's photos",
            responses=_problem_responses(403, 404))
def attachments(request: Request, number: str = _NUMBER, staff: StaffMember = Depends(api_staff)) -> JSONResponse:
    """The photos the case's data refers to, in field order, with the URLs of each file and thumbnail."""
    listed = attachment_files.store_of(request).listing(number, staff.username)
    base = f"{PREFIX}/cases/{quote(number, safe='')}/attachments"
    return JSONResponse([{**item, "url": f"{base}/{item['name']}", "thumbnail_url": f"{base}/{item['name']}/thumbnail"}
                         for item in listed])


@router.get("/cases/{number}/attachments/{name}", summary="A photo's bytes", response_class=Response,
            responses={**_problem_responses(403, 404), **_IMAGE})
def attachment(request: Request, number: str = _NUMBER, name: str = _ATTACHMENT,
               staff: StaffMember = Depends(api_staff)) -> Response:
    """The file, served inert as the case page serves it."""
    return attachment_files.send(attachment_files.store_of(request).open_for(number, name, staff.username))


@router.get("/cases/{number}/attachments/{name}/thumbnail", summary="A photo's thumbnail", response_class=Response,
            responses={**_problem_responses(403, 404), **_IMAGE})
def attachment_thumbnail(request: Request, number: str = _NUMBER, name: str = _ATTACHMENT,
                         staff: StaffMember = Depends(api_staff)) -> Response:
    """The JPEG thumbnail of the file, served inert."""
    return attachment_files.send(attachment_files.store_of(request).open_for(number, name, staff.username,
                                                                             thumbnail=True))


@router.get("/cases/{number}/proof", response_model=CaseProof, summary="An inclusion proof of a case's events",
            responses={**_problem_responses(403), 404: {
                "description": "no such case, or no checkpoint has been written yet",
                "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}}})
def proof(request: Request, number: str = _NUMBER, staff: StaffMember = Depends(api_staff)) -> JSONResponse:
    """The case's events proven against the newest checkpoint (``treckk proof CASE``); checks offline with
    ``treckk verify --proof FILE``."""
    return JSONResponse(queries_of(request).case_proof(number, staff.username))


@router.post("/cases", response_model=CaseView, status_code=201, summary="Record a new case",
             responses=_problem_responses(400, 403, 404, 409))
def submit(request: Request, body: SubmitRequest, staff: StaffMember = Depends(api_staff),
           idempotency_key: str | None = IdempotencyKey) -> JSONResponse:
    """Open a case in the workflow's initial state with the intake's inputs; answers the case."""
    application = application_of(request)
    case = application.commands.submit(staff.username, body.input, workflow=body.workflow, comment=body.comment,
                                       idempotency_key=idempotency_key)
    view = application.queries.view_of(case, staff.username)
    return _case_answer(view, 201, {"Location": f"{PREFIX}/cases/{view['number']}"})


@router.post("/cases/{number}/advance", response_model=CaseView, summary="Move a case",
             responses=_problem_responses(400, 403, 404, 409, 412))
def advance(request: Request, body: AdvanceRequest, number: str = _NUMBER, staff: StaffMember = Depends(api_staff),
            if_match: str | None = Header(None, alias="If-Match", max_length=100,
                                          description="the ETag of the case as the caller last saw it"),
            idempotency_key: str | None = IdempotencyKey) -> JSONResponse:
    """Fire ``trigger`` with its inputs as the caller; answers the case as it is after the move."""
    application = application_of(request)
    expected = expected_version(if_match)
    try:
        case = application.commands.advance(number, body.trigger, staff.username, body.input, comment=body.comment,
                                            expect_version=expected, idempotency_key=idempotency_key)
    except Conflict as exc:
        if expected is not None and exc.field == "version":
            raise PreconditionFailed(exc.message, field="version", value=exc.value) from exc
        raise
    return _case_answer(application.queries.view_of(case, staff.username))


@router.get("/staff", response_model=list[StaffView], summary="Staff members")
def staff_list(request: Request, staff: StaffMember = Depends(api_staff)) -> JSONResponse:
    """Every staff member with their roles and scope (no contact details)."""
    keys = ("username", "name", "roles", "scope", "active", "grants")
    return JSONResponse([{key: member[key] for key in keys} for member in queries_of(request).staff()])


@router.get("/me", response_model=StaffView, summary="Who am I")
def me(request: Request, staff: StaffMember = Depends(api_staff)) -> JSONResponse:
    """The staff member the bearer token belongs to."""
    view = queries_of(request).staff_view(staff)
    return JSONResponse({key: view[key] for key in ("username", "name", "roles", "scope", "active", "grants")})


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request) -> JSONResponse:
    """The API's OpenAPI document (only the API's routes)."""
    cached = getattr(request.app.state, "api_openapi", None)
    if cached is None:
        cached = get_openapi(title="TRECKK API", version="1", routes=router.routes,
                             description=__doc__ or "")
        cached.setdefault("components", {}).setdefault("schemas", {})["ProblemDetails"] = \
            ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
        cached["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        cached["security"] = [{"bearer": []}]
        request.app.state.api_openapi = cached
    return JSONResponse(cached)

