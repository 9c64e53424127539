"""Migrating thousands of running cases in batches, on both databases.

A migration runs in batches (``engine.app.migration_batches``), each its own transaction: a run
killed between two batches (a hook that raises after the 4th) leaves the migrated cases migrated
and the rest on version 1; running it again continues with the rest and no case is ever migrated
twice. A case staff move after the plan was made is migrated by the state it is in when its batch
takes it; one moved into a state the map leaves unmapped stays on version 1 and is reported with
the reason, and the command line migrates it once it is mapped. Two administrators migrating at
once, on two connections, move each case exactly once. The dry run is paged by keyset, with how
many cases go to each new state; the counts, the pages and the batches read indexes only.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bench.seed import bulk_cases
from engine.app.assembly import Application, build
from engine.app.commands import Commands
from engine.app.definition_desk import DefinitionDesk
from engine.app.migration_batches import LeftGroup, MigrationProgress, latest_run
from engine.app.queries import Queries
from engine.app.settings import Settings
from engine.errors import InvalidInput
from engine.store.schema import admin_events, cases, events
from tests.test_query_plans import full_scans, recorded, _reads_growing
from tests.test_service import run, workflow_copy

FIRST_ID = 1000
"""Seeded cases take ids from here (the sequence's own ids stay below, for cases opened normally)."""


class Killed(Exception):
    """What the hook raises to stop a run between two batches, as a crash would."""


def version_2(text: str) -> str:
    """Version 2: the state ``verifikasi`` is renamed ``verifikasi_lapangan``."""
    text = re.sub(r"^version: 1$", "version: 2", text, count=1, flags=re.MULTILINE)
    return re.sub(r"\bverifikasi\b", "verifikasi_lapangan", text)


def seeded(engine: Commands, tmp_path: Path, **states: int) -> dict[str, list[str]]:
    """``states`` (state=count) cases on version 1, then version 2 deployed."""
    found: dict[str, list[str]] = {}
    first = FIRST_ID
    for state, count in states.items():
        found[state] = bulk_cases(engine, count, state=state, first=first)
        first += count
    engine.deploy(workflow_copy(tmp_path / "v2", version_2), "inovator")
    return found


def migration_events(engine: Commands) -> dict[int, int]:
    """case id → how many ``migrasi`` events its history holds."""
    statement = select(events.c.case_id, func.count()).where(events.c.trigger == "migrasi").group_by(events.c.case_id)
    with engine.db.engine.connect() as connection:
        return {int(case_id): int(count) for case_id, count in connection.execute(statement)}


def on_version(engine: Commands, version: int) -> int:
    with engine.db.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(cases)
                                      .where(cases.c.definition_version == version)).scalar_one())


def test_a_run_killed_between_batches_continues_when_run_again_and_migrates_no_case_twice(
        engine: Commands, tmp_path: Path) -> None:
    seeded(engine, tmp_path, ditelaah=1000, diterima=1000)
    seen: list[int] = []

    def crash_after_the_fourth(progress: MigrationProgress) -> None:
        seen.append(progress.migrated)
        if progress.batches == 4:
            raise Killed

    with pytest.raises(Killed):
        engine.migrate_running("treckk", 2, {}, "inovator", batch_size=150, after_batch=crash_after_the_fourth,
                               pause_s=0)
    assert seen == [150, 300, 450, 600]
    stopped = latest_run(engine, "treckk")
    assert stopped is not None and (stopped.migrated, stopped.done, stopped.interrupted) == (600, True, True)
    assert (on_version(engine, 2), on_version(engine, 1)) == (600, 1400)
    assert set(migration_events(engine).values()) == {1} and len(migration_events(engine)) == 600
    with engine.db.engine.connect() as connection:
        recorded_batches = connection.execute(select(admin_events.c.detail)
                                              .where(admin_events.c.action == "migration")).scalars().all()
    assert [json.loads(detail)["cases"] for detail in recorded_batches] == [150] * 4

    again = engine.migrate_running("treckk", 2, {}, "inovator", batch_size=150, pause_s=0)
    assert (again.migrated, again.batches, again.left, again.unmapped, again.done) == (1400, 10, 0, (), True)
    assert (on_version(engine, 2), on_version(engine, 1)) == (2000, 0)
    counted = migration_events(engine)
    assert len(counted) == 2000 and set(counted.values()) == {1}
    # A third run finds nothing left and writes nothing.
    assert engine.migrate_running("treckk", 2, {}, "inovator", batch_size=150, pause_s=0).migrated == 0
    assert len(migration_events(engine)) == 2000


def test_a_case_staff_move_meanwhile_migrates_by_its_state_then_or_is_left_with_the_reason(
        engine: Commands, cli: Any, tmp_path: Path) -> None:
    made = seeded(engine, tmp_path, ditelaah=300, diterima=300)
    views = Queries(engine)
    forwarded, to_check = made["diterima"][-1], made["ditelaah"][-1]

    def staff_move_after_the_first(progress: MigrationProgress) -> None:
        if progress.batches == 1 and not progress.done:
            # The first batch took the first 100 of ``ditelaah``; these two are still on version 1.
            engine.advance(forwarded, "teruskan", "admin")  # diterima → ditelaah, which version 2 has
            engine.advance(to_check, "minta_verifikasi", "kabid")  # → verifikasi, which it renamed

    done = engine.migrate_running("treckk", 2, {}, "inovator", batch_size=100,
                                  after_batch=staff_move_after_the_first, pause_s=0)
    assert (done.migrated, done.left) == (599, 1)
    assert done.unmapped == (LeftGroup(1, "verifikasi", 1,
                                       "keadaan 'verifikasi' tidak dipetakan ke keadaan versi 2"),)
    moved = views.history(forwarded)
    assert [(e["trigger"], e["from"], e["to"]) for e in moved[-2:]] == [("teruskan", "diterima", "ditelaah"),
                                                                         ("migrasi", "ditelaah", "ditelaah")]
    assert (views.show(to_check)["definition_version"], views.show(to_check)["state"]) == (1, "verifikasi")
    assert "migrasi" not in [e["trigger"] for e in views.history(to_check)]

    # Unmapped, the command line refuses to start; mapped, it migrates what was left, and only that.
    message = run(cli, "migrate", "--all", "--to-version", "2", "--as", "inovator", code=2)
    assert f"case {to_check} is in state 'verifikasi'" in message and "--map verifikasi=STATE" in message
    rest = run(cli, "migrate", "--all", "--to-version", "2", "--map", "verifikasi=verifikasi_lapangan",
               "--batch-size", "7", "--as", "inovator", "--json")
    assert rest == [{"number": to_check, "state": "verifikasi_lapangan", "definition_version": 2}]
    assert set(migration_events(engine).values()) == {1} and len(migration_events(engine)) == 600


def _second_application(engine: Commands, tmp_path: Path) -> Application:
    """Another process's application on the same database: its own connections."""
    url = engine.db.engine.url.render_as_string(hide_password=False)
    return build(Settings.from_environment({"TRECKK_HOME": str(engine.home), "TRECKK_DATABASE_URL": url,
                                            "TRECKK_OUTBOX_DIR": str(tmp_path / "outbox2")}), clock=engine.clock)


def test_two_administrators_migrating_at_once_move_each_case_once(engine: Commands, tmp_path: Path) -> None:
    engine.add_staff("inovator2", "Inovator Kedua", ["inovator"], None, None, None)
    seeded(engine, tmp_path, ditelaah=600, diterima=600)
    other = _second_application(engine, tmp_path)
    start = threading.Barrier(2)
    results: dict[str, MigrationProgress] = {}
    failures: list[BaseException] = []

    def administrator(commands: Commands, username: str) -> None:
        try:
            start.wait()
            results[username] = commands.migrate_running("treckk", 2, {}, username, batch_size=50, pause_s=0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    try:
        threads = [threading.Thread(target=administrator, args=(engine, "inovator")),
                   threading.Thread(target=administrator, args=(other.commands, "inovator2"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other.close()
    assert not failures, failures
    assert results["inovator"].migrated + results["inovator2"].migrated == 1200
    assert results["inovator"].left == results["inovator2"].left == 0
    counted = migration_events(engine)
    assert len(counted) == 1200 and set(counted.values()) == {1}
    assert on_version(engine, 1) == 0


def test_the_dry_run_is_paged_and_sums_what_each_state_becomes(application: Application, engine: Commands,
                                                               tmp_path: Path) -> None:
    made = seeded(engine, tmp_path, ditelaah=5, diterima=4, verifikasi=3)
    desk = application.definitions
    plan = desk.plan("inovator", "treckk", page_size=5)
    assert [(g.version, g.state, g.count) for g in plan.groups] == [(1, "ditelaah", 5), (1, "diterima", 4),
                                                                     (1, "verifikasi", 3)]
    assert plan.unmapped == ("verifikasi",) and plan.becomes == (("diterima", 4), ("ditelaah", 5), ("", 3))
    shown: list[tuple[str, str, str | None]] = []
    after = None
    while True:
        page = desk.plan("inovator", "treckk", {"verifikasi": "verifikasi_lapangan"}, after=after, page_size=5)
        assert len(page.outcomes) <= 5
        shown += [(o.number, o.state, o.to_state) for o in page.outcomes]
        if page.next is None:
            break
        after = page.next
    assert shown == ([(n, "ditelaah", "ditelaah") for n in made["ditelaah"]] +
                     [(n, "diterima", "diterima") for n in made["diterima"]] +
                     [(n, "verifikasi", "verifikasi_lapangan") for n in made["verifikasi"]])
    assert page.becomes == (("diterima", 4), ("ditelaah", 5), ("verifikasi_lapangan", 3))
    with pytest.raises(InvalidInput, match="bad page cursor"):
        desk.plan("inovator", "treckk", after="bm90LWEtY3Vyc29y")
    # Unmapped blocks the migration with a clear message, and nothing moves.
    with pytest.raises(InvalidInput, match="state verifikasi is not mapped to a state of version 2"):
        desk.migrate("inovator", "treckk", {})
    assert on_version(engine, 2) == 0
    done = desk.migrate("inovator", "treckk", {"verifikasi": "verifikasi_lapangan"}, expected=12, batch_size=5, pause_s=0)
    assert (done.migrated, done.batches, done.left) == (12, 3, 0)
    assert desk.progress("treckk") is not None and desk.progress("treckk").done  # type: ignore[union-attr]


def test_the_counts_pages_and_batches_of_a_migration_read_indexes(application: Application, engine: Commands,
                                                                  tmp_path: Path) -> None:
    seeded(engine, tmp_path, ditelaah=30, diterima=30)
    desk: DefinitionDesk = application.definitions
    first = desk.plan("inovator", "treckk", page_size=7)
    runs: dict[str, Callable[[], object]] = {
        "plan": lambda: desk.plan("inovator", "treckk"),
        "behind": lambda: desk.behind("inovator"),
        "dry run, next page": lambda: desk.plan("inovator", "treckk", after=first.next, page_size=7),
        "migration in batches": lambda: engine.migrate_running("treckk", 2, {}, "inovator", batch_size=25,
                                                              pause_s=0),
    }
    problems = []
    for what, work in runs.items():
        with recorded(engine) as statements:
            work()
        growing = [(s, p) for s, p in statements if _reads_growing(s)]
        assert growing, what
        for statement, parameters in growing:
            for line in full_scans(engine, statement, parameters):
                problems.append(f"{what}: {line}\n    {' '.join(statement.split())[:300]}")
    assert not problems, "\n".join(problems)
