"""The outbox page (``/kotak-keluar``) over HTTP on the real server, SQLite and PostgreSQL.

Notices listed newest first by status, channel and recipient, keyset-paged; a failed notice shows
its last error and is retried (by an administrator only; recorded with who did it); a pending one
shows when it is tried next; each member sees only what the rules for reading notices let them
(their own notices and those of the cases they may see, personal data masked).
"""

from __future__ import annotations

import re

from engine.channels.base import ChannelSet
from engine.notices.policy import DeliveryPolicy
from tests.conftest import COMPLAINT
from tests.web.conftest import Web, csrf_of


def ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'id="kiriman-(\d+)"', html)]


def fail_everything(web: Web, attempts: int = 1) -> None:
    """Deliver with no channel configured: every attempt fails; ``attempts`` 1 gives up at once."""
    web.application.commands.deliver(channels=ChannelSet({}), policy=DeliveryPolicy(max_attempts=attempts))


def test_a_failed_notice_shows_its_error_and_an_administrator_retries_it(web: Web) -> None:
    commands = web.application.commands
    number = commands.submit("rina", {**COMPLAINT, "email_pelapor": "budi@contoh.id"}).number
    fail_everything(web)
    admin = web.login("dewi")
    page = admin.get("/kotak-keluar?status=failed")
    assert page.status_code == 200
    failed = ids(page.text)
    assert failed and "Galat terakhir" in page.text and number in page.text
    target = failed[0]
    assert f'action="/kotak-keluar/{target}/ulang"' in page.text
    done = admin.post(f"/kotak-keluar/{target}/ulang", data={"csrf_token": csrf_of(page.text)})
    assert done.status_code == 303 and done.headers["location"] == f"/kotak-keluar?diulang={target}"
    shown = admin.get(done.headers["location"]).text
    assert f"Kiriman #{target} dijadwalkan ulang" in shown
    assert target not in ids(admin.get("/kotak-keluar?status=failed").text)
    pending = admin.get("/kotak-keluar?status=pending").text
    assert target in ids(pending) and "dicoba berikutnya" in pending
    audit = admin.get("/admin/audit?jenis=kiriman").text
    assert 'class="aksi-label">Kiriman diulang<' in audit and "oleh <b>dewi</b>" in audit
    # Delivery now goes through, and the page says so.
    report = commands.deliver()
    assert report.sent >= 1
    assert target in ids(admin.get("/kotak-keluar?status=sent").text)
    # A notice already sent is not retried (409, a message, nothing changed).
    sent = admin.post(f"/kotak-keluar/{target}/ulang", data={"csrf_token": csrf_of(pending)})
    assert sent.status_code == 409 and "tidak dapat diulang" in sent.text


def test_a_pending_notice_shows_when_it_is_tried_next(web: Web) -> None:
    web.application.commands.submit("rina", COMPLAINT)
    fail_everything(web, attempts=5)
    page = web.login("ahmad").get("/kotak-keluar?status=pending").text
    assert ids(page) and "dicoba berikutnya" in page and "percobaan 1" in page and "Galat terakhir" in page


def test_who_sees_which_notices_and_who_may_retry(web: Web) -> None:
    commands = web.application.commands
    paringin = commands.submit("rina", COMPLAINT).number
    commands.advance(paringin, "teruskan", "rina")
    commands.advance(paringin, "minta_verifikasi", "ahmad", {"instruksi": "cek"})
    halong = commands.submit("rina", {**COMPLAINT, "kecamatan": "halong"}).number
    commands.advance(halong, "teruskan", "rina")
    commands.advance(halong, "minta_verifikasi", "ahmad", {"instruksi": "cek"})
    fail_everything(web)
    everything = ids(web.login("ahmad").get("/kotak-keluar").text)
    team = web.login("tim_paringin")
    page = team.get("/kotak-keluar").text
    mine = ids(page)
    assert mine and set(mine) < set(everything)
    assert paringin in page and halong not in page
    assert "Kirim ulang" not in page  # no button, and no permission either:
    answer = team.post(f"/kotak-keluar/{mine[0]}/ulang", data={"csrf_token": csrf_of(page)})
    assert answer.status_code == 403
    hidden = next(n for n in everything if n not in mine)
    assert team.post(f"/kotak-keluar/{hidden}/ulang", data={"csrf_token": csrf_of(page)}).status_code == 404
    assert ids(team.get("/kotak-keluar?status=failed").text) == mine  # nothing was retried
    # Without the CSRF token nothing happens either.
    admin = web.login("dewi")
    assert admin.post(f"/kotak-keluar/{mine[0]}/ulang").status_code == 403
    assert mine[0] in ids(admin.get("/kotak-keluar?status=failed").text)


def test_filters_by_status_channel_and_recipient_and_paging_newest_first(web: Web) -> None:
    commands = web.application.commands
    for _ in range(3):
        number = commands.submit("rina", COMPLAINT).number
        commands.advance(number, "teruskan", "rina")
    admin = web.login("ahmad")
    everything = ids(admin.get("/kotak-keluar").text)
    assert everything == sorted(everything, reverse=True) and len(everything) >= 6
    to_ahmad = ids(admin.get("/kotak-keluar?penerima=ahmad").text)
    assert to_ahmad and set(to_ahmad) < set(everything)
    to_complainant = ids(admin.get("/kotak-keluar?penerima=pelapor").text)
    assert to_complainant and not set(to_complainant) & set(to_ahmad)
    by_file = ids(admin.get("/kotak-keluar?saluran=file").text)
    assert by_file == everything  # the tests' only channel
    assert ids(admin.get("/kotak-keluar?saluran=smtp").text) == []
    assert ids(admin.get("/kotak-keluar?status=sent").text) == []
    # Keyset pages: each page goes on below the last id shown, none lost, none twice.
    queries = web.application.queries
    seen, after = [], None
    while True:
        page = queries.outbox_page("ahmad", limit=2, after=after)
        seen += [n["id"] for n in page["notices"]]
        after = page["next"]
        if after is None:
            break
    assert seen == everything
    # Bad filters: a message next to the field, the right status, no traceback.
    for query, field in [("status=hilang", "status"), ("saluran=a%20b", "channel")]:
        answer = admin.get(f"/kotak-keluar?{query}")
        assert answer.status_code == 422 and f'id="galat-{field}"' in answer.text and "Traceback" not in answer.text
    assert admin.get("/kotak-keluar?setelah=" + "9" * 30).status_code == 422
    assert web.client().get("/kotak-keluar").status_code == 303  # login first


def test_personal_data_is_masked_for_a_role_that_may_not_read_it(web: Web) -> None:
    web.application.commands.submit("rina", {**COMPLAINT, "email_pelapor": "budi@contoh.id"})
    page = web.login("dewi").get("/kotak-keluar?penerima=pelapor").text  # inovator: sees_pii false
    assert ids(page) and "Budi Santoso" not in page and "budi@contoh.id" not in page
    # (the web fixture also checks every body dewi received for any case's personal data)


class _RefusingGateway:
    """A channel whose gateway refuses every message, naming its URL with the key in it."""

    name = "file"

    def send(self, message: object) -> None:
        from engine.channels.base import DeliveryFailure

        raise DeliveryFailure("POST https://wa:sandi-gw@gateway.example/kirim?key=RAHASIA-123 answered 401",
                              permanent=True)

    def close(self) -> None:
        pass


def test_a_failed_notice_shows_its_error_without_the_gateways_secrets(web: Web) -> None:
    web.application.commands.submit("rina", COMPLAINT)
    web.application.commands.deliver(channels=ChannelSet({"file": _RefusingGateway()}))  # type: ignore[dict-item]
    page = web.login("ahmad").get("/kotak-keluar?status=failed").text
    assert ids(page) and "gateway.example/kirim?key=***" in page and "answered 401" in page
    assert "RAHASIA-123" not in page and "sandi-gw" not in page
