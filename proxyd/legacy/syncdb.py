"""Named queries over a synchronous DB-API connection (sqlite3, psycopg2, PyMySQL).

yoyo hands its migration steps such a connection, so the batch import runs on
one; ``proxyd import-legacy`` opens one too and runs the very same code. The
queries are the ones in ``sql/<dialect>/*.sql``, compiled for the synchronous
driver's placeholder style (psycopg2 wants ``%(name)s`` where asyncpg wants
``$1``). Nothing here commits on its own: the caller (yoyo or
:meth:`SyncExecutor.transaction`) owns the transaction.
"""

from __future__ import annotations

import functools
import importlib
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl

from proxyd.config import DatabaseUrl, Dialect
from proxyd.db.base import Params, Row
from proxyd.db.mysql import SESSION_INIT, connect_sync
from proxyd.db.queries import Paramstyle, Queries, Query
from proxyd.errors import DatabaseError
from proxyd.schema import DRIVER_EXTRAS

SYNC_PARAMSTYLES: Mapping[Dialect, Paramstyle] = {"sqlite": "named", "postgresql": "pyformat", "mysql": "pyformat"}
SYNC_DRIVERS: Mapping[Dialect, str] = {"sqlite": "sqlite3", "postgresql": "psycopg2", "mysql": "pymysql"}
_BATCH_PAGE = 1000


@functools.cache
def sync_queries(dialect: Dialect) -> Queries:
    return Queries.load(dialect, SYNC_PARAMSTYLES[dialect])


def driver_module(dialect: Dialect) -> Any:
    """The DB-API module yoyo and this module use for ``dialect`` (imported on demand)."""
    try:
        return importlib.import_module(SYNC_DRIVERS[dialect])
    except ImportError as exc:
        raise DatabaseError(
            f"{SYNC_DRIVERS[dialect]} is not installed ({exc}); "
            f"install it with: pip install 'proxyd[{DRIVER_EXTRAS.get(dialect, '')}]'"
        ) from None


class SyncExecutor:
    """Runs named queries on a DB-API connection; rows come back as dicts, as from the async adapters."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect
        self.queries = sync_queries(dialect)
        self.driver = driver_module(dialect)

    def prepare_session(self) -> None:
        """Session settings the writes rely on (MySQL strict mode); harmless to repeat."""
        if self.dialect == "mysql":
            self._run(SESSION_INIT, None)

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
        query: Query = self.queries[name]
        cursor = self.connection.cursor()
        try:
            if self.dialect == "postgresql":
                # psycopg2's executemany is one round trip per row; execute_batch sends pages of them.
                from psycopg2.extras import execute_batch  # type: ignore[import-untyped,unused-ignore]

                execute_batch(cursor, query.sql, params, page_size=_BATCH_PAGE)
            else:
                # sqlite3 steps one prepared statement; PyMySQL folds INSERT ... VALUES into multi-row inserts.
                cursor.executemany(query.sql, params)
        finally:
            cursor.close()

    @contextmanager
    def transaction(self, *, commit: bool = True) -> Iterator[None]:
        """One transaction; rolled back on error, and at the end unless ``commit``.

        SQLite takes the write lock up front (BEGIN IMMEDIATE) when it is going
        to write, like the daemon does, so a concurrent writer makes it wait
        (busy timeout) instead of failing half way.
        """
        if self.dialect == "sqlite":
            self._run("BEGIN IMMEDIATE" if commit else "BEGIN", None).close()
        else:
            self._run("BEGIN", None).close()
        try:
            yield
        except BaseException:
            self._end("ROLLBACK")
            raise
        self._end("COMMIT" if commit else "ROLLBACK")

    def _end(self, statement: str) -> None:
        if self.dialect == "mysql":
            (self.connection.commit if statement == "COMMIT" else self.connection.rollback)()
        else:
            self._run(statement, None).close()

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
        connection = _open(url, driver, timeout)
    except driver.Error as exc:
        raise DatabaseError(f"{url.redacted()}: connect failed: {driver_reason(exc, url)}") from None
    try:
        executor = SyncExecutor(connection, url.dialect)
        executor.prepare_session()
        yield executor
    finally:
        connection.close()


def _open(url: DatabaseUrl, driver: Any, timeout: float) -> Any:
    if url.dialect == "sqlite":
        # sqlite3 would create a missing file; an import into a new, empty file helps nobody.
        if not os.path.isfile(url.path):
            raise DatabaseError(f"{url.redacted()}: no such database file; run `proxyd migrate apply` first")
        connection = sqlite3.connect(url.path, timeout=timeout, isolation_level=None)
        connection.execute("PRAGMA foreign_keys = ON")
        return connection
    if url.dialect == "postgresql":
        options = dict(parse_qsl(url.query))
        options.setdefault("connect_timeout", str(max(1, int(timeout))))
        options.setdefault("application_name", "proxyd import-legacy")
        connection = driver.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.user or None,
            password=url.password or None,
            dbname=url.database,
            **options,
        )
        connection.autocommit = True  # transactions are explicit BEGIN / COMMIT, as under yoyo
        return connection
    return connect_sync(url, timeout=timeout, autocommit=True)


def driver_reason(exc: BaseException, url: DatabaseUrl) -> str:
    """A driver error as one line, without the password."""
    return url.scrub(" ".join(str(exc).split()) or type(exc).__name__)
