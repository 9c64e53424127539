"""Staff across workflows: roles granted per workflow with their scope, update, disable and enable.

A second workflow is made from the shipped one under another name and number prefix, so one
person can hold other roles (and another scope) in each; every permission check reads only the
grants of the case's own workflow.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.app.commands import Commands
from engine.errors import InvalidInput, NotFound, PermissionDenied
from tests.conftest import COMPLAINT, ROOT


def second_workflow(tmp_path: Path) -> Path:
    """A copy of the shipped bundle as workflow ``lain`` (prefix LAIN) in a home of its own."""
    home = tmp_path / "home"
    for folder in ("roles", "templates"):
        shutil.copytree(ROOT / folder, home / folder)
    (home / "workflows").mkdir()
    text = (ROOT / "workflows" / "treckk.yaml").read_text(encoding="utf-8")
    text = text.replace("workflow: treckk", "workflow: lain", 1).replace("number_prefix: TRK", "number_prefix: LAIN", 1)
    path = home / "workflows" / "lain.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def run(cli: Any, *args: str, code: int = 0) -> Any:
    result = cli(*args)
    assert result.code == code, (args, result.out, result.err)
    return json.loads(result.out) if "--json" in args and result.out else result


def test_one_person_holds_other_roles_and_scopes_in_two_workflows(engine: Commands, tmp_path: Path) -> None:
    engine.deploy(second_workflow(tmp_path), None)
    with pytest.raises(InvalidInput, match="several workflows are deployed \\(lain, treckk\\); choose one"):
        engine.submit("admin", COMPLAINT)
    # tim_paringin is the Paringin team in treckk; in `lain` the same person is the Juai team.
    engine.update_staff("tim_paringin", roles=["tim_treckk"], scope="juai", workflow="lain")
    member = engine.update_staff("admin", roles=["admin_lalisa"], workflow="lain")
    assert [(g.workflow, g.role, g.scope) for g in member.grants] == [("lain", "admin_lalisa", None),
                                                                       ("treckk", "admin_lalisa", None)]
    ours = engine.submit("admin", COMPLAINT, workflow="treckk")
    theirs = engine.submit("admin", {**COMPLAINT, "kecamatan": "juai"}, workflow="lain")
    assert ours.number.startswith("TRK-") and theirs.number.startswith("LAIN-")
    for number in (ours.number, theirs.number):
        engine.advance(number, "teruskan", "admin")
    engine.advance(ours.number, "minta_verifikasi", "kabid")
    # In treckk the person acts for Paringin (the case's kecamatan) ...
    engine.advance(ours.number, "laporkan_verifikasi", "tim_paringin", {"temuan": "Benar", "laporan_benar": "ya"})
    # kabid holds no role in `lain`: refused there, though allowed in treckk.
    with pytest.raises(PermissionDenied, match="kabid"):
        engine.advance(theirs.number, "minta_verifikasi", "kabid")


def test_staff_update_changes_only_what_is_given_and_checks_it(engine: Commands, cli: Any) -> None:
    updated = run(cli, "staff", "update", "tim_juai", "--name", "Tim Juai Baru", "--phone", "0812-1111-2222",
                  "--json")
    assert (updated["name"], updated["phone"], updated["kecamatan"], updated["roles"]) == (
        "Tim Juai Baru", "+6281211112222", "juai", ["tim_treckk"])
    moved = run(cli, "staff", "update", "tim_juai", "--scope", "halong", "--json")
    assert (moved["scope"], moved["kecamatan"], moved["grants"]) == (
        "halong", "halong", [{"workflow": "treckk", "role": "tim_treckk", "scope": "halong"}])
    run(cli, "staff", "update", "tim_juai", "--scope", "kota_baru", code=2)
    run(cli, "staff", "update", "tim_juai", "--role", "lurah", code=2)
    run(cli, "staff", "update", "siapa", "--name", "X", code=6)
    listed = {m["username"]: m for m in run(cli, "staff", "list", "--json")}
    assert listed["tim_juai"]["scope"] == "halong"  # the refused updates changed nothing


def test_a_disabled_member_neither_acts_nor_sees_until_enabled(engine: Commands, cli: Any) -> None:
    number = engine.submit("admin", COMPLAINT).number
    run(cli, "staff", "disable", "admin")
    run(cli, "advance", number, "teruskan", "--as", "admin", code=3)
    run(cli, "show", number, "--as", "admin", code=3)
    assert not run(cli, "staff", "list", "--json")[0]["active"]
    enabled = run(cli, "staff", "enable", "admin", "--json")
    assert enabled == {"username": "admin", "active": True}
    run(cli, "advance", number, "teruskan", "--as", "admin")
    run(cli, "staff", "enable", "siapa", code=6)
    with pytest.raises(NotFound):
        engine.set_staff_active("siapa", True)


def test_the_scope_of_the_cases_own_workflow_decides(engine: Commands, tmp_path: Path) -> None:
    engine.deploy(second_workflow(tmp_path), None)
    for username, role, scope in (("admin", "admin_lalisa", None), ("kabid", "kabid_trantibum", None),
                                  ("tim_paringin", "tim_treckk", "juai")):
        engine.update_staff(username, roles=[role], scope=scope, workflow="lain")
    number = engine.submit("admin", {**COMPLAINT, "kecamatan": "juai"}, workflow="lain").number
    engine.advance(number, "teruskan", "admin")
    engine.advance(number, "minta_verifikasi", "kabid")
    # tim_juai is bound to no kecamatan in "lain": the answer is `show`'s, revealing nothing of the case.
    with pytest.raises(PermissionDenied, match="may not see case"):
        engine.advance(number, "laporkan_verifikasi", "tim_juai", {"temuan": "Benar", "laporan_benar": "ya"})
    moved = engine.advance(number, "laporkan_verifikasi", "tim_paringin", {"temuan": "Benar", "laporan_benar": "ya"})
    assert moved.state == "ditelaah"


def test_staff_details_over_their_column_sizes_are_refused_on_every_backend(engine: Commands, cli: Any) -> None:
    long = "a" * 300
    for args in (["x1", "--name", long], ["x2", "--name", ""], ["x3", "--name", "Baris\nkedua"],
                 ["x4", "--name", "X", "--email", f"{long}@x.id"], ["u" * 80, "--name", "U"]):
        result = cli("staff", "add", *args, "--role", "admin_lalisa")
        assert result.code == 2 and result.err.count("\n") == 1 and "Traceback" not in result.err, result.err
    run(cli, "staff", "update", "admin", "--name", "", code=2)
    listed = {m["username"]: m for m in run(cli, "staff", "list", "--json")}
    assert not {"x1", "x2", "x3", "x4"} & set(listed) and listed["admin"]["name"] == "Rina Admin La-Lisa"


def test_a_value_the_database_refuses_is_one_clear_error_not_a_traceback(engine: Commands) -> None:
    from sqlalchemy import insert

    from engine.store.schema import case_numbers

    if engine.db.is_sqlite:
        pytest.skip("SQLite does not enforce column lengths; PostgreSQL does")
    with pytest.raises(InvalidInput, match="not accepted by the database .*value too long"):
        engine.db.transaction(lambda c: c.execute(insert(case_numbers).values(prefix="X" * 50, year=2026, last=1)))
