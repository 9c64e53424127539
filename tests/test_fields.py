"""Field values: what a person types becomes a typed, normalised value, or a clear refusal (pure)."""

from __future__ import annotations

import pytest

from engine.compile.workflow import bundle_from_files, compile_bundle
from engine.errors import InvalidInput
from engine.core.fields import MASK, display_value, normalise_phone, parse_value
from tests.conftest import ROOT

FIELDS = compile_bundle(bundle_from_files(ROOT / "workflows" / "treckk.yaml", ROOT / "templates")).definition.fields


@pytest.mark.parametrize(("given", "stored"), [
    ("0812-5555-0101", "+6281255550101"),
    ("081255550101", "+6281255550101"),
    ("+6281255550101", "+6281255550101"),
    ("+62 812 5555 0101", "+6281255550101"),
    ("62812 5555 0101", "+6281255550101"),
    ("(0812) 5555.0101", "+6281255550101"),
    ("+62-812-5555-0101", "+6281255550101"),
    ("0812\u00a05555\u00a00101", "+6281255550101"),  # no-break spaces pasted from a chat
    ("0526 2021234", "+625262021234"),             # a Balangan landline
    ("0812345678", "+62812345678"),                # shortest accepted (8 national digits)
    ("0812345678901", "+62812345678901"),          # longest accepted (12)
])
def test_indonesian_numbers_become_e164(given: str, stored: str) -> None:
    assert normalise_phone(given) == stored
    assert parse_value(FIELDS["nomor_pelapor"], given) == stored


@pytest.mark.parametrize("given", [
    "12345", "0812", "08123456789012", "+1 202 555 0101", "0062812555501", "+620812555501", "0812-abc-0101",
    "٠٨١٢٥٥٥٥٠١٠١",  # Arabic-Indic digits: isdigit() says yes, a gateway says no
    "０８１２５５５５０１０１",  # full-width digits
    "0812555501⁰¹", "", "   ", "+62",
])
def test_other_numbers_are_refused(given: str) -> None:
    assert normalise_phone(given) is None
    with pytest.raises(InvalidInput, match="nomor_pelapor.*0812-3456-7890"):
        parse_value(FIELDS["nomor_pelapor"], given)


def test_text_is_kept_exactly_within_its_length() -> None:
    spec = FIELDS["uraian"]
    for text in ("  tepi  ", "ꦲ" * 4000, "🚧👮‍♀️", "'; DROP TABLE cases; --", "a\nb\r\n\tc", "e\u0301"):
        assert parse_value(spec, text) == text
    with pytest.raises(InvalidInput, match="4001 characters long; at most 4000"):
        parse_value(spec, "x" * 4001)
    for bad, message in (("", "must not be empty"), (" \n\t", "must not be empty"), ("a\x00b", "NUL"),
                         ("a\udcffb", "UTF-8"), (None, "needs a value"), (12, "takes text, not int")):
        with pytest.raises(InvalidInput, match=message):
            parse_value(spec, bad)


def test_choices_accept_keys_and_labels_in_any_case() -> None:
    spec = FIELDS["kecamatan"]
    assert parse_value(spec, "paringin_selatan") == "paringin_selatan"
    assert parse_value(spec, "Paringin Selatan") == "paringin_selatan"
    assert parse_value(spec, " BATU MANDI ") == "batu_mandi"
    with pytest.raises(InvalidInput) as refused:
        parse_value(spec, "Banjarmasin")
    assert "'Banjarmasin'" in str(refused.value) and "juai, halong" in str(refused.value)


@pytest.mark.parametrize(("given", "value"), [
    ("ya", True), ("Ya", True), ("true", True), ("1", True), ("benar", True), (True, True),
    ("tidak", False), ("TIDAK", False), ("false", False), ("0", False), ("salah", False), (False, False),
])
def test_booleans(given: object, value: bool) -> None:
    assert parse_value(FIELDS["laporan_benar"], given) is value


@pytest.mark.parametrize("given", ["maybe", "mungkin", "", "2", "yess"])
def test_other_booleans_are_refused(given: str) -> None:
    with pytest.raises(InvalidInput, match="write ya or tidak"):
        parse_value(FIELDS["laporan_benar"], given)


def test_times_without_offset_are_read_in_the_workflows_zone_and_stored_in_utc() -> None:
    spec = FIELDS["waktu_kejadian"]
    assert parse_value(spec, "2026-11-30T08:00", "Asia/Makassar") == "2026-11-30T00:00:00+00:00"
    assert parse_value(spec, "2026-11-30T08:00", "Asia/Jayapura") == "2026-11-29T23:00:00+00:00"
    assert parse_value(spec, "2026-11-30T08:00+07:00", "Asia/Jayapura") == "2026-11-30T01:00:00+00:00"
    with pytest.raises(InvalidInput, match=r"ISO 8601, e.g. 2026-11-30T08:00 \(WIT\)"):
        parse_value(spec, "30/11/2026", "Asia/Jayapura")
    assert display_value(spec, "2026-11-30T00:00:00+00:00", "Asia/Makassar").endswith("08.00 WITA")
    assert display_value(spec, "2026-11-30T00:00:00+00:00", "Asia/Jakarta").endswith("07.00 WIB")


def test_emails_and_references() -> None:
    assert parse_value(FIELDS["email_pelapor"], " budi@contoh.go.id ") == "budi@contoh.go.id"
    for bad in ("budi", "budi@", "budi@contoh", "a b@c.id"):
        with pytest.raises(InvalidInput, match="e-mail"):
            parse_value(FIELDS["email_pelapor"], bad)
    refs = FIELDS["foto_hasil"]
    assert parse_value(refs, "a.jpg, b.jpg,,") == ["a.jpg", "b.jpg"]
    assert parse_value(refs, ["a.jpg", " b.jpg "]) == ["a.jpg", "b.jpg"]
    for bad, message in ((" , ", "at least one"), ("x" * 301, "longer than 300"), ("a\x00.jpg", "NUL")):
        with pytest.raises(InvalidInput, match=message):
            parse_value(refs, bad)


def test_display_values_read_as_people_write_them() -> None:
    assert display_value(FIELDS["kategori"], "ternak_lepas") == "Hewan ternak lepas"
    assert display_value(FIELDS["anonim"], True) == "Ya" and display_value(FIELDS["anonim"], False) == "Tidak"
    assert display_value(FIELDS["foto_hasil"], ["a.jpg", "b.jpg"]) == "a.jpg, b.jpg"
    assert display_value(None, 3) == "3" and display_value(FIELDS["uraian"], None) == "-"
    assert MASK == "[dirahasiakan]"
    assert {name for name, spec in FIELDS.items() if spec.pii} == {"nama_pelapor", "nomor_pelapor", "email_pelapor"}
