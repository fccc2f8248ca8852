"""Named queries over a synchronous DB-API connection (sqlite3, psycopg2, PyMySQL).

yoyo hands its migration steps such a connection, so the batch import runs on
one; ``proxyd import-legacy`` opens one too and runs the very same code. The
queries are the async adapters' own (:func:`proxyd.db.queries.queries_for`),
compiled for the synchronous driver's placeholder style (psycopg2 wants
``%(name)s`` where asyncpg wants ``$1``); what differs between dialects is data:
a :class:`SyncDriver` per dialect here, and the async adapter's class for how
a transaction begins and how a session starts. Nothing here commits on its
own: the caller (yoyo or :meth:`SyncExecutor.transaction`) owns the transaction.
Driver errors are left as they are: yoyo undoes a failed step only for the
driver's own error types, and ``import-legacy`` words them itself.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from proxyd.db.base import Params, Row
from proxyd.db.connect import ADAPTERS
from proxyd.db.mysql import connect_sync
from proxyd.db.queries import Paramstyle, Query, parse_queries, queries_for
from proxyd.db.schema import DRIVER_EXTRAS
from proxyd.db.url import DatabaseUrl, Dialect
from proxyd.errors import DatabaseError

_BATCH_PAGE = 1000


@dataclass(frozen=True, slots=True)
class SyncDriver:
    """The synchronous side of one dialect: the DB-API module yoyo uses, its placeholders, how
    ``import-legacy`` opens a connection, and how many rows go out in one call."""

    module: str
    paramstyle: Paramstyle
    open: Callable[[DatabaseUrl, float], Any]
    execute_batch: Callable[[Any, str, Sequence[Params]], None]


def _executemany(cursor: Any, sql: str, params: Sequence[Params]) -> None:
    # sqlite3 steps one prepared statement; PyMySQL folds INSERT ... VALUES into multi-row inserts.
    cursor.executemany(sql, params)


def _psycopg2_batch(cursor: Any, sql: str, params: Sequence[Params]) -> None:
    # psycopg2's executemany is one round trip per row; execute_batch sends pages of them.
    from psycopg2.extras import execute_batch  # type: ignore[import-untyped,unused-ignore]

    execute_batch(cursor, sql, params, page_size=_BATCH_PAGE)


def _open_sqlite(url: DatabaseUrl, timeout: float) -> Any:
    # sqlite3 would create a missing file; an import into a new, empty file helps nobody.
    if not os.path.isfile(url.path):
        raise DatabaseError(f"{url.redacted()}: no such database file; run `proxyd migrate apply` first")
    connection = sqlite3.connect(url.path, timeout=timeout, isolation_level=None)
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def _open_postgresql(url: DatabaseUrl, timeout: float) -> Any:
    options = dict(parse_qsl(url.query))
    options.setdefault("connect_timeout", str(max(1, int(timeout))))
    options.setdefault("application_name", "proxyd import-legacy")
    connection = driver_module("postgresql").connect(
        host=url.host,
        port=url.port or 5432,
        user=url.user or None,
        password=url.password or None,
        dbname=url.database,
        **options,
    )
    connection.autocommit = True  # transactions are explicit BEGIN / COMMIT, as under yoyo
    return connection


def _open_mysql(url: DatabaseUrl, timeout: float) -> Any:
    return connect_sync(url, timeout=timeout, autocommit=True)


SYNC_DRIVERS: Mapping[Dialect, SyncDriver] = {
    "sqlite": SyncDriver("sqlite3", "named", _open_sqlite, _executemany),
    "postgresql": SyncDriver("psycopg2", "pyformat", _open_postgresql, _psycopg2_batch),
    "mysql": SyncDriver("pymysql", "pyformat", _open_mysql, _executemany),
}


def driver_module(dialect: Dialect) -> Any:
    """The DB-API module yoyo and this module use for ``dialect`` (imported on demand)."""
    try:
        return importlib.import_module(SYNC_DRIVERS[dialect].module)
    except ImportError as exc:
        raise DatabaseError(
            f"{SYNC_DRIVERS[dialect].module} is not installed ({exc}); "
            f"install it with: pip install 'proxyd[{DRIVER_EXTRAS.get(dialect, '')}]'"
        ) from None


class SyncExecutor:
    """Runs named queries on a DB-API connection; rows come back as dicts, as from the async adapters."""

    def __init__(self, connection: Any, dialect: Dialect, schema_queries: str = "") -> None:
        """``schema_queries``: named queries (as in sql/<dialect>/*.sql) that replace or add to the daemon's.

        A migration's data step brings its own where the schema it runs against is not the current one.
        """
        self.connection = connection
        self.dialect = dialect
        self.driver = driver_module(dialect)
        self._sync = SYNC_DRIVERS[dialect]
        self._adapter = ADAPTERS[dialect]  # the daemon's adapter: how its sessions start, how it begins writing
        self.queries: Mapping[str, Query] = queries_for(dialect, self._sync.paramstyle)
        if schema_queries:
            own = parse_queries(schema_queries, self._sync.paramstyle, "migration")
            self.queries = {**self.queries, **own}

    def prepare_session(self) -> None:
        """Session settings the writes rely on (MySQL strict mode); harmless to repeat."""
        if self._adapter.session_init is not None:
            self._run(self._adapter.session_init, None).close()

    def fetch_all(self, name: str, params: Params | None = None) -> list[Row]:
        cursor = self._run(self.queries[name].sql, params)
        try:
            columns = [column[0] for column in cursor.description]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def fetch_one(self, name: str, params: Params | None = None) -> Row | None:
        rows = self.fetch_all(name, params)
        return rows[0] if rows else None

    def execute(self, name: str, params: Params | None = None) -> int:
        cursor = self._run(self.queries[name].sql, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def execute_many(self, name: str, params: Sequence[Params]) -> None:
        if not params:
            return
        cursor = self.connection.cursor()
        try:
            self._sync.execute_batch(cursor, self.queries[name].sql, params)
        finally:
            cursor.close()

    @contextmanager
    def transaction(self, *, commit: bool = True) -> Iterator[None]:
        """One transaction; rolled back on error, and at the end unless ``commit``.

        It begins as the daemon's transactions do (SQLite takes the write lock
        up front, so a concurrent writer makes it wait, busy timeout, instead
        of failing half way); a dry run only reads, so it takes no write lock.
        """
        self._run(self._adapter.begin_sql if commit else "BEGIN", None).close()
        try:
            yield
        except BaseException:
            # A rollback on a dead connection fails too; the error that led here matters more.
            with contextlib.suppress(self.driver.Error):
                self._run("ROLLBACK", None).close()
            raise
        self._run("COMMIT" if commit else "ROLLBACK", None).close()

    def _run(self, sql: str, params: Params | None) -> Any:
        cursor = self.connection.cursor()
        try:
            # Always pass a mapping: pyformat drivers only turn %% back into % when given parameters.
            cursor.execute(sql, dict(params) if params else {})
        except BaseException:
            cursor.close()
            raise
        return cursor


@contextmanager
def connect(url: DatabaseUrl, *, timeout: float) -> Iterator[SyncExecutor]:
    """A fresh connection for ``proxyd import-legacy``, closed on exit; errors name the database only."""
    driver = driver_module(url.dialect)
    try:
        connection = SYNC_DRIVERS[url.dialect].open(url, timeout)
    except driver.Error as exc:
        raise DatabaseError(f"{url.redacted()}: connect failed: {driver_reason(exc, url)}") from None
    try:
        executor = SyncExecutor(connection, url.dialect)
        executor.prepare_session()
        yield executor
    finally:
        connection.close()


def driver_reason(exc: BaseException, url: DatabaseUrl) -> str:
    """A driver error as one line, without the password."""
    return url.scrub(" ".join(str(exc).split()) or type(exc).__name__)


def driver_error(dialect: Dialect, message: str) -> Exception:
    """An error of the driver's own type: yoyo undoes earlier steps (MySQL's committed DDL) only for it."""
    base: type[Exception] = driver_module(dialect).DatabaseError
    error_type: type[Exception] = type("MigrationStepError", (base,), {"__module__": __name__})
    return error_type(message)
