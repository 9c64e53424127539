"""Alembic's environment for TRECKK: runs the revisions on the connection it is handed.

``engine.store.migrations`` builds the configuration in code (no alembic.ini) and passes an open
connection, already inside a transaction and holding the migration lock, in
``config.attributes["connection"]``; everything here runs inside that transaction. SQLite gets
batch mode so column and constraint changes work there too (it copies and renames the table).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from engine.store.schema import Base


def run_migrations(connection: Connection) -> None:
    """Configure the context on ``connection`` and apply the revisions Alembic chose."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(_connection, Connection):
    raise RuntimeError("TRECKK migrations run through engine.store.migrations (`treckk init`), "
                       "which hands env.py an open connection; the alembic command line is not set up")
run_migrations(_connection)
