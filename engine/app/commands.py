"""The one door through which cases change: one database transaction per command.

A command loads the case, checks the definition and the actor's role, fires the shared state
machine, computes the new deadline, renders the notices, and writes state, history event,
deadline and outbox rows together — or nothing at all.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from engine.app import administration
from engine.app.migration_batches import BATCH_SIZE, MigrationProgress, check_state_map, migrate_running
from engine.app.account_seals import seal_accounts
from engine.app.runtime import Runtime
from engine.core import fields as field_values
from engine.core.deadlines import deadline_on_entry
from engine.core.records import CaseRecord, EventRecord, enter_state
from engine.compile.workflow import Bundle, CompiledWorkflow, bundle_from_files, compile_bundle
from engine.definition.model import InputSpec, TransitionSpec, WorkflowDefinition
from engine.errors import Conflict, InvalidInput, NotAllowed, NotFound, PermissionDenied
from engine.core.integrity import sealed
from engine.core.log_entries import LogEntry, deploy_entry, event_entry
from engine.compile.notice_context import EventFacts
from engine.notices.outbox import case_notices, nobody_reason, queue, resolve_recipients
from engine.core.permissions import acting_role, capable_role, may_view
from engine.store import case_rows, definition_rows, log_rows, notice_rows, staff_rows
from engine.store.definition_rows import StoredDefinition
from engine.store.staff_rows import StaffMember

if TYPE_CHECKING:
    from engine.app.escalation import EscalationFired
    from engine.app.reports import ScheduleRun
    from engine.channels.base import ChannelSet
    from engine.notices.delivery import DeliveryReport
    from engine.notices.policy import DeliveryPolicy

SYSTEM_ACTOR = administration.SYSTEM_ACTOR
MIGRATION_TRIGGER = "migrasi"
MAX_COMMENT_LENGTH = 4000
"""The longest comment a move or an intake accepts, in characters."""


class Commands(Runtime):
    """The one door for every change: intake, moves, escalation steps, schedule runs, notice delivery and
    retry, staff, deploy and migrate — each one transaction on the runtime's database."""

    def deploy(self, path: Path, actor: str | None) -> tuple[StoredDefinition, bool]:
        """Validate and store a new version; (stored, False) when that content is already deployed."""
        return self.deploy_bundle(bundle_from_files(path), actor)

    def deploy_bundle(self, bundle: Bundle, actor: str | None, *,
                      workflow: str | None = None) -> tuple[StoredDefinition, bool]:
        """``deploy`` of a bundle held as text (the web editor's); ``workflow`` refuses a bundle that
        names another workflow (an edit of one workflow must not deploy as a new one)."""
        compiled = compile_bundle(bundle, self.cache)
        definition = compiled.definition
        path = bundle.workflow_path
        if workflow is not None and definition.name != workflow:
            raise InvalidInput(f"{path}: the edited file names workflow {definition.name!r}, not {workflow!r}; "
                               f"write `workflow: {workflow}` to deploy it as a new version of {workflow!r}",
                               field="workflow", value=definition.name, accepted=(workflow,))
        now = self.clock()

        def work(connection: Connection) -> tuple[StoredDefinition, bool]:
            current = definition_rows.latest(connection, definition.name)
            if actor is not None:
                # Who may deploy is decided by the version in service, not by the file being deployed
                # (which could grant its author the capability); the first version decides for itself.
                governing = (definition.roles if current is None
                             else self.compiled(connection, definition.name).definition.roles)
                capable_role(self._staff(connection, actor, definition.name), governing, "deploy",
                             "deploy definitions")
            if current is not None and current.digest == compiled.digest:
                return current, False
            if current is not None and definition.version <= current.version:
                raise InvalidInput(
                    f"{path}: version {definition.version} of workflow {definition.name!r} is not newer than the "
                    f"deployed version {current.version}; raise `version:` to {current.version + 1} to deploy it")
            stored = StoredDefinition(definition.name, definition.version, compiled.digest, compiled.bundle.to_json(),
                                      now, actor or SYSTEM_ACTOR)
            definition_rows.insert_version(connection, stored)
            log_rows.append(connection, [deploy_entry(stored.workflow, stored.version, stored.digest)])
            return stored, True

        try:
            return self.db.transaction(work)
        except IntegrityError as exc:
            # Another runner deployed at the same moment (two `treckk init` starting together):
            # the same content is then already there, anything else is a real conflict.
            current = self.db.transaction(lambda connection: definition_rows.latest(connection, definition.name))
            if current is not None and current.digest == compiled.digest:
                return current, False
            raise Conflict(f"version {definition.version} of workflow {definition.name!r} was deployed by a "
                           "concurrent command with other content; run deploy again to see where it stands") from exc

    # -- staff ----------------------------------------------------------------------------
    def add_staff(self, username: str, name: str, roles: Sequence[str], scope: str | None,
                  phone: str | None, email: str | None, workflow: str | None = None, *,
                  operator: str | None = None, acting_for: str | None = None) -> StaffMember:
        """Register a staff member with roles in one workflow; roles and scope are checked against it.
        ``operator`` (who ran the command, e.g. ``os:root``) is recorded with the member; with
        ``acting_for`` the operator acts on behalf of that staff member, who must hold ``manage_staff``."""
        # ASCII only: a Cyrillic 'е' in "adminе" looks like "admin" and must not pass as another account.
        if not username or len(username) > _USERNAME_LIMIT or not _USERNAME.fullmatch(username):
            raise InvalidInput(f"bad username {username!r}; use up to {_USERNAME_LIMIT} ASCII letters, digits, '.', '_' "
                               "or '-'", field="username", value=username)
        _check_name(name)
        if not roles:
            raise InvalidInput("a staff member needs at least one --role")

        def work(connection: Connection) -> StaffMember:
            definition = self.compiled(connection, self.workflow_for_new(connection, workflow)).definition
            administration.manager(self, connection, acting_for, "add staff", definition.name)
            bound = _grant_scope(definition, roles, scope)
            normal_phone, normal_email = _contacts(phone, email)
            if staff_rows.by_username(connection, username) is not None:
                raise Conflict(f"staff {username!r} already exists", field="username", value=username)
            actor = administration.actor_label(operator, acting_for)
            added_by = None if operator is None and acting_for is None else actor
            staff_id = staff_rows.add_staff(connection, username, name, normal_phone, normal_email, self.clock(),
                                            None if added_by is None else added_by[:128])
            staff_rows.set_grants(connection, staff_id, definition.name, roles, bound)
            member = self._staff(connection, username)
            administration.record(self, connection, actor, "staff_added", username,
                                  {"name": name, **_grants_detail(member)})
            seal_accounts(connection, [username])
            return member

        try:
            return self.db.transaction(work)
        except IntegrityError as exc:
            raise Conflict(f"staff {username!r} already exists (added by a concurrent command)") from exc

    def update_staff(self, username: str, *, name: str | None = None, roles: Sequence[str] | None = None,
                     scope: str | None = None, phone: str | None = None, email: str | None = None,
                     workflow: str | None = None, expected_revision: int | None = None,
                     operator: str | None = None, acting_for: str | None = None) -> StaffMember:
        """Change a member's name, contacts, or roles and scope in one workflow (what is not given stays).

        With ``expected_revision`` the change is made only if nobody changed the member since that
        revision was read (Conflict otherwise, nothing written): two administrators editing the same
        member at once cannot overwrite each other. ``operator``/``acting_for`` as in ``add_staff``;
        the change is recorded with its actor and what changed.
        """

        def work(connection: Connection) -> StaffMember:
            member = self._staff(connection, username)
            changes: dict[str, Any] = {}
            if roles is not None or scope is not None:
                definition = self.compiled(connection, self.workflow_for_new(connection, workflow)).definition
                administration.manager(self, connection, acting_for, "change staff", definition.name)
                current = member.in_workflow(definition.name)
                new_roles = list(roles) if roles is not None else list(current.roles)
                if not new_roles:
                    raise InvalidInput(f"staff {username!r} holds no role in workflow {definition.name!r}; "
                                       "give --role", field="role")
                bound = _grant_scope(definition, new_roles, scope if scope is not None else current.scope)
                _refuse_own_manager_loss(self, connection, member, acting_for, definition, new_roles)
                staff_rows.set_grants(connection, member.id, definition.name, new_roles, bound)
                if set(new_roles) != set(current.roles) or bound != current.scope:
                    changes.update({"workflow": definition.name, "roles": list(dict.fromkeys(new_roles)),
                                    "scope": bound, "roles_before": list(current.roles),
                                    "scope_before": current.scope})
            else:
                administration.manager(self, connection, acting_for, "change staff")
            if name is not None:
                _check_name(name)
            new_phone, new_email = _contacts(phone, email)
            details = {"name": name if name else member.name,
                       "phone": new_phone if phone is not None else member.phone,
                       "email": new_email if email is not None else member.email}
            for key, value in details.items():
                if value != getattr(member, key):
                    changes[key] = value
            if not staff_rows.raise_revision(connection, member.id, expected_revision):
                raise Conflict(f"staff {username!r} was changed by someone else since revision {expected_revision} "
                               "was read; reload and make the change again", field="revision",
                               value=expected_revision)
            staff_rows.update_details(connection, member.id, name=str(details["name"]), phone=details["phone"],
                                      email=details["email"])
            if changes:
                administration.record(self, connection, administration.actor_label(operator, acting_for),
                                      "staff_updated", username, changes)
            seal_accounts(connection, [username])
            return self._staff(connection, username)

        return self.db.transaction(work)

    def set_staff_active(self, username: str, active: bool, *, expected_revision: int | None = None,
                         operator: str | None = None, acting_for: str | None = None) -> None:
        """Enable or disable a member; a disabled member can neither act nor receive notices (and their
        web sessions end). ``expected_revision``, ``operator`` and ``acting_for`` as in ``update_staff``;
        nobody disables themselves (the last administrator would lock everyone out)."""

        def work(connection: Connection) -> None:
            administration.manager(self, connection, acting_for, "disable or enable staff")
            member = staff_rows.by_username(connection, username)
            if member is None:
                raise NotFound(f"staff {username!r} not found", field="username", value=username)
            if not active and acting_for == username:
                raise NotAllowed("you cannot disable yourself; ask another administrator", field="username",
                                 value=username)
            if not staff_rows.raise_revision(connection, member.id, expected_revision):
                raise Conflict(f"staff {username!r} was changed by someone else since revision {expected_revision} "
                               "was read; reload and try again", field="revision", value=expected_revision)
            staff_rows.set_active(connection, username, active)
            if member.active != active:
                administration.record(self, connection, administration.actor_label(operator, acting_for),
                                      "staff_enabled" if active else "staff_disabled", username)
            seal_accounts(connection, [username])

        self.db.transaction(work)

    def disable_staff(self, username: str) -> None:
        """Disable a member (``set_staff_active(username, False)``)."""
        self.set_staff_active(username, False)

    def resolve_workflow(self, workflow: str | None) -> str:
        """``workflow_for_new`` in a transaction of its own."""
        return self.db.transaction(lambda connection: self.workflow_for_new(connection, workflow))

    def workflow_for_new(self, connection: Connection, workflow: str | None) -> str:
        """The workflow a new case or staff grant goes to: the one named, or the only one deployed."""
        if workflow:
            return workflow
        deployed = definition_rows.workflows(connection)
        if len(deployed) == 1:
            return deployed[0]
        if not deployed:
            raise NotFound("no workflow is deployed; run `treckk init` or `treckk deploy`", field="workflow",
                           hint="deploy a workflow first")
        raise InvalidInput(f"several workflows are deployed ({', '.join(deployed)}); choose one with --workflow",
                           field="workflow", accepted=deployed)

    # -- commands -------------------------------------------------------------------------
    def submit(self, actor: str, values: Mapping[str, object], *, workflow: str | None = None,
               comment: str | None = None, idempotency_key: str | None = None) -> CaseRecord:
        """Open a case in the initial state; returns it as stored."""
        _check_comment(comment)
        _check_key(idempotency_key)
        try:
            return self.db.transaction(lambda connection: self._submit(
                connection, actor, values, workflow, comment, idempotency_key))
        except IntegrityError as exc:
            raise Conflict("a concurrent command took the same case number or key; try again") from exc

    def _submit(self, connection: Connection, actor: str, values: Mapping[str, object], workflow: str | None,
                comment: str | None, idempotency_key: str | None) -> CaseRecord:
        compiled = self.compiled(connection, self.workflow_for_new(connection, workflow))
        definition = compiled.definition
        member = self._staff(connection, actor, definition.name)
        intake = definition.intake
        if not member.active or not any(role in intake.roles for role in member.roles):
            # Refuse before reading the values (the scope check needs them, this one does not).
            acting_role(member, intake.roles, definition.roles, None, "record a complaint")
        if idempotency_key:
            case_rows.lock_intake_key(connection, idempotency_key)
            earlier = case_rows.intake_event_by_key(connection, idempotency_key)
            if earlier is not None:
                if earlier.actor != member.username:
                    raise Conflict(f"idempotency key {idempotency_key!r} was already used by another staff member")
                existing = case_rows.case_by_id(connection, earlier.case_id)
                assert existing is not None
                return existing
        data = _parse_inputs(definition, intake.inputs, values, f"recording a complaint ({intake.trigger})")
        scope = data.get(definition.scope_field) if definition.scope_field else None
        role = acting_role(member, intake.roles, definition.roles, scope, "record a complaint")
        return self.open_case(connection, compiled, data, member.username, role, member.name, comment,
                              idempotency_key)

    def open_case(self, connection: Connection, compiled: CompiledWorkflow, data: dict[str, Any], actor: str,
                  role: str, actor_name: str, comment: str | None, idempotency_key: str | None,
                  before_log: Callable[[CaseRecord], None] | None = None) -> CaseRecord:
        """Write a new case of checked ``data`` in the initial state, its intake event, notices and log leaf.

        ``before_log`` runs with the new case just before its log leaf is appended (rows that belong
        with the case, e.g. a public case's tracking code, are written in the same transaction).
        """
        definition = compiled.definition
        intake = definition.intake
        scope = data.get(definition.scope_field) if definition.scope_field else None
        now = self.clock()
        number = case_rows.next_number(connection, definition.number_prefix, _local_year(definition, now))
        case = CaseRecord(
            id=0, number=number, workflow=definition.name, definition_version=definition.version,
            definition_digest=compiled.digest, state=definition.initial, data=data, scope=scope,
            version=1, created_at=now, updated_at=now, state_entered_at=now, state_entry=1,
        )
        self._enter(compiled, case, definition.initial, now)
        event = sealed(number, EventRecord(0, 1, intake.trigger, None, definition.initial, actor, role,
                                           now, dict(data), comment, idempotency_key, ""))
        case.last_hash = event.hash
        case.id = case_rows.insert_case(connection, case)
        case_rows.insert_event(connection, replace(event, case_id=case.id), case)
        facts = EventFacts(intake.trigger, intake.label, None, definition.initial, actor_name, role, now, comment,
                           data)
        rows = case_notices(connection, compiled, case, ((n.to, n.template) for n in intake.notices), now,
                            self.routing, event=facts, base_url=self.base_url)
        queue(connection, compiled, rows)
        case.undelivered = undelivered(rows)
        if before_log is not None:
            before_log(case)
        _log_event(connection, case, event)  # last: the log head stays locked from here to the commit
        return case

    def record_remark(self, connection: Connection, compiled: CompiledWorkflow, case: CaseRecord, trigger: str,
                      label: str, actor: str, role: str, actor_name: str, given: dict[str, Any],
                      comment: str | None, notices: Sequence[tuple[Sequence[str], str]] = (), *,
                      into_data: bool = True) -> EventRecord:
        """Append an event that leaves the state as it is (a complainant's note or rating): ``given``
        is its input, merged into the data unless ``into_data`` is false; the deadline runs on;
        notices queued; sealed into the chain and the log."""
        _check_comment(comment)
        previous_version = case.version
        now = self.clock()
        if into_data:
            case.data = {**case.data, **given}
        case.version = previous_version + 1
        case.updated_at = now
        event = sealed(case.number, EventRecord(case.id, case.version, trigger, case.state, case.state, actor, role,
                                                now, given, comment, None, case.last_hash))
        case.last_hash = event.hash
        if not case_rows.save_case(connection, case, previous_version):
            raise Conflict(f"case {case.number} was changed by someone else at the same time; try again")
        case_rows.insert_event(connection, event, case)
        facts = EventFacts(trigger, label, case.state, case.state, actor_name, role, now, comment, given)
        rows = case_notices(connection, compiled, case, notices, now, self.routing, event=facts,
                            base_url=self.base_url)
        queue(connection, compiled, rows)
        case.undelivered = undelivered(rows)
        _log_event(connection, case, event)  # last: the log head stays locked from here to the commit
        return event

    def advance(self, number: str, trigger: str, actor: str, values: Mapping[str, object] | None = None, *,
                comment: str | None = None, expect_version: int | None = None,
                idempotency_key: str | None = None) -> CaseRecord:
        """Fire ``trigger`` on case ``number`` as ``actor``; returns the case as stored after it."""
        _check_comment(comment)
        _check_key(idempotency_key)
        try:
            return self.db.transaction(lambda connection: self._advance(
                connection, number, trigger, actor, values or {}, comment, expect_version, idempotency_key))
        except IntegrityError as exc:
            # Two commands with the same idempotency key, or a racing writer, met a unique key.
            raise Conflict(f"case {number} was changed by a concurrent command; reload it and try again") from exc

    def _advance(self, connection: Connection, number: str, trigger: str, actor: str, values: Mapping[str, object],
                 comment: str | None, expect_version: int | None, idempotency_key: str | None) -> CaseRecord:
        case = case_rows.existing_case(connection, number)
        number = case.number  # as stored (and sealed into its history), whatever case it was typed in
        compiled = self.compiled(connection, case.workflow, case.definition_version)
        definition = compiled.definition
        member = self._staff(connection, actor, case.workflow)
        if not member.active:
            raise PermissionDenied(f"staff {actor!r} is disabled and cannot fire {trigger!r} on {number}")
        if not may_view(member.in_workflow(case.workflow), definition.roles, case.scope):
            # The same answer `show` gives: no state, trigger or field of a case one may not see.
            field = definition.scope_field or "scope"
            raise PermissionDenied(f"staff {member.username!r} may not see case {number} (another {field})")
        if idempotency_key:
            earlier = case_rows.event_by_key(connection, case.id, idempotency_key)
            if earlier is not None:
                if earlier.trigger != trigger or earlier.actor != member.username:
                    raise Conflict(f"idempotency key {idempotency_key!r} was already used on case {number} for "
                                   f"trigger {earlier.trigger!r} by {earlier.actor!r}")
                return case
        if expect_version is not None and expect_version != case.version:
            raise Conflict(f"case {number} is at version {case.version}, not {expect_version}; someone changed it "
                           "first — reload it and try again", field="version", value=case.version)
        candidates = [t for t in definition.transitions_from(case.state) if t.trigger == trigger]
        if not candidates:
            raise _not_offered(definition, case, trigger, member)
        allowed_roles = tuple(dict.fromkeys(r for t in candidates for r in t.roles))
        role = acting_role(member, allowed_roles, definition.roles, case.scope, f"fire {trigger!r} on {number}")
        spec = candidates[0]
        given = _parse_inputs(definition, spec.inputs, values, f"trigger {trigger!r}", requires=spec.requires,
                              current=case.data)
        data = {**case.data, **given}
        previous_version = case.version
        before = case.state
        outcome = compiled.machine.fire(case, trigger, data)
        if role not in outcome.transition.roles:
            case.state = before
            raise PermissionDenied(f"staff {actor!r} may not fire {trigger!r} on {number} in this situation; allowed "
                                   f"roles are {', '.join(outcome.transition.roles)}")
        now = self.clock()
        case.data = data
        if definition.scope_field:
            case.scope = data.get(definition.scope_field)
        case.version = previous_version + 1
        case.updated_at = now
        self._enter(compiled, case, outcome.to_state, now)
        _refuse_unreachable_orders(connection, compiled, case, outcome.transition)
        event = sealed(number, EventRecord(case.id, case.version, trigger, before, outcome.to_state, member.username,
                                           role, now, given, comment, idempotency_key, case.last_hash))
        case.last_hash = event.hash
        if not case_rows.save_case(connection, case, previous_version):
            raise Conflict(f"case {number} was changed by someone else at the same time; reload it and try again")
        case_rows.insert_event(connection, event, case)
        facts = EventFacts(trigger, outcome.transition.label, before, outcome.to_state, member.name, role, now, comment,
                           given)
        rows = case_notices(connection, compiled, case, ((n.to, n.template) for n in outcome.transition.notices),
                            now, self.routing, event=facts, base_url=self.base_url)
        queue(connection, compiled, rows)
        case.undelivered = undelivered(rows)
        _log_event(connection, case, event)  # last: the log head stays locked from here to the commit
        return case

    def _enter(self, compiled: CompiledWorkflow, case: CaseRecord, state: str, now: datetime) -> None:
        """``case`` enters ``state`` now, with the state's deadline and first escalation step."""
        deadline = deadline_on_entry(compiled.definition.states[state], now,
                                     lambda name: self.calendar(compiled, name))
        enter_state(case, state, now, deadline.due_at, deadline.next_step, deadline.next_step_at)

    def _workflow_of_cases(self, connection: Connection, numbers: Sequence[str]) -> str:
        """The one workflow the named cases belong to (an error when they belong to several)."""
        found: dict[str, str] = {}
        for number in numbers:
            case = case_rows.existing_case(connection, number)
            found.setdefault(case.workflow, number)
        if len(found) > 1:
            raise InvalidInput(f"the cases belong to several workflows ({', '.join(found)}); migrate them "
                               "one workflow at a time with --workflow")
        return next(iter(found), self.workflow_for_new(connection, None))

    # -- outbox ---------------------------------------------------------------------------
    def deliver(self, *, limit: int = 100, now: datetime | None = None, channels: ChannelSet | None = None,
                policy: DeliveryPolicy | None = None, should_stop: Callable[[], bool] | None = None) -> DeliveryReport:
        """Send up to ``limit`` due notices; channels and policy default to the application's.
        ``should_stop`` abandons the sends under way once it answers true (``serve`` on a signal)."""
        from engine.notices.delivery import deliver_due

        owned = channels is None
        active = channels if channels is not None else self.open_channels()
        try:
            return deliver_due(self.db, self.clock, active, policy or self.delivery, limit=limit, now=now,
                               should_stop=should_stop)
        finally:
            if owned:
                active.close()

    # -- the periodic work and the outbox (the scheduler, `treckk escalate`, `treckk notices retry`) ----
    def escalate(self, *, limit: int = 1000, now: datetime | None = None,
                 should_stop: Callable[[], bool] | None = None) -> list[EscalationFired]:
        """Fire every escalation step that is due (each once, whoever else scans at the same time)."""
        from engine.app.escalation import escalate_due

        return escalate_due(self, limit=limit, now=now, should_stop=should_stop)

    def run_schedule(self, workflow: str, schedule: str, fire_at: datetime, *,
                     now: datetime | None = None) -> ScheduleRun:
        """Queue a schedule's notices for its fire time, once."""
        from engine.app.reports import run_schedule

        return run_schedule(self, workflow, schedule, fire_at, now=now)

    def prune_notice_bodies(self, retention: timedelta, *, should_stop: Callable[[], bool] | None = None) -> int:
        """Delete the bodies of notices delivered longer than ``retention`` ago (rows and digests stay)."""
        from engine.app.outbox import prune_bodies

        return prune_bodies(self, retention, should_stop=should_stop)

    def retry_notices(self, references: Sequence[str], *, all_failed: bool = False, case: str | None = None,
                      operator: str | None = None, acting_for: str | None = None) -> list[dict[str, Any]]:
        """Make failed or pending notices due now with a fresh budget of attempts (recorded with the actor;
        ``acting_for`` must be able to see each notice and manage staff, see ``engine.app.outbox.retry_notices``)."""
        from engine.app.outbox import retry_notices

        return retry_notices(self, references, all_failed=all_failed, case=case, operator=operator,
                             acting_for=acting_for)

    # -- migration ------------------------------------------------------------------------
    def migrate(self, workflow: str | None, to_version: int, numbers: Sequence[str], state_map: Mapping[str, str],
                actor: str, *, include_final: bool = False) -> list[CaseRecord]:
        """Move cases to ``to_version``, renaming states by ``state_map``; one history event each.

        A case in a final state is closed: it is moved only with ``include_final``.
        """

        def work(connection: Connection) -> list[CaseRecord]:
            named = self._workflow_of_cases(connection, numbers) if workflow is None else workflow
            target = self.compiled(connection, named, to_version)
            member = self._staff(connection, actor, named)
            role = capable_role(member, target.definition.roles, "migrate", "migrate cases")
            now = self.clock()
            moved = []
            check_state_map(target.definition, state_map)
            for number in numbers:
                case = case_rows.existing_case(connection, number)
                number = case.number
                if case.workflow != named:
                    raise InvalidInput(f"case {number} belongs to workflow {case.workflow!r}, not {named!r}")
                if case.definition_version >= to_version:
                    raise InvalidInput(f"case {number} is already at version {case.definition_version}")
                current = self.compiled(connection, case.workflow, case.definition_version).definition
                if not include_final and current.states[case.state].final:
                    raise InvalidInput(f"case {number} is closed (final state {case.state!r}); a closed case is "
                                       "migrated only when asked for explicitly: give --include-final")
                new_state = state_map.get(case.state, case.state)
                if new_state not in target.definition.states:
                    raise InvalidInput(
                        f"case {number} is in state {case.state!r}, which version {to_version} does not have; map it "
                        f"with --map {case.state}=STATE (states: {', '.join(target.definition.states)})")
                moved.append(self.migrate_case(connection, target, member.username, role, case, new_state, now))
            if moved:
                administration.record(self, connection, member.username, "migration", named,
                                      {"to_version": to_version, "cases": len(moved),
                                       "numbers": [c.number for c in moved[:20]],
                                       "state_map": dict(state_map)})
            return moved

        return self.db.transaction(work)

    def migrate_case(self, connection: Connection, target: CompiledWorkflow, actor: str, role: str,
                     case: CaseRecord, new_state: str, now: datetime, *,
                     log: list[LogEntry] | None = None) -> CaseRecord:
        """The one write of a migration for one case: ``case`` goes to ``target``'s version in ``new_state``,
        with its ``migrasi`` event in its history and the transparency log (every migration, named cases
        or batches, writes each case through here). With ``log`` the log entry is added to that list
        instead, for the caller to append a whole batch's entries at once (``log_rows.append``) at the end
        of its transaction: the log head is then locked only for that last statement, not for the batch."""
        to_version = target.definition.version
        previous_version = case.version
        before = case.state
        case.version += 1
        case.updated_at = now
        case.definition_version, case.definition_digest = to_version, target.digest
        if new_state != before:
            self._enter(target, case, new_state, now)
        event = sealed(case.number, EventRecord(
            case.id, case.version, MIGRATION_TRIGGER, before, new_state, actor, role, now,
            {"to_version": to_version}, f"migrasi ke versi {to_version}", None, case.last_hash))
        case.last_hash = event.hash
        if not case_rows.save_case(connection, case, previous_version):
            raise Conflict(f"case {case.number} changed during the migration; run it again")
        case_rows.insert_event(connection, event, case)
        if log is None:
            _log_event(connection, case, event)
        else:
            log.append(_log_entry(case, event))
        return case

    def migrate_running(self, workflow: str, to_version: int, state_map: Mapping[str, str], actor: str, *,
                        batch_size: int = BATCH_SIZE, keep_numbers: bool = False,
                        after_batch: Callable[[MigrationProgress], None] | None = None,
                        pause_s: float | None = None) -> MigrationProgress:
        """Move every running case of ``workflow`` on a version older than ``to_version`` to it, in batches of
        ``batch_size`` (each its own short transaction), renaming states by ``state_map``; resumable and
        safe to run twice at once (see ``engine.app.migration_batches``)."""
        return migrate_running(self, self.migrate_case, workflow, to_version, state_map, actor, batch_size=batch_size,
                               keep_numbers=keep_numbers, after_batch=after_batch, pause_s=pause_s)


def _grants_detail(member: StaffMember) -> dict[str, Any]:
    """The member's grants as recorded in the administrators' record."""
    return {"grants": [{"workflow": g.workflow, "role": g.role, "scope": g.scope} for g in member.grants]}


def _refuse_own_manager_loss(runtime: Runtime, connection: Connection, member: StaffMember, acting_for: str | None,
                             definition: WorkflowDefinition, new_roles: Sequence[str]) -> None:
    """An administrator may not take ``manage_staff`` from themselves (nobody might be left to give it back)."""
    if acting_for != member.username:
        return
    holders = definition.roles.with_capability("manage_staff")
    if any(r in holders for r in member.in_workflow(definition.name).roles) and not any(r in holders
                                                                                      for r in new_roles):
        raise NotAllowed("you cannot take away your own right to manage staff; ask another administrator",
                         field="role", value=list(new_roles))


def _log_event(connection: Connection, case: CaseRecord, event: EventRecord) -> None:
    """Append ``event`` of ``case`` to the transparency log, with the definition pin it was decided under."""
    log_rows.append(connection, [_log_entry(case, event)])


def _log_entry(case: CaseRecord, event: EventRecord) -> LogEntry:
    """The transparency log's entry of ``event`` of ``case``, with the definition pin it was decided under."""
    return event_entry(case.id, case.number, event.seq, event.hash, case.workflow, case.definition_version,
                       case.definition_digest)


def _local_year(definition: WorkflowDefinition, now: datetime) -> int:
    from zoneinfo import ZoneInfo

    return now.astimezone(ZoneInfo(definition.timezone)).year


def _grant_scope(definition: WorkflowDefinition, roles: Sequence[str], given: str | None) -> str | None:
    """The scope value a grant of ``roles`` is bound to, checked against the definition."""
    known = definition.roles.roles
    for role in roles:
        if role not in known:
            raise InvalidInput(f"unknown role {role!r}; known roles are {', '.join(known)}", field="role", value=role,
                               accepted=tuple(known))
    scoped = [r for r in roles if known[r].scoped]
    if not given:
        if scoped:
            field = definition.scope_field or "scope"
            raise InvalidInput(f"role {', '.join(scoped)} is bound to a {field}; give --scope",
                               field="scope", hint=f"name the {field} the staff member works for")
        return None
    spec = definition.fields.get(definition.scope_field or "")
    return str(field_values.parse_value(spec, given)) if spec is not None else given


_USERNAME_LIMIT = 64
_USERNAME = re.compile(r"[A-Za-z0-9._-]+")
_NAME_LIMIT = 200
_EMAIL_LIMIT = 254
"""The column sizes of the staff table (checked here, so a long value is a clear refusal on every backend)."""


def _check_name(name: str) -> None:
    """A staff member's name: some text, at most ``_NAME_LIMIT`` characters, one line."""
    if not name.strip() or len(name) > _NAME_LIMIT or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        raise InvalidInput(f"bad --name {name[:80]!r}; write the person's name, one line of at most {_NAME_LIMIT} "
                           "characters", field="name", value=name[:80])


def _contacts(phone: str | None, email: str | None) -> tuple[str | None, str | None]:
    """Normalised phone and e-mail address; a bad one is refused."""
    normal_phone = None
    if phone:
        normal_phone = field_values.normalise_phone(phone)
        if normal_phone is None:
            raise InvalidInput(f"bad phone number {phone!r}; write an Indonesian number such as 0812-3456-7890",
                               field="phone", value=phone[:40])
    if email and ("@" not in email or len(email) > _EMAIL_LIMIT or any(c.isspace() for c in email)):
        raise InvalidInput(f"bad e-mail address {email[:80]!r}; write one address of at most {_EMAIL_LIMIT} "
                           "characters, e.g. nama@balangankab.go.id", field="email", value=email[:80])
    return normal_phone, email or None


MAX_KEY_LENGTH = 128
"""The longest idempotency key (the column's size, enforced here so both databases answer alike)."""


def _check_key(key: str | None) -> None:
    """An idempotency key is a short printable token (a request id), the same on both databases."""
    if key is None:
        return
    if len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise InvalidInput(f"bad idempotency key {key[:40]!r}{'…' if len(key) > 40 else ''}; use up to "
                           f"{MAX_KEY_LENGTH} printable ASCII characters (e.g. a UUID)", field="idempotency_key")


def _check_comment(comment: str | None) -> None:
    """A comment is a note in the history, not a document: bounded, and text that can be stored."""
    if comment is None:
        return
    if len(comment) > MAX_COMMENT_LENGTH:
        raise InvalidInput(f"the comment is {len(comment)} characters long; at most {MAX_COMMENT_LENGTH} are "
                           "accepted (put longer text in a field)", field="comment",
                           hint=f"shorten it to {MAX_COMMENT_LENGTH} characters")
    if "\x00" in comment:
        raise InvalidInput("the comment contains a NUL character, which is not accepted", field="comment")
    try:
        comment.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("the comment contains text that is not valid UTF-8", field="comment") from None


def _parse_inputs(definition: WorkflowDefinition, inputs: Sequence[InputSpec], values: Mapping[str, object],
                  what: str, *, requires: Sequence[str] = (), current: Mapping[str, Any] | None = None
                  ) -> dict[str, Any]:
    """Given values → typed values; unknown, missing or bad values are refused before any write.

    Every problem is found before any is reported: the one InvalidInput has a line per unknown,
    refused, bad or missing field, so a person fixes them all in one go. ``requires`` names fields
    the case must hold after the move (given now, or in ``current``).
    """
    accepted = {spec.field: spec for spec in inputs}
    parsed: dict[str, Any] = {}
    problems: dict[str, str] = {}
    """Each line of the refusal → the field it is about (one line per problem, each said once)."""
    for name, raw in values.items():
        if name not in definition.fields:
            problems[f"unknown field {name!r} for {what}; accepted fields are "
                     f"{', '.join(accepted) or '(none)'}{_did_you_mean(name, accepted)}"] = name
        elif name not in accepted:
            problems[f"field {name!r} cannot be given when {what}; accepted fields are "
                     f"{', '.join(accepted) or '(none)'}"] = name
        else:
            try:
                parsed[name] = field_values.parse_value(definition.fields[name], raw, definition.timezone)
            except InvalidInput as exc:
                problems[str(exc)] = name
    for spec in inputs:
        if spec.required and spec.field not in values:
            label = definition.fields[spec.field].label
            problems[f"{what} needs field {spec.field!r} ({label}); give it with --set {spec.field}=VALUE"] = spec.field
    held = {**(current or {}), **parsed}
    for name in requires:
        if held.get(name) in (None, "", []) and name not in values:
            label = definition.fields[name].label
            problems[f"{what} needs field {name!r} ({label}); give it with --set {name}=VALUE"] = name
    if problems:
        faulty = set(problems.values())
        raise InvalidInput("\n".join(problems), field=faulty.pop() if len(faulty) == 1 else None,
                           accepted=list(accepted))
    return parsed


def _did_you_mean(given: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(given, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _not_offered(definition: WorkflowDefinition, case: CaseRecord, trigger: str, member: StaffMember) -> NotAllowed:
    """Why ``trigger`` cannot fire on ``case`` from its state, naming the triggers ``member`` may fire now."""
    from engine.core.permissions import role_for

    state = definition.states[case.state]
    if state.final and trigger in definition.triggers():
        return NotAllowed(f"trigger {trigger!r} is not allowed: the case is in final state {case.state!r}",
                          field="trigger", value=trigger)
    mine = list(dict.fromkeys(t.trigger for t in definition.transitions_from(case.state)
                              if role_for(member, t.roles, definition.roles, case.scope) is not None))
    now = (f"on {case.number} ({state.label}) you may fire {', '.join(mine)}" if mine
           else f"you may fire no trigger on {case.number} in state {case.state!r}")
    if trigger not in definition.triggers():
        close = (difflib.get_close_matches(trigger, mine, n=1, cutoff=0.6)
                 or difflib.get_close_matches(trigger, sorted(definition.triggers()), n=1, cutoff=0.6))
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return NotAllowed(f"unknown trigger {trigger!r} in workflow {definition.name!r}{hint}; {now}",
                          field="trigger", value=trigger, accepted=mine, hint=f"did you mean {close[0]!r}?" if close
                          else None)
    return NotAllowed(f"trigger {trigger!r} is not allowed in state {case.state!r}; {now}", field="trigger",
                      value=trigger, accepted=mine)


def undelivered(rows: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """One line for each queued notice that reached nobody (what the command tells its caller)."""
    return tuple(f"notice {row['template']} reached nobody and is kept as undeliverable: "
                 f"{str(row['last_error']).removeprefix('nobody to tell: ')}"
                 for row in rows if row["status"] == notice_rows.UNDELIVERABLE)


def _refuse_unreachable_orders(connection: Connection, compiled: CompiledWorkflow, case: CaseRecord,
                               transition: TransitionSpec) -> None:
    """Refuse a move whose ``required`` notice would reach no active staff member: an order
    nobody receives must not be recorded as given (nor announced to the complainant)."""
    for notice in transition.notices:
        if not notice.required:
            continue
        reason = nobody_reason(compiled, case, notice.to, resolve_recipients(connection, compiled, case, notice.to))
        if reason is not None:
            raise NotAllowed(f"{transition.trigger!r} on {case.number} is refused: its notice {notice.template} "
                             f"would reach nobody ({reason}); enable or add such a staff member first "
                             "(treckk staff), or choose another value")
