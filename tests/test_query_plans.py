"""Every query behind what people wait on is answered from an index, on both databases.

Each view (inbox, ``cases``, the case page with its history and notices), the idempotent commands
and the two reports run for real while every statement they send is recorded; each recorded
statement is then explained with its own parameters: SQLite's ``EXPLAIN QUERY PLAN`` must never
``SCAN`` a table that grows with the cases, PostgreSQL's ``EXPLAIN`` (with ``enable_seqscan`` off,
so a small test table does not make a sequential scan the cheap choice) must never show a ``Seq
Scan`` on one. A later change that loses an index fails here, naming the statement.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event

from argon2 import PasswordHasher

from engine.app.commands import Commands
from engine.app.credentials import Credentials
from engine.app.georeport import GeoReport, RequestQuery
from engine.app.staff_desk import StaffDesk
from engine.app.queries import Queries
from tests.conftest import COMPLAINT, FakeClock
from tests.test_escalation import wita

GROWING = ("cases", "events", "stays", "escalations", "notices", "login_events", "admin_events")
"""Tables that grow with the cases; the others (definitions, staff, counters) stay small."""


@contextlib.contextmanager
def recorded(engine: Commands) -> Iterator[list[tuple[str, Any]]]:
    """The statements (and their parameters) sent to the database inside the block."""
    found: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if not many:
            found.append((statement, parameters))

    event.listen(engine.db.engine, "before_cursor_execute", keep)
    try:
        yield found
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", keep)


def _reads_growing(statement: str) -> bool:
    head = statement.lstrip().split(None, 1)[0].upper()
    return head in ("SELECT", "WITH", "UPDATE", "DELETE") and any(
        re.search(rf"\b{table}\b", statement) for table in GROWING)


def _walks_in_order(statement: str, plan: list[str]) -> bool:
    """A newest-first page: one table read in the order of its key or of an index and cut at LIMIT
    (no sort), so it stops after the rows it returns — the outbox and audit pages read this way."""
    scans = [line for line in plan if line.startswith("SCAN ")]
    return (len(scans) == 1 and not any("TEMP B-TREE" in line for line in plan)
            and re.search(r"ORDER BY .* DESC.* LIMIT", " ".join(statement.split())) is not None
            and re.fullmatch(r"SCAN \w+( USING (COVERING )?INDEX \w+)?", scans[0]) is not None)


def full_scans(engine: Commands, statement: str, parameters: Any) -> list[str]:
    """The plan lines of ``statement`` that read a growing table without an index."""
    with engine.db.engine.connect() as connection:
        if engine.db.is_sqlite:
            plan = [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
            if _walks_in_order(statement, plan):
                return []
            return [line for line in plan if re.match(rf"SCAN ({'|'.join(GROWING)})\b", line)]
        connection.exec_driver_sql("SET enable_seqscan = off")
        plan = [row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)]
        return [line.strip() for line in plan if re.search(rf"Seq Scan on ({'|'.join(GROWING)})\b", line)]


def _views(engine: Commands, clock: FakeClock) -> dict[str, Callable[[], object]]:
    """What each person-facing read and each keyed command does, ready to run."""
    views = Queries(engine)
    numbers = []
    for i, kecamatan in enumerate(("paringin", "juai", "paringin")):
        number = engine.submit("admin", {**COMPLAINT, "kecamatan": kecamatan}, idempotency_key=f"wa-{i}").number
        numbers.append(number)
        clock.advance(hours=3)
    engine.advance(numbers[0], "teruskan", "admin")
    engine.advance(numbers[1], "teruskan", "admin")
    engine.advance(numbers[1], "tolak", "kabid", {"alasan": "Bukan pelanggaran"})
    clock.advance(hours=30)
    engine.escalate()
    first = views.inbox_page("kabid", limit=1)["next"]
    engine.retry_notices(["1"], acting_for="inovator")
    outbox_next = views.outbox_page("kabid", limit=1)["next"]
    desk = _desk(engine)
    audit_next = desk.audit("inovator", limit=1)["next"]
    open311 = GeoReport(engine, Credentials(engine))
    return {
        "outbox page": lambda: views.outbox_page("kabid"),
        "outbox page, next page": lambda: views.outbox_page("kabid", after=outbox_next, limit=1),
        "outbox page, scoped staff": lambda: views.outbox_page("tim_paringin"),
        "outbox page, failed": lambda: views.outbox_page("kabid", status="failed"),
        "outbox page, by channel": lambda: views.outbox_page("kabid", channel="file"),
        "outbox page, by recipient": lambda: views.outbox_page("kabid", recipient="kabid"),
        "outbox page, to the complainant": lambda: views.outbox_page("kabid", recipient="pelapor"),
        "retry a notice": lambda: engine.retry_notices(["2"], acting_for="inovator"),
        "audit page": lambda: desk.audit("inovator"),
        "audit page, next page": lambda: desk.audit("inovator", after=audit_next, limit=1),
        "audit page, failed logins": lambda: desk.audit("inovator", kind="gagal"),
        "audit page, staff changes": lambda: desk.audit("inovator", kind="staf"),
        "inbox": lambda: views.inbox_page("kabid"),
        "inbox, next page": lambda: views.inbox_page("kabid", after=first, limit=1),
        "inbox, scoped staff": lambda: views.inbox_page("tim_paringin"),
        "inbox, filtered": lambda: views.inbox_page("admin", state="diterima", scope="paringin", overdue=True,
                                                   category="pkl_tempat_usaha", search="TRK"),
        "inbox, on time": lambda: views.inbox_page("admin", overdue=False),
        "cases": lambda: views.list_cases(),
        "cases, next page": lambda: views.cases_page(limit=1, after=views.cases_page(limit=1)["next"]),
        "cases --state --scope --overdue": lambda: views.list_cases(state="ditelaah", scope="paringin",
                                                                    overdue=True),
        "cases --scope": lambda: views.list_cases(scope="juai"),
        "cases, scoped staff": lambda: views.list_cases(viewer_name="tim_juai"),
        "case page": lambda: views.show(numbers[0], "kabid"),
        "history": lambda: views.history(numbers[0], "kabid"),
        "notices of a case": lambda: views.notices(case=numbers[0], viewer_name="kabid"),
        "submit, retried": lambda: engine.submit("admin", {**COMPLAINT, "kecamatan": "paringin"},
                                                 idempotency_key="wa-0"),
        "advance with a key": lambda: engine.advance(numbers[2], "teruskan", "admin", idempotency_key="k-1"),
        "advance, retried": lambda: engine.advance(numbers[2], "teruskan", "admin", idempotency_key="k-1"),
        "open311 requests": lambda: open311.requests("treckk", RequestQuery()),
        "open311 requests, filtered": lambda: open311.requests("treckk", RequestQuery(
            service_codes=("pkl_tempat_usaha",), statuses=("open",), limit=1)),
        "open311 requests, next page": lambda: open311.requests("treckk", RequestQuery(
            limit=1, after=open311.requests("treckk", RequestQuery(limit=1)).next)),
        "open311 requests by id": lambda: open311.requests("treckk", RequestQuery(ids=tuple(numbers))),
        "open311 request": lambda: open311.request("treckk", numbers[1]),
        "digest": lambda: engine.run_schedule("treckk", "ringkasan_pagi", wita(2026, 12, 2, 7, 0)),
        "recap": lambda: engine.run_schedule("treckk", "rekap_bulanan", wita(2026, 12, 1, 7, 0)),
    }


def _desk(engine: Commands) -> StaffDesk:
    from engine.app.credentials import Credentials

    credentials = Credentials(engine)
    credentials.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    for _ in range(2):
        with contextlib.suppress(Exception):
            credentials.login("kabid", "wrong-password-0", "127.0.0.1")
    return StaffDesk(engine, credentials)


def test_every_query_behind_a_view_a_key_or_a_report_uses_an_index(engine: Commands, clock: FakeClock) -> None:
    problems = []
    checked: dict[str, int] = {}
    for what, run in _views(engine, clock).items():
        with recorded(engine) as statements:
            run()
        growing = [(s, p) for s, p in statements if _reads_growing(s)]
        checked[what] = len(growing)
        for statement, parameters in growing:
            for line in full_scans(engine, statement, parameters):
                problems.append(f"{what}: {line}\n    {' '.join(statement.split())[:400]}")
    assert not problems, "\n".join(problems)
    assert all(checked.values()), f"nothing read for {[w for w, n in checked.items() if not n]}"


def test_the_plan_check_catches_a_full_scan(engine: Commands) -> None:
    """The checker itself: a query on an unindexed column is reported."""
    scans = full_scans(engine, "SELECT id FROM cases WHERE last_hash = 'x'", ())
    assert scans and "cases" in scans[0]


def _uses_index(engine: Commands, statement: str, parameters: Any, name: str) -> bool:
    """Whether PostgreSQL's plan of ``statement`` (sorts and sequential scans discouraged) reads index ``name``."""
    with engine.db.engine.connect() as connection:
        connection.exec_driver_sql("SET enable_seqscan = off")
        connection.exec_driver_sql("SET enable_sort = off")
        plan = [row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)]
    return any(name in line for line in plan)


def test_each_open_case_range_walks_a_read_index_not_a_whole_table_key(engine: Commands, clock: FakeClock) -> None:
    """The inbox's and the digest's per-state ranges (the undated one included: cases without a
    deadline) are ordered as the read indexes end, (due_at, id). Ordered by id alone, or by number,
    PostgreSQL can only walk the primary key or the numbers' unique index and filter, and at
    10,000,000 cases it did so over the whole table (docs/scale.md: 12.6 s for the inbox, 25 s for
    the digest)."""
    if engine.db.is_sqlite:
        pytest.skip("SQLite's planner has no statistics to misjudge; the index check above covers it")
    _views(engine, clock)
    views = Queries(engine)
    runs: dict[str, Callable[[], object]] = {
        "inbox kabid": lambda: views.inbox_page("kabid"),
        "inbox tim": lambda: views.inbox_page("tim_paringin"),
        "digest": lambda: engine.run_schedule("treckk", "ringkasan_pagi", wita(2026, 12, 3, 7, 0)),
    }
    for name, run in runs.items():
        with recorded(engine) as statements:
            run()
        ranges = [(s, p) for s, p in statements if "UNION ALL" in s and "due_at IS NULL" in s]
        assert ranges, name
        for statement, parameters in ranges:
            for key in ("pk_cases", "uq_cases_number"):
                assert not _uses_index(engine, statement, parameters, key), f"{name} walks {key}:\n{statement}"
