"""Notices: recipients resolved and notices rendered into outbox rows inside the event's transaction.

Recipients: a role (scoped roles only get the cases of their own scope value), ``@username``, or
``pelapor`` — the complainant, when a phone number or e-mail address is known (an anonymous
complainant with a contact still gets notices; without a contact nobody can be told). Each
recipient gets a notice rendered for them (personal data masked unless their role may see it),
stored with a stable message id; delivery happens later (``engine.notices.delivery``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from engine.core.records import CaseRecord
from engine.compile.workflow import CompiledWorkflow
from engine.definition.model import COMPLAINANT, STAFF_PREFIX
from engine.compile.notice_context import CaseContexts, EventFacts, Recipient
from engine.notices.routing import Routing
from engine.store import body_rows, notice_rows, staff_rows
from engine.store.body_rows import Dictionary
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
        rows.append({
            "message_id": new_message_id(), "case_id": case_id, "event_seq": event_seq, "source": source,
            "template": template, "recipient_kind": recipient.kind, "recipient_name": recipient.name,
            "recipient_username": recipient.username, "recipient_role": recipient.role, "channel": channel,
            "address": address, "subject": rendered.subject, "body": rendered.body, "is_html": rendered.is_html,
            "status": "pending", "attempts": 0, "next_attempt_at": now, "last_error": None, "created_at": now,
            "sent_at": None,
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
        recipients = resolve_recipients(connection, compiled, case, names)
        contexts = [shared.for_recipient(recipient) for recipient, _, _ in recipients]
        rows.extend(render_rows(compiled, template, recipients, contexts, case_id=case.id,
                                event_seq=case.version if event else None, source=source, routing=routing, now=now))
    return rows
