"""Showing moments and spans to people on the workflow's clock, written the Indonesian way.

Times are stored in UTC; everything a person reads goes through here, e.g.
``Senin, 30 November 2026 pukul 08.00 WITA`` (for Asia/Makassar) and ``2 jam 30 menit``.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

DAYS = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
"""Monday to Sunday, as CLDR's Indonesian locale writes them (a test compares them with Babel's)."""
MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
          "November", "Desember")
"""January to December, likewise. Written out here: loading Babel's locale data cost every command
that shows a date about 30 ms."""


@lru_cache(maxsize=4096)
def _day_text(day: date) -> str:
    """``Senin, 30 November 2026`` (CLDR ``EEEE, d MMMM y`` in Indonesian)."""
    return f"{DAYS[day.weekday()]}, {day.day} {MONTHS[day.month - 1]} {day.year}"


def month_year(day: date) -> str:
    """``November 2026`` (CLDR ``MMMM y`` in Indonesian)."""
    return f"{MONTHS[day.month - 1]} {day.year}"


def span(minutes: float) -> str:
    """A span in Indonesian words, largest units first: ``1 hari 2 jam 5 menit``."""
    total = int(round(minutes))
    if total <= 0:
        return "0 menit"
    days, rest = divmod(total, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} hari" if days else "", f"{hours} jam" if hours else "", f"{mins} menit" if mins else ""]
    return " ".join(p for p in parts if p)


# -- any zone ----------------------------------------------------------------------------------
# A workflow names its own ``timezone``; these show a moment on that clock, with the Indonesian
# abbreviation where there is one (WIB, WITA, WIT) and the UTC offset elsewhere.

ZONE_ABBREVIATIONS = {
    "Asia/Jakarta": "WIB",
    "Asia/Pontianak": "WIB",
    "Asia/Makassar": "WITA",
    "Asia/Ujung_Pandang": "WITA",
    "Asia/Jayapura": "WIT",
}
"""IANA zones of Indonesia → the abbreviation people read (Waktu Indonesia Barat/Tengah/Timur)."""


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def to_local(moment: datetime, zone: str) -> datetime:
    """The same instant on the clock of ``zone`` (an IANA name); naive values are taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(_zone(zone))


def zone_label(zone: str, moment: datetime | None = None) -> str:
    """``WIB``/``WITA``/``WIT`` for Indonesia's zones, else the offset at ``moment``: ``UTC+09:00``, ``UTC``."""
    known = ZONE_ABBREVIATIONS.get(zone)
    if known:
        return known
    offset = to_local(moment or datetime.now(timezone.utc), zone).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"


def long_datetime_in(moment: datetime, zone: str) -> str:
    """``Senin, 30 November 2026 pukul 08.00 WITA`` on the clock of ``zone``."""
    local = to_local(moment, zone)
    return f"{_day_text(local.date())} pukul {local.hour:02d}.{local.minute:02d} {zone_label(zone, moment)}"


def long_date_in(moment: datetime, zone: str) -> str:
    """``Senin, 30 November 2026``: the date of ``moment`` on the clock of ``zone``."""
    return _day_text(to_local(moment, zone).date())


def short_datetime_in(moment: datetime, zone: str) -> str:
    """``30-11-2026 08.00 WITA`` on the clock of ``zone``, for tables and listings."""
    return f"{to_local(moment, zone):%d-%m-%Y %H.%M} {zone_label(zone, moment)}"
