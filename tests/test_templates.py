"""The shipped notice templates (templates/*.j2): they validate, read right, mask and escape.

Every template is rendered against the engine's own sample contexts (what `treckk validate`
checks) and against hand-built contexts from realistic cases, through the public functions the
engine itself uses (``case_context``, ``report_context``). Times are pinned to WITA.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from zoneinfo import ZoneInfo

from engine.core.records import CaseRecord
from engine.compile.workflow import CompiledWorkflow, bundle_from_files, compile_bundle
from engine.definition.model import WorkflowDefinition
from engine.compile.notice_context import (
    EventFacts,
    Recipient,
    case_context,
    report_context,
    sample_contexts,
    sample_report,
)
from engine.compile.templates import Rendered
from engine.store.schema import cases, events, notices
from tests.conftest import COMPLAINT

WITA = ZoneInfo("Asia/Makassar")
ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "workflows" / "treckk.yaml"

MASK = "[dirahasiakan]"
PAYLOAD = "{{ 7*7 }} <script>alert(1)</script>"

# Template → (state the case is in when it is sent, trigger that sends it or None, recipient).
CASE_TEMPLATES: dict[str, tuple[str, str | None, str]] = {
    "pelapor_tanda_terima.txt.j2": ("diterima", "catat", "pelapor"),
    "kabid_aduan_baru.txt.j2": ("ditelaah", "teruskan", "kabid_trantibum"),
    "tim_permintaan_verifikasi.txt.j2": ("verifikasi", "minta_verifikasi", "tim_treckk"),
    "kabid_hasil_verifikasi.txt.j2": ("ditelaah", "laporkan_verifikasi", "kabid_trantibum"),
    "tim_surat_perintah_tugas.html.j2": ("ditugaskan", "tugaskan", "tim_treckk"),
    "tim_perintah_tugas.txt.j2": ("ditugaskan", "tugaskan", "tim_treckk"),
    "pelapor_ditindaklanjuti.txt.j2": ("ditugaskan", "tugaskan", "pelapor"),
    "kabid_laporan_hasil.txt.j2": ("menunggu_pengesahan", "laporkan_hasil", "kabid_trantibum"),
    "tim_hasil_dikembalikan.txt.j2": ("ditangani", "kembalikan", "tim_treckk"),
    "pelapor_ditolak.txt.j2": ("ditolak", "tolak", "pelapor"),
    "pelapor_dilimpahkan.txt.j2": ("dilimpahkan", "limpahkan", "pelapor"),
    "pelapor_selesai.txt.j2": ("selesai", "sahkan", "pelapor"),
    "pengingat.txt.j2": ("ditelaah", None, "kabid_trantibum"),
    "eskalasi.txt.j2": ("ditangani", None, "penanggung_jawab"),
    "petugas_catatan_pelapor.txt.j2": ("ditelaah", None, "kabid_trantibum"),
}
REPORT_TEMPLATES = {"ringkasan_pagi.txt.j2": "ringkasan_pagi", "rekap_bulanan.txt.j2": "rekap_bulanan"}
ALL_TEMPLATES = sorted([*CASE_TEMPLATES, *REPORT_TEMPLATES])
# Templates whose notice states a deadline (the due time of the state the case has entered).
WITH_DEADLINE = {
    "kabid_aduan_baru.txt.j2", "tim_permintaan_verifikasi.txt.j2", "kabid_hasil_verifikasi.txt.j2",
    "tim_surat_perintah_tugas.html.j2", "tim_perintah_tugas.txt.j2", "kabid_laporan_hasil.txt.j2",
    "tim_hasil_dikembalikan.txt.j2", "pengingat.txt.j2", "eskalasi.txt.j2", "petugas_catatan_pelapor.txt.j2",
}
PELAPOR_TEMPLATES = sorted(name for name, (_, _, who) in CASE_TEMPLATES.items() if who == "pelapor")

NUMBER = "TRK-2026-000123"
CREATED = datetime(2026, 11, 30, 8, 15, tzinfo=WITA)
CREATED_TEXT = "Senin, 30 November 2026 pukul 08.15 WITA"
# Stored in UTC, shown in WITA: 22.30 UTC on Sunday is 06.30 WITA on Monday.
DUE = datetime(2026, 11, 29, 22, 30, tzinfo=timezone.utc)
DUE_TEXT = "Senin, 30 November 2026 pukul 06.30 WITA"
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=WITA)  # 90 minutes after DUE
NAMA = "Siti Rahmah"
NOMOR = "+6281251234567"
KABID = "H. Ahmad Fauzi, S.Sos."
TIM = "Rahmadi"


# -- fixtures and builders ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def compiled() -> CompiledWorkflow:
    return compile_bundle(bundle_from_files(WORKFLOW))


@pytest.fixture(scope="module")
def definition(compiled: CompiledWorkflow) -> WorkflowDefinition:
    return compiled.definition


def case_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kanal": "whatsapp",
        "nama_pelapor": NAMA,
        "nomor_pelapor": NOMOR,
        "email_pelapor": "siti.rahmah@contoh.id",
        "anonim": False,
        "kategori": "pkl_tempat_usaha",
        "kecamatan": "paringin",
        "desa": "Paringin Kota",
        "lokasi": "Trotoar depan Pasar Paringin, Jalan Ahmad Yani",
        "uraian": "Pedagang kaki lima berjualan di trotoar sehingga pejalan kaki terpaksa turun ke jalan.",
        "waktu_kejadian": datetime(2026, 11, 30, 7, 0, tzinfo=WITA).isoformat(),
        "foto_aduan": ["aduan-pasar-1.jpg"],
        "instruksi": "Lakukan pendekatan persuasif dan minta pedagang menata lapak di luar trotoar.",
        "temuan": "Benar, terdapat enam lapak PKL di atas trotoar.",
        "laporan_benar": True,
        "tindakan": "Pembinaan kepada enam pedagang dan penertiban lapak secara persuasif.",
        "hasil": "Trotoar kembali dapat dilalui pejalan kaki; pedagang bersedia pindah ke area pasar.",
        "foto_hasil": ["hasil-1.jpg", "hasil-2.jpg"],
        "catatan": "Lengkapi foto sebelum dan sesudah penertiban.",
        "alasan": "Lokasi berada di luar wilayah Kabupaten Balangan.",
        "instansi": "Dinas Perhubungan Kabupaten Balangan",
    }
    data.update(overrides)
    return data


def make_case(state: str, *, due_at: datetime | None = DUE, **data: Any) -> CaseRecord:
    values = case_data(**data)
    return CaseRecord(
        id=123, number=NUMBER, workflow="treckk", definition_version=1, definition_digest="",
        state=state, data=values, scope=values.get("kecamatan"), version=4, created_at=CREATED,
        updated_at=NOW, state_entered_at=NOW - timedelta(hours=1), state_entry=4, due_at=due_at,
    )


def recipient(definition: WorkflowDefinition, who: str) -> Recipient:
    if who == "pelapor":
        return Recipient("pelapor", NAMA, None, True)
    names = {"kabid_trantibum": KABID, "tim_treckk": TIM}
    return Recipient("staff", names.get(who, "Drs. Budi Santoso"), who,
                     definition.roles.roles[who].sees_pii, who)


def event(definition: WorkflowDefinition, trigger: str, case: CaseRecord) -> EventFacts:
    if trigger == definition.intake.trigger:
        intake = definition.intake
        given = {i.field: case.data[i.field] for i in intake.inputs if case.data.get(i.field) is not None}
        return EventFacts(trigger, intake.label, None, definition.initial, "Nurul Hidayah", "admin_lalisa",
                          CREATED, None, given)
    transition = next(t for t in definition.transitions if t.trigger == trigger)
    actor = {"kabid_trantibum": KABID, "tim_treckk": TIM}.get(transition.roles[0], "Nurul Hidayah")
    given = {i.field: case.data[i.field] for i in transition.inputs if case.data.get(i.field) is not None}
    return EventFacts(trigger, transition.label, transition.sources[0], transition.dest, actor,
                      transition.roles[0], NOW, None, given)


def context_for(definition: WorkflowDefinition, name: str, *, who: str | None = None,
                due_at: datetime | None = DUE, now: datetime = NOW, trigger: str | None = None,
                escalation_step: int | None = None, **data: Any) -> dict[str, Any]:
    state, default_trigger, default_who = CASE_TEMPLATES[name]
    case = make_case(state, due_at=due_at, **data)
    trigger = trigger or default_trigger
    if name == "eskalasi.txt.j2" and escalation_step is None:
        escalation_step = 1
    if name == "pengingat.txt.j2" and escalation_step is None:
        escalation_step = 0
    return case_context(definition, case, recipient(definition, who or default_who), now,
                        event=event(definition, trigger, case) if trigger else None,
                        escalation_step=escalation_step)


def render(compiled: CompiledWorkflow, name: str, context: dict[str, Any]) -> Rendered:
    return compiled.templates.render(name, context)


def report_for(definition: WorkflowDefinition, name: str, report: dict[str, Any]) -> dict[str, Any]:
    schedule = next(s for s in definition.schedules if s.name == REPORT_TEMPLATES[name])
    role = schedule.to[0]
    who = Recipient("staff", KABID if role == "kabid_trantibum" else "Drs. Budi Santoso", role,
                    definition.roles.roles[role].sees_pii, role)
    return report_context(definition, schedule, who, NOW, report)


def assert_text_shape(rendered: Rendered) -> None:
    """Subject on the first line, a blank line, then the body; nothing left unrendered."""
    lines = rendered.body.split("\n")
    assert lines[0] == rendered.subject
    assert 0 < len(rendered.subject) <= 100
    assert lines[1] == ""
    assert lines[2].strip()
    assert "None" not in rendered.body
    assert "\n\n\n" not in rendered.body
    assert rendered.body.endswith("\n")


# -- the bundle --------------------------------------------------------------------------------


def test_shipped_bundle_compiles_and_names_only_shipped_templates(compiled: CompiledWorkflow) -> None:
    named = set(sample_contexts(compiled.definition))
    assert named == set(ALL_TEMPLATES)
    assert named <= set(compiled.bundle.templates)
    helpers = set(compiled.bundle.templates) - named
    assert all(name.startswith("_") for name in helpers)


def test_no_template_marks_data_safe(compiled: CompiledWorkflow) -> None:
    for name, source in compiled.bundle.templates.items():
        assert not re.search(r"\|\s*safe\b", source), name
        assert "autoescape false" not in source, name


@pytest.mark.parametrize("name", ALL_TEMPLATES)
def test_renders_against_every_sample_context(compiled: CompiledWorkflow, name: str) -> None:
    contexts = sample_contexts(compiled.definition)[name]
    assert contexts
    for context in contexts:
        rendered = render(compiled, name, context)
        assert "{{" not in rendered.body and "{%" not in rendered.body
        if rendered.is_html:
            assert rendered.subject == f"Surat Perintah Tugas {context['case']['number']}"
        else:
            assert_text_shape(rendered)
        if context["case"] is not None:
            assert context["case"]["number"] in rendered.subject
            assert context["case"]["state_label"] in rendered.body


# -- case notices from realistic cases ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASE_TEMPLATES))
def test_case_notice_key_content(compiled: CompiledWorkflow, definition: WorkflowDefinition, name: str) -> None:
    context = context_for(definition, name)
    rendered = render(compiled, name, context)
    state = CASE_TEMPLATES[name][0]
    assert NUMBER in rendered.subject
    assert NUMBER in rendered.body
    assert definition.states[state].label in rendered.body
    if name in WITH_DEADLINE:
        assert DUE_TEXT in rendered.body
    if not rendered.is_html:
        assert_text_shape(rendered)
        assert "Satpol PP Kabupaten Balangan" in rendered.body or "Satuan Polisi Pamong Praja" in rendered.body


@pytest.mark.parametrize("name", sorted(CASE_TEMPLATES))
def test_case_notice_without_deadline_or_optional_data(compiled: CompiledWorkflow,
                                                      definition: WorkflowDefinition, name: str) -> None:
    """Final states have no due time, and optional fields may be missing ("-")."""
    context = context_for(definition, name, due_at=None, nama_pelapor=None, nomor_pelapor=None,
                          email_pelapor=None, desa=None, waktu_kejadian=None, foto_aduan=None,
                          foto_hasil=None, instruksi=None)
    rendered = render(compiled, name, context)
    assert NUMBER in rendered.body
    assert DUE_TEXT not in rendered.body
    assert "paling lambat" not in rendered.body
    if name in ("kabid_aduan_baru.txt.j2", "tim_permintaan_verifikasi.txt.j2"):
        assert "Pelapor: -" in rendered.body
    if not rendered.is_html:
        assert_text_shape(rendered)


def test_receipt_to_complainant(compiled: CompiledWorkflow, definition: WorkflowDefinition) -> None:
    rendered = render(compiled, "pelapor_tanda_terima.txt.j2", context_for(definition, "pelapor_tanda_terima.txt.j2"))
    assert rendered.subject == f"Tanda terima aduan {NUMBER}"
    assert f"Yth. Bapak/Ibu {NAMA}," in rendered.body
    assert f"Diterima: {CREATED_TEXT}" in rendered.body
    assert "Kepala Bidang Trantibum dan Perda" in rendered.body  # what happens next
    assert f"menyebutkan nomor aduan {NUMBER}" in rendered.body  # how to ask about status
    assert "Peraturan Presiden Nomor 76 Tahun 2013" in rendered.body
    assert "rahasia" in rendered.body
    assert "Terima kasih" in rendered.body


@pytest.mark.parametrize("name", PELAPOR_TEMPLATES)
def test_complainant_salutation(compiled: CompiledWorkflow, definition: WorkflowDefinition, name: str) -> None:
    named = render(compiled, name, context_for(definition, name)).body
    assert f"Yth. Bapak/Ibu {NAMA}," in named
    anonymous = render(compiled, name, context_for(definition, name, anonim=True)).body
    assert "Yth. Bapak/Ibu Pelapor," in anonymous
    assert NAMA not in anonymous
    nameless = render(compiled, name, context_for(definition, name, nama_pelapor=None)).body
    assert "Yth. Bapak/Ibu Pelapor," in nameless
    assert "Bapak/Ibu -" not in nameless


@pytest.mark.parametrize("name", PELAPOR_TEMPLATES)
def test_complainant_messages_fit_whatsapp(compiled: CompiledWorkflow, definition: WorkflowDefinition,
                                           name: str) -> None:
    rendered = render(compiled, name, context_for(definition, name))
    assert len(rendered.body) < 1500
    assert "Satuan Polisi Pamong Praja Kabupaten Balangan" in rendered.body
    assert NOMOR not in rendered.body  # the complainant is not shown their own data back


def test_personal_data_masked_for_field_team(compiled: CompiledWorkflow, definition: WorkflowDefinition) -> None:
    name = "tim_permintaan_verifikasi.txt.j2"
    tim = render(compiled, name, context_for(definition, name, who="tim_treckk")).body
    assert definition.roles.roles["tim_treckk"].sees_pii is False
    assert f"Pelapor: {MASK}" in tim
    assert NAMA not in tim and NOMOR not in tim
    kabid = render(compiled, name, context_for(definition, name, who="kabid_trantibum")).body
    assert f"Pelapor: {NAMA}" in kabid
    assert MASK not in kabid


def test_new_complaint_to_kabid(compiled: CompiledWorkflow, definition: WorkflowDefinition) -> None:
    name = "kabid_aduan_baru.txt.j2"
    body = render(compiled, name, context_for(definition, name)).body
    for text in (f"Yth. {KABID}", "Kategori: PKL dan tempat usaha", "Kecamatan: Paringin",
                 "Desa/kelurahan: Paringin Kota", "Lokasi: Trotoar depan Pasar Paringin",
                 "Kanal aduan: WhatsApp La-Lisa", "Pedagang kaki lima berjualan",
                 "Diteruskan oleh Nurul Hidayah (Admin La-Lisa)", f"Pelapor: {NAMA}, {NOMOR}",
                 f"paling lambat {DUE_TEXT}"):
        assert text in body
    assert "dirahasiakan" not in body
    anonymous = render(compiled, name, context_for(definition, name, anonim=True)).body
    assert "(meminta identitasnya dirahasiakan)" in anonymous
    tim = render(compiled, name, context_for(definition, name, who="tim_treckk")).body
    assert f"Pelapor: {MASK}, {MASK}" in tim and NAMA not in tim


def test_verification_finding(compiled: CompiledWorkflow, definition: WorkflowDefinition) -> None:
    name = "kabid_hasil_verifikasi.txt.j2"
    body = render(compiled, name, context_for(definition, name)).body
    assert "Benar, terdapat enam lapak PKL di atas trotoar." in body
    assert "Laporan terbukti benar: Ya" in body
    assert "menugaskan tim" in body
    untrue = render(compiled, name, context_for(definition, name, laporan_benar=False)).body
    assert "Laporan terbukti benar: Tidak" in untrue
    assert "tidak dapat ditugaskan" in untrue


def test_work_order_text(compiled: CompiledWorkflow, definition: WorkflowDefinition) -> None:
    name = "tim_perintah_tugas.txt.j2"
    body = render(compiled, name, context_for(definition, name)).body
    assert f"SPT/{NUMBER}/TRANTIBUM" in body
    assert "Lakukan pendekatan persuasif" in body
    assert f"Yth. {TIM}" in body
    assert f"Diperintahkan oleh {KABID}" in body
    assert len(body) < 1500


def test_surat_perintah_tugas(compiled: CompiledWorkflow, definition: WorkflowDefinition) -> None:
    name = "tim_surat_perintah_tugas.html.j2"
    rendered = render(compiled, name, context_for(definition, name))
    assert rendered.is_html
    assert rendered.subject == f"Surat Perintah Tugas {NUMBER}"
    body = rendered.body
    for text in ("<title>Surat Perintah Tugas", "PEMERINTAH KABUPATEN BALANGAN", "SATUAN POLISI PAMONG PRAJA",
                 "SURAT PERINTAH TUGAS", f"Nomor: SPT/{NUMBER}/TRANTIBUM", "Dasar", "Kepada", "Untuk",
                 TIM, "Kecamatan Paringin", "Paringin Kota", "Trotoar depan Pasar Paringin",
                 "Lakukan pendekatan persuasif", "Pedagang kaki lima berjualan", DUE_TEXT,
                 "Kepala Bidang Trantibum dan Perda", "@media print", "Senin, 30 November 2026"):
        assert text in body
    assert KABID.replace(".", "") in body.replace(".", "")  # signed by the Kabid who assigned


def test_result_report_and_return(compiled: CompiledWorkflow, definition: WorkflowDefinition) -> None:
    report = render(compiled, "kabid_laporan_hasil.txt.j2", context_for(definition, "kabid_laporan_hasil.txt.j2")).body
    assert "Pembinaan kepada enam pedagang" in report
    assert "Trotoar kembali dapat dilalui" in report
    assert "hasil-1.jpg, hasil-2.jpg" in report
    returned = render(compiled, "tim_hasil_dikembalikan.txt.j2",
                      context_for(definition, "tim_hasil_dikembalikan.txt.j2")).body
    assert "Lengkapi foto sebelum dan sesudah penertiban." in returned
    assert "Sedang ditangani" in returned


def test_rejection_and_duplicate(compiled: CompiledWorkflow, definition: WorkflowDefinition) -> None:
    name = "pelapor_ditolak.txt.j2"
    rejected = render(compiled, name, context_for(definition, name)).body
    assert "Alasan: Lokasi berada di luar wilayah Kabupaten Balangan." in rejected
    assert "tidak dapat kami tindak lanjuti" in rejected
    duplicate = render(compiled, name, context_for(definition, name, trigger="tandai_duplikat",
                                                   alasan="Sama dengan aduan TRK-2026-000120.")).body
    assert "sama dengan aduan yang telah kami terima sebelumnya" in duplicate
    assert "Alasan: Sama dengan aduan TRK-2026-000120." in duplicate


def test_referral_and_completion(compiled: CompiledWorkflow, definition: WorkflowDefinition) -> None:
    referred = render(compiled, "pelapor_dilimpahkan.txt.j2", context_for(definition, "pelapor_dilimpahkan.txt.j2")).body
    assert "Dinas Perhubungan Kabupaten Balangan" in referred
    assert "Alasan: Lokasi berada di luar wilayah" in referred
    done = render(compiled, "pelapor_selesai.txt.j2", context_for(definition, "pelapor_selesai.txt.j2")).body
    assert "Hasil penanganan: Trotoar kembali dapat dilalui" in done
    assert "Terima kasih" in done
    assert "Lengkapi foto" not in done  # internal notes of the Kabid are not sent to the complainant


def test_reminder_overdue_and_on_time(compiled: CompiledWorkflow, definition: WorkflowDefinition) -> None:
    name = "pengingat.txt.j2"
    late = render(compiled, name, context_for(definition, name))
    assert late.subject == f"Pengingat batas waktu aduan {NUMBER}"
    assert "melewati batas waktu selama 1 jam 30 menit" in late.body
    assert f"Batas waktu: {DUE_TEXT}" in late.body
    assert "Kecamatan: Paringin" in late.body
    assert "Ditelaah Kepala Bidang" in late.body
    on_time = render(compiled, name, context_for(definition, name, now=DUE.astimezone(WITA))).body
    assert "telah mencapai batas waktunya" in on_time
    assert "selama" not in on_time
    admin = render(compiled, name, context_for(definition, name, who="admin_lalisa")).body
    assert "Admin La-Lisa" in admin


def test_second_level_escalation(compiled: CompiledWorkflow, definition: WorkflowDefinition) -> None:
    name = "eskalasi.txt.j2"
    rendered = render(compiled, name, context_for(definition, name, now=NOW + timedelta(days=2)))
    assert rendered.subject.startswith("Eskalasi tingkat 2:")
    assert NUMBER in rendered.subject
    assert "Tingkat eskalasi: 2" in rendered.body
    assert "Penanggung Jawab" in rendered.body
    assert "Sedang ditangani" in rendered.body
    assert "2 hari 1 jam 30 menit" in rendered.body
    assert DUE_TEXT in rendered.body


# -- template injection and escaping -----------------------------------------------------------

FREE_TEXT = ("uraian", "lokasi", "desa", "instruksi", "temuan", "tindakan", "hasil", "catatan", "alasan",
             "instansi", "nama_pelapor")


@pytest.mark.parametrize("name", sorted(n for n in CASE_TEMPLATES if n.endswith(".txt.j2")))
def test_text_templates_render_citizen_text_literally(compiled: CompiledWorkflow,
                                                      definition: WorkflowDefinition, name: str) -> None:
    context = context_for(definition, name, **{field: PAYLOAD for field in FREE_TEXT})
    body = render(compiled, name, context).body
    assert PAYLOAD in body
    assert "49" not in body
    assert "&lt;" not in body  # text notices are not HTML-escaped


def test_html_work_order_escapes_citizen_text(compiled: CompiledWorkflow, definition: WorkflowDefinition) -> None:
    name = "tim_surat_perintah_tugas.html.j2"
    context = context_for(definition, name, **{field: PAYLOAD for field in FREE_TEXT})
    body = render(compiled, name, context).body
    assert "{{ 7*7 }} &lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>" not in body
    assert "49" not in body


def test_html_title_is_unescaped_for_the_subject(compiled: CompiledWorkflow, definition: WorkflowDefinition) -> None:
    name = "tim_surat_perintah_tugas.html.j2"
    rendered = render(compiled, name, context_for(definition, name))
    assert rendered.subject == f"Surat Perintah Tugas {NUMBER}"
    assert "<style>" in rendered.body  # the template's own markup is not escaped


# -- periodic notices --------------------------------------------------------------------------


def test_morning_digest_lists_open_cases(compiled: CompiledWorkflow, definition: WorkflowDefinition) -> None:
    name = "ringkasan_pagi.txt.j2"
    report = sample_report(definition)
    report["open_cases"] = [
        {"number": NUMBER, "state": "ditelaah", "state_label": "Ditelaah Kepala Bidang", "kecamatan": "Paringin",
         "kategori": "PKL dan tempat usaha", "created_at": CREATED, "due_at": DUE, "overdue": True,
         "overdue_by": 90, "escalation_step": 1},
        {"number": "TRK-2026-000124", "state": "ditangani", "state_label": "Sedang ditangani",
         "kecamatan": "Halong", "kategori": "Hewan ternak lepas", "created_at": CREATED,
         "due_at": datetime(2026, 12, 3, 16, 0, tzinfo=WITA), "overdue": False, "overdue_by": 0,
         "escalation_step": 0},
    ]
    report["open_count"], report["overdue_count"] = 2, 1
    rendered = render(compiled, name, report_for(definition, name, report))
    assert_text_shape(rendered)
    assert rendered.subject == "Ringkasan pagi: 2 aduan terbuka, 1 terlambat (Senin, 30 November 2026)"
    body = rendered.body
    assert f"1. {NUMBER} - Ditelaah Kepala Bidang (TERLAMBAT 1 jam 30 menit)" in body
    assert "2. TRK-2026-000124 - Sedang ditangani\n" in body
    assert "Kecamatan Halong; Hewan ternak lepas" in body
    assert "Batas waktu: 30-11-2026 06.30 WITA" in body
    assert "Batas waktu: 03-12-2026 16.00 WITA" in body
    assert f"Yth. {KABID}" in body


def test_morning_digest_with_nothing_open(compiled: CompiledWorkflow, definition: WorkflowDefinition) -> None:
    name = "ringkasan_pagi.txt.j2"
    report = sample_report(definition) | {"open_cases": [], "open_count": 0, "overdue_count": 0}
    rendered = render(compiled, name, report_for(definition, name, report))
    assert_text_shape(rendered)
    assert rendered.subject.startswith("Ringkasan pagi: 0 aduan terbuka")
    assert "tidak ada aduan yang masih terbuka" in rendered.body
    assert "1." not in rendered.body


def test_monthly_recap(compiled: CompiledWorkflow, definition: WorkflowDefinition) -> None:
    name = "rekap_bulanan.txt.j2"
    paringin = {"name": "Paringin", "received": 3, "completed": 2, "rejected": 0, "referred": 1, "open": 0,
                "overdue": 1, "median_minutes": 240.0, "p90_minutes": 600.0}
    report = {**sample_report(definition), **{k: v for k, v in paringin.items() if k != "name"},
              "per_kecamatan": [paringin]}
    report["per_kategori"] = [{"name": "Hewan ternak lepas", "received": 5, "completed": 4, "rejected": 1,
                               "referred": 0, "open": 0, "overdue": 2, "median_minutes": 1530.0,
                               "p90_minutes": 2900.0}]
    rendered = render(compiled, name, report_for(definition, name, report))
    assert_text_shape(rendered)
    assert rendered.subject == "Rekap bulanan penanganan aduan TRECKK: November 2026"
    body = rendered.body
    for text in ("Aduan diterima: 3", "Selesai ditangani: 2", "Ditolak: 0", "Dilimpahkan ke instansi lain: 1",
                 "Masih terbuka: 0", "Melewati batas waktu: 1", "Waktu penanganan (median): 4 jam",
                 "Waktu penanganan (persentil ke-90): 10 jam", "Per kecamatan:\n- Paringin: diterima 3",
                 "- Hewan ternak lepas: diterima 5, selesai 4, ditolak 1, dilimpahkan 0, terbuka 0, terlambat 2; "
                 "median 1 hari 1 jam 30 menit, persentil ke-90 2 hari 20 menit",
                 "Penanggung Jawab"):
        assert text in body


def test_monthly_recap_without_times_or_cases(compiled: CompiledWorkflow, definition: WorkflowDefinition) -> None:
    name = "rekap_bulanan.txt.j2"
    report = sample_report(definition) | {
        "received": 0, "completed": 0, "rejected": 0, "referred": 0, "open": 0, "overdue": 0,
        "median_minutes": None, "p90_minutes": None, "per_kecamatan": [],
        "per_kategori": [{"name": "Bangunan liar", "received": 1, "completed": 0, "rejected": 0, "referred": 0,
                          "open": 1, "overdue": 0, "median_minutes": None, "p90_minutes": None}],
    }
    rendered = render(compiled, name, report_for(definition, name, report))
    assert_text_shape(rendered)
    assert "Waktu penanganan (median): -\n" in rendered.body
    assert "Waktu penanganan (persentil ke-90): -\n" in rendered.body
    assert "Per kecamatan:\n- Tidak ada aduan pada periode ini." in rendered.body
    assert "Bangunan liar: diterima 1, selesai 0, ditolak 0, dilimpahkan 0, terbuka 1, terlambat 0; " \
           "median -, persentil ke-90 -" in rendered.body


def test_a_template_cannot_change_what_other_recipients_are_shown(definition: WorkflowDefinition) -> None:
    """Recipients of one event share parts of their context, so a template may only read it."""
    from jinja2.exceptions import SecurityError

    from engine.compile.notice_context import CaseContexts, Recipient, sample_case
    from engine.compile.templates import TemplateFailed, TemplateSet

    templates = TemplateSet({"ubah.txt.j2": "{{ data.clear() }}Halo {{ recipient.name }}",
                             "baca.txt.j2": "Kategori: {{ data.kategori }}"})
    contexts = CaseContexts(definition, sample_case(definition, "ditelaah"), datetime.now(timezone.utc))
    first = contexts.for_recipient(Recipient("staff", "Kabid", "kabid_trantibum", True, "kabid"))
    with pytest.raises(TemplateFailed, match="ubah.txt.j2:1: access to attribute 'clear'") as refused:
        templates.render("ubah.txt.j2", first)
    assert isinstance(refused.value.__cause__, SecurityError)
    second = contexts.for_recipient(Recipient("staff", "Kasat", "penanggung_jawab", True, "kasat"))
    assert templates.render("baca.txt.j2", second).body == "Kategori: PKL dan tempat usaha"


def test_attribute_lookup_on_context_dicts_keeps_jinjas_meaning() -> None:
    """``x.name`` on a dict reads the item, except a dict's own attribute, which stays the method."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from engine.compile.templates import TemplateFailed, TemplateSet

    source = ("{{ data.kategori }}|{{ data['kategori'] }}|{{ data.get('kategori') }}|{{ data.keys()|list|length }}|"
              "{{ data.items is callable }}|{{ row.items }}|{{ row.x }}")
    context = {"data": {"kategori": "PKL", "items": "bukan metode"}, "row": _Row()}
    templates = TemplateSet({"t.txt.j2": source})
    plain = ImmutableSandboxedEnvironment().from_string(source)
    assert templates.render("t.txt.j2", context).body == plain.render(context) == "PKL|PKL|PKL|2|True|3|7"
    with pytest.raises(TemplateFailed, match="has no attribute 'tidak_ada'"):
        TemplateSet({"u.txt.j2": "{{ data.tidak_ada }}"}).render("u.txt.j2", {"data": {}})


class _Row:
    """An object (not a dict) in a context: attributes read as attributes."""

    items = 3
    x = 7


def test_time_filters_write_a_dash_for_a_missing_value() -> None:
    from engine.compile.templates import TemplateSet

    templates = TemplateSet({"t.txt.j2": "{{ v|wita }}|{{ v|tanggal }}|{{ v|singkat }}|{{ m|durasi }}"})
    wita = {"workflow": {"timezone": "Asia/Makassar"}}
    assert templates.render("t.txt.j2", {"v": None, "m": None, **wita}).body == "-|-|-|-"
    assert templates.render("t.txt.j2", {"v": DUE, "m": 90, **wita}).body == (
        f"{DUE_TEXT}|Senin, 30 November 2026|30-11-2026 06.30 WITA|1 jam 30 menit")


def test_time_filters_show_the_workflows_own_zone_under_neutral_names() -> None:
    from engine.compile.templates import TemplateSet

    templates = TemplateSet({"t.txt.j2": "{{ v|waktu }}|{{ v|waktu_singkat }}|{{ v|wita }}"})
    shown = templates.render("t.txt.j2", {"v": DUE, "workflow": {"timezone": "Asia/Jayapura"}}).body
    assert shown == "Senin, 30 November 2026 pukul 07.30 WIT|30-11-2026 07.30 WIT|Senin, 30 November 2026 pukul 07.30 WIT"
    assert templates.render("t.txt.j2", {"v": DUE}).body.endswith("22.30 UTC")  # no workflow: UTC
    failed = templates.render_problem("t.txt.j2", {"v": "kemarin", "m": 0})
    assert failed is not None and failed.line == 1 and "AttributeError" in failed.reason


# -- the engine's environment keeps Jinja's meaning --------------------------------------------


def _as_jinja_renders(sources: dict[str, str]) -> Any:
    """The same templates in Jinja's own immutable sandbox, with the engine's filters."""
    from jinja2 import DictLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from engine.compile.templates import TemplateSet, is_html_template

    environment = ImmutableSandboxedEnvironment(
        loader=DictLoader(sources), undefined=StrictUndefined,
        autoescape=lambda name: bool(name) and is_html_template(str(name)),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    ours = TemplateSet({}).environment.filters
    environment.filters.update({name: ours[name] for name in ("wita", "tanggal", "singkat", "durasi")})
    return lambda name, context: environment.get_template(name).render(context)


def test_shipped_templates_render_exactly_as_in_jinjas_own_sandbox(compiled: CompiledWorkflow) -> None:
    reference = _as_jinja_renders(dict(compiled.bundle.templates))
    compared = 0
    for name, contexts in sample_contexts(compiled.definition).items():
        for context in contexts:
            assert compiled.templates.render(name, context).body == reference(name, context), name
            compared += 1
    assert compared >= 5 * len(ALL_TEMPLATES)  # every kind of context of every use


INCLUDE_CASES = {
    "nested includes": ({"a.txt.j2": "<{% include '_b.txt.j2' %}>", "_b.txt.j2": "b{% include '_c.txt.j2' %}",
                         "_c.txt.j2": "c{{ v }}"}, {"v": 3}, "<bc3>"),
    "text included in HTML keeps its own escaping": (
        {"a.html.j2": "{{ v }}|{% include '_b.txt.j2' %}", "_b.txt.j2": "{{ v }}"}, {"v": "<i>"}, "&lt;i&gt;|<i>"),
    "a dynamic name is looked up when rendering": (
        {"a.txt.j2": "{% include which %}", "_b.txt.j2": "b"}, {"which": "_b.txt.j2"}, "b"),
    "a missing optional include": ({"a.txt.j2": "x{% include '_none.txt.j2' ignore missing %}y"}, {}, "xy"),
    "a template that includes itself": (
        {"a.txt.j2": "{% if n > 0 %}{{ n }}{% set n = n - 1 %}{% include 'a.txt.j2' %}{% endif %}"}, {"n": 3},
        "321"),
}


@pytest.mark.parametrize("case", sorted(INCLUDE_CASES))
def test_includes_mean_what_they_mean_in_jinja(case: str) -> None:
    """Compiled templates are found in the engine's own dict; an include still means Jinja's include."""
    from engine.compile.templates import TemplateSet

    sources, context, expected = INCLUDE_CASES[case]
    name = next(n for n in sources if n.startswith("a."))
    assert _as_jinja_renders(sources)(name, context) == expected
    assert TemplateSet(sources).render(name, context).body == expected


def test_jinjas_globals_are_there_for_every_template() -> None:
    from engine.compile.templates import TemplateSet

    templates = TemplateSet({"a.txt.j2": "{{ range(3)|list|length }}{% set ns = namespace(x=1) %}{{ ns.x }}"
                                         "{{ dict(a=2).a }}{% include '_b.txt.j2' %}",
                             "_b.txt.j2": "{{ cycler('p', 'q').next() }}"})
    assert templates.render("a.txt.j2", {}).body == "312p"


# -- failures name the template, its line and the partial ---------------------------------------


def test_a_failure_names_the_template_line_and_partial() -> None:
    from engine.compile.templates import TemplateFailed, TemplateSet
    from engine.errors import InvalidInput

    templates = TemplateSet({
        "a.txt.j2": "Judul\n\n{% include '_b.txt.j2' %}\n{{ case.due_at.hour }}",
        "_b.txt.j2": "b\n{% include '_c.txt.j2' %}",
        "_c.txt.j2": "c\n\n{{ escalation.step }}",
        "m.txt.j2": "{% macro baris(x) %}\n{{ x.tidak_ada }}\n{% endmacro %}\n{{ baris({}) }}",
    })
    with pytest.raises(InvalidInput) as raised:
        templates.render("a.txt.j2", {"escalation": None, "case": {"due_at": None}})
    failed = raised.value
    assert isinstance(failed, TemplateFailed)
    assert failed.frames == (("a.txt.j2", 3), ("_b.txt.j2", 2), ("_c.txt.j2", 3))
    assert (failed.template, failed.line, failed.partial) == ("a.txt.j2", 3, ("_c.txt.j2", 3))
    assert str(failed) == ("template 'a.txt.j2' failed at a.txt.j2:3, in the partial _b.txt.j2:2, in the partial "
                           "_c.txt.j2:3: 'None' has no attribute 'step'")
    assert failed.located("templates").startswith("templates/a.txt.j2:3, in the partial templates/_b.txt.j2:2")
    late = templates.render_problem("a.txt.j2", {"escalation": {"step": 1}, "case": {"due_at": None}})
    assert late is not None and (late.line, late.partial) == (4, None)
    macro = templates.render_problem("m.txt.j2", {})
    assert macro is not None and macro.frames == (("m.txt.j2", 2),)  # the line in the macro's body


def test_missing_and_broken_partials_are_found_before_they_are_needed() -> None:
    from engine.compile.templates import TemplateSet

    templates = TemplateSet({
        "a.txt.j2": "a\n{% if n %}{% include '_none.txt.j2' %}{% endif %}",
        "b.txt.j2": "b\n\n{% if n %}{% include '_rusak.txt.j2' %}{% endif %}",
        "_rusak.txt.j2": "ok\n{% if %}",
        "c.txt.j2": "{% include '_none.txt.j2' ignore missing %}{% include '_rusak.txt.j2' ignore missing %}",
        "d.txt.j2": "{% include 'd.txt.j2' %}",
    }, "/proyek/templates")
    assert (templates.compile_problem("a.txt.j2") or "").startswith(
        "/proyek/templates/a.txt.j2:2 includes '_none.txt.j2', which is not a template; known templates are ")
    assert templates.compile_problem("b.txt.j2") == (
        "it does not compile: /proyek/templates/b.txt.j2:3, in the partial /proyek/templates/_rusak.txt.j2:2: "
        "Expected an expression, got 'end of statement block'")
    assert "_rusak.txt.j2:2" in (templates.compile_problem("c.txt.j2") or "")  # it is there, so it must compile
    assert templates.compile_problem("d.txt.j2") is None
    assert templates.compile_problem("e.txt.j2") == (
        "no such template in /proyek/templates; known templates are _rusak.txt.j2, a.txt.j2, b.txt.j2, c.txt.j2, "
        "d.txt.j2")
    failed = templates.render_problem("b.txt.j2", {"n": 1})
    assert failed is not None and failed.frames == (("b.txt.j2", 3), ("_rusak.txt.j2", 2))
    assert "does not compile: Expected an expression" in failed.reason
    missing = templates.render_problem("a.txt.j2", {"n": 1})
    assert missing is not None and missing.frames == (("a.txt.j2", 2),) and "'_none.txt.j2'" in missing.reason


# -- validation renders every kind of context of every use -------------------------------------

MINIMAL = ROOT / "tests" / "data" / "valid" / "workflows" / "minimal.yaml"
MINIMAL_TEMPLATES = ROOT / "tests" / "data" / "valid" / "templates"


@pytest.fixture(scope="module")
def minimal_uses() -> dict[str, tuple[int, int]]:
    """The workflow line of each use in the minimal definition, by a short name."""
    definition = compile_bundle(bundle_from_files(MINIMAL)).definition
    intake, tugaskan, tolak = (definition.intake.notices[0], definition.transitions[0].notices[0],
                               definition.transitions[1].notices[0])
    deadline = definition.states["diterima"].deadline
    assert deadline is not None
    places = {"catat": intake.where, "tugaskan": tugaskan.where, "tolak": tolak.where,
              "step 1": deadline.escalation[0].where, "step 2": deadline.escalation[1].where,
              "ringkasan": definition.schedules[0].where}
    return {name: (where.line, where.column) for name, where in places.items()}


def minimal_problems(templates: dict[str, str]) -> list[tuple[int, int, str]]:
    """(line, column, message) of each problem of the minimal definition with these templates."""
    from engine.compile.workflow import Bundle
    from engine.errors import DefinitionError

    base = bundle_from_files(MINIMAL)
    sources = {**base.templates, **templates}
    bundle = Bundle(base.workflow_path, base.workflow_text, base.roles_path, base.roles_text, sources,
                    base.templates_path)
    try:
        compile_bundle(bundle)
    except DefinitionError as exc:
        assert all(p.path == str(MINIMAL) for p in exc.problems)
        return [(p.line, p.column, p.message) for p in exc.problems]
    return []


NOTICE = "pemberitahuan.txt.j2"
REMINDER = "pengingat.txt.j2"
SITUATIONS = {
    # what the template does wrong: (template, its source, {use: words the problem must hold})
    "due time in a final state": (NOTICE, "Aduan {{ case.number }}\n\n{{ case.due_at.hour }}", {
        "tolak": ["into 'ditolak' (no deadline)", f"{NOTICE}:3: 'None' has no attribute 'hour'"]}),
    "escalation in a notice on a move": (NOTICE, "{{ escalation.step }}", {
        "catat": ["on 'catat' into 'diterima' (with a deadline)", "'None' has no attribute 'step'"],
        "tugaskan": ["on 'tugaskan' from 'diterima' into 'ditangani'"], "tolak": ["on 'tolak' from 'diterima'"]}),
    "event in an escalation step": (REMINDER, "x\n{{ event.actor }}", {
        "step 1": ["at escalation step 1 in 'diterima' (overdue), to admin_lalisa", f"{REMINDER}:2: 'None' has"],
        "step 2": ["at escalation step 2 in 'diterima'"]}),
    "anonymous complainant": (NOTICE, "{% if anonymous %}{{ rahasia }}{% endif %}", {
        use: ["anonymous, every field filled", "'rahasia' is undefined"] for use in ("catat", "tugaskan", "tolak")}),
    "an optional input not given": (NOTICE, "{% if event.trigger == 'catat' %}{{ event.input.nama_pelapor }}"
                                            "{% endif %}", {
        "catat": ["to pelapor, not anonymous, optional fields missing", "has no attribute 'nama_pelapor'"]}),
    "staff not seeing personal data": (
        NOTICE, "{% if data.nama_pelapor == '[dirahasiakan]' %}{{ rahasia }}{% endif %}", {
            "tugaskan": ["to tim_treckk (not seeing personal data), not anonymous, every field filled"]}),
    "a report with nothing in it": ("ringkasan.txt.j2", "{{ report.open_cases[0].number }}", {
        "ringkasan": ["for schedule 'ringkasan_pagi', to kabid_trantibum (seeing personal data), with nothing to "
                      "report", "ringkasan.txt.j2:1"]}),
    "a report value that is None": ("ringkasan.txt.j2", "{{ report.open_cases[0].due_at.year }}", {
        "ringkasan": ["with values missing (None)", "'None' has no attribute 'year'"]}),
}


@pytest.mark.parametrize("case", sorted(SITUATIONS))
def test_validation_renders_each_use_in_every_situation_it_can_meet(minimal_uses: dict[str, tuple[int, int]],
                                                                    case: str) -> None:
    template, source, expected = SITUATIONS[case]
    problems = minimal_problems({template: source})
    assert sorted(line for line, _, _ in problems) == sorted(minimal_uses[use][0] for use in expected), problems
    for use, words in expected.items():
        [message] = [m for line, column, m in problems if (line, column) == minimal_uses[use]]
        assert message.startswith(f"template {template!r} does not render "), message
        for text in words:
            assert text in message, (text, message)


def test_validation_names_the_partial_a_use_fails_in(minimal_uses: dict[str, tuple[int, int]]) -> None:
    problems = minimal_problems({NOTICE: "Aduan\n\n{% include '_tenggat.txt.j2' %}",
                                   "_tenggat.txt.j2": "Batas waktu:\n{{ case.due_at.day }}"})
    assert [(line, column) for line, column, _ in problems] == [minimal_uses["tolak"]]
    assert problems[0][2].endswith(f": {MINIMAL_TEMPLATES}/{NOTICE}:3, in the partial "
                                   f"{MINIMAL_TEMPLATES}/_tenggat.txt.j2:2: 'None' has no attribute 'day'")


def test_validation_passes_what_renders_everywhere() -> None:
    assert minimal_problems({NOTICE: "{{ case.due_at|wita }} {{ escalation.step if escalation else '-' }} "
                                       "{{ event.input.nama_pelapor|default('-') }}",
                               REMINDER: "{{ escalation.step }} {{ case.due_at|singkat }}",
                               "ringkasan.txt.j2": "{{ report.median_minutes|durasi }}"}) == []


def test_a_broken_partial_never_reached_by_a_sample_is_still_reported(
        minimal_uses: dict[str, tuple[int, int]]) -> None:
    problems = minimal_problems({NOTICE: "x\n{% if data.uraian == 'tidak pernah' %}{% include '_rusak.txt.j2' %}"
                                           "{% endif %}",
                                   "_rusak.txt.j2": "{{ x|tidak_ada_filter }}"})
    # Reported where each of the three notices names the template.
    text = MINIMAL.read_text(encoding="utf-8").splitlines()
    assert len(problems) == 3 and all(f"template: {NOTICE}" in text[line - 1] for line, _, _ in problems)
    assert all(m.endswith(f"it does not compile: {MINIMAL_TEMPLATES}/{NOTICE}:2, in the partial "
                          f"{MINIMAL_TEMPLATES}/_rusak.txt.j2:1: No filter named 'tidak_ada_filter'.")
               for _, _, m in problems), problems


# -- at run time: one line, nothing written ------------------------------------------------------


def test_a_template_failing_at_run_time_refuses_the_move_and_writes_nothing(
        engine: Any, cli: Any, tmp_path: Path) -> None:
    """A template that passes validation but fails for some data: exit 2, one line, no trace of the move."""
    import shutil

    for folder in ("workflows", "roles", "templates"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    workflow = tmp_path / "workflows" / "treckk.yaml"
    workflow.write_text(workflow.read_text(encoding="utf-8").replace("version: 1", "version: 2", 1), encoding="utf-8")
    notice = tmp_path / "templates" / "kabid_aduan_baru.txt.j2"
    lines = notice.read_text(encoding="utf-8").split("\n")
    include_line = lines.index('{% include "_footer.txt.j2" %}') + 1
    lines.insert(include_line - 1, '{% include "_lokasi.txt.j2" %}')
    notice.write_text("\n".join(lines), encoding="utf-8")
    (tmp_path / "templates" / "_lokasi.txt.j2").write_text(
        "Lokasi sudah dicatat.\n{% if data.lokasi == 'Jalan Rusak' %}{{ case.tidak_ada }}{% endif %}\n",
        encoding="utf-8")
    engine.deploy(workflow, None)

    fine, broken = submit_at(cli, "Jalan Ahmad Yani"), submit_at(cli, "Jalan Rusak")
    before = footprint(engine, broken)
    result = cli("advance", broken, "teruskan", "--as", "admin")
    assert result.code == 2, (result.out, result.err)
    assert result.out == ""
    [line] = result.err.splitlines()
    assert line == (f"treckk: error: template 'kabid_aduan_baru.txt.j2' failed at kabid_aduan_baru.txt.j2:"
                    f"{include_line}, in the partial _lokasi.txt.j2:2: 'dict object' has no attribute 'tidak_ada'")
    assert footprint(engine, broken) == before  # same state and version, no history row, no outbox row
    assert before[0] == "diterima"
    assert cli("advance", fine, "teruskan", "--as", "admin").code == 0
    assert footprint(engine, fine)[0] == "ditelaah"


def submit_at(cli: Callable[..., Any], lokasi: str) -> str:
    """A complaint recorded through the CLI at ``lokasi``; its number."""
    result = cli("submit", "--as", "admin", "--json", *[arg for name, value in {**COMPLAINT, "lokasi": lokasi}.items()
                                                          for arg in ("--set", f"{name}={value}")])
    assert result.code == 0, result.err
    return str(json.loads(result.out)["number"])


def footprint(engine: Any, number: str) -> tuple[Any, ...]:
    """A case's state and version and how many events and outbox rows it has (what a refused move must keep)."""
    with engine.db.begin() as connection:
        case_id, state, version = connection.execute(
            select(cases.c.id, cases.c.state, cases.c.version).where(cases.c.number == number)).one()
        return (state, version,
                connection.execute(select(func.count()).select_from(events)
                                   .where(events.c.case_id == case_id)).scalar_one(),
                connection.execute(select(func.count()).select_from(notices)
                                   .where(notices.c.case_id == case_id)).scalar_one())
