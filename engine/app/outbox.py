"""The outbox as people see it: listing, showing, re-queueing and previewing notices.

Serves ``treckk notices``/``treckk render`` with the same masking and scope rules as the case
views.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from engine.app import administration
from engine.app.runtime import Runtime
from engine.channels.registry import names as channel_names
from engine.compile.notice_context import EventFacts, Recipient, case_context
from engine.compile.workflow import CompiledWorkflow
from engine.core.masking import text_masker
from engine.core.permissions import may_view, sees_pii
from engine.core.records import CaseRecord
from engine.definition.model import COMPLAINANT
from engine.errors import InvalidInput, NotFound, PermissionDenied
from engine.notices.outbox import COMPLAINANT_NAME, complainant_of
from engine.store import body_rows, case_rows, notice_rows, staff_rows
from engine.store.notice_rows import NoticeRow
from engine.store.staff_rows import StaffMember


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def find_notice(connection: Connection, reference: str) -> NoticeRow:
    """A notice by its number (``12``) or its message id (with or without ``<>``); NotFound else."""
    text = reference.strip()
    # Short digit strings are notice numbers; anything else is a message id.
    row = notice_rows.by_id(connection, int(text)) if text.isdigit() and len(text) <= 9 else \
        notice_rows.by_message_id(connection, text.strip("<>"))
    if row is None:
        raise NotFound(f"notice {reference!r} not found; give its number or message id (see `treckk notices`)")
    return row


class _Lens:
    """What one viewer may see of the outbox: which notices, and which personal data masked."""

    def __init__(self, engine: Runtime, connection: Connection, viewer: StaffMember | None) -> None:
        self.engine = engine
        self.connection = connection
        self.viewer = viewer
        self._cases: dict[int, tuple[CaseRecord, CompiledWorkflow]] = {}

    def _case(self, case_id: int) -> tuple[CaseRecord, CompiledWorkflow]:
        if case_id not in self._cases:
            case = case_rows.case_by_id(self.connection, case_id)
            assert case is not None, "a notice refers to a case that does not exist"
            self._cases[case_id] = (case, self.engine.compiled(self.connection, case.workflow,
                                                               case.definition_version))
        return self._cases[case_id]

    def may_see(self, row: NoticeRow) -> bool:
        viewer = self.viewer
        if viewer is None or row.recipient_username == viewer.username:
            return True
        if row.case_id is None:
            # Periodic notices span every scope value; staff bound to one value do not get them.
            return viewer.scope is None
        case, compiled = self._case(row.case_id)
        return may_view(viewer.in_workflow(case.workflow), compiled.definition.roles, case.scope)

    def workflow_of(self, row: NoticeRow) -> str | None:
        """The workflow of the notice's case (None for a periodic notice)."""
        return None if row.case_id is None else self._case(row.case_id)[0].workflow

    def masker(self, row: NoticeRow) -> Callable[[str | None], str | None]:
        """Replaces the case's personal data in a text, unless the viewer may read it."""
        if row.case_id is None:
            if row.recipient_kind == COMPLAINANT:
                # A reply of a WhatsApp conversation: the citizen's number and what they were told
                # (a tracking code, too) belong to them, whoever looks at the outbox.
                return _withheld
            return lambda text: text
        case, compiled = self._case(row.case_id)
        viewer = self.viewer.in_workflow(case.workflow) if self.viewer is not None else None
        definition = compiled.definition
        return text_masker(definition.fields, case.data, sees_pii(viewer, definition.roles), definition.timezone)

    def summary(self, row: NoticeRow) -> dict[str, Any]:
        mask = self.masker(row)
        return {
            "id": row.id, "message_id": row.message_id, "case": row.case_number, "source": row.source,
            "template": row.template, "status": row.status, "channel": row.channel,
            "recipient_kind": row.recipient_kind, "recipient_name": mask(row.recipient_name),
            "recipient_username": row.recipient_username, "recipient_role": row.recipient_role,
            "address": mask(row.address), "subject": mask(row.subject), "is_html": row.is_html,
            "attempts": row.attempts, "next_attempt_at": _iso(row.next_attempt_at),
            "last_error": mask(row.last_error), "created_at": _iso(row.created_at), "sent_at": _iso(row.sent_at),
            "provider_id": row.provider_id, "receipt": row.receipt,
        }


WITHHELD = "(disembunyikan: balasan percakapan WhatsApp kepada pelapor)"


def _withheld(text: str | None) -> str | None:
    return None if text is None else WITHHELD


def _case_id(connection: Connection, number: str | None) -> int | None:
    """The id of case ``number`` (None when no case is named); NotFound when it does not exist."""
    if number is None:
        return None
    record = case_rows.existing_case(connection, number)
    return record.id


def list_notices(engine: Runtime, *, case: str | None = None, status: str | None = None,
                 viewer_name: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Notices (optionally of one case, in one status) the viewer may see, personal data masked."""
    if status is not None and status not in notice_rows.STATUSES:
        raise InvalidInput(f"unknown status {status!r}; use {', '.join(notice_rows.STATUSES)}")

    def work(connection: Connection) -> list[dict[str, Any]]:
        lens = _Lens(engine, connection, engine.viewer(connection, viewer_name))
        case_id = _case_id(connection, case)
        rows = notice_rows.list_notices(connection, case_id=case_id, status=status, limit=limit, bodies=False)
        return [lens.summary(row) for row in rows if lens.may_see(row)]

    return engine.db.read(work)


def show_notice(engine: Runtime, reference: str, viewer_name: str | None = None) -> dict[str, Any]:
    """One notice with its full text and headers, as delivered (masked for the viewer)."""
    def work(connection: Connection) -> dict[str, Any]:
        lens = _Lens(engine, connection, engine.viewer(connection, viewer_name))
        row = find_notice(connection, reference)
        if not lens.may_see(row):
            assert lens.viewer is not None
            raise PermissionDenied(f"staff {lens.viewer.username!r} may not see notice {row.id} (a case of "
                                   "another scope)")
        mask = lens.masker(row)
        view = lens.summary(row)
        view["body_digest"] = row.body_digest
        view["pruned"] = row.pruned
        if row.pruned:
            view["body"] = view["text"] = None
        else:
            from engine.channels.message import readable
            from engine.notices.delivery import outbound_of

            view["body"] = mask(row.body)
            view["text"] = mask(readable(outbound_of(row)))
        return view

    return engine.db.read(work)


def retry_notices(engine: Runtime, references: Sequence[str], *, all_failed: bool = False,
                  case: str | None = None, operator: str | None = None,
                  acting_for: str | None = None) -> list[dict[str, Any]]:
    """Make failed or pending notices due now with a fresh budget of attempts.

    ``all_failed`` re-queues every failed notice (of ``case``, when given) — after fixing a
    gateway or mail server that was refusing everything. Each retry is recorded in the
    administrators' record with its actor (``engine.app.administration.actor_label``). A staff
    member retrying (``acting_for``: the web app) must be able to see the notice (the rules of
    ``list_notices``) and hold a role with ``can: [manage_staff]`` in its workflow: retrying is
    repairing delivery (a contact, a gateway), which is the administrators' work.
    """
    if not references and not all_failed:
        raise InvalidInput("give the notice(s) to retry (number or message id), or --all-failed")

    def work(connection: Connection) -> list[dict[str, Any]]:
        now = engine.clock()
        if all_failed:
            targets = notice_rows.list_notices(connection, case_id=_case_id(connection, case),
                                               status=notice_rows.FAILED, bodies=False)
        else:
            targets = [find_notice(connection, reference) for reference in references]
        lens = _Lens(engine, connection, engine.viewer(connection, acting_for)) if acting_for else None
        actor = administration.actor_label(operator, acting_for)
        done = []
        for row in targets:
            if lens is not None:
                if not lens.may_see(row):
                    raise NotFound(f"notice {row.id} not found", field="notice", value=row.id)
                workflow = lens.workflow_of(row)
                administration.manager(engine, connection, acting_for, "retry notices", workflow)
            if row.status == notice_rows.SENT:
                raise InvalidInput(f"notice {row.id} was already sent ({_iso(row.sent_at)}); nothing to retry",
                                   field="notice", value=row.id)
            if row.status == notice_rows.UNDELIVERABLE:
                raise InvalidInput(f"notice {row.id} reached nobody (undeliverable); there is no one to retry it to",
                                   field="notice", value=row.id)
            address = _current_address(engine, connection, row)
            changed = address is not None and address != row.address
            notice_rows.requeue(connection, row.id, now, address=address if changed else None)
            administration.record(engine, connection, actor, "notice_retry", str(row.id),
                                  {"case": row.case_number, "template": row.template, "channel": row.channel,
                                   "previous_status": row.status, "address_changed": changed})
            done.append({"id": row.id, "message_id": row.message_id, "case": row.case_number,
                         "previous_status": row.status, "previous_attempts": row.attempts,
                         "last_error": row.last_error, "status": notice_rows.PENDING, "attempts": 0,
                         "next_attempt_at": _iso(now), "address_changed": changed})
        return done

    return engine.db.transaction(work)


OUTBOX_PAGE = 50
"""Notices on one page of the outbox page."""
_SCANS = 4
"""How many index ranges of a page's size one outbox page reads at most while the viewer may see few
of the notices (a kecamatan's team): the page is then shorter, and its ``next`` goes on from there."""


def notices_page(engine: Runtime, viewer_name: str, *, status: str | None = None, channel: str | None = None,
                 recipient: str | None = None, after: int | None = None,
                 limit: int = OUTBOX_PAGE) -> dict[str, Any]:
    """One page of the outbox for ``viewer_name``, newest first: ``{"notices", "next", "counts"}``.

    The same rules as ``list_notices`` (``treckk notices --as``): a member sees the notices sent to
    them, the notices of the cases they may see, and — unless bound to one scope value — the
    periodic ones; personal data is masked unless their role may read it. Filters: ``status``,
    ``channel``, ``recipient`` (a username, or ``pelapor`` for the complainant); ``after`` is the
    ``next`` of the previous page (a notice id). Each read is one range of an index (revision 0010).
    """
    if status is not None and status not in notice_rows.STATUSES:
        raise InvalidInput(f"unknown status {status!r}; use {', '.join(notice_rows.STATUSES)}", field="status",
                           value=status, accepted=notice_rows.STATUSES)
    if channel is not None and (len(channel) > 16 or not channel.isidentifier()):
        raise InvalidInput(f"bad channel {channel[:20]!r}; give a channel name such as file, webhook or smtp",
                           field="channel", value=channel[:20])
    if recipient is not None and (len(recipient) > 64 or not recipient.strip()):
        raise InvalidInput("bad recipient; give a staff username or pelapor", field="recipient",
                           value=recipient[:64])
    if limit < 1 or limit > 200:
        raise InvalidInput(f"limit must be between 1 and 200, not {limit}", field="limit", value=limit)

    def work(connection: Connection) -> dict[str, Any]:
        lens = _Lens(engine, connection, engine.viewer(connection, viewer_name))
        shown: list[dict[str, Any]] = []
        position = after
        more = False
        for _ in range(_SCANS):
            rows = notice_rows.page_newest_first(connection, status=status, channel=channel, recipient=recipient,
                                                 before=position, limit=limit)
            for row in rows:
                position = row.id
                if lens.may_see(row):
                    shown.append(lens.summary(row))
                    if len(shown) == limit:
                        break
            more = len(rows) == limit or len(shown) == limit
            if len(shown) == limit or len(rows) < limit:
                break
        if more and position is not None:
            more = notice_rows.any_before(connection, status=status, channel=channel, recipient=recipient,
                                          before=position)
        return {"notices": shown, "next": position if more else None, "channels": list(channel_names())}

    return engine.db.read(work)


def _current_address(engine: Runtime, connection: Connection, row: NoticeRow) -> str | None:
    """The recipient's contact for the notice's channel as it stands now, or None to keep the old one.

    A wrong phone number or e-mail address may have been corrected since the notice was
    rendered. The channel is kept: choosing it again would depend on the environment of whoever
    runs ``treckk notices retry``, which need not be the delivering service's.
    """
    if row.channel not in ("webhook", "smtp"):
        return None
    contact: tuple[str | None, str | None] | None = None
    if row.recipient_username is not None:
        member = staff_rows.by_username(connection, row.recipient_username)
        contact = (member.phone, member.email) if member is not None else None
    elif row.recipient_kind == COMPLAINANT and row.case_id is not None:
        case = case_rows.case_by_id(connection, row.case_id)
        if case is not None:
            found = complainant_of(engine.compiled(connection, case.workflow, case.definition_version), case)
            contact = (found[1], found[2]) if found is not None else None
    if contact is None:
        return None
    return contact[0] if row.channel == "webhook" else contact[1]


def preview(engine: Runtime, template: str, number: str, viewer_name: str | None = None) -> dict[str, Any]:
    """Render ``template`` for case ``number`` as ``viewer_name`` would receive it, without storing it.

    Without a viewer the preview shows no personal data (as ``treckk show`` without ``--as``).
    The context is the case as it stands, with its latest history event as ``event``.
    """

    def work(connection: Connection) -> dict[str, Any]:
        case = case_rows.existing_case(connection, number)
        compiled = engine.compiled(connection, case.workflow, case.definition_version)
        definition = compiled.definition
        # Who looks is checked first: a refusal says no more than `show` would.
        viewer = engine.viewer(connection, viewer_name)
        if viewer is not None:
            viewer = viewer.in_workflow(case.workflow)
            if not may_view(viewer, definition.roles, case.scope):
                field = definition.scope_field or "scope"
                raise PermissionDenied(f"staff {viewer.username!r} may not see case {number} (another {field})")
        if template not in compiled.templates.sources:
            raise NotFound(f"template {template!r} not found in {case.workflow} v{case.definition_version}; "
                           f"known templates are {', '.join(sorted(compiled.templates.sources))}")
        if any(schedule.template == template for schedule in definition.schedules):
            raise InvalidInput(f"template {template!r} is a periodic notice (digest or recap), not about one case; "
                               "it cannot be previewed with --case")
        if viewer is not None:
            recipient = Recipient("staff", viewer.name, viewer.roles[0] if viewer.roles else None,
                                  sees_pii(viewer, definition.roles), viewer.username)
        elif _sent_to_complainant(compiled, template):
            recipient = Recipient(COMPLAINANT, COMPLAINANT_NAME, None, False)
        else:
            recipient = Recipient("staff", "(pratinjau)", _first_role(compiled, template), False)
        step = _escalation_step(compiled, case.state, template)
        now = engine.clock()
        context = case_context(definition, case, recipient, now, event=_last_event(connection, compiled, case),
                               escalation_step=step, base_url=engine.base_url)
        from engine.compile.templates import TemplateFailed

        try:
            rendered = compiled.templates.render(template, context)
        except TemplateFailed as exc:
            raise InvalidInput(f"template {template!r} does not render for case {number} in state "
                               f"{case.state!r}: {exc.located()}") from exc
        return {"template": template, "case": case.number, "state": case.state, "recipient": recipient.name,
                "role": recipient.role, "masked": not recipient.sees_pii, "subject": rendered.subject,
                "is_html": rendered.is_html, "body": rendered.body}

    return engine.db.read(work)


def _uses(compiled: CompiledWorkflow, template: str) -> list[tuple[str, ...]]:
    definition = compiled.definition
    found = [n.to for n in definition.intake.notices if n.template == template]
    found += [n.to for t in definition.transitions for n in t.notices if n.template == template]
    found += [s.notify for state in definition.states.values() if state.deadline
              for s in state.deadline.escalation if s.template == template]
    return found


def _sent_to_complainant(compiled: CompiledWorkflow, template: str) -> bool:
    return any(COMPLAINANT in names for names in _uses(compiled, template))


def _first_role(compiled: CompiledWorkflow, template: str) -> str | None:
    roles = compiled.definition.roles.roles
    return next((name for names in _uses(compiled, template) for name in names if name in roles), None)


def _escalation_step(compiled: CompiledWorkflow, state: str, template: str) -> int | None:
    spec = compiled.definition.states.get(state)
    steps = spec.deadline.escalation if spec and spec.deadline else ()
    return next((index for index, step in enumerate(steps) if step.template == template), None)


def _last_event(connection: Connection, compiled: CompiledWorkflow, case: CaseRecord) -> EventFacts | None:
    history = case_rows.history(connection, case.id)
    if not history:
        return None
    event = history[-1]
    definition = compiled.definition
    if event.seq == 1 and event.trigger == definition.intake.trigger:
        label = definition.intake.label
    else:
        label = next((t.label for t in definition.transitions if t.trigger == event.trigger), event.trigger)
    actor = staff_rows.by_username(connection, event.actor)
    return EventFacts(event.trigger, label, event.from_state, event.to_state, actor.name if actor else event.actor,
                      event.role, event.at, event.comment, dict(event.input))


def prune_bodies(engine: Runtime, retention: timedelta, *, batch: int = 1000,
                 should_stop: Callable[[], bool] | None = None) -> int:
    """Delete the bodies of notices delivered longer than ``retention`` ago; how many bodies went.

    The notice rows stay, with the digest of what was sent, its status and delivery time; a body
    still needed by a notice that is pending, failed or delivered more recently is kept. Runs in
    transactions of ``batch`` bodies, so a long backlog never holds the write lock for long.
    """
    if retention <= timedelta(0):
        raise InvalidInput("the retention must be more than 0 days")
    cutoff = engine.clock() - retention
    pruned = 0
    while not (should_stop and should_stop()):
        done = engine.db.transaction(lambda connection: body_rows.prune(connection, cutoff, batch))
        pruned += done
        if done < batch:
            break
    return pruned
