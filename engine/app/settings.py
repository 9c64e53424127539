"""The settings: every ``TRECKK_*`` environment variable, read once into one typed object.

``Settings.from_environment()`` is the only place the engine reads the environment. A value it
cannot use is refused there as ``InvalidInput`` naming the variable and what it accepts; the rest
of the engine gets what it needs from the object (``engine.app.assembly.build``). A channel's
settings are ``TRECKK_`` + the keys its module declares (``TRECKK_SMTP_HOST`` is the smtp
channel's ``SMTP_HOST``), parsed by the channel itself and kept here by channel name.
"""

from __future__ import annotations

import os
import time
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
SIGNING_KEY_FILE = "TRECKK_SIGNING_KEY_FILE"
"""The variable naming the Ed25519 key file that signs the transparency log's checkpoints."""

WITNESS_URL = "TRECKK_CHECKPOINT_WITNESS_URL"
"""The variable naming the URL each signed checkpoint is POSTed to (an outside witness)."""
DEFAULT_WITNESS_TIMEOUT = 10.0

SECRET_KEY = "TRECKK_SECRET_KEY"
"""The variable holding the key that signs the web app's session cookies."""
SECRET_KEY_HINT = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
"""A command that prints a good secret key."""
MIN_SECRET_KEY_LENGTH = 32

CACHE_DIR = "TRECKK_CACHE_DIR"
"""The variable naming the folder for what compiling a definition leaves for the next process."""
OUTBOX_RETENTION_DAYS = "TRECKK_OUTBOX_RETENTION_DAYS"
"""The variable for how many days a delivered notice keeps its body."""

RESIDENT = "TRECKK_RESIDENT"
"""The variable saying whether short commands are answered by the user's resident command server."""

WHATSAPP_IDLE_MINUTES = "TRECKK_WHATSAPP_IDLE_MINUTES"
"""The variable for how long a WhatsApp conversation may wait for the next answer before it expires."""
DEFAULT_WHATSAPP_IDLE = timedelta(minutes=60)
DEFAULT_SCAN_INTERVAL = 60.0
DEFAULT_SESSION_IDLE = timedelta(minutes=30)
DEFAULT_DELIVERY_INTERVAL = 30.0
MAX_SCHEDULE_GRACE = 31 * 86400
"""The longest grace period (a month): a runner never looks further back for missed schedule runs."""
DEFAULT_SCHEDULE_GRACE = timedelta(hours=6)
DEFAULT_CHECKPOINT_INTERVAL = 3600.0

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
    signing_key_file: Path | None = None
    """The checkpoint signing key (``TRECKK_SIGNING_KEY_FILE``); None: no checkpoints are written."""
    checkpoint_dir: Path | None = None
    """Where checkpoints are sent as files (``TRECKK_CHECKPOINT_DIR``; None: ``<home>/var/checkpoints``)."""
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL
    """Seconds between checkpoints written by ``serve`` (``TRECKK_CHECKPOINT_INTERVAL``)."""
    witness_url: str | None = None
    """Where each checkpoint is POSTed as JSON (``TRECKK_CHECKPOINT_WITNESS_URL``); None: to no witness."""
    witness_timeout: float = DEFAULT_WITNESS_TIMEOUT
    """Seconds one send to the witness may take (``TRECKK_CHECKPOINT_WITNESS_TIMEOUT``)."""
    attachment_dir: Path | None = None
    """Where uploaded photos are kept (``TRECKK_ATTACHMENT_DIR``); None: ``<home>/var/attachments``."""
    attachment_max_bytes: int = 5 * 1024 * 1024
    """The largest upload accepted, in bytes (``TRECKK_ATTACHMENT_MAX_BYTES``)."""

    secret_key: str = ""
    """The key signing the web app's session cookies (``TRECKK_SECRET_KEY``); empty when not set."""
    session_idle: timedelta = DEFAULT_SESSION_IDLE
    """How long a web session lasts without a request before it must log in again."""
    cache_dir: Path | None = None
    """Where compiled definitions are remembered across processes (``TRECKK_CACHE_DIR``); None: nowhere."""
    outbox_retention_days: float | None = None
    """Days after delivery a notice keeps its body (``TRECKK_OUTBOX_RETENTION_DAYS``); None: for ever."""
    whatsapp_idle: timedelta = DEFAULT_WHATSAPP_IDLE
    """How long a WhatsApp conversation waits for the next answer before it expires."""
    resident: bool = True
    """Whether the command line hands short commands to the user's resident command server
    (``TRECKK_RESIDENT``; ``engine.adapters.cli.resident``)."""

    @property
    def checkpoint_folder(self) -> Path:
        """The folder checkpoints are written to and read back from."""
        return self.checkpoint_dir or self.home / "var" / "checkpoints"

    @property
    def attachment_folder(self) -> Path:
        """The attachment folder in effect (outside any folder the web app serves)."""
        return self.attachment_dir if self.attachment_dir is not None else self.home / "var" / "attachments"

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies carry the Secure flag: the base URL is https."""
        return self.base_url.lower().startswith("https://")

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
            signing_key_file=_path(env, SIGNING_KEY_FILE, home),
            checkpoint_dir=_path(env, "TRECKK_CHECKPOINT_DIR", home),
            checkpoint_interval=_interval(env, "TRECKK_CHECKPOINT_INTERVAL", DEFAULT_CHECKPOINT_INTERVAL),
            witness_url=_http_url(env, WITNESS_URL),
            witness_timeout=_interval(env, "TRECKK_CHECKPOINT_WITNESS_TIMEOUT", DEFAULT_WITNESS_TIMEOUT),
            attachment_dir=_path(env, "TRECKK_ATTACHMENT_DIR", home),
            attachment_max_bytes=int(env.number("TRECKK_ATTACHMENT_MAX_BYTES", 5 * 1024 * 1024, minimum=1)),
            secret_key=_secret_key(env),
            session_idle=timedelta(minutes=env.number("TRECKK_SESSION_IDLE_MINUTES",
                                                      DEFAULT_SESSION_IDLE.total_seconds() / 60, minimum=1)),
            cache_dir=_cache_dir(env, os.environ if environ is None else environ),
            outbox_retention_days=_retention_days(env),
            whatsapp_idle=timedelta(minutes=env.number(WHATSAPP_IDLE_MINUTES,
                                                       DEFAULT_WHATSAPP_IDLE.total_seconds() / 60, minimum=1,
                                                       maximum=7 * 24 * 60)),
            resident=env.flag(RESIDENT, True),
        )


def resident_plan(environ: Mapping[str, str] | None = None) -> tuple[dict[str, str], Path] | None:
    """For the command line's client (``engine.adapters.cli.resident``): the environment it hands the
    user's resident command server, and the folder of that server's socket; None when
    ``TRECKK_RESIDENT`` is off, or says something that is neither yes nor no (the command then runs
    in its own process, whose settings refuse the value by name).

    Read without building ``Settings``: the client must stay cheaper than what it saves. The folder
    is ``$XDG_RUNTIME_DIR/treckk`` (the user's own runtime folder), else ``treckk-<uid>`` in
    ``$TMPDIR`` or ``/tmp``; the client checks that it is private before using it.
    """
    from engine.channels.base import YES_WORDS

    given = os.environ if environ is None else environ
    if (given.get(RESIDENT) or "yes").strip().lower() not in YES_WORDS:
        return None
    runtime = given.get("XDG_RUNTIME_DIR") or ""
    if runtime and Path(runtime).is_absolute():
        folder = Path(runtime) / "treckk"
    else:
        temporary = given.get("TMPDIR") or ""
        folder = (Path(temporary) if Path(temporary).is_absolute() else Path("/tmp")) / f"treckk-{os.getuid()}"
    return dict(given), folder


def adopt_environment(environment: Mapping[str, str]) -> None:
    """Make ``environment`` this process's own (a resident server's child taking its client's)."""
    os.environ.clear()
    os.environ.update(environment)
    if hasattr(time, "tzset"):
        time.tzset()  # the local zone (``TZ``) as a new process would read it; a library may use it


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


def _cache_dir(env: Options, environ: Mapping[str, str]) -> Path | None:
    """``TRECKK_CACHE_DIR``, ``off`` for none; by default ``$XDG_CACHE_HOME/treckk`` or ``~/.cache/treckk``."""
    configured = env.text(CACHE_DIR)
    if configured.lower() == "off":
        return None
    if configured:
        try:
            return Path(configured).expanduser().resolve()
        except (RuntimeError, OSError, ValueError) as error:  # "~nosuchuser", a NUL, a loop of links
            raise InvalidInput(f"{CACHE_DIR}={configured!r} is not a usable folder ({error}); give an absolute path, "
                               f"or {CACHE_DIR}=off", field=CACHE_DIR, value=configured) from None
    base = environ.get("XDG_CACHE_HOME") or ""
    if base and Path(base).is_absolute():
        return Path(base) / "treckk"
    user_home = environ.get("HOME") or ""
    return Path(user_home) / ".cache" / "treckk" if user_home and Path(user_home).is_absolute() else None


def _retention_days(env: Options) -> float | None:
    raw = env.text(OUTBOX_RETENTION_DAYS)
    if not raw:
        return None
    days = env.number(OUTBOX_RETENTION_DAYS, 0)
    if days <= 0:
        raise InvalidInput(f"{OUTBOX_RETENTION_DAYS}={raw!r} is too small; give the days a delivered notice keeps "
                           f"its body (more than 0), e.g. {OUTBOX_RETENTION_DAYS}=90, or leave it unset to keep "
                           "every body", field=OUTBOX_RETENTION_DAYS, value=raw)
    return days


def _preference(env: Options, name: str, known: tuple[str, ...], fallback: str) -> tuple[str, ...]:
    preference = tuple(part.strip() for part in env.get(name).split(",") if part.strip())
    for channel in preference:
        if channel not in known:
            raise InvalidInput(f"{name} names unknown channel {channel!r}; allowed: {', '.join(known)}",
                               field=name, value=channel, accepted=known)
    return preference or (fallback,)


def _path(env: Options, name: str, home: Path) -> Path | None:
    """A file or folder a variable names (relative to the home), or None when it is not set."""
    raw = env.text(name)
    if not raw:
        return None
    if "\x00" in raw:
        raise InvalidInput(f"{name} contains a NUL character; give a path", field=name)
    try:
        path = Path(raw).expanduser()
    except RuntimeError as error:  # "~nosuchuser"
        raise InvalidInput(f"{name}={raw!r} is not a usable path ({error}); give an absolute path", field=name,
                           value=raw) from None
    return path if path.is_absolute() else home / path


def _secret_key(env: Options) -> str:
    key = env.text(SECRET_KEY)
    if key and len(key) < MIN_SECRET_KEY_LENGTH:
        raise InvalidInput(f"{SECRET_KEY} is too short ({len(key)} characters); use at least "
                           f"{MIN_SECRET_KEY_LENGTH}, e.g. the output of: {SECRET_KEY_HINT}", field=SECRET_KEY)
    return key


def _connections(env: Options, name: str, *, example: int) -> int | None:
    raw = env.text(name)
    if not raw:
        return None
    if raw.isascii() and raw.isdigit() and int(raw) > 10_000:
        raise InvalidInput(f"{name}={raw!r} is too many connections; give at most 10000, e.g. {name}={example}",
                           field=name, value=raw)
    if not (raw.isascii() and raw.isdigit()):
        raise InvalidInput(f"{name}={raw!r} is not a whole number of connections; e.g. {name}={example}",
                           field=name, value=raw)
    return int(raw)


def _http_url(env: Options, name: str) -> str | None:
    """An http:// or https:// URL with a host, or None when the variable is not set."""
    from urllib.parse import urlsplit

    from engine.core.masking import without_secrets

    raw = env.text(name)
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:  # a bad port, a bracket out of place
        valid = False
    if not valid or any(ord(ch) < 33 for ch in raw):
        raise InvalidInput(f"{name}={without_secrets(raw)[:200]!r} is not an http:// or https:// URL with a host, "
                           f"e.g. {name}=https://saksi.example.org/checkpoints", field=name,
                           accepted=("http://", "https://"))
    return raw


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
