"""The API's case reads added for issues #14 and #17: a case's photos (listed, and their bytes served
inert exactly as the pages serve them) and the inclusion proof of its events against the newest
checkpoint, which checks offline with the verifier; the team of another kecamatan gets the status
the API gives it for the case itself."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.app.transparency import check_proof, write_checkpoint
from tests.web.conftest import Web
from tests.web.test_pages import _photo_links, _record_with, jpeg

PROBLEM = "application/problem+json"
SHARED_HEADERS = ("content-type", "x-content-type-options", "content-security-policy", "cache-control",
                  "cross-origin-resource-policy", "content-disposition")


def _case_with_photo(web: Web) -> str:
    """A case recorded on the page by Admin La-Lisa with one photo, forwarded to the Kepala Bidang."""
    answer = _record_with(web.login("rina"), [("foto_aduan", ("IMG 0001.jpg", jpeg(size=(640, 480)), "image/jpeg"))])
    assert answer.status_code == 303
    number = answer.headers["location"].split("/")[2].split("?")[0]
    assert web.api("rina").post(f"/api/v1/cases/{number}/advance", json={"trigger": "teruskan", "input": {
        "kategori": "pkl_tempat_usaha", "lokasi": "Jl. Ahmad Yani depan Pasar Paringin"}}).status_code == 200
    return number


def test_the_attachments_of_a_case_are_listed_with_their_urls(web: Web) -> None:
    number = _case_with_photo(web)
    for username in ("ahmad", "tim_paringin"):
        answer = web.api(username).get(f"/api/v1/cases/{number}/attachments")
        assert answer.status_code == 200, answer.text
        [photo] = answer.json()
        reference = web.application.queries.show(number)["data"]["foto_aduan"][0]
        base = f"/api/v1/cases/{number}/attachments/{reference}"
        assert photo == {
            "name": reference, "field": "foto_aduan", "field_label": "Foto dari pelapor", "stored": True,
            "digest": reference.split(".")[0], "media_type": "image/jpeg", "size": photo["size"],
            "width": 640, "height": 480, "uploaded_at": web.clock().isoformat(),
            "uploaded_at_local": photo["uploaded_at_local"], "uploaded_by": "rina",
            "url": base, "thumbnail_url": f"{base}/thumbnail"}
        assert photo["uploaded_at_local"].endswith("+08:00") and photo["size"] > 0
        assert "IMG 0001" not in answer.text  # the original file name is not given out


def test_the_bytes_are_served_with_the_same_inert_headers_as_the_page(web: Web) -> None:
    number = _case_with_photo(web)
    page = web.login("ahmad")
    [link] = _photo_links(page.get(f"/kasus/{number}").text)
    [photo] = web.api("ahmad").get(f"/api/v1/cases/{number}/attachments").json()
    api = web.api("ahmad")
    for api_url, page_url in ((photo["url"], link), (photo["thumbnail_url"], f"{link}/kecil")):
        served, shown = api.get(api_url), page.get(page_url)
        assert served.status_code == 200 and shown.status_code == 200
        assert served.content == shown.content and served.content[:3] == b"\xff\xd8\xff"
        assert {h: served.headers[h] for h in SHARED_HEADERS} == {h: shown.headers[h] for h in SHARED_HEADERS}
        assert served.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in served.headers["content-security-policy"]
        assert served.headers["content-disposition"].startswith("inline; filename=")
    assert len(api.get(photo["thumbnail_url"]).content) < len(api.get(photo["url"]).content)
    assert len(api.get(photo["url"]).content) == photo["size"]


def test_a_file_the_case_does_not_refer_to_is_404(web: Web) -> None:
    number = _case_with_photo(web)
    other = f"{'0' * 64}.jpg"
    for name in (other, "no-such-thing.png", "..jpg", "x.jpg", "a%2F..%2Fb.jpg"):
        for suffix in ("", "/thumbnail"):
            answer = web.api("ahmad").get(f"/api/v1/cases/{number}/attachments/{name}{suffix}")
            assert answer.status_code in (404, 422), (name, answer.status_code)
            assert answer.headers["content-type"] == PROBLEM
    assert web.api("ahmad").get(f"/api/v1/cases/{number}/attachments/{other}").status_code == 404
    assert web.api("ahmad").get("/api/v1/cases/TRK-2099-999999/attachments").status_code == 404


def test_the_team_of_another_kecamatan_gets_what_the_case_gives_it(web: Web, tmp_path: Path) -> None:
    number = _case_with_photo(web)
    write_checkpoint(web.application.commands, Ed25519PrivateKey.generate(), tmp_path / "checkpoints")
    [photo] = web.api("ahmad").get(f"/api/v1/cases/{number}/attachments").json()
    halong = web.api("tim_halong")
    refused = halong.get(f"/api/v1/cases/{number}")
    assert refused.status_code == 403
    for url in (f"/api/v1/cases/{number}/attachments", photo["url"], photo["thumbnail_url"],
                f"/api/v1/cases/{number}/proof"):
        answer = halong.get(url)
        assert answer.status_code == refused.status_code and answer.headers["content-type"] == PROBLEM, url
        assert b"\xff\xd8\xff" not in answer.content


def test_the_proof_is_404_until_a_checkpoint_is_written(web: Web) -> None:
    number = _case_with_photo(web)
    answer = web.api("ahmad").get(f"/api/v1/cases/{number}/proof")
    assert answer.status_code == 404 and answer.headers["content-type"] == PROBLEM
    assert "no checkpoint" in answer.json()["detail"]


def test_the_proof_verifies_offline(web: Web, tmp_path: Path) -> None:
    number = _case_with_photo(web)
    key = Ed25519PrivateKey.generate()
    write_checkpoint(web.application.commands, key, tmp_path / "checkpoints")
    events = len(web.application.queries.history(number))
    for username in ("ahmad", "tim_paringin"):
        answer = web.api(username).get(f"/api/v1/cases/{number}/proof")
        assert answer.status_code == 200, answer.text
        proof = answer.json()
        assert proof["case"] == number and len(proof["events"]) == events
        saved = tmp_path / f"proof-{username}.json"
        saved.write_text(answer.text, encoding="utf-8")
        checked = check_proof(json.loads(saved.read_text(encoding="utf-8")), str(saved), key.public_key())
        assert (checked.case, checked.proven, checked.problems, checked.signature) == (number, events, [], "holds")
    proof["events"][0]["event_hash"] = "0" * 64
    assert check_proof(proof, "tampered", key.public_key()).problems != []
    # the case moves on: the proof stays against the checkpoint, without the newer event
    web.api("ahmad").post(f"/api/v1/cases/{number}/advance",
                          json={"trigger": "minta_verifikasi", "input": {"instruksi": "Cek lokasi."}})
    assert len(web.api("ahmad").get(f"/api/v1/cases/{number}/proof").json()["events"]) == events
