"""Nobody left to tell: a notice whose staff recipients resolve to no active person.

- it is kept in the outbox as ``undeliverable`` (never sent), saying who was missing, and a copy
  goes to the workflow's ``fallback`` (TRECKK: the Penanggung Jawab); the command says so;
- a move whose ``required`` order would reach nobody (``tugaskan`` to a kecamatan with no active
  team) is refused with a clear message, and nothing is written;
- a complainant without a contact is not "nobody": nothing is kept for them.
Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable

from pathlib import Path
from typing import Any

import pytest

from engine.app.commands import Commands
from engine.errors import NotAllowed
from engine.store import case_rows
from tests.conftest import COMPLAINT, FakeClock
from tests.test_outbox import notices_of, to_ditelaah


@pytest.fixture(autouse=True)
def _outbox_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRECKK_OUTBOX_DIR", str(tmp_path / "outbox"))
    for name in ("TRECKK_SMTP_HOST", "TRECKK_WEBHOOK_URL", "TRECKK_CHANNELS"):
        monkeypatch.delenv(name, raising=False)


def test_a_notice_to_a_role_with_nobody_active_is_kept_and_goes_to_the_fallback(engine: Commands) -> None:
    engine.disable_staff("kabid")
    case = engine.submit("admin", COMPLAINT)
    moved = engine.advance(case.number, "teruskan", "admin")
    rows = [r for r in notices_of(engine, case.number) if r.event_seq == 2]
    kept = [r for r in rows if r.status == "undeliverable"]
    assert len(kept) == 1
    assert (kept[0].channel, kept[0].address, kept[0].next_attempt_at, kept[0].recipient_role) == \
        ("none", None, None, "kabid_trantibum")
    assert kept[0].template == "kabid_aduan_baru.txt.j2" and kept[0].body  # rendered, for the record
    assert kept[0].last_error == ("nobody to tell: no active staff member with role kabid_trantibum; "
                                  "a copy went to H. Kepala Satpol PP")
    copies = [r for r in rows if r.recipient_username == "kasat"]
    assert [(c.status, c.template) for c in copies] == [("pending", "kabid_aduan_baru.txt.j2")]
    assert copies[0].subject.startswith("[Tidak tersampaikan kepada kabid_trantibum] ")
    # The command says so.
    assert moved.undelivered == ("notice kabid_aduan_baru.txt.j2 reached nobody and is kept as undeliverable: "
                                 "no active staff member with role kabid_trantibum; a copy went to H. Kepala Satpol PP",)
    # An undeliverable notice is never claimed for delivery.
    report = engine.deliver()
    assert kept[0].id not in {r.notice_id for r in report.results}


def test_the_cli_warns_about_a_notice_that_reached_nobody(engine: Commands, cli: Callable[..., Any]) -> None:
    engine.disable_staff("kabid")
    case = engine.submit("admin", COMPLAINT)
    result = cli("advance", case.number, "teruskan", "--as", "admin")
    assert result.code == 0, result.err
    assert "warning: notice kabid_aduan_baru.txt.j2 reached nobody" in result.err
    assert "H. Kepala Satpol PP" in result.err
    listed = cli("notices", "--status", "undeliverable", "--as", "kasat", "--json")
    assert listed.code == 0, listed.err


def test_an_order_to_a_kecamatan_without_an_active_team_is_refused_and_nothing_is_written(
        engine: Commands) -> None:
    number = to_ditelaah(engine, kecamatan="juai")
    before = notices_of(engine, number)
    engine.disable_staff("tim_juai")
    with pytest.raises(NotAllowed) as refused:
        engine.advance(number, "tugaskan", "kabid", {"instruksi": "Tertibkan."})
    message = str(refused.value)
    assert f"'tugaskan' on {number} is refused" in message
    assert "no active staff member with role tim_treckk for kecamatan juai" in message
    assert notices_of(engine, number) == before  # no order, no "being handled" to the complainant
    shown = engine.db.transaction(lambda c: case_rows.case_by_number(c, number))
    assert shown is not None and (shown.state, shown.version) == ("ditelaah", 2)
    # Once Juai has an active team again, the same move goes through.
    engine.set_staff_active("tim_juai", True)
    moved = engine.advance(number, "tugaskan", "kabid", {"instruksi": "Tertibkan."})
    assert moved.state == "ditugaskan" and moved.undelivered == ()


def test_the_cli_refuses_the_order_with_exit_4_and_one_line(engine: Commands, cli: Callable[..., Any]) -> None:
    number = to_ditelaah(engine, kecamatan="juai")
    engine.disable_staff("tim_juai")
    result = cli("advance", number, "tugaskan", "--as", "kabid", "--set", "instruksi=Tertibkan.")
    assert result.code == 4
    assert "would reach nobody" in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_an_escalation_step_with_nobody_to_remind_warns_and_reaches_the_fallback(
        engine: Commands, clock: FakeClock) -> None:
    number = to_ditelaah(engine)
    engine.disable_staff("kabid")
    clock.advance(days=7)
    fired = engine.escalate()
    mine = [f for f in fired if f.number == number]
    assert mine and any("no active staff member with role kabid_trantibum" in line
                        for f in mine for line in f.undelivered)
    rows = [r for r in notices_of(engine, number) if r.status == "undeliverable"]
    assert rows and all(r.template in {"pengingat.txt.j2", "eskalasi.txt.j2"} for r in rows)


def test_a_complainant_without_contact_is_not_undeliverable(engine: Commands) -> None:
    quiet = {k: v for k, v in COMPLAINT.items() if k != "nomor_pelapor"}
    case = engine.submit("admin", quiet)
    assert case.undelivered == ()
    assert [r for r in notices_of(engine, case.number) if r.status == "undeliverable"] == []


def test_without_a_fallback_the_notice_is_still_kept(engine: Commands) -> None:
    engine.disable_staff("kabid")
    engine.disable_staff("kasat")
    case = engine.submit("admin", COMPLAINT)
    moved = engine.advance(case.number, "teruskan", "admin")
    assert moved.undelivered and "nobody (the workflow declares no reachable fallback)" in moved.undelivered[0]

