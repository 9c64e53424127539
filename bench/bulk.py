"""A PostgreSQL database of N cases, seeded in bulk: COPY of pre-computed rows, in parallel processes.

Used by ``bench/scale.py``. Three template cases are made by the real engine (one closed by
catat, teruskan, tolak; one moved by catat, teruskan into ``ditelaah``; one only submitted, in
``diterima``); clone ``i`` copies the template of its group (``i % 100``: 97 closed, 1 waiting
in ``ditelaah``, 2 in ``diterima``, so every prefix of the seed has the same mix) with its own id
and number, its events re-sealed by ``bench.log.clone`` (``engine.core.integrity.sealed``, a valid
chain), one transparency-log leaf per event at a place fixed by ``i`` alone, and the template's
``stays`` rollup rows (``engine.store.stay_rows``, which the dashboard and the recap read) with
the clone's id and its times shifted with its events, as ``insert_event`` would have written them. The closed cases'
histories are spread evenly over ``span`` (ten years by default) before the seeding moment, so a
month's reports count a month's cases (10,000,000 over ten years: about 80,000 closed a month);
the open ones are recent.

Batches of cases are generated and written by ``workers`` processes, each over its own
connection, as text COPY of ``cases``, ``events``, ``log_leaves`` and ``stays`` (the template's own row as
PostgreSQL prints it, with the fields that differ put in), one transaction per batch with
``synchronous_commit = off`` (the seed session only; never the measured moves). The parent folds
the leaf hashes the workers send back, in index order, into the log's tree
(``engine.core.merkle.append``): the ``log_chunks`` it completes and the final ``log_head`` are
written at the end, so ``log_leaves``, ``log_chunks`` and ``log_head`` agree with the events as
``verify`` checks them. Before the load the secondary indexes, unique constraints and foreign keys
of the four tables are dropped and autovacuum is off for them; after it they are recreated from
their own definitions (two at a time), then VACUUM ANALYZE. Stopping at a deadline keeps a
consistent database of the batches done.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bench.log import MOVES, clone, template
from engine.app.commands import Commands
from engine.core.merkle import CHUNK_LEVEL, append as tree_append
from engine.core.records import EventRecord
from engine.store.schema import cases, events, log_leaves, stays
from engine.store.stay_rows import MICROSECOND

TABLES = ("cases", "events", "log_leaves", "stays")
GROUPS = (("ditelaah", MOVES[:1]), ("diterima", ()), ("closed", MOVES))
"""Template 0 for i % 100 == 0, template 1 for 1 and 2, template 2 for the other 97."""


def group(i: int) -> int:
    return 0 if i % 100 == 0 else 1 if i % 100 < 3 else 2


@dataclass(frozen=True)
class Template:
    """One template case: its COPY text fields and its history."""

    case_fields: list[str]
    event_fields: list[list[str]]
    leaf_fields: list[str]
    stay_fields: list[list[str]]
    row: dict[str, Any]
    history: list[EventRecord]

    @property
    def times(self) -> list[str]:
        """The case row's columns holding a time (shifted with the clone's history)."""
        return [name for name, value in self.row.items() if isinstance(value, datetime)]


@dataclass(frozen=True)
class Plan:
    """Where clone 0 starts (ids, number, leaf index) and what each group copies."""

    libpq: str
    first_case: int
    first_number: int
    first_event: int
    first_leaf: int
    templates: tuple[Template, ...]
    total: int
    span: timedelta

    def earlier(self, i: int) -> timedelta:
        """How much earlier than its template clone ``i`` happened: closed cases spread evenly over
        ``span`` before the seeding moment, oldest first (ids follow time); open ones are recent."""
        if group(i) != 2:
            return timedelta(0)
        return timedelta(seconds=int(self.span.total_seconds() * (self.total - 1 - i) / self.total))

    def events_before(self, i: int) -> int:
        """Events (and leaves) of the clones before clone ``i``."""
        lengths = [len(self.templates[group(j)].history) for j in range(100)]
        return (i // 100) * sum(lengths) + sum(lengths[:i % 100])


_COLUMNS = {name: [c.name for c in table.c] for name, table in
            (("cases", cases), ("events", events), ("log_leaves", log_leaves), ("stays", stays))}


def _quoted(table: str) -> str:
    return ", ".join(f'"{name}"' for name in _COLUMNS[table])


def _text_rows(connection: Any, table: str, column: str, value: int) -> list[list[str]]:
    """Rows of ``table`` whose ``column`` is ``value``, as COPY prints them (fields in table order,
    already escaped), ordered by key."""
    key = {"log_leaves": "idx", "stays": "seq"}.get(table, "id")
    query = f"COPY (SELECT {_quoted(table)} FROM {table} WHERE {column} = {int(value)} ORDER BY {key}) TO STDOUT"
    cursor = connection.cursor()
    with cursor.copy(query) as copy:
        data = b"".join(bytes(chunk) for chunk in copy)
    return [line.split("\t") for line in data.decode().splitlines()]


def plan(engine: Commands, libpq: str, total: int, span: timedelta) -> Plan:
    """Make the templates through the engine and read where the clones start."""
    import psycopg

    made = [template(engine, moves) for _, moves in GROUPS]
    with psycopg.connect(libpq) as connection:
        templates = []
        for row, history in made:
            (case_fields,) = _text_rows(connection, "cases", "id", row["id"])
            event_fields = _text_rows(connection, "events", "case_id", row["id"])
            leaf_fields = _text_rows(connection, "log_leaves", "case_id", row["id"])[0]
            stay_fields = _text_rows(connection, "stays", "case_id", row["id"])
            templates.append(Template(case_fields, event_fields, leaf_fields, stay_fields, row, history))
        first_case, first_event, first_leaf, last_number = connection.execute(
            "SELECT (SELECT max(id) FROM cases), (SELECT max(id) FROM events), (SELECT size FROM log_head), "
            "(SELECT last FROM case_numbers)").fetchone() or (0, 0, 0, 0)
    return Plan(libpq, int(first_case) + 1, int(last_number) + 1, int(first_event) + 1, int(first_leaf),
                tuple(templates), total, span)


_ix = {table: {name: index for index, name in enumerate(columns)} for table, columns in _COLUMNS.items()}
_connection: Any = None
_plan: Plan | None = None


def _init(shared: Plan) -> None:
    global _plan
    _plan = shared


def write_batch(bounds: tuple[int, int]) -> tuple[int, bytes, float]:
    """Clones ``[start, end)`` written in one transaction; (start, their leaf hashes in index order, seconds)."""
    import psycopg

    global _connection
    assert _plan is not None
    started = time.perf_counter()
    if _connection is None:
        _connection = psycopg.connect(_plan.libpq, autocommit=True)
        _connection.execute("SET synchronous_commit = off")
    start, end = bounds
    p = _plan
    c_ix, e_ix, l_ix, s_ix = _ix["cases"], _ix["events"], _ix["log_leaves"], _ix["stays"]
    case_lines, event_lines, leaf_lines, stay_lines, hashes = [], [], [], [], []
    event_id, leaf_idx = p.first_event + p.events_before(start), p.first_leaf + p.events_before(start)
    for i in range(start, end):
        t = p.templates[group(i)]
        cid, number = p.first_case + i, f"TRK-2026-{p.first_number + i:06d}"
        earlier = p.earlier(i)
        chain, entries = clone(t.row, t.history, cid, number, earlier)
        for fields, event, entry in zip(t.event_fields, chain, entries):
            fields = list(fields)
            fields[e_ix["id"]], fields[e_ix["case_id"]] = str(event_id), str(cid)
            if earlier:
                fields[e_ix["at"]] = event.at.isoformat()
            fields[e_ix["prev_hash"]], fields[e_ix["hash"]] = event.prev_hash, event.hash
            event_lines.append("\t".join(fields))
            leaf = entry.leaf()
            hashes.append(leaf)
            row = list(t.leaf_fields)
            row[l_ix["idx"]], row[l_ix["case_id"]], row[l_ix["seq"]] = str(leaf_idx), str(cid), str(event.seq)
            row[l_ix["leaf"]] = leaf.hex()
            leaf_lines.append("\t".join(row))
            event_id += 1
            leaf_idx += 1
        fields = list(t.case_fields)
        fields[c_ix["id"]], fields[c_ix["number"]], fields[c_ix["last_hash"]] = str(cid), number, chain[-1].hash
        if earlier:
            for name in t.times:
                fields[c_ix[name]] = (t.row[name] - earlier).isoformat()
        case_lines.append("\t".join(fields))
        # The stays move with the events (lengths and time since intake unchanged: the whole
        # history, created_at included, is shifted by the same whole seconds).
        shift = earlier // MICROSECOND
        for stay in t.stay_fields:
            stay = list(stay)
            stay[s_ix["case_id"]] = str(cid)
            for name in ("entered_us", "left_us"):
                if shift and stay[s_ix[name]] != "\\N":
                    stay[s_ix[name]] = str(int(stay[s_ix[name]]) - shift)
            stay_lines.append("\t".join(stay))
    with _connection.transaction():
        cursor = _connection.cursor()
        for table, lines in (("cases", case_lines), ("events", event_lines), ("log_leaves", leaf_lines),
                             ("stays", stay_lines)):
            with cursor.copy(f"COPY {table} ({_quoted(table)}) FROM STDIN") as copy:
                copy.write("\n".join(lines) + "\n")
    return start, b"".join(hashes), time.perf_counter() - started


def _definitions(connection: Any) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str]]]:
    """(table, kind, constraint, definition) of the unique and foreign-key constraints, foreign keys
    first, and (table, index, definition) of the other non-primary-key indexes, of the seeded tables."""
    constraints = connection.execute(
        "SELECT conrelid::regclass::text, contype::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid::regclass::text = ANY(%s) AND contype IN ('u', 'f') ORDER BY contype, conname",
        (list(TABLES),)).fetchall()
    indexes = connection.execute(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = ANY(%s) AND indexname NOT IN (SELECT conname FROM pg_constraint) ORDER BY indexname",
        (list(TABLES),)).fetchall()
    return [tuple(c) for c in constraints], [tuple(i) for i in indexes]


def _timed(took: dict[str, Any], label: str, run: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    value = run()
    took[label] = round(time.perf_counter() - started, 1)
    print(f"  {label}: {took[label]} s", flush=True)
    return value


def _batches(total: int, batch: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, batch):
        yield start, min(start + batch, total)


def seed(engine: Commands, url: str, total: int, *, workers: int = 2, batch: int = 10_000,
         span: timedelta = timedelta(days=3650), deadline: float | None = None) -> dict[str, Any]:
    """Seed ``total`` clones (fewer when the ``deadline``, a ``time.time()``, passes: whole batches only);
    seconds per phase, the clones seeded and the rates."""
    import psycopg

    libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
    took: dict[str, Any] = {"workers": workers, "batch": batch, "closed_span_days": span.days}
    shared = _timed(took, "templates_seconds", lambda: plan(engine, libpq, total, span))
    engine.db.dispose()  # no connection of the parent's is inherited by the workers
    context = multiprocessing.get_context("fork")
    pool = context.Pool(workers, initializer=_init, initargs=(shared,))
    admin = psycopg.connect(libpq, autocommit=True)
    constraints, indexes = _definitions(admin)
    for table, _, name, _ in constraints:
        admin.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for _, name, _ in indexes:
        admin.execute(f'DROP INDEX "{name}"')
    for table in TABLES:
        admin.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    size, frontier, chunks = shared.first_leaf, [], []
    head_row = admin.execute("SELECT frontier FROM log_head").fetchone()
    frontier = [bytes.fromhex(part) for part in str(head_row[0]).split()] if head_row else []

    def completed(level: int, index: int, value: bytes) -> None:
        if level == CHUNK_LEVEL:
            chunks.append((index, value.hex()))

    done, generating, fold_seconds = 0, 0.0, 0.0
    started = time.perf_counter()
    with pool:
        pending: deque[Any] = deque()
        work = _batches(total, batch)
        while True:
            while len(pending) < 2 * workers and (deadline is None or time.time() < deadline):
                bounds = next(work, None)
                if bounds is None:
                    break
                pending.append(pool.apply_async(write_batch, (bounds,)))
            if not pending:
                break
            start, hashes, seconds = pending.popleft().get()
            generating += seconds
            fold_started = time.perf_counter()
            for offset in range(0, len(hashes), 32):
                size = tree_append(size, frontier, hashes[offset:offset + 32], completed)
            fold_seconds += time.perf_counter() - fold_started
            done = min(start + batch, total)
            if done % (batch * 20) == 0:
                rate = done / (time.perf_counter() - started)
                print(f"  {done} clones, {rate:.0f}/s", flush=True)
    took["load_seconds"] = round(time.perf_counter() - started, 1)
    took["worker_batch_seconds"], took["fold_seconds"] = round(generating, 1), round(fold_seconds, 1)
    took["clones"] = done
    print(f"  loaded {done} clones in {took['load_seconds']} s", flush=True)

    def finish() -> None:
        with admin.transaction():
            cursor = admin.cursor()
            with cursor.copy("COPY log_chunks (idx, hash) FROM STDIN") as copy:
                for chunk in chunks:
                    copy.write_row(chunk)
            admin.execute("UPDATE log_head SET size = %s, frontier = %s",
                          (size, " ".join(h.hex() for h in frontier)))
            admin.execute("UPDATE case_numbers SET last = %s", (shared.first_number + done - 1,))
            for table in ("cases", "events"):
                admin.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")

    _timed(took, "head_seconds", finish)

    def rebuild() -> None:
        # Biggest table first so the two builders finish together; foreign keys last, after the keys.
        order = {"events": 0, "log_leaves": 1, "stays": 2, "cases": 3}
        statements = sorted([(order[table], definition) for table, _, definition in indexes] + [
            (order[table], f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            for table, kind, name, definition in constraints if kind == "u"])

        def run(statement: str) -> None:
            with psycopg.connect(libpq, autocommit=True) as connection:
                connection.execute(statement)

        with ThreadPoolExecutor(2) as builders:
            list(builders.map(run, [statement for _, statement in statements]))
        for table, kind, name, definition in constraints:
            if kind == "f":
                admin.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')

    _timed(took, "index_seconds", rebuild)
    for table in TABLES:
        admin.execute(f"ALTER TABLE {table} RESET (autovacuum_enabled)")
    _timed(took, "vacuum_analyze_seconds", lambda: [admin.execute(f"VACUUM ANALYZE {t}") for t in TABLES])
    admin.close()
    took["seconds"] = round(sum(v for k, v in took.items() if k.endswith("_seconds") and k not in
                                ("worker_batch_seconds", "fold_seconds")), 1)
    took["cases_per_s"] = round(done / took["seconds"]) if took["seconds"] else None
    return took
