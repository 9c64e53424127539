"""What every command handler gets: parsed arguments, the settings, the application, output helpers."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.app.assembly import Application
    from engine.app.commands import Commands
    from engine.app.queries import Queries
    from engine.app.settings import Settings
    from engine.store.database import Database


def common_options() -> argparse.ArgumentParser:
    """Options every command accepts: ``--db`` and ``--json``."""
    from engine.app.settings import DATABASE_URL

    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--db", metavar="URL", help=f"database URL (default: {DATABASE_URL} or var/treckk.db)")
    parent.add_argument("--json", action="store_true", help="print machine-readable JSON")
    return parent


class Context:
    """One command invocation: its arguments, and the settings and application, each read or built on first use."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    @cached_property
    def settings(self) -> Settings:
        """The environment's settings, with ``--db`` in place of the database they name."""
        from dataclasses import replace

        from engine.app.settings import Settings

        settings = Settings.from_environment()
        url = getattr(self.args, "db", None)
        return replace(settings, database_url=url) if url else settings

    @property
    def home(self) -> Path:
        """Where workflows/, roles/ and templates/ are read."""
        return self.settings.home

    @cached_property
    def application(self) -> Application:
        """The application built from the settings (``engine.app.assembly.build``).

        Only the commands that set a database up (init, db upgrade) may create its file.
        """
        from engine.adapters.cli.home import refuse_database_in_package
        from engine.app.assembly import build

        refuse_database_in_package(self.settings)
        return build(self.settings, create_database=bool(getattr(self.args, "creates_database", False)))

    @property
    def database(self) -> Database:
        """The application's database."""
        return self.application.database

    @property
    def engine(self) -> Commands:
        """The application's commands: the one door for every change."""
        return self.application.commands

    @property
    def views(self) -> Queries:
        """The application's queries."""
        return self.application.queries

    def close(self) -> None:
        """Close the application's connections, if it was built."""
        if "application" in vars(self):
            self.application.close()

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def emit(self, value: Any, human: Callable[[Any], str]) -> None:
        """Print ``value`` as JSON with --json, else the human rendering (control characters made visible)."""
        from engine.adapters.cli.formatting import json_escaped, visible

        if self.json:
            print(json_escaped(json.dumps(value, ensure_ascii=False, indent=2, default=str)))
        else:
            text = human(value)
            if text:
                print(visible(text))

    @staticmethod
    def note(text: str) -> None:
        print(text, file=sys.stderr)


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """``FIELD=VALUE`` arguments → dict; a value may contain '='."""
    from engine.errors import InvalidInput

    values: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"bad --set {item!r}; write FIELD=VALUE, e.g. --set kecamatan=paringin")
        if name.strip() in values:
            raise InvalidInput(f"field {name.strip()!r} is given twice with --set")
        values[name.strip()] = value
    return values
