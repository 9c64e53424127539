"""Logging in and out of the web app: the form, the session cookie, CSRF, the placeholder home page."""

from __future__ import annotations

from tests.web.conftest import PASSWORDS, Web, csrf_of


def test_the_login_form_has_username_and_password_fields_and_a_csrf_token(web: Web) -> None:
    page = web.client().get("/login")
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert csrf_of(page.text)
    assert '<html lang="id">' in page.text and 'name="viewport"' in page.text


def test_a_page_without_a_session_redirects_to_the_login(web: Web) -> None:
    answer = web.client().get("/")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_logging_in_shows_the_member_and_logging_out_ends_the_session(web: Web) -> None:
    client = web.login("rina")
    home = client.get("/")
    assert home.status_code == 200 and "Rina Marlina" in home.text
    out = client.post("/logout", data={"csrf_token": csrf_of(home.text)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/").status_code == 303


def test_a_wrong_password_is_refused_with_one_message(web: Web) -> None:
    client = web.client()
    page = client.get("/login")
    answer = client.post("/login", data={"username": "rina", "password": "wrong-password",
                                         "csrf_token": csrf_of(page.text)})
    assert answer.status_code == 401 and "Nama pengguna atau kata sandi salah." in answer.text
    assert PASSWORDS["rina"] not in answer.text
    unknown = client.post("/login", data={"username": "nobody", "password": "wrong-password",
                                          "csrf_token": csrf_of(page.text)})
    assert unknown.status_code == 401 and "Nama pengguna atau kata sandi salah." in unknown.text


def test_static_htmx_is_served_with_its_licence(web: Web) -> None:
    client = web.client()
    script = client.get("/static/htmx.min.js")
    assert script.status_code == 200 and "htmx" in script.text
    assert "Zero-Clause BSD" in client.get("/static/htmx.LICENSE.txt").text
