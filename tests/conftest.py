"""Shared fixtures: the clock, the database on every backend, the application, staff, and the CLI.

The ``database_url`` fixture runs each test that uses it on SQLite (a real file) and on a real
PostgreSQL server given by ``TRECKK_TEST_POSTGRES_URL`` (an admin URL; each test gets a fresh
database). Without that server the PostgreSQL runs are skipped with the reason — except in CI
(``CI=true``), where they fail instead, so CI can never pass by skipping them.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

# House rule: tests run in WITA so a time-zone mistake shows.
os.environ["TZ"] = "Asia/Makassar"
time.tzset()
# Every command a test runs as a process runs in that process: a resident command server started
# by one would outlive the test (tests/test_resident.py starts its own, and stops them).
os.environ["TRECKK_RESIDENT"] = "no"

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get("TRECKK_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_problem() -> str | None:
    if not POSTGRES_ADMIN_URL:
        return "TRECKK_TEST_POSTGRES_URL is not set (start one with scripts/pg-test-server start DIR)"
    try:
        import psycopg

        with psycopg.connect(_libpq(POSTGRES_ADMIN_URL), connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {exc}"


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


_PG_PROBLEM: str | None = None
_PG_CHECKED = False


def require_postgres() -> None:
    """Skip (locally) or fail (in CI) when no PostgreSQL server is available."""
    global _PG_PROBLEM, _PG_CHECKED
    if not _PG_CHECKED:
        _PG_PROBLEM, _PG_CHECKED = _postgres_problem(), True
    if _PG_PROBLEM:
        if IN_CI:
            pytest.fail(f"CI must run the PostgreSQL tests: {_PG_PROBLEM}")
        pytest.skip(_PG_PROBLEM)


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty database on the test server; drop it afterwards."""
    import psycopg

    name = f"treckk_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(POSTGRES_ADMIN_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(_libpq(POSTGRES_ADMIN_URL), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'treckk.db'}"
        return
    require_postgres()
    with fresh_postgres_database() as url:
        yield url


@dataclass
class FakeClock:
    """A clock tests move by hand; never sleeps."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 30, 8, 0, tzinfo=timezone(timedelta(hours=8))))

    def __call__(self) -> datetime:
        return self.now.astimezone(timezone.utc)

    def advance(self, **kwargs: float) -> None:
        self.now = self.now + timedelta(**kwargs)

    def set(self, moment: datetime) -> None:
        assert moment.tzinfo is not None
        self.now = moment

    def iso(self) -> str:
        return self.now.isoformat()


@pytest.fixture
def clock() -> FakeClock:
    """Monday 30 November 2026, 08:00 WITA (a working day) unless a test moves it."""
    return FakeClock()


@pytest.fixture
def home() -> Path:
    return ROOT


@pytest.fixture
def database(database_url: str) -> Iterator[object]:
    from engine.store.database import Database
    from engine.store.migrations import upgrade

    db = Database(database_url)
    upgrade(db)
    yield db
    db.dispose()


STAFF = (
    ("admin", "Rina Admin La-Lisa", ["admin_lalisa"], None, "081200000001", "admin@satpolpp.balangankab.go.id"),
    ("kabid", "Ahmad Kabid Trantibum", ["kabid_trantibum"], None, "081200000002", "kabid@satpolpp.balangankab.go.id"),
    ("kasat", "H. Kepala Satpol PP", ["penanggung_jawab"], None, "081200000003", "kasat@satpolpp.balangankab.go.id"),
    ("inovator", "Dewi Inovator", ["inovator"], None, None, "inovator@satpolpp.balangankab.go.id"),
    ("tim_paringin", "Tim TRECKK Paringin", ["tim_treckk"], "paringin", "081200000005", None),
    ("tim_juai", "Tim TRECKK Juai", ["tim_treckk"], "juai", "081200000006", None),
    ("sistem_kota", "Sistem aduan kota", ["integrasi"], None, None, None),  # another system, through Open311
)


@pytest.fixture
def application(database_url: str, clock: FakeClock, home: Path, tmp_path: Path) -> Iterator[object]:
    """The application ``build`` assembles for a fresh, migrated database, on the fake clock.

    Its settings come from this mapping alone, not the environment; notices it delivers go to
    files under ``tmp_path / "outbox"``, never the project's.
    """
    from engine.app.assembly import build
    from engine.app.settings import Settings
    from engine.store.migrations import upgrade

    app = build(Settings.from_environment({"TRECKK_HOME": str(home), "TRECKK_DATABASE_URL": database_url,
                                           "TRECKK_OUTBOX_DIR": str(tmp_path / "outbox")}), clock=clock)
    upgrade(app.database)
    yield app
    app.close()


@pytest.fixture
def engine(application: object) -> object:
    """The application's commands, with the shipped definition deployed and the standard staff."""
    from engine.app.assembly import Application

    assert isinstance(application, Application)
    eng = application.commands
    eng.deploy(application.settings.home / "workflows" / "treckk.yaml", None)
    for username, name, roles, kecamatan, phone, email in STAFF:
        eng.add_staff(username, name, roles, kecamatan, phone, email)
    return eng


COMPLAINT = {
    "kanal": "whatsapp",
    "nama_pelapor": "Budi Santoso",
    "nomor_pelapor": "0812-5555-0101",
    "uraian": "Pedagang kaki lima menutup badan jalan di depan pasar Paringin.",
    "kecamatan": "paringin",
    "kategori": "pkl_tempat_usaha",
    "lokasi": "Jl. Ahmad Yani depan Pasar Paringin",
}


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*args: object) -> CliResult:
    """``treckk ARGS`` in this process, with its exit code and what it printed."""
    import runner

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = runner.main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli(database_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> object:
    """Run ``treckk ARGS`` in-process against the test database at the fake clock's time (its compile
    cache under ``tmp_path``, never the user's)."""

    monkeypatch.setenv("TRECKK_DATABASE_URL", database_url)
    monkeypatch.setenv("TRECKK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TRECKK_CHANNELS", raising=False)

    def run(*args: str) -> CliResult:
        monkeypatch.setenv("TRECKK_NOW", clock.iso())
        return run_cli(*args)

    return run
