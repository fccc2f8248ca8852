"""PostgreSQL through an asyncpg pool."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import asyncpg

from ..config import DatabaseUrl
from ..errors import DatabaseError
from .base import Database, Executor, IntegrityViolation, Params, Row, TransientConflict
from .queries import Query

# Connection-level failures: the server went away, refused us, or timed out.
_UNAVAILABLE = (OSError, asyncio.TimeoutError, asyncpg.exceptions.InterfaceError)


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


class _PostgresExecutor(Executor):
    def __init__(self, database: PostgresDatabase, connection: asyncpg.Connection[Any]) -> None:
        self._database = database
        self._connection = connection

    async def fetch_one(self, query: Query, params: Params | None = None) -> Row | None:
        try:
            row = await self._connection.fetchrow(query.sql, *_bind(query, params))
        except (asyncpg.PostgresError, *_UNAVAILABLE) as exc:
            raise self._database.translate(exc, self._connection) from None
        return dict(row.items()) if row is not None else None

    async def fetch_all(self, query: Query, params: Params | None = None) -> list[Row]:
        try:
            rows = await self._connection.fetch(query.sql, *_bind(query, params))
        except (asyncpg.PostgresError, *_UNAVAILABLE) as exc:
            raise self._database.translate(exc, self._connection) from None
        return [dict(row.items()) for row in rows]

    async def execute(self, query: Query, params: Params | None = None) -> int:
        try:
            status = await self._connection.execute(query.sql, *_bind(query, params))
        except (asyncpg.PostgresError, *_UNAVAILABLE) as exc:
            raise self._database.translate(exc, self._connection) from None
        # The command tag ends with the row count: "UPDATE 3", "INSERT 0 1".
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0

    async def execute_many(self, query: Query, params: Sequence[Params]) -> None:
        try:
            await self._connection.executemany(query.sql, [_bind(query, p) for p in params])
        except (asyncpg.PostgresError, *_UNAVAILABLE) as exc:
            raise self._database.translate(exc, self._connection) from None


class PostgresDatabase(Database):
    paramstyle = "numeric_dollar"

    _pool: asyncpg.Pool[Any] | None = None

    async def connect(self) -> None:
        url = self.url
        dsn, settings = connect_options(url)
        try:
            self._pool = await asyncpg.create_pool(
                dsn,
                host=url.host,
                port=url.port or 5432,
                user=url.user or None,
                password=url.password or None,
                database=url.database,
                min_size=self.pool_min,
                max_size=self.pool_max,
                timeout=self.timeout,
                command_timeout=self.timeout,
                server_settings=settings,
            )
        except (asyncpg.PostgresError, *_UNAVAILABLE) as exc:
            raise self.error(exc, "connect") from None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def translate(self, exc: BaseException, connection: asyncpg.Connection[Any] | None = None) -> DatabaseError:
        if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
            constraint = getattr(exc, "constraint_name", "") or ""
            return IntegrityViolation(f"{self.url.redacted()}: {exc}", constraint=constraint)
        if isinstance(exc, asyncpg.DeadlockDetectedError | asyncpg.SerializationError):
            return TransientConflict(f"{self.url.redacted()}: {exc}")
        if isinstance(exc, TimeoutError):  # asyncpg's command_timeout
            if connection is not None:
                # asyncpg would keep the connection until its cancel request reaches the server, which on
                # a half-open connection never happens (and the pool's release would wait for it): drop it.
                connection.terminate()
            return DatabaseError(f"{self.url.redacted()}: statement timed out after {self.timeout:g} s")
        return self.error(exc)

    def pool_stats(self) -> tuple[int, int]:
        if self._pool is None:
            return (0, 0)
        size, idle = self._pool.get_size(), self._pool.get_idle_size()
        return (size - idle, idle)

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[Any]:
        if self._pool is None:
            raise DatabaseError(f"{self.url.redacted()}: not connected")
        try:
            connection = await self._pool.acquire(timeout=self.timeout)
        except (asyncpg.PostgresError, *_UNAVAILABLE) as exc:
            raise self.error(exc, "connect") from None
        try:
            yield connection
        finally:
            # A connection release cannot reset is terminated by asyncpg (the pool opens a new one); the
            # statement's own outcome is what the caller needs, not a driver error from the cleanup.
            with contextlib.suppress(asyncpg.PostgresError, *_UNAVAILABLE):
                await self._pool.release(connection)

    @asynccontextmanager
    async def _statement(self) -> AsyncIterator[Executor]:
        async with self._acquire() as connection:
            yield _PostgresExecutor(self, connection)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._acquire() as connection:
            transaction = connection.transaction()
            try:
                await transaction.start()
            except (asyncpg.PostgresError, *_UNAVAILABLE) as exc:
                raise self.translate(exc, connection) from None
            try:
                yield _PostgresExecutor(self, connection)
            except BaseException:
                # A rollback on a dead connection fails too; the original error matters more.
                with contextlib.suppress(asyncpg.PostgresError, *_UNAVAILABLE):
                    await transaction.rollback()
                raise
            try:
                await transaction.commit()
            except (asyncpg.PostgresError, *_UNAVAILABLE) as exc:
                raise self.translate(exc, connection) from None
