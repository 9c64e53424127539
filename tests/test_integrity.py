"""Tamper evidence: a history changed behind the engine's back is found by ``treckk verify``.

The database tests change rows with plain SQL, the way someone with database access would,
and expect exit 8 with the case and the event named. The unit tests check the chain itself.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import text

from engine.core.records import EventRecord
from engine.core.integrity import event_hash, first_broken, sealed
from engine.app.commands import Commands
from tests.conftest import COMPLAINT


def three_cases(engine: Commands) -> list[str]:
    numbers = []
    for _ in range(3):
        number = engine.submit("admin", COMPLAINT).number
        engine.advance(number, "teruskan", "admin")
        engine.advance(number, "tolak", "kabid", {"alasan": "bukan kewenangan"})
        numbers.append(number)
    return numbers


def tamper(engine: Commands, sql: str, **params: Any) -> None:
    with engine.db.begin() as connection:
        assert connection.execute(text(sql), params).rowcount == 1


def case_id(engine: Commands, number: str) -> int:
    with engine.db.begin() as connection:
        return int(connection.execute(text("SELECT id FROM cases WHERE number = :n"), {"n": number}).scalar_one())


def verify(cli: Any, *args: str) -> tuple[int, str, Any]:
    human = cli("verify", *args)
    as_json = cli("verify", *args, "--json")
    assert human.code == as_json.code
    return human.code, human.out, json.loads(as_json.out)


def test_a_changed_event_is_named(engine: Commands, cli: Any) -> None:
    first, second, third = three_cases(engine)
    code, out, result = verify(cli)
    assert code == 0 and out.startswith("OK: 3 case(s)")
    assert (result["checked"], result["events"], result["broken"]) == (3, 9, [])

    tamper(engine, "UPDATE events SET comment = 'x' WHERE seq = 2 AND case_id = :c", c=case_id(engine, second))
    code, out, result = verify(cli)
    assert code == 8
    assert result["broken"] == [{"what": "case", "number": second, "seq": 2,
                                 "reason": "its content does not match its hash"}]
    assert out.strip() == f"{second}: event 2 does not match: its content does not match its hash"
    assert verify(cli, first)[0] == 0 and verify(cli, second)[0] == 8

    # Any column of the event counts, even one nobody reads often.
    tamper(engine, "UPDATE events SET actor = 'kasat' WHERE seq = 3 AND case_id = :c", c=case_id(engine, third))
    assert [(b["number"], b["seq"]) for b in verify(cli)[2]["broken"]] == [(second, 2), (third, 3)]


def test_a_deleted_last_event_and_a_changed_case_are_named(engine: Commands, cli: Any) -> None:
    first, second, third = three_cases(engine)
    tamper(engine, "DELETE FROM events WHERE seq = 3 AND case_id = :c", c=case_id(engine, second))
    code, out, result = verify(cli)
    assert code == 8
    [broken] = result["broken"]
    assert (broken["number"], broken["seq"]) == (second, 3)
    assert "missing" in broken["reason"]
    assert out.startswith(f"{second}: event 3 does not match")

    # The case row is checked against its history too.
    tamper(engine, "UPDATE cases SET state = 'selesai' WHERE number = :n", n=first)
    tamper(engine, "UPDATE events SET input = :i WHERE seq = 3 AND case_id = :c", i='{"alasan": "diubah"}',
           c=case_id(engine, third))
    code, _out, result = verify(cli)
    assert code == 8
    assert [(b["number"], b["seq"]) for b in result["broken"]] == [(first, 3), (second, 3), (third, 3)]
    assert "'selesai'" in result["broken"][0]["reason"]
    assert cli("verify", "TRK-2026-999999").code == 6




# -- the chain itself (no database) ------------------------------------------------------------

AT = datetime(2026, 11, 30, 8, 0, tzinfo=timezone(timedelta(hours=8)))


def chain(n: int) -> list[EventRecord]:
    events: list[EventRecord] = []
    for seq in range(1, n + 1):
        previous = events[-1].hash if events else ""
        events.append(sealed("TRK-2026-000001", EventRecord(1, seq, f"t{seq}", None if seq == 1 else f"s{seq - 1}",
                                                             f"s{seq}", "admin", "admin_lalisa", AT,
                                                             {"uraian": "ꦲ 🚧 ';--"}, None, None, previous)))
    return events


def test_the_hash_is_over_content_time_in_utc_and_the_case_number() -> None:
    event = chain(1)[0]
    assert event.hash == event_hash("TRK-2026-000001", event)
    assert event_hash("TRK-2026-000001", replace(event, at=AT.astimezone(timezone.utc))) == event.hash
    assert event_hash("TRK-2026-000002", event) != event.hash
    for change in ({"comment": "x"}, {"input": {"uraian": "lain"}}, {"role": "kabid_trantibum"},
                   {"at": AT + timedelta(microseconds=1)}, {"idempotency_key": "k"}):
        assert event_hash("TRK-2026-000001", replace(event, **change)) != event.hash, change


def test_first_broken_finds_reordering_removal_and_relinking() -> None:
    events = chain(4)
    assert first_broken("TRK-2026-000001", events, events[-1].hash, state="s4", version=4) is None
    skipped = first_broken("TRK-2026-000001", [events[0], events[2], events[3]], events[-1].hash)
    assert skipped is not None and skipped[0] == 3
    assert first_broken("TRK-2026-000001", events[:3], events[-1].hash, version=4) == (
        4, "event 4 is missing: the case is at version 4 but its history ends at event 3")
    assert first_broken("TRK-2026-000001", events[:2], events[-1].hash, version=4)[1].startswith(  # type: ignore[index]
        "events 3 to 4 are missing")
    relinked = replace(events[1], prev_hash="0" * 64)
    assert first_broken("TRK-2026-000001", [events[0], sealed("TRK-2026-000001", relinked), *events[2:]],
                        events[-1].hash) == (2, "its link to the previous event does not match")
    assert first_broken("TRK-2026-000001", events, events[-1].hash, state="s3")[0] == 4  # type: ignore[index]
    assert first_broken("TRK-2026-000001", [], "") is None
