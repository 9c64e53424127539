"""The one place the application is put together: ``build(settings)``.

Every adapter (the command line, the scheduler, the web app) gets its database, clock,
channels, commands and queries from here, so each is wired the same way from the same settings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from engine.app.commands import Commands
from engine.app.queries import Queries
from engine.app.settings import DATABASE_URL, DB_POOL_SIZE, PREFIX, Settings
from engine.compile.cache import CompileCache
from engine.core.clock import Clock, fixed_clock, system_clock
from engine.notices.routing import Routing
from engine.store.database import Database

if TYPE_CHECKING:
    from engine.channels.base import ChannelSet
    from engine.app.credentials import Credentials
    from engine.app.definition_desk import DefinitionDesk
    from engine.app.public_desk import PublicDesk
    from engine.app.staff_desk import StaffDesk
    from engine.app.whatsapp import WhatsAppDesk

T = TypeVar("T")


class Application:
    """The assembled engine: settings, database, clock, channels, commands and queries.

    The desks (credentials, the public's, WhatsApp's) are built on first use, once: a command that
    uses none of them (``treckk show``) does not import them.
    """

    __slots__ = ("settings", "database", "clock", "channels", "commands", "queries", "_desks", "_lock")

    def __init__(self, settings: Settings, database: Database, clock: Clock, channels: Callable[[], ChannelSet],
                 commands: Commands, queries: Queries) -> None:
        self.settings = settings
        self.database = database
        self.clock = clock
        self.channels = channels
        """Opens the configured channels for one delivery run (the caller closes them)."""
        self.commands = commands
        self.queries = queries
        self._desks: dict[str, Any] = {}
        self._lock = threading.RLock()  # the WhatsApp desk builds the public one

    def _desk(self, name: str, make: Callable[[], T]) -> T:
        """The desk ``name``, built by ``make`` the first time it is asked for (by one thread)."""
        with self._lock:
            if name not in self._desks:
                self._desks[name] = make()
            desk: T = self._desks[name]
            return desk

    @property
    def credentials(self) -> Credentials:
        """Passwords, logins and API tokens (the web app's and the API's doors)."""
        from engine.app.credentials import Credentials

        return self._desk("credentials", lambda: Credentials(self.commands))

    @property
    def public(self) -> PublicDesk:
        """The public's door: complaints from public channels, tracking, notes, ratings."""
        from engine.app.public_desk import PublicDesk

        return self._desk("public", lambda: PublicDesk(self.commands))

    @property
    def whatsapp(self) -> WhatsAppDesk:
        """La-Lisa on WhatsApp: the webhook's doors and processing what it stored."""
        return self._desk("whatsapp", self._whatsapp)

    def _whatsapp(self) -> WhatsAppDesk:
        from engine.app.attachments import Attachments
        from engine.app.whatsapp import CHANNEL, WhatsAppDesk
        from engine.definition.model import public_actor

        settings = self.settings
        photos = Attachments(self.queries, settings.attachment_folder, settings.attachment_max_bytes)
        return WhatsAppDesk(self.commands, settings.channels.get(CHANNEL), public=self.public,
                            store_photo=partial(photos.store, public_actor(CHANNEL)), idle=settings.whatsapp_idle,
                            max_photo_bytes=settings.attachment_max_bytes)

    @property
    def definitions(self) -> DefinitionDesk:
        """Editing, checking, trying and deploying definitions; migrating running cases (the web editor's door)."""
        from engine.app.definition_desk import DefinitionDesk

        return DefinitionDesk(self.commands)

    @property
    def staff_desk(self) -> StaffDesk:
        """The administrators' desk: staff, passwords, tokens, the audit trail (``engine.app.staff_desk``)."""
        from engine.app.staff_desk import StaffDesk

        return StaffDesk(self.commands, self.credentials)

    def close(self) -> None:
        """Close the database's pooled and kept connections."""
        self.database.dispose()


def clock_of(settings: Settings) -> Clock:
    """The frozen clock ``settings.now`` asks for, else the system clock."""
    return fixed_clock(settings.now) if settings.now is not None else system_clock


def build(settings: Settings, *, clock: Clock | None = None, create_database: bool = True) -> Application:
    """The application ``settings`` describe; the database connects on first use.

    ``clock`` replaces the settings' clock, for tests and simulations that move time by hand;
    ``create_database=False`` refuses an SQLite file that does not exist yet instead of making it.
    """
    database = Database(settings.database_url, pool_size=settings.db_pool_size,
                        max_overflow=settings.db_max_overflow, prepared=settings.prepared,
                        url_setting=DATABASE_URL, pool_size_setting=DB_POOL_SIZE, create=create_database)
    clock = clock or clock_of(settings)
    routing = Routing(settings.channel_preference, frozenset(settings.channels))
    channels = partial(_open_channels, settings)
    commands = Commands(database, clock, settings.home, routing=routing, base_url=settings.base_url,
                        channels=channels, delivery=settings.delivery,
                        cache=CompileCache(settings.cache_dir) if settings.cache_dir is not None else None)
    return Application(settings, database, clock, channels, commands, Queries(commands))


def _open_channels(settings: Settings) -> ChannelSet:
    """The channels ``settings`` configure, opened for one delivery run."""
    from engine.channels.registry import open_channels

    return open_channels(settings.channels, prefix=PREFIX)
