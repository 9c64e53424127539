"""Deadline arithmetic on office-hour and around-the-clock calendars, pinned to WITA.

Holiday dates below come from the ``holidays`` package (Indonesia, public + government):
2026-05-01 Fri Labour Day, 2026-12-24 Thu Christmas cuti bersama, 2026-12-25 Fri Christmas,
2027-01-01 Fri New Year, 2027-01-05 Tue Isra Mi'raj, 2027-08-17 Tue Independence Day.
Mondays 2026-11-30 and 2027-01-04 are ordinary working days.
"""

from __future__ import annotations

import os
import time as systime
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zoneinfo import ZoneInfo

from engine.core.deadlines import WorkingCalendar
from engine.definition.model import CalendarSpec, Duration
from engine.definition.where import Where

WITA_NAME = "Asia/Makassar"
WITA = ZoneInfo(WITA_NAME)
OPENS, CLOSES = time(7, 30), time(16, 0)
OFFICE_DAY_MINUTES = 8 * 60 + 30

OFFICE = CalendarSpec(
    name="jam_kerja",
    around_the_clock=False,
    weekdays=frozenset({1, 2, 3, 4, 5}),
    opens=OPENS,
    closes=CLOSES,
    holiday_country="ID",
    holiday_categories=("public", "government"),
    add_holidays=frozenset(),
    remove_holidays=frozenset(),
    where=Where("test", 1, 1),
)
AROUND_THE_CLOCK = CalendarSpec(
    name="nonstop",
    around_the_clock=True,
    weekdays=frozenset(range(1, 8)),
    opens=time(0, 0),
    closes=time(0, 0),
    holiday_country=None,
    holiday_categories=(),
    add_holidays=frozenset(),
    remove_holidays=frozenset(),
    where=Where("test", 2, 1),
)


def wita(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=WITA)


def duration_of(text: str) -> Duration:
    return Duration(int(text[:-1]), text[-1])  # type: ignore[arg-type]


@pytest.fixture
def office() -> WorkingCalendar:
    return WorkingCalendar(OFFICE, WITA_NAME)


@pytest.fixture
def nonstop() -> WorkingCalendar:
    return WorkingCalendar(AROUND_THE_CLOCK, WITA_NAME)


@pytest.fixture(autouse=True)
def foreign_process_zone() -> Iterator[None]:
    """Run with the process clock in another zone, so any use of system local time shows."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/Sao_Paulo"
    systime.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    systime.tzset()


# -- office hours ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        pytest.param(wita(2026, 11, 27, 15, 30), "4h", wita(2026, 11, 30, 11, 0), id="friday-late-to-monday"),
        pytest.param(wita(2026, 11, 24, 2, 0), "4h", wita(2026, 11, 24, 11, 30), id="night-counts-from-opening"),
        pytest.param(wita(2026, 11, 24, 7, 0), "1h", wita(2026, 11, 24, 8, 30), id="before-opening"),
        pytest.param(wita(2026, 11, 24, 17, 0), "1h", wita(2026, 11, 25, 8, 30), id="after-closing"),
        pytest.param(wita(2026, 11, 28, 10, 0), "4h", wita(2026, 11, 30, 11, 30), id="saturday-start"),
        pytest.param(wita(2026, 11, 29, 23, 59), "90m", wita(2026, 11, 30, 9, 0), id="sunday-night-start"),
        pytest.param(wita(2026, 11, 24, 7, 30), "510m", wita(2026, 11, 24, 16, 0), id="exactly-at-closing"),
        pytest.param(wita(2026, 11, 24, 12, 0), "4h", wita(2026, 11, 24, 16, 0), id="midday-to-closing"),
        pytest.param(wita(2026, 11, 24, 16, 0), "1h", wita(2026, 11, 25, 8, 30), id="start-at-closing"),
        pytest.param(wita(2026, 11, 24, 15, 59), "1m", wita(2026, 11, 24, 16, 0), id="last-minute"),
        pytest.param(wita(2026, 11, 25, 10, 0), "1d", wita(2026, 11, 26, 10, 0), id="one-day-midweek"),
        pytest.param(wita(2026, 11, 28, 10, 0), "1d", wita(2026, 11, 30, 16, 0), id="one-day-from-saturday"),
        pytest.param(wita(2026, 11, 26, 10, 0), "3d", wita(2026, 12, 1, 10, 0), id="three-days-over-weekend"),
        pytest.param(wita(2026, 11, 23, 7, 30), "5d", wita(2026, 11, 27, 16, 0), id="whole-week"),
        pytest.param(wita(2027, 8, 16, 14, 0), "4h", wita(2027, 8, 18, 9, 30), id="eve-of-independence-day"),
        pytest.param(wita(2026, 4, 30, 14, 0), "4h", wita(2026, 5, 4, 9, 30), id="labour-day-then-weekend"),
        pytest.param(wita(2026, 12, 23, 15, 0), "4h", wita(2026, 12, 28, 10, 30), id="cuti-bersama-and-christmas"),
        pytest.param(wita(2026, 12, 31, 15, 0), "4h", wita(2027, 1, 4, 10, 30), id="new-year"),
        pytest.param(wita(2026, 12, 31, 10, 0), "3d", wita(2027, 1, 7, 10, 0), id="three-days-over-new-year"),
        pytest.param(wita(2026, 11, 24, 10, 0), "60d", wita(2027, 2, 23, 10, 0), id="sixty-days"),
    ],
)
def test_office_deadline(office: WorkingCalendar, start: datetime, duration: str, due: datetime) -> None:
    result = office.add(start, duration_of(duration))

    assert result == due
    assert result.utcoffset() == timedelta(0)


def test_result_is_in_utc_whatever_zone_the_start_was_given_in(office: WorkingCalendar) -> None:
    # Friday 07:30 UTC is Friday 15:30 WITA.
    start = datetime(2026, 11, 27, 7, 30, tzinfo=timezone.utc)

    result = office.add(start, Duration(4, "h"))

    assert result.tzinfo is timezone.utc
    assert result == datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)
    assert result.astimezone(WITA) == wita(2026, 11, 30, 11, 0)


def test_seconds_of_the_start_are_kept(office: WorkingCalendar) -> None:
    assert office.add(wita(2026, 11, 24, 9, 15, 42), Duration(2, "h")) == wita(2026, 11, 24, 11, 15, 42)


def test_zero_duration_inside_office_hours_is_the_start(office: WorkingCalendar) -> None:
    assert office.add(wita(2026, 11, 24, 9, 15), Duration(0, "h")) == wita(2026, 11, 24, 9, 15)


@pytest.mark.parametrize(
    "start",
    [wita(2026, 11, 27, 16, 0), wita(2026, 11, 28, 10, 0), wita(2026, 11, 30, 3, 0)],
    ids=["friday-closing", "saturday", "monday-night"],
)
def test_zero_duration_outside_office_hours_is_the_next_opening(office: WorkingCalendar, start: datetime) -> None:
    assert office.add(start, Duration(0, "m")) == wita(2026, 11, 30, 7, 30)


def test_cuti_bersama_only_counts_with_the_government_category() -> None:
    public_only = WorkingCalendar(replace(OFFICE, holiday_categories=("public",)), WITA_NAME)

    assert public_only.is_working_day(date(2026, 12, 24))
    assert public_only.add(wita(2026, 12, 23, 15, 0), Duration(4, "h")) == wita(2026, 12, 24, 10, 30)


def test_added_holiday_is_skipped() -> None:
    calendar = WorkingCalendar(replace(OFFICE, add_holidays=frozenset({date(2026, 11, 30)})), WITA_NAME)

    assert not calendar.is_working_day(date(2026, 11, 30))
    assert calendar.add(wita(2026, 11, 27, 15, 30), Duration(4, "h")) == wita(2026, 12, 1, 11, 0)


def test_removed_holiday_on_a_weekday_is_worked() -> None:
    calendar = WorkingCalendar(replace(OFFICE, remove_holidays=frozenset({date(2026, 12, 24)})), WITA_NAME)

    assert calendar.is_working_day(date(2026, 12, 24))
    assert date(2026, 12, 24) not in calendar.holidays_in(2026)
    assert calendar.add(wita(2026, 12, 23, 15, 0), Duration(4, "h")) == wita(2026, 12, 24, 10, 30)


def test_removed_holiday_on_a_weekend_stays_off() -> None:
    calendar = WorkingCalendar(replace(OFFICE, remove_holidays=frozenset({date(2027, 5, 1)})), WITA_NAME)

    assert not calendar.is_working_day(date(2027, 5, 1))


def test_holidays_in_a_year(office: WorkingCalendar) -> None:
    holidays_2026 = office.holidays_in(2026)

    assert {date(2026, 1, 1), date(2026, 8, 17), date(2026, 12, 24), date(2026, 12, 25)} <= holidays_2026
    assert all(day.year == 2026 for day in holidays_2026)
    assert date(2027, 1, 1) in office.holidays_in(2027)


def test_holidays_in_honours_added_and_removed_dates() -> None:
    calendar = WorkingCalendar(
        replace(
            OFFICE,
            add_holidays=frozenset({date(2026, 11, 30), date(2027, 11, 30)}),
            remove_holidays=frozenset({date(2026, 8, 17)}),
        ),
        WITA_NAME,
    )

    holidays_2026 = calendar.holidays_in(2026)

    assert date(2026, 11, 30) in holidays_2026
    assert date(2027, 11, 30) not in holidays_2026
    assert date(2026, 8, 17) not in holidays_2026


def test_calendar_without_country_has_only_its_own_holidays() -> None:
    calendar = WorkingCalendar(
        replace(OFFICE, holiday_country=None, add_holidays=frozenset({date(2026, 3, 3)})), WITA_NAME
    )

    assert calendar.holidays_in(2026) == frozenset({date(2026, 3, 3)})
    assert calendar.is_working_day(date(2026, 8, 17))


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 11, 27), True),
        (date(2026, 11, 28), False),
        (date(2026, 11, 29), False),
        (date(2026, 8, 17), False),
        (date(2026, 3, 23), False),
    ],
    ids=["friday", "saturday", "sunday", "independence-day", "lebaran-cuti-bersama"],
)
def test_is_working_day(office: WorkingCalendar, day: date, working: bool) -> None:
    assert office.is_working_day(day) is working


def test_working_minutes_over_a_weekend(office: WorkingCalendar) -> None:
    assert office.working_minutes_between(wita(2026, 11, 27, 15, 30), wita(2026, 11, 30, 11, 0)) == 240


def test_working_minutes_over_whole_days_and_holidays(office: WorkingCalendar) -> None:
    # Wed 23 Dec 15:00 .. Mon 28 Dec 10:30: one hour, then cuti bersama, Christmas, weekend.
    assert office.working_minutes_between(wita(2026, 12, 23, 15, 0), wita(2026, 12, 28, 10, 30)) == 240
    assert office.working_minutes_between(wita(2026, 11, 23, 0, 0), wita(2026, 11, 30, 0, 0)) == 5 * OFFICE_DAY_MINUTES


def test_working_minutes_is_zero_when_end_is_not_later(office: WorkingCalendar) -> None:
    moment = wita(2026, 11, 24, 10, 0)

    assert office.working_minutes_between(moment, moment) == 0
    assert office.working_minutes_between(moment, moment - timedelta(hours=3)) == 0


def test_working_minutes_outside_office_hours_is_zero(office: WorkingCalendar) -> None:
    assert office.working_minutes_between(wita(2026, 11, 28, 8, 0), wita(2026, 11, 29, 20, 0)) == 0


# -- around the clock --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("duration", "due"),
    [
        ("2h", wita(2026, 11, 27, 17, 30)),
        ("24h", wita(2026, 11, 28, 15, 30)),
        ("1d", wita(2026, 11, 28, 15, 30)),
        ("45m", wita(2026, 11, 27, 16, 15)),
    ],
)
def test_around_the_clock_is_elapsed_time(nonstop: WorkingCalendar, duration: str, due: datetime) -> None:
    result = nonstop.add(wita(2026, 11, 27, 15, 30), duration_of(duration))

    assert result == due
    assert result.utcoffset() == timedelta(0)


def test_around_the_clock_ignores_holidays_and_weekends(nonstop: WorkingCalendar) -> None:
    assert nonstop.is_working_day(date(2026, 12, 25))
    assert nonstop.is_working_day(date(2026, 11, 28))
    assert nonstop.add(wita(2026, 12, 24, 23, 0), Duration(2, "h")) == wita(2026, 12, 25, 1, 0)
    assert nonstop.working_minutes_between(wita(2026, 11, 27, 15, 30), wita(2026, 11, 30, 11, 0)) == 67 * 60 + 30


# -- misuse ------------------------------------------------------------------------------------
def test_naive_start_is_refused(office: WorkingCalendar, nonstop: WorkingCalendar) -> None:
    naive = datetime(2026, 11, 27, 15, 30)

    for calendar in (office, nonstop):
        with pytest.raises(ValueError, match="timezone-aware"):
            calendar.add(naive, Duration(4, "h"))
        with pytest.raises(ValueError, match="timezone-aware"):
            calendar.working_minutes_between(naive, wita(2026, 11, 30, 11, 0))
        with pytest.raises(ValueError, match="timezone-aware"):
            calendar.working_minutes_between(wita(2026, 11, 27, 15, 30), naive)


def test_negative_duration_is_refused(office: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="negative"):
        office.add(wita(2026, 11, 27, 15, 30), Duration(-1, "h"))


def test_calendar_that_closes_before_it_opens_is_refused() -> None:
    with pytest.raises(ValueError, match="test:1:1"):
        WorkingCalendar(replace(OFFICE, opens=time(16, 0), closes=time(7, 30)), WITA_NAME)


def test_office_calendar_without_weekdays_is_refused() -> None:
    with pytest.raises(ValueError, match="weekdays"):
        WorkingCalendar(replace(OFFICE, weekdays=frozenset()), WITA_NAME)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"holiday_country": "XX"}, "no country 'XX'"),
        ({"holiday_categories": ("public", "bogus")}, "bogus"),
    ],
    ids=["unknown-country", "unknown-category"],
)
def test_unknown_holiday_source_is_refused_up_front(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkingCalendar(replace(OFFICE, **change), WITA_NAME)  # type: ignore[arg-type]


# -- properties --------------------------------------------------------------------------------
ZONES = st.sampled_from([WITA, timezone.utc, ZoneInfo("Asia/Jakarta")])
STARTS = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31, 23, 59), timezones=ZONES)
DURATIONS = st.one_of(
    st.builds(Duration, st.integers(0, 60 * OFFICE_DAY_MINUTES), st.just("m")),
    st.builds(Duration, st.integers(0, 60 * 9), st.just("h")),
    st.builds(Duration, st.integers(0, 60), st.just("d")),
)
SHARED_OFFICE = WorkingCalendar(OFFICE, WITA_NAME)


def working_minutes(duration: Duration) -> int:
    return duration.amount * OFFICE_DAY_MINUTES if duration.unit == "d" else duration.minutes


@settings(deadline=None, max_examples=300, database=None)
@given(start=STARTS, duration=DURATIONS)
def test_office_deadline_properties(start: datetime, duration: Duration) -> None:
    due = SHARED_OFFICE.add(start, duration)

    assert due >= start
    assert due.utcoffset() == timedelta(0)
    if duration.amount > 0:
        local = due.astimezone(WITA)
        assert SHARED_OFFICE.is_working_day(local.date())
        assert OPENS < local.time() <= CLOSES
    assert SHARED_OFFICE.working_minutes_between(start, due) == working_minutes(duration)


@settings(deadline=None, max_examples=200, database=None)
@given(start=STARTS, first=st.integers(0, 5000), second=st.integers(1, 5000))
def test_office_deadlines_compose(start: datetime, first: int, second: int) -> None:
    # ``second`` is at least a minute: a zero span from a deadline that landed at closing
    # moves to the next opening, which the single longer span would not.
    halfway = SHARED_OFFICE.add(start, Duration(first, "m"))

    assert SHARED_OFFICE.add(halfway, Duration(second, "m")) == SHARED_OFFICE.add(start, Duration(first + second, "m"))
