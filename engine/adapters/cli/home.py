"""An installed TRECKK keeps no database of its own: the command line refuses the default there.

A checkout (and an editable install) holds ``workflows/``, ``roles/`` and ``templates/`` beside
``runner.py``; a regular ``pip install`` puts the shipped definitions in the data package
``treckk_home`` (see pyproject.toml), which is then the home (``engine.app.settings.default_home``).
The home's ``var/treckk.db`` would then lie inside site-packages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.app.settings import Settings


def refuse_database_in_package(settings: Settings) -> None:
    """An installed TRECKK has no project folder for ``var/treckk.db``: the database must be named.

    Without a home or a database URL set, the default would put the database inside
    site-packages, where an upgrade or a reinstall deletes it.
    """
    from engine.app.settings import DATA_PACKAGE, DATABASE_URL, default_database_url
    from engine.errors import InvalidInput

    if settings.home.name == DATA_PACKAGE and settings.database_url == default_database_url(settings.home):
        raise InvalidInput("this TRECKK is installed as a package and has no project folder for its database; set "
                           f"{DATABASE_URL} (e.g. sqlite:////srv/treckk/data/treckk.db) or give --db",
                           field=DATABASE_URL)
