"""The public desk: complaints from public channels, tracking by number and code, notes, ratings, throttles.

Real databases (SQLite file and PostgreSQL), the shipped definition, the fake clock; no sleeping.
"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from engine.app.assembly import Application
from engine.app.attachments import Attachments
from engine.app.commands import Commands
from engine.app.public_desk import ChannelSender, PublicDesk, Throttled, normalise_code
from engine.app.verification import Anchors, verify
from engine.errors import Conflict, InvalidInput, NotAllowed, NotFound
from engine.store.schema import events, public_cases
from tests.conftest import STAFF, FakeClock

WEB_COMPLAINT = {
    "kategori": "pkl_tempat_usaha",
    "kecamatan": "paringin",
    "desa": "Paringin Kota",
    "lokasi": "Jl. Ahmad Yani depan Pasar Paringin",
    "koordinat": "-2.3245,115.6123",
    "uraian": "Pedagang kaki lima menutup badan jalan di depan pasar.",
    "nama_pelapor": "Siti Rahmah",
    "nomor_pelapor": "0812-7777-0202",
}


@pytest.fixture
def desk(application: Application, engine: Commands) -> PublicDesk:
    return application.public


def _photo(colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def _close(engine: Commands, number: str) -> None:
    engine.advance(number, "teruskan", "admin")
    engine.advance(number, "tugaskan", "kabid", {"instruksi": "Tertibkan PKL, Pak Ahmad"})
    engine.advance(number, "mulai_tangani", "tim_paringin")
    engine.advance(number, "laporkan_hasil", "tim_paringin", {"tindakan": "Pembinaan", "hasil": "Jalan bersih"})
    engine.advance(number, "sahkan", "kabid", {"catatan": "Catatan internal: cek lagi minggu depan"})


def test_a_web_complaint_lands_in_the_initial_state_recorded_as_the_complainant(
        desk: PublicDesk, engine: Commands, application: Application) -> None:
    receipt = desk.submit("web", WEB_COMPLAINT)
    assert len(receipt.tracking_code) == 10 and receipt.tracking_code.isalnum()
    case = receipt.case
    assert case.state == "diterima" and case.data["kanal"] == "web"
    assert case.data["koordinat"] == "-2.3245,115.6123" and case.data["nomor_pelapor"] == "+6281277770202"
    history = application.queries.history(receipt.number, "admin")
    assert [(e["trigger"], e["actor"], e["role"]) for e in history] == [("catat", "pelapor:web", "pelapor")]
    # The code itself is kept nowhere: only its hash.
    stored = application.database.read(lambda c: c.execute(select(public_cases)).mappings().all())
    assert len(stored) == 1 and receipt.tracking_code not in str(dict(stored[0]))
    # The intake notices run as for a staff intake (the receipt to the complainant's phone).
    assert [n["template"] for n in application.queries.notices(case=receipt.number)] == ["pelapor_tanda_terima.txt.j2"]
    # Admin La-Lisa completes and forwards it as any other.
    assert engine.advance(receipt.number, "teruskan", "admin").state == "ditelaah"


def test_a_channel_takes_only_its_own_fields_and_channels_must_be_declared(desk: PublicDesk) -> None:
    with pytest.raises(InvalidInput, match="'instruksi' cannot be given"):
        desk.submit("web", {**WEB_COMPLAINT, "instruksi": "tangkap"})
    with pytest.raises(InvalidInput, match="'kanal' cannot be given"):
        desk.submit("web", {**WEB_COMPLAINT, "kanal": "telepon"})
    with pytest.raises(InvalidInput, match="kecamatan"):
        desk.submit("web", {k: v for k, v in WEB_COMPLAINT.items() if k != "kecamatan"})
    with pytest.raises(InvalidInput, match="latitude,longitude"):
        desk.submit("web", {**WEB_COMPLAINT, "koordinat": "95,115"})
    with pytest.raises(NotFound, match="no public channel 'telegram'"):
        desk.submit("telegram", WEB_COMPLAINT)
    # A photo reference the sender did not upload (a staff file, or made up) is refused.
    with pytest.raises(InvalidInput, match="foto"):
        desk.submit("web", {**WEB_COMPLAINT, "foto_aduan": ["0" * 64 + ".jpg"]})


def test_tracking_shows_progress_and_nothing_of_staff_personal_data_or_comments(
        desk: PublicDesk, engine: Commands, clock: FakeClock) -> None:
    receipt = desk.submit("web", WEB_COMPLAINT)
    view = desk.track(receipt.number, receipt.tracking_code)
    assert (view.state, view.may_add_note, view.may_rate) == ("diterima", True, False)
    assert view.status_text.startswith("Aduan Anda sudah kami terima")
    assert view.due_at is not None and view.next_steps == ("Ditelaah Kepala Bidang", "Ditolak")
    assert view.service_label == "PKL dan tempat usaha" and view.area_label == "Paringin"
    clock.advance(minutes=30)
    _close(engine, receipt.number)
    view = desk.track(receipt.number.lower(), receipt.tracking_code.lower())
    assert view.final and view.may_rate and not view.may_add_note and view.due_at is None
    assert [m.state for m in view.milestones] == ["diterima", "ditelaah", "ditugaskan", "ditangani",
                                                  "menunggu_pengesahan", "selesai"]
    shown = repr(view)
    for secret in [name for _, name, *_ in STAFF] + ["Siti", "0812", "+62812", "Pak Ahmad", "internal", "admin",
                                                     "kabid", "tim_paringin", "Pembinaan", "Jl. Ahmad Yani"]:
        assert secret not in shown, secret


def test_a_wrong_code_and_an_unknown_number_get_the_same_answer(desk: PublicDesk) -> None:
    receipt = desk.submit("web", WEB_COMPLAINT)
    wrong = "0000000000" if receipt.tracking_code != "0000000000" else "1111111111"
    answers = []
    for number, code in ((receipt.number, wrong), ("TRK-2026-999999", receipt.tracking_code), ("", wrong),
                         (receipt.number, ""), (receipt.number, "x" * 5000)):
        with pytest.raises(NotFound) as info:
            desk.track(number, code)
        answers.append(str(info.value).replace(number.upper()[:32] or "?", "N"))
    assert len(set(answers)) == 1
    # Typed with a dash, spaces, in lower case, or with O for 0 and I/L for 1, the code still works.
    assert normalise_code(" 7kq2m-9xdol ") == "7KQ2M9XD01"
    code = receipt.tracking_code
    assert desk.track(receipt.number, f"{code[:5].lower()}-{code[5:]}").number == receipt.number


def test_guessing_codes_is_throttled_per_address_and_per_number(desk: PublicDesk, clock: FakeClock) -> None:
    receipt = desk.submit("web", WEB_COMPLAINT)
    limit = desk.limits.wrong_codes_per_address.count
    for attempt in range(limit):
        with pytest.raises(NotFound):
            desk.track(receipt.number, f"{attempt:010d}", client="203.0.113.9")
    # Past the limit even the right code is refused from that address: guessing tells nothing more.
    with pytest.raises(Throttled) as info:
        desk.track(receipt.number, receipt.tracking_code, client="203.0.113.9")
    assert info.value.http_status == 429 and info.value.until > clock()
    assert desk.track(receipt.number, receipt.tracking_code, client="198.51.100.7").number == receipt.number
    # Guesses spread over many addresses still meet the per-number limit.
    per_number = desk.limits.wrong_codes_per_number.count
    for attempt in range(per_number - limit):
        with pytest.raises(NotFound):
            desk.track(receipt.number, f"{attempt:010d}", client=f"10.0.{attempt // 250}.{attempt % 250}")
    with pytest.raises(Throttled):
        desk.track(receipt.number, receipt.tracking_code, client="192.0.2.1")
    clock.advance(hours=2)
    assert desk.track(receipt.number, receipt.tracking_code, client="203.0.113.9").state == "diterima"


def test_a_thousand_submissions_from_one_address_in_a_minute_are_throttled(
        desk: PublicDesk, clock: FakeClock, application: Application) -> None:
    accepted, throttled = [], 0
    for index in range(1000):
        try:
            accepted.append(desk.submit("web", WEB_COMPLAINT, client="203.0.113.50").number)
        except Throttled:
            throttled += 1
        if index % 17 == 0:
            clock.advance(seconds=1)
    assert len(accepted) == desk.limits.submissions.count and throttled == 1000 - len(accepted)
    # Another address is not held back; the first is again once the window has passed.
    assert desk.submit("web", WEB_COMPLAINT, client="198.51.100.1").number
    clock.advance(minutes=11)
    assert desk.submit("web", WEB_COMPLAINT, client="203.0.113.50").number
    assert len(application.queries.list_cases()) == len(accepted) + 2


def test_a_note_keeps_the_state_and_deadline_and_tells_the_staff_the_case_waits_on(
        desk: PublicDesk, engine: Commands, application: Application, clock: FakeClock, tmp_path: Path) -> None:
    store = Attachments(application.queries, tmp_path / "lampiran")
    first = store.store("pelapor:web", _photo("red"), "a.jpg")
    receipt = desk.submit("web", {**WEB_COMPLAINT, "foto_aduan": [first]})
    engine.advance(receipt.number, "teruskan", "admin")
    before = application.queries.show(receipt.number, "kabid")
    clock.advance(minutes=20)
    second = store.store("pelapor:web", _photo("blue"), "b.jpg")
    view = desk.add_note(receipt.number, receipt.tracking_code, "Pedagangnya datang lagi sore ini.",
                         attachments=[second])
    after = application.queries.show(receipt.number, "kabid")
    assert view.state == after["state"] == "ditelaah"
    assert after["deadline"]["due_at"] == before["deadline"]["due_at"]
    assert after["data"]["foto_aduan"] == [first, second]
    last = application.queries.history(receipt.number, "kabid")[-1]
    assert (last["trigger"], last["from"], last["to"], last["actor"], last["role"], last["comment"]) == (
        "catatan_pelapor", "ditelaah", "ditelaah", "pelapor:web", "pelapor", "Pedagangnya datang lagi sore ini.")
    told = [n for n in application.queries.notices(case=receipt.number)
            if n["template"] == "petugas_catatan_pelapor.txt.j2"]
    assert {n["recipient_username"] for n in told} == {"kabid"}
    assert [m.kind for m in view.milestones] == ["received", "state", "note"]
    # A staff member's upload cannot ride along on a complainant's note.
    staff_file = store.store("admin", _photo("green"), "c.jpg")
    with pytest.raises(InvalidInput):
        desk.add_note(receipt.number, receipt.tracking_code, "lihat foto", attachments=[staff_file])
    with pytest.raises(InvalidInput):
        desk.add_note(receipt.number, receipt.tracking_code, "   ")
    with pytest.raises(NotFound):
        desk.add_note(receipt.number, "WRONGCODE0", "ini aduan saya")


def test_a_closed_case_is_rated_once_and_the_ratings_are_summed_up(
        desk: PublicDesk, engine: Commands, application: Application, clock: FakeClock) -> None:
    receipt = desk.submit("web", WEB_COMPLAINT)
    with pytest.raises(NotAllowed, match="belum selesai"):
        desk.rate(receipt.number, receipt.tracking_code, 5, "cepat")
    _close(engine, receipt.number)
    with pytest.raises(NotAllowed, match="sudah selesai"):
        desk.add_note(receipt.number, receipt.tracking_code, "masih ada")
    for bad in (0, 6, True, "5"):
        with pytest.raises(InvalidInput):
            desk.rate(receipt.number, receipt.tracking_code, bad, None)  # type: ignore[arg-type]
    view = desk.rate(receipt.number, receipt.tracking_code, 4, "Ditangani dengan baik")
    assert view.rating == 4 and not view.may_rate
    with pytest.raises(Conflict, match="sekali"):
        desk.rate(receipt.number, receipt.tracking_code, 1, "ubah")
    other = desk.submit("web", WEB_COMPLAINT)
    _close(engine, other.number)
    desk.rate(other.number, other.tracking_code, 2)
    summary = desk.ratings_summary("treckk")
    assert (summary.count, summary.average, summary.by_score[4], summary.by_score[2]) == (2, 3.0, 1, 1)
    assert desk.ratings_summary("treckk", since=clock() + timedelta(minutes=1)).count == 0
    # The dashboard shows the same summary for the period the ratings fall in, and none before it.
    from engine.app.dashboard import Dashboard
    from engine.core.localtime import to_local

    today = to_local(clock(), "Asia/Makassar").date()
    shown = Dashboard(engine).view("kabid", first=today, last=today).ratings
    assert shown is not None and (shown.count, shown.average, shown.by_score[4]) == (2, 3.0, 1)
    earlier = Dashboard(engine).view("kabid", first=today - timedelta(days=40), last=today - timedelta(days=10))
    assert earlier.ratings is not None and earlier.ratings.count == 0
    last = application.queries.history(receipt.number, "kabid")[-1]
    assert (last["trigger"], last["from"], last["to"]) == ("penilaian_pelapor", "selesai", "selesai")


def test_notes_and_ratings_are_in_the_hash_chain_and_the_log_and_verify_accepts_them(
        desk: PublicDesk, engine: Commands, application: Application) -> None:
    receipt = desk.submit("web", WEB_COMPLAINT)
    desk.add_note(receipt.number, receipt.tracking_code, "tambahan")
    _close(engine, receipt.number)
    desk.rate(receipt.number, receipt.tracking_code, 5, "terima kasih")
    assert application.queries.verify(receipt.number) == []
    assert verify(engine.db.url, anchors=Anchors(None), jobs=1).findings == []
    # A rating rewritten behind the engine's back breaks the chain.
    application.database.transaction(lambda c: c.execute(
        events.update().where(events.c.trigger == "penilaian_pelapor").values(input={"nilai": 1})))
    found = verify(engine.db.url, anchors=Anchors(None), jobs=1).findings
    assert found and "does not match its hash" in str(found[0]["reason"])


def test_a_recognised_sender_follows_their_open_cases_without_a_code(desk: PublicDesk, engine: Commands) -> None:
    values: dict[str, Any] = {k: v for k, v in WEB_COMPLAINT.items() if k != "email_pelapor"}
    first = desk.submit("whatsapp", values, contact_address="6281277770202", idempotency_key="wamid.AAA")
    again = desk.submit("whatsapp", values, contact_address="6281277770202", idempotency_key="wamid.AAA")
    assert again.number == first.number
    # The retry's code is the one that works now (the first was never shown; codes are not kept).
    with pytest.raises(NotFound):
        desk.track(first.number, first.tracking_code)
    assert desk.track(first.number, again.tracking_code).channel == "whatsapp"
    second = desk.submit("whatsapp", values, contact_address="6281277770202")
    sender = ChannelSender("whatsapp", "6281277770202")
    assert [v.number for v in desk.open_cases_of("whatsapp", "6281277770202")] == [second.number, first.number]
    assert desk.track_by_contact(first.number, "whatsapp", "6281277770202").number == first.number
    with pytest.raises(NotFound):
        desk.track_by_contact(first.number, "whatsapp", "6280000000000")
    with pytest.raises(NotFound):
        desk.track_by_contact(first.number, "web", "6281277770202")
    desk.add_note(first.number, sender, "Ini fotonya menyusul")
    _close(engine, first.number)
    assert [v.number for v in desk.open_cases_of("whatsapp", "6281277770202")] == [second.number]
    assert desk.rate(first.number, sender, 3).rating == 3


def test_verify_flags_remarks_the_rules_do_not_allow_even_when_sealed_and_logged(
        desk: PublicDesk, engine: Commands) -> None:
    """A rating of an open case, or a "note" by a staff member, written through the engine's own
    sealing and logging (so chain and log hold): replay still names them."""
    receipt = desk.submit("web", WEB_COMPLAINT)

    def forge(trigger: str, actor: str, role: str, given: dict[str, Any]) -> None:
        def work(connection: Any) -> None:
            from engine.store import case_rows

            case = case_rows.existing_case(connection, receipt.number)
            compiled = engine.compiled(connection, case.workflow, case.definition_version)
            engine.record_remark(connection, compiled, case, trigger, "palsu", actor, role, actor, given, None,
                                 into_data=trigger == "catatan_pelapor")

        engine.db.transaction(work)

    forge("penilaian_pelapor", "pelapor:web", "pelapor", {"nilai": 5})
    forge("catatan_pelapor", "admin", "admin_lalisa", {})
    forge("catatan_pelapor", "pelapor:web", "pelapor", {"uraian": "diubah oleh pelapor"})
    reasons = [f["reason"] for f in verify(engine.db.url, anchors=Anchors(None), jobs=1).findings]
    assert any("a rating of the open case" in r for r in reasons), reasons
    assert any("recorded for 'admin'" in r for r in reasons), reasons
    assert any("changes field uraian" in r for r in reasons), reasons


def test_serve_forgets_the_throttles_old_record(desk: PublicDesk, engine: Commands, application: Application,
                                                clock: FakeClock) -> None:
    from sqlalchemy import func, select

    from engine.adapters.scheduler import Scheduler
    from engine.store.schema import public_attempts

    def attempts() -> int:
        with application.database.begin() as connection:
            return int(connection.execute(select(func.count()).select_from(public_attempts)).scalar_one())

    receipt = desk.submit("web", WEB_COMPLAINT, client="10.0.0.7")
    with pytest.raises(NotFound):
        desk.track(receipt.number, "WRONGCODE0", client="10.0.0.7")
    assert attempts() >= 2
    runner = Scheduler(engine, forget_attempts=desk.forget_attempts)
    runner.catch_up()
    assert attempts() >= 2  # still inside their windows
    clock.advance(days=2)
    runner.catch_up()
    assert attempts() == 0
    runner.start()
    try:
        assert "public_attempts" in {job.id for job in runner.jobs()}
    finally:
        runner.stop()
