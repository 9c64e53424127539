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
    added_by: Mapped[str | None] = mapped_column(String(128))
    """Who ran ``treckk staff add``: ``os:ACCOUNT`` (the operator on the server), ``… as USER`` with ``--as``."""


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
    __table_args__ = (
        Index("ix_cases_next_step_at", "next_step_at"),
        Index("ix_cases_state_scope", "state", "scope"),
        Index("ix_cases_due_at", "due_at"),
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
    __table_args__ = (UniqueConstraint("case_id", "seq"), UniqueConstraint("case_id", "idempotency_key"))
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
    __table_args__ = (UniqueConstraint("case_id", "state_entry", "step"),)
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
