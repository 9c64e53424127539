"""The smaller holes, each with its test: headers, masking, URL secrets, disabled staff, file
modes, and how many problems a broken definition prints."""

from __future__ import annotations

import email
import email.policy
import stat
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from engine.app.commands import Commands
from engine.channels.file import FileChannel
from engine.channels.message import Outbound, readable
from engine.channels.smtp import compose
from engine.channels.webhook import WebhookChannel, WebhookSettings
from engine.core.masking import MASK, text_masker, without_secrets
from engine.definition.model import FieldSpec
from engine.definition.where import Where
from engine.errors import DefinitionError, Problem
from engine.store.database import Database
from tests.conftest import COMPLAINT

INJECTED = "Budi\r\nBcc: semua@example.com\x1b[2J"


def outbound(**changes: Any) -> Outbound:
    values: dict[str, Any] = dict(message_id="0" * 32 + "@treckk", channel="file", address="budi@example.com",
                                  recipient_name=INJECTED, subject="Aduan\nX-Palsu: ya", body="Isi\n", is_html=False,
                                  created_at=datetime(2026, 11, 30, tzinfo=timezone.utc),
                                  case_number="TRK-2026-000001", template="t.txt.j2")
    values.update(changes)
    return Outbound(**values)


def test_cr_lf_and_control_characters_never_reach_a_header(tmp_path: Path) -> None:
    text = readable(outbound())
    head = text.split("\n\n", 1)[0].splitlines()
    assert [line.split(":", 1)[0] for line in head] == ["Message-ID", "Date", "To", "Channel", "Case", "Template",
                                                       "Format", "Subject"]
    assert not any("\x1b" in line or "\r" in line for line in head)
    FileChannel(tmp_path / "outbox").send(outbound())
    written = next((tmp_path / "outbox").glob("*.txt")).read_text(encoding="utf-8")
    assert "\nBcc:" not in written and "\nX-Palsu:" not in written
    mail = email.message_from_bytes(compose(outbound(), "TRECKK <treckk@example.com>").as_bytes(),
                                    policy=email.policy.default)
    assert mail["Bcc"] is None and mail["X-Palsu"] is None
    assert mail["Subject"] == "Aduan X-Palsu: ya"


def test_masking_does_not_depend_on_the_length_of_the_value() -> None:
    spec = FieldSpec("nama", "text", "Nama", True, None, {}, Where("t.yaml", 1, 1))
    mask = text_masker({"nama": spec}, {"nama": "Al"}, False, "Asia/Makassar")
    assert mask("Pelapor: Al, alamat Alur Hijau") == f"Pelapor: {MASK}, alamat Alur Hijau"
    one = text_masker({"nama": spec}, {"nama": "X"}, False, "Asia/Makassar")
    assert one("Nama X.") == f"Nama {MASK}."
    assert text_masker({"nama": spec}, {"nama": "Al"}, True, "Asia/Makassar")("Al") == "Al"


def test_secrets_are_stripped_from_urls_before_they_are_stored_or_shown() -> None:
    assert without_secrets("webhook https://user:sandi@gw.example/kirim?key=abc&to=1 is not reachable") == \
        "webhook https://***@gw.example/kirim?key=***&to=*** is not reachable"
    channel = WebhookChannel(WebhookSettings("http://budi:rahasia@127.0.0.1:9/kirim?token=rahasia", None, 1.0))
    assert "rahasia" not in channel.where
    with pytest.raises(Exception) as caught:
        channel.send(outbound(channel="webhook", address="+6281255550101"))
    assert "rahasia" not in str(caught.value)


def test_disabled_staff_see_no_notices(engine: Commands, cli: Callable[..., Any]) -> None:
    case = engine.submit("admin", COMPLAINT)
    engine.advance(case.number, "teruskan", "admin")
    engine.disable_staff("kabid")
    listed = cli("notices", "--as", "kabid")
    assert listed.code == 3 and "disabled" in listed.err and listed.out == ""
    shown = cli("notices", "show", "1", "--as", "kabid")
    assert shown.code == 3 and shown.out == ""


def test_the_database_and_its_wal_and_shm_are_created_for_the_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "var" / "treckk.db"
    database = Database(f"sqlite:///{path}")
    try:
        database.create_schema()
        for name in ("treckk.db", "treckk.db-wal", "treckk.db-shm"):
            found = path.parent / name
            if found.exists():
                assert stat.S_IMODE(found.stat().st_mode) == 0o600, name
        assert (path.parent / "treckk.db-wal").exists() and (path.parent / "treckk.db-shm").exists()
    finally:
        database.dispose()


def test_the_outbox_folder_is_the_owners_alone(tmp_path: Path) -> None:
    FileChannel(tmp_path / "outbox").send(outbound(recipient_name="Budi"))
    assert stat.S_IMODE((tmp_path / "outbox").stat().st_mode) == 0o700
    for written in (tmp_path / "outbox").iterdir():
        assert stat.S_IMODE(written.stat().st_mode) == 0o600


def test_a_definition_with_many_problems_prints_a_bounded_list_and_counts_the_rest() -> None:
    problems = [Problem("alur.yaml", line, 1, f"unknown key 'k{line}'") for line in range(1, 701)]
    text = str(DefinitionError(problems))
    lines = text.splitlines()
    assert len(lines) == 51
    assert lines[-1] == "... and 650 more problem(s) not shown; fix these first"


# -- the CLI trust model ---------------------------------------------------------------------------


def test_staff_add_records_the_operator_and_whom_they_acted_for(engine: Commands, cli: Callable[..., Any]) -> None:
    import getpass

    from sqlalchemy import select

    from engine.store.schema import staff

    assert cli("staff", "add", "sari", "--name", "Sari", "--role", "admin_lalisa").code == 0
    done = cli("staff", "add", "joko", "--name", "Joko", "--role", "admin_lalisa", "--as", "inovator")
    assert done.code == 0, done.err
    with engine.db.begin() as connection:
        added = dict(connection.execute(select(staff.c.username, staff.c.added_by)
                                        .where(staff.c.username.in_(["sari", "joko"]))).all())
    assert added == {"sari": f"os:{getpass.getuser()}", "joko": f"os:{getpass.getuser()} as inovator"}
    # Acting for someone without manage_staff is refused, and nothing is added.
    refused = cli("staff", "add", "eko", "--name", "Eko", "--role", "admin_lalisa", "--as", "kabid")
    assert refused.code == 3 and "may not add staff" in refused.err



def test_a_refusal_says_no_more_than_show_would(engine: Commands, cli: Callable[..., Any]) -> None:
    case = engine.submit("admin", COMPLAINT)  # a Paringin case
    engine.advance(case.number, "teruskan", "admin")
    shown = cli("show", case.number, "--as", "tim_juai")
    assert shown.code == 3
    for args in (["advance", case.number, "tugaskan", "--as", "tim_juai"],
                 ["advance", case.number, "no_such_trigger", "--as", "tim_juai"],
                 ["history", case.number, "--as", "tim_juai"],
                 ["render", "no_such.txt.j2", "--case", case.number, "--as", "tim_juai"]):
        result = cli(*args)
        assert (result.code, result.err) == (3, shown.err), args
    assert "ditelaah" not in shown.err and "paringin" not in shown.err
