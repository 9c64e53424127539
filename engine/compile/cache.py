"""What compiling a definition bundle leaves for the next process: which bundles passed the full checks,
the definitions parsed from them, Jinja's compiled template code, and the holidays its calendars looked up.

Compiling a stored bundle in full renders every template in every kind of context it can meet,
looks the holiday country up and parses each cron line: about a third of a second, in every
process, for a bundle whose content cannot change (it is known by its digest) and which passed
exactly these checks before it was deployed. The structure itself parses in a few milliseconds.
So a process that compiled a bundle in full leaves a *mark* for it, and a later process that
finds the mark compiles the same bundle with the structure parse only (``compile_bundle``); and it
leaves the parsed definition itself, so a later process with the mark does not parse at all (nor
import PyYAML): the parse and its imports are most of what a short command does besides SQLAlchemy.

Why a mark and not the pickled compiled object: the compiled workflow holds a Jinja environment,
closures and a ``transitions`` machine, which do not pickle; and unpickling runs whatever the file
says, so a cache file anybody else could write would be a way in. A mark is a small JSON text
holding the bundle's digest and the engine's fingerprint (a digest of the sources of the modules
that do the checking, and of Jinja's, which names its version); it is believed only when its name and its whole
content match what is asked. A stale mark (another engine, another bundle) is never found under
the name asked for; a corrupt one (truncated, edited) does not match and is rewritten. Nothing read
from a mark is run or used beyond that comparison: a forged mark can at most skip checks on a
bundle that came from the database, where only a validated deploy puts one — a template that then
failed would fail on render as ``TemplateFailed``, as it would have at the check.

Jinja's compiled template code (``marshal``-ed code objects, run when loaded) and the parsed
definitions (pickled frozen dataclasses of ``engine.definition.model``) are another matter: they
are cached only in a folder of our own, mode 0700, with files of our own, mode 0600, each file
ending with the SHA-256 of what comes before it; anything else is ignored and rebuilt from the
source (Jinja itself recompiles when a template's source checksum differs). A definition file is
named after the engine's fingerprint and the digest of the whole stored bundle (its paths too,
which the model's locations name), holds both again, and is unpickled by an unpickler that makes
only the model's own classes, ``Where`` and dates and times — a file that names anything else, or
that does not hold what its name promises, is ignored and the bundle parsed again.

Every file is written to a temporary name and renamed, so a reader never sees half a file. A
cache folder that cannot be used (not ours, not writable) just means compiling in full, as before.
"""

from __future__ import annotations

import copyreg
import functools
import hashlib
import importlib.util
import io
import json
import os
import pickle
import stat
import sys
import tempfile
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from engine.core.deadlines import HolidaySource, PackageHolidays

if TYPE_CHECKING:
    from jinja2.bccache import Bucket

    from engine.definition.model import WorkflowDefinition

MARK_FORMAT = 1
_CHECKING_MODULES = ("engine.compile.workflow", "engine.compile.templates", "engine.compile.template_budget",
                     "engine.compile.notice_context", "engine.compile.guards", "engine.definition.parse", "engine.definition.checks",
                     "engine.definition.model", "engine.definition.yamlnodes")
"""The modules whose code decides whether a bundle passes; a change to any of them is another engine."""

_DIGEST_SIZE = hashlib.sha256().digest_size


def engine_fingerprint() -> str:
    """A digest of the checking modules' sources and of Jinja's (its version), whether imported yet or not."""
    digest = hashlib.sha256(f"{MARK_FORMAT}|{sys.version_info[:2]}".encode())
    for name in (*_CHECKING_MODULES, "jinja2"):
        digest.update(name.encode())
        try:
            # Located, not imported: a process that reads a case imports neither Jinja nor the checks,
            # and must still find the marks the process that checked left.
            spec = importlib.util.find_spec(name)
            file = spec.origin if spec is not None else None
            digest.update(Path(file).read_bytes() if file else b"?")
        except (ImportError, ValueError, OSError):
            digest.update(b"?")
    return digest.hexdigest()


def _private_folder(folder: Path) -> bool:
    """Make ``folder`` (mode 0700) if needed; True when it is a real folder of ours that only we can write."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return False
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
            and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _read_private(path: Path) -> bytes | None:
    """The bytes of ``path`` when it is a regular file of ours that only we can write, else None."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid()
                or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
            return None
        with os.fdopen(descriptor, "rb") as file:
            descriptor = -1
            return file.read()
    except OSError:
        return None
    finally:
        if descriptor >= 0:
            os.close(descriptor)


def _write_private(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` (mode 0600) through a temporary file and a rename; failures are ignored."""
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass


class CompileCache:
    """The marks of fully checked bundles and Jinja's compiled templates, under one folder of ours."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._usable: bool | None = None
        self._fingerprint: str | None = None

    @property
    def usable(self) -> bool:
        if self._usable is None:
            self._usable = _private_folder(self.folder) and _private_folder(self.folder / "templates")
        return self._usable

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = engine_fingerprint()
        return self._fingerprint

    def _mark(self, bundle_digest: str) -> tuple[Path, bytes]:
        name = hashlib.sha256(f"{self.fingerprint}|{bundle_digest}".encode()).hexdigest()
        content = json.dumps({"format": MARK_FORMAT, "bundle": bundle_digest, "engine": self.fingerprint,
                              "checked": "full"}, sort_keys=True).encode()
        return self.folder / f"{name}.checked", content

    def checked(self, bundle_digest: str) -> bool:
        """Whether this engine compiled the bundle with this digest in full, without a problem."""
        if not self.usable:
            return False
        path, expected = self._mark(bundle_digest)
        return _read_private(path) == expected

    def remember_checked(self, bundle_digest: str) -> None:
        """Leave the mark: the bundle with this digest passed every check of this engine."""
        if self.usable:
            path, content = self._mark(bundle_digest)
            if _read_private(path) != content:
                _write_private(path, content)

    def _definition_file(self, bundle_json_digest: str) -> Path:
        name = hashlib.sha256(f"{self.fingerprint}|{bundle_json_digest}".encode()).hexdigest()
        return self.folder / f"{name}.definition"

    def definition(self, bundle_json_digest: str) -> WorkflowDefinition | None:
        """The definition this engine parsed from the bundle whose JSON text has this digest, or None."""
        if not self.usable:
            return None
        content = _read_private(self._definition_file(bundle_json_digest))
        if content is None or len(content) <= _DIGEST_SIZE:
            return None
        payload, digest = content[:-_DIGEST_SIZE], content[-_DIGEST_SIZE:]
        if hashlib.sha256(payload).digest() != digest:
            return None
        from engine.definition.model import WorkflowDefinition

        try:
            found = _DefinitionUnpickler(io.BytesIO(payload)).load()
        except Exception:  # noqa: BLE001 - whatever a damaged or foreign file raises, it is not a definition
            return None
        if (isinstance(found, tuple) and len(found) == 4
                and found[:3] == (MARK_FORMAT, bundle_json_digest, self.fingerprint)
                and isinstance(found[3], WorkflowDefinition)):
            return found[3]
        return None

    def remember_definition(self, bundle_json_digest: str, definition: WorkflowDefinition) -> None:
        """Keep ``definition``, parsed by this engine from the bundle whose JSON text has this digest."""
        if not self.usable:
            return
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = _DEFINITION_REDUCERS
        try:
            pickler.dump((MARK_FORMAT, bundle_json_digest, self.fingerprint, definition))
        except (pickle.PicklingError, TypeError, AttributeError):
            return  # something the model holds does not pickle: the next process parses, as before
        payload = buffer.getvalue()
        _write_private(self._definition_file(bundle_json_digest), payload + hashlib.sha256(payload).digest())

    def holidays(self) -> HolidaySource:
        """The ``holidays`` package's answers, kept in the ``holidays`` folder (the package otherwise costs a
        command that computes a deadline about 0.1 s to import and build)."""
        return _CachedHolidays(self.folder / "holidays") if self.usable and _private_folder(self.folder / "holidays") \
            else PackageHolidays()

    def bytecode_cache(self) -> Any:
        """A Jinja bytecode cache in the ``templates`` folder, or None when the folder is not usable."""
        return _template_code_class()(self.folder / "templates") if self.usable else None


def _frozen_map_reducer(mapping: Any) -> tuple[Any, tuple[dict[str, Any]]]:
    from engine.definition.model import frozen_map

    return frozen_map, (dict(mapping),)


_DEFINITION_REDUCERS = {**copyreg.dispatch_table, MappingProxyType: _frozen_map_reducer}
"""How a definition is pickled: the model's read-only mappings (``frozen_map``) as the dicts they view."""

_DEFINITION_MODULES = frozenset({"engine.definition.model", "engine.definition.where"})
_DEFINITION_VALUES = frozenset({("datetime", "date"), ("datetime", "time")})


class _DefinitionUnpickler(pickle.Unpickler):
    """Makes only what a definition is built of: the model's own classes and ``frozen_map``, dates and times."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _DEFINITION_VALUES:
            return super().find_class(module, name)
        if module in _DEFINITION_MODULES:
            found = super().find_class(module, name)
            if getattr(found, "__module__", None) == module and (isinstance(found, type) or name == "frozen_map"):
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a definition")


def _holidays_stamp() -> str:
    """Which ``holidays`` package is installed (its location, size and time), without importing it."""
    try:
        spec = importlib.util.find_spec("holidays")
        origin = spec.origin if spec is not None else None
        info = os.stat(origin) if origin else None
    except (ImportError, ValueError, OSError):
        return ""
    return f"{origin}|{info.st_size}|{info.st_mtime_ns}" if info is not None else ""


class _CachedHolidays:
    """The package's holidays of one country, categories and year, as a JSON list of dates in a private file.

    A file is believed only when it names exactly what is asked (country, categories, year, the
    installed package) and lists dates of that year; otherwise the package answers and the file is
    written again. Nothing read is run: the worst a forged file can do is move a deadline.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.package = PackageHolidays()
        self._stamp: str | None = None

    @property
    def stamp(self) -> str:
        if self._stamp is None:
            self._stamp = _holidays_stamp()
        return self._stamp

    def _file(self, key: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
        key = {**key, "package": self.stamp, "format": MARK_FORMAT}
        name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
        return self.folder / f"{name}.json", key

    def _read(self, path: Path, key: dict[str, Any]) -> Any:
        content = _read_private(path)
        try:
            found = json.loads(content) if content is not None else None
        except ValueError:
            return None
        return found.get("value") if isinstance(found, dict) and found.get("key") == key else None

    def _write(self, path: Path, key: dict[str, Any], value: Any) -> None:
        _write_private(path, json.dumps({"key": key, "value": value}, sort_keys=True).encode())

    def problem(self, country: str, categories: tuple[str, ...]) -> str | None:
        path, key = self._file({"country": country, "categories": list(categories), "checked": True})
        if not self.stamp or self._read(path, key) != "ok":
            problem = self.package.problem(country, categories)
            if problem is not None or not self.stamp:
                return problem
            self._write(path, key, "ok")
        return None

    def dates(self, country: str, categories: tuple[str, ...], year: int) -> frozenset[date]:
        path, key = self._file({"country": country, "categories": list(categories), "year": year})
        found = self._read(path, key) if self.stamp else None
        if isinstance(found, list):
            try:
                days = frozenset(date.fromisoformat(str(day)) for day in found)
            except ValueError:
                days = None
            if days is not None and all(day.year == year for day in days):
                return days
        days = self.package.dates(country, categories, year)
        if self.stamp:
            self._write(path, key, sorted(day.isoformat() for day in days))
        return days


@functools.cache
def _template_code_class() -> type:
    from jinja2.bccache import BytecodeCache

    class TemplateCode(BytecodeCache):
        """Jinja's compiled templates, one file per template and source, each ending in its SHA-256."""

        def __init__(self, folder: Path) -> None:
            self.folder = folder
            self._engine: str | None = None

        def get_cache_key(self, name: str, filename: str | None = None) -> str:
            # The engine rewrites templates as it compiles them (the render budget's loop counting):
            # code compiled by another engine, from the same source, is not this engine's code.
            if self._engine is None:
                self._engine = engine_fingerprint()
            return hashlib.sha256(f"{self._engine}|{super().get_cache_key(name, filename)}".encode()).hexdigest()

        def _path(self, bucket: Bucket) -> Path:
            return self.folder / f"{bucket.key}.code"

        def load_bytecode(self, bucket: Bucket) -> None:
            content = _read_private(self._path(bucket))
            if content is None or len(content) <= _DIGEST_SIZE:
                return
            payload, digest = content[:-_DIGEST_SIZE], content[-_DIGEST_SIZE:]
            if hashlib.sha256(payload).digest() == digest:
                bucket.bytecode_from_string(payload)  # checks Jinja's magic and the source checksum

        def dump_bytecode(self, bucket: Bucket) -> None:
            payload = bucket.bytecode_to_string()
            _write_private(self._path(bucket), payload + hashlib.sha256(payload).digest())

    return TemplateCode
