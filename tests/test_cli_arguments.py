"""Arguments that are not UTF-8 (the shell passed raw bytes) end in exit 2 and one line, never a traceback.

Python decodes ``argv`` with ``surrogateescape``: each byte that is not UTF-8 becomes a lone
surrogate. ``runner.main`` checks every text argument once, before any command runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from engine.app.commands import Commands
from tests.conftest import COMPLAINT, ROOT
from tests.test_cli_cases import counts, ok_json, one_line_error, sets

BAD = "\udcff"  # the byte 0xff, as Python hands it over


def test_text_that_is_not_utf8_is_refused_naming_the_argument(engine: Commands, cli: Any) -> None:
    number = ok_json(cli("submit", "--as", "admin", "--json", *sets(COMPLAINT)))["number"]
    before = counts(engine)
    refused = {
        "argument case": ("show", f"TRK-2026-00000{BAD}"),
        "argument --as": ("advance", number, "teruskan", "--as", f"adm{BAD}in"),
        "argument trigger": ("advance", number, f"teruskan{BAD}", "--as", "admin"),
        "argument --state": ("cases", "--state", f"diterima{BAD}"),
        "argument ID": ("notices", "show", f"1{BAD}"),
        "argument --set": ("submit", "--as", "admin", *sets({**COMPLAINT, "lokasi": f"Jl. {BAD}"})),
        "argument --comment": ("advance", number, "teruskan", "--as", "admin", "--comment", f"ok{BAD}"),
        "argument --case": ("notices", "--case", f"{number}{BAD}"),
        "argument username": ("staff", "add", f"budi{BAD}", "--name", "Budi", "--role", "admin_lalisa"),
    }
    for name, args in refused.items():
        message = one_line_error(cli(*args), 2)
        assert message.startswith(f"treckk: error: {name}: b'") and "\\xff" in message, message
        assert "is not valid UTF-8" in message and BAD not in message
    assert counts(engine) == before


def test_a_lone_surrogate_that_is_no_byte_is_refused_too(engine: Commands, cli: Any) -> None:
    message = one_line_error(cli("show", "TRK-\ud800"), 2)
    assert "argument case: 'TRK-\\ud800' is not valid UTF-8" in message


@pytest.mark.slow
def test_raw_bytes_from_a_shell_end_in_exit_2_without_a_traceback(tmp_path: Any) -> None:
    database = tmp_path / "never.db"
    env = {**os.environ, "TRECKK_DATABASE_URL": f"sqlite:///{database}"}
    for args in ([b"show", b"TRK-2026-\xff"], [b"inbox", b"--as", b"ahm\xe9d"], [b"cases", b"--state", b"\xc0"],
                 [b"notices", b"show", b"\xfe"]):
        result = subprocess.run([sys.executable.encode(), str(ROOT / "runner.py").encode(), *args], cwd=ROOT,
                                capture_output=True, timeout=60, env=env)
        assert result.returncode == 2, result.stderr
        assert result.stdout == b""
        lines = result.stderr.decode("utf-8").splitlines()
        assert len(lines) == 1 and lines[0].startswith("treckk: error: argument ") and "Traceback" not in lines[0]
    assert not database.exists()


def test_the_command_table_names_the_module_that_registers_each_command() -> None:
    import argparse
    import importlib

    import runner

    registered: dict[str, str] = {}
    for module in runner.COMMAND_MODULES:
        parser = argparse.ArgumentParser()
        commands = parser.add_subparsers()
        importlib.import_module(module).register(commands)
        registered.update(dict.fromkeys(commands.choices, module.rsplit(".", 1)[1]))
    assert registered == runner.COMMANDS
