"""Hot-path statements: compiled once per dialect, sent straight to the driver's cursor.

Every command runs a handful of statements (load the case, save it, append the history event,
queue the notices). Through ``Connection.execute`` each costs SQLAlchemy's execution machinery
(execution context, parameter construction, result proxy) — on SQLite several times what the
driver itself spends. A ``PreparedStatement`` keeps SQLAlchemy's part that matters, the compiled
SQL string and the column types' own bind and result processors, and skips the rest: the SQL
and the parameters reaching the driver are exactly those ``Connection.execute`` would send.

It stays inside the caller's SQLAlchemy transaction (same DB-API connection), raises the same
``sqlalchemy.exc`` errors (an ``IntegrityError`` is still an ``IntegrityError``, a lost
connection is invalidated), and steps aside whenever someone observes the engine's statements
(``before_cursor_execute``/``after_cursor_execute`` listeners or ``echo``): the statement then
goes through ``Connection.execute``, so tools that record or log SQL see every one. ``bypass``
makes an engine count as observed for good: the database's ``prepared=False`` switch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Form:
    """One statement compiled for one dialect: its SQL, and which values need converting."""

    sql: str
    names: tuple[str, ...]
    positional: bool
    binds: tuple[tuple[int, Processor], ...]
    """(position, processor) for the parameters whose type converts them; the rest pass as given."""
    results: tuple[tuple[int, Processor], ...]
    """(column, processor) for the result columns whose type converts them."""
    literals: Mapping[str, Any]


def observed(connection: Connection) -> bool:
    """True when the engine's listeners or its logging want to see each statement it sends.

    Listeners are looked up on the Engine (where ``event.listen(engine, ...)`` puts them), not on
    the Connection: resolving a connection's joined dispatch would cost as much as the check saves.
    """
    engine = connection.engine
    dispatch = engine.dispatch
    return bool(dispatch.before_cursor_execute or dispatch.after_cursor_execute or dispatch.before_execute
                or dispatch.after_execute or engine.echo)


def bypass(engine: Engine) -> None:
    """Send every statement of ``engine`` through ``Connection.execute``, as when it is observed."""
    event.listen(engine, "before_cursor_execute", _seen_by_nobody)


def _seen_by_nobody(*_args: Any) -> None:
    """A listener that does nothing: being there is what makes ``observed`` true."""


_KEPT_CURSOR = "treckk_cursor"
"""Key of the PostgreSQL cursor kept in the pool's per-connection ``info`` (cleared on reconnect)."""


def _cursor(connection: Connection) -> tuple[Any, bool]:
    """A driver cursor on the connection's current DB-API connection, and whether it is kept.

    psycopg cursors are reused: making one costs about as much as sending a short statement,
    and a used one holds nothing but its last result in memory. (SQLite's are not: an unfinished
    SELECT would keep its statement open on the file.) A pooled connection serves one thread at a
    time, so its cursor does too. The cursor lives in the pool's ``info`` of that connection, which
    SQLAlchemy clears when it replaces the connection, so it goes when the connection goes.
    """
    pooled = connection.connection
    dbapi_connection = pooled.dbapi_connection
    if connection.dialect.name == "postgresql":
        info = pooled.info
        cursor = info.get(_KEPT_CURSOR)
        if cursor is None or cursor.closed or cursor.connection is not dbapi_connection:
            cursor = info[_KEPT_CURSOR] = dbapi_connection.cursor()  # type: ignore[union-attr]
        return cursor, True
    return dbapi_connection.cursor(), False  # type: ignore[union-attr]


def run_driver_sql(connection: Connection, sql: str) -> None:
    """A parameterless statement (``BEGIN IMMEDIATE``) on the driver, observable when observed."""
    if observed(connection):
        connection.exec_driver_sql(sql)
        return
    cursor, kept = _cursor(connection)
    try:
        cursor.execute(sql)
    except connection.dialect.loaded_dbapi.Error as exc:
        _raise_translated(connection, exc, sql, (), False)
    finally:
        if not kept:
            cursor.close()


class PreparedStatement:
    """A Core statement whose bind parameters are all named; run with a mapping of their values."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._forms: dict[str, _Form] = {}

    def _form(self, dialect: Dialect) -> _Form:
        form = self._forms.get(dialect.name)
        if form is None:
            form = self._forms[dialect.name] = self._compile(dialect)
        return form

    def _compile(self, dialect: Dialect) -> _Form:
        element = self.statement
        assert isinstance(element, ClauseElement)
        compiled = element.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        positional = bool(compiled.positional)
        names = tuple(compiled.positiontup or ()) if positional else tuple(compiled.binds)
        bind_processors = (compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
        binds = tuple((i, process) for i, process in enumerate(bind_processors) if process is not None)
        literals = {name: bind.value for name, bind in compiled.binds.items()
                    if not bind.required and bind.callable is None and bind.value is not None}
        columns = getattr(element, "selected_columns", None) or ()
        result_processors = (column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
        results = tuple((i, process) for i, process in enumerate(result_processors) if process is not None)
        return _Form(compiled.string, names, positional, binds, results, literals)

    def _parameters(self, form: _Form, values: Mapping[str, Any]) -> list[Any] | dict[str, Any]:
        if form.literals:
            values = {**form.literals, **values}
        names = form.names
        processed = [values[name] for name in names]
        for i, process in form.binds:
            processed[i] = process(processed[i])
        return processed if form.positional else dict(zip(names, processed))

    def _row(self, form: _Form, row: Sequence[Any]) -> tuple[Any, ...]:
        if not form.results:
            return tuple(row)
        converted = list(row)
        for i, process in form.results:
            converted[i] = process(converted[i])
        return tuple(converted)

    # -- running ------------------------------------------------------------------------------
    def rows(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every result row, each value converted by its column type."""
        if observed(connection):
            return [tuple(row) for row in connection.execute(self.statement, dict(values))]
        form = self._form(connection.dialect)
        return [self._row(form, row) for row in self._run(connection, form, values, lambda c: c.fetchall())]

    def first(self, connection: Connection, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first result row (converted), or None."""
        if observed(connection):
            row = connection.execute(self.statement, dict(values)).first()
            return tuple(row) if row is not None else None
        form = self._form(connection.dialect)
        found = self._run(connection, form, values, lambda c: c.fetchone())
        return self._row(form, found) if found is not None else None

    def rowcount(self, connection: Connection, values: Mapping[str, Any]) -> int:
        """Run a write; the number of rows it matched."""
        if observed(connection):
            return int(connection.execute(self.statement, dict(values)).rowcount)
        form = self._form(connection.dialect)
        return int(self._run(connection, form, values, lambda c: c.rowcount))

    def many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run a write once per parameter set, in one driver call (``executemany``)."""
        if not rows:
            return
        if observed(connection):
            connection.execute(self.statement, [dict(row) for row in rows])
            return
        form = self._form(connection.dialect)
        parameters: Any = [self._parameters(form, row) for row in rows]
        cursor, kept = _cursor(connection)
        try:
            cursor.executemany(form.sql, parameters)
        except connection.dialect.loaded_dbapi.Error as exc:
            _raise_translated(connection, exc, form.sql, parameters, True)
        finally:
            if not kept:
                cursor.close()

    def _run(self, connection: Connection, form: _Form, values: Mapping[str, Any],
             collect: Callable[[Any], Any]) -> Any:
        parameters = self._parameters(form, values)
        cursor, kept = _cursor(connection)
        try:
            cursor.execute(form.sql, parameters)
            return collect(cursor)
        except connection.dialect.loaded_dbapi.Error as exc:
            _raise_translated(connection, exc, form.sql, parameters, False)
        finally:
            if not kept:
                cursor.close()


def _raise_translated(connection: Connection, error: Any, sql: str, parameters: Any, many: bool) -> NoReturn:
    """Raise ``error`` as SQLAlchemy would: wrapped in ``sqlalchemy.exc``, a lost connection invalidated."""
    dialect = connection.dialect
    lost = dialect.is_disconnect(error, connection.connection.dbapi_connection, None)
    if lost:
        connection.invalidate(error)
    raise DBAPIError.instance(sql, parameters, error, dialect.loaded_dbapi.Error, connection_invalidated=lost,
                              dialect=dialect, ismulti=many) from error
