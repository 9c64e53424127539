"""The outbox: notices are rendered and queued in the same transaction as the event they announce.

Recipients follow the definition: roles (kecamatan-scoped roles only for their own kecamatan),
``@username``, and the complainant when a phone number or e-mail address is known. Every test
runs on SQLite and on PostgreSQL (``database_url`` fixture).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.compile.templates import TemplateFailed
from engine.errors import Conflict, PermissionDenied
from engine.notices.outbox import resolve_recipients
from engine.notices.routing import Routing
from engine.app.commands import Commands
from engine.store import case_rows, notice_rows
from engine.store.notice_rows import NoticeRow
from tests.conftest import COMPLAINT, FakeClock

MESSAGE_ID = re.compile(r"^[0-9a-f]{32}@treckk$")


@pytest.fixture(autouse=True)
def _outbox_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing in these tests may write into the project's var/outbox or reach a configured server.
    monkeypatch.setenv("TRECKK_OUTBOX_DIR", str(tmp_path / "outbox"))
    for name in ("TRECKK_SMTP_HOST", "TRECKK_WEBHOOK_URL", "TRECKK_CHANNELS"):
        monkeypatch.delenv(name, raising=False)


def notices_of(engine: Commands, number: str | None = None) -> list[NoticeRow]:
    def work(connection: Any) -> list[NoticeRow]:
        case_id = None
        if number is not None:
            case = case_rows.case_by_number(connection, number)
            assert case is not None
            case_id = case.id
        return notice_rows.list_notices(connection, case_id=case_id)

    return engine.db.transaction(work)


def who(rows: list[NoticeRow]) -> list[tuple[str, str]]:
    """(recipient, template) pairs; staff by username, the complainant as 'pelapor'."""
    return sorted((r.recipient_username or r.recipient_kind, r.template) for r in rows)


def to_ditelaah(engine: Commands, **changes: str) -> str:
    case = engine.submit("admin", {**COMPLAINT, **changes})
    engine.advance(case.number, "teruskan", "admin")
    return case.number


def test_submit_queues_a_receipt_for_the_complainant(engine: Commands, clock: FakeClock) -> None:
    case = engine.submit("admin", COMPLAINT)
    [receipt] = notices_of(engine)
    assert (receipt.recipient_kind, receipt.template) == ("pelapor", "pelapor_tanda_terima.txt.j2")
    assert receipt.recipient_name == "Budi Santoso"
    assert (receipt.channel, receipt.address) == ("file", "+6281255550101")
    assert (receipt.status, receipt.attempts, receipt.next_attempt_at) == ("pending", 0, clock())
    assert (receipt.case_id, receipt.case_number, receipt.event_seq) == (case.id, case.number, 1)
    assert MESSAGE_ID.match(receipt.message_id)
    assert case.number in receipt.subject and case.number in receipt.body
    assert receipt.body.startswith(receipt.subject)
    assert receipt.last_error is None and receipt.sent_at is None


def test_complainant_reached_by_e_mail_when_routing_prefers_it(engine: Commands) -> None:
    engine.routing = Routing(("smtp", "webhook"), frozenset({"file", "smtp", "webhook"}))
    values = {k: v for k, v in COMPLAINT.items() if k != "nomor_pelapor"}
    engine.submit("admin", {**values, "email_pelapor": "budi@contoh.id"})
    [receipt] = notices_of(engine)
    assert (receipt.channel, receipt.address) == ("smtp", "budi@contoh.id")


def test_anonymous_complainant_without_contact_gets_no_notice(engine: Commands) -> None:
    values = {k: v for k, v in COMPLAINT.items() if k not in ("nama_pelapor", "nomor_pelapor")}
    case = engine.submit("admin", {**values, "anonim": "ya"})
    assert notices_of(engine) == []
    engine.advance(case.number, "teruskan", "admin")
    assert who(notices_of(engine)) == [("kabid", "kabid_aduan_baru.txt.j2")]


def test_anonymous_complainant_with_contact_is_notified_without_their_name(engine: Commands) -> None:
    engine.submit("admin", {**COMPLAINT, "anonim": "ya"})
    [receipt] = notices_of(engine)
    assert receipt.recipient_kind == "pelapor" and receipt.address == "+6281255550101"
    # The name stays out of the row, the headers and the text; the contact alone reaches them.
    assert receipt.recipient_name == "Pelapor"
    assert "Budi" not in receipt.subject + receipt.body


def test_teruskan_goes_to_the_kabid_only(engine: Commands) -> None:
    number = to_ditelaah(engine)
    teruskan = [r for r in notices_of(engine, number) if r.event_seq == 2]
    assert who(teruskan) == [("kabid", "kabid_aduan_baru.txt.j2")]
    [kabid] = teruskan
    assert kabid.recipient_role == "kabid_trantibum" and kabid.address == "kabid@satpolpp.balangankab.go.id"
    assert "Budi Santoso" in kabid.body  # the Kabid's role may read personal data


def test_tugaskan_on_a_paringin_case_reaches_the_paringin_team_only(engine: Commands) -> None:
    number = to_ditelaah(engine)
    before = len(notices_of(engine))
    engine.advance(number, "tugaskan", "kabid", {"instruksi": "Tertibkan lapak PKL secara persuasif."})
    rows = notices_of(engine)[before:]
    assert who(rows) == [
        ("pelapor", "pelapor_ditindaklanjuti.txt.j2"),
        ("tim_paringin", "tim_perintah_tugas.txt.j2"),
        ("tim_paringin", "tim_surat_perintah_tugas.html.j2"),
    ]
    assert all(r.recipient_username != "tim_juai" for r in notices_of(engine))
    team = [r for r in rows if r.recipient_username == "tim_paringin"]
    assert {r.is_html for r in team} == {True, False}
    # The field team may not read the complainant's personal data.
    assert all("Budi Santoso" not in r.body and "6281255550101" not in r.body for r in team)
    assert len({r.message_id for r in notices_of(engine)}) == len(notices_of(engine))


def test_minta_verifikasi_on_a_juai_case_reaches_the_juai_team_only(engine: Commands) -> None:
    number = to_ditelaah(engine, kecamatan="juai")
    engine.advance(number, "minta_verifikasi", "kabid")
    rows = [r for r in notices_of(engine, number) if r.event_seq == 3]
    assert who(rows) == [("tim_juai", "tim_permintaan_verifikasi.txt.j2")]


def test_disabled_staff_get_nothing(engine: Commands) -> None:
    engine.add_staff("tim_paringin2", "Tim TRECKK Paringin Dua", ["tim_treckk"], "paringin", "081200000007", None)
    number = to_ditelaah(engine)
    engine.disable_staff("tim_paringin")
    engine.advance(number, "tugaskan", "kabid", {"instruksi": "Tertibkan."})
    rows = [r for r in notices_of(engine, number) if r.event_seq == 3]
    assert who(rows) == [("pelapor", "pelapor_ditindaklanjuti.txt.j2"),
                         ("tim_paringin2", "tim_perintah_tugas.txt.j2"),
                         ("tim_paringin2", "tim_surat_perintah_tugas.html.j2")]


def test_usernames_roles_and_the_complainant_are_each_resolved_once(engine: Commands) -> None:
    number = to_ditelaah(engine)

    def work(connection: Any) -> list[tuple[str, str | None, bool]]:
        case = case_rows.case_by_number(connection, number)
        assert case is not None
        compiled = engine.compiled(connection, case.workflow, case.definition_version)
        found = resolve_recipients(connection, compiled, case,
                                   ["@tim_juai", "kabid_trantibum", "@kabid", "pelapor", "tim_treckk", "pelapor"])
        return [(r.username or r.kind, r.role, r.sees_pii) for r, _, _ in found]

    assert engine.db.transaction(work) == [
        ("tim_juai", "tim_treckk", False),   # named explicitly, so reached whatever the kecamatan
        ("kabid", "kabid_trantibum", True),  # once, although named by role and by username
        ("pelapor", None, True),             # once, although named twice
        ("tim_paringin", "tim_treckk", False),
    ]


def test_a_refused_advance_leaves_no_notice_rows(engine: Commands) -> None:
    number = to_ditelaah(engine)
    before = notices_of(engine)
    with pytest.raises(Conflict):
        engine.advance(number, "tugaskan", "kabid", {"instruksi": "x"}, expect_version=1)
    with pytest.raises(PermissionDenied):
        engine.advance(number, "tugaskan", "tim_juai", {"instruksi": "x"})
    assert notices_of(engine) == before


def test_a_failure_after_the_state_change_rolls_back_state_event_and_notices(
        engine: Commands, clock: FakeClock, home: Path, tmp_path: Path) -> None:
    # A template that passes validation (sample data) but divides by zero on this case's data:
    # the failure happens after the case row and the event were written, inside the same
    # transaction as the notices, so none of them may remain.
    copy = tmp_path / "home"
    for part in ("workflows", "roles", "templates"):
        shutil.copytree(home / part, copy / part)
    workflow = copy / "workflows" / "treckk.yaml"
    text = workflow.read_text(encoding="utf-8").replace("\nversion: 1\n", "\nversion: 2\n", 1)
    text = text.replace("        template: kabid_aduan_baru.txt.j2\n",
                        "        template: kabid_aduan_baru.txt.j2\n"
                        "      - to: [kabid_trantibum]\n        template: uji_pembagian.txt.j2\n", 1)
    workflow.write_text(text, encoding="utf-8")
    (copy / "templates" / "uji_pembagian.txt.j2").write_text(
        "Uji {{ case.number }}\n\n{{ 100 // (data.lokasi|length - 5) }}\n", encoding="utf-8")
    second = Commands(engine.db, clock, copy)
    second.deploy(workflow, None)
    case = second.submit("admin", {**COMPLAINT, "lokasi": "Pasar"})
    assert case.definition_version == 2
    before = notices_of(second)
    with pytest.raises(TemplateFailed, match=r"uji_pembagian\.txt\.j2:3: ZeroDivisionError"):
        second.advance(case.number, "teruskan", "admin")
    stored = second.db.transaction(lambda c: case_rows.case_by_number(c, case.number))
    assert stored is not None and (stored.state, stored.version) == ("diterima", 1)
    assert len(second.db.transaction(lambda c: case_rows.history(c, case.id))) == 1
    assert notices_of(second) == before
    # With data the template can handle, the same step commits state, event and both notices.
    second.advance(case.number, "teruskan", "admin", {"lokasi": "Pasar Paringin"})
    assert who([r for r in notices_of(second) if r.event_seq == 2]) == [
        ("kabid", "kabid_aduan_baru.txt.j2"), ("kabid", "uji_pembagian.txt.j2")]
