"""Where the definitions are read when ``TRECKK_HOME`` is not set: the checkout, or the installed package.

A checkout (and an editable install) holds ``workflows/``, ``roles/`` and ``templates/`` beside
``runner.py``. A regular ``pip install`` puts ``runner.py`` in site-packages and the shipped
definitions in the data package ``treckk_home`` (see pyproject.toml), so that is where they are.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

DATA_PACKAGE = "treckk_home"
"""The package that carries workflows/, roles/ and templates/ in an installed TRECKK."""


def has_definitions(folder: Path) -> bool:
    """Whether ``folder`` holds a ``workflows/`` folder with at least one workflow file."""
    return any((folder / "workflows").glob("*.yaml"))


def default_home(runner_folder: Path) -> Path:
    """``runner_folder`` when it holds the definitions, else the installed ``treckk_home``, else ``runner_folder``."""
    if has_definitions(runner_folder):
        return runner_folder
    try:
        spec = importlib.util.find_spec(DATA_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        if has_definitions(Path(location)):
            return Path(location).resolve()
    return runner_folder


def refuse_database_in_package(home: Path, url: str) -> None:
    """An installed TRECKK has no project folder for ``var/treckk.db``: the database must be named.

    Without ``TRECKK_HOME`` or ``TRECKK_DATABASE_URL`` the default would put the database inside
    site-packages, where an upgrade or a reinstall deletes it.
    """
    from engine.errors import InvalidInput

    if home.name == DATA_PACKAGE and url == f"sqlite:///{home / 'var' / 'treckk.db'}":
        raise InvalidInput("this TRECKK is installed as a package and has no project folder for its database; set "
                           "TRECKK_DATABASE_URL (e.g. sqlite:////srv/treckk/data/treckk.db) or give --db",
                           field="TRECKK_DATABASE_URL")
