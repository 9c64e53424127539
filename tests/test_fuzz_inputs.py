"""Every input has a clear answer: hypothesis over every command's arguments and every setting.

Each leaf command of the real parser (``treckk staff add``, ``treckk notices show``, …) is run in
this process with arguments drawn from its own options and from a pool of hostile values (not
UTF-8, nan/inf/1e300, numbers beyond 64 bits, dates outside the computable range, CR/LF, very
long text, devices and FIFOs as files). Every run must end with an exit code of the engine's
error tree and never with an exception escaping ``main`` (a traceback). The same for every
``TRECKK_*`` setting given a hostile value. On SQLite and PostgreSQL (``cli`` fixture).

``TRECKK_FUZZ_EXAMPLES`` sets the examples per command (default 12, a few seconds each); CI can
run a longer profile with e.g. ``TRECKK_FUZZ_EXAMPLES=200``.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runner
from engine.channels import registry
from engine.app.settings import PREFIX
from tests.conftest import ROOT, run_cli

EXAMPLES = int(os.environ.get("TRECKK_FUZZ_EXAMPLES", "12"))
EXIT_CODES = {0, 1, 2, 3, 4, 5, 6, 7, 8}
"""What a command may answer: success, a finding (1 for a differing scenario, 8 for verify), or an
error of the engine's tree; 1 is never a traceback here, since an escaping exception fails the test."""

FIFO = Path("/tmp/treckk-fuzz-fifo")

HOSTILE = [
    "\udcff\udcfe", "caf\udce9", "nan", "inf", "-inf", "1e300", "-1", "0", "9" * 30, str(2**63), str(2**64 + 1),
    "0001-01-01T00:00:00+14:00", "9999-12-31T20:00", "a\r\nBcc: x@example.com", "x\x00y", "\x1b[31m", "x" * 300,
    "TRK-2026-000001", "admin", "kabid", "kasat", "adminе", "/dev/zero", str(FIFO), "", "=", "kanal=whatsapp",
    "waktu_kejadian=9999-12-31T20:00", "uraian=\udcff", "kecamatan=juai", "treckk", "tugaskan", "99",
]
values = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20))

SKIP = {("serve",), ("demo",), ("init",), ("db", "upgrade")}
"""Left out: ``serve`` runs until stopped (it is fuzzed with ``--once``), ``demo`` plays a whole day,
``init`` and ``db upgrade`` are the schema tooling the fixtures already run."""


def leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) \
        -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from leaf_commands(sub, (*path, name))


COMMANDS = [(path, parser) for path, parser in leaf_commands(runner.build_parser()) if path not in SKIP]


@st.composite
def argument_lists(draw: st.DrawFn, parser: argparse.ArgumentParser) -> list[str]:
    args: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or "--db" in action.option_strings:
            continue
        if not action.option_strings:  # positional
            count = 1 if action.nargs in (None, "?") else draw(st.integers(0, 2))
            args.extend(draw(values) for _ in range(count))
            continue
        if not draw(st.booleans()):
            continue
        option = action.option_strings[-1]
        if action.nargs == 0:
            args.append(option)
        else:
            args.extend([option, draw(values)])
    return args


@pytest.fixture(scope="module", autouse=True)
def _fifo() -> Iterator[None]:
    if not FIFO.exists():
        os.mkfifo(FIFO)
    yield
    FIFO.unlink(missing_ok=True)


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: "-".join(p))
def test_no_command_answers_any_arguments_with_a_traceback(path: tuple[str, ...], engine: Any,
                                                           cli: Callable[..., Any], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRECKK_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.chdir(tmp_path)  # files a command makes from a fuzzed relative path (keygen) stay here
    parser = dict(COMMANDS)[path]
    extra = ["--once"] if path == ("serve",) else []

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(argument_lists(parser))
    def run(args: list[str]) -> None:
        result = cli(*path, *args, *extra)
        assert result.code in EXIT_CODES, (args, result)
        assert "Traceback" not in result.err, (args, result.err)

    run()


def test_serve_once_takes_any_arguments(engine: Any, cli: Callable[..., Any], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRECKK_OUTBOX_DIR", str(tmp_path / "outbox"))

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.lists(st.sampled_from(["--scan-interval", "--json"]) | values, max_size=4))
    def run(args: list[str]) -> None:
        result = cli("serve", "--once", *args)
        assert result.code in EXIT_CODES and "Traceback" not in result.err, (args, result)

    run()


def setting_names() -> list[str]:
    source = (ROOT / "engine" / "app" / "settings.py").read_text(encoding="utf-8")
    names = set(re.findall(r'"(TRECKK_[A-Z_]+)"', source)) | {PREFIX + key for key in registry.keys()}
    return sorted(names - {"TRECKK_DATABASE_URL", "TRECKK_HOME", "TRECKK_"})


@pytest.mark.parametrize("name", setting_names())
def test_no_setting_value_ends_in_a_traceback(name: str, engine: Any, cli: Callable[..., Any], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRECKK_OUTBOX_DIR", str(tmp_path / "outbox"))

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.sampled_from([v for v in HOSTILE if "\x00" not in v]) | st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20))
    def run(value: str) -> None:
        monkeypatch.setenv(name, value)
        # (the cli fixture sets TRECKK_NOW itself; the hostile value is tested with run_cli)
        result = run_cli("cases", "--as", "admin") if name == "TRECKK_NOW" else cli("cases", "--as", "admin")
        assert result.code in {0, 2, 7}, (value, result)
        assert "Traceback" not in result.err, (value, result.err)

    run()
