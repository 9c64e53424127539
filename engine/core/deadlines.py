"""Calendar arithmetic for deadlines: when a span of working time, started at a moment, runs out.

A calendar is either around the clock (plain elapsed time) or office hours: only the time inside
``[opens, closes)`` of a working day counts, a working day being a configured weekday that is not
a holiday. Office-hour arithmetic is done on the wall clock of the workflow's time zone, because
the office opens at 07:30 local time whatever the offset; instants go in and come out aware, and
results are returned in UTC so callers can store and compare them without a zone.

Nothing here does I/O. The ``holidays`` package is consulted lazily, one year at a time, and its
answers are cached for the life of the process, so a deadline that runs across New Year loads
the next year's holidays only when it gets there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from engine.definition.model import CalendarSpec, Duration, StateSpec

__all__ = ["WorkingCalendar"]

_UTC = timezone.utc
_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)


@functools.lru_cache(maxsize=256)
def _package_holidays(country: str, categories: tuple[str, ...], year: int) -> frozenset[date]:
    # Shared between calendar instances: the engine may build a calendar per transition, and
    # building a country's holidays for a year costs far more than one deadline computation.
    import holidays  # slow to import; only a calendar with a holiday country needs it

    found = holidays.country_holidays(country, years=year, categories=categories or None)
    return frozenset(day for day in found if day.year == year)


@functools.lru_cache(maxsize=64)
def _holiday_source_problem(country: str, categories: tuple[str, ...]) -> str | None:
    import holidays

    try:
        holidays.country_holidays(country, categories=categories or None)
    except NotImplementedError:
        return f"the holidays package has no country {country!r}"
    except ValueError as error:
        return f"holiday categories {list(categories)} for {country!r}: {error}"
    return None


class HolidaySource(Protocol):
    """Where a calendar's holiday country is looked up: the ``holidays`` package, or a cache of it."""

    def problem(self, country: str, categories: tuple[str, ...]) -> str | None:
        """Why the package cannot give holidays of ``country`` in ``categories``, or None."""
        ...

    def dates(self, country: str, categories: tuple[str, ...], year: int) -> frozenset[date]:
        """The holidays of ``country`` in ``categories`` in ``year``."""
        ...


class PackageHolidays:
    """The ``holidays`` package itself (imported on first use: it costs a command about 0.1 s)."""

    def problem(self, country: str, categories: tuple[str, ...]) -> str | None:
        return _holiday_source_problem(country, categories)

    def dates(self, country: str, categories: tuple[str, ...], year: int) -> frozenset[date]:
        return _package_holidays(country, categories, year)


class WorkingCalendar:
    """A :class:`CalendarSpec` bound to a time zone, answering deadline questions."""

    __slots__ = ("_spec", "_zone", "_holidays", "_day_length", "_source")

    def __init__(self, spec: CalendarSpec, timezone: str, holidays: HolidaySource | None = None) -> None:
        """Bind ``spec`` to the IANA zone ``timezone`` (e.g. ``"Asia/Makassar"``); ``holidays`` looks the
        holiday country up (the package by default)."""
        source = holidays or PackageHolidays()
        if not spec.around_the_clock:
            if spec.opens >= spec.closes:
                raise ValueError(
                    f"{spec.where}: calendar {spec.name!r} opens at {spec.opens:%H:%M} but "
                    f"closes at {spec.closes:%H:%M}; closing must be later than opening"
                )
            if not spec.weekdays or not spec.weekdays <= frozenset(range(1, 8)):
                raise ValueError(
                    f"{spec.where}: calendar {spec.name!r} has working weekdays "
                    f"{sorted(spec.weekdays)}; expected a non-empty set of 1 (Monday) to 7"
                )
            if spec.holiday_country:
                # Checked now rather than when a deadline first reaches a new year, so a bad
                # country or category fails at start-up, not in the middle of a transition.
                problem = source.problem(spec.holiday_country, tuple(spec.holiday_categories))
                if problem:
                    raise ValueError(f"{spec.where}: calendar {spec.name!r}: {problem}")
        self._spec = spec
        self._source = source
        self._zone = ZoneInfo(timezone)
        self._holidays: dict[int, frozenset[date]] = {}
        self._day_length = _on(date(2000, 1, 1), spec.closes) - _on(date(2000, 1, 1), spec.opens)

    # -- days --------------------------------------------------------------------------------
    def holidays_in(self, year: int) -> frozenset[date]:
        """The non-working special dates of ``year``: the package's, plus added, minus removed."""
        known = self._holidays.get(year)
        if known is None:
            spec = self._spec
            package = (
                self._source.dates(spec.holiday_country, tuple(spec.holiday_categories), year)
                if spec.holiday_country
                else frozenset()
            )
            added = frozenset(day for day in spec.add_holidays if day.year == year)
            known = (package | added) - spec.remove_holidays
            self._holidays[year] = known
        return known

    def is_working_day(self, day: date) -> bool:
        """Whether office time runs on the local date ``day``; always true around the clock."""
        if isinstance(day, datetime):
            raise TypeError(f"is_working_day takes a local date, not the datetime {day!r}")
        if self._spec.around_the_clock:
            return True
        return day.isoweekday() in self._spec.weekdays and day not in self.holidays_in(day.year)

    # -- spans -------------------------------------------------------------------------------
    def add(self, start: datetime, duration: Duration) -> datetime:
        """The moment (aware, UTC) at which ``duration`` of counted time from ``start`` ends."""
        _require_aware(start, "start")
        if duration.amount < 0:
            raise ValueError(f"duration {duration} is negative; deadlines only run forwards")
        if self._spec.around_the_clock:
            return start.astimezone(_UTC) + timedelta(minutes=duration.minutes)

        if duration.unit == "d":
            remaining = self._day_length * duration.amount
        else:
            remaining = timedelta(minutes=duration.minutes)
        cursor = self._next_office_moment(self._local(start))
        while True:
            today_left = _on(cursor.date(), self._spec.closes) - cursor
            # ``<=`` keeps a deadline that ends exactly at closing on that day, not at the
            # next opening.
            if remaining <= today_left:
                return self._instant(cursor + remaining)
            remaining -= today_left
            cursor = _on(self._next_working_day(cursor.date()), self._spec.opens)

    def working_minutes_between(self, start: datetime, end: datetime) -> int:
        """Whole minutes of counted time from ``start`` to ``end``; 0 if ``end`` is not later."""
        _require_aware(start, "start")
        _require_aware(end, "end")
        if end <= start:
            return 0
        if self._spec.around_the_clock:
            return (end - start) // _MINUTE

        spec = self._spec
        first, last = self._local(start), self._local(end)
        total = timedelta(0)
        day = first.date()
        while day <= last.date():
            if self.is_working_day(day):
                begin = max(_on(day, spec.opens), first)
                finish = min(_on(day, spec.closes), last)
                if finish > begin:
                    total += finish - begin
            day += _DAY
        return total // _MINUTE

    # -- internals ---------------------------------------------------------------------------
    def _local(self, moment: datetime) -> datetime:
        """``moment`` as naive wall-clock time in the calendar's zone."""
        return moment.astimezone(self._zone).replace(tzinfo=None)

    def _instant(self, wall: datetime) -> datetime:
        return wall.replace(tzinfo=self._zone).astimezone(_UTC)

    def _next_working_day(self, day: date) -> date:
        day += _DAY
        while not self.is_working_day(day):
            day += _DAY
        return day

    def _next_office_moment(self, wall: datetime) -> datetime:
        """``wall`` itself if the office is open then, otherwise the next opening."""
        day = wall.date()
        if self.is_working_day(day):
            if wall.time() < self._spec.opens:
                return _on(day, self._spec.opens)
            if wall.time() < self._spec.closes:
                return wall
        return _on(self._next_working_day(day), self._spec.opens)


def _on(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock)


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got the naive datetime {moment!r}")


@dataclass(frozen=True, slots=True)
class EntryDeadline:
    """When a case is due in the state it just entered, and when its first escalation step fires."""

    due_at: datetime | None
    next_step: int | None
    next_step_at: datetime | None


NO_DEADLINE = EntryDeadline(None, None, None)


def deadline_on_entry(state: StateSpec, entered: datetime,
                      calendar_for: Callable[[str], WorkingCalendar]) -> EntryDeadline:
    """Due time and first escalation step for a case entering ``state`` at ``entered``."""
    if state.deadline is None:
        return NO_DEADLINE
    calendar = calendar_for(state.deadline.calendar)
    due = calendar.add(entered, state.deadline.within)
    steps = state.deadline.escalation
    if not steps:
        return EntryDeadline(due, None, None)
    # "0 minutes after the deadline" is the deadline itself, even when it ends at closing
    # time (the calendar would otherwise move it to the next opening).
    first = steps[0].after
    return EntryDeadline(due, 0, due if first.amount == 0 else calendar.add(due, first))
