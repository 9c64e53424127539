"""Real Chromium (Debian's ``chromium``) driven by Playwright, against the real app on loopback.

Without Chromium or Playwright the browser tests are skipped with the reason — except in CI
(``CI=true``), where they fail, so CI never passes by skipping them (``.ci/run`` installs both).
Screenshots of every page are kept under ``test-artifacts/browser/`` (gitignored) to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, ROOT

CHROMIUM = Path(os.environ.get("TRECKK_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
WIDTHS = {"phone": 360, "desk": 1280}


def _browser_problem() -> str | None:
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium chromium-driver)"
    try:
        import playwright.sync_api  # noqa: F401
        import axe_playwright_python  # noqa: F401
    except ImportError as exc:
        return f"Playwright or axe-playwright-python is not installed ({exc}); pip install -e '.[test]'"
    return None


def require_browser() -> None:
    problem = _browser_problem()
    if problem:
        if IN_CI:
            pytest.fail(f"CI must run the browser tests: {problem}")
        pytest.skip(problem)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session (Playwright gives each launch a fresh, temporary profile)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Shots:
    """Screenshots of one test, numbered in the order taken, under ``test-artifacts/browser/<test>/``."""

    def __init__(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.folder = folder
        self.count = 0

    def take(self, page: Any, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in request.node.name)
    return Shots(ARTIFACTS / safe)


def axe_problems(page: Any) -> list[str]:
    """The serious and critical accessibility violations axe-core finds on the page, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]


class Site:
    """The app served on a loopback port, and how a person logs in to it in a browser."""

    def __init__(self, url: str, application: Any) -> None:
        self.url = url
        self.application = application

    def login(self, page: Any, username: str) -> None:
        from tests.web.conftest import PASSWORDS

        page.goto(self.url + "/login")
        page.get_by_label("Nama pengguna").fill(username)
        page.get_by_label("Kata sandi").fill(PASSWORDS[username])
        page.get_by_role("button", name="Masuk").click()
        page.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The web app (``tests/web/conftest.py``'s seeded application) on a loopback port, on SQLite only:
    the browser drives pages, the backends are covered by the HTTP tests."""
    require_browser()
    from engine.adapters.web.app import create_app
    from engine.adapters.web.server import start_in_thread
    from tests.conftest import FakeClock
    from tests.web.conftest import seeded_application

    application = seeded_application(f"sqlite:///{tmp_path / 'treckk.db'}", FakeClock(), tmp_path)
    server = start_in_thread(create_app(application))
    try:
        yield Site(server.url, application)
    finally:
        server.stop()
        application.close()
