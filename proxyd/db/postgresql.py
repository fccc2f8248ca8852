"""PostgreSQL through an asyncpg pool."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeAlias
from urllib.parse import urlencode

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from proxyd.db.base import Adapter, Params, Row
from proxyd.db.queries import Query
from proxyd.db.url import DatabaseUrl
from proxyd.errors import DatabaseError

# What the pool hands out; a string, as asyncpg's classes take no subscript at run time.
_Connection: TypeAlias = "PoolConnectionProxy[Any]"
_Pool: TypeAlias = "asyncpg.Pool[Any]"


def connect_options(url: DatabaseUrl) -> tuple[str | None, dict[str, str]]:
    """asyncpg's ``dsn`` carrying only DATABASE_URL's libpq options (TLS and the like), and server settings.

    Host, port, user, password and database are passed as separate arguments, already decoded, so
    nothing in them is parsed twice; asyncpg parses the options as libpq would.
    """
    options = url.options()
    # Explicit server_settings override the DSN's, so the URL's application_name is moved here.
    settings = {"application_name": options.pop("application_name", "proxyd"), "timezone": "UTC"}
    dsn = f"postgresql://?{urlencode(options)}" if options else None
    return dsn, settings


def _bind(query: Query, params: Params | None) -> list[Any]:
    if not query.params:
        return []
    if params is None:
        raise DatabaseError(f"query {query.name!r} needs parameters {', '.join(query.params)}")
    return [params[name] for name in query.params]


class PostgresDatabase(Adapter[_Connection, _Pool]):
    paramstyle = "numeric_dollar"
    # Connection-level failures (the server went away, refused us, or timed out) besides the server's errors.
    driver_errors = (asyncpg.PostgresError, OSError, asyncio.TimeoutError, asyncpg.exceptions.InterfaceError)
    integrity_errors = (asyncpg.IntegrityConstraintViolationError,)
    transient_errors = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)

    async def connect(self) -> None:
        url = self.url
        dsn, settings = connect_options(url)
        with self._connecting():
            self._handle = await asyncpg.create_pool(
                dsn,
                host=url.host,
                port=url.port or 5432,
                user=url.user or None,
                password=url.password or None,
                database=url.database,
                min_size=self.pool_min,
                max_size=self.pool_max,
                timeout=self.timeout,
                command_timeout=self.timeout,  # a statement past it raises TimeoutError
                server_settings=settings,
            )

    async def _close(self, handle: _Pool) -> None:
        await handle.close()

    def _stats(self, handle: _Pool) -> tuple[int, int]:
        size, idle = handle.get_size(), handle.get_idle_size()
        return (size - idle, idle)

    def _constraint(self, exc: BaseException) -> str:
        return getattr(exc, "constraint_name", "") or ""

    def _discard(self, connection: _Connection) -> None:
        # asyncpg would keep a timed-out connection until its cancel request reaches the server, which on
        # a half-open connection never happens (and the pool's release would wait for it): drop it.
        connection.terminate()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[_Connection]:
        if self._handle is None:
            raise self._not_connected()
        with self._connecting():
            connection = await self._handle.acquire(timeout=self.timeout)
        try:
            yield connection
        finally:
            # A connection release cannot reset is terminated by asyncpg (the pool opens a new one); the
            # statement's own outcome is what the caller needs, not a driver error from the cleanup.
            with contextlib.suppress(*self.driver_errors):
                await self._handle.release(connection)

    # The statements asyncpg's own Connection.transaction() sends; the pool's reset rolls back whatever a
    # connection comes back with still open.
    async def _begin(self, connection: _Connection) -> None:
        await connection.execute(f"{self.begin_sql};")

    async def _commit(self, connection: _Connection) -> None:
        await connection.execute("COMMIT;")

    async def _rollback(self, connection: _Connection) -> None:
        await connection.execute("ROLLBACK;")

    async def _fetch_one(self, connection: _Connection, query: Query, params: Params | None) -> Row | None:
        row = await connection.fetchrow(query.sql, *_bind(query, params))
        return dict(row.items()) if row is not None else None

    async def _fetch_all(self, connection: _Connection, query: Query, params: Params | None) -> list[Row]:
        return [dict(row.items()) for row in await connection.fetch(query.sql, *_bind(query, params))]

    async def _execute(self, connection: _Connection, query: Query, params: Params | None) -> int:
        status: str = await connection.execute(query.sql, *_bind(query, params))
        # The command tag ends with the row count: "UPDATE 3", "INSERT 0 1".
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0

    async def _execute_many(self, connection: _Connection, query: Query, params: Sequence[Params]) -> None:
        await connection.executemany(query.sql, [_bind(query, p) for p in params])
