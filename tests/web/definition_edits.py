"""Edits of the shipped TRECKK definition that the editor tests type: a new state with a deadline
(``ditinjau_ulang``, a review by the head of the unit between the Kabid's approval and the end), half
made and then finished, and a short scenario that plays the finished edit."""

from __future__ import annotations

from tests.conftest import ROOT

SHIPPED = (ROOT / "workflows" / "treckk.yaml").read_text(encoding="utf-8")
ROLES = (ROOT / "roles" / "treckk.yaml").read_text(encoding="utf-8")
TEMPLATES = {path.name: path.read_text(encoding="utf-8") for path in sorted((ROOT / "templates").glob("*.j2"))}
DEMO_SCENARIO = (ROOT / "workflows" / "scenarios" / "treckk-demo.yaml").read_text(encoding="utf-8")

_BEFORE_FINAL = "  selesai:\n    label: Selesai\n"
HALF_STATE = """  ditinjau_ulang:
    label: Ditinjau ulang pimpinan
    deadline:
      within: 2h
      calendar: jam_kantor
"""
"""Half made: a calendar that does not exist, and no way in or out yet."""
FULL_STATE = HALF_STATE.replace("jam_kantor", "jam_kerja") + """      escalation:
        - after: 0m
          notify: [penanggung_jawab]
          template: pengingat.txt.j2
"""
_AFTER_APPROVAL = "        template: pelapor_selesai.txt.j2\n\n  - trigger: kembalikan\n"
NEW_TRANSITIONS = """        template: pelapor_selesai.txt.j2

  - trigger: tinjau_ulang
    label: Minta tinjauan ulang pimpinan
    from: menunggu_pengesahan
    to: ditinjau_ulang
    roles: [kabid_trantibum]
    input: {catatan: optional}

  - trigger: selesai_tinjau
    label: Selesai ditinjau, sahkan
    from: ditinjau_ulang
    to: selesai
    roles: [penanggung_jawab]
    input: {catatan: optional}
    notices:
      - to: [pelapor]
        template: pelapor_selesai.txt.j2

  - trigger: kembalikan
"""


def half_edit(text: str = SHIPPED) -> str:
    """The shipped workflow with the half-made state (version still 1)."""
    assert _BEFORE_FINAL in text
    return text.replace(_BEFORE_FINAL, HALF_STATE + _BEFORE_FINAL, 1)


def full_edit(text: str = SHIPPED, version: int = 2) -> str:
    """The shipped workflow with the finished state, its transitions, and ``version``."""
    assert _BEFORE_FINAL in text and _AFTER_APPROVAL in text and "\nversion: 1\n" in text
    done = text.replace(_BEFORE_FINAL, FULL_STATE + _BEFORE_FINAL, 1).replace(_AFTER_APPROVAL, NEW_TRANSITIONS, 1)
    return done.replace("\nversion: 1\n", f"\nversion: {version}\n", 1)


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line of ``text`` containing ``needle``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


REVIEW_SCENARIO = """scenario: Tinjauan ulang oleh Penanggung Jawab
start: "2026-11-30T08:05:00+08:00"
staff:
  - {username: rina, name: Rina Marlina, roles: [admin_lalisa]}
  - {username: ahmad, name: Ahmad Fauzi, roles: [kabid_trantibum]}
  - {username: kasat, name: H. Rahmadi, roles: [penanggung_jawab], email: kasat@satpolpp.balangankab.go.id}
  - {username: tim_paringin, name: Tim TRECKK Paringin, roles: [tim_treckk], scope: paringin, phone: "0812-5100-0006"}
steps:
  - submit:
      as: rina
      case: A
      set: {kanal: telepon, nama_pelapor: Siti Aminah, nomor_pelapor: "0821-5544-1234", uraian: Pedagang menutup jalan depan pasar Paringin., kategori: pkl_tempat_usaha, kecamatan: paringin, lokasi: Jl. Ahmad Yani}
    expect: {state: diterima}
  - advance: {case: A, trigger: teruskan, as: rina}
    expect: {state: ditelaah}
  - advance: {case: A, trigger: tugaskan, as: ahmad, set: {instruksi: Tertibkan lapak.}}
    expect: {state: ditugaskan}
  - advance: {case: A, trigger: mulai_tangani, as: tim_paringin}
    expect: {state: ditangani}
  - advance: {case: A, trigger: laporkan_hasil, as: tim_paringin, set: {tindakan: Lapak dipindahkan., hasil: Jalan terbuka.}}
    expect: {state: menunggu_pengesahan}
  - advance: {case: A, trigger: tinjau_ulang, as: ahmad}
    expect: {state: ditinjau_ulang}
  - clock: +3h
  - escalate:
    expect: {escalations: 1, notices: [pengingat.txt.j2]}
  - advance: {case: A, trigger: selesai_tinjau, as: kasat}
    expect: {state: selesai, notices: [pelapor_selesai.txt.j2]}
"""

