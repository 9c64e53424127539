"""The settings: every ``TRECKK_*`` variable is read in one module, documented, checked, and wired by ``build``.

``engine/app/settings.py`` is the only module that names a ``TRECKK_`` variable or touches the
environment; the README's configuration table documents each variable it reads; a bad value is
refused naming the variable (exit 2 on the command line); ``engine.app.assembly.build`` gives the
application what the settings say.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from engine.app.assembly import build
from engine.app.commands import Commands
from engine.app.settings import PACKAGE_HOME, PREFIX, Settings, resident_plan
from engine.channels import registry
from engine.channels.file import FileSettings
from engine.channels.smtp import SmtpChannel, SmtpSettings
from engine.channels.webhook import WebhookSettings
from engine.errors import InvalidInput
from engine.notices.policy import DeliveryPolicy
from engine.notices.routing import Routing
from engine.store import notice_rows
from engine.store.prepared import observed
from tests.conftest import COMPLAINT, ROOT, CliResult

SETTINGS = ROOT / "engine" / "app" / "settings.py"
NAME = re.compile(r"TRECKK_[A-Z0-9_]+")


def _sources() -> list[Path]:
    return [*sorted((ROOT / "engine").rglob("*.py")), ROOT / "runner.py"]


def variables_read() -> set[str]:
    """The variables the settings read: those settings.py names, and each channel's keys with the prefix."""
    return set(NAME.findall(SETTINGS.read_text(encoding="utf-8"))) | {PREFIX + key for key in registry.keys()}


def documented_in_readme() -> set[str]:
    """The variables in the first column of the README's configuration table (``_PORT`` continues the row's first)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    found: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        names = re.findall(r"`([A-Z0-9_]+)`", line.split("|")[1])
        stem = names[0].rpartition("_")[0]
        found.update(stem + name if name.startswith("_") else name for name in names)
    return found


def test_only_the_settings_module_names_a_treckk_variable() -> None:
    named = {f"{path.relative_to(ROOT)}: {name}" for path in _sources() if path != SETTINGS
             for name in NAME.findall(path.read_text(encoding="utf-8"))}
    assert named == set()
    assert {"TRECKK_DATABASE_URL", "TRECKK_SMTP_HOST", "TRECKK_PREPARED"} <= variables_read()


def test_only_the_settings_module_reads_or_writes_the_environment() -> None:
    touching = [str(path.relative_to(ROOT)) for path in _sources() if path != SETTINGS
                and re.search(r"\bos\.(environ|getenv|putenv|unsetenv)\b|\bgetenv\(", path.read_text(encoding="utf-8"))]
    assert touching == []


def test_every_variable_read_is_documented_in_the_readme_and_nothing_else_is() -> None:
    assert documented_in_readme() == variables_read()


def test_defaults() -> None:
    settings = Settings.from_environment({})
    assert settings == Settings(
        home=PACKAGE_HOME, database_url=f"sqlite:///{PACKAGE_HOME / 'var' / 'treckk.db'}",
        channels={"file": FileSettings(PACKAGE_HOME / "var" / "outbox")}, channel_preference=("file",))
    assert PACKAGE_HOME == ROOT  # the directory of runner.py, as before
    assert (settings.now, settings.base_url, settings.prepared, settings.db_pool_size) == (None, "", True, None)
    assert (settings.scan_interval, settings.delivery_interval, settings.schedule_grace) == (60, 30, timedelta(hours=6))
    assert settings.delivery == DeliveryPolicy()


def test_every_variable_is_read(tmp_path: Path) -> None:
    settings = Settings.from_environment({
        "TRECKK_HOME": str(tmp_path), "TRECKK_DATABASE_URL": "postgresql+psycopg://u:p@db/treckk",
        "TRECKK_NOW": "2026-11-30T08:00:00+08:00", "TRECKK_BASE_URL": "https://treckk.example",
        "TRECKK_PREPARED": "tidak", "TRECKK_DB_POOL_SIZE": "8", "TRECKK_DB_MAX_OVERFLOW": "0",
        "TRECKK_SCAN_INTERVAL": "5", "TRECKK_DELIVERY_INTERVAL": "2.5", "TRECKK_SCHEDULE_GRACE": "60",
        "TRECKK_CHANNELS": " webhook, smtp ,file", "TRECKK_OUTBOX_DIR": str(tmp_path / "out"),
        "TRECKK_SMTP_HOST": " mail.example ", "TRECKK_SMTP_PORT": "587", "TRECKK_SMTP_STARTTLS": "yes",
        "TRECKK_SMTP_USER": "treckk", "TRECKK_SMTP_PASSWORD": "rahasia", "TRECKK_SMTP_FROM": "T <t@example.id>",
        "TRECKK_SMTP_TIMEOUT": "7", "TRECKK_WEBHOOK_URL": "https://wa.example/send", "TRECKK_WEBHOOK_TOKEN": "tok",
        "TRECKK_WEBHOOK_TIMEOUT": "3", "TRECKK_DELIVERY_MAX_ATTEMPTS": "3", "TRECKK_DELIVERY_BACKOFF": "30",
        "TRECKK_DELIVERY_BACKOFF_MAX": "90", "TRECKK_DELIVERY_JITTER": "0", "TRECKK_DELIVERY_LEASE": "120",
    })
    assert settings == Settings(
        home=tmp_path.resolve(), database_url="postgresql+psycopg://u:p@db/treckk",
        channels={"file": FileSettings(tmp_path / "out"),
                  "smtp": SmtpSettings("mail.example", 587, True, False, "treckk", "rahasia", "T <t@example.id>", 7),
                  "webhook": WebhookSettings("https://wa.example/send", "tok", 3)},
        channel_preference=("webhook", "smtp", "file"), now=datetime(2026, 11, 30, 0, 0, tzinfo=timezone.utc),
        base_url="https://treckk.example", prepared=False, db_pool_size=8, db_max_overflow=0, scan_interval=5,
        delivery_interval=2.5, schedule_grace=timedelta(seconds=60),
        delivery=DeliveryPolicy(max_attempts=3, backoff=30, backoff_max=90, jitter=0, lease=120))


BAD_VALUES: dict[str, tuple[dict[str, str], str]] = {
    "scan interval": ({"TRECKK_SCAN_INTERVAL": "abc"}, "TRECKK_SCAN_INTERVAL='abc' is not a number"),
    "zero interval": ({"TRECKK_SCAN_INTERVAL": "0"},
                      "TRECKK_SCAN_INTERVAL='0' is too small; it must be more than 0 seconds"),
    "negative interval": ({"TRECKK_DELIVERY_INTERVAL": "-1"},
                          "TRECKK_DELIVERY_INTERVAL='-1' is too small; it must be at least 0"),
    "grace": ({"TRECKK_SCHEDULE_GRACE": "6h"}, "TRECKK_SCHEDULE_GRACE='6h' is not a number"),
    "pool": ({"TRECKK_DB_POOL_SIZE": "lots"},
             "TRECKK_DB_POOL_SIZE='lots' is not a whole number of connections; e.g. TRECKK_DB_POOL_SIZE=3"),
    "overflow": ({"TRECKK_DB_MAX_OVERFLOW": "-1"},
                 "TRECKK_DB_MAX_OVERFLOW='-1' is not a whole number of connections; e.g. TRECKK_DB_MAX_OVERFLOW=2"),
    "prepared": ({"TRECKK_PREPARED": "maybe"}, "TRECKK_PREPARED='maybe' is not a yes/no value; write true or false"),
    "now": ({"TRECKK_NOW": "besok"},
            "TRECKK_NOW 'besok' is not an ISO 8601 time; write e.g. 2026-11-30T08:00:00+08:00"),
    "now without offset": ({"TRECKK_NOW": "2026-11-30T08:00"},
                           "TRECKK_NOW '2026-11-30T08:00' has no UTC offset; write e.g. 2026-11-30T08:00:00+08:00"),
    "channels": ({"TRECKK_CHANNELS": "file,fax"},
                 "TRECKK_CHANNELS names unknown channel 'fax'; allowed: file, smtp, webhook, whatsapp"),
    "smtp port": ({"TRECKK_SMTP_HOST": "mail", "TRECKK_SMTP_PORT": "x"}, "TRECKK_SMTP_PORT='x' is not a number"),
    "smtp tls": ({"TRECKK_SMTP_HOST": "mail", "TRECKK_SMTP_SSL": "ya", "TRECKK_SMTP_STARTTLS": "on"},
                 "TRECKK_SMTP_SSL and TRECKK_SMTP_STARTTLS are both true; choose one (SSL for port 465, "
                 "STARTTLS for port 587)"),
    "smtp flag": ({"TRECKK_SMTP_HOST": "mail", "TRECKK_SMTP_SSL": "kadang"},
                  "TRECKK_SMTP_SSL='kadang' is not a yes/no value; write true or false"),
    "smtp user": ({"TRECKK_SMTP_HOST": "mail", "TRECKK_SMTP_USER": "treckk"},
                  "TRECKK_SMTP_USER is set but TRECKK_SMTP_PASSWORD is not"),
    "smtp from": ({"TRECKK_SMTP_HOST": "mail", "TRECKK_SMTP_FROM": "nobody"},
                  "TRECKK_SMTP_FROM='nobody' is not an e-mail address; write e.g. "
                  "'TRECKK Satpol PP Balangan <treckk@satpolpp.balangankab.go.id>'"),
    "webhook url": ({"TRECKK_WEBHOOK_URL": "ftp://gateway"},
                    "TRECKK_WEBHOOK_URL='ftp://gateway' is not an http:// or https:// URL"),
    "webhook timeout": ({"TRECKK_WEBHOOK_URL": "http://gateway", "TRECKK_WEBHOOK_TIMEOUT": "0"},
                        "TRECKK_WEBHOOK_TIMEOUT='0' is too small; it must be at least 0.1"),
    "attempts": ({"TRECKK_DELIVERY_MAX_ATTEMPTS": "2.5"}, "TRECKK_DELIVERY_MAX_ATTEMPTS='2.5' is not a whole number"),
    "backoff cap": ({"TRECKK_DELIVERY_BACKOFF_MAX": "10"},
                    "TRECKK_DELIVERY_BACKOFF_MAX='10' is too small; it must be at least 60"),
    "jitter": ({"TRECKK_DELIVERY_JITTER": "1.5"}, "TRECKK_DELIVERY_JITTER=1.5 is too large; use a fraction from 0 to 1"),
    "lease": ({"TRECKK_DELIVERY_LEASE": "0"}, "TRECKK_DELIVERY_LEASE='0' is too small; it must be at least 1"),
    "resident": ({"TRECKK_RESIDENT": "kadang"}, "TRECKK_RESIDENT='kadang' is not a yes/no value; write true or false"),
}


@pytest.mark.parametrize("environ, message", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_a_bad_value_is_refused_naming_the_variable_and_what_it_accepts(environ: dict[str, str],
                                                                      message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        Settings.from_environment(environ)
    assert str(raised.value) == message


def test_a_refused_value_carries_the_variable_and_the_value_as_fields() -> None:
    with pytest.raises(InvalidInput) as raised:
        Settings.from_environment({"TRECKK_CHANNELS": "webhook,fax"})
    assert raised.value.fields() == {"kind": "invalid_input", "field": "TRECKK_CHANNELS", "value": "fax",
                                     "accepted": ["file", "smtp", "webhook", "whatsapp"]}
    with pytest.raises(InvalidInput) as raised:
        Settings.from_environment({"TRECKK_SMTP_HOST": "mail", "TRECKK_SMTP_PORT": "x"})
    assert (raised.value.field, raised.value.value) == ("TRECKK_SMTP_PORT", "x")


def test_a_bad_value_ends_a_command_with_exit_2_and_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "TRECKK_SCAN_INTERVAL": "abc", "TRECKK_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}"}
    run = subprocess.run([sys.executable, str(ROOT / "runner.py"), "serve", "--once"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert (run.returncode, run.stdout, run.stderr) == (2, "", "treckk: error: TRECKK_SCAN_INTERVAL='abc' is not a number\n")
    assert not (tmp_path / "t.db").exists()  # refused before anything was opened
    helped = subprocess.run([sys.executable, str(ROOT / "runner.py"), "serve", "--help"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "TRECKK_SCAN_INTERVAL or 60" in helped.stdout


def test_build_wires_what_the_settings_say(tmp_path: Path) -> None:
    settings = Settings.from_environment({
        "TRECKK_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}", "TRECKK_NOW": "2026-11-30T08:00:00+08:00",
        "TRECKK_CHANNELS": "webhook,file", "TRECKK_WEBHOOK_URL": "http://127.0.0.1:9/send",
        "TRECKK_OUTBOX_DIR": str(tmp_path / "out"), "TRECKK_BASE_URL": "https://treckk.example",
        "TRECKK_DELIVERY_MAX_ATTEMPTS": "3", "TRECKK_PREPARED": "no"})
    app = build(settings)
    try:
        assert app.settings is settings
        assert app.clock() == datetime(2026, 11, 30, 0, 0, tzinfo=timezone.utc)  # TRECKK_NOW freezes the clock
        commands = app.commands
        assert (commands.db, commands.clock, commands.home) == (app.database, app.clock, ROOT)
        assert commands.routing == Routing(("webhook", "file"), frozenset({"file", "webhook"}))
        assert (commands.base_url, commands.delivery.max_attempts) == ("https://treckk.example", 3)
        assert app.queries.engine is commands
        assert app.database.url == f"sqlite:///{tmp_path / 't.db'}"
        assert app.database.prepared is False and observed(app.database.engine.connect())
        with app.channels() as channels:
            assert sorted(channels) == ["file", "webhook"]
            assert channels.how_to_configure("smtp") == "set TRECKK_SMTP_HOST"
            assert channels.how_to_configure("fax") == "known channels are file, smtp, webhook, whatsapp"
        assert isinstance(build(Settings.from_environment({"TRECKK_SMTP_HOST": "mail"})).channels().get("smtp"),
                          SmtpChannel)
    finally:
        app.close()
    assert build(Settings.from_environment({})).clock is not app.clock  # the real clock, when not frozen


def test_the_command_line_routes_and_delivers_as_the_settings_say(engine: Commands, cli: Callable[..., CliResult],
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("TRECKK_CHANNELS", "webhook,smtp,file")
    monkeypatch.setenv("TRECKK_WEBHOOK_URL", "http://127.0.0.1:9/send")  # routed to, but not reachable
    monkeypatch.setenv("TRECKK_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("TRECKK_SMTP_HOST", "127.0.0.1")
    values = [f"--set={k}={v}" for k, v in COMPLAINT.items() if k != "nomor_pelapor"]
    by_phone = cli("submit", "--as", "admin", "--json", *[f"--set={k}={v}" for k, v in COMPLAINT.items()])
    by_mail = cli("submit", "--as", "admin", "--json", *values, "--set", "email_pelapor=budi@contoh.id")
    assert (by_phone.code, by_mail.code) == (0, 0), by_phone.err + by_mail.err
    receipts = {row.case_number: (row.channel, row.address) for row in
                engine.db.transaction(lambda c: notice_rows.list_notices(c)) if row.recipient_kind == "pelapor"}
    assert receipts == {json.loads(by_phone.out)["number"]: ("webhook", "+6281255550101"),
                        json.loads(by_mail.out)["number"]: ("smtp", "budi@contoh.id")}
    monkeypatch.delenv("TRECKK_SMTP_HOST")  # a runner configured without e-mail
    delivered = cli("deliver", "--json")
    assert delivered.code == 0
    errors = {row.channel: row.last_error for row in engine.db.transaction(lambda c: notice_rows.list_notices(c))}
    assert errors["smtp"] is not None and errors["smtp"].endswith(
        "channel 'smtp' is not configured in this process (set TRECKK_SMTP_HOST)")


def test_with_prepared_off_the_command_line_runs_a_case_through_sqlalchemy_only(
        engine: Commands, cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.store import prepared

    def refused(*_args: Any) -> Any:
        raise AssertionError("a statement went straight to the driver")

    monkeypatch.setenv("TRECKK_PREPARED", "no")
    monkeypatch.setattr(prepared, "_cursor", refused)
    submitted = cli("submit", "--as", "admin", "--json", *[f"--set={k}={v}" for k, v in COMPLAINT.items()])
    assert submitted.code == 0, submitted.err
    number = json.loads(submitted.out)["number"]
    for trigger, actor, *values in (("teruskan", "admin"), ("tugaskan", "kabid", "--set", "instruksi=Tertibkan"),
                                    ("mulai_tangani", "tim_paringin")):
        moved = cli("advance", number, trigger, "--as", actor, *values)
        assert moved.code == 0, moved.err
    shown = json.loads(cli("show", number, "--as", "kabid", "--json").out)
    assert (shown["state"], shown["version"]) == ("ditangani", 4)
    assert cli("verify").code == 0
    assert cli("escalate", "--json").code == 0


def test_the_resident_plan_names_a_folder_of_the_user_s_runtime_and_yields_to_no() -> None:
    uid = os.getuid()
    assert resident_plan({"XDG_RUNTIME_DIR": "/run/user/7", "A": "b"}) == (
        {"XDG_RUNTIME_DIR": "/run/user/7", "A": "b"}, Path("/run/user/7/treckk"))
    assert resident_plan({"XDG_RUNTIME_DIR": "relative", "TMPDIR": "/var/tmp"}) == (
        {"XDG_RUNTIME_DIR": "relative", "TMPDIR": "/var/tmp"}, Path(f"/var/tmp/treckk-{uid}"))
    assert resident_plan({})[1] == Path(f"/tmp/treckk-{uid}")  # type: ignore[index]
    assert resident_plan({"TRECKK_RESIDENT": " Ya "}) is not None
    for off in ("no", "off", "tidak", "0", "kadang"):  # "kadang" is refused by the command's own settings
        assert resident_plan({"TRECKK_RESIDENT": off}) is None
    assert Settings.from_environment({}).resident is True
    assert Settings.from_environment({"TRECKK_RESIDENT": "no"}).resident is False
