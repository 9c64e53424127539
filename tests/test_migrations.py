"""Schema migrations: the revisions build exactly the models' schema, on SQLite and PostgreSQL.

Every test here takes ``database_url``, so it runs on both backends: the same revisions serve
both. A change to ``engine/store/schema.py`` without a revision fails
``test_the_migrated_schema_is_exactly_the_models``.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, event, inspect, text

from engine.errors import InvalidInput
from engine.store.database import Database, DatabaseUnavailable
from engine.store.migrations import (
    INITIAL_REVISION,
    PRE_MIGRATION_TABLES,
    SCRIPT_LOCATION,
    current_revision,
    downgrade,
    head_revision,
    revisions,
    upgrade,
)
from engine.store.schema import Base
from tests.conftest import ROOT
from tests.test_database import start_together


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A Database on an empty database, not migrated yet."""
    database = Database(database_url)
    yield database
    database.dispose()


def drift(database: Database, metadata: MetaData = Base.metadata) -> list[Any]:
    """What autogenerate would change to make the database match ``metadata``; [] means no drift."""
    with database.begin() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(context, metadata))


def constraint_names(database: Database) -> dict[str, set[str]]:
    """Index, unique and foreign-key names per table, as the database reports them."""
    with database.begin() as connection:
        inspector = inspect(connection)
        return {
            table: {index["name"] for index in inspector.get_indexes(table) if index["name"]}
            | {unique["name"] for unique in inspector.get_unique_constraints(table) if unique["name"]}
            | {key["name"] for key in inspector.get_foreign_keys(table) if key["name"]}
            for table in inspector.get_table_names() if table != "alembic_version"
        }


def model_constraint_names() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for table in Base.metadata.sorted_tables:
        found = {str(index.name) for index in table.indexes}
        found |= {str(c.name) for c in table.constraints if c.__visit_name__ in ("unique_constraint", "foreign_key_constraint")}
        names[table.name] = found
    return names


def test_the_migrated_schema_is_exactly_the_models(db: Database) -> None:
    assert current_revision(db) is None
    assert upgrade(db) == head_revision()
    assert current_revision(db) == head_revision()
    assert drift(db) == []
    with db.begin() as connection:
        tables = set(inspect(connection).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    # Constraint names follow the naming convention, so later revisions can drop them by name.
    assert constraint_names(db) == model_constraint_names()


def test_the_drift_check_sees_a_column_the_revisions_lack(db: Database) -> None:
    upgrade(db)
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["cases"].append_column(Column("priority", Integer, nullable=True))
    assert [(op[0], op[2], op[3].name) for op in drift(db, changed)] == [("add_column", "cases", "priority")]


def test_upgrade_twice_changes_nothing_the_second_time(db: Database) -> None:
    upgrade(db)
    with db.begin() as connection:
        connection.execute(text("INSERT INTO case_numbers (prefix, year, last) VALUES ('ADU', 2026, 41)"))
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda _c, _cur, sql, *_: statements.append(sql))
    assert upgrade(db) == head_revision()
    ddl = [s for s in statements if s.lstrip().split(" ", 1)[0].upper() in ("CREATE", "ALTER", "DROP", "INSERT",
                                                                           "UPDATE", "DELETE")]
    assert ddl == []
    with db.begin() as connection:
        assert connection.execute(text("SELECT last FROM case_numbers")).scalar_one() == 41
    assert drift(db) == []


@pytest.mark.parametrize("start", ["base", *revisions()])
def test_a_database_at_any_older_revision_upgrades_to_head_keeping_its_rows(db: Database, start: str) -> None:
    if start != "base":
        assert upgrade(db, start) == start
        with db.begin() as connection:
            connection.execute(text("INSERT INTO case_numbers (prefix, year, last) VALUES ('ADU', 2026, 7)"))
    assert upgrade(db) == head_revision()
    assert drift(db) == []
    if start != "base":
        with db.begin() as connection:
            assert connection.execute(text("SELECT last FROM case_numbers")).scalar_one() == 7


def test_every_revision_goes_down_and_up_again(db: Database) -> None:
    for revision in revisions():  # the "stairway": each step's downgrade undoes its upgrade
        upgrade(db, revision)
        previous = revisions()[revisions().index(revision) - 1] if revision != revisions()[0] else "base"
        assert downgrade(db, previous) == (None if previous == "base" else previous)
        assert upgrade(db, revision) == revision
    assert drift(db) == []
    downgrade(db, "base")
    with db.begin() as connection:
        assert set(inspect(connection).get_table_names()) == {"alembic_version"}


def test_a_database_made_before_migrations_is_adopted(db: Database) -> None:
    # Before Alembic, `treckk init` made the tables straight from the models and kept no revision.
    upgrade(db, INITIAL_REVISION)
    with db.begin() as connection:
        connection.execute(text("INSERT INTO case_numbers (prefix, year, last) VALUES ('ADU', 2026, 12)"))
        connection.execute(text("DROP TABLE alembic_version"))
    assert current_revision(db) is None
    assert upgrade(db) == head_revision()
    assert drift(db) == []
    with db.begin() as connection:
        assert connection.execute(text("SELECT last FROM case_numbers")).scalar_one() == 12


def test_a_database_with_only_some_tables_is_refused_untouched(db: Database) -> None:
    with db.begin() as connection:
        connection.execute(text("CREATE TABLE staff (id INTEGER PRIMARY KEY)"))
    with pytest.raises(DatabaseUnavailable, match="has some TRECKK tables but not case_numbers, cases"):
        upgrade(db)
    with db.begin() as connection:
        assert set(inspect(connection).get_table_names()) == {"staff"}
    assert "staff" in PRE_MIGRATION_TABLES


def test_a_database_from_a_newer_treckk_is_refused(db: Database) -> None:
    upgrade(db)
    with db.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    assert current_revision(db) == "9999"
    with pytest.raises(DatabaseUnavailable, match="at schema revision '9999', which this TRECKK does not know"):
        upgrade(db)


def test_an_unknown_target_revision_is_invalid_input(db: Database) -> None:
    with pytest.raises(InvalidInput, match="unknown schema revision 'latest'; known: 0001"):
        upgrade(db, "latest")


UPGRADE_WORKER = """
import sys, time
from pathlib import Path
from engine.store.database import Database
from engine.store.migrations import upgrade

database = Database(sys.argv[1])
rendezvous = Path(sys.argv[2])
(rendezvous / f"ready-{sys.argv[3]}").touch()
deadline = time.monotonic() + 60
while not (rendezvous / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("never told to go")
    time.sleep(0.002)
print(upgrade(database))
"""


def test_several_processes_upgrading_at_once_all_succeed(db: Database, tmp_path: Path) -> None:
    # Runners starting together all call upgrade on the empty database. Without the advisory lock
    # PostgreSQL fails one of them on the catalog's unique index (or a lock timeout); on SQLite
    # BEGIN IMMEDIATE lets one migrate while the others wait, then find it done.
    processes = 3
    results = start_together([["-c", UPGRADE_WORKER, db.url, str(tmp_path), str(n)] for n in range(processes)],
                             tmp_path)
    assert [(r.returncode, r.stdout.strip()) for r in results] == [(0, head_revision())] * processes, \
        [r.stderr for r in results]
    with db.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    assert drift(db) == []


def test_the_revisions_ship_inside_the_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["engine.store"]
    package = ROOT / "engine" / "store"
    files = [p.relative_to(package).as_posix() for p in SCRIPT_LOCATION.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    assert {"alembic/env.py", "alembic/script.py.mako"} <= set(files)
    assert any(f.startswith("alembic/versions/") for f in files)
    unshipped = [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]
    assert unshipped == [], "add these to [tool.setuptools.package-data] in pyproject.toml"


def test_revision_0002_grants_the_old_roles_in_the_first_workflow_and_keeps_every_scope(db: Database) -> None:
    upgrade(db, "0001")
    with db.begin() as connection:
        connection.execute(text(
            "INSERT INTO definitions (id, workflow, version, digest, bundle, deployed_at, deployed_by) VALUES "
            "(1, 'alur_a', 1, 'd1', '{}', '2026-11-30 00:00:00', 'system'), "
            "(2, 'alur_b', 1, 'd2', '{}', '2026-11-30 01:00:00', 'system')"))
        connection.execute(text(
            "INSERT INTO staff (id, username, name, kecamatan, phone, email, active, created_at) VALUES "
            "(1, 'tim', 'Tim', 'paringin', NULL, NULL, true, '2026-11-30 00:00:00'), "
            "(2, 'kabid', 'Kabid', NULL, NULL, NULL, true, '2026-11-30 00:00:00')"))
        connection.execute(text("INSERT INTO staff_roles (staff_id, role) VALUES (1, 'tim_lapangan'), "
                                "(2, 'kepala'), (2, 'penyetuju')"))
        connection.execute(text(
            "INSERT INTO cases (id, number, workflow, definition_version, definition_digest, state, data, kecamatan, "
            "version, created_at, updated_at, state_entered_at, state_entry, last_hash) VALUES "
            "(1, 'ADU-2026-000001', 'alur_a', 1, 'd1', 'baru', '{}', 'juai', 1, '2026-11-30 00:00:00', "
            "'2026-11-30 00:00:00', '2026-11-30 00:00:00', 1, '')"))
    assert upgrade(db) == head_revision()
    assert drift(db) == []
    with db.begin() as connection:
        grants = connection.execute(text(
            "SELECT staff_id, workflow, role, scope FROM staff_grants ORDER BY staff_id, role")).all()
        assert [tuple(g) for g in grants] == [(1, "alur_a", "tim_lapangan", "paringin"), (2, "alur_a", "kepala", None),
                                              (2, "alur_a", "penyetuju", None)]
        assert connection.execute(text("SELECT scope FROM cases")).scalar_one() == "juai"
    downgrade(db, "0001")
    with db.begin() as connection:
        assert connection.execute(text("SELECT kecamatan FROM staff WHERE id = 1")).scalar_one() == "paringin"
        assert connection.execute(text("SELECT count(*) FROM staff_roles")).scalar_one() == 3
        assert connection.execute(text("SELECT kecamatan FROM cases")).scalar_one() == "juai"
