"""La-Lisa on WhatsApp: the webhook's two doors, and processing what it stored.

``handshake`` answers the platform's verify request. ``receive`` checks a POST's
``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with the app secret, compared in constant
time) before anything else and stores the body as received; it never calls the Cloud API, so the
webhook answers at once. ``process`` (run by ``treckk serve`` and ``serve --once``) claims stored
bodies and handles each: delivery statuses update the outbox (``notices.receipt``); each message id
is handled once (the platform delivers at least once); a message moves the sender's guided
conversation (``engine.core.conversation``, its state in the database) and the replies are queued
in the outbox for the ``whatsapp`` channel, so they are delivered with retries like every notice.
A photo is downloaded through the media endpoint (size and type limited) and stored with the other
attachments before its message is handled; a download that fails for now leaves the body to be
processed again later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection

from engine.app.runtime import Runtime
from engine.channels.base import DeliveryFailure
from engine.channels.whatsapp import CloudApi, WhatsAppSettings
from engine.app.public_desk import ChannelSender, PublicCaseView, PublicDesk, Throttled, shown_code
from engine.core import conversation as talk
from engine.core.localtime import long_datetime_in, short_datetime_in
from engine.definition.model import PublicChannelSpec, PublicSpec
from engine.errors import InvalidInput, NotAllowed, NotFound, PermissionDenied, Unavailable
from engine.notices.outbox import COMPLAINANT_NAME, new_message_id
from engine.store import notice_rows, whatsapp_rows

log = logging.getLogger("treckk.whatsapp")

CHANNEL = "whatsapp"
MAX_BODY = 1024 * 1024
"""The largest webhook body accepted, in bytes (the platform's are a few kilobytes)."""
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
REPLY_TEMPLATE = "whatsapp:balasan"
"""The outbox's ``template`` of a conversation reply (it is not rendered from a template file)."""
REPLY_SOURCE = "whatsapp"  # in engine.notices.delivery.FORGOTTEN_ONCE_SENT: its text goes once sent
INBOX_BATCH = 20
INBOX_LEASE = timedelta(minutes=5)
DEFAULT_IDLE = timedelta(minutes=60)
STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_.=:+/-]{1,128}")
_WA_ID = re.compile(r"[0-9]{5,20}")


def signature_of(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value the platform sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Processed:
    """What one ``process`` run did."""

    bodies: int = 0
    messages: int = 0
    duplicates: int = 0
    statuses: int = 0
    cases: tuple[str, ...] = ()
    retried: int = 0


@dataclass
class _Tally:
    messages: int = 0
    duplicates: int = 0
    statuses: int = 0
    cases: list[str] = field(default_factory=list)


class WhatsAppDesk:
    """The WhatsApp intake of one application (None settings: WhatsApp is not configured)."""

    def __init__(self, engine: Runtime, settings: WhatsAppSettings | None, *, public: PublicDesk,
                 store_photo: Callable[[bytes, str], str], idle: timedelta = DEFAULT_IDLE,
                 max_photo_bytes: int = 5 * 1024 * 1024) -> None:
        """``public`` is the public intake desk (``application.public``); ``store_photo(data, name)``
        keeps a photo as an attachment of ``pelapor:whatsapp`` and returns its reference (or raises InvalidInput)."""
        self.engine = engine
        self.settings = settings
        self.public = public
        self.store_photo = store_photo
        self.idle = idle
        self.max_photo_bytes = max_photo_bytes

    # -- the webhook -----------------------------------------------------------------------------
    def _configured(self) -> WhatsAppSettings:
        if self.settings is None:
            raise Unavailable("WhatsApp is not configured here (its settings are not set; see docs/whatsapp.md)")
        return self.settings

    def handshake(self, mode: str | None, token: str | None, challenge: str | None) -> str:
        """The challenge to echo when the verify request is right; PermissionDenied otherwise."""
        settings = self._configured()
        if mode != "subscribe" or token is None or challenge is None or not hmac.compare_digest(
                token.encode("utf-8"), settings.verify_token.encode("utf-8")):
            raise PermissionDenied("the verify request does not match this webhook")
        if len(challenge) > 256 or not challenge.isprintable():
            raise InvalidInput("hub.challenge is not a short printable text", field="hub.challenge")
        return challenge

    def check_signature(self, body: bytes, signature: str | None) -> None:
        """PermissionDenied unless ``signature`` is the body's HMAC with the app secret."""
        settings = self._configured()
        expected = signature_of(settings.app_secret, body)
        if signature is None or not hmac.compare_digest(signature.strip().encode("utf-8", "replace"),
                                                        expected.encode("ascii")):
            raise PermissionDenied("the X-Hub-Signature-256 of this request is missing or wrong", field="signature")

    def receive(self, body: bytes, signature: str | None) -> int:
        """Check the signature, then keep the body for processing; its inbox id. Nothing else happens here."""
        self.check_signature(body, signature)
        if len(body) > MAX_BODY:
            raise InvalidInput(f"the body is larger than {MAX_BODY} bytes", field="body")
        now = self.engine.clock()
        return int(self.engine.db.transaction(lambda connection: whatsapp_rows.store_inbox(connection, body, now)))

    def stored(self) -> int:
        """How many webhook bodies are stored."""
        return int(self.engine.db.read(whatsapp_rows.count_inbox))

    # -- processing --------------------------------------------------------------------------------
    def process(self, *, limit: int = 100, should_stop: Callable[[], bool] | None = None) -> Processed:
        """Handle up to ``limit`` stored bodies that are due."""
        if self.settings is None:
            return Processed()
        stop = should_stop or (lambda: False)
        policy = self.engine.delivery
        tally = _Tally()
        bodies = retried = 0
        while bodies < limit and not stop():
            now = self.engine.clock()
            claimed = self.engine.db.transaction(lambda connection: whatsapp_rows.claim_inbox(
                connection, now, now + INBOX_LEASE, min(INBOX_BATCH, limit - bodies), policy.max_attempts))
            if not claimed:
                break
            for row in claimed:
                bodies += 1
                try:
                    self._body(row.body, tally)
                except Exception as failure:  # noqa: BLE001 - one body must not stop the others; it is tried again
                    retried += 1
                    retry_at = self.engine.clock() + policy.delay(row.attempts, f"inbox-{row.id}")
                    if isinstance(failure, (DeliveryFailure, Unavailable)):
                        log.warning("whatsapp body %d: %s; tried again later", row.id, failure)
                    else:
                        log.exception("whatsapp body %d could not be processed; tried again later", row.id)
                    error = f"{type(failure).__name__}: {failure}"
                    self.engine.db.transaction(lambda connection: whatsapp_rows.fail_inbox(
                        connection, row.id, retry_at, error))
                    continue
                done = self.engine.clock()
                self.engine.db.transaction(lambda connection: whatsapp_rows.finish_inbox(connection, row.id, done))
        return Processed(bodies, tally.messages, tally.duplicates, tally.statuses, tuple(tally.cases), retried)

    def _body(self, body: bytes, tally: _Tally) -> None:
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            log.warning("whatsapp: a signed body is not JSON; ignored")
            return
        for value in _values(payload):
            profiles = {str(c.get("wa_id")): str((c.get("profile") or {}).get("name") or "")
                        for c in value.get("contacts") or [] if isinstance(c, dict)}
            for status in value.get("statuses") or []:
                if isinstance(status, dict) and self._status(status):
                    tally.statuses += 1
            for message in value.get("messages") or []:
                if not isinstance(message, dict):
                    continue
                outcome = self._message(message, profiles)
                if outcome is None:
                    tally.duplicates += 1
                else:
                    tally.messages += 1
                    if outcome:
                        tally.cases.append(outcome)

    def _status(self, status: dict[str, Any]) -> bool:
        wamid, state = status.get("id"), status.get("status")
        if not isinstance(wamid, str) or state not in STATUS_RANK:
            return False
        errors = status.get("errors") or []
        error = None
        if state == "failed":
            first = errors[0] if errors and isinstance(errors[0], dict) else {}
            error = (f"WhatsApp reported the message as failed: {first.get('code', '')} "
                     f"{first.get('title') or first.get('message') or ''}").strip()[:500]

        def work(connection: Connection) -> bool:
            known = notice_rows.receipt_of(connection, wamid)
            if known is None:
                return False
            if known and STATUS_RANK.get(known, 0) >= STATUS_RANK[str(state)]:
                return True  # a late "delivered" after "read" changes nothing
            return notice_rows.record_receipt(connection, wamid, str(state), error=error)

        return bool(self.engine.db.transaction(work))

    def _message(self, message: dict[str, Any], profiles: dict[str, str]) -> str | None:
        """Handle one message; None when it was seen before, the case number when one was filed, else ""."""
        message_id, sender = message.get("id"), message.get("from")
        if not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id) \
                or not isinstance(sender, str) or not _WA_ID.fullmatch(sender):
            log.warning("whatsapp: a message without a usable id or sender; ignored")
            return ""
        now = self.engine.clock()
        seen_before, current = self.engine.db.read(lambda connection: (
            whatsapp_rows.is_seen(connection, message_id), whatsapp_rows.conversation(connection, sender)))
        if seen_before:
            return None
        incoming = self._incoming(message, profiles.get(sender, ""))
        expired = current is not None and current.updated_at + self.idle < now
        replies: list[str] = [talk.expired_text()] if expired else []
        if current is None or expired:
            turn = talk.begin(self._form(), incoming, self._open_cases(sender))
        else:
            turn = talk.step(self._form(), current.step, json.loads(current.data), incoming)
        replies.extend(turn.replies)
        filed = ""
        if turn.action is not None:
            answer, filed = self._act(turn.action, sender, message_id)
            replies.extend(answer)
        heard = _moment(message.get("timestamp"), now)

        def record(connection: Connection) -> bool:
            if not whatsapp_rows.first_sighting(connection, message_id, now):
                return False
            whatsapp_rows.heard_from(connection, sender, heard)
            if turn.step is None:
                whatsapp_rows.end_conversation(connection, sender)
            else:
                whatsapp_rows.save_conversation(connection, sender, turn.step, json.dumps(turn.data), now)
            notice_rows.insert_notices(connection, [_reply_row(sender, text, now) for text in replies if text])
            return True

        if not self.engine.db.transaction(record):
            if filed:
                # Another runner handled the same message at the same moment. Its submission and ours
                # were one case (same idempotency key), but ours issued the code that now works: send it.
                receipt = [text for text in replies if talk.RECEIPT_MARK in text]
                self.engine.db.transaction(lambda connection: notice_rows.insert_notices(
                    connection, [_reply_row(sender, text, now) for text in receipt]))
            return None
        return filed

    def _incoming(self, message: dict[str, Any], profile_name: str) -> talk.Incoming:
        kind = message.get("type")
        if kind == "text":
            body = (message.get("text") or {}).get("body")
            return talk.Incoming("text", text=str(body or "")[:4096], profile_name=profile_name)
        if kind == "location":
            where = message.get("location") or {}
            latitude, longitude = _number(where.get("latitude")), _number(where.get("longitude"))
            if latitude is None or longitude is None or not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
                return talk.Incoming("other", profile_name=profile_name)
            place = ", ".join(str(where.get(k)) for k in ("name", "address") if where.get(k))
            return talk.Incoming("location", latitude=latitude, longitude=longitude, place=place[:500],
                                 profile_name=profile_name)
        if kind == "interactive":
            reply = message.get("interactive") or {}
            chosen = reply.get("button_reply") or reply.get("list_reply") or {}
            return talk.Incoming("text", text=str(chosen.get("id") or chosen.get("title") or ""),
                                 profile_name=profile_name)
        if kind == "image":
            image = message.get("image") or {}
            caption = str(image.get("caption") or "")[:2000]
            try:
                reference = self._photo(str(image.get("id") or ""))
            except _Refused as refused:
                return talk.Incoming("refused_photo", text=caption, problem=str(refused), profile_name=profile_name)
            return talk.Incoming("photo", text=caption, photo=reference, profile_name=profile_name)
        return talk.Incoming("other", profile_name=profile_name)

    def _photo(self, media_id: str) -> str:
        """Download and store one photo; _Refused when it cannot be accepted; DeliveryFailure (temporary) bubbles."""
        api = CloudApi(self._configured())
        try:
            data, media_type = api.media(media_id, max_bytes=self.max_photo_bytes, accepted=PHOTO_TYPES)
        except DeliveryFailure as failure:
            if failure.permanent:
                raise _Refused("hanya foto JPEG, PNG atau WebP sampai "
                               f"{self.max_photo_bytes // (1024 * 1024)} MB yang diterima") from None
            raise
        finally:
            api.close()
        try:
            return self.store_photo(data, f"whatsapp.{media_type.rsplit('/', 1)[-1]}")
        except InvalidInput as refused:
            raise _Refused(str(refused)) from None

    def _form(self) -> talk.IntakeForm:
        definition, spec = self.public.public_spec()
        inputs = {i.field for i in _channel_of(spec).inputs}

        def choices(name: str | None) -> tuple[tuple[str, str], ...]:
            field = definition.fields.get(name or "")
            if field is None or name not in inputs:
                return ()
            return tuple((value, label) for value, label in field.choices.items())

        return talk.IntakeForm(scope_choices=choices(definition.scope_field), service_choices=choices(spec.services),
                               has_photos=spec.photos is not None and spec.photos in inputs)

    def _open_cases(self, sender: str) -> tuple[str, ...]:
        return tuple(view.number for view in self.public.open_cases_of(CHANNEL, sender))

    def _act(self, action: talk.Action, sender: str, message_id: str) -> tuple[list[str], str]:
        desk = self.public
        if isinstance(action, talk.Status):
            try:
                view = desk.track_by_contact(action.number, CHANNEL, sender)
            except NotFound:
                return [f"Aduan {action.number} tidak ditemukan untuk nomor WhatsApp ini."], ""
            zone = desk.public_spec(view.workflow)[0].timezone
            return [tracking_text(view, zone)], ""
        if isinstance(action, talk.AddNote):
            try:
                desk.add_note(action.number, ChannelSender(CHANNEL, sender), action.text,
                              attachments=action.photos)
            except (InvalidInput, NotAllowed, NotFound) as error:
                return [f"Keterangan tidak dapat ditambahkan pada {action.number}: {error}"], ""
            return [f"Keterangan Anda sudah ditambahkan pada aduan {action.number}. Terima kasih."], ""
        values = self._values(action, sender)
        try:
            receipt = desk.submit(CHANNEL, values, idempotency_key=f"whatsapp:{message_id}", contact_address=sender,
                                  client=f"whatsapp:{sender}")
        except Throttled:
            return ["Sudah terlalu banyak aduan dari nomor ini dalam waktu singkat. Coba lagi beberapa saat lagi."], ""
        except (InvalidInput, PermissionDenied, NotFound) as error:
            log.warning("whatsapp: the complaint of a conversation was refused: %s", error)
            return ["Maaf, aduan belum dapat dicatat. Kirim pesan apa saja untuk mencoba lagi."], ""
        return [talk.receipt_text(receipt.number, shown_code(receipt.tracking_code), action.anonymous)], receipt.number

    def _values(self, action: talk.Submit, sender: str) -> dict[str, object]:
        """The intake values of a finished conversation, only for fields the channel takes."""
        definition, spec = self.public.public_spec()
        inputs = {i.field for i in _channel_of(spec).inputs}
        contact = definition.contact
        given: dict[str | None, object] = {
            spec.description: action.description, spec.location: action.location, spec.pin: action.pin,
            definition.scope_field: action.scope, spec.services: action.service,
            spec.photos: list(action.photos) or None, contact.anonymous: action.anonymous,
            contact.name: action.name, contact.phone: "+" + sender,
        }
        return {name: value for name, value in given.items()
                if name is not None and name in inputs and value is not None}


def _channel_of(spec: PublicSpec) -> PublicChannelSpec:
    channel = spec.channels.get(CHANNEL)
    if channel is None:
        raise NotFound("the workflow takes no complaints by WhatsApp (public.channels has no whatsapp)")
    return channel


def tracking_text(view: PublicCaseView, zone: str) -> str:
    """The tracking page's text, for a WhatsApp reply: state, milestones in the workflow's zone, what comes next."""
    lines = [f"Aduan {view.number}", f"Status: {view.state_label}", view.status_text]
    if view.service_label or view.area_label:
        lines.append(" · ".join(part for part in (view.service_label, view.area_label) if part))
    if view.milestones:
        lines.append("")
        lines.append("Perjalanan aduan:")
        lines.extend(f"- {short_datetime_in(m.at, zone)}: {m.label}" for m in view.milestones)
    if not view.final and view.next_steps:
        lines.append("")
        lines.append("Berikutnya: " + ", ".join(view.next_steps))
    if view.due_at is not None:
        lines.append(f"Batas waktu tahap ini: {long_datetime_in(view.due_at, zone)}")
    if view.may_add_note:
        lines.append("Untuk menambahkan keterangan atau foto, kirim saja pesan ke nomor ini.")
    return "\n".join(line for line in lines if line is not None)


class _Refused(Exception):
    """A photo that cannot be accepted (too large, not a photo): said to the sender, not retried."""


def _values(payload: Any) -> list[dict[str, Any]]:
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        return []
    found = []
    for entry in payload.get("entry") or []:
        for change in (entry.get("changes") or []) if isinstance(entry, dict) else []:
            if isinstance(change, dict) and change.get("field") == "messages" and isinstance(change.get("value"), dict):
                found.append(change["value"])
    return found


def _number(value: Any) -> float | None:
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _moment(timestamp: Any, now: datetime) -> datetime:
    """The message's time (unix seconds), never later than now; now when unreadable."""
    try:
        moment = datetime.fromtimestamp(int(str(timestamp)), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return now
    return min(moment, now)


def _reply_row(address: str, text: str, now: datetime) -> dict[str, Any]:
    """An outbox row for one conversation reply (free text: the sender just wrote, so the window is open)."""
    subject = text.strip().splitlines()[0][:200] if text.strip() else "La-Lisa"
    return {
        "message_id": new_message_id(), "case_id": None, "event_seq": None, "source": REPLY_SOURCE,
        "template": REPLY_TEMPLATE, "recipient_kind": "pelapor", "recipient_name": COMPLAINANT_NAME,
        "recipient_username": None, "recipient_role": None, "channel": CHANNEL, "address": address,
        "subject": subject, "body": text, "is_html": False, "status": notice_rows.PENDING, "attempts": 0,
        "next_attempt_at": now, "last_error": None, "created_at": now, "sent_at": None,
    }

