"""bench/bulk.py's PostgreSQL bulk seed leaves a database ``verify`` finds nothing wrong with, with
the schema's indexes and constraints back as they were and the stays rollup equal to what the
events say, on which the engine moves seeded cases."""

from __future__ import annotations

from typing import Any

import pytest

from bench import bulk
from bench.log import engine_on
from bench.seed import DATA, STAFF
from engine.app.verification import Anchors, verify
from tests.conftest import fresh_postgres_database, require_postgres
from tests.test_stay_rows import recomputed, stored

pytestmark = pytest.mark.postgres


def _schema(url: str) -> list[Any]:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as pg:
        return pg.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "UNION ALL SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2, 3").fetchall()


def test_bulk_seed_is_verifiable_and_movable() -> None:
    require_postgres()
    with fresh_postgres_database() as url:
        engine = engine_on(url)
        before = _schema(url)
        took = bulk.seed(engine, url, 250, workers=2, batch=100)
        assert took["clones"] == 250
        assert _schema(url) == before
        report = verify(url, anchors=Anchors(None), jobs=1)
        assert report.findings == [] and report.cases == 253
        # Of every 100 clones 1 in ditelaah (2 events), 2 in diterima (1), 97 closed (3); plus the
        # three templates (6 events): 2 * 295 + (2 + 1 + 1 + 47 * 3) + 6.
        assert report.events == 741 and report.tree_size == 741 + 1 + len(STAFF)
        # The clones' stays (spread over ten years with their events) are what the events say.
        rollup = stored(engine)
        assert len(rollup) == 741 and rollup == recomputed(engine)
        pool = engine.db.read(lambda c: [str(n) for n in c.exec_driver_sql(
            "SELECT number FROM cases WHERE state = 'diterima' ORDER BY id DESC").scalars()])
        assert len(pool) == 1 + 6  # the template and clones 1, 2, 101, 102, 201, 202
        engine.advance(pool[0], "teruskan", "admin")
        fresh = engine.submit("admin", DATA)
        assert fresh.number.endswith(f"{253 + 1:06d}")
        after = verify(url, anchors=Anchors(None), jobs=1)
        assert after.findings == [] and after.events == report.events + 2
        assert stored(engine) == recomputed(engine)
        engine.db.dispose()
