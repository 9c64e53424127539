"""The transparency log as commands write it: leaves in commit order, checkpoints, serve, migration 0005."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from engine.app.commands import Commands
from engine.app.transparency import write_checkpoint
from engine.app.verification import Anchors, verify
from engine.core.merkle import fold, root_of
from engine.store import log_rows
from engine.store.migrations import downgrade, upgrade
from engine.store.schema import log_leaves
from tests.conftest import COMPLAINT, STAFF


def leaves(engine: Commands) -> list[Any]:
    with engine.db.begin() as connection:
        return list(connection.execute(select(log_leaves).order_by(log_leaves.c.idx)))


def test_every_event_and_deployment_is_a_leaf_in_order(engine: Commands) -> None:
    number = engine.submit("admin", COMPLAINT).number
    engine.advance(number, "teruskan", "admin")
    rows = leaves(engine)
    staff = len(STAFF)  # each account added is sealed with a staff leaf
    assert [(r.idx, r.kind, r.seq) for r in rows] == [
        (0, "deploy", None), *[(i, "staff", None) for i in range(1, staff + 1)],
        (staff + 1, "event", 1), (staff + 2, "event", 2)]
    assert [r.subject for r in rows[1:staff + 1]] == [username for username, *_ in STAFF]
    with engine.db.begin() as connection:
        size, frontier = log_rows.head(connection)
    assert size == staff + 3 and fold(frontier) == root_of([bytes.fromhex(r.leaf) for r in rows])
    # A refused move appends nothing.
    before = len(rows)
    try:
        engine.advance(number, "sahkan", "kabid")
    except Exception:  # noqa: BLE001 - the refusal itself is tested elsewhere
        pass
    assert len(leaves(engine)) == before


def test_concurrent_writers_get_gap_free_indexes_and_a_log_that_verifies(engine: Commands) -> None:
    numbers = [engine.submit("admin", COMPLAINT).number for _ in range(24)]
    errors: list[BaseException] = []

    def work(mine: list[str]) -> None:
        try:
            for number in mine:
                engine.advance(number, "teruskan", "admin")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(numbers[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [r.idx for r in leaves(engine)] == list(range(1 + len(STAFF) + 24 * 2))
    assert verify(engine.db.url, anchors=Anchors(None), jobs=1).findings == []


def test_periodic_checkpoints_only_when_the_log_grew(engine: Commands, tmp_path: Path) -> None:
    from engine.adapters.scheduler import Scheduler

    key = Ed25519PrivateKey.generate()
    folder = tmp_path / "checkpoints"
    first = write_checkpoint(engine, key, folder, only_if_grown=True)
    assert first is not None and first.size == 1 + len(STAFF)
    assert write_checkpoint(engine, key, folder, only_if_grown=True) is None
    engine.submit("admin", COMPLAINT)
    second = write_checkpoint(engine, key, folder, only_if_grown=True)
    assert second is not None and second.size == 2 + len(STAFF)
    assert len(list(folder.glob("checkpoint-*.json"))) == 2
    assert (folder.stat().st_mode & 0o777) == 0o700
    report = verify(engine.db.url, anchors=Anchors(key.public_key()), jobs=1)
    assert report.findings == [] and report.checkpoints == 2

    runner = Scheduler(engine, checkpoint=lambda: None, checkpoint_interval=5)
    runner.start()
    try:
        assert "checkpoint" in {job.id for job in runner.jobs()}
    finally:
        runner.stop()


def test_migration_0005_puts_existing_history_into_the_log(engine: Commands) -> None:
    number = engine.submit("admin", COMPLAINT).number
    engine.advance(number, "teruskan", "admin")
    engine.advance(number, "tolak", "kabid", {"alasan": "bukan kewenangan"})
    other = engine.submit("admin", COMPLAINT).number
    before = [(r.kind, r.case_id, r.seq, r.leaf) for r in leaves(engine) if r.kind != "staff"]
    sealed = {r.subject: r.leaf for r in leaves(engine) if r.kind == "staff"}
    downgrade(engine.db, "0002")
    upgrade(engine.db)
    after = leaves(engine)
    # 0005 puts back the deployments and events in order; 0015 then seals each account as it stands.
    assert [(r.kind, r.case_id, r.seq, r.leaf) for r in after if r.kind != "staff"] == before
    assert [r.kind for r in after[len(before):]] == ["staff"] * len(STAFF)
    assert {r.subject: r.leaf for r in after if r.kind == "staff"} == sealed
    assert verify(engine.db.url, anchors=Anchors(None), jobs=1).findings == []
    assert other


def test_every_account_change_through_the_engine_is_sealed_and_verifies(application: Any, engine: Commands) -> None:
    credentials = application.credentials
    before = len(leaves(engine))
    engine.update_staff("tim_juai", roles=["tim_treckk"], scope="paringin")
    engine.update_staff("kasat", email="kasat.baru@satpolpp.balangankab.go.id")
    engine.set_staff_active("kabid", False)
    engine.set_staff_active("kabid", True)
    credentials.set_password("kasat", "kata-sandi-yang-panjang-2026")
    token_id, _token = credentials.create_token("admin", "integrasi")
    credentials.revoke_token(token_id)
    added = leaves(engine)[before:]
    assert [(r.kind, r.subject) for r in added] == [
        ("staff", "tim_juai"), ("staff", "kasat"), ("staff", "kabid"), ("staff", "kabid"), ("staff", "kasat"),
        ("staff", "admin"), ("staff", "admin")]
    assert verify(engine.db.url, anchors=Anchors(None), jobs=1).findings == []
    # A refused change appends nothing.
    try:
        engine.update_staff("tim_juai", roles=["peran_tidak_ada"])
    except Exception:  # noqa: BLE001 - the refusal itself is tested elsewhere
        pass
    assert len(leaves(engine)) == before + len(added)
