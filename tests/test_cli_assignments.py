"""Long values from a file or standard input (``--set-file``, ``--set FIELD=-``), and the comment's limit."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.app.commands import MAX_COMMENT_LENGTH, Commands
from engine.errors import InvalidInput
from engine.store.schema import cases, events
from tests.conftest import COMPLAINT, ROOT
from tests.test_cli_cases import counts, ok_json, one_line_error, sets
from tests.test_cli_formatting import copied_home, start_in

WITHOUT_URAIAN = {k: v for k, v in COMPLAINT.items() if k != "uraian"}


def stored_data(engine: Commands, number: str) -> dict[str, Any]:
    with engine.db.begin() as connection:
        data: dict[str, Any] = connection.execute(select(cases.c.data).where(cases.c.number == number)).scalar_one()
    return data


def feed_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def test_a_value_from_a_file_or_standard_input_is_stored_exactly(engine: Commands, cli: Any, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    text = "Baris pertama: PKL menutup jalan.\n\tBaris kedua — ꦥꦼꦢꦒꦁ 🚧\n" + "x" * 3900
    path = tmp_path / "uraian.txt"
    path.write_bytes(text.encode("utf-8") + b"\r\n\n")  # trailing line breaks are dropped
    number = ok_json(cli("submit", "--as", "admin", "--json", *sets(WITHOUT_URAIAN),
                         "--set-file", f"uraian={path}"))["number"]
    assert stored_data(engine, number)["uraian"] == text
    ok_json(cli("advance", number, "teruskan", "--as", "admin", "--json"))
    feed_stdin(monkeypatch, "Sudah ditelaah.\nLanjutkan.\n".encode("utf-8"))
    moved = ok_json(cli("advance", number, "tolak", "--as", "kabid", "--json", "--set", "alasan=-"))
    assert moved["state"] == "ditolak" and stored_data(engine, number)["alasan"] == "Sudah ditelaah.\nLanjutkan."


def test_a_long_value_beyond_any_argument_list_is_entered_from_a_file(tmp_path: Path, cli: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """1 MB does not fit in one argument ("argument list too long"); a field without max_length takes it."""
    home = copied_home(tmp_path, lambda text: text.replace(
        "uraian: {type: text, label: Uraian aduan, max_length: 4000}", "uraian: {type: text, label: Uraian aduan}"))
    start_in(home, cli, monkeypatch)
    text = ("Laporan panjang dari warga. " * 40000)[:1_000_000]
    path = tmp_path / "laporan.txt"
    path.write_text(text, encoding="utf-8")
    number = ok_json(cli("submit", "--as", "admin", "--json", *sets(WITHOUT_URAIAN),
                         "--set-file", f"uraian={path}"))["number"]
    assert ok_json(cli("show", number, "--json"))["data"]["uraian"] == text.rstrip("\r\n")


def test_bad_files_and_standard_input_are_exit_2_naming_them_and_write_nothing(
        engine: Commands, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Jalan dibuka kembali, caf\u00e9".encode("latin-1"))
    too_long = tmp_path / "panjang.txt"
    too_long.write_text("y" * 4001, encoding="utf-8")
    before = counts(engine)
    missing = tmp_path / "tidak_ada.txt"
    expected = {
        f"--set-file uraian={missing}: no such file": ("--set-file", f"uraian={missing}"),
        f"--set-file uraian={latin1}: the file is not UTF-8 text (byte 0xe9 at offset 25)": (
            "--set-file", f"uraian={latin1}"),
        f"--set-file uraian={tmp_path}: not a regular file": ("--set-file", f"uraian={tmp_path}"),
        "uraian' is 4001 characters long; at most 4000": ("--set-file", f"uraian={too_long}"),
        "bad --set-file 'uraian'; write FIELD=PATH": ("--set-file", "uraian"),
        "field 'uraian' is given twice": ("--set", "uraian=pendek", "--set-file", f"uraian={too_long}"),
        "only one field can be read from standard input; uraian, lokasi all ask for it": (
            "--set", "uraian=-", "--set", "lokasi=-"),
    }
    for words, args in expected.items():
        without = {k: v for k, v in WITHOUT_URAIAN.items() if k != "lokasi"} if "lokasi=-" in args \
            else WITHOUT_URAIAN
        message = one_line_error(cli("submit", "--as", "admin", *sets(without), *args), 2)
        assert words in message, (words, message)
    feed_stdin(monkeypatch, b"bukan \xff utf-8")
    message = one_line_error(cli("submit", "--as", "admin", *sets(WITHOUT_URAIAN), "--set", "uraian=-"), 2)
    assert "standard input (--set uraian=-) is not UTF-8 text (byte 0xff at offset 6)" in message
    assert counts(engine) == before


def test_a_comment_has_a_limit_in_the_command_itself(engine: Commands, cli: Any) -> None:
    number = ok_json(cli("submit", "--as", "admin", "--json", *sets(COMPLAINT)))["number"]
    before = counts(engine)
    long = "c" * (MAX_COMMENT_LENGTH + 1)
    for args in (("advance", number, "teruskan", "--as", "admin", "--comment", long),
                 ("submit", "--as", "admin", *sets(COMPLAINT), "--comment", long)):
        message = one_line_error(cli(*args), 2)
        assert f"the comment is {MAX_COMMENT_LENGTH + 1} characters long; at most 4000 are accepted" in message
    for refused in (long, "ada\x00nul", "bukan \udcff"):
        with pytest.raises(InvalidInput):
            engine.advance(number, "teruskan", "admin", {}, comment=refused)
        with pytest.raises(InvalidInput):
            engine.submit("admin", COMPLAINT, comment=refused)
    assert counts(engine) == before
    exact = "ꦲ" * MAX_COMMENT_LENGTH
    ok_json(cli("advance", number, "teruskan", "--as", "admin", "--json", "--comment", exact))
    with engine.db.begin() as connection:
        assert connection.execute(select(events.c.comment).where(events.c.seq == 2)).scalar_one() == exact


@pytest.mark.slow
def test_standard_input_of_a_real_process(engine: Commands, database_url: str) -> None:
    text = "Dari pipa: " + "ꦲ" * 3000 + "\n"
    result = subprocess.run(
        [sys.executable, str(ROOT / "runner.py"), "submit", "--as", "admin", *sets(WITHOUT_URAIAN),
         "--set", "uraian=-"], input=text.encode("utf-8"), capture_output=True, timeout=60, cwd=ROOT,
        env={**os.environ, "TRECKK_DATABASE_URL": database_url, "TRECKK_CHANNELS": "file"})
    assert result.returncode == 0, result.stderr
    number = result.stdout.decode().strip()
    assert stored_data(engine, number)["uraian"] == text.rstrip("\n")
