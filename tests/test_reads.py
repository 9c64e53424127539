"""Reads for people: the inbox and case lists page by keyset on indexes, and reads never block writes.

The inbox of each staff member is checked against the rule it stands for, computed the slow way
(every case shown to the viewer, kept when open and offering them a trigger); pages are walked by
their cursors to the end. On SQLite a move made while another connection holds a read
transaction open goes through at once (threads and events, no sleeping); on PostgreSQL a read
transaction refuses to write.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from engine.app.commands import Commands
from engine.app.queries import Queries
from engine.errors import InvalidInput
from engine.store.schema import cases
from tests.conftest import COMPLAINT, FakeClock

PATHS: list[list[tuple[str, str, dict[str, str]]]] = [
    [],
    [("teruskan", "admin", {})],
    [("teruskan", "admin", {}), ("minta_verifikasi", "kabid", {})],
    [("teruskan", "admin", {}), ("tugaskan", "kabid", {"instruksi": "Tertibkan"})],
    [("teruskan", "admin", {}), ("tolak", "kabid", {"alasan": "Bukan pelanggaran"})],
]
TIM = {"paringin": "tim_paringin", "juai": "tim_juai"}


def _seed(engine: Commands, clock: FakeClock, count: int = 15) -> list[str]:
    """``count`` cases over two kecamatan and two categories, in every kind of state, opened hours apart."""
    numbers = []
    for i in range(count):
        kecamatan = ("paringin", "juai")[i % 2]
        values = {**COMPLAINT, "kecamatan": kecamatan, "kategori": ("pkl_tempat_usaha", "keributan")[i % 3 == 0],
                  "uraian": f"Aduan nomor {i} tentang {'parkir liar' if i % 4 == 0 else 'pedagang'}"}
        number = engine.submit("admin", values).number
        for trigger, actor, given in PATHS[i % len(PATHS)]:
            engine.advance(number, trigger, actor, given)
        numbers.append(number)
        clock.advance(hours=5)
    return numbers


def _expected_inbox(views: Queries, numbers: list[str], viewer: str) -> list[str]:
    """The inbox the slow way: each case as the viewer sees it, kept when open and actionable."""
    kept = []
    for number in numbers:
        try:
            view = views.show(number, viewer)
        except Exception:  # noqa: BLE001 - a case of another kecamatan is not theirs to see
            continue
        if not view["final"] and view["allowed_triggers"]:
            kept.append((view["deadline"] is None, view["deadline"]["due_at"] if view["deadline"] else "", number))
    return [number for _, _, number in sorted(kept)]


def _walk(fetch: Any, limit: int) -> tuple[list[str], int]:
    """Every case over the pages of ``fetch(after, limit)``, and how many pages it took."""
    found: list[str] = []
    after, pages = None, 0
    while True:
        page = fetch(after, limit)
        pages += 1
        found += [row["number"] for row in page["cases"]]
        assert len(page["cases"]) <= limit
        after = page["next"]
        if after is None:
            return found, pages


@pytest.mark.parametrize("viewer", ["admin", "kabid", "tim_paringin", "tim_juai", "kasat"])
def test_the_inbox_is_the_open_cases_the_viewer_may_act_on_by_deadline(engine: Commands, clock: FakeClock,
                                                                       viewer: str) -> None:
    numbers = _seed(engine, clock)
    clock.advance(hours=30)  # some deadlines have passed, others not
    views = Queries(engine)
    expected = _expected_inbox(views, numbers, viewer)
    assert [row["number"] for row in views.inbox(viewer)] == expected
    walked, pages = _walk(lambda after, limit: views.inbox_page(viewer, after=after, limit=limit), 2)
    assert walked == expected
    assert pages == max(1, -(-len(expected) // 2))
    counts = views.inbox_page(viewer)["counts"]
    assert counts["semua"] == len(expected) == sum(counts["by_state"].values())
    late = [row for row in views.inbox(viewer) if row["deadline"] and row["deadline"]["overdue"]]
    assert counts["terlambat"] == len(late)
    if viewer == "kasat":  # penanggung_jawab holds no trigger
        assert expected == [] and counts == {"semua": 0, "terlambat": 0, "by_state": {}}
    if viewer == "tim_paringin":
        assert all(views.show(n, viewer)["kecamatan"] == "paringin" for n in expected)


def test_inbox_filters_narrow_the_page_and_the_tab_counts(engine: Commands, clock: FakeClock) -> None:
    numbers = _seed(engine, clock, 20)
    clock.advance(hours=30)
    views = Queries(engine)
    everything = views.inbox_page("admin", limit=100)["cases"]
    by_number = {row["number"]: row for row in everything}
    assert set(by_number) <= set(numbers) and everything

    overdue = views.inbox_page("admin", overdue=True, limit=100)
    assert [r["number"] for r in overdue["cases"]] == [r["number"] for r in everything if r["deadline"]["overdue"]]
    on_time = views.inbox_page("admin", overdue=False, limit=100)["cases"]
    assert [r["number"] for r in on_time] == [r["number"] for r in everything if not r["deadline"]["overdue"]]

    juai = views.inbox_page("admin", scope="juai", limit=100)
    assert [r["number"] for r in juai["cases"]] == [r["number"] for r in everything if r["kecamatan"] == "juai"]
    assert juai["counts"]["semua"] == len(juai["cases"])

    ribut = views.inbox_page("admin", category="keributan", limit=100)
    assert [r["number"] for r in ribut["cases"]] == [r["number"] for r in everything
                                                     if r["kategori"] == "keributan"]
    assert ribut["counts"]["semua"] == len(ribut["cases"])

    parkir = views.inbox_page("admin", search="PARKIR liar", limit=100)["cases"]
    assert [r["number"] for r in parkir] == [r["number"] for r in everything if "parkir liar" in r["data"]["uraian"]]
    assert parkir
    first = everything[0]["number"]
    assert [r["number"] for r in views.inbox_page("admin", search=first.lower(), limit=100)["cases"]] == [first]

    kabid = views.inbox_page("kabid", state="ditelaah", limit=100)
    assert {r["state"] for r in kabid["cases"]} == {"ditelaah"}
    assert kabid["counts"]["by_state"]["ditelaah"] == len(kabid["cases"])
    # Every state the viewer acts in has its tab, an empty one too (no case waits for sahkan here).
    assert kabid["counts"]["by_state"] == {"ditelaah": len(kabid["cases"]), "menunggu_pengesahan": 0}


def test_a_bad_cursor_or_limit_is_refused_in_one_line(engine: Commands) -> None:
    views = Queries(engine)
    with pytest.raises(InvalidInput, match="bad page cursor"):
        views.inbox_page("kabid", after="not-a-cursor!")
    with pytest.raises(InvalidInput, match="limit must be between 1 and"):
        views.list_cases(limit=0)


@pytest.mark.parametrize("viewer", [None, "kabid", "tim_juai"])
def test_cases_pages_cover_every_visible_case_once_in_deadline_order(engine: Commands, clock: FakeClock,
                                                                     viewer: str | None) -> None:
    numbers = _seed(engine, clock)
    views = Queries(engine)
    everything = views.list_cases(viewer_name=viewer)
    walked, _ = _walk(lambda after, limit: views.cases_page(viewer_name=viewer, after=after, limit=limit), 4)
    assert walked == [row["number"] for row in everything]
    if viewer == "tim_juai":
        assert {row["kecamatan"] for row in everything} == {"juai"}
    else:
        assert sorted(walked) == sorted(numbers)
    keys = [(row["deadline"] is None, row["deadline"]["due_at"] if row["deadline"] else "") for row in everything]
    assert keys == sorted(keys)
    state = views.list_cases(state="ditelaah", viewer_name=viewer)
    assert [r["number"] for r in state] == [r["number"] for r in everything if r["state"] == "ditelaah"]


def test_cli_inbox_pages_with_limit_and_after(engine: Commands, clock: FakeClock, cli: Any) -> None:
    import json

    _seed(engine, clock)
    first = cli("inbox", "--as", "admin", "--limit", "2", "--json")
    assert first.code == 0
    rows = json.loads(first.out)
    assert len(rows) == 2
    cursor = first.err.split("--after ", 1)[1].split()[0]
    second = cli("inbox", "--as", "admin", "--limit", "2", "--after", cursor, "--json")
    assert second.code == 0
    assert not {r["number"] for r in rows} & {r["number"] for r in json.loads(second.out)}
    assert cli("cases", "--after", "%%%").code == 2


def test_a_move_goes_through_while_another_connection_holds_a_read_open(engine: Commands) -> None:
    number = engine.submit("admin", COMPLAINT).number
    reading, moved = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def reader(connection: Any) -> None:
        row = select(cases.c.state).where(cases.c.number == number)
        seen["before"] = connection.execute(row).scalar_one()
        reading.set()  # the snapshot is taken and the transaction stays open
        seen["released"] = moved.wait(timeout=120)
        seen["after"] = connection.execute(row).scalar_one()

    thread = threading.Thread(target=lambda: engine.db.read(reader))
    thread.start()
    assert reading.wait(timeout=120)
    try:
        engine.advance(number, "teruskan", "admin")  # blocked here if the reader held the write lock
    finally:
        moved.set()
        thread.join(timeout=120)
    assert seen == {"before": "diterima", "released": True, "after": "diterima"}  # one snapshot throughout
    assert Queries(engine).show(number)["state"] == "ditelaah"


def test_a_read_transaction_refuses_to_write_on_postgresql(engine: Commands, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no read-only transaction; a deferred one simply takes no lock")
    with pytest.raises(DBAPIError, match="read-only transaction"):
        engine.db.read(lambda connection: connection.execute(text("UPDATE cases SET version = version")))

