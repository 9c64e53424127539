"""The web app's commands: ``treckk token``, ``treckk staff passwd`` and ``logins``, ``treckk web``
without a key, and ``treckk serve --web`` / ``treckk demo --web`` as real processes."""

from __future__ import annotations

import io
import json
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from engine.app.commands import Commands
from engine.app.credentials import demo_password
from tests.conftest import ROOT, CliResult, FakeClock
from tests.test_escalation import treckk_process
from tests.test_serve_process import stderr_lines, wait_for_line
from tests.web.conftest import SECRET, csrf_of

Cli = Callable[..., CliResult]


def test_token_create_prints_the_token_once_and_its_id_list_and_revoke(engine: Commands, cli: Cli) -> None:
    made = cli("token", "create", "kabid", "--name", "dasbor kantor")
    assert made.code == 0, made.err
    token, note = made.out.splitlines()
    assert token.startswith("trk_") and "token 1 untuk kabid" in note
    listed = cli("token", "list")
    assert listed.code == 0 and "dasbor kantor" in listed.out and token not in listed.out
    as_json = json.loads(cli("token", "list", "--json").out)
    assert [(t["id"], t["username"], t["revoked_at"]) for t in as_json] == [(1, "kabid", None)]
    assert cli("token", "revoke", "1").code == 0
    assert json.loads(cli("token", "list", "--json").out)[0]["revoked_at"] is not None
    missing = cli("token", "revoke", "99")
    assert missing.code == 6 and "token 99 not found" in missing.err
    assert cli("token", "create", "nobody").code == 6


def test_staff_passwd_reads_standard_input_when_it_is_not_a_terminal(
        engine: Commands, cli: Cli, monkeypatch: pytest.MonkeyPatch, application: object) -> None:
    from engine.app.assembly import Application

    assert isinstance(application, Application)
    monkeypatch.setattr(sys, "stdin", io.StringIO("kata-sandi-rahasia\n"))
    done = cli("staff", "passwd", "kabid")
    assert done.code == 0 and "kata sandi kabid disimpan" in done.out
    assert application.credentials.login("kabid", "kata-sandi-rahasia", "127.0.0.1").username == "kabid"
    monkeypatch.setattr(sys, "stdin", io.StringIO("pendek\n"))
    short = cli("staff", "passwd", "kabid")
    assert short.code == 2 and "at least 10 characters" in short.err
    monkeypatch.setattr(sys, "stdin", io.StringIO("kata-sandi-rahasia\n"))
    assert cli("staff", "passwd", "nobody").code == 6


def test_staff_logins_shows_the_login_record(engine: Commands, cli: Cli, application: object) -> None:
    from engine.app.assembly import Application
    from engine.app.credentials import LoginFailed

    assert isinstance(application, Application)
    application.credentials.set_password("admin", "kata-sandi-admin")
    application.credentials.login("admin", "kata-sandi-admin", "10.0.0.7")
    with pytest.raises(LoginFailed):
        application.credentials.login("admin", "salah-salah-salah", "10.0.0.8")
    rows = json.loads(cli("staff", "logins", "admin", "--json").out)
    assert [(r["outcome"], r["address"]) for r in rows] == [("wrong_password", "10.0.0.8"), ("ok", "10.0.0.7")]
    text = cli("staff", "logins").out
    assert "wrong_password" in text and "10.0.0.7" in text


def test_web_without_a_secret_key_says_how_to_make_one(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRECKK_SECRET_KEY", raising=False)
    refused = cli("web", "--port", "8000")
    assert refused.code == 2
    assert "TRECKK_SECRET_KEY" in refused.err and "secrets.token_urlsafe(32)" in refused.err
    assert cli("web", "--port", "0").code == 2


def test_web_on_a_port_in_use_says_so_in_one_line(engine: Commands, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRECKK_SECRET_KEY", SECRET)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        refused = cli("web", "--port", str(port))
    finally:
        taken.close()
    assert refused.code == 7
    assert f"127.0.0.1:{port}" in refused.err and "--port" in refused.err
    assert len(refused.err.strip().splitlines()) == 1 and "Traceback" not in refused.err


def output_lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's standard output line by line, read by a thread (the demo prints its logins there)."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _login(base: str, username: str, password: str) -> int:
    with httpx.Client(base_url=base, timeout=30) as client:
        token = csrf_of(client.get("/login").text)
        return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                           follow_redirects=False).status_code


@pytest.mark.slow
def test_serve_web_runs_the_scheduler_and_the_web_app_in_one_process(
        engine: Commands, clock: FakeClock, database_url: str, application: object) -> None:
    from engine.app.assembly import Application

    assert isinstance(application, Application)
    application.credentials.set_password("kabid", "kata-sandi-kabid")
    port = _free_port()
    process = treckk_process(["serve", "--web", "--port", str(port)], database_url, clock.now,
                             {"TRECKK_SECRET_KEY": SECRET})
    try:
        lines = stderr_lines(process)
        wait_for_line(lines, "TRECKK web berjalan")
        assert _login(f"http://127.0.0.1:{port}", "kabid", "kata-sandi-kabid") == 303
        wait_for_line(lines, "serving: escalation scan")
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code == 0


@pytest.mark.slow
def test_demo_web_plays_the_story_prints_the_demo_logins_and_serves_them(tmp_path: Path) -> None:
    import os

    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TZ": "Asia/Makassar"}
    for name in ("TRECKK_SECRET_KEY", "TRECKK_DATABASE_URL", "TRECKK_NOW", "TRECKK_CHANNELS"):
        env.pop(name, None)
    process = subprocess.Popen([sys.executable, str(ROOT / "runner.py"), "demo", "--web", "--port", str(port),
                                "--keep", str(tmp_path / "demo")], env=env, cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        lines = output_lines(process)
        printed = "".join(wait_for_line(lines, "Ctrl+C"))
        assert f"rina             {demo_password('rina')}" in printed
        assert f"tim_paringin     {demo_password('tim_paringin')}" in printed
        assert _login(f"http://127.0.0.1:{port}", "rina", demo_password("rina")) == 303
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    assert code == 0

