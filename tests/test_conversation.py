"""The guided WhatsApp conversation's steps (engine/core/conversation.py): pure, no I/O."""

from __future__ import annotations

from typing import Any

from engine.core import conversation as talk
from engine.core.conversation import AddNote, Incoming, IntakeForm, Status, Submit

FORM = IntakeForm(scope_choices=(("paringin", "Paringin"), ("halong", "Halong"), ("juai", "Juai")),
                  service_choices=(("pkl", "PKL dan tempat usaha"), ("ternak", "Ternak lepas")))


def text(body: str, name: str = "Siti") -> Incoming:
    return Incoming("text", text=body, profile_name=name)


def run(messages: list[Incoming], form: IntakeForm = FORM) -> tuple[talk.Turn, list[str]]:
    turn = talk.begin(form, messages[0], ())
    said = list(turn.replies)
    for message in messages[1:]:
        assert turn.step is not None
        turn = talk.step(form, turn.step, turn.data, message)
        said.extend(turn.replies)
    return turn, said


def test_the_questions_come_in_order_and_end_in_a_submission() -> None:
    turn, said = run([text("halo"), text("2"), text("Sapi berkeliaran di jalan raya"),
                      text("Jl. Halong km 3"), text("halong"), text("selesai"), text("2")])
    assert turn.step is None and turn.replies == ()
    assert turn.action == Submit(description="Sapi berkeliaran di jalan raya", location="Jl. Halong km 3", pin=None,
                                 scope="halong", service="ternak", photos=(), anonymous=True, name=None)
    assert "1. PKL dan tempat usaha\n2. Ternak lepas" in said[2]
    assert any("1. Paringin\n2. Halong\n3. Juai" in line for line in said)


def test_wrong_answers_are_asked_again_without_moving_on() -> None:
    turn = talk.begin(FORM, text("halo"), ())
    for wrong in ("9", "kucing", ""):
        again = talk.step(FORM, turn.step or "", turn.data, text(wrong))
        assert again.step == talk.SERVICE and again.replies[0].startswith("Pilihan itu tidak ada")
    short = talk.step(FORM, talk.DESCRIPTION, {"photos": []}, text("ada"))
    assert short.step == talk.DESCRIPTION
    scope = talk.step(FORM, talk.SCOPE, {"photos": []}, text("4"))
    assert scope.step == talk.SCOPE and "Nomor itu tidak ada" in scope.replies[0]


def test_a_shared_location_gives_the_pin_and_its_name_as_the_place() -> None:
    turn = talk.step(FORM, talk.LOCATION, {"photos": []},
                     Incoming("location", latitude=-2.3, longitude=115.6, place="Pasar Paringin"))
    assert turn.step == talk.SCOPE
    assert (turn.data["pin"], turn.data["location"]) == ("-2.300000,115.600000", "Pasar Paringin")


def test_photos_are_kept_up_to_three_at_any_step() -> None:
    data: dict[str, Any] = {"photos": []}
    turn = talk.step(FORM, talk.LOCATION, data, Incoming("photo", photo="a.jpg"))
    assert turn.step == talk.LOCATION and turn.data["photos"] == ["a.jpg"]
    for name in ("b.jpg", "c.jpg"):
        turn = talk.step(FORM, talk.PHOTOS, turn.data, Incoming("photo", photo=name))
    assert turn.step == talk.ANONYMOUS and turn.data["photos"] == ["a.jpg", "b.jpg", "c.jpg"]
    extra = talk.step(FORM, talk.PHOTOS, turn.data, Incoming("photo", photo="d.jpg"))
    assert extra.data["photos"] == ["a.jpg", "b.jpg", "c.jpg"]


def test_status_works_at_any_step_and_changes_nothing() -> None:
    assert talk.begin(FORM, text("STATUS trk-2026-000012"), ()).action == Status("TRK-2026-000012")
    turn = talk.step(FORM, talk.SCOPE, {"photos": [], "description": "x" * 20}, text("status TRK-2026-000001"))
    assert turn.step == talk.SCOPE and turn.data["description"] == "x" * 20 and turn.action == Status("TRK-2026-000001")


def test_cancel_ends_the_conversation_without_an_action() -> None:
    turn = talk.step(FORM, talk.SCOPE, {"photos": []}, text("Batal"))
    assert turn.step is None and turn.action is None and "dibatalkan" in turn.replies[0]


def test_a_number_with_an_open_case_is_offered_a_note() -> None:
    turn = talk.begin(FORM, text("Pedagangnya datang lagi"), ("TRK-2026-000003",))
    assert turn.step == talk.NOTE_OR_NEW and "TRK-2026-000003" in turn.replies[0]
    note = talk.step(FORM, turn.step, turn.data, text("1"))
    assert note.action == AddNote("TRK-2026-000003", "Pedagangnya datang lagi", ())
    new = talk.step(FORM, turn.step, turn.data, text("2"))
    assert new.step == talk.SERVICE and new.action is None


def test_a_long_first_message_is_taken_as_what_happened_when_no_category_is_asked() -> None:
    form = IntakeForm(scope_choices=FORM.scope_choices)
    turn = talk.begin(form, text("Ada keributan di depan rumah setiap malam"), ())
    assert turn.step == talk.LOCATION and turn.data["description"] == "Ada keributan di depan rumah setiap malam"


def test_the_name_comes_from_the_profile_unless_anonymous() -> None:
    data = {"photos": [], "description": "d" * 20, "location": "x", "scope": "juai"}
    named = talk.step(FORM, talk.ANONYMOUS, data, text("ya", name="  Siti   Aminah "))
    assert isinstance(named.action, Submit) and named.action.name == "Siti Aminah" and not named.action.anonymous
