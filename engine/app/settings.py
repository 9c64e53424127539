"""The settings: every ``TRECKK_*`` environment variable, read once into one typed object.

``Settings.from_environment()`` is the only place the engine reads the environment. A value it
cannot use is refused there as ``InvalidInput`` naming the variable and what it accepts; the rest
of the engine gets what it needs from the object (``engine.app.assembly.build``). A channel's
settings are ``TRECKK_`` + the keys its module declares (``TRECKK_SMTP_HOST`` is the smtp
channel's ``SMTP_HOST``), parsed by the channel itself and kept here by channel name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.clock import parse_moment
from engine.errors import InvalidInput
from engine.notices.policy import DeliveryPolicy

if TYPE_CHECKING:
    from engine.channels.base import Options

PREFIX = "TRECKK_"
"""What every variable read here starts with; a channel's key ``SMTP_HOST`` is ``TRECKK_SMTP_HOST``."""

HOME = "TRECKK_HOME"
"""The variable naming the folder that holds workflows/, roles/ and templates/."""
DATABASE_URL = "TRECKK_DATABASE_URL"
"""The variable naming the database (``--db`` overrides it)."""
DB_POOL_SIZE = "TRECKK_DB_POOL_SIZE"
"""The variable for PostgreSQL connections per process (named when the pool runs dry)."""
SCAN_INTERVAL = "TRECKK_SCAN_INTERVAL"
"""The variable for the seconds between escalation scans (``serve --scan-interval`` overrides it)."""

DEFAULT_SCAN_INTERVAL = 60.0
DEFAULT_DELIVERY_INTERVAL = 30.0
MAX_SCHEDULE_GRACE = 31 * 86400
"""The longest grace period (a month): a runner never looks further back for missed schedule runs."""
DEFAULT_SCHEDULE_GRACE = timedelta(hours=6)

PACKAGE_HOME = Path(__file__).resolve().parents[2]
"""The directory holding the ``engine`` package and ``runner.py`` (in a checkout: workflows/, roles/, templates/)."""

DATA_PACKAGE = "treckk_home"
"""The package that carries workflows/, roles/ and templates/ in an installed (non-editable) TRECKK."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the environment configures, parsed and checked; made by ``from_environment``."""

    home: Path
    """Where ``workflows/``, ``roles/`` and ``templates/`` are read (``TRECKK_HOME``)."""
    database_url: str
    channels: Mapping[str, Any]
    """The parsed settings of each configured channel, by name (``engine.channels.registry``)."""
    channel_preference: tuple[str, ...]
    """Channels in order of preference for a recipient (``TRECKK_CHANNELS``)."""
    now: datetime | None = None
    """The moment the clock is frozen at (``TRECKK_NOW``), or None for real time."""
    base_url: str = ""
    prepared: bool = True
    """Hot-path statements straight to the driver (``engine.store.prepared``), or all through SQLAlchemy."""
    db_pool_size: int | None = None
    """PostgreSQL connections kept per process; None for the database's default."""
    db_max_overflow: int | None = None
    scan_interval: float = DEFAULT_SCAN_INTERVAL
    delivery_interval: float = DEFAULT_DELIVERY_INTERVAL
    schedule_grace: timedelta = DEFAULT_SCHEDULE_GRACE
    delivery: DeliveryPolicy = DeliveryPolicy()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every ``TRECKK_*`` variable of ``environ`` (the process environment by default) once."""
        # Imported here: naming the variables (``--help``) needs none of the channels.
        from engine.channels import registry
        from engine.channels.base import Options

        env = Options(os.environ if environ is None else environ)
        configured_home = env.get(HOME)
        home = Path(configured_home).resolve() if configured_home else default_home(PACKAGE_HOME)
        now = env.get("TRECKK_NOW")
        channel_options = Options({key: env.get(PREFIX + key) for key in registry.keys()}, PREFIX, home)
        return cls(
            home=home,
            database_url=env.get(DATABASE_URL) or default_database_url(home),
            channels=registry.configure(channel_options),
            channel_preference=_preference(env, "TRECKK_CHANNELS", registry.names(), registry.FALLBACK),
            now=parse_moment(now, "TRECKK_NOW") if now else None,
            base_url=env.get("TRECKK_BASE_URL"),
            prepared=env.flag("TRECKK_PREPARED", True),
            db_pool_size=_connections(env, DB_POOL_SIZE, example=3),
            db_max_overflow=_connections(env, "TRECKK_DB_MAX_OVERFLOW", example=2),
            scan_interval=_interval(env, SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL),
            delivery_interval=_interval(env, "TRECKK_DELIVERY_INTERVAL", DEFAULT_DELIVERY_INTERVAL),
            schedule_grace=timedelta(seconds=env.number("TRECKK_SCHEDULE_GRACE",
                                                        DEFAULT_SCHEDULE_GRACE.total_seconds(),
                                                        maximum=MAX_SCHEDULE_GRACE)),
            delivery=_delivery_policy(env),
        )


def has_definitions(folder: Path) -> bool:
    """Whether ``folder`` holds a ``workflows/`` folder with at least one workflow file."""
    return any((folder / "workflows").glob("*.yaml"))


def default_home(package_folder: Path) -> Path:
    """The home when none is set: ``package_folder`` when it holds the definitions (a checkout), else
    the installed data package ``treckk_home``, else ``package_folder``."""
    if has_definitions(package_folder):
        return package_folder
    import importlib.util

    try:
        spec = importlib.util.find_spec(DATA_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        if has_definitions(Path(location)):
            return Path(location).resolve()
    return package_folder


def default_database_url(home: Path) -> str:
    """The database when none is named: an SQLite file under the home's ``var/``."""
    return f"sqlite:///{home / 'var' / 'treckk.db'}"


def _preference(env: Options, name: str, known: tuple[str, ...], fallback: str) -> tuple[str, ...]:
    preference = tuple(part.strip() for part in env.get(name).split(",") if part.strip())
    for channel in preference:
        if channel not in known:
            raise InvalidInput(f"{name} names unknown channel {channel!r}; allowed: {', '.join(known)}",
                               field=name, value=channel, accepted=known)
    return preference or (fallback,)


def _connections(env: Options, name: str, *, example: int) -> int | None:
    raw = env.text(name)
    if not raw:
        return None
    if not raw.isdigit():
        raise InvalidInput(f"{name}={raw!r} is not a whole number of connections; e.g. {name}={example}",
                           field=name, value=raw)
    return int(raw)


def _interval(env: Options, name: str, default: float) -> float:
    seconds = env.number(name, default)
    if seconds <= 0:
        raise InvalidInput(f"{name}={env.text(name)!r} is too small; it must be more than 0 seconds",
                           field=name, value=env.text(name))
    return seconds


def _delivery_policy(env: Options) -> DeliveryPolicy:
    default = DeliveryPolicy()
    attempts_name, jitter_name = "TRECKK_DELIVERY_MAX_ATTEMPTS", "TRECKK_DELIVERY_JITTER"
    attempts = env.number(attempts_name, default.max_attempts, minimum=1)
    if attempts != int(attempts):
        raise InvalidInput(f"{attempts_name}={env.get(attempts_name)!r} is not a whole number",
                           field=attempts_name, value=env.get(attempts_name))
    backoff = env.number("TRECKK_DELIVERY_BACKOFF", default.backoff, minimum=1)
    backoff_max = env.number("TRECKK_DELIVERY_BACKOFF_MAX", max(default.backoff_max, backoff), minimum=backoff)
    jitter = env.number(jitter_name, default.jitter, minimum=0)
    if jitter > 1:
        raise InvalidInput(f"{jitter_name}={jitter:g} is too large; use a fraction from 0 to 1",
                           field=jitter_name, value=env.text(jitter_name))
    lease = env.number("TRECKK_DELIVERY_LEASE", default.lease, minimum=1)
    return DeliveryPolicy(int(attempts), backoff, backoff_max, jitter, lease, default.batch)
