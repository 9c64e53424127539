"""The ``whatsapp`` channel and its settings (engine/channels/whatsapp.py) against the local Cloud API peer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from engine.app.settings import Settings
from engine.channels.base import DeliveryFailure
from engine.channels.message import Outbound
from engine.channels.whatsapp import TEXT_LIMIT, WhatsAppChannel, WhatsAppSettings, wa_address
from engine.errors import InvalidInput
from tests.whatsapp_peer import TOKEN, Peer, start_peer


@pytest.fixture
def peer() -> Iterator[Peer]:
    started = start_peer()
    yield started
    started.stop()


def settings_of(peer: Peer, **changes: str) -> WhatsAppSettings:
    found = Settings.from_environment({**peer.settings(), **changes}).channels["whatsapp"]
    assert isinstance(found, WhatsAppSettings)
    return found


def notice(body: str = "Aduan TRK-2026-000001 diterima", *, channel_data: str | None = None,
           address: str | None = "+62 812-5555-0101") -> Outbound:
    return Outbound("m1@treckk", "whatsapp", address, "Pelapor", "Subjek", body, False,
                    datetime(2026, 11, 30, tzinfo=timezone.utc), "TRK-2026-000001", "x.txt.j2", channel_data)


def test_settings_need_their_companions_and_a_usable_url(peer: Peer) -> None:
    with pytest.raises(InvalidInput, match="TRECKK_WHATSAPP_API_URL is set, so TRECKK_WHATSAPP_TOKEN, "
                                           "TRECKK_WHATSAPP_APP_SECRET must be set too"):
        Settings.from_environment({**peer.settings(), "TRECKK_WHATSAPP_TOKEN": "", "TRECKK_WHATSAPP_APP_SECRET": ""})
    with pytest.raises(InvalidInput, match="is not an http:// or https:// URL"):
        Settings.from_environment({**peer.settings(), "TRECKK_WHATSAPP_API_URL": "ftp://graph.example/v21.0"})
    with pytest.raises(InvalidInput, match="TRECKK_WHATSAPP_PHONE_NUMBER_ID='abc' is not a phone number id"):
        Settings.from_environment({**peer.settings(), "TRECKK_WHATSAPP_PHONE_NUMBER_ID": "abc"})
    assert "whatsapp" not in Settings.from_environment({}).channels
    shown = repr(settings_of(peer))
    assert TOKEN not in shown and "secret" not in shown.lower().replace("app_secret", "")


def test_wa_addresses_are_digits_with_the_country_code() -> None:
    assert wa_address("+62 812-5555-0101") == "6281255550101"
    assert wa_address("0812 5555 0101") == "6281255550101"
    assert wa_address("6281255550101") == "6281255550101"


def test_text_is_sent_and_the_wamid_returned(peer: Peer) -> None:
    channel = WhatsAppChannel(settings_of(peer))
    wamid = channel.send(notice("x" * (TEXT_LIMIT + 50)))
    [sent] = peer.accepted.values()
    assert wamid == sent["wamid"] and sent["to"] == "6281255550101" and sent["type"] == "text"
    assert len(sent["text"]["body"]) == TEXT_LIMIT and sent["text"]["preview_url"] is False
    assert sent["biz_opaque_callback_data"] == "m1@treckk"
    assert peer.requests[0].authorization == f"Bearer {TOKEN}"


def test_a_template_call_is_sent_as_a_template(peer: Peer) -> None:
    call = {"template": {"name": "treckk_status_aduan", "language": "id", "parameters": ["TRK-2026-000001", "Selesai"]}}
    WhatsAppChannel(settings_of(peer)).send(notice(channel_data=json.dumps(call)))
    [sent] = peer.accepted.values()
    assert sent["type"] == "template" and "text" not in sent
    assert sent["template"] == {"name": "treckk_status_aduan", "language": {"code": "id"}, "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "TRK-2026-000001"}, {"type": "text", "text": "Selesai"}]}]}


@pytest.mark.parametrize(("status", "permanent"), [(500, False), (503, False), (429, False), (401, False),
                                                   (400, True), (422, True)])
def test_failures_are_temporary_or_permanent_by_status(peer: Peer, status: int, permanent: bool) -> None:
    peer.fail_next(status)
    with pytest.raises(DeliveryFailure) as failed:
        WhatsAppChannel(settings_of(peer)).send(notice())
    assert failed.value.permanent is permanent and f"HTTP {status}" in str(failed.value)
    assert TOKEN not in str(failed.value)


def test_a_wrong_token_is_retried_and_never_shown(peer: Peer) -> None:
    with pytest.raises(DeliveryFailure) as failed:
        WhatsAppChannel(settings_of(peer, TRECKK_WHATSAPP_TOKEN="wrong-token-xyz")).send(notice())
    assert not failed.value.permanent and "wrong-token-xyz" not in str(failed.value)


def test_no_address_and_an_unreachable_api_fail_precisely() -> None:
    settings = WhatsAppSettings("http://127.0.0.1:9/v21.0", "1", "t", "s", "v", 2.0)
    with pytest.raises(DeliveryFailure) as no_address:
        WhatsAppChannel(settings).send(notice(address=None))
    assert no_address.value.permanent
    with pytest.raises(DeliveryFailure) as unreachable:
        WhatsAppChannel(settings).send(notice())
    assert not unreachable.value.permanent and "not reachable" in str(unreachable.value)
