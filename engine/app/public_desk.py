"""The public desk: complainants open cases through public channels, follow them, add notes, rate them.

Everything here faces the public, who are anonymous and may be hostile:

- a case is opened only through a channel the definition's ``public:`` section declares, with the
  fields that channel may fill and the values it sets; its intake event has actor
  ``pelapor:<channel>`` and role ``pelapor``, and it lands in the initial state;
- it is followed with its number and a **tracking code**: random (10 Crockford base32 characters,
  50 bits), shown once, stored only as a SHA-256; a wrong code and an unknown number get the same
  ``NotFound``, and wrong codes are counted per address and per number (``Throttled`` past a limit);
- a ``PublicCaseView`` holds what the public may read: the state's label and public text, the
  milestones, what may happen next and by when — never a staff name, a field value beyond the
  category and area labels, a comment, or another case;
- a note (while the case is open) and a rating (once, in a final state) are history events that
  leave the state as it is, sealed into the case's chain and the transparency log like any other.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from engine.app.commands import Commands, _check_key, _parse_inputs
from engine.app.attachments import parse_reference
from engine.compile.workflow import CompiledWorkflow
from engine.core import fields as field_values
from engine.core.records import CaseRecord, case_number_key
from engine.definition.model import (
    NOTE_TRIGGER,
    PUBLIC_ROLE,
    RATING_TRIGGER,
    PublicChannelSpec,
    PublicSpec,
    WorkflowDefinition,
    public_actor,
)
from engine.errors import Conflict, InvalidInput, NotAllowed, NotFound, Unavailable
from engine.store import attachment_rows, case_rows, public_rows
from engine.store.public_rows import PublicCaseRow

T = TypeVar("T")

RATING_SCORE = "nilai"
"""The key of a rating event's input holding its score (sealed into the chain; not a field)."""

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford's base32: no I, L, O or U, so a code read aloud or typed from paper is not mistaken."""
CODE_LENGTH = 10
MAX_NOTE_LENGTH = 2000
MAX_RATING_COMMENT = 1000
MAX_NOTE_PHOTOS = 3
MAX_ADDRESS_LENGTH = 128


class _WrongAccess(Exception):
    """Inside ``_as_owner``: no such case, or not this complainant's (becomes the one NotFound)."""


class Throttled(Unavailable):
    """Too many attempts from one address (or on one number) in a short time; ``until`` says when to retry."""

    http_status = 429

    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message, value=until.isoformat())
        self.until = until


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``count`` attempts within ``window``."""

    count: int
    window: timedelta


@dataclass(frozen=True, slots=True)
class PublicLimits:
    """The public throttles: submissions per address, wrong tracking codes per address and per number."""

    submissions: Limit = Limit(5, timedelta(minutes=10))
    wrong_codes_per_address: Limit = Limit(10, timedelta(minutes=15))
    wrong_codes_per_number: Limit = Limit(30, timedelta(hours=1))


@dataclass(frozen=True, slots=True)
class ChannelSender:
    """A complainant recognised by a channel (WhatsApp: the wa_id), instead of a tracking code."""

    channel: str
    address: str


Access = str | ChannelSender
"""How a complainant proves a case is theirs: its tracking code, or the channel address that filed it."""


@dataclass(frozen=True, slots=True)
class PublicReceipt:
    """What a complainant gets back once: the case number and the plain tracking code."""

    number: str
    tracking_code: str
    case: CaseRecord


@dataclass(frozen=True, slots=True)
class Milestone:
    """One public step of a case: when (UTC), what (``received``, ``state``, ``note``, ``rating``), its label."""

    at: datetime
    kind: str
    label: str
    state: str


@dataclass(frozen=True, slots=True)
class PublicCaseView:
    """What the public may read of a case (nothing of staff, personal data or comments)."""

    number: str
    workflow: str
    channel: str
    state: str
    state_label: str
    status_text: str
    """The state explained in plain Bahasa Indonesia (the definition's ``public.states`` text, else its label)."""
    final: bool
    received_at: datetime
    milestones: tuple[Milestone, ...]
    next_steps: tuple[str, ...]
    """Labels of the states the case may move to next."""
    due_at: datetime | None
    """By when the next step is due (UTC), or None."""
    service_label: str | None
    area_label: str | None
    """The label of the case's scope value (its kecamatan), if any."""
    may_add_note: bool
    may_rate: bool
    rating: int | None


@dataclass(frozen=True, slots=True)
class RatingsSummary:
    """The ratings of one workflow given in a period."""

    workflow: str
    since: datetime | None
    until: datetime | None
    count: int
    average: float | None
    by_score: Mapping[int, int]
    """Score 1–5 → how many ratings gave it."""


def normalise_code(code: str) -> str:
    """A tracking code as typed → its canonical form (capitals, no spaces or dashes, I/L → 1, O → 0)."""
    text = "".join(code.split()).replace("-", "").upper()
    return text.translate(str.maketrans("ILO", "110"))


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def code_hash(number: str, code: str) -> str:
    """The stored form of a tracking code: SHA-256 over the case number and the normalised code."""
    return hashlib.sha256(f"{number}:{normalise_code(code)}".encode()).hexdigest()


def shown_code(code: str) -> str:
    """A code as shown to people: two groups of five (``7KQ2M-9XD4T``)."""
    return f"{code[:5]}-{code[5:]}"


_UNKNOWN = "aduan {number} tidak ditemukan, atau kode pelacakannya salah; periksa nomor dan kode pada tanda terima"


class PublicDesk:
    """The public's door (``application.public``): submit, track, note, rate; ratings for the dashboard."""

    def __init__(self, commands: Commands, limits: PublicLimits | None = None) -> None:
        self.commands = commands
        self.limits = limits or PublicLimits()

    # -- opening a case -------------------------------------------------------------------
    def submit(self, channel: str, values: Mapping[str, object], *, workflow: str | None = None,
               idempotency_key: str | None = None, contact_address: str | None = None,
               client: str | None = None) -> PublicReceipt:
        """Open a case through public ``channel`` with the fields it may fill; returns number and code.

        ``contact_address`` is the sender's address on that channel (kept so the sender is
        recognised later); ``client`` (e.g. the web client's IP address) is throttled by
        ``limits.submissions``. A retry with the same ``idempotency_key`` gets the same case and
        a fresh code (the first one cannot be shown again, it is not kept).
        """
        _check_key(idempotency_key)
        if contact_address is not None and (not contact_address or len(contact_address) > MAX_ADDRESS_LENGTH):
            raise InvalidInput(f"contact address must be 1 to {MAX_ADDRESS_LENGTH} characters", field="contact_address")
        code = new_code()
        try:
            case = self.commands.db.transaction(lambda connection: self._submit(
                connection, channel, values, workflow, idempotency_key, contact_address, client, code))
        except IntegrityError as exc:
            raise Conflict("a concurrent submission took the same case number or key; try again") from exc
        return PublicReceipt(case.number, code, case)

    def _submit(self, connection: Connection, channel: str, values: Mapping[str, object], workflow: str | None,
                key: str | None, contact_address: str | None, client: str | None, code: str) -> CaseRecord:
        compiled = self.commands.compiled(connection, self.commands.workflow_for_new(connection, workflow))
        definition = compiled.definition
        spec = _channel(definition, channel)
        actor = public_actor(channel)
        if key:
            case_rows.lock_intake_key(connection, key)
            earlier = case_rows.intake_event_by_key(connection, key)
            if earlier is not None:
                if earlier.actor != actor:
                    raise Conflict(f"idempotency key {key!r} was already used by another channel")
                existing = case_rows.case_by_id(connection, earlier.case_id)
                assert existing is not None
                public_rows.set_code_hash(connection, existing.id, code_hash(existing.number, code))
                return existing
        if client is not None:
            self._throttle(connection, "submit", client, self.limits.submissions,
                           "terlalu banyak aduan dari alamat ini dalam waktu singkat")
        data = _parse_inputs(definition, spec.inputs, values, f"a complaint through channel {channel!r}")
        for name, raw in spec.set.items():
            data[name] = field_values.parse_value(definition.fields[name], raw, definition.timezone)
        photos = definition.public.photos if definition.public else None
        if photos and data.get(photos):
            _check_photos(connection, data[photos], actor)

        def keep_code(case: CaseRecord) -> None:
            public_rows.insert_public_case(connection, PublicCaseRow(
                case.id, definition.name, channel, code_hash(case.number, code), contact_address, case.created_at,
                None, None, None))

        return self.commands.open_case(connection, compiled, data, actor, PUBLIC_ROLE, _actor_name(channel), None,
                                       key, before_log=keep_code)

    # -- following a case -----------------------------------------------------------------
    def track(self, number: str, code: str, *, client: str | None = None) -> PublicCaseView:
        """The public view of case ``number`` for the holder of its tracking code (NotFound otherwise)."""
        return self._as_owner(number, code, client, False, self._view)

    def track_by_contact(self, number: str, channel: str, address: str) -> PublicCaseView:
        """The public view of case ``number`` for the sender who filed it on ``channel`` (NotFound otherwise)."""
        return self._as_owner(number, ChannelSender(channel, address), None, False, self._view)

    def open_cases_of(self, channel: str, address: str) -> list[PublicCaseView]:
        """The cases not yet in a final state that ``address`` filed on ``channel``, newest first."""

        def read(connection: Connection) -> list[PublicCaseView]:
            found = []
            for case_id in public_rows.case_ids_of_sender(connection, channel, address):
                case = case_rows.case_by_id(connection, case_id)
                row = public_rows.by_case(connection, case_id)
                if case is None or row is None:
                    continue
                compiled = self.commands.compiled(connection, case.workflow, case.definition_version)
                if not compiled.definition.states[case.state].final:
                    found.append(self._view(connection, case, compiled, row))
            return found

        return self.commands.db.read(read)

    # -- notes and ratings ----------------------------------------------------------------
    def add_note(self, number: str, access: Access, text: str, *, attachments: Sequence[str] = (),
                 client: str | None = None) -> PublicCaseView:
        """Record the complainant's note (and photos, stored before with ``Attachments.store`` by
        ``pelapor:<channel>``) on an open case, without a state change; the staff the case waits on are told."""
        text = _note_text(text, MAX_NOTE_LENGTH, "catatan", required=not attachments)
        if len(attachments) > MAX_NOTE_PHOTOS:
            raise InvalidInput(f"paling banyak {MAX_NOTE_PHOTOS} foto sekali kirim", field="foto")

        def work(connection: Connection, case: CaseRecord, compiled: CompiledWorkflow,
                 row: PublicCaseRow) -> PublicCaseView:
            definition = compiled.definition
            if definition.states[case.state].final:
                raise NotAllowed(f"aduan {case.number} sudah selesai ditangani; catatan tidak dapat ditambahkan lagi",
                                 field="catatan")
            given: dict[str, Any] = {}
            public = definition.public
            if attachments:
                if public is None or public.photos is None:
                    raise InvalidInput("alur ini tidak menerima foto dari pelapor", field="foto")
                _check_photos(connection, list(attachments), public_actor(row.channel))
                held = list(case.data.get(public.photos) or [])
                given[public.photos] = held + [ref for ref in attachments if ref not in held]
            notices = []
            if public is not None and public.note_template is not None:
                waiting = _waiting_roles(definition, case.state)
                if waiting:
                    notices.append((waiting, public.note_template))
            self.commands.record_remark(connection, compiled, case, NOTE_TRIGGER, "Catatan dari pelapor",
                                        public_actor(row.channel), PUBLIC_ROLE, _actor_name(row.channel), given,
                                        text or None, notices)
            return self._view(connection, case, compiled, row)

        return self._as_owner(number, access, client, True, work)

    def rate(self, number: str, access: Access, score: int, comment: str | None = None, *,
             client: str | None = None) -> PublicCaseView:
        """Record the complainant's rating (1–5, an optional comment) of a case in a final state, once."""
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise InvalidInput(f"nilai {score!r} tidak diterima; pilih 1 sampai 5", field="nilai",
                               accepted=["1", "2", "3", "4", "5"])
        remark = _note_text(comment or "", MAX_RATING_COMMENT, "komentar", required=False)

        def work(connection: Connection, case: CaseRecord, compiled: CompiledWorkflow,
                 row: PublicCaseRow) -> PublicCaseView:
            if not compiled.definition.states[case.state].final:
                raise NotAllowed(f"aduan {case.number} belum selesai ditangani; penilaian dapat diberikan setelah "
                                 "aduan selesai", field="nilai")
            if row.rating is not None or not public_rows.set_rating(connection, case.id, score, remark or None,
                                                                     self.commands.clock()):
                raise Conflict(f"aduan {case.number} sudah dinilai; penilaian hanya dapat diberikan sekali",
                               field="nilai")
            self.commands.record_remark(connection, compiled, case, RATING_TRIGGER, "Penilaian dari pelapor",
                                        public_actor(row.channel), PUBLIC_ROLE, _actor_name(row.channel),
                                        {RATING_SCORE: score}, remark or None, into_data=False)
            updated = public_rows.by_case(connection, case.id)
            assert updated is not None
            return self._view(connection, case, compiled, updated)

        return self._as_owner(number, access, client, True, work)

    def ratings_summary(self, workflow: str, since: datetime | None = None,
                        until: datetime | None = None) -> RatingsSummary:
        """How the complainants of ``workflow`` rated closed cases in [since, until) (for the dashboard)."""
        rows = self.commands.db.read(lambda connection: public_rows.ratings(connection, workflow, since, until))
        by_score = {score: 0 for score in range(1, 6)}
        for score, count in rows:
            by_score[score] = by_score.get(score, 0) + count
        total = sum(by_score.values())
        average = round(sum(s * n for s, n in by_score.items()) / total, 2) if total else None
        return RatingsSummary(workflow, since, until, total, average, by_score)

    def public_spec(self, workflow: str | None = None) -> tuple[WorkflowDefinition, PublicSpec]:
        """The newest deployed definition of ``workflow`` (the only one when None) and its public section."""

        def read(connection: Connection) -> WorkflowDefinition:
            return self.commands.compiled(connection, self.commands.workflow_for_new(connection, workflow)).definition

        definition = self.commands.db.read(read)
        if definition.public is None:
            raise NotFound(f"workflow {definition.name!r} has no public intake (no public: section)")
        return definition, definition.public

    def submissions_blocked(self, client: str) -> datetime | None:
        """Until when ``client`` may submit no more (``limits.submissions`` reached), or None; counts nothing
        (an adapter asks before it spends work on an upload that ``submit`` would refuse)."""
        return self.commands.db.read(lambda connection: self._blocked(connection, "submit", client,
                                                                      self.limits.submissions))

    def throttle(self, kind: str, key: str, limit: Limit, message: str) -> None:
        """Count one attempt of ``kind`` by ``key``; Throttled (nothing counted) when ``limit`` is reached."""
        self.commands.db.transaction(lambda connection: self._throttle(connection, kind, key, limit, message))

    def forget_attempts(self, older_than: timedelta = timedelta(days=1)) -> int:
        """Delete the throttles' record older than ``older_than``; how many rows went."""
        before = self.commands.clock() - older_than
        return self.commands.db.transaction(lambda connection: public_rows.forget_attempts(connection, before))

    # -- inside ---------------------------------------------------------------------------
    def _throttle(self, connection: Connection, kind: str, key: str, limit: Limit, message: str) -> None:
        now = self.commands.clock()
        count, oldest = public_rows.count_attempts(connection, kind, key, now - limit.window)
        if count >= limit.count:
            until = (oldest or now) + limit.window
            raise Throttled(f"{message}; coba lagi setelah {max(1, int((until - now).total_seconds() // 60))} menit",
                            until)
        public_rows.record_attempt(connection, kind, key, now)

    def _blocked(self, connection: Connection, kind: str, key: str, limit: Limit) -> datetime | None:
        now = self.commands.clock()
        count, oldest = public_rows.count_attempts(connection, kind, key, now - limit.window)
        return (oldest or now) + limit.window if count >= limit.count else None

    def _as_owner(self, number: str, access: Access, client: str | None, write: bool,
                  work: Callable[[Connection, CaseRecord, CompiledWorkflow, PublicCaseRow], T]) -> T:
        """``work`` on case ``number`` for a complainant holding ``access``: NotFound, the same for an
        unknown number and a wrong code (each wrong code counted, in its own transaction, so the
        refusal's rollback does not undo it); Throttled after too many wrong codes."""
        key = case_number_key(number)[:64] if isinstance(number, str) else ""
        guessing = isinstance(access, str)

        def run(connection: Connection) -> T:
            if guessing:
                for kind, who, limit in self._code_limits(key, client):
                    until = self._blocked(connection, kind, who, limit)
                    if until is not None:
                        raise Throttled("terlalu banyak percobaan kode pelacakan yang salah; coba lagi nanti", until)
            case = case_rows.case_by_number(connection, key) if key else None
            row = public_rows.by_case(connection, case.id) if case is not None else None
            if isinstance(access, ChannelSender):
                allowed = row is not None and row.channel == access.channel and row.contact_address == access.address
            else:
                given = code_hash(key, access) if isinstance(access, str) and len(access) <= 64 else ""
                allowed = row is not None and secrets.compare_digest(row.code_hash, given)
            if case is None or row is None or not allowed:
                raise _WrongAccess()
            compiled = self.commands.compiled(connection, case.workflow, case.definition_version)
            return work(connection, case, compiled, row)

        try:
            return self.commands.db.transaction(run) if write or guessing else self.commands.db.read(run)
        except _WrongAccess:
            if guessing:
                now = self.commands.clock()

                def count(connection: Connection) -> None:
                    for kind, who, _ in self._code_limits(key, client):
                        public_rows.record_attempt(connection, kind, who, now)

                self.commands.db.transaction(count)
            raise NotFound(_UNKNOWN.format(number=key[:32] or "?"), field="nomor") from None

    def _code_limits(self, number: str, client: str | None) -> list[tuple[str, str, Limit]]:
        found = [("code_number", number, self.limits.wrong_codes_per_number)]
        if client is not None:
            found.insert(0, ("code_address", client, self.limits.wrong_codes_per_address))
        return found

    def _view(self, connection: Connection, case: CaseRecord, compiled: CompiledWorkflow,
              row: PublicCaseRow) -> PublicCaseView:
        definition = compiled.definition
        states = definition.states
        state = states[case.state]
        public = definition.public
        milestones: list[Milestone] = []
        for event in case_rows.history(connection, case.id):
            if event.seq == 1:
                milestones.append(Milestone(event.at, "received", states[event.to_state].label if event.to_state
                                            in states else event.to_state, event.to_state))
            elif event.trigger == NOTE_TRIGGER:
                milestones.append(Milestone(event.at, "note", "Keterangan tambahan dari pelapor", event.to_state))
            elif event.trigger == RATING_TRIGGER:
                milestones.append(Milestone(event.at, "rating", "Penilaian dari pelapor", event.to_state))
            elif event.to_state != event.from_state:
                milestones.append(Milestone(event.at, "state", states[event.to_state].label if event.to_state
                                            in states else event.to_state, event.to_state))
        next_steps = tuple(dict.fromkeys(states[t.dest].label for t in definition.transitions_from(case.state)))
        service = public.services if public else None
        service_label = (field_values.display_value(definition.fields[service], case.data.get(service))
                         if service and case.data.get(service) is not None else None)
        scope_spec = definition.fields.get(definition.scope_field or "")
        area_label = (field_values.display_value(scope_spec, case.scope)
                      if scope_spec is not None and case.scope is not None else None)
        texts = _status_texts(definition)
        return PublicCaseView(
            number=case.number, workflow=case.workflow, channel=row.channel, state=case.state,
            state_label=state.label, status_text=texts.get(case.state, state.label), final=state.final,
            received_at=case.created_at, milestones=tuple(milestones), next_steps=next_steps,
            due_at=None if state.final else case.due_at, service_label=service_label, area_label=area_label,
            may_add_note=not state.final, may_rate=state.final and row.rating is None, rating=row.rating)


def _status_texts(definition: WorkflowDefinition) -> Mapping[str, str]:
    return definition.public.states if definition.public is not None else {}


def _channel(definition: WorkflowDefinition, channel: str) -> PublicChannelSpec:
    public = definition.public
    if public is None:
        raise NotFound(f"workflow {definition.name!r} takes no complaints from the public (no public: section)",
                       field="channel", value=channel)
    spec = public.channels.get(channel)
    if spec is None:
        raise NotFound(f"workflow {definition.name!r} has no public channel {channel!r}; its channels are "
                       f"{', '.join(public.channels)}", field="channel", value=channel, accepted=list(public.channels))
    return spec


def _actor_name(channel: str) -> str:
    return f"Pelapor (kanal {channel})"


def _waiting_roles(definition: WorkflowDefinition, state: str) -> tuple[str, ...]:
    """The roles the case waits on in ``state``: those that may fire a transition out of it."""
    return tuple(dict.fromkeys(role for t in definition.transitions_from(state) for role in t.roles))


def _check_photos(connection: Connection, references: object, actor: str) -> None:
    """Every reference names a stored upload made by ``actor`` (a public sender cannot attach staff files)."""
    if not isinstance(references, list) or len(references) > MAX_NOTE_PHOTOS:
        raise InvalidInput(f"paling banyak {MAX_NOTE_PHOTOS} foto", field="foto")
    digests = []
    for reference in references:
        parsed = parse_reference(str(reference))
        if parsed is None:
            raise InvalidInput("foto tidak dikenal; unggah fotonya lagi", field="foto")
        digests.append(parsed[0])
    owners = {row.digest: row.uploaded_by for row in attachment_rows.by_digests(connection, digests)}
    if any(owners.get(digest) != actor for digest in digests):
        raise InvalidInput("foto tidak dikenal; unggah fotonya lagi", field="foto")


def _note_text(text: str, limit: int, field: str, *, required: bool) -> str:
    if not isinstance(text, str):
        raise InvalidInput(f"{field} harus berupa teks", field=field)
    text = text.strip()
    if required and not text:
        raise InvalidInput(f"{field} tidak boleh kosong", field=field)
    if len(text) > limit:
        raise InvalidInput(f"{field} terlalu panjang ({len(text)} karakter); paling banyak {limit}", field=field)
    if "\x00" in text or any(ord(c) < 32 and c not in "\n\r\t" for c in text):
        raise InvalidInput(f"{field} memuat karakter kendali yang tidak diterima", field=field)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{field} memuat teks yang bukan UTF-8", field=field) from None
    return text
