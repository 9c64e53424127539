"""The tables, as SQLAlchemy Core ``Table`` objects. The same schema serves SQLite and PostgreSQL.

Every read and write is a Core statement on these tables (hot paths cached, ``engine.store.prepared``).
They are Core tables rather than ORM models because nothing maps rows to objects, and importing
the ORM cost every command-line process about 70 ms. Times are stored as UTC; ``UTCDateTime``
gives back aware datetimes on every backend.
"""

from __future__ import annotations

from datetime import datetime, timezone
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect

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


metadata = MetaData(naming_convention=NAMING)
"""Every table, with a naming convention so migrations name constraints the same way."""


class Base:
    """Where the tables' ``metadata`` is found (``Base.metadata``), as when they were declarative models."""

    metadata = metadata


def _column(name: str, kind: Any, *constraints: Any, null: bool = False, **options: Any) -> Column[Any]:
    return Column(name, kind, *constraints, nullable=null, **options)


staff = Table(
    "staff", metadata,
    # A person who acts on cases; the roles they hold, per workflow, are in ``staff_grants``.
    Column("id", Integer, primary_key=True),
    _column("username", String(64), unique=True),
    _column("name", String(200)),
    _column("phone", String(32), null=True),
    _column("email", String(254), null=True),
    _column("active", Boolean, default=True),
    _column("created_at", UTCDateTime()),
    # Who ran ``treckk staff add``: ``os:ACCOUNT`` (the operator on the server), ``… as USER`` with ``--as``.
    _column("added_by", String(128), null=True),
    # Raised by every change of the member: an edit made on an older revision is refused (revision 0010).
    _column("revision", Integer, server_default="1"),
)

staff_grants = Table(
    "staff_grants", metadata,
    # A role a staff member holds in one workflow, bound there to a scope value (or to every case:
    # None). One row each, so "everyone with role R in workflow W" is an index lookup.
    Column("staff_id", Integer, ForeignKey("staff.id"), primary_key=True),
    Column("workflow", String(64), primary_key=True),
    Column("role", String(64), primary_key=True),
    _column("scope", String(64), null=True),
    Index("ix_staff_grants_workflow_role", "workflow", "role"),
)

definitions = Table(
    "definitions", metadata,
    # A deployed definition bundle (workflow, roles, templates) and who deployed it.
    Column("id", Integer, primary_key=True),
    _column("workflow", String(64)),
    _column("version", Integer),
    _column("digest", String(64)),
    _column("bundle", Text),
    _column("deployed_at", UTCDateTime()),
    _column("deployed_by", String(64)),
    UniqueConstraint("workflow", "version"),
)

case_numbers = Table(
    "case_numbers", metadata,
    # The last case number handed out per prefix and year.
    Column("prefix", String(8), primary_key=True),
    Column("year", Integer, primary_key=True, autoincrement=False),
    _column("last", Integer),
)

cases = Table(
    "cases", metadata,
    # A complaint and where it stands; ``version`` guards against lost updates.
    Column("id", Integer, primary_key=True),
    _column("number", String(32), unique=True),
    _column("workflow", String(64)),
    _column("definition_version", Integer),
    _column("definition_digest", String(64)),
    _column("state", String(64)),
    _column("data", JSON()),
    # The case's value of its workflow's ``scope_field`` (kept as a column for scoped reads).
    _column("scope", String(64), null=True),
    _column("version", Integer),
    _column("created_at", UTCDateTime()),
    _column("updated_at", UTCDateTime()),
    _column("state_entered_at", UTCDateTime()),
    _column("state_entry", Integer),
    _column("due_at", UTCDateTime(), null=True),
    _column("next_step", Integer, null=True),
    _column("next_step_at", UTCDateTime(), null=True),
    _column("last_hash", String(64)),
    Index("ix_cases_next_step_at", "next_step_at"),
    # The read indexes lead with the workflow and end in (due_at, id): every list of cases is
    # one workflow's, ordered by deadline and paged by keyset on that pair, so a page is an index
    # range whatever the table holds (revision 0003).
    Index("ix_cases_workflow_due_at", "workflow", "due_at", "id"),
    Index("ix_cases_workflow_state_due_at", "workflow", "state", "due_at", "id"),
    Index("ix_cases_workflow_state_scope_due_at", "workflow", "state", "scope", "due_at", "id"),
    Index("ix_cases_workflow_scope_due_at", "workflow", "scope", "due_at", "id"),
    # Cases opened in a time window, newest first (Open311's request lists; revision 0014).
    Index("ix_cases_workflow_state_created_at", "workflow", "state", "created_at", "id"),
    # The cases of older versions by (version, state): a migration's counts, dry-run pages and
    # batches are ranges of this index (revision 0017).
    Index("ix_cases_workflow_version_state", "workflow", "definition_version", "state", "id"),
)

events = Table(
    "events", metadata,
    # Append-only history; each row's hash chains to the previous row of the same case.
    Column("id", Integer, primary_key=True),
    _column("case_id", Integer, ForeignKey("cases.id")),
    _column("seq", Integer),
    _column("trigger", String(64)),
    _column("from_state", String(64), null=True),
    _column("to_state", String(64)),
    _column("actor", String(64)),
    _column("role", String(64)),
    _column("at", UTCDateTime()),
    _column("input", JSON()),
    _column("comment", Text, null=True),
    _column("idempotency_key", String(128), null=True),
    _column("prev_hash", String(64)),
    _column("hash", String(64)),
    UniqueConstraint("case_id", "seq"),
    UniqueConstraint("case_id", "idempotency_key"),
    # A retried submit looks its key up across all cases (revision 0003). The periods' reads
    # (the dashboard, the recap) read ``stays``, not the events (revision 0016).
    Index("ix_events_idempotency_key", "idempotency_key"),
)

stays = Table(
    "stays", metadata,
    # Derived from the events, not part of the hash-chained record (``engine.store.stay_rows``): one
    # row per time a case entered a state (its intake, or an event that changed the state), written
    # in the same transaction as that event; the next state change closes it. Times and lengths are
    # whole microseconds since the Unix epoch (UTC), so the dashboard and the recap read integers
    # instead of joining events and converting stored times (revision 0016).
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True, autoincrement=False),
    Column("seq", Integer, primary_key=True, autoincrement=False),  # the event that entered the state
    _column("workflow", String(64)),
    _column("state", String(64)),
    _column("from_state", String(64), null=True),  # the state left to enter this one; None at intake
    _column("entered_us", BigInteger),
    _column("left_us", BigInteger, null=True),  # None while the case is still in the state
    _column("length_us", BigInteger, null=True),  # left_us - entered_us
    _column("since_intake_us", BigInteger),  # entered_us - the case's created_at
    # The stays that ended in a period, per state: by when they ended, and by their length (on
    # SQLite a percentile is read walking the lengths in order, no sort).
    Index("ix_stays_workflow_state_left_us", "workflow", "state", "left_us", "length_us"),
    Index("ix_stays_workflow_state_length_us", "workflow", "state", "length_us", "left_us"),
    # The entries of a period, per state: intakes (received), final states (closed; the recap's
    # intake-to-close lengths).
    Index("ix_stays_workflow_state_entered_us", "workflow", "state", "entered_us", "from_state", "since_intake_us",
          "case_id"),
    # The intakes (``from_state IS NULL``, one row per case), by when: the cases received per week
    # as one range, without reading every other state's entries. Not a partial index: a dialect's
    # ``postgresql_where`` would load the PostgreSQL dialect into every SQLite command's start-up.
    Index("ix_stays_workflow_from_state_entered_us", "workflow", "from_state", "entered_us"),
)

escalations = Table(
    "escalations", metadata,
    # An escalation step that fired; unique per case, state entry and step, so never twice.
    Column("id", Integer, primary_key=True),
    _column("case_id", Integer, ForeignKey("cases.id")),
    _column("state_entry", Integer),
    _column("state", String(64)),
    _column("step", Integer),
    _column("due_at", UTCDateTime()),
    _column("fired_at", UTCDateTime()),
    UniqueConstraint("case_id", "state_entry", "step"),
    Index("ix_escalations_due_at", "due_at"),
)

schedule_runs = Table(
    "schedule_runs", metadata,
    # A periodic notice that ran for one scheduled moment; unique so it never runs twice.
    Column("id", Integer, primary_key=True),
    _column("workflow", String(64)),
    _column("schedule", String(64)),
    _column("fire_at", UTCDateTime()),
    _column("ran_at", UTCDateTime()),
    UniqueConstraint("workflow", "schedule", "fire_at"),
)

notice_dictionaries = Table(
    "notice_dictionaries", metadata,
    # The preset dictionary bodies are compressed with (the template text of one deployed bundle),
    # by its SHA-256 (32 bytes), itself compressed; written once, never changed (``engine.store.body_rows``).
    Column("digest", LargeBinary(32), primary_key=True),
    _column("content", LargeBinary),
)

notice_bodies = Table(
    "notice_bodies", metadata,
    # A rendered notice body, stored once however many notices carry it: keyed by the SHA-256 of
    # its UTF-8 text (32 bytes: a digest is stored with every notice, so its size counts), compressed
    # with zlib (with ``dictionary`` as preset dictionary when given). Retention deletes the bodies
    # of notices delivered long enough ago; the notices keep the digest.
    Column("digest", LargeBinary(32), primary_key=True),
    _column("dictionary", LargeBinary(32), ForeignKey("notice_dictionaries.digest"), null=True),
    _column("content", LargeBinary),
)

notices = Table(
    "notices", metadata,
    # The outbox: a rendered notice, where it goes, and how its delivery stands.
    Column("id", Integer, primary_key=True),
    _column("message_id", String(64), unique=True),
    _column("case_id", Integer, ForeignKey("cases.id"), null=True),
    _column("event_seq", Integer, null=True),
    # What caused it: ``event``, ``escalation`` or ``schedule:NAME``.
    _column("source", String(64)),
    _column("template", String(128)),
    _column("recipient_kind", String(16)),
    _column("recipient_name", String(200)),
    _column("recipient_username", String(64), null=True),
    _column("recipient_role", String(64), null=True),
    _column("channel", String(16)),
    _column("address", String(254), null=True),
    _column("subject", Text),
    # The SHA-256 of the body sent (32 bytes, ``notice_bodies``); no foreign key, as retention may delete the body.
    _column("body_digest", LargeBinary(32)),
    _column("is_html", Boolean),
    _column("status", String(16)),
    _column("attempts", Integer),
    _column("next_attempt_at", UTCDateTime(), null=True),
    _column("last_error", Text, null=True),
    _column("created_at", UTCDateTime()),
    _column("sent_at", UTCDateTime(), null=True),
    # What a channel needs beyond the text, as JSON: the WhatsApp template a notice is sent as when
    # the recipient's 24-hour window is closed (``engine.notices.channel_templates``); None for most.
    _column("channel_data", Text, null=True),
    # The receiver's own id for the message (WhatsApp's ``wamid``), and the last status it reported.
    _column("provider_id", String(128), null=True),
    _column("receipt", String(16), null=True),
    Index("ix_notices_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_notices_provider_id", "provider_id"),
    Index("ix_notices_case_id", "case_id"),
    Index("ix_notices_body_digest", "body_digest"),
    # The outbox page: newest first by status, by channel, by recipient (revision 0010).
    Index("ix_notices_status_id", "status", "id"),
    Index("ix_notices_channel_id", "channel", "id"),
    Index("ix_notices_recipient_username_id", "recipient_username", "id"),
)

log_leaves = Table(
    "log_leaves", metadata,
    # One leaf of the transparency log (``engine.core.log_entries``), at its place ``idx`` (0-based).
    # Event leaves name their case and sequence number; deployment leaves have neither. ``leaf`` is
    # the leaf hash in hex, so roots are computed without rebuilding each leaf's data. No foreign
    # key to the case: a leaf outlives a case deleted behind the engine's back, so verify can name it.
    Column("idx", Integer, primary_key=True, autoincrement=False),
    _column("kind", String(16)),
    _column("case_id", Integer, null=True),
    _column("seq", Integer, null=True),
    _column("workflow", String(64)),
    _column("definition_version", Integer),
    _column("definition_digest", String(64)),
    _column("leaf", String(64)),
    # The username of a staff leaf (an account changed through the engine); None on other leaves.
    _column("subject", String(64), null=True),
    UniqueConstraint("case_id", "seq"),
)

log_head = Table(
    "log_head", metadata,
    # The log's one head row: its size and compact range (the roots of the perfect subtrees,
    # largest first, as hex joined by spaces); writers lock it to take the next index.
    Column("id", Integer, primary_key=True, autoincrement=False),
    _column("size", Integer),
    _column("frontier", Text),
)

log_chunks = Table(
    "log_chunks", metadata,
    # The hash of an aligned perfect subtree of ``engine.core.merkle.CHUNK`` leaves (proofs read these).
    Column("idx", Integer, primary_key=True, autoincrement=False),
    _column("hash", String(64)),
)

log_checkpoints = Table(
    "log_checkpoints", metadata,
    # A signed checkpoint of the log (``engine.core.tree_heads``), as written and sent out.
    Column("id", Integer, primary_key=True),
    _column("origin", String(64)),
    _column("size", Integer),
    _column("root", String(64)),
    _column("time", UTCDateTime()),
    _column("key_id", String(16)),
    _column("signature", String(128)),
    Index("ix_log_checkpoints_size", "size"),
)

checkpoint_witness = Table(
    "checkpoint_witness", metadata,
    # The send of a checkpoint to the witness URL (the witness setting): pending until the
    # witness answers 2xx (retried with back-off), then sent with its answer kept; an older one
    # still pending when a newer checkpoint is written is superseded (the newer one covers it).
    Column("checkpoint_id", Integer, primary_key=True, autoincrement=False),
    _column("status", String(16)),
    _column("attempts", Integer),
    _column("next_attempt_at", UTCDateTime(), null=True),
    _column("last_error", Text, null=True),
    _column("sent_at", UTCDateTime(), null=True),
    _column("answer", Text, null=True),
    Index("ix_checkpoint_witness_status", "status", "next_attempt_at"),
)

attachments = Table(
    "attachments", metadata,
    # A stored upload (a photo of a ``references`` field), keyed by the SHA-256 of its bytes. The
    # bytes live content-addressed in the attachment folder; a case refers to one by
    # ``<digest>.<extension>`` in its data.
    Column("id", Integer, primary_key=True),
    _column("digest", String(64), unique=True),
    _column("media_type", String(32)),
    _column("size", Integer),
    _column("width", Integer),
    _column("height", Integer),
    _column("original_name", String(255), null=True),
    _column("uploaded_by", String(64)),
    _column("uploaded_at", UTCDateTime()),
)

staff_passwords = Table(
    "staff_passwords", metadata,
    # A staff member's web password, as an argon2id hash (``engine.app.credentials``).
    Column("staff_id", Integer, ForeignKey("staff.id"), primary_key=True),
    _column("password_hash", String(255)),
    _column("changed_at", UTCDateTime()),
)

login_events = Table(
    "login_events", metadata,
    # The login record: each login, failure, refusal while locked out and logout; lockout is
    # worked out from it, so every runner agrees.
    Column("id", Integer, primary_key=True),
    _column("at", UTCDateTime()),
    _column("username", String(64)),
    _column("address", String(64)),
    _column("outcome", String(16)),
    Index("ix_login_events_username_at", "username", "at"),
    Index("ix_login_events_address_at", "address", "at"),
    Index("ix_login_events_at", "at", "id"),
)

api_tokens = Table(
    "api_tokens", metadata,
    # A bearer token of the JSON API, stored as the SHA-256 of the token.
    Column("id", Integer, primary_key=True),
    _column("staff_id", Integer, ForeignKey("staff.id")),
    _column("name", String(100)),
    _column("token_hash", String(64), unique=True),
    _column("created_at", UTCDateTime()),
    _column("last_used_at", UTCDateTime(), null=True),
    _column("revoked_at", UTCDateTime(), null=True),
)


whatsapp_inbox = Table(
    "whatsapp_inbox", metadata,
    # A webhook POST from the WhatsApp Cloud API whose signature checked out, kept as received
    # (the raw bytes) until ``treckk serve`` has processed it (``engine.app.whatsapp``).
    Column("id", Integer, primary_key=True),
    _column("received_at", UTCDateTime()),
    _column("body", LargeBinary),
    # When it may be (re)processed: received_at, the end of a runner's lease, or a retry's time.
    _column("due_at", UTCDateTime()),
    _column("processed_at", UTCDateTime(), null=True),
    _column("attempts", Integer, default=0),
    _column("last_error", Text, null=True),
    Index("ix_whatsapp_inbox_processed_at_due_at", "processed_at", "due_at"),
)

whatsapp_seen = Table(
    "whatsapp_seen", metadata,
    # Every incoming message id handled once: the platform delivers at least once.
    Column("message_id", String(128), primary_key=True),
    _column("seen_at", UTCDateTime()),
)

whatsapp_contacts = Table(
    "whatsapp_contacts", metadata,
    # When a number (digits only, as WhatsApp writes a wa_id) last wrote to us: the start of its
    # 24-hour window for free text.
    Column("address", String(32), primary_key=True),
    _column("last_heard_at", UTCDateTime()),
)

whatsapp_conversations = Table(
    "whatsapp_conversations", metadata,
    # The guided conversation of one number under way: its step and what it gathered (JSON).
    Column("address", String(32), primary_key=True),
    _column("step", String(32)),
    _column("data", Text),
    _column("updated_at", UTCDateTime()),
)

public_cases = Table(
    "public_cases", metadata,
    # A case a complainant opened through a public channel (``engine.app.public_desk``): the
    # channel, the SHA-256 of its tracking code (the code itself is shown once and never kept),
    # the channel's address of the sender (a WhatsApp wa_id) and the complainant's rating.
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    _column("workflow", String(64)),
    _column("channel", String(32)),
    _column("code_hash", String(64)),
    _column("contact_address", String(128), null=True),
    _column("created_at", UTCDateTime()),
    _column("rating", Integer, null=True),
    _column("rating_comment", Text, null=True),
    _column("rated_at", UTCDateTime(), null=True),
    Index("ix_public_cases_channel_contact_address", "channel", "contact_address"),
    Index("ix_public_cases_workflow_rated_at", "workflow", "rated_at"),
)

public_attempts = Table(
    "public_attempts", metadata,
    # What the public throttles count: one row per counted attempt (a submission from an address, a
    # wrong tracking code from an address or for a number), so every runner agrees on the limits.
    Column("id", Integer, primary_key=True),
    _column("kind", String(16)),
    _column("key", String(128)),
    _column("at", UTCDateTime()),
    Index("ix_public_attempts_kind_key_at", "kind", "key", "at"),
)

admin_events = Table(
    "admin_events", metadata,
    # The administrators' record: staff and token changes, migrations, notice retries — who, when,
    # what to, and the details as JSON text (never a password or a token).
    Column("id", Integer, primary_key=True),
    _column("at", UTCDateTime()),
    _column("actor", String(200)),
    _column("action", String(32)),
    _column("target", String(200), null=True),
    _column("detail", Text, null=True),
    Index("ix_admin_events_at", "at", "id"),
)
