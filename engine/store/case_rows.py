"""Reading and writing cases and their history. Functions take the caller's connection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, select, text, update

from engine.errors import NotFound
from engine.core.records import CaseRecord, EventRecord, case_number_key
from engine.store import stay_rows
from engine.store.prepared import PreparedStatement
from engine.store.schema import case_numbers, cases, events

CASE_COLUMNS = (
    cases.c.id, cases.c.number, cases.c.workflow, cases.c.definition_version, cases.c.definition_digest,
    cases.c.state, cases.c.data, cases.c.scope, cases.c.version, cases.c.created_at, cases.c.updated_at,
    cases.c.state_entered_at, cases.c.state_entry, cases.c.due_at, cases.c.next_step, cases.c.next_step_at,
    cases.c.last_hash,
)  # fmt: skip

_CASE_COLUMNS = CASE_COLUMNS
_select_case = select(*_CASE_COLUMNS)


def record(row: Any) -> CaseRecord:
    """A row of ``CASE_COLUMNS`` as a ``CaseRecord``."""
    return CaseRecord(*row)


_record = record


# The statements of every command are prepared once (engine.store.prepared): compiled per
# dialect and sent straight to the driver.
_case_by_number = _select_case.where(cases.c.number == bindparam("number"))
_load_case = PreparedStatement(_case_by_number)
_load_case_locked = PreparedStatement(_case_by_number.with_for_update())
_save_case = PreparedStatement(
    update(cases)
    .where(and_(cases.c.id == bindparam("b_id"), cases.c.version == bindparam("b_version")))
    .values({name: bindparam(name) for name in (
        "definition_version", "definition_digest", "state", "data", "scope", "version", "updated_at",
        "state_entered_at", "state_entry", "due_at", "next_step", "next_step_at", "last_hash")})
)
_EVENT_COLUMNS = (
    events.c.case_id, events.c.seq, events.c.trigger, events.c.from_state, events.c.to_state, events.c.actor,
    events.c.role, events.c.at, events.c.input, events.c.comment, events.c.idempotency_key,
    events.c.prev_hash, events.c.hash,
)  # fmt: skip
_EVENT_FIELDS = tuple(column.name for column in _EVENT_COLUMNS)  # the fields of EventRecord, in order
_insert_event = PreparedStatement(insert(events).values({name: bindparam(name) for name in _EVENT_FIELDS}))


def case_by_number(connection: Connection, number: str, *, for_update: bool = False) -> CaseRecord | None:
    locked = for_update and connection.dialect.name == "postgresql"
    row = (_load_case_locked if locked else _load_case).first(connection, {"number": case_number_key(number)})
    return _record(row) if row else None


def existing_case(connection: Connection, number: str) -> CaseRecord:
    """The case numbered ``number`` (any letter case); NotFound naming it when there is none."""
    case = case_by_number(connection, number)
    if case is None:
        raise NotFound(f"case {number!r} not found", field="case", value=number)
    return case


def case_by_id(connection: Connection, case_id: int) -> CaseRecord | None:
    row = connection.execute(_select_case.where(cases.c.id == case_id)).first()
    return _record(row) if row else None


def next_number(connection: Connection, prefix: str, year: int) -> str:
    """The next ``PREFIX-YYYY-NNNNNN``; the counter row's lock serialises concurrent intakes.

    One upsert, so the first two intakes of a year cannot both insert the counter row (the
    loser of that race would otherwise meet the primary key and fail).
    """
    from sqlalchemy.dialects import postgresql, sqlite

    upsert: Any = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = upsert(case_numbers).values(prefix=prefix, year=year, last=1)
    bumped = connection.execute(
        statement.on_conflict_do_update(
            index_elements=[case_numbers.c.prefix, case_numbers.c.year],
            set_={"last": case_numbers.c.last + 1},
        ).returning(case_numbers.c.last)
    ).scalar_one()
    return f"{prefix}-{year}-{bumped:06d}"


def lock_intake_key(connection: Connection, key: str) -> None:
    """Serialise intakes carrying the same idempotency key until this transaction ends.

    No unique index covers intake keys across cases, so two retries of one submit racing each
    other would both open a case. SQLite already runs one writer at a time (BEGIN IMMEDIATE);
    PostgreSQL takes a transaction-scoped advisory lock on the key.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                           {"key": f"treckk-intake:{key}"})


def insert_case(connection: Connection, case: CaseRecord) -> int:
    values = {column.name: getattr(case, column.name) for column in _CASE_COLUMNS if column.name != "id"}
    return int(connection.execute(insert(cases).values(**values).returning(cases.c.id)).scalar_one())


def save_case(connection: Connection, case: CaseRecord, expected_version: int) -> bool:
    """Write the case if nobody changed it since ``expected_version``; False when someone did."""
    return _save_case.rowcount(connection, {
        "b_id": case.id, "b_version": expected_version,
        "definition_version": case.definition_version, "definition_digest": case.definition_digest,
        "state": case.state, "data": case.data, "scope": case.scope, "version": case.version,
        "updated_at": case.updated_at, "state_entered_at": case.state_entered_at, "state_entry": case.state_entry,
        "due_at": case.due_at, "next_step": case.next_step, "next_step_at": case.next_step_at,
        "last_hash": case.last_hash,
    }) == 1


def insert_event(connection: Connection, event: EventRecord, case: CaseRecord) -> None:
    """Append ``event`` to the history of ``case``, and the stays it ends and begins (``engine.store.stay_rows``)."""
    _insert_event.rowcount(connection, {
        "case_id": event.case_id, "seq": event.seq, "trigger": event.trigger, "from_state": event.from_state,
        "to_state": event.to_state, "actor": event.actor, "role": event.role, "at": event.at, "input": event.input,
        "comment": event.comment, "idempotency_key": event.idempotency_key, "prev_hash": event.prev_hash,
        "hash": event.hash,
    })
    stay_rows.record(connection, case.workflow, case.created_at, event)


def history(connection: Connection, case_id: int) -> list[EventRecord]:
    rows = connection.execute(select(*_EVENT_COLUMNS).where(events.c.case_id == case_id).order_by(events.c.seq))
    return [EventRecord(*row) for row in rows]


def event_by_key(connection: Connection, case_id: int, key: str) -> EventRecord | None:
    row = connection.execute(
        select(*_EVENT_COLUMNS).where(and_(events.c.case_id == case_id, events.c.idempotency_key == key))
    ).first()
    return EventRecord(*row) if row else None


def intake_event_by_key(connection: Connection, key: str) -> EventRecord | None:
    """The opening event carrying ``key`` (a retried submit), across all cases."""
    row = connection.execute(
        select(*_EVENT_COLUMNS).where(and_(events.c.seq == 1, events.c.idempotency_key == key))
    ).first()
    return EventRecord(*row) if row else None


def list_cases(
    connection: Connection,
    *,
    states: Sequence[str] | None = None,
    scope: str | None = None,
    overdue_at: datetime | None = None,
    workflow: str | None = None,
    limit: int | None = None,
) -> list[CaseRecord]:
    statement = _select_case
    if workflow is not None:
        statement = statement.where(cases.c.workflow == workflow)
    if states is not None:
        statement = statement.where(cases.c.state.in_(list(states)))
    if scope is not None:
        statement = statement.where(cases.c.scope == scope)
    if overdue_at is not None:
        statement = statement.where(cases.c.due_at < overdue_at)
    statement = statement.order_by(cases.c.due_at.is_(None), cases.c.due_at, cases.c.id)
    if limit is not None:
        statement = statement.limit(limit)
    return [_record(row) for row in connection.execute(statement)]


def all_case_ids(connection: Connection) -> list[tuple[int, str]]:
    return [(row.id, row.number) for row in connection.execute(select(cases.c.id, cases.c.number).order_by(cases.c.id))]


def count_cases(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(cases)).scalar_one())


# -- the cases of older versions (a migration's counts, dry-run pages and batches) ------------------
# Each (version, state) group is one range of ix_cases_workflow_version_state (revision 0017).

def version_state_counts(connection: Connection, workflow: str, below_version: int) -> list[tuple[int, str, int]]:
    """(version, state, how many) of ``workflow``'s cases on versions older than ``below_version``, in that
    order: one grouped statement over the index, whatever the table holds."""
    statement = (select(cases.c.definition_version, cases.c.state, func.count())
                 .where(and_(cases.c.workflow == workflow, cases.c.definition_version < below_version))
                 .group_by(cases.c.definition_version, cases.c.state)
                 .order_by(cases.c.definition_version, cases.c.state))
    return [(int(version), str(state), int(count)) for version, state, count in connection.execute(statement)]


def numbers_in_group(connection: Connection, workflow: str, version: int, state: str, *, after_id: int = 0,
                     limit: int) -> list[tuple[int, str]]:
    """(id, number) of the first ``limit`` cases of one (version, state) group after ``after_id``, by id."""
    statement = (select(cases.c.id, cases.c.number)
                 .where(and_(cases.c.workflow == workflow, cases.c.definition_version == version,
                             cases.c.state == state, cases.c.id > after_id))
                 .order_by(cases.c.id).limit(limit))
    return [(int(row.id), str(row.number)) for row in connection.execute(statement)]


def lock_group(connection: Connection, workflow: str, version: int, state: str, *, limit: int) -> list[CaseRecord]:
    """The first ``limit`` cases of one (version, state) group, by id, locked until the transaction ends
    (PostgreSQL: ``FOR UPDATE``, so a case another transaction is changing is waited for and, if it left
    the group meanwhile, not returned; SQLite's write transaction holds the whole database already)."""
    statement = (_select_case
                 .where(and_(cases.c.workflow == workflow, cases.c.definition_version == version,
                             cases.c.state == state))
                 .order_by(cases.c.id).limit(limit))
    if connection.dialect.name == "postgresql":
        statement = statement.with_for_update()
    return [_record(row) for row in connection.execute(statement)]
