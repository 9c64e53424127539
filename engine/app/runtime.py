"""What every command and query stands on: the database, the clock, the deployed workflows compiled once,
their calendars, notice routing, and who is looking.

``Commands`` (the one door for changes) is a runtime; the modules that do one kind of work for it
(escalation, schedules, the outbox) take a runtime, so none of them imports the commands.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from engine.compile.cache import CompileCache
from engine.compile.workflow import Bundle, CompiledWorkflow, compile_bundle
from engine.core.clock import Clock
from engine.core.deadlines import WorkingCalendar
from engine.definition.model import WorkflowDefinition
from engine.errors import NotFound, PermissionDenied
from engine.notices.policy import DeliveryPolicy
from engine.notices.routing import Routing
from engine.store import definition_rows, staff_rows
from engine.store.database import Database
from engine.store.staff_rows import StaffMember

if TYPE_CHECKING:
    from engine.channels.base import ChannelSet


class Runtime:
    """One database and clock, with the compiled workflows and calendars cached for the process."""

    def __init__(self, database: Database, clock: Clock, home: Path, *, routing: Routing | None = None,
                 base_url: str = "", channels: Callable[[], ChannelSet] | None = None,
                 delivery: DeliveryPolicy | None = None, cache: CompileCache | None = None) -> None:
        """``channels`` opens the channels of one delivery run; by default the file channel under ``home``.

        ``cache`` remembers across processes which deployed bundles were checked in full, and Jinja's
        compiled templates (``engine.compile.cache``); without it every process compiles in full.
        """
        self.db = database
        self.clock = clock
        self.home = home
        self.routing = routing or Routing()
        self.base_url = base_url
        self.open_channels = channels or partial(_file_channel, home)
        self.delivery = delivery or DeliveryPolicy()
        self.cache = cache
        self._compiled: dict[tuple[str, int], CompiledWorkflow] = {}
        self._calendars: dict[tuple[str, str], WorkingCalendar] = {}

    def compiled(self, connection: Connection, workflow: str, version: int | None = None) -> CompiledWorkflow:
        """A deployed version (newest when ``version`` is None), compiled once per process (and checked in
        full once per engine and bundle, with the cache)."""
        if version is not None and (workflow, version) in self._compiled:
            return self._compiled[(workflow, version)]
        stored = (definition_rows.latest(connection, workflow) if version is None
                  else definition_rows.version(connection, workflow, version))
        if stored is None:
            which = f"version {version} of workflow" if version is not None else "workflow"
            raise NotFound(f"{which} {workflow!r} is not deployed; run `treckk init` or `treckk deploy`")
        key = (stored.workflow, stored.version)
        if key not in self._compiled:
            self._compiled[key] = compile_bundle(Bundle.from_json(stored.bundle), self.cache)
        return self._compiled[key]

    def calendar(self, compiled: CompiledWorkflow, name: str) -> WorkingCalendar:
        key = (compiled.digest, name)
        if key not in self._calendars:
            self._calendars[key] = WorkingCalendar(compiled.definition.calendars[name], compiled.definition.timezone,
                                                   self.cache.holidays() if self.cache is not None else None)
        return self._calendars[key]

    def latest_versions(self) -> tuple[tuple[str, int], ...]:
        """(workflow, newest deployed version) for every deployed workflow, by name."""

        def read(connection: Connection) -> tuple[tuple[str, int], ...]:
            found = []
            for workflow in definition_rows.workflows(connection):
                latest = definition_rows.latest(connection, workflow)
                if latest is not None:
                    found.append((workflow, latest.version))
            return tuple(found)

        return self.db.read(read)

    def definition_of(self, workflow: str, version: int) -> WorkflowDefinition:
        """A deployed version's definition (compiled once per process)."""
        return self.db.read(lambda connection: self.compiled(connection, workflow, version)).definition

    def _staff(self, connection: Connection, username: str, workflow: str | None = None) -> StaffMember:
        """The member, with only ``workflow``'s grants when given; NotFound when there is none."""
        member = staff_rows.by_username(connection, username, workflow)
        if member is None:
            raise NotFound(f"staff {username!r} not found; add them with `treckk staff add`")
        return member

    def viewer(self, connection: Connection, username: str | None) -> StaffMember | None:
        """The staff member who looks (None: nobody in particular, who sees no personal data).

        An unknown name is NotFound; a disabled member may see nothing.
        """
        if username is None:
            return None
        member = staff_rows.by_username(connection, username)
        if member is None:
            raise NotFound(f"staff {username!r} not found", field="staff", value=username)
        if not member.active:
            raise PermissionDenied(f"staff {username!r} is disabled and may not see cases")
        return member


def _file_channel(home: Path) -> ChannelSet:
    """The channels of a runtime given none: those that need no settings (the file channel under ``home``)."""
    from engine.channels.base import Options
    from engine.channels.registry import configure, open_channels

    return open_channels(configure(Options(home=home)))
