"""The administrators' record (``admin_events``, revision 0010): every staff, password, token,
migration and notice-retry change with its actor — from the command line as ``os:ACCOUNT`` (or
``os:ACCOUNT as USER`` with ``--as``, checked), from the web app as the staff member — and the
revision's backfill of what was already known."""

from __future__ import annotations

import getpass
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from engine.app.commands import Commands
from engine.errors import Conflict, NotAllowed, PermissionDenied
from engine.store import staff_rows
from engine.store.migrations import downgrade, upgrade
from engine.store.schema import admin_events
from tests.conftest import COMPLAINT, FakeClock
from tests.test_service import run, to_ditangani, version_2, workflow_copy

OS = f"os:{getpass.getuser()}"


def record(engine: Commands) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    with engine.db.begin() as connection:
        return [(r.actor, r.action, r.target, json.loads(r.detail) if r.detail else {})
                for r in connection.execute(select(admin_events).where(admin_events.c.actor != "system")
                                            .order_by(admin_events.c.id))]


def test_the_cli_records_its_operator_for_every_staff_token_and_retry_change(
        engine: Commands, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    run(cli, "staff", "add", "sari", "--name", "Sari", "--role", "admin_lalisa")
    run(cli, "staff", "update", "sari", "--phone", "0812-1111-2222", "--as", "inovator")
    run(cli, "staff", "update", "sari", "--name", "Sari K", "--as", "kabid", code=3)  # kabid may not manage staff
    run(cli, "staff", "disable", "sari")
    run(cli, "staff", "enable", "sari", "--as", "inovator")
    monkeypatch.setattr("sys.stdin", io.StringIO("sandi-baru-sari-2026\n"))
    run(cli, "staff", "passwd", "sari")
    run(cli, "token", "create", "sari", "--name", "SP4N")
    run(cli, "token", "revoke", "1")
    engine.submit("admin", COMPLAINT)
    run(cli, "notices", "retry", "1")
    assert [(actor, action, target) for actor, action, target, _ in record(engine)] == [
        (OS, "staff_added", "sari"), (f"{OS} as inovator", "staff_updated", "sari"), (OS, "staff_disabled", "sari"),
        (f"{OS} as inovator", "staff_enabled", "sari"), (OS, "password_set", "sari"), (OS, "token_created", "sari"),
        (OS, "token_revoked", "sari"), (OS, "notice_retry", "1")]
    details = {action: detail for _, action, _, detail in record(engine)}
    assert details["staff_updated"] == {"phone": "+6281211112222"}
    assert details["token_created"] == {"token": 1, "name": "SP4N"}
    assert "sandi-baru" not in json.dumps(record(engine))  # never a password


def test_an_edit_on_an_old_revision_is_refused_and_nothing_is_written(engine: Commands) -> None:
    revision = engine.db.read(lambda c: staff_rows.revision_of(c, "admin"))
    assert revision is not None
    engine.update_staff("admin", name="Rina A", expected_revision=revision, acting_for="inovator")
    with pytest.raises(Conflict):
        engine.update_staff("admin", email="lain@contoh.id", expected_revision=revision, acting_for="inovator")
    with pytest.raises(Conflict):
        engine.set_staff_active("admin", False, expected_revision=revision, acting_for="inovator")
    member = engine.db.read(lambda c: staff_rows.by_username(c, "admin"))
    assert member is not None and (member.name, member.email, member.active) == (
        "Rina A", "admin@satpolpp.balangankab.go.id", True)
    assert [a for _, a, _, _ in record(engine)] == ["staff_updated"]


def test_an_administrator_cannot_lock_themselves_out(engine: Commands) -> None:
    with pytest.raises(NotAllowed):
        engine.set_staff_active("inovator", False, acting_for="inovator")
    with pytest.raises(NotAllowed):
        engine.update_staff("inovator", roles=["kabid_trantibum"], acting_for="inovator")
    with pytest.raises(PermissionDenied):
        engine.set_staff_active("inovator", False, acting_for="kabid")
    assert record(engine) == []


def test_migrations_are_recorded_and_the_revision_backfills_what_was_known(
        engine: Commands, cli: Any, tmp_path: Path, clock: FakeClock) -> None:
    moving = to_ditangani(engine)
    run(cli, "deploy", workflow_copy(tmp_path, version_2), "--as", "inovator")
    run(cli, "migrate", moving, "--to-version", "2", "--map", "ditangani=penanganan", "--as", "inovator")
    clock.advance(minutes=5)
    run(cli, "staff", "add", "sari", "--name", "Sari", "--role", "admin_lalisa", "--as", "inovator")
    before = [row for row in record(engine) if row[1] in ("migration", "staff_added")]
    assert [(a, b, c) for a, b, c, _ in before] == [("inovator", "migration", "treckk"),
                                                    (f"{OS} as inovator", "staff_added", "sari")]
    assert before[0][3]["numbers"] == [moving] and before[0][3]["to_version"] == 2
    # A database from before revision 0010: its known staff additions and migrations become rows.
    downgrade(engine.db, "0008")
    upgrade(engine.db)
    after = record(engine)
    assert [(a, b, c) for a, b, c, _ in after] == [("inovator", "migration", "treckk"),
                                                   (f"{OS} as inovator", "staff_added", "sari")]
    assert after[0][3] == {"to_version": 2, "cases": 1, "numbers": [moving]}
    with engine.db.begin() as connection:
        connection.execute(delete(admin_events))
