"""The tables, as typed SQLAlchemy 2 models. The same schema serves SQLite and PostgreSQL.

Hot paths use the Core ``Table`` objects behind these models (``Case.__table__``) with cached
statements; the typed models document the columns and serve reads where convenience matters.
Times are stored as UTC; ``UTCDateTime`` gives back aware datetimes on every backend.
"""

from __future__ import annotations

from datetime import datetime, timezone
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, stored as naive UTC (SQLite) or timestamptz (PostgreSQL), aware out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; every time must be timezone-aware")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)

    # On SQLite the two steps (aware -> naive UTC -> SQLAlchemy's text form, and back) are done
    # in one function each, around the two methods above: the text is the very one SQLAlchemy's DATETIME writes
    # ("2026-11-30 00:00:00.000000") and reads (``datetime.fromisoformat``), at a third of the
    # cost, which matters because a command binds a dozen times.
    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        to_naive_utc = self.process_bind_param

        def process(value: datetime | None) -> str | None:
            naive = to_naive_utc(value, dialect)
            return None if naive is None else naive.isoformat(" ", "microseconds")

        return process

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], datetime | None] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        parse, to_aware_utc = datetime.fromisoformat, self.process_result_value

        def process(value: str | None) -> datetime | None:
            return None if value is None else to_aware_utc(parse(value), dialect)

        return process


class Base(DeclarativeBase):
    """Declarative base with a naming convention so migrations name constraints the same way."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


class Staff(Base):
    """A person who acts on cases; the roles they hold, per workflow, are in ``StaffGrant``."""

    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class StaffGrant(Base):
    """A role a staff member holds in one workflow, bound there to a scope value (or to every case: None).

    One row each, so "everyone with role R in workflow W" is an index lookup.
    """

    __tablename__ = "staff_grants"
    __table_args__ = (Index("ix_staff_grants_workflow_role", "workflow", "role"),)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), primary_key=True)
    workflow: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str | None] = mapped_column(String(64))


class DefinitionVersion(Base):
    """A deployed definition bundle (workflow, roles, templates) and who deployed it."""

    __tablename__ = "definitions"
    __table_args__ = (UniqueConstraint("workflow", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    bundle: Mapped[str] = mapped_column(Text)
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str] = mapped_column(String(64))


class CaseNumber(Base):
    """The last case number handed out per prefix and year."""

    __tablename__ = "case_numbers"
    prefix: Mapped[str] = mapped_column(String(8), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer)


class Case(Base):
    """A complaint and where it stands; ``version`` guards against lost updates."""

    __tablename__ = "cases"
    # The read indexes lead with the workflow and end in (due_at, id): every list of cases is
    # one workflow's, ordered by deadline and paged by keyset on that pair, so a page is an index
    # range whatever the table holds (revision 0003).
    __table_args__ = (
        Index("ix_cases_next_step_at", "next_step_at"),
        Index("ix_cases_workflow_due_at", "workflow", "due_at", "id"),
        Index("ix_cases_workflow_state_due_at", "workflow", "state", "due_at", "id"),
        Index("ix_cases_workflow_state_scope_due_at", "workflow", "state", "scope", "due_at", "id"),
        Index("ix_cases_workflow_scope_due_at", "workflow", "scope", "due_at", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    workflow: Mapped[str] = mapped_column(String(64))
    definition_version: Mapped[int] = mapped_column(Integer)
    definition_digest: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    scope: Mapped[str | None] = mapped_column(String(64))
    """The case's value of its workflow's ``scope_field`` (kept as a column for scoped reads)."""
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    state_entered_at: Mapped[datetime]
    state_entry: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime | None]
    next_step: Mapped[int | None] = mapped_column(Integer)
    next_step_at: Mapped[datetime | None]
    last_hash: Mapped[str] = mapped_column(String(64))


class Event(Base):
    """Append-only history; each row's hash chains to the previous row of the same case."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("case_id", "seq"),
        UniqueConstraint("case_id", "idempotency_key"),
        # A retried submit looks its key up across all cases (revision 0003).
        Index("ix_events_idempotency_key", "idempotency_key"),
        # The recap finds the cases that reached a final state in its period (revision 0003).
        Index("ix_events_to_state_at", "to_state", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    seq: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(64))
    to_state: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    input: Mapped[dict[str, Any]]
    comment: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Escalation(Base):
    """An escalation step that fired; unique per case, state entry and step, so never twice."""

    __tablename__ = "escalations"
    __table_args__ = (UniqueConstraint("case_id", "state_entry", "step"),
                      Index("ix_escalations_due_at", "due_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    state_entry: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(64))
    step: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime]


class ScheduleRun(Base):
    """A periodic notice that ran for one scheduled moment; unique so it never runs twice."""

    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("workflow", "schedule", "fire_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow: Mapped[str] = mapped_column(String(64))
    schedule: Mapped[str] = mapped_column(String(64))
    fire_at: Mapped[datetime]
    ran_at: Mapped[datetime]


class Notice(Base):
    """The outbox: a rendered notice, where it goes, and how its delivery stands."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_status_next_attempt_at", "status", "next_attempt_at"),
                      Index("ix_notices_case_id", "case_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    event_seq: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(64))
    """What caused it: ``event``, ``escalation`` or ``schedule:NAME``."""
    template: Mapped[str] = mapped_column(String(128))
    recipient_kind: Mapped[str] = mapped_column(String(16))
    recipient_name: Mapped[str] = mapped_column(String(200))
    recipient_username: Mapped[str | None] = mapped_column(String(64))
    recipient_role: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    is_html: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class LogLeaf(Base):
    """One leaf of the transparency log (``engine.core.log_entries``), at its place ``idx`` (0-based).

    Event leaves name their case and sequence number; deployment leaves have neither. ``leaf`` is
    the leaf hash in hex, so roots are computed without rebuilding each leaf's data.
    """

    __tablename__ = "log_leaves"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[int | None] = mapped_column(Integer)
    """No foreign key: a leaf outlives a case deleted behind the engine's back, so verify can name it."""
    seq: Mapped[int | None] = mapped_column(Integer)
    workflow: Mapped[str] = mapped_column(String(64))
    definition_version: Mapped[int] = mapped_column(Integer)
    definition_digest: Mapped[str] = mapped_column(String(64))
    leaf: Mapped[str] = mapped_column(String(64))


class LogHead(Base):
    """The log's one head row: its size and compact range; writers lock it to take the next index."""

    __tablename__ = "log_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer)
    frontier: Mapped[str] = mapped_column(Text)
    """The compact range: the roots of the perfect subtrees, largest first, as hex joined by spaces."""


class LogChunk(Base):
    """The hash of an aligned perfect subtree of ``engine.core.merkle.CHUNK`` leaves (proofs read these)."""

    __tablename__ = "log_chunks"
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))


class LogCheckpoint(Base):
    """A signed checkpoint of the log (``engine.core.tree_heads``), as written and sent out."""

    __tablename__ = "log_checkpoints"
    __table_args__ = (Index("ix_log_checkpoints_size", "size"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    root: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(128))


class Attachment(Base):
    """A stored upload (a photo of a ``references`` field), keyed by the SHA-256 of its bytes.

    The bytes live content-addressed in the attachment folder; a case refers to one by
    ``<digest>.<extension>`` in its data.
    """

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    media_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    original_name: Mapped[str | None] = mapped_column(String(255))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime]


class StaffPassword(Base):
    """A staff member's password for the web app, as an argon2id hash (never the password)."""

    __tablename__ = "staff_passwords"
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    changed_at: Mapped[datetime]


class LoginEvent(Base):
    """One login, failed login, refusal while locked, or logout: the record the lockout counts on."""

    __tablename__ = "login_events"
    __table_args__ = (Index("ix_login_events_username_at", "username", "at"),
                      Index("ix_login_events_address_at", "address", "at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    username: Mapped[str] = mapped_column(String(64))
    """The name typed in (it may belong to nobody)."""
    address: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    """``ok``, ``wrong_password``, ``unknown_user``, ``disabled``, ``locked`` or ``logout``."""


class ApiToken(Base):
    """A bearer token of one staff member for the JSON API, kept as the SHA-256 of the token."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

# Core tables behind the models, typed as Table for insert()/update()/select().
cases = cast(Table, Case.__table__)
events = cast(Table, Event.__table__)
staff = cast(Table, Staff.__table__)
staff_grants = cast(Table, StaffGrant.__table__)
definitions = cast(Table, DefinitionVersion.__table__)
case_numbers = cast(Table, CaseNumber.__table__)
escalations = cast(Table, Escalation.__table__)
schedule_runs = cast(Table, ScheduleRun.__table__)
notices = cast(Table, Notice.__table__)
log_leaves = cast(Table, LogLeaf.__table__)
log_head = cast(Table, LogHead.__table__)
log_chunks = cast(Table, LogChunk.__table__)
log_checkpoints = cast(Table, LogCheckpoint.__table__)
attachments = cast(Table, Attachment.__table__)
staff_passwords = cast(Table, StaffPassword.__table__)
login_events = cast(Table, LoginEvent.__table__)
api_tokens = cast(Table, ApiToken.__table__)
