"""Moments as people read them: WITA, and any workflow's own zone with its abbreviation or offset."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from engine.core import localtime

MONDAY_UTC = datetime(2026, 11, 30, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("zone", "label", "text"), [
    ("Asia/Jakarta", "WIB", "Senin, 30 November 2026 pukul 07.00 WIB"),
    ("Asia/Pontianak", "WIB", "Senin, 30 November 2026 pukul 07.00 WIB"),
    ("Asia/Makassar", "WITA", "Senin, 30 November 2026 pukul 08.00 WITA"),
    ("Asia/Jayapura", "WIT", "Senin, 30 November 2026 pukul 09.00 WIT"),
    ("Asia/Tokyo", "UTC+09:00", "Senin, 30 November 2026 pukul 09.00 UTC+09:00"),
    ("America/St_Johns", "UTC-03:30", "Minggu, 29 November 2026 pukul 20.30 UTC-03:30"),
    ("UTC", "UTC", "Senin, 30 November 2026 pukul 00.00 UTC"),
])
def test_a_moment_reads_in_the_zone_with_its_abbreviation_or_offset(zone: str, label: str, text: str) -> None:
    assert localtime.zone_label(zone, MONDAY_UTC) == label
    assert localtime.long_datetime_in(MONDAY_UTC, zone) == text
    assert localtime.short_datetime_in(MONDAY_UTC, zone).endswith(f" {label}")


def test_the_offset_follows_summer_time_and_naive_values_are_utc() -> None:
    july = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
    assert localtime.zone_label("Europe/Amsterdam", MONDAY_UTC) == "UTC+01:00"
    assert localtime.zone_label("Europe/Amsterdam", july) == "UTC+02:00"
    assert localtime.short_datetime_in(july, "Europe/Amsterdam") == "01-07-2026 14.00 UTC+02:00"
    assert localtime.short_datetime_in(july.replace(tzinfo=None), "Asia/Jayapura") == "01-07-2026 21.00 WIT"
    assert localtime.long_date_in(MONDAY_UTC, "America/St_Johns") == "Minggu, 29 November 2026"


def test_the_indonesian_day_and_month_names_are_the_ones_babel_writes() -> None:
    from datetime import date, timedelta

    from babel.dates import format_date

    from engine.core.localtime import _day_text, month_year

    start = date(2026, 1, 1)
    for offset in range(0, 366, 1):
        day = start + timedelta(days=offset)
        assert _day_text(day) == format_date(day, "EEEE, d MMMM y", locale="id")
        assert month_year(day) == format_date(day, "MMMM y", locale="id")
