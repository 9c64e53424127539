"""The doors of the web app: CSRF, the session cookie's flags, lockout with back-off, the idle
timeout, the login record, bearer tokens, and the secret key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from engine.adapters.web.app import create_app
from engine.app.credentials import LockoutPolicy
from engine.errors import InvalidInput
from tests.web.conftest import PASSWORDS, Web, csrf_of


def _outcomes(web: Web, username: str | None = None) -> list[str]:
    return [row["outcome"] for row in reversed(web.application.credentials.login_records(username))]


def _try_login(web: Web, username: str, password: str, **client_options: object) -> int:
    client = web.client(**client_options)  # type: ignore[arg-type]
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token}).status_code


# -- CSRF ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("token", [None, "", "not-the-sessions-token"])
def test_a_login_without_the_sessions_csrf_token_is_refused_and_not_recorded(web: Web, token: str | None) -> None:
    client = web.client()
    client.get("/login")
    form = {"username": "rina", "password": PASSWORDS["rina"], **({"csrf_token": token} if token is not None else {})}
    answer = client.post("/login", data=form)
    assert answer.status_code == 403 and "token keamanan" in answer.text
    assert _outcomes(web) == []
    assert client.get("/").status_code == 303  # still not logged in


@pytest.mark.parametrize("token", [None, "wrong"])
def test_a_logout_without_the_csrf_token_is_refused_and_the_session_lives_on(web: Web, token: str | None) -> None:
    client = web.login("ahmad")
    answer = client.post("/logout", data={"csrf_token": token} if token is not None else {})
    assert answer.status_code == 403
    assert _outcomes(web, "ahmad") == ["ok"]
    assert client.get("/").status_code == 200


def test_a_csrf_token_of_another_session_is_refused(web: Web) -> None:
    mine, theirs = web.login("rina"), web.login("ahmad")
    answer = mine.post("/logout", data={"csrf_token": web.csrf(theirs)})
    assert answer.status_code == 403 and mine.get("/").status_code == 200


def test_the_csrf_header_is_accepted_for_htmx_requests(web: Web) -> None:
    client = web.login("rina")
    answer = client.post("/logout", headers={"X-CSRF-Token": web.csrf(client), "HX-Request": "true"})
    assert answer.status_code == 303 and client.get("/").status_code == 303


# -- the cookie ------------------------------------------------------------------------------------
def _cookie_flags(set_cookie: str) -> set[str]:
    return {part.strip().lower() for part in set_cookie.split(";")[1:]}


def test_the_session_cookie_is_httponly_and_samesite_lax_and_not_secure_on_http(web: Web) -> None:
    flags = _cookie_flags(web.client().get("/login").headers["set-cookie"])
    assert {"httponly", "samesite=lax"} <= flags and "secure" not in flags


def test_the_session_cookie_is_secure_when_the_base_url_is_https(web_factory: Callable[..., Web]) -> None:
    web = web_factory(base_url="https://treckk.balangankab.go.id")
    flags = _cookie_flags(web.client().get("/login").headers["set-cookie"])
    assert {"httponly", "samesite=lax", "secure"} <= flags


def test_the_session_cookie_holds_no_name_and_no_password(web: Web) -> None:
    import base64

    client = web.login("rina")
    value = client.cookies["treckk_session"].split(".")[0]
    decoded = base64.b64decode(value + "=" * (-len(value) % 4)).decode()
    assert set(__import__("json").loads(decoded)) == {"uid", "login", "csrf", "seen"}
    assert "rina" not in decoded and PASSWORDS["rina"] not in decoded


def test_a_tampered_session_cookie_is_no_session(web: Web) -> None:
    client = web.login("rina")
    value = client.cookies["treckk_session"]
    client.cookies.clear()
    client.cookies.set("treckk_session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert client.get("/").status_code == 303


# -- lockout ---------------------------------------------------------------------------------------
def test_five_failures_lock_the_user_out_even_with_the_right_password_and_back_off_doubles(web: Web) -> None:
    policy = LockoutPolicy()
    for _ in range(policy.user_threshold):
        assert _try_login(web, "ahmad", "wrong-password") == 401
    assert _try_login(web, "ahmad", PASSWORDS["ahmad"]) == 429
    client = web.client()
    page = client.post("/login", data={"username": "ahmad", "password": PASSWORDS["ahmad"],
                                       "csrf_token": csrf_of(client.get("/login").text)})
    assert page.status_code == 429 and "Coba lagi setelah" in page.text and "WITA" in page.text
    web.clock.advance(seconds=policy.base.total_seconds() + 1)
    assert _try_login(web, "ahmad", "wrong-password") == 401  # the sixth failure: now two minutes
    web.clock.advance(seconds=policy.base.total_seconds() + 1)
    assert _try_login(web, "ahmad", PASSWORDS["ahmad"]) == 429
    web.clock.advance(seconds=policy.base.total_seconds())
    assert _try_login(web, "ahmad", PASSWORDS["ahmad"]) == 303
    assert _try_login(web, "ahmad", "wrong-password") == 401  # a success starts the count again
    assert _outcomes(web, "ahmad") == ["wrong_password"] * 5 + ["locked", "locked", "wrong_password", "locked", "ok",
                                                               "wrong_password"]
    # Another member is not locked by ahmad's failures.
    assert _try_login(web, "rina", PASSWORDS["rina"]) == 303


def test_many_failures_from_one_address_lock_the_address_whatever_names_it_tries(web: Web) -> None:
    policy = LockoutPolicy()
    for attempt in range(policy.address_threshold):
        assert _try_login(web, f"guess{attempt}", "wrong-password") == 401
    assert _try_login(web, "rina", PASSWORDS["rina"]) == 429
    assert _outcomes(web, "rina") == ["locked"]
    web.clock.advance(seconds=policy.base.total_seconds() + 1)
    assert _try_login(web, "rina", PASSWORDS["rina"]) == 303


def test_a_disabled_member_cannot_log_in_and_a_live_session_ends(web: Web) -> None:
    client = web.login("tim_paringin")
    web.application.commands.disable_staff("tim_paringin")
    assert client.get("/").status_code == 303
    assert _try_login(web, "tim_paringin", PASSWORDS["tim_paringin"]) == 401
    assert _outcomes(web, "tim_paringin") == ["ok", "disabled"]


def test_after_logout_a_copy_of_the_session_cookie_opens_nothing(web: Web) -> None:
    # The cookie is signed data, not a server-side session: a copy taken before the logout (another
    # tab, a shared PC's browser, a thief) must stop working when its member logs out.
    client = web.login("ahmad")
    copied = client.cookies["treckk_session"]
    assert client.post("/logout", data={"csrf_token": web.csrf(client)}).status_code == 303
    replay = web.client("ahmad")
    replay.cookies.set("treckk_session", copied)
    answer = replay.get("/kotak-masuk")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    again = web.login("ahmad")  # a new login after the logout works, at the same instant too
    assert again.get("/kotak-masuk").status_code == 200


# -- the idle timeout --------------------------------------------------------------------------------
def test_a_session_unused_for_the_idle_time_must_log_in_again(web: Web) -> None:
    idle = web.application.settings.session_idle
    client = web.login("rina")
    web.clock.advance(seconds=idle.total_seconds() - 60)
    assert client.get("/").status_code == 200  # used: the idle time starts again
    web.clock.advance(seconds=idle.total_seconds() - 60)
    assert client.get("/").status_code == 200
    web.clock.advance(seconds=idle.total_seconds())
    answer = client.get("/")
    assert answer.status_code == 303 and answer.headers["location"] == "/login?alasan=idle"
    assert "lama tidak digunakan" in client.get(answer.headers["location"]).text
    assert client.get("/").status_code == 303


def test_a_page_asked_for_without_a_session_comes_back_after_the_login(web: Web) -> None:
    client = web.client()
    answer = client.get("/?tab=terlambat")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2F%3Ftab%3Dterlambat"
    page = client.get(answer.headers["location"])
    assert 'name="next" value="/?tab=terlambat"' in page.text
    done = client.post("/login", data={"username": "rina", "password": PASSWORDS["rina"],
                                       "next": "/?tab=terlambat", "csrf_token": csrf_of(page.text)})
    assert done.headers["location"] == "/?tab=terlambat"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"])
def test_the_login_never_sends_anyone_to_another_site(web: Web, target: str) -> None:
    client = web.client()
    page = client.get("/login")
    done = client.post("/login", data={"username": "rina", "password": PASSWORDS["rina"], "next": target,
                                       "csrf_token": csrf_of(page.text)})
    assert done.status_code == 303 and done.headers["location"] == "/"


def test_an_htmx_request_without_a_session_is_told_where_to_log_in(web: Web) -> None:
    answer = web.client().get("/", headers={"HX-Request": "true"})
    assert answer.status_code == 401 and answer.headers["hx-redirect"] == "/login"


# -- the record --------------------------------------------------------------------------------------
def test_each_login_failure_and_logout_is_recorded_with_time_and_address(web: Web) -> None:
    _try_login(web, "rina", "wrong-password")
    client = web.login("rina")
    client.post("/logout", data={"csrf_token": web.csrf(client)})
    rows = list(reversed(web.application.credentials.login_records("rina")))
    assert [row["outcome"] for row in rows] == ["wrong_password", "ok", "logout"]
    assert {row["address"] for row in rows} == {"127.0.0.1"}
    assert rows[0]["at"] == web.clock().isoformat()


# -- headers -------------------------------------------------------------------------------------------
def test_every_answer_carries_the_headers_that_stop_sniffing_framing_and_foreign_scripts(web: Web) -> None:
    for path in ("/login", "/static/htmx.min.js", "/api/v1/inbox", "/no-such-page"):
        headers = web.client().get(path).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY", path
        assert "script-src 'self'" in headers["content-security-policy"], path


# -- tokens ------------------------------------------------------------------------------------------
def test_a_revoked_token_is_401_and_a_live_one_works(web: Web) -> None:
    credentials = web.application.credentials
    token_id, token = credentials.create_token("ahmad", "laporan harian")
    client = web.client("ahmad", headers={"Authorization": f"Bearer {token}"})
    assert client.get("/api/v1/inbox").status_code == 200
    credentials.revoke_token(token_id)
    answer = client.get("/api/v1/inbox")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer trk_made-up", "Basic cmluYTpyaW5h", "bearer x"])
def test_an_api_request_without_a_live_token_is_401(web: Web, header: str | None) -> None:
    answer = web.client().get("/api/v1/cases", headers={"Authorization": header} if header else {})
    assert answer.status_code == 401 and answer.json()["status"] == 401


def test_a_session_cookie_does_not_open_the_api(web: Web) -> None:
    client = web.login("rina")
    assert client.get("/api/v1/inbox").status_code == 401


def test_tokens_are_stored_as_digests_only(web: Web) -> None:
    from sqlalchemy import select

    from engine.store.schema import api_tokens

    _, token = web.application.credentials.create_token("rina")
    with web.application.database.begin() as connection:
        stored = [tuple(row) for row in connection.execute(select(api_tokens))]
    assert stored and not any(token in str(value) for row in stored for value in row)
    assert not any(token[len("trk_"):] in str(value) for row in stored for value in row)


def test_a_token_of_a_disabled_member_is_401(web: Web) -> None:
    client = web.api("kasat")
    web.application.commands.disable_staff("kasat")
    assert client.get("/api/v1/inbox").status_code == 401


# -- the secret key ----------------------------------------------------------------------------------
def test_the_web_app_refuses_to_start_without_a_secret_key_except_in_the_demo(web: Web) -> None:
    from dataclasses import replace

    settings = replace(web.application.settings, secret_key="")
    with pytest.raises(InvalidInput, match=r"TRECKK_SECRET_KEY.*secrets\.token_urlsafe\(32\)"):
        create_app(web.application, settings)
    assert create_app(web.application, settings, demo=True) is not None


def test_a_short_secret_key_is_refused_naming_the_variable() -> None:
    from engine.app.settings import Settings

    with pytest.raises(InvalidInput, match="TRECKK_SECRET_KEY is too short"):
        Settings.from_environment({"TRECKK_SECRET_KEY": "kunci"})
    assert Settings.from_environment({"TRECKK_SESSION_IDLE_MINUTES": "5"}).session_idle == timedelta(minutes=5)


# -- search is no personal-data oracle ---------------------------------------------------------------
def test_the_inbox_search_does_not_match_personal_data_for_a_role_that_may_not_see_it(web: Web) -> None:
    # The Paringin team sees the complainant's name masked; if a search for the name still found
    # the case, the team could learn the name (or confirm a phone number) one guess at a time.
    commands = web.application.commands
    case = commands.submit("rina", {"kanal": "whatsapp", "uraian": "Lapak pedagang menutup trotoar depan pasar.",
                                    "nama_pelapor": "Zubaidah Rahmawati", "nomor_pelapor": "081377712345",
                                    "email_pelapor": "zubaidah@contoh.id",
                                    "kategori": "pkl_tempat_usaha", "kecamatan": "paringin", "lokasi": "Pasar"})
    commands.advance(case.number, "teruskan", "rina")
    commands.advance(case.number, "minta_verifikasi", "ahmad")
    team = web.login("tim_paringin")

    def found(client: object, text: str) -> bool:
        answer = client.get("/kotak-masuk", params={"cari": text})  # type: ignore[attr-defined]
        assert answer.status_code == 200
        return f"/kasus/{case.number}" in answer.text

    assert found(team, "trotoar") and found(team, case.number[-4:])  # the case's own words still match
    for private in ("Zubaidah", "Rahmawati", "81377712345", "zubaidah@contoh"):
        assert not found(team, private), private
    assert not found(team, "nama_pelapor")  # nor the names of the stored fields

