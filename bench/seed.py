"""Building benchmark databases quickly: staff, a deployed definition, and many cases in bulk."""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from engine.core.integrity import sealed
from engine.core.records import EventRecord
from engine.app.commands import Commands
from engine.store.database import Database
from engine.store.migrations import upgrade
from engine.store.schema import cases, events

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 11, 30, 0, 0, tzinfo=timezone.utc)  # Monday 08:00 WITA

STAFF = (
    ("admin", "Admin La-Lisa", ["admin_lalisa"], None, "081200000001", "admin@contoh.go.id"),
    ("kabid", "Kepala Bidang", ["kabid_trantibum"], None, "081200000002", "kabid@contoh.go.id"),
    ("kasat", "Kepala Satpol PP", ["penanggung_jawab"], None, "081200000003", "kasat@contoh.go.id"),
    ("tim", "Tim Paringin", ["tim_treckk"], "paringin", "081200000005", None),
)

DATA = {
    "kanal": "whatsapp", "nama_pelapor": "Budi Santoso", "nomor_pelapor": "+6281255550101",
    "uraian": "Pedagang kaki lima menutup badan jalan di depan Pasar Paringin sejak pagi.",
    "kecamatan": "paringin", "kategori": "pkl_tempat_usaha", "lokasi": "Jl. Ahmad Yani, Paringin",
}


def fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def new_engine(url: str, clock: Callable[[], datetime] = fixed(START)) -> Commands:
    database = Database(url)
    upgrade(database)
    engine = Commands(database, clock, ROOT)
    engine.deploy(ROOT / "workflows" / "treckk.yaml", None)
    return engine


def rollup(url: str) -> float:
    """Derive the stays rollup (``engine.store.stay_rows``) of the cases seeded in bulk behind the
    engine's back, as revision 0016 does for an existing database (on PostgreSQL then vacuumed and
    analysed, as autovacuum would); the seconds it took."""
    from engine.store import stay_rows

    started = time.perf_counter()
    database = Database(url)
    try:
        database.transaction(lambda connection: stay_rows.backfill(connection))
        if not database.is_sqlite:
            # What autovacuum does within a minute or so of a bulk insert on a running server
            # (revision 0016 itself ANALYZEs): statistics, and the visibility map that lets an
            # index-only scan skip the table (at 50k, the year view of the same code: 3.3 s before, 1.1 s after).
            with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE stays")
    finally:
        database.dispose()
    return time.perf_counter() - started


def add_staff(engine: Commands) -> None:
    for username, name, roles, kecamatan, phone, email in STAFF:
        engine.add_staff(username, name, roles, kecamatan, phone, email)


def staffed_digest(url: str) -> str:
    """Prepare the database at ``url`` for a bulk seed (schema, the deployed TRECKK definition, the
    staff) and return the definition's digest, which the seeded cases name."""
    engine = new_engine(url)
    add_staff(engine)
    digest = engine.db.read(lambda c: engine.compiled(c, "treckk")).digest
    engine.db.dispose()
    return digest


@contextlib.contextmanager
def scratch_postgres(admin_url: str, prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of ``admin_url`` named ``prefix`` and a random
    suffix; yields its URL and drops it afterwards, whatever happened inside."""
    import psycopg

    libpq = admin_url.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(libpq, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bulk_cases(engine: Commands, count: int, *, state: str = "diterima", due: Callable[[int], datetime | None] = lambda i: None,
               with_events: bool = True, batch: int = 20_000, first: int = 1) -> list[str]:
    """Insert ``count`` cases as ``submit`` would leave them (and their intake event)."""
    compiled = engine.db.transaction(lambda c: engine.compiled(c, "treckk"))
    numbers: list[str] = []
    for offset in range(0, count, batch):
        rows: list[dict[str, Any]] = []
        event_rows: list[dict[str, Any]] = []
        for i in range(first + offset, first + min(offset + batch, count)):
            number = f"TRK-2026-{i:07d}"
            numbers.append(number)
            due_at = due(i)
            intake = sealed(number, EventRecord(0, 1, "catat", None, "diterima", "admin", "admin_lalisa", START,
                                                dict(DATA)))
            rows.append({
                "id": i, "number": number, "workflow": "treckk", "definition_version": 1,
                "definition_digest": compiled.digest, "state": state, "data": DATA, "kecamatan": "paringin",
                "version": 1, "created_at": START, "updated_at": START, "state_entered_at": START, "state_entry": 1,
                "due_at": due_at, "next_step": 0 if due_at else None, "next_step_at": due_at,
                "last_hash": intake.hash,
            })
            if with_events:
                event_rows.append({
                    "case_id": i, "seq": 1, "trigger": "catat", "from_state": None, "to_state": "diterima",
                    "actor": "admin", "role": "admin_lalisa", "at": START, "input": DATA, "comment": None,
                    "idempotency_key": None, "prev_hash": "", "hash": intake.hash,
                })
        with engine.db.begin() as connection:
            connection.execute(insert(cases), rows)
            if event_rows:
                connection.execute(insert(events), event_rows)
    return numbers


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy a checkpointed SQLite database file."""
    import sqlite3

    connection = sqlite3.connect(source)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, target)


def after(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)
