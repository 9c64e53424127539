"""What every command handler gets: parsed arguments, the project home, and output helpers."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.app.commands import Engine
    from engine.store.database import Database
    from engine.app.queries import Views


def project_home() -> Path:
    """``TRECKK_HOME``, or the directory that holds runner.py (workflows/, roles/, templates/), or the
    definitions installed with the package (``engine.adapters.cli.home``)."""
    configured = os.environ.get("TRECKK_HOME")
    if configured:
        return Path(configured).resolve()
    import runner

    from engine.adapters.cli.home import default_home

    return default_home(Path(runner.__file__).resolve().parent)


def common_options() -> argparse.ArgumentParser:
    """Options every command accepts: ``--db`` and ``--json``."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--db", metavar="URL", help="database URL (default: TRECKK_DATABASE_URL or var/treckk.db)")
    parent.add_argument("--json", action="store_true", help="print machine-readable JSON")
    return parent


class Context:
    """Lazily built engine pieces for one command invocation."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.home = project_home()

    @cached_property
    def database(self) -> Database:
        from engine.adapters.cli.home import refuse_database_in_package
        from engine.store.database import Database, default_url

        url = getattr(self.args, "db", None) or default_url(self.home)
        refuse_database_in_package(self.home, url)
        # Only the commands that set a database up (init, db upgrade) may create its file.
        return Database(url, create=bool(getattr(self.args, "creates_database", False)))

    @cached_property
    def engine(self) -> Engine:
        from engine.core.clock import clock_from_environment
        from engine.notices.routing import Routing
        from engine.app.commands import Engine

        return Engine(self.database, clock_from_environment(), self.home, routing=Routing.from_environment(),
                      base_url=os.environ.get("TRECKK_BASE_URL", ""))

    @cached_property
    def views(self) -> Views:
        from engine.app.queries import Views

        return Views(self.engine)

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
