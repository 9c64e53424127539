"""The one place the application is put together: ``build(settings)``.

Every adapter (the command line, the scheduler, the web app) gets its database, clock,
channels, commands and queries from here, so each is wired the same way from the same settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from engine.app.commands import Commands
from engine.app.credentials import Credentials
from engine.app.public_desk import PublicDesk
from engine.app.queries import Queries
from engine.app.settings import DATABASE_URL, DB_POOL_SIZE, PREFIX, Settings
from engine.channels.base import ChannelSet
from engine.compile.cache import CompileCache
from engine.channels.registry import open_channels
from engine.core.clock import Clock, fixed_clock, system_clock
from engine.notices.routing import Routing
from engine.store.database import Database


@dataclass(frozen=True, slots=True)
class Application:
    """The assembled engine: settings, database, clock, channels, commands and queries."""

    settings: Settings
    database: Database
    clock: Clock
    channels: Callable[[], ChannelSet]
    """Opens the configured channels for one delivery run (the caller closes them)."""
    commands: Commands
    queries: Queries
    credentials: Credentials
    """Passwords, logins and API tokens (the web app's and the API's doors)."""
    public: PublicDesk
    """The public's door: complaints from public channels, tracking, notes, ratings."""

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
    channels = partial(open_channels, settings.channels, prefix=PREFIX)
    routing = Routing(settings.channel_preference, frozenset(settings.channels))
    commands = Commands(database, clock, settings.home, routing=routing, base_url=settings.base_url,
                        channels=channels, delivery=settings.delivery,
                        cache=CompileCache(settings.cache_dir) if settings.cache_dir is not None else None)
    return Application(settings, database, clock, channels, commands, Queries(commands), Credentials(commands),
                       PublicDesk(commands))
