"""The service's commands beyond single moves: deploy, migrate, staff, keys, notices, deadlines.

Deploy and migrate run through the command line (``treckk deploy/migrate``) on every backend;
the rest calls ``Commands`` directly and reads the tables.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engine.app.commands import Commands
from engine.store.schema import cases, definitions, events, notices
from engine.app.queries import Queries
from tests.conftest import COMPLAINT, ROOT, FakeClock


def workflow_copy(tmp_path: Path, edit: Any) -> Path:
    """A copy of the shipped workflow (with its roles and templates beside it, as deploy expects), edited."""
    (tmp_path / "workflows").mkdir(parents=True, exist_ok=True)
    (tmp_path / "roles").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "roles" / "treckk.yaml", tmp_path / "roles" / "treckk.yaml")
    if not (tmp_path / "templates").exists():
        shutil.copytree(ROOT / "templates", tmp_path / "templates")
    target = tmp_path / "workflows" / "treckk.yaml"
    target.write_text(edit((ROOT / "workflows" / "treckk.yaml").read_text(encoding="utf-8")), encoding="utf-8")
    return target


def version_2(text: str) -> str:
    """Version 2: the state ``ditangani`` is renamed ``penanganan``."""
    text = re.sub(r"^version: 1$", "version: 2", text, count=1, flags=re.MULTILINE)
    return re.sub(r"\bditangani\b", "penanganan", text)


def to_ditangani(engine: Commands) -> str:
    number = engine.submit("admin", COMPLAINT).number
    engine.advance(number, "teruskan", "admin")
    engine.advance(number, "tugaskan", "kabid", {"instruksi": "tertibkan"})
    engine.advance(number, "mulai_tangani", "tim_paringin")
    return number


def run(cli: Any, *args: Any, code: int = 0) -> Any:
    result = cli(*args)
    assert result.code == code, (args, result.out, result.err)
    if code:
        assert len(result.err.splitlines()) == 1, result.err
        return result.err
    return json.loads(result.out) if "--json" in args else result.out


def test_deploy_is_for_the_inovator_idempotent_and_versioned(engine: Commands, cli: Any, tmp_path: Path) -> None:
    shipped = ROOT / "workflows" / "treckk.yaml"
    for who, code in (("kabid", 3), ("admin", 3), ("kasat", 3), ("tim_paringin", 3), ("siapa", 6)):
        run(cli, "deploy", shipped, "--as", who, code=code)
    same = run(cli, "deploy", shipped, "--as", "inovator", "--json")
    assert (same["version"], same["new"]) == (1, False)
    relabelled = workflow_copy(tmp_path, lambda t: t.replace("label: Sedang ditangani", "label: Sedang dikerjakan"))
    message = run(cli, "deploy", relabelled, "--as", "inovator", code=2)
    assert "not newer than the deployed version 1" in message and "to 2" in message
    broken = workflow_copy(tmp_path / "b", lambda t: t.replace("to: selesai", "to: tamat"))
    run(cli, "deploy", broken, "--as", "inovator", code=2)
    with engine.db.begin() as connection:
        assert connection.execute(select(func.count()).select_from(definitions)).scalar_one() == 1

    old = to_ditangani(engine)
    newer = workflow_copy(tmp_path / "v2", version_2)
    deployed = run(cli, "deploy", newer, "--as", "inovator", "--json")
    assert (deployed["version"], deployed["new"]) == (2, True)
    assert run(cli, "deploy", newer, "--as", "inovator", "--json")["new"] is False
    # An older version cannot come back once a newer one is deployed.
    run(cli, "deploy", shipped, "--as", "inovator", code=2)

    views = Queries(engine)
    # The running case keeps version 1 and its state names; a new case starts on version 2.
    assert (views.show(old)["definition_version"], views.show(old)["state"]) == (1, "ditangani")
    fresh = engine.submit("admin", COMPLAINT).number
    engine.advance(fresh, "teruskan", "admin")
    engine.advance(fresh, "tugaskan", "kabid", {"instruksi": "tertibkan"})
    engine.advance(fresh, "mulai_tangani", "tim_paringin")
    assert (views.show(fresh)["definition_version"], views.show(fresh)["state"]) == (2, "penanganan")
    # The old case still moves by version 1's rules.
    engine.advance(old, "laporkan_hasil", "tim_paringin", {"tindakan": "a", "hasil": "b"})
    engine.advance(old, "kembalikan", "kabid", {"catatan": "c"})
    assert (views.show(old)["definition_version"], views.show(old)["state"]) == (1, "ditangani")


def test_migrate_moves_chosen_cases_with_a_state_map(engine: Commands, cli: Any, tmp_path: Path) -> None:
    views = Queries(engine)
    moving, staying, by_all = to_ditangani(engine), to_ditangani(engine), engine.submit("admin", COMPLAINT).number
    closed = engine.submit("admin", COMPLAINT).number
    engine.advance(closed, "tandai_duplikat", "admin", {"alasan": "ganda"})
    run(cli, "deploy", workflow_copy(tmp_path, version_2), "--as", "inovator")

    before = [views.show(n) for n in (moving, staying)]
    message = run(cli, "migrate", moving, "--to-version", "2", "--as", "inovator", code=2)
    assert "--map ditangani=STATE" in message
    run(cli, "migrate", moving, "--to-version", "2", "--map", "ditangani=penanganan", "--as", "kabid", code=3)
    run(cli, "migrate", "TRK-2026-999999", "--to-version", "2", "--as", "inovator", code=6)
    run(cli, "migrate", moving, "--to-version", "3", "--as", "inovator", code=6)
    run(cli, "migrate", moving, "--to-version", "2", "--map", "ditangani", "--as", "inovator", code=2)
    assert [views.show(n) for n in (moving, staying)] == before

    moved = run(cli, "migrate", moving, "--to-version", "2", "--map", "ditangani=penanganan", "--as", "inovator",
                "--json")
    assert moved == [{"number": moving, "state": "penanganan", "definition_version": 2}]
    shown = views.show(moving)
    assert (shown["state"], shown["definition_version"]) == ("penanganan", 2)
    assert shown["version"] == before[0]["version"] + 1
    last = views.history(moving)[-1]
    assert (last["seq"], last["trigger"], last["from"], last["to"], last["actor"]) == (
        shown["version"], "migrasi", "ditangani", "penanganan", "inovator")
    # The chosen case goes on under version 2; the other one under version 1.
    assert views.show(moving)["allowed_triggers"] == ["laporkan_hasil"]
    engine.advance(moving, "laporkan_hasil", "tim_paringin", {"tindakan": "a", "hasil": "b"})
    assert views.show(moving)["state"] == "menunggu_pengesahan"
    assert (views.show(staying)["definition_version"], views.show(staying)["state"]) == (1, "ditangani")
    run(cli, "migrate", moving, "--to-version", "2", "--as", "inovator", code=2)  # already there

    # --all takes the open cases still on older versions, never a closed one.
    moved_all = run(cli, "migrate", "--all", "--to-version", "2", "--map", "ditangani=penanganan", "--as",
                    "inovator", "--json")
    assert sorted(row["number"] for row in moved_all) == sorted([staying, by_all])
    assert views.show(closed)["definition_version"] == 1
    assert views.show(by_all)["state"] == "diterima"
    verified = run(cli, "verify", "--json")
    assert (verified["checked"], verified["broken"]) == (4, [])


def test_migrate_names_a_mistyped_target_state_and_leaves_closed_cases_unless_asked(
        engine: Commands, cli: Any, tmp_path: Path) -> None:
    views = Queries(engine)
    moving = to_ditangani(engine)
    closed = engine.submit("admin", COMPLAINT).number
    engine.advance(closed, "tandai_duplikat", "admin", {"alasan": "ganda"})
    run(cli, "deploy", workflow_copy(tmp_path, version_2), "--as", "inovator")
    before = [views.show(n) for n in (moving, closed)]

    message = run(cli, "migrate", moving, "--to-version", "2", "--map", "ditangani=penangan", "--as", "inovator",
                  code=2)
    assert message == ("treckk: error: --map ditangani=penangan: version 2 of workflow 'treckk' has no state "
                       "'penangan'; its states are diterima, ditelaah, verifikasi, ditugaskan, penanganan, "
                       "menunggu_pengesahan, selesai, ditolak, dilimpahkan; did you mean 'penanganan'?\n")
    both = cli("migrate", moving, "--to-version", "2", "--map", "ditangani=penangan", "--map", "selesai=tamat",
               "--as", "inovator")
    assert both.code == 2 and [line.split(":")[2].strip() for line in both.err.splitlines()] == [
        "--map ditangani=penangan", "--map selesai=tamat"]
    # A closed case is refused by name, and nothing moves, not even the open case named with it.
    message = run(cli, "migrate", moving, closed, "--to-version", "2", "--map", "ditangani=penanganan", "--as",
                  "inovator", code=2)
    assert message == (f"treckk: error: case {closed} is closed (final state 'ditolak'); a closed case is migrated "
                       "only when asked for explicitly: give --include-final\n")
    assert [views.show(n) for n in (moving, closed)] == before
    moved = run(cli, "migrate", moving, closed, "--to-version", "2", "--map", "ditangani=penanganan",
                "--include-final", "--as", "inovator", "--json")
    assert moved == [{"number": moving, "state": "penanganan", "definition_version": 2},
                     {"number": closed, "state": "ditolak", "definition_version": 2}]
    verified = run(cli, "verify", "--json")
    assert (verified["checked"], verified["broken"]) == (2, [])


def test_commands_write_event_deadline_and_notices_together(engine: Commands, clock: FakeClock) -> None:
    case = engine.submit("admin", COMPLAINT)
    # Monday 08:00 WITA + 1 working hour.
    assert case.due_at == datetime.fromisoformat("2026-11-30T09:00:00+08:00")
    clock.advance(minutes=30)
    moved = engine.advance(case.number, "teruskan", "admin", comment="lengkap")
    assert moved.due_at == datetime.fromisoformat("2026-11-30T12:30:00+08:00")
    with engine.db.begin() as connection:
        rows = connection.execute(select(notices.c.event_seq, notices.c.template, notices.c.recipient_username)
                                  .order_by(notices.c.id)).all()
        stored = connection.execute(select(cases.c.version, cases.c.state_entry, cases.c.last_hash)).one()
        last_hash = connection.execute(select(events.c.hash).where(events.c.seq == 2)).scalar_one()
    assert (2, "kabid_aduan_baru.txt.j2", "kabid") in [tuple(r) for r in rows]
    assert {r.event_seq for r in rows} == {1, 2}
    assert tuple(stored) == (2, 2, last_hash)


def test_idempotency_keys_belong_to_one_actor_and_trigger(engine: Commands) -> None:
    number = engine.submit("admin", COMPLAINT, idempotency_key="k-1").number
    assert engine.submit("admin", {"kanal": "web", "uraian": "lain"}, idempotency_key="k-1").number == number
    engine.add_staff("admin2", "Admin Kedua", ["admin_lalisa"], None, None, None)
    with pytest.raises(Conflict):
        engine.submit("admin2", COMPLAINT, idempotency_key="k-1")
    engine.advance(number, "teruskan", "admin", idempotency_key="a-1")
    assert engine.advance(number, "teruskan", "admin", idempotency_key="a-1").version == 2
    with pytest.raises(Conflict):
        engine.advance(number, "teruskan", "admin2", idempotency_key="a-1")
    with pytest.raises(Conflict):
        engine.advance(number, "tolak", "kabid", {"alasan": "x"}, idempotency_key="a-1")
    with pytest.raises(NotFound):
        engine.advance(number, "teruskan", "siapa", idempotency_key="a-1")
    engine.disable_staff("admin")
    with pytest.raises(PermissionDenied):
        engine.advance(number, "teruskan", "admin", idempotency_key="a-1")
    assert len(Queries(engine).history(number)) == 2


def test_staff_are_checked_against_the_definition(engine: Commands, cli: Any) -> None:
    added = run(cli, "staff", "add", "tim_halong", "--name", "Tim Halong", "--role", "tim_treckk", "--kecamatan",
                "Halong", "--phone", "+62 812-0000-0099", "--json")
    assert (added["kecamatan"], added["phone"], added["roles"]) == ("halong", "+6281200000099", ["tim_treckk"])
    for args, code in (
        (["x1", "--name", "X", "--role", "lurah"], 2),
        (["x2", "--name", "X", "--role", "tim_treckk"], 2),
        (["x3", "--name", "X", "--role", "tim_treckk", "--kecamatan", "kota_baru"], 2),
        (["x4", "--name", "X", "--role", "kabid_trantibum", "--phone", "12"], 2),
        (["x5", "--name", "X", "--role", "kabid_trantibum", "--email", "bukan-surel"], 2),
        (["bad name", "--name", "X", "--role", "kabid_trantibum"], 2),
        (["tim_halong", "--name", "X", "--role", "tim_treckk", "--kecamatan", "halong"], 5),
    ):
        run(cli, "staff", "add", *args, code=code)
    run(cli, "staff", "disable", "siapa", code=6)
    assert [m["username"] for m in run(cli, "staff", "list", "--json")] == sorted(
        ["admin", "kabid", "kasat", "inovator", "tim_paringin", "tim_juai", "tim_halong",
         "sistem_kota"])
    with pytest.raises(InvalidInput):
        engine.add_staff("x6", "X", [], None, None, None)


def test_errors_carry_fields_for_adapters_to_word(engine: Commands) -> None:
    from engine.errors import Unavailable
    from engine.store.database import DatabaseUnavailable

    with pytest.raises(PermissionDenied) as refused:
        engine.deploy(ROOT / "workflows" / "treckk.yaml", "admin")
    assert refused.value.fields() == {"kind": "permission_denied", "field": "role", "value": ["admin_lalisa"],
                                      "accepted": ["inovator"]}
    assert (refused.value.exit_code, refused.value.http_status) == (3, 403)
    with pytest.raises(InvalidInput) as bad:
        engine.add_staff("x7", "X", ["lurah"], None, None, None)
    assert bad.value.field == "role" and bad.value.value == "lurah" and "tim_treckk" in bad.value.accepted
    assert (NotFound("x").http_status, InvalidInput("x").http_status) == (404, 422)
    assert issubclass(DatabaseUnavailable, Unavailable) and Unavailable("x").exit_code == 7


def test_migrate_all_with_nothing_older_still_checks_the_target_and_the_actor(engine: Commands, cli: Any) -> None:
    assert run(cli, "migrate", "--all", "--to-version", "1", "--as", "inovator", "--json") == []
    assert "not deployed" in run(cli, "migrate", "--all", "--to-version", "9", "--as", "inovator", code=6)
    assert "roles that may: inovator" in run(cli, "migrate", "--all", "--to-version", "1", "--as", "kabid", code=3)
