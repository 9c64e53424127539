"""Each bad input the attack found ends with exit 2, one line naming it, and nothing written.

On SQLite and PostgreSQL (``cli`` fixture); the fuzzing over every command and setting is in
tests/test_fuzz_inputs.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.app.commands import Commands
from engine.store.schema import cases, events, staff

BIG = str(2**64 + 1)


def counts(engine: Commands) -> tuple[int, int, int]:
    with engine.db.begin() as connection:
        return tuple(int(connection.execute(select(func.count()).select_from(t)).scalar_one())  # type: ignore[return-value]
                     for t in (cases, events, staff))


@pytest.mark.parametrize("args, needle", [
    (["show", "caf\udce9", "--as", "admin"], "is not valid UTF-8"),
    (["cases", "--limit", BIG, "--as", "admin"], "too large"),
    (["escalate", "--limit", BIG], "too large"),
    (["migrate", "--all", "--to-version", BIG, "--as", "inovator"], "too large"),
    (["notices", "--limit", "1e300", "--as", "admin"], "not a whole number"),
    (["serve", "--once", "--scan-interval", "nan"], "number of seconds"),
    (["serve", "--once", "--scan-interval", "inf"], "number of seconds"),
    (["submit", "--as", "admin", "--set", "kanal=whatsapp", "--set", "uraian=Jalan rusak",
      "--set", "waktu_kejadian=9999-12-31T20:00"], "outside the range the engine computes with"),
    (["submit", "--as", "admin", "--set", "kanal=whatsapp", "--set", "uraian=Jalan rusak",
      "--idempotency-key", "k" * 129], "bad idempotency key"),
    (["staff", "add", "admin\u0435", "--name", "Palsu", "--role", "admin_lalisa"], "ASCII letters"),
    (["staff", "add", "u" * 65, "--name", "Panjang", "--role", "admin_lalisa"], "bad username"),
    (["deploy", "/dev/zero", "--as", "inovator"], "not a regular file"),
])
def test_a_bad_argument_is_refused_with_one_line(args: list[str], needle: str, engine: Commands,
                                                 cli: Callable[..., Any]) -> None:
    before = counts(engine)
    result = cli(*args)
    assert result.code == 2, result
    assert needle in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert counts(engine) == before


def test_a_fifo_is_refused_without_waiting_for_a_writer(engine: Commands, cli: Callable[..., Any],
                                                        tmp_path: Path) -> None:
    fifo = tmp_path / "alur.yaml"
    os.mkfifo(fifo)
    result = cli("deploy", str(fifo), "--as", "inovator")
    assert result.code == 2 and "not a regular file" in result.err
    result = cli("submit", "--as", "admin", "--set", "kanal=whatsapp", "--set-file", f"uraian={fifo}")
    assert result.code == 2 and "not a regular file" in result.err


@pytest.mark.parametrize("name, value, needle", [
    ("TRECKK_NOW", "0001-01-01T00:00:00+14:00", "outside the range"),
    ("TRECKK_DELIVERY_BACKOFF", "nan", "not a usable number"),
    ("TRECKK_SCAN_INTERVAL", "inf", "not a usable number"),
    ("TRECKK_SCHEDULE_GRACE", "1e300", "not a usable number"),
    ("TRECKK_SMTP_PORT", "1e300", "not a usable number"),
])
def test_a_bad_setting_is_refused_with_one_line(name: str, value: str, needle: str, engine: Commands,
                                                monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    from tests.conftest import run_cli

    monkeypatch.setenv("TRECKK_DATABASE_URL", database_url)
    monkeypatch.setenv("TRECKK_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv(name, value)
    result = run_cli("cases", "--as", "admin")
    assert result.code == 2, result
    assert needle in result.err and len(result.err.strip().splitlines()) == 1
