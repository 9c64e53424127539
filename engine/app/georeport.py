"""Open311 GeoReport v2 as the application sees it: services, their definitions, requests in and out.

Everything is read from the definition, never named here: the services are the values of the
choice field ``public.services`` names; a service definition's attributes are the inputs of the
workflow's public channel ``open311`` other than the fields Open311 carries itself (the service,
description, location, pin and photos of ``public:``, the contact fields of ``contact:``) and the
values the channel sets. A posted request is recorded by the normal intake (``Commands.submit``)
with the account of the ``api_key`` as the actor, so it lands in the initial state, in the staff
inbox, with the intake's notices, like a complaint typed in by staff.

A request shows only what the public may read: the service, the description and location fields
that ``public:`` names (never a field marked personal data), the status (``open`` or ``closed``:
a final state), the last public milestone as ``status_notes`` (the label of the state the case
is in, never a staff name or comment), the current deadline as ``expected_datetime``. Times are
given in the workflow's zone with its offset.

Lists are read through ``engine.store.case_windows``: one workflow's cases of the asked statuses
opened in a window of at most 90 days, newest first, at most ``MAX_REQUESTS`` per page.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection

from engine.app.commands import Commands
from engine.app.credentials import Credentials, LoginFailed, StaffMember
from engine.app.queries import page_cursor, page_position
from engine.compile.workflow import CompiledWorkflow
from engine.core.localtime import to_local
from engine.core.records import CaseRecord
from engine.definition.model import FieldSpec, PublicChannelSpec, PublicSpec, WorkflowDefinition
from engine.errors import InvalidInput, NotFound, PermissionDenied
from engine.store import case_windows, definition_rows
from engine.store.case_lists import Position
from engine.store.case_windows import Mark, Window

CHANNEL = "open311"
"""The public channel of the definition whose inputs Open311 may fill (``public.channels.open311``)."""
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
OPEN, CLOSED = "open", "closed"
STATUSES = (OPEN, CLOSED)
MAX_SPAN = timedelta(days=90)
"""The longest window a request list covers (the spec's default and limit)."""
MAX_REQUESTS = 1000
"""The most requests one list answers (the spec's default volume)."""
MAX_IDS = 100
"""The most ``service_request_id`` values one list may name."""
MAX_CODES = 100
"""The most ``service_code`` values one list may name."""
MAX_DESCRIPTION = 4000
"""The longest ``description`` a posted request may carry (the spec's limit)."""
MAX_TEXT = 1000
"""The longest value of any other posted parameter (an ``attribute[...]``, a name, an address)."""
MAX_URL = 2048
LONG_TEXT = 300
"""A text field longer than this is an Open311 ``text`` (may hold line breaks), else a ``string``."""
IDENTIFIER = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
"""What a service code, a request id, a token or a jurisdiction may look like."""
_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]{1,2040}", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Service:
    """One service: a value of the services field."""

    code: str
    name: str
    description: str
    group: str
    metadata: bool
    type: str = "realtime"
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute of a service definition: a channel input Open311 does not carry itself."""

    code: str
    datatype: str
    required: bool
    description: str
    order: int
    datatype_description: str | None = None
    values: tuple[tuple[str, str], ...] = ()
    """(key, name) of each option of a ``singlevaluelist``."""
    variable: bool = True


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    """The attributes a request for ``service_code`` may or must carry."""

    service_code: str
    attributes: tuple[Attribute, ...]


@dataclass(frozen=True, slots=True)
class Submission:
    """A posted request's parameters, as received (strings), before anything is checked."""

    service_code: str | None = None
    lat: str | None = None
    long: str | None = None
    address_string: str | None = None
    address_id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    description: str | None = None
    media_url: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Posted:
    """What ``POST requests`` answers: the new request's id (its case number)."""

    service_request_id: str
    service_notice: str | None = None
    account_id: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """A case as Open311 shows it to anyone."""

    service_request_id: str
    status: str
    status_notes: str | None
    service_name: str | None
    service_code: str | None
    description: str | None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None
    address: str | None
    lat: float | None
    long: float | None
    agency_responsible: str | None = None
    service_notice: str | None = None
    address_id: str | None = None
    zipcode: str | None = None
    media_url: str | None = None


@dataclass(frozen=True, slots=True)
class RequestQuery:
    """The filters of ``GET requests``, parsed; ``ids`` overrides every other one."""

    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[str, ...] = ()
    limit: int = MAX_REQUESTS
    after: str | None = None


@dataclass(frozen=True, slots=True)
class RequestPage:
    """One page of requests, newest first; ``next`` is the cursor of the following page (None: the last)."""

    requests: tuple[ServiceRequest, ...]
    next: str | None


class GeoReport:
    """Open311 GeoReport v2 over one application's commands and credentials."""

    def __init__(self, commands: Commands, credentials: Credentials) -> None:
        self.commands = commands
        self.credentials = credentials

    # -- jurisdictions ---------------------------------------------------------------------------
    def jurisdictions(self) -> tuple[str, ...]:
        """The deployed workflows offered over Open311 (their newest version has a public channel ``open311``)."""

        def read(connection: Connection) -> tuple[str, ...]:
            return tuple(name for name in definition_rows.workflows(connection)
                         if _channel(self.commands.compiled(connection, name).definition) is not None)

        return self.commands.db.read(read)

    def jurisdiction(self, given: str | None) -> str:
        """The workflow ``jurisdiction_id`` names; it may be left out when only one is offered.

        NotFound for one that is not offered, InvalidInput when it is missing and several are.
        """
        offered = self.jurisdictions()
        if given:
            if given not in offered:
                raise NotFound(f"jurisdiction_id {given[:64]!r} was not found; known: {', '.join(offered) or '(none)'}",
                               field="jurisdiction_id", value=given[:64], accepted=list(offered))
            return given
        if len(offered) == 1:
            return offered[0]
        if not offered:
            raise NotFound("no workflow is offered over Open311 (none has a public channel "
                           f"{CHANNEL!r})", field="jurisdiction_id")
        raise InvalidInput(f"jurisdiction_id is required: this endpoint serves {', '.join(offered)}",
                           field="jurisdiction_id", accepted=list(offered))

    def changeset(self) -> datetime | None:
        """When the newest version of any offered workflow was deployed (discovery's ``changeset``), in
        that workflow's zone."""
        offered = self.jurisdictions()

        def read(connection: Connection) -> datetime | None:
            times = [to_local(stored.deployed_at, self.commands.compiled(connection, name).definition.timezone)
                     for name in offered if (stored := definition_rows.latest(connection, name)) is not None]
            return max(times, default=None)

        return self.commands.db.read(read)

    # -- services --------------------------------------------------------------------------------
    def services(self, workflow: str) -> list[Service]:
        """Every service of ``workflow``: the values of its services field, in the definition's order."""
        definition = self._definition(workflow)
        public, channel = _offered(definition)
        services = definition.fields[public.services]
        metadata = bool(_attributes(definition, public, channel))
        return [Service(code, label, label, services.label, metadata) for code, label in services.choices.items()]

    def service_definition(self, workflow: str, code: str) -> ServiceDefinition:
        """The attributes of service ``code``; NotFound for a code that is not a service."""
        definition = self._definition(workflow)
        public, channel = _offered(definition)
        _service_field(definition, public, code, missing=NotFound)
        return ServiceDefinition(code, _attributes(definition, public, channel))

    # -- posting ---------------------------------------------------------------------------------
    def post(self, workflow: str, api_key: str | None, submission: Submission) -> Posted:
        """Record a request as a new case, as the account ``api_key`` belongs to.

        PermissionDenied (403) for a missing or bad key, or an account whose roles may not record
        complaints; InvalidInput (400) listing every problem of the parameters, nothing written.
        """
        member = self._member(api_key)
        definition = self._definition(workflow)
        public, channel = _offered(definition)
        values, comment = _values(definition, public, channel, submission)
        case = self.commands.submit(member.username, values, workflow=workflow, comment=comment)
        return Posted(case.number, service_notice=public.states.get(definition.initial))

    def _member(self, api_key: str | None) -> StaffMember:
        if not api_key:
            raise PermissionDenied("api_key is required to post a request; ask the operators for one",
                                   field="api_key")
        try:
            return self.credentials.authenticate_token(api_key.strip())
        except LoginFailed:
            raise PermissionDenied("the api_key is not valid, or was revoked", field="api_key") from None

    # -- reading ---------------------------------------------------------------------------------
    def request(self, workflow: str, number: str) -> ServiceRequest:
        """The request numbered ``number`` of ``workflow``; NotFound when there is none."""
        _check_identifier(number, "service_request_id")

        def read(connection: Connection) -> ServiceRequest:
            found = case_windows.by_numbers(connection, workflow, [number])
            if not found:
                raise NotFound(f"service_request_id {number!r} was not found", field="service_request_id",
                               value=number)
            return self._shown(connection, found[0])

        return self.commands.db.read(read)

    def requests(self, workflow: str, query: RequestQuery) -> RequestPage:
        """One page of ``workflow``'s requests matching ``query``, newest first.

        With ``ids``: those requests (unknown ones left out), nothing else checked. Otherwise the
        window is ``start`` to ``end``, by default the 90 days before ``end`` (or after ``start``),
        ``end`` defaulting to now; it may not span more than 90 days.
        """
        if query.ids:
            return self._by_ids(workflow, query.ids)
        if not 1 <= query.limit <= MAX_REQUESTS:
            raise InvalidInput(f"limit must be between 1 and {MAX_REQUESTS}, not {query.limit}", field="limit",
                               value=query.limit)
        since, until = _window(query.start, query.end, self.commands.clock())
        before = _mark(query.after)
        unknown = [status for status in query.statuses if status not in STATUSES]
        if unknown:
            raise InvalidInput(f"status {unknown[0][:20]!r} is not known; use {' or '.join(STATUSES)}",
                               field="status", value=unknown[0][:20], accepted=list(STATUSES))
        if len(query.service_codes) > MAX_CODES:
            raise InvalidInput(f"at most {MAX_CODES} service_code values may be given at once",
                               field="service_code")
        statuses = set(query.statuses or STATUSES)

        def read(connection: Connection) -> RequestPage:
            definition = self.commands.compiled(connection, workflow).definition
            public, _channel = _offered(definition)
            for code in query.service_codes:
                _service_field(definition, public, code, missing=InvalidInput)
            states, versions = self._states(connection, workflow, statuses)
            category = (public.services, tuple(dict.fromkeys(query.service_codes))) if query.service_codes else None
            window = Window(workflow, states, since, until, category, versions)
            found = case_windows.newest(connection, window, before=before, limit=query.limit + 1)
            shown = found[:query.limit]
            following = _cursor(Mark(shown[-1].created_at, shown[-1].id)) if len(found) > query.limit else None
            return RequestPage(tuple(self._shown(connection, case) for case in shown), following)

        return self.commands.db.read(read)

    def token(self, workflow: str, token: str) -> Posted:
        """The request a token stands for. Every service here is ``realtime`` (a post answers the
        request id at once), so no token is ever handed out: NotFound for any well-formed one."""
        self._definition(workflow)
        _check_identifier(token, "token")
        raise NotFound(f"token {token!r} was not found; this endpoint answers service_request_id at once and "
                       "issues no tokens", field="token", value=token)

    # -- inside ----------------------------------------------------------------------------------
    def _by_ids(self, workflow: str, ids: Sequence[str]) -> RequestPage:
        if len(ids) > MAX_IDS:
            raise InvalidInput(f"at most {MAX_IDS} service_request_id values may be given at once, not {len(ids)}",
                               field="service_request_id")
        for number in ids:
            _check_identifier(number, "service_request_id")

        def read(connection: Connection) -> RequestPage:
            found = case_windows.by_numbers(connection, workflow, ids)
            return RequestPage(tuple(self._shown(connection, case) for case in found), None)

        return self.commands.db.read(read)

    def _definition(self, workflow: str) -> WorkflowDefinition:
        return self.commands.db.read(lambda connection: self.commands.compiled(connection, workflow).definition)

    def _states(self, connection: Connection, workflow: str, statuses: set[str]
                ) -> tuple[tuple[str, ...], tuple[tuple[str, tuple[int, ...]], ...]]:
        """The states whose cases have one of ``statuses``, and the versions each counts on when not all."""
        deployed = definition_rows.versions(connection, workflow)
        where: dict[str, list[int]] = {}
        for version in deployed:
            definition = self.commands.compiled(connection, workflow, version).definition
            for name, state in definition.states.items():
                if (CLOSED if state.final else OPEN) in statuses:
                    where.setdefault(name, []).append(version)
        limited = tuple((name, tuple(found)) for name, found in where.items() if found != deployed)
        return tuple(where), limited

    def _shown(self, connection: Connection, case: CaseRecord) -> ServiceRequest:
        compiled: CompiledWorkflow = self.commands.compiled(connection, case.workflow, case.definition_version)
        return request_view(compiled.definition, case)


def request_view(definition: WorkflowDefinition, case: CaseRecord) -> ServiceRequest:
    """``case`` as Open311 shows it: public fields only, times in the definition's zone."""
    public = definition.public
    state = definition.states[case.state]
    zone = definition.timezone
    data = case.data

    def shown(name: str | None) -> str | None:
        spec = definition.fields.get(name) if name else None
        value = data.get(name) if name else None
        return value if spec is not None and not spec.pii and isinstance(value, str) and value else None

    code = shown(public.services) if public is not None else None
    services = definition.fields.get(public.services) if public is not None else None
    lat, long = _coordinates(shown(public.pin) if public is not None else None)
    return ServiceRequest(
        service_request_id=case.number,
        status=CLOSED if state.final else OPEN,
        status_notes=public.states.get(case.state, state.label) if public is not None else state.label,
        service_name=services.choices.get(code) if services is not None and code is not None else None,
        service_code=code,
        description=shown(public.description) if public is not None else None,
        requested_datetime=to_local(case.created_at, zone),
        updated_datetime=to_local(case.updated_at, zone),
        expected_datetime=to_local(case.due_at, zone) if case.due_at is not None and not state.final else None,
        address=shown(public.location) if public is not None else None,
        lat=lat, long=long,
    )


def _coordinates(text: str | None) -> tuple[float | None, float | None]:
    if not text:
        return None, None
    lat, _, lon = text.partition(",")
    try:
        return float(lat), float(lon)
    except ValueError:
        return None, None


def _channel(definition: WorkflowDefinition) -> PublicChannelSpec | None:
    public = definition.public
    return public.channels.get(CHANNEL) if public is not None else None


def _offered(definition: WorkflowDefinition) -> tuple[PublicSpec, PublicChannelSpec]:
    public, channel = definition.public, _channel(definition)
    if public is None or channel is None:
        raise NotFound(f"workflow {definition.name!r} is not offered over Open311 (it has no public channel "
                       f"{CHANNEL!r})", field="jurisdiction_id", value=definition.name)
    return public, channel


def _service_field(definition: WorkflowDefinition, public: PublicSpec, code: str,
                   missing: type[InvalidInput] | type[NotFound]) -> FieldSpec:
    spec = definition.fields[public.services]
    if code not in spec.choices:
        shown = code[:64]
        raise missing(f"service_code {shown!r} is not a service here; known: {', '.join(spec.choices)}",
                      field="service_code", value=shown, accepted=list(spec.choices))
    return spec


def _carried(definition: WorkflowDefinition, public: PublicSpec) -> dict[str, str]:
    """The fields Open311 fills from its own parameters: field → what carries it."""
    contact = definition.contact
    carried = {public.services: "service_code", public.description: "description",
               public.location: "address_string"}
    if public.pin:
        carried[public.pin] = "lat & long"
    if public.photos:
        carried[public.photos] = "media_url"
    for name, parameter in ((contact.name, "first_name & last_name"), (contact.phone, "phone"),
                            (contact.email, "email")):
        if name:
            carried[name] = parameter
    return carried


def _attributes(definition: WorkflowDefinition, public: PublicSpec, channel: PublicChannelSpec) -> tuple[Attribute, ...]:
    carried = _carried(definition, public)
    found: list[Attribute] = []
    for spec in channel.inputs:
        field_spec = definition.fields[spec.field]
        if spec.field in carried or spec.field in channel.set or field_spec.type == "references":
            continue
        found.append(_attribute(field_spec, spec.required, len(found) + 1))
    return tuple(found)


def _attribute(spec: FieldSpec, required: bool, order: int) -> Attribute:
    if spec.type == "choice":
        return Attribute(spec.name, "singlevaluelist", required, spec.label, order,
                         values=tuple(spec.choices.items()))
    if spec.type == "boolean":
        return Attribute(spec.name, "singlevaluelist", required, spec.label, order,
                         values=(("true", "Ya"), ("false", "Tidak")))
    if spec.type == "datetime":
        return Attribute(spec.name, "datetime", required, spec.label, order,
                         "ISO 8601 with its offset, e.g. 2026-11-30T08:00:00+08:00")
    if spec.type == "coordinates":
        return Attribute(spec.name, "string", required, spec.label, order, "LAT,LON in decimal degrees (WGS84)")
    limit = spec.max_length
    datatype = "text" if limit is None or limit > LONG_TEXT else "string"
    hint = {"phone": "a phone number", "email": "an e-mail address"}.get(spec.type)
    if hint is None and limit is not None:
        hint = f"up to {limit} characters"
    return Attribute(spec.name, datatype, required, spec.label, order, hint)


def _values(definition: WorkflowDefinition, public: PublicSpec, channel: PublicChannelSpec,
            submission: Submission) -> tuple[dict[str, object], str | None]:
    """The case values a submission gives, and the intake comment (its media URL); InvalidInput listing
    every problem."""
    problems: list[tuple[str, str]] = []
    accepted = {spec.field for spec in channel.inputs}
    values: dict[str, object] = {}

    def put(name: str | None, value: str | None, parameter: str) -> None:
        if name is None or value is None or value == "":
            return
        if name not in accepted:
            return  # the definition keeps no such detail from this channel: it is not stored
        values[name] = value

    for parameter, value in _texts(submission).items():
        limit = MAX_DESCRIPTION if parameter == "description" else MAX_URL if parameter == "media_url" else MAX_TEXT
        if value is not None and len(value) > limit:
            problems.append((parameter, f"{parameter} is longer than {limit} characters"))
    code = submission.service_code
    if not code:
        problems.append(("service_code", "service_code is required; see GET services"))
    else:
        try:
            _service_field(definition, public, code, missing=InvalidInput)
            values[public.services] = code
        except InvalidInput as exc:
            problems.append(("service_code", str(exc)))
    has_pin = bool(submission.lat or submission.long)
    if has_pin and not (submission.lat and submission.long):
        problems.append(("lat", "lat and long must be sent together"))
    elif has_pin:
        pin = _pin(submission.lat or "", submission.long or "")
        if pin is None:
            problems.append(("lat", "lat must be a number from -90 to 90 and long one from -180 to 180 (WGS84)"))
        elif public.pin is None or public.pin not in accepted:
            if not submission.address_string:
                problems.append(("lat", "this endpoint does not record a position; send address_string"))
        else:
            values[public.pin] = pin
    if not has_pin and not submission.address_string:
        problems.append(("address_string", "a location is required: lat & long, or address_string"
                         + (" (address_id is not used here)" if submission.address_id else "")))
    put(public.description, submission.description, "description")
    put(public.location, submission.address_string, "address_string")
    contact = definition.contact
    name = " ".join(part.strip() for part in (submission.first_name, submission.last_name) if part and part.strip())
    put(contact.name, name, "first_name")
    put(contact.phone, submission.phone, "phone")
    put(contact.email, submission.email, "email")
    attributes = {spec.code: spec for spec in _attributes(definition, public, channel)}
    for code_given, given in submission.attributes.items():
        attribute = attributes.get(code_given)
        if attribute is None:
            problems.append((f"attribute[{code_given[:64]}]",
                             f"attribute {code_given[:64]!r} is not known; known: {', '.join(attributes) or '(none)'}"))
        elif len(given) != 1:
            problems.append((f"attribute[{code_given}]", f"attribute {code_given!r} takes one value"))
        elif len(given[0]) > MAX_TEXT:
            problems.append((f"attribute[{code_given}]", f"attribute {code_given!r} is longer than {MAX_TEXT} characters"))
        elif given[0] != "":
            values[code_given] = given[0]
    for spec in channel.inputs:
        if spec.required and spec.field not in values and spec.field not in channel.set \
                and spec.field != public.services:  # a missing or unknown service_code is said above
            carrier = _carried(definition, public).get(spec.field, f"attribute[{spec.field}]")
            problems.append((carrier, f"{carrier} is required for this service"))
    comment = None
    if submission.media_url:
        if not _URL.fullmatch(submission.media_url):
            problems.append(("media_url", "media_url must be an http or https URL"))
        else:
            comment = f"media_url: {submission.media_url}"
    if problems:
        raise InvalidInput("\n".join(dict.fromkeys(text for _, text in problems)),
                           field=problems[0][0] if len(problems) == 1 else None)
    values.update(channel.set)
    return values, comment


def _texts(submission: Submission) -> dict[str, str | None]:
    return {"lat": submission.lat, "long": submission.long, "address_string": submission.address_string,
            "address_id": submission.address_id, "email": submission.email, "first_name": submission.first_name,
            "last_name": submission.last_name, "phone": submission.phone, "description": submission.description,
            "media_url": submission.media_url, "device_id": submission.device_id,
            "account_id": submission.account_id}


def _pin(lat: str, long: str) -> str | None:
    try:
        north, east = float(lat.strip()), float(long.strip())
    except ValueError:
        return None
    if not (math.isfinite(north) and math.isfinite(east) and -90 <= north <= 90 and -180 <= east <= 180):
        return None
    return f"{round(north, 6)},{round(east, 6)}"


def _window(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    if start is not None and end is not None:
        if start > end:
            raise InvalidInput("start_date is after end_date", field="start_date")
        if end - start > MAX_SPAN:
            raise InvalidInput(f"start_date to end_date may not span more than {MAX_SPAN.days} days",
                               field="end_date")
        return start, end
    if start is not None:
        return start, start + MAX_SPAN
    until = end if end is not None else now
    return until - MAX_SPAN, until


def _check_identifier(value: str, name: str) -> None:
    if not IDENTIFIER.fullmatch(value):
        raise InvalidInput(f"{name} {value[:40]!r} is not valid; use up to 64 letters, digits, '.', '_' or '-'",
                           field=name, value=value[:40])


def _cursor(mark: Mark) -> str:
    return page_cursor(Position(mark.created_at, mark.id))


def _mark(cursor: str | None) -> Mark | None:
    if cursor is not None and len(cursor) > 200:
        raise InvalidInput("bad page cursor; give the after= value of the previous page's Link header", field="after")
    position = page_position(cursor)
    if position is None:
        return None
    if position.due_at is None:
        raise InvalidInput("bad page cursor; give the after= value of the previous page's Link header", field="after")
    return Mark(position.due_at, position.id)
