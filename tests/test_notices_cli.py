"""``treckk notices``, ``notices show``, ``notices retry``, ``deliver`` and ``render``: output and exit codes.

Exit codes: 0 done, 2 bad input, 3 permission denied, 6 not found; errors are one line on stderr.
The CLI runs in-process against the test database (SQLite and PostgreSQL) at the fake clock's time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.app.commands import Commands
from engine.store import notice_rows
from tests.conftest import COMPLAINT

Cli = Callable[..., Any]


@pytest.fixture(autouse=True)
def _outbox_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRECKK_OUTBOX_DIR", str(tmp_path / "outbox"))
    for name in ("TRECKK_SMTP_HOST", "TRECKK_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)


def one_error_line(result: Any) -> bool:
    return result.out == "" and result.err.startswith("treckk: error: ") and result.err.count("\n") == 1


@pytest.fixture
def case_number(engine: Commands) -> str:
    """A Paringin case forwarded to the Kabid: a receipt for the complainant and a notice to the Kabid."""
    case = engine.submit("admin", COMPLAINT)
    engine.advance(case.number, "teruskan", "admin")
    return case.number


def test_list_and_filters(cli: Cli, case_number: str) -> None:
    result = cli("notices")
    assert result.code == 0 and result.err == ""
    lines = result.out.splitlines()
    assert len(lines) == 2 and all(case_number in line and "pending" in line for line in lines)
    assert "pelapor_tanda_terima.txt.j2" in lines[0] and "@kabid" in lines[1]
    assert "Budi Santoso" not in result.out  # no viewer given: personal data masked, as in `treckk show`

    listed = json.loads(cli("notices", "--json", "--case", case_number).out)
    assert [n["template"] for n in listed] == ["pelapor_tanda_terima.txt.j2", "kabid_aduan_baru.txt.j2"]
    assert listed[0]["recipient_name"] == "[dirahasiakan]" and listed[0]["address"] == "[dirahasiakan]"
    assert listed[0]["status"] == "pending" and listed[0]["attempts"] == 0
    as_admin = json.loads(cli("notices", "--json", "--as", "admin").out)
    assert as_admin[0]["recipient_name"] == "Budi Santoso" and as_admin[0]["address"] == "+6281255550101"

    assert cli("notices", "--status", "sent").out.strip() == "(tidak ada pemberitahuan)"
    assert json.loads(cli("notices", "--status", "pending", "--json").out) == listed
    assert cli("notices", "--as", "tim_juai", "--json").out.strip() == "[]"  # another kecamatan's case

    for args, code in [(("--case", "TRK-2026-999999"), 6), (("--status", "lost"), 2), (("--as", "nobody"), 6),
                       (("--limit", "0"), 2)]:
        result = cli("notices", *args)
        assert result.code == code and one_error_line(result), args


def test_show(cli: Cli, engine: Commands, case_number: str) -> None:
    rows = engine.db.transaction(lambda c: notice_rows.list_notices(c))
    receipt = rows[0]
    result = cli("notices", "show", str(receipt.id))
    assert result.code == 0
    assert f"Notice: {receipt.id}  status pending  attempts 0" in result.out
    assert f"Message-ID: <{receipt.message_id}>" in result.out
    assert f"Subject: {receipt.subject}" in result.out and f"Case: {case_number}" in result.out
    assert "To: [dirahasiakan] <[dirahasiakan]>" in result.out and "Budi" not in result.out
    assert case_number in result.out.split("\n\n", 2)[2]  # the body follows the headers

    as_admin = cli("notices", "show", f"<{receipt.message_id}>", "--as", "admin")
    assert as_admin.code == 0 and "To: Budi Santoso <+6281255550101>" in as_admin.out
    assert "Budi Santoso" in as_admin.out.split("\n\n", 2)[2]
    shown = json.loads(cli("notices", "show", receipt.message_id, "--json", "--as", "kabid").out)
    assert shown["body"] == receipt.body and shown["message_id"] == receipt.message_id

    for args, code in [(("999",), 6), (("nothing@treckk",), 6), ((str(receipt.id), "--as", "tim_juai"), 3),
                       ((str(receipt.id), "--as", "nobody"), 6)]:
        result = cli("notices", "show", *args)
        assert result.code == code and one_error_line(result), args


def test_deliver_then_retry(cli: Cli, engine: Commands, case_number: str, tmp_path: Path) -> None:
    result = cli("deliver")
    assert (result.code, result.out.strip()) == (0, "sent 2, retried 0, failed 0")
    rows = engine.db.transaction(lambda c: notice_rows.list_notices(c))
    assert {r.status for r in rows} == {"sent"}
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == sorted(
        f"20261130-{r.message_id}.txt" for r in rows)
    again = json.loads(cli("deliver", "--json").out)
    assert (again["claimed"], again["sent"], again["retried"], again["failed"]) == (0, 0, 0, 0)

    sent = cli("notices", "retry", str(rows[0].id))
    assert sent.code == 2 and one_error_line(sent) and "already sent" in sent.err
    for args, code in [(("999",), 6), ((), 2), (("--case", case_number), 2), (("--all-failed", "--case", "X"), 6)]:
        result = cli("notices", "retry", *args)
        assert result.code == code and one_error_line(result), args
    assert cli("notices", "retry", "--all-failed").out.strip() == "(no failed notices)"
    assert cli("deliver", "--limit", "0").code == 2

    # A pending notice can be made due now; the attempts start again from zero.
    engine.advance(case_number, "tolak", "kabid", {"alasan": "Bukan kewenangan Satpol PP."})
    [pending] = engine.db.transaction(lambda c: notice_rows.list_notices(c, status="pending"))
    retried = json.loads(cli("notices", "retry", str(pending.id), "--json").out)
    assert retried == [{"id": pending.id, "message_id": pending.message_id, "case": case_number,
                        "previous_status": "pending", "previous_attempts": 0, "last_error": None,
                        "status": "pending", "attempts": 0, "next_attempt_at": pending.next_attempt_at.isoformat(),
                        "address_changed": False}]
    assert json.loads(cli("deliver", "--json").out)["sent"] == 1


def test_render(cli: Cli, engine: Commands, case_number: str) -> None:
    before = engine.db.transaction(lambda c: notice_rows.list_notices(c))
    as_admin = cli("render", "pelapor_tanda_terima.txt.j2", "--case", case_number, "--as", "admin")
    assert as_admin.code == 0 and as_admin.err == ""
    assert case_number in as_admin.out.splitlines()[0]  # the subject line
    assert "Budi Santoso" in as_admin.out

    for args in (("--as", "tim_paringin"), ()):  # a role without personal data, and no viewer at all
        masked = cli("render", "kabid_aduan_baru.txt.j2", "--case", case_number, *args)
        assert masked.code == 0 and case_number in masked.out
        assert "Budi Santoso" not in masked.out and "6281255550101" not in masked.out
    full = cli("render", "kabid_aduan_baru.txt.j2", "--case", case_number, "--as", "kabid")
    assert "Budi Santoso" in full.out

    letter = json.loads(cli("render", "tim_surat_perintah_tugas.html.j2", "--case", case_number, "--json").out)
    assert letter["is_html"] is True and letter["subject"] == f"Surat Perintah Tugas {case_number}"
    assert letter["body"].lstrip().lower().startswith("<!doctype html>") and letter["masked"] is True

    for args, code in [(("nope.txt.j2", "--case", case_number), 6),
                       (("pelapor_tanda_terima.txt.j2", "--case", "TRK-2026-999999"), 6),
                       (("pelapor_tanda_terima.txt.j2", "--case", case_number, "--as", "nobody"), 6),
                       (("pelapor_tanda_terima.txt.j2", "--case", case_number, "--as", "tim_juai"), 3),
                       (("ringkasan_pagi.txt.j2", "--case", case_number), 2)]:
        result = cli("render", *args)
        assert result.code == code and one_error_line(result), args
    assert cli("render", "pelapor_tanda_terima.txt.j2").code == 2  # --case is required
    # A preview is never queued.
    assert engine.db.transaction(lambda c: notice_rows.list_notices(c)) == before
