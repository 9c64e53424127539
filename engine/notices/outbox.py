"""Notices: recipients resolved and notices rendered into outbox rows inside the event's transaction.

Recipients: a role (scoped roles only get the cases of their own scope value), ``@username``, or
``pelapor`` — the complainant, when a phone number or e-mail address is known (an anonymous
complainant with a contact still gets notices; without a contact nobody can be told). Each
recipient gets a notice rendered for them (personal data masked unless their role may see it),
stored with a stable message id; delivery happens later (``engine.notices.delivery``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from engine.core.records import CaseRecord
from engine.compile.workflow import CompiledWorkflow
from engine.definition.model import COMPLAINANT, STAFF_PREFIX
from engine.compile.notice_context import CaseContexts, EventFacts, Recipient
from engine.notices import channel_templates
from engine.notices.routing import Routing
from engine.store import body_rows, notice_rows, staff_rows
from engine.store.body_rows import Dictionary
from engine.store.notice_rows import UNDELIVERABLE
from engine.store.staff_rows import StaffMember

COMPLAINANT_NAME = "Pelapor"
"""How the complainant is named on a notice when they gave no name or asked to stay anonymous."""


def new_message_id() -> str:
    """A globally unique id (128 random bits), kept across retries so a receiver can drop duplicates."""
    return f"{secrets.token_hex(16)}@treckk"


def resolve_recipients(connection: Connection, compiled: CompiledWorkflow, case: CaseRecord | None,
                       names: Iterable[str]) -> list[tuple[Recipient, str | None, str | None]]:
    """(recipient, phone, email) for every name; staff are listed once even if named twice."""
    definition = compiled.definition
    seen: set[str] = set()
    found: list[tuple[Recipient, str | None, str | None]] = []

    def add_staff(member: StaffMember, role: str | None) -> None:
        if member.username in seen or not member.active:
            return
        seen.add(member.username)
        spec = definition.roles.roles.get(role or "")
        sees = spec.sees_pii if spec else any(
            definition.roles.roles[r].sees_pii for r in member.roles if r in definition.roles.roles)
        found.append((Recipient("staff", member.name, role or (member.roles[0] if member.roles else None), sees,
                                member.username), member.phone, member.email))

    complainant_added = False
    for name in names:
        if name == COMPLAINANT:
            if case is not None and not complainant_added:
                complainant_added = True
                complainant = complainant_of(compiled, case)
                if complainant is not None:
                    found.append(complainant)
        elif name.startswith(STAFF_PREFIX):
            member = staff_rows.by_username(connection, name[len(STAFF_PREFIX):], definition.name)
            if member is not None:
                add_staff(member, None)
        else:
            spec = definition.roles.roles.get(name)
            scoped = spec is not None and spec.scoped
            if scoped and (case is None or case.scope is None):
                continue
            for member in staff_rows.active_with_role(connection, definition.name, name,
                                                      case.scope if scoped and case else None):
                add_staff(member, name)
    return found


def complainant_of(compiled: CompiledWorkflow, case: CaseRecord) -> tuple[Recipient, str | None, str | None] | None:
    contact = compiled.definition.contact
    phone = case.data.get(contact.phone) if contact.phone else None
    email = case.data.get(contact.email) if contact.email else None
    if not phone and not email:
        return None
    anonymous = bool(contact.anonymous and case.data.get(contact.anonymous))
    name = case.data.get(contact.name) if contact.name else None
    # The recipient name travels in outbox rows, listings, mail headers and gateway payloads; an
    # anonymous complainant's name must not (Perpres 76/2013), their contact is enough to reach them.
    return Recipient(COMPLAINANT, COMPLAINANT_NAME if anonymous or not name else str(name), None, True), phone, email


def render_rows(compiled: CompiledWorkflow, template: str,
                recipients: Sequence[tuple[Recipient, str | None, str | None]],
                contexts: Sequence[dict[str, Any]], *, case_id: int | None, event_seq: int | None, source: str,
                routing: Routing, now: datetime) -> list[dict[str, Any]]:
    """Outbox rows for one template, one per recipient (contexts line up with recipients)."""
    rows = []
    for (recipient, phone, email), context in zip(recipients, contexts, strict=True):
        rendered = compiled.templates.render(template, context)
        channel, address = routing.route(phone, email)
        channel_data = channel_templates.template_call(compiled, template, channel, context)
        rows.append({
            "message_id": new_message_id(), "case_id": case_id, "event_seq": event_seq, "source": source,
            "template": template, "recipient_kind": recipient.kind, "recipient_name": recipient.name,
            "recipient_username": recipient.username, "recipient_role": recipient.role, "channel": channel,
            "address": address, "subject": rendered.subject, "body": rendered.body, "is_html": rendered.is_html,
            "status": "pending", "attempts": 0, "next_attempt_at": now, "last_error": None, "created_at": now,
            "sent_at": None, "channel_data": channel_data,
        })
    return rows


_dictionaries: dict[str, Dictionary | None] = {}


def body_dictionary(compiled: CompiledWorkflow) -> Dictionary | None:
    """The preset dictionary the bodies rendered from ``compiled``'s templates are compressed with (once per bundle)."""
    if compiled.digest not in _dictionaries:
        _dictionaries[compiled.digest] = body_rows.dictionary_of(compiled.bundle.templates)
    return _dictionaries[compiled.digest]


def queue(connection: Connection, compiled: CompiledWorkflow, rows: Sequence[dict[str, Any]]) -> None:
    """Queue rows rendered from ``compiled`` in the caller's transaction, each body stored once, compressed."""
    channel_templates.apply_window(connection, rows)
    notice_rows.insert_notices(connection, rows, body_dictionary(compiled))


def case_notices(connection: Connection, compiled: CompiledWorkflow, case: CaseRecord,
                 notices: Iterable[tuple[Sequence[str], str]], now: datetime, routing: Routing, *,
                 event: EventFacts | None = None, escalation_step: int | None = None,
                 source: str = "event", base_url: str = "") -> list[dict[str, Any]]:
    """Rendered outbox rows for ``(recipients, template)`` pairs about one case."""
    rows: list[dict[str, Any]] = []
    shared = CaseContexts(compiled.definition, case, now, event=event, escalation_step=escalation_step,
                          base_url=base_url)
    for names, template in notices:
        rows.extend(notice_rows_for(connection, compiled, case, names, template, shared.for_recipient,
                                    case_id=case.id, event_seq=case.version if event else None, source=source,
                                    routing=routing, now=now))
    return rows


# -- nobody left to tell ---------------------------------------------------------------------------

NO_CHANNEL = "none"
"""The channel of an undeliverable notice (it has nobody to go to)."""
FALLBACK_SUBJECT = "[Tidak tersampaikan kepada {who}] "
"""Put before the subject of the copy the fallback recipients get of a notice that reached nobody."""


def notice_rows_for(connection: Connection, compiled: CompiledWorkflow, case: CaseRecord | None,
                    names: Sequence[str], template: str, context_for: Callable[[Recipient], dict[str, Any]], *,
                    case_id: int | None, event_seq: int | None, source: str, routing: Routing,
                    now: datetime) -> list[dict[str, Any]]:
    """The outbox rows of one notice: one per recipient; when its staff recipients resolve to
    nobody active, an ``undeliverable`` row (rendered as for the first role named) and a copy for
    each of the workflow's ``fallback`` recipients."""
    recipients = resolve_recipients(connection, compiled, case, names)
    rows = render_rows(compiled, template, recipients, [context_for(r) for r, _, _ in recipients],
                       case_id=case_id, event_seq=event_seq, source=source, routing=routing, now=now)
    reason = nobody_reason(compiled, case, names, recipients)
    if reason is None:
        return rows
    definition = compiled.definition
    staff_names = [name for name in names if name != COMPLAINANT]
    role = next((name for name in staff_names if not name.startswith(STAFF_PREFIX)), None)
    spec = definition.roles.roles.get(role or "")
    placeholder = Recipient("staff", f"(tidak ada penerima: {', '.join(staff_names)})", role,
                            bool(spec and spec.sees_pii), None)
    kept = render_rows(compiled, template, [(placeholder, None, None)], [context_for(placeholder)],
                       case_id=case_id, event_seq=event_seq, source=source, routing=routing, now=now)[0]
    fallback = [found for found in resolve_recipients(connection, compiled, case, definition.fallback)
                if found[0].username not in {r.username for r, _, _ in recipients}]
    told = ", ".join(r.name for r, _, _ in fallback) or "nobody (the workflow declares no reachable fallback)"
    kept.update(status=UNDELIVERABLE, channel=NO_CHANNEL, address=None, next_attempt_at=None,
                last_error=f"nobody to tell: {reason}; a copy went to {told}")
    rows.append(kept)
    copies = render_rows(compiled, template, fallback, [context_for(r) for r, _, _ in fallback],
                         case_id=case_id, event_seq=event_seq, source=source, routing=routing, now=now)
    prefix = FALLBACK_SUBJECT.format(who=", ".join(staff_names))
    for copy in copies:
        copy["subject"] = prefix + copy["subject"]
    rows.extend(copies)
    return rows


def nobody_reason(compiled: CompiledWorkflow, case: CaseRecord | None, names: Sequence[str],
                  recipients: Sequence[tuple[Recipient, str | None, str | None]]) -> str | None:
    """Why the staff named in ``names`` resolve to nobody active, or None when someone is reached
    (or the notice names only the complainant, who may simply have left no contact)."""
    staff_names = [name for name in names if name != COMPLAINANT]
    if not staff_names or any(r.kind == "staff" for r, _, _ in recipients):
        return None
    definition = compiled.definition
    parts = []
    for name in staff_names:
        if name.startswith(STAFF_PREFIX):
            parts.append(f"{name} is disabled or unknown")
            continue
        spec = definition.roles.roles.get(name)
        if spec is not None and spec.scoped:
            value = case.scope if case is not None else None
            where = f"{definition.scope_field} {value}" if value else f"a case without {definition.scope_field}"
            parts.append(f"no active staff member with role {name} for {where}")
        else:
            parts.append(f"no active staff member with role {name}")
    return "; ".join(parts)

