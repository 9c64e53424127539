"""The web app under test: the real app on uvicorn on a free loopback port, on a fresh database.

Each test that asks for ``web`` gets a server of its own (SQLite, and PostgreSQL when
``TRECKK_TEST_POSTGRES_URL`` is set, through ``database_url``), with the shipped definition
deployed, the demo story's staff (``DEMO_STAFF``) holding their demo passwords, the injected
``clock`` (``tests.conftest.FakeClock``: move it, never sleep), an httpx client per caller, and
``login(username)`` giving a client with a live session. Passwords are hashed with argon2id at a
low cost here so each test does not spend a second on hashing; the cost itself is argon2-cffi's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from engine.adapters.web.app import create_app
from engine.adapters.web.server import RunningServer, start_in_thread
from engine.app.assembly import Application, build
from engine.app.credentials import demo_password
from engine.app.scenario import StaffSpec, load_scenario
from engine.app.settings import Settings
from engine.store.migrations import upgrade
from engine.store.schema import cases, events
from tests.conftest import ROOT, FakeClock

SECRET = "test-secret-key-0123456789-abcdefghijklmnop"
DEMO_STORY = ROOT / "workflows" / "scenarios" / "treckk-demo.yaml"
DEMO_STAFF: tuple[StaffSpec, ...] = load_scenario(DEMO_STORY).staff
"""The demo story's staff: rina (admin_lalisa), ahmad (kabid_trantibum), kasat, dewi, tim_paringin, tim_halong."""
PASSWORDS = {member.username: demo_password(member.username) for member in DEMO_STAFF}
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token a page carries (its meta tag, else a form's hidden field)."""
    found = _CSRF_META.search(html) or _CSRF_FIELD.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


@dataclass
class Web:
    """A running web app and what a test needs to talk to it."""

    application: Application
    server: RunningServer
    clock: FakeClock
    clients: list[httpx.Client] = field(default_factory=list)
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    """(username, request, response body) of every answer to a logged-in or token-carrying client."""

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, as_user: str | None = None, **options: Any) -> httpx.Client:
        """A fresh client (its own cookie jar) that does not follow redirects; ``as_user``'s answers are kept
        for the personal-data check."""
        hooks = {"response": [self._keeper(as_user)]} if as_user else {}
        made = httpx.Client(base_url=self.url, follow_redirects=False, timeout=30, event_hooks=hooks, **options)
        self.clients.append(made)
        return made

    def _keeper(self, username: str) -> Callable[[httpx.Response], None]:
        def keep(response: httpx.Response) -> None:
            response.read()
            self.seen.append((username, f"{response.request.method} {response.request.url.path}", response.text))

        return keep

    def login(self, username: str, password: str | None = None) -> httpx.Client:
        """A client logged in as ``username`` (with the demo password unless one is given)."""
        client = self.client(username)
        page = client.get("/login")
        answer = client.post("/login", data={"username": username, "password": password or PASSWORDS[username],
                                             "csrf_token": csrf_of(page.text)})
        assert answer.status_code == 303, f"login as {username} failed: {answer.status_code} {answer.text[:200]}"
        return client

    def csrf(self, client: httpx.Client, path: str = "/") -> str:
        """The CSRF token of ``client``'s session, read from a page."""
        return csrf_of(client.get(path).text)

    def token(self, username: str) -> dict[str, str]:
        """Headers carrying a new bearer token of ``username``."""
        _, token = self.application.credentials.create_token(username, "test")
        return {"Authorization": f"Bearer {token}"}

    def api(self, username: str) -> httpx.Client:
        """A client sending ``username``'s bearer token."""
        return self.client(username, headers=self.token(username))

    def assert_no_personal_data_leaked(self) -> None:
        """No answer to a member whose roles may not see personal data held any case's personal data."""
        definition = self.application.queries.deployed()[0]
        blind = {member.username for member in DEMO_STAFF
                 if not any(definition.roles.roles[role].sees_pii for role in member.roles)}
        values = personal_values(self.application)
        leaks = [(username, request, value) for username, request, body in self.seen if username in blind
                 for value in values if value in body]
        assert leaks == [], f"personal data shown to members without sees_pii: {leaks[:5]}"

    def close(self) -> None:
        for client in self.clients:
            client.close()


def personal_values(application: Application) -> set[str]:
    """Every personal-data value held by any case or event (and the digits of phone numbers)."""
    definition = application.queries.deployed()[0]
    private = [name for name, spec in definition.fields.items() if spec.pii]
    values: set[str] = set()
    with application.database.begin() as connection:
        for data, in connection.execute(select(cases.c.data)):
            values.update(str(data[name]) for name in private if data.get(name))
        for given, in connection.execute(select(events.c.input)):
            values.update(str(given[name]) for name in private if given.get(name))
    values |= {re.sub(r"\D", "", value) for value in values if sum(c.isdigit() for c in value) >= 8}
    return {value for value in values if len(value) >= 4}


def app_environment(database_url: str, tmp_path: Path, *, base_url: str = "http://127.0.0.1",
                     extra: dict[str, str] | None = None) -> dict[str, str]:
    """The settings a test application runs with (``extra`` adds or overrides some)."""
    return {"TRECKK_HOME": str(ROOT), "TRECKK_DATABASE_URL": database_url,
            "TRECKK_OUTBOX_DIR": str(tmp_path / "outbox"), "TRECKK_SECRET_KEY": SECRET,
            "TRECKK_ATTACHMENT_DIR": str(tmp_path / "attachments"), "TRECKK_BASE_URL": base_url, **(extra or {})}


def seeded_application(database_url: str, clock: FakeClock, tmp_path: Path, *,
                       base_url: str = "http://127.0.0.1", extra: dict[str, str] | None = None) -> Application:
    """The application on a fresh database: shipped definition, demo staff with their demo passwords
    (``extra``: more settings, e.g. a channel's)."""
    settings = Settings.from_environment(app_environment(database_url, tmp_path, base_url=base_url, extra=extra))
    application = build(settings, clock=clock)
    upgrade(application.database)
    application.credentials.hasher = CHEAP_HASHER
    commands = application.commands
    commands.deploy(ROOT / "workflows" / "treckk.yaml", None)
    for member in DEMO_STAFF:
        commands.add_staff(member.username, member.name, member.roles, member.scope, member.phone, member.email)
        application.credentials.set_password(member.username, PASSWORDS[member.username])
    return application


@pytest.fixture
def web_factory(database_url: str, clock: FakeClock, tmp_path: Path) -> Iterator[Callable[..., Web]]:
    """Starts a web app (``base_url`` decides the Secure flag); each is stopped after the test."""
    started: list[Web] = []

    def start(*, base_url: str = "http://127.0.0.1") -> Web:
        application = seeded_application(database_url, clock, tmp_path / f"app{len(started)}", base_url=base_url)
        web = Web(application, start_in_thread(create_app(application)), clock)
        started.append(web)
        return web

    yield start
    try:
        for web in started:
            web.assert_no_personal_data_leaked()
    finally:
        for web in started:
            web.close()
            web.server.stop()
            web.application.close()


@pytest.fixture
def web(web_factory: Callable[..., Web]) -> Web:
    """The web app on a fresh database, on plain http."""
    return web_factory()
