"""The shared state machine: what a trigger does in a state, for any number of cases (pure)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from engine.core.records import CaseRecord
from engine.compile.workflow import bundle_from_files, compile_bundle
from engine.errors import NotAllowed
from tests.conftest import ROOT

COMPILED = compile_bundle(bundle_from_files(ROOT / "workflows" / "treckk.yaml", ROOT / "templates"))
DEFINITION = COMPILED.definition
MACHINE = COMPILED.machine
NOW = datetime(2026, 11, 30, tzinfo=timezone.utc)


def case(state: str, number: str = "TRK-2026-000001") -> CaseRecord:
    return CaseRecord(0, number, "treckk", 1, COMPILED.digest, state, {}, "paringin", 1, NOW, NOW, NOW, 1)


@pytest.mark.parametrize("transition", DEFINITION.transitions, ids=lambda t: t.trigger)
def test_each_transition_moves_from_its_sources_to_its_dest(transition: object) -> None:
    from engine.definition.model import TransitionSpec

    assert isinstance(transition, TransitionSpec)
    for source in transition.sources:
        subject = case(source)
        outcome = MACHINE.fire(subject, transition.trigger, {"laporan_benar": True})
        assert (outcome.from_state, outcome.to_state, subject.state) == (source, transition.dest, transition.dest)
        assert outcome.transition is transition


def test_every_other_pair_is_refused_and_leaves_the_state() -> None:
    refused = 0
    for state in DEFINITION.states:
        offered = {t.trigger for t in DEFINITION.transitions_from(state)}
        for trigger in DEFINITION.triggers() - offered:
            subject = case(state)
            with pytest.raises(NotAllowed) as error:
                MACHINE.fire(subject, trigger, {})
            assert subject.state == state
            assert repr(state) in str(error.value)
            refused += 1
    assert refused == len(DEFINITION.states) * len(DEFINITION.triggers()) - sum(
        len(t.sources) for t in DEFINITION.transitions)


def test_refusals_say_what_is_possible() -> None:
    with pytest.raises(NotAllowed, match="from 'diterima' the allowed triggers are tandai_duplikat, teruskan"):
        MACHINE.fire(case("diterima"), "sahkan", {})
    with pytest.raises(NotAllowed, match="final state 'selesai'"):
        MACHINE.fire(case("selesai"), "kembalikan", {})
    with pytest.raises(NotAllowed, match="unknown trigger 'terbang'.*known triggers are kembalikan"):
        MACHINE.fire(case("diterima"), "terbang", {})
    # No automatic to_<state> triggers: they would skip roles and guards.
    for name in ("to_selesai", "to_ditolak"):
        with pytest.raises(NotAllowed, match="unknown trigger"):
            MACHINE.fire(case("diterima"), name, {})


def test_the_guard_reads_the_data_given() -> None:
    subject = case("ditelaah")
    with pytest.raises(NotAllowed, match="laporan_benar is not false"):
        MACHINE.fire(subject, "tugaskan", {"laporan_benar": False})
    assert subject.state == "ditelaah"
    for data in ({"laporan_benar": True}, {}, {"laporan_benar": None}):
        assert MACHINE.fire(case("ditelaah"), "tugaskan", data).to_state == "ditugaskan"


def test_one_machine_serves_many_cases_without_holding_them() -> None:
    cases = [case("diterima", f"TRK-2026-{i:06d}") for i in range(1, 1001)]
    for i, subject in enumerate(cases):
        if i % 2:
            MACHINE.fire(subject, "teruskan", {})
    assert sum(c.state == "ditelaah" for c in cases) == 500
    assert sum(c.state == "diterima" for c in cases) == 500
    assert MACHINE._machine.models == []  # the cases were never added to it
    assert compile_bundle(COMPILED.bundle).machine is MACHINE  # built once per definition version
