"""The tamper suite: direct edits of the database files, each found by ``treckk verify`` and named.

One history is built per backend (cases in several states, an escalation step fired, a signed
checkpoint sent to the checkpoint folder, then more moves after it); each test edits a copy of
that database with plain SQL — as someone with the database password or the file would — and runs
``treckk verify --json``, expecting exit 8 and a finding whose text names what was changed. The
last tests show what the log cannot find (docs/integrity.md): a tail rewritten after the last
checkpoint that left the building, and everything, by whoever holds the signing key.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, delete, insert, select, text, update

from engine.core.integrity import sealed
from engine.core.log_entries import event_entry
from engine.core.merkle import CHUNK_LEVEL, append, fold
from engine.core.records import EventRecord
from engine.store.schema import (
    case_numbers,
    cases,
    definitions,
    escalations,
    events,
    log_checkpoints,
    log_chunks,
    log_head,
    log_leaves,
    notices,
    staff,
    staff_grants,
    staff_passwords,
    stays,
    api_tokens,
)
from tests.conftest import COMPLAINT, POSTGRES_ADMIN_URL, STAFF, FakeClock, run_cli

JUAI = {**COMPLAINT, "kecamatan": "juai", "uraian": "Baliho roboh di simpang empat Juai."}


@dataclass
class Baseline:
    url: str
    key: Path
    folder: Path
    numbers: dict[str, str]
    """A: verifikasi; B: ditolak (juai); C: ditelaah, one escalation step fired; D: diterima; E: after the checkpoint."""
    backend: str


def _build(url: str, tmp: Path) -> Baseline:
    from engine.app.assembly import build
    from engine.app.settings import Settings
    from engine.app.transparency import keygen, private_key, write_checkpoint
    from engine.store.migrations import upgrade
    from tests.conftest import ROOT

    clock = FakeClock()
    app = build(Settings.from_environment({"TRECKK_HOME": str(ROOT), "TRECKK_DATABASE_URL": url,
                                           "TRECKK_OUTBOX_DIR": str(tmp / "outbox")}), clock=clock)
    upgrade(app.database)
    engine = app.commands
    engine.deploy(ROOT / "workflows" / "treckk.yaml", None)
    for username, name, roles, kecamatan, phone, email in STAFF:
        engine.add_staff(username, name, roles, kecamatan, phone, email)
    numbers = {}
    numbers["A"] = engine.submit("admin", COMPLAINT).number
    engine.advance(numbers["A"], "teruskan", "admin")
    engine.advance(numbers["A"], "minta_verifikasi", "kabid", {"instruksi": "cek lokasi"})
    numbers["B"] = engine.submit("admin", JUAI).number
    engine.advance(numbers["B"], "teruskan", "admin")
    engine.advance(numbers["B"], "tolak", "kabid", {"alasan": "bukan kewenangan"})
    numbers["C"] = engine.submit("admin", COMPLAINT).number
    engine.advance(numbers["C"], "teruskan", "admin")
    clock.advance(hours=5)
    engine.escalate()
    numbers["D"] = engine.submit("admin", COMPLAINT).number
    key = tmp / "keys" / "treckk.key"
    keygen(key)
    folder = tmp / "checkpoints"
    write_checkpoint(engine, private_key(key, "key"), folder)
    clock.advance(minutes=10)
    numbers["E"] = engine.submit("admin", COMPLAINT).number
    engine.advance(numbers["E"], "teruskan", "admin")
    app.close()
    return Baseline(url, key, folder, numbers, "sqlite" if url.startswith("sqlite") else "postgresql")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def baseline(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Baseline]:
    tmp = tmp_path_factory.mktemp(f"tamper-{request.param}")
    if request.param == "sqlite":
        yield _build(f"sqlite:///{tmp / 'base.db'}", tmp)
        return
    from tests.conftest import fresh_postgres_database, require_postgres

    require_postgres()
    with fresh_postgres_database() as url:
        yield _build(url, tmp)


@pytest.fixture
def copy(baseline: Baseline, tmp_path: Path) -> Iterator[Baseline]:
    """A copy of the baseline database for one test to edit."""
    if baseline.backend == "sqlite":
        import sqlite3

        source = baseline.url.removeprefix("sqlite:///")
        target = tmp_path / "copy.db"
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        yield replace(baseline, url=f"sqlite:///{target}")
        return
    import psycopg

    admin_url = POSTGRES_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    base_name = baseline.url.rsplit("/", 1)[1]
    name = f"treckk_c_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{base_name}"')
    try:
        yield replace(baseline, url=f"{baseline.url.rsplit('/', 1)[0]}/{name}")
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def edit(db: Baseline, work: Callable[[Connection], None]) -> None:
    engine = create_engine(db.url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as connection:
            work(connection)
    finally:
        engine.dispose()


def verify(db: Baseline, monkeypatch: pytest.MonkeyPatch, *args: str, folder: bool = True) -> tuple[int, Any]:
    monkeypatch.setenv("TRECKK_DATABASE_URL", db.url)
    monkeypatch.setenv("TRECKK_SIGNING_KEY_FILE", str(db.key))
    monkeypatch.setenv("TRECKK_CHECKPOINT_DIR", str(db.folder if folder else db.folder.parent / "nothing-here"))
    result = run_cli("verify", "--json", "--jobs", "1", *args)
    assert result.err == "" or result.code != 0, result.err
    return result.code, json.loads(result.out) if result.out else result.err


# -- editing helpers: what an attacker with SQL would write -------------------------------------

def case_id(c: Connection, number: str) -> int:
    return int(c.execute(select(cases.c.id).where(cases.c.number == number)).scalar_one())


def history(c: Connection, cid: int) -> list[EventRecord]:
    from engine.store.case_rows import _EVENT_COLUMNS

    return [EventRecord(*row) for row in c.execute(select(*_EVENT_COLUMNS).where(events.c.case_id == cid)
                                                   .order_by(events.c.seq))]


def rechain(c: Connection, number: str, change: Callable[[list[EventRecord]], list[EventRecord]]) -> None:
    """Change a case's events and recompute its hash chain with the public recipe (no key needed)."""
    cid = case_id(c, number)
    changed = change(history(c, cid))
    c.execute(delete(events).where(events.c.case_id == cid))
    previous = ""
    for event in changed:
        sealed_event = sealed(number, replace(event, prev_hash=previous))
        previous = sealed_event.hash
        c.execute(insert(events).values(
            case_id=cid, seq=sealed_event.seq, trigger=sealed_event.trigger, from_state=sealed_event.from_state,
            to_state=sealed_event.to_state, actor=sealed_event.actor, role=sealed_event.role, at=sealed_event.at,
            input=sealed_event.input, comment=sealed_event.comment, idempotency_key=sealed_event.idempotency_key,
            prev_hash=sealed_event.prev_hash, hash=sealed_event.hash))
    last = changed[-1]
    c.execute(update(cases).where(cases.c.id == cid).values(last_hash=previous, version=len(changed),
                                                             state=last.to_state))


def rebuild_log(c: Connection, keep: Callable[[Any], bool] = lambda leaf: True,
                order: Callable[[list[Any]], list[Any]] = lambda leaves: leaves) -> None:
    """Recompute the whole log from the rows as they now are (leaves, chunks, head), as anyone can."""
    numbers = {int(r.id): str(r.number) for r in c.execute(select(cases.c.id, cases.c.number))}
    hashes = {(int(r.case_id), int(r.seq)): str(r.hash) for r in c.execute(select(events.c.case_id, events.c.seq,
                                                                                     events.c.hash))}
    leaves = [row for row in c.execute(select(log_leaves).order_by(log_leaves.c.idx)) if keep(row)]
    leaves = order(leaves)
    c.execute(delete(log_leaves))
    c.execute(delete(log_chunks))
    size, frontier = 0, []  # type: ignore[var-annotated]
    for row in leaves:
        if row.kind == "event":
            if (row.case_id, row.seq) not in hashes:
                continue
            leaf = event_entry(row.case_id, numbers[row.case_id], row.seq, hashes[(row.case_id, row.seq)],
                               row.workflow, row.definition_version, row.definition_digest).leaf()
        else:
            leaf = bytes.fromhex(row.leaf)
        c.execute(insert(log_leaves).values(idx=size, kind=row.kind, case_id=row.case_id, seq=row.seq,
                                            workflow=row.workflow, definition_version=row.definition_version,
                                            definition_digest=row.definition_digest, leaf=leaf.hex(),
                                            subject=row.subject))

        def chunk(level: int, index: int, value: bytes) -> None:
            if level == CHUNK_LEVEL:
                c.execute(insert(log_chunks).values(idx=index, hash=value.hex()))

        size = append(size, frontier, leaf, chunk)
    c.execute(update(log_head).values(size=size, frontier=" ".join(h.hex() for h in frontier)))


def reasons(result: Any) -> str:
    return "\n".join(f"{f['what']} {f['number']} {f['seq']}: {f['reason']}" for f in result["broken"])


# -- the edits ----------------------------------------------------------------------------------

def _remove_last_event_and_fix_row(db: Baseline) -> Callable[[Connection], None]:
    number = db.numbers["A"]

    def work(c: Connection) -> None:
        cid = case_id(c, number)
        kept = history(c, cid)[:-1]
        c.execute(delete(events).where((events.c.case_id == cid) & (events.c.seq == 3)))
        c.execute(update(cases).where(cases.c.id == cid).values(
            version=2, last_hash=kept[-1].hash, state=kept[-1].to_state, state_entry=2,
            state_entered_at=kept[-1].at))
    return work


def _delete_case(db: Baseline, *, and_log: bool = False) -> Callable[[Connection], None]:
    number = db.numbers["B"]

    def work(c: Connection) -> None:
        cid = case_id(c, number)
        c.execute(delete(notices).where(notices.c.case_id == cid))
        c.execute(delete(escalations).where(escalations.c.case_id == cid))
        c.execute(delete(events).where(events.c.case_id == cid))
        c.execute(delete(stays).where(stays.c.case_id == cid))  # derived rows, outside the record
        c.execute(delete(cases).where(cases.c.id == cid))
        if and_log:
            rebuild_log(c, keep=lambda leaf: leaf.case_id != cid)
    return work


def _set_case(db: Baseline, which: str, **values: Any) -> Callable[[Connection], None]:
    def work(c: Connection) -> None:
        row = c.execute(select(cases).where(cases.c.number == db.numbers[which])).one()
        resolved = {k: (v(row) if callable(v) else v) for k, v in values.items()}
        c.execute(update(cases).where(cases.c.number == db.numbers[which]).values(**resolved))
    return work


def _edit_event(db: Baseline, which: str, seq: int, *, chain: bool = False, log: bool = False,
                **values: Any) -> Callable[[Connection], None]:
    number = db.numbers[which]

    def work(c: Connection) -> None:
        if chain:
            rechain(c, number, lambda evs: [replace(e, **values) if e.seq == seq else e for e in evs])
        else:
            cid = case_id(c, number)
            c.execute(update(events).where((events.c.case_id == cid) & (events.c.seq == seq)).values(**values))
        if log:
            rebuild_log(c)
    return work


def _pii_for_the_team(*, fix_digest: bool, log: bool = False) -> Callable[[Connection], None]:
    def work(c: Connection) -> None:
        from engine.compile.workflow import Bundle

        row = c.execute(select(definitions.c.id, definitions.c.bundle)).first()
        assert row is not None
        raw = json.loads(row.bundle)
        lines = raw["roles_text"].split("\n")
        start = next(i for i, line in enumerate(lines) if line.strip().startswith("tim_treckk"))
        index = next(i for i in range(start, len(lines)) if "sees_pii" in lines[i])
        lines[index] = lines[index].replace("false", "true")
        raw["roles_text"] = "\n".join(lines)
        bundle = json.dumps(raw, ensure_ascii=False, sort_keys=True)
        values: dict[str, Any] = {"bundle": bundle}
        if fix_digest:
            values["digest"] = Bundle.from_json(bundle).digest
        c.execute(update(definitions).where(definitions.c.id == row.id).values(**values))
        if fix_digest:
            c.execute(update(cases).values(definition_digest=values["digest"]))
        if log:
            c.execute(update(log_leaves).values(definition_digest=values["digest"]))
            rebuild_log(c)
    return work


def _deploy_behind_the_back(c: Connection) -> None:
    from engine.compile.workflow import Bundle

    row = c.execute(select(definitions)).first()
    assert row is not None
    raw = json.loads(row.bundle)
    raw["workflow_text"] = raw["workflow_text"].replace("version: 1", "version: 2", 1)
    bundle = json.dumps(raw, ensure_ascii=False, sort_keys=True)
    c.execute(insert(definitions).values(workflow=row.workflow, version=2, digest=Bundle.from_json(bundle).digest,
                                         bundle=bundle, deployed_at=row.deployed_at, deployed_by="inovator"))


def _insert_event(db: Baseline) -> Callable[[Connection], None]:
    number = db.numbers["D"]

    def work(c: Connection) -> None:
        def more(evs: list[EventRecord]) -> list[EventRecord]:
            last = evs[-1]
            return [*evs, EventRecord(last.case_id, 2, "tandai_duplikat", "diterima", "ditolak", "admin",
                                      "admin_lalisa", last.at + timedelta(minutes=1), {"alasan": "dobel"})]
        rechain(c, number, more)
    return work


def _insert_case(db: Baseline, *, bump_counter: bool) -> Callable[[Connection], None]:
    def work(c: Connection) -> None:
        template = c.execute(select(cases).where(cases.c.number == db.numbers["D"])).one()
        last = int(c.execute(select(case_numbers.c.last)).scalar_one())
        number = f"{db.numbers['D'][:-6]}{last + 1:06d}"
        intake = sealed(number, EventRecord(0, 1, "catat", None, "diterima", "admin", "admin_lalisa",
                                            template.created_at, dict(template.data)))
        values = {k: v for k, v in template._mapping.items() if k != "id"}
        values.update(number=number, last_hash=intake.hash)
        cid = int(c.execute(insert(cases).values(**values).returning(cases.c.id)).scalar_one())
        c.execute(insert(events).values(case_id=cid, seq=1, trigger="catat", from_state=None, to_state="diterima",
                                        actor="admin", role="admin_lalisa", at=intake.at, input=intake.input,
                                        comment=None, idempotency_key=None, prev_hash="", hash=intake.hash))
        if bump_counter:
            c.execute(update(case_numbers).values(last=last + 1))
    return work


def _swap_leaves(c: Connection) -> None:
    """Reorder across cases: two event leaves of different cases trade places, the head recomputed."""
    rows = [row for row in c.execute(select(log_leaves).order_by(log_leaves.c.idx)) if row.kind == "event"]
    first, second = rows[0], next(r for r in rows if r.case_id != rows[0].case_id)

    def order(leaves: list[Any]) -> list[Any]:
        i = next(n for n, r in enumerate(leaves) if r.idx == first.idx)
        j = next(n for n, r in enumerate(leaves) if r.idx == second.idx)
        leaves[i], leaves[j] = leaves[j], leaves[i]
        return leaves
    rebuild_log(c, order=order)


def _forge_checkpoint(c: Connection, *, other_key: bool) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from engine.core import tree_heads

    row = c.execute(select(log_checkpoints)).one()
    if other_key:
        size, frontier = c.execute(select(log_head.c.size, log_head.c.frontier)).one()
        forged = tree_heads.sign(Ed25519PrivateKey.generate(), size,
                                 fold([bytes.fromhex(h) for h in frontier.split()]).hex(), row.time)
        c.execute(insert(log_checkpoints).values(origin=forged.origin, size=forged.size, root=forged.root,
                                                 time=forged.time, key_id=row.key_id, signature=forged.signature))
    else:
        c.execute(update(log_checkpoints).values(root="ab" * 32))


def _truncate_log(c: Connection, keep: int) -> None:
    c.execute(delete(log_leaves).where(log_leaves.c.idx >= keep))
    rebuild_log(c)


def _leaf_pin(c: Connection) -> None:
    row = c.execute(select(log_leaves.c.idx).where(log_leaves.c.kind == "event").order_by(log_leaves.c.idx)).first()
    assert row is not None
    c.execute(update(log_leaves).where(log_leaves.c.idx == row.idx).values(definition_version=7))


def staff_id(c: Connection, username: str) -> int:
    return int(c.execute(select(staff.c.id).where(staff.c.username == username)).scalar_one())


def _grant_by_sql(c: Connection) -> None:
    """The Juai team made Penanggung Jawab (every case, personal data) by one UPDATE."""
    c.execute(update(staff_grants).where(staff_grants.c.staff_id == staff_id(c, "tim_juai"))
              .values(role="penanggung_jawab", scope=None))


def _staff_by_sql(c: Connection) -> None:
    c.execute(insert(staff).values(username="penyusup", name="Penyusup", active=True,
                                   created_at=FakeClock()()))
    c.execute(insert(staff_grants).values(staff_id=staff_id(c, "penyusup"), workflow="treckk",
                                          role="penanggung_jawab", scope=None))


def _grant_and_leaf_by_sql(c: Connection, *, rebuild: bool) -> None:
    """The grant changed, and the account's newest leaf row given the new digest (and, with
    ``rebuild``, the leaf hash and the whole tree recomputed from it, as anyone can)."""
    from engine.core.log_entries import staff_entry
    from engine.store.staff_seals import account_states

    _grant_by_sql(c)
    state = account_states(c, ["tim_juai"])["tim_juai"]
    idx = c.execute(select(log_leaves.c.idx).where(log_leaves.c.subject == "tim_juai")
                    .order_by(log_leaves.c.idx.desc()).limit(1)).scalar_one()
    values: dict[str, Any] = {"definition_digest": state}
    if rebuild:
        values["leaf"] = staff_entry("tim_juai", state).leaf().hex()
    c.execute(update(log_leaves).where(log_leaves.c.idx == idx).values(**values))
    if rebuild:
        rebuild_log(c)


EDITS: dict[str, tuple[Callable[[Baseline], Callable[[Connection], None]], str]] = {
    # The 13 classes the issue found missed, and their neighbours.
    "last event removed, row fixed": (_remove_last_event_and_fix_row, "missing from the history"),
    "case deleted with its events": (lambda db: _delete_case(db), "a deleted case"),
    "case deleted, log recomputed without the key": (lambda db: _delete_case(db, and_log=True), "truncated"),
    "case row scope moved to juai": (lambda db: _set_case(db, "A", scope="juai"), "scope is 'juai'"),
    "case row scope and data moved to juai": (
        lambda db: _set_case(db, "A", scope="juai", data=lambda r: {**r.data, "kecamatan": "juai"}),
        "field kecamatan"),
    "case row data changed": (lambda db: _set_case(db, "A", data=lambda r: {**r.data, "uraian": "lain"}),
                              "field uraian"),
    "case row deadline moved": (lambda db: _set_case(db, "A", due_at=lambda r: r.due_at + timedelta(days=3)),
                                "due_at"),
    "case row next escalation time moved": (
        lambda db: _set_case(db, "C", next_step_at=lambda r: r.next_step_at + timedelta(days=3)), "next_step_at"),
    "case row escalation step reset": (lambda db: _set_case(db, "C", next_step=0), "next_step is 0"),
    "case row state changed": (lambda db: _set_case(db, "A", state="selesai"), "'selesai'"),
    "case row state and its event recomputed": (
        lambda db: _edit_event(db, "A", 3, chain=True, to_state="ditugaskan", trigger="tugaskan"),
        "rewritten"),
    "case row version changed": (lambda db: _set_case(db, "D", version=5), "version is 5"),
    "case row definition version changed": (lambda db: _set_case(db, "A", definition_version=2),
                                            "definition_version is 2"),
    "case row definition digest changed": (lambda db: _set_case(db, "A", definition_digest="0" * 64),
                                           "definition_digest"),
    "case row state entry time changed": (
        lambda db: _set_case(db, "A", state_entered_at=lambda r: r.state_entered_at - timedelta(hours=1)),
        "state_entered_at"),
    "case row updated time changed": (
        lambda db: _set_case(db, "B", updated_at=lambda r: r.updated_at + timedelta(hours=1)), "updated_at"),
    "definition given sees_pii for the team": (lambda db: _pii_for_the_team(fix_digest=False),
                                               "does not have its digest"),
    "definition edited with its digest recomputed": (lambda db: _pii_for_the_team(fix_digest=True),
                                                     "swapped"),
    "definition edited, digest and log recomputed": (lambda db: _pii_for_the_team(fix_digest=True, log=True),
                                                     "not a prefix"),
    "definition deployed behind the engine's back": (lambda db: _deploy_behind_the_back,
                                                     "not in the transparency log"),
    "event comment edited": (lambda db: _edit_event(db, "B", 3, comment="diubah"), "does not match its hash"),
    "event edited, chain recomputed": (lambda db: _edit_event(db, "B", 3, chain=True, input={"alasan": "x"}),
                                       "rewritten"),
    "event edited, chain and log recomputed": (
        lambda db: _edit_event(db, "B", 3, chain=True, log=True, input={"alasan": "x"}), "not a prefix"),
    "event actor edited, chain and log recomputed": (
        lambda db: _edit_event(db, "A", 2, chain=True, log=True, actor="kasat"), "not a prefix"),
    "event inserted with its chain": (_insert_event, "not in the transparency log"),
    "case inserted": (lambda db: _insert_case(db, bump_counter=False), "past the last number"),
    "case inserted with the counter bumped": (lambda db: _insert_case(db, bump_counter=True),
                                              "not in the transparency log"),
    "leaves reordered across cases": (lambda db: _swap_leaves, "not a prefix"),
    "event moved to another case": (
        lambda db: lambda c: c.execute(update(events).where(
            (events.c.case_id == case_id(c, db.numbers["D"])) & (events.c.seq == 1)).values(
            case_id=case_id(c, db.numbers["C"]), seq=3)), "does not match"),
    "checkpoint row deleted": (lambda db: lambda c: c.execute(delete(log_checkpoints)), "not in the database"),
    "checkpoint root forged": (lambda db: lambda c: _forge_checkpoint(c, other_key=False), "signature does not hold"),
    "checkpoint signed by another key": (lambda db: lambda c: _forge_checkpoint(c, other_key=True),
                                         "signature does not hold"),
    "log truncated before the checkpoint": (lambda db: lambda c: _truncate_log(c, 3), "truncated"),
    "log leaf removed from the middle": (
        lambda db: lambda c: c.execute(delete(log_leaves).where(log_leaves.c.idx == 2)), "leaves 2 to 2 are missing"),
    "log head edited": (lambda db: lambda c: c.execute(update(log_head).values(size=3)), "head"),
    "leaf pin edited": (lambda db: _leaf_pin, "rewritten"),
    "escalation record deleted": (lambda db: lambda c: c.execute(delete(escalations)), "next_step is 1 but its history gives 0"),
    # Staff accounts: what decides who may read and do what.
    "role granted by SQL": (lambda db: _grant_by_sql, "'tim_juai': the account"),
    "staff added by SQL": (lambda db: _staff_by_sql, "'penyusup' is not in the transparency log"),
    "staff disabled by SQL": (lambda db: lambda c: c.execute(update(staff).where(staff.c.username == "kabid")
                                                             .values(active=False)), "'kabid': the account"),
    "staff contact redirected by SQL": (
        lambda db: lambda c: c.execute(update(staff).where(staff.c.username == "kasat")
                                       .values(email="penyusup@example.org")), "'kasat': the account"),
    "password planted by SQL": (
        lambda db: lambda c: c.execute(insert(staff_passwords).values(
            staff_id=staff_id(c, "kasat"), password_hash="$argon2id$v=19$m=65536,t=3,p=4$planted",
            changed_at=FakeClock()())), "'kasat': the account"),
    "API token planted by SQL": (
        lambda db: lambda c: c.execute(insert(api_tokens).values(
            staff_id=staff_id(c, "kasat"), name="pintu belakang", token_hash="ab" * 32,
            created_at=FakeClock()())), "'kasat': the account"),
    "staff deleted by SQL": (
        lambda db: lambda c: (c.execute(delete(staff_grants).where(staff_grants.c.staff_id == staff_id(c, "tim_juai"))),
                              c.execute(delete(staff).where(staff.c.username == "tim_juai"))),
        "'tim_juai' is in the log"),
    "role granted and its leaf row edited": (lambda db: lambda c: _grant_and_leaf_by_sql(c, rebuild=False),
                                             "does not hold the account it names"),
    "role granted, its leaf and the log recomputed": (lambda db: lambda c: _grant_and_leaf_by_sql(c, rebuild=True),
                                                      "not a prefix"),
}


@pytest.mark.parametrize("name", EDITS)
def test_every_edit_is_found_and_named(name: str, copy: Baseline, monkeypatch: pytest.MonkeyPatch) -> None:
    before, clean = verify(copy, monkeypatch)
    assert before == 0 and clean["broken"] == [], clean
    make, expected = EDITS[name]
    edit(copy, make(copy))
    code, result = verify(copy, monkeypatch)
    assert code == 8, result
    assert expected in reasons(result), reasons(result)


def test_a_deleted_checkpoint_is_found_without_the_folder_too(copy: Baseline, monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    """Rewritten history with the checkpoint rows deleted: a checkpoint file given by hand still finds it."""
    [kept] = sorted(copy.folder.glob("*.json"))
    edit(copy, _edit_event(copy, "B", 3, chain=True, log=True, input={"alasan": "x"}))
    edit(copy, _set_case(copy, "B", data=lambda r: {**r.data, "alasan": "x"}))
    edit(copy, lambda c: c.execute(delete(log_checkpoints)))
    inside = verify(copy, monkeypatch, folder=False)
    assert inside[0] == 0, reasons(inside[1])  # nothing inside the database can tell
    code, result = verify(copy, monkeypatch, "--checkpoint", str(kept), folder=False)
    assert code == 8 and "not a prefix" in reasons(result)


def test_the_incremental_run_finds_the_tail_and_trusts_the_rest(copy: Baseline,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    code, result = verify(copy, monkeypatch, "--incremental")
    assert code == 0 and result["mode"] == "incremental" and result["checked"] == 1  # only E came after
    edit(copy, _set_case(copy, "E", scope="juai"))
    code, result = verify(copy, monkeypatch, "--incremental")
    assert code == 8 and "scope is 'juai'" in reasons(result)
    edit(copy, _set_case(copy, "E", scope="paringin"))
    edit(copy, _edit_event(copy, "B", 3, chain=True, log=True, input={"alasan": "x"}))
    code, result = verify(copy, monkeypatch, "--incremental")
    assert code == 8 and "no longer give the root" in reasons(result)


def test_a_parallel_run_finds_the_same(copy: Baseline, monkeypatch: pytest.MonkeyPatch) -> None:
    edit(copy, _set_case(copy, "A", scope="juai"))
    edit(copy, _edit_event(copy, "B", 3, comment="diubah"))
    one = verify(copy, monkeypatch)[1]
    code, two = verify(copy, monkeypatch, "--jobs", "2")
    assert code == 8 and two["broken"] == one["broken"] and two["checked"] == one["checked"] == 5


def test_what_the_log_cannot_find(copy: Baseline, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rewrite of the tail after the last checkpoint that left the building, log recomputed, is not found.

    (Neither is anything done by whoever holds the signing key and every copy of the checkpoints.)
    docs/integrity.md says so; this test keeps the documentation honest.
    """
    edit(copy, _edit_event(copy, "E", 2, chain=True, log=True, comment="ditulis ulang"))
    code, result = verify(copy, monkeypatch)
    assert code == 0, reasons(result)


# -- read-only, never the write lock, never a new file -------------------------------------------

def test_verify_reads_a_read_only_backup_and_never_creates_a_file(baseline: Baseline, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A backup file (0444, in a 0555 folder) is verified as it is, by a user who cannot write there.

    Run as a separate process; as root (who may write anywhere) it runs as ``nobody`` via setpriv.
    """
    if baseline.backend != "sqlite":
        pytest.skip("files are SQLite's")
    import os
    import sqlite3
    import subprocess
    import sys
    import tempfile

    from tests.conftest import ROOT

    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv cannot be kept from writing")
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        if subprocess.run([*prefix, "test", "-r", str(ROOT / "runner.py")]).returncode != 0:
            pytest.skip(f"user nobody cannot read this checkout ({ROOT} is in a private folder)")
    place = Path(tempfile.mkdtemp(prefix="treckk-backup-"))
    place.chmod(0o755)
    folder = place / "backup"
    folder.mkdir()
    backup = folder / "treckk.db"
    src, dst = sqlite3.connect(baseline.url.removeprefix("sqlite:///")), sqlite3.connect(backup)
    src.backup(dst)
    dst.close()
    src.close()
    public = place / "signing.pub"
    shutil.copyfile(f"{baseline.key}.pub", public)
    public.chmod(0o444)
    backup.chmod(0o444)
    folder.chmod(0o555)
    files = sorted(p.name for p in folder.iterdir())
    environment = {"PATH": os.environ.get("PATH", ""), "TZ": "Asia/Makassar", "TRECKK_HOME": str(ROOT),
                   "TRECKK_CHECKPOINT_DIR": str(place / "none")}
    try:
        done = subprocess.run([*prefix, sys.executable, str(ROOT / "runner.py"), "verify", "--db",
                               f"sqlite:///{backup}", "--public-key", str(public), "--json"],
                              capture_output=True, text=True, env=environment, cwd=place, timeout=120)
        assert done.returncode == 0, done.stderr + done.stdout
        assert json.loads(done.stdout)["checked"] == 5
        assert sorted(p.name for p in folder.iterdir()) == files
    finally:
        folder.chmod(0o755)
        shutil.rmtree(place)
    missing = tmp_path / "salah" / "treckk.db"
    code, message = verify(replace(baseline, url=f"sqlite:///{missing}"), monkeypatch)
    assert code == 7 and "does not exist" in message and not missing.parent.exists()


def test_verify_runs_while_a_writer_holds_the_write_lock(copy: Baseline, monkeypatch: pytest.MonkeyPatch) -> None:
    if copy.backend != "sqlite":
        pytest.skip("the write lock is SQLite's")
    import sqlite3

    writer = sqlite3.connect(copy.url.removeprefix("sqlite:///"), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE case_numbers SET last = last")
    try:
        assert verify(copy, monkeypatch)[0] == 0
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_move_commits_while_verify_holds_its_read_transaction(copy: Baseline) -> None:
    from engine.app.assembly import build
    from engine.app.settings import Settings
    from engine.store.readonly import ReadOnlyDatabase
    from tests.conftest import ROOT

    reader = ReadOnlyDatabase(copy.url)
    app = build(Settings.from_environment({"TRECKK_HOME": str(ROOT), "TRECKK_DATABASE_URL": copy.url}),
                clock=FakeClock())
    try:
        with reader.begin() as connection:
            before = connection.execute(select(log_head.c.size)).scalar_one()
            app.commands.advance(copy.numbers["D"], "teruskan", "admin")
            # The reader's snapshot stays as it began.
            assert connection.execute(select(log_head.c.size)).scalar_one() == before
    finally:
        app.close()
        reader.dispose()
    with pytest.raises(Exception):
        with ReadOnlyDatabase(copy.url).begin() as connection:
            connection.execute(text("DELETE FROM log_checkpoints"))


# -- checkpoints and proofs through the command line --------------------------------------------

def test_keygen_checkpoint_proof_and_offline_check(copy: Baseline, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    key = tmp_path / "k" / "signing.key"
    made = run_cli("keygen", str(key), "--json")
    assert made.code == 0 and (key.stat().st_mode & 0o777) == 0o600 and Path(f"{key}.pub").is_file()
    assert run_cli("keygen", str(key)).code == 2  # never overwrites
    monkeypatch.setenv("TRECKK_DATABASE_URL", copy.url)
    monkeypatch.setenv("TRECKK_SIGNING_KEY_FILE", str(key))
    folder = tmp_path / "out"
    monkeypatch.setenv("TRECKK_CHECKPOINT_DIR", str(folder))
    written = run_cli("checkpoint")
    assert written.code == 0, written.err
    checkpoint = json.loads(written.out)
    assert checkpoint["size"] > 0 and [p.name for p in folder.iterdir()][0].startswith("checkpoint-")
    proof = run_cli("proof", copy.numbers["A"])
    assert proof.code == 0, proof.err
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(proof.out)
    value = json.loads(proof.out)
    assert len(value["events"]) == 3 and value["checkpoint"] == checkpoint
    checked = run_cli("verify", "--proof", str(proof_file), "--public-key", f"{key}.pub", "--json")
    assert checked.code == 0 and json.loads(checked.out) == {"case": copy.numbers["A"], "proven": 3,
                                                             "signature": "holds", "broken": []}
    value["events"][1]["event_hash"] = "0" * 64
    proof_file.write_text(json.dumps(value))
    checked = run_cli("verify", "--proof", str(proof_file))
    assert checked.code == 8 and "event 2" in checked.out
    # The old checkpoint was signed by another key: verify with this one names it.
    monkeypatch.setenv("TRECKK_CHECKPOINT_DIR", str(folder))
    result = run_cli("verify", "--json")
    assert result.code == 8 and "signature does not hold" in result.out
    assert run_cli("verify", "--proof", str(tmp_path / "nothing.json")).code == 2
    shutil.rmtree(folder)
