"""What a definition's parser asks of the world outside it: whether a guard, a cron expression or a
template is valid, and which holiday categories a country offers (``ExternalChecks``), and the
structure-only answer to it (``NoExternalChecks``). A module of its own, without PyYAML, so a
command that loads an already-checked definition can use these without loading the parser.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["HOLIDAY_CATEGORIES", "ExternalChecks", "NoExternalChecks", "holiday_categories"]

HOLIDAY_CATEGORIES = ("public", "government", "optional", "bank", "school", "workday")
"""The categories offered when the holidays package cannot say which a country has."""


class ExternalChecks(Protocol):
    """Checks that need an expression, cron or template engine; each returns an error or None."""

    def guard(self, source: str, names: frozenset[str]) -> str | None: ...

    def cron(self, expression: str, timezone: str) -> str | None: ...

    def holiday_categories(self, country: str) -> tuple[str, ...] | None:
        """The holiday categories ``country`` offers, or None when it is not a known country."""
        ...

    def template(self, name: str) -> str | None: ...


class NoExternalChecks:
    """Accepts every guard, cron expression and template (structure-only validation)."""

    def guard(self, source: str, names: frozenset[str]) -> str | None:
        return None

    def cron(self, expression: str, timezone: str) -> str | None:
        return None

    def template(self, name: str) -> str | None:
        return None

    def holiday_categories(self, country: str) -> tuple[str, ...] | None:
        return holiday_categories(country)


def holiday_categories(country: str) -> tuple[str, ...] | None:
    """The categories the holidays package offers for ``country``, or None when it does not know it."""
    import holidays as holidays_lib  # slow import, only when a calendar asks for it

    if country not in holidays_lib.list_supported_countries():
        return None
    try:
        return tuple(type(holidays_lib.country_holidays(country)).supported_categories)
    except Exception:  # noqa: BLE001 - a third-party table; fall back to the general list
        return HOLIDAY_CATEGORIES
