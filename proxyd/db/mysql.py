"""MySQL / MariaDB through an aiomysql pool: utf8mb4, UTC sessions, explicit transactions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiomysql
import pymysql

from ..errors import DatabaseError
from .base import Database, Executor, IntegrityViolation, Params, Row
from .queries import Query

_UNAVAILABLE = (OSError, asyncio.TimeoutError)
# Strict mode turns silent truncation into an error, so a name or key is
# stored whole or not at all.
_SESSION_INIT = (
    "SET time_zone = '+00:00', "
    "sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO'"
)


class _MysqlExecutor(Executor):
    def __init__(self, database: MysqlDatabase, connection: Any) -> None:
        self._database = database
        self._connection = connection

    async def fetch_one(self, query: Query, params: Params | None = None) -> Row | None:
        async with self._cursor(query, params) as cursor:
            row: Row | None = await cursor.fetchone()
        return row

    async def fetch_all(self, query: Query, params: Params | None = None) -> list[Row]:
        async with self._cursor(query, params) as cursor:
            rows = await cursor.fetchall()
        return list(rows)

    async def execute(self, query: Query, params: Params | None = None) -> int:
        async with self._cursor(query, params) as cursor:
            return int(cursor.rowcount)

    async def execute_many(self, query: Query, params: Sequence[Params]) -> None:
        try:
            async with self._connection.cursor() as cursor:
                await cursor.executemany(query.sql, [dict(p) for p in params])
        except (pymysql.Error, *_UNAVAILABLE) as exc:
            raise self._database.translate(exc) from None

    @asynccontextmanager
    async def _cursor(self, query: Query, params: Params | None) -> AsyncIterator[Any]:
        try:
            async with self._connection.cursor(aiomysql.DictCursor) as cursor:
                await cursor.execute(query.sql, dict(params) if params else None)
                yield cursor
        except (pymysql.Error, *_UNAVAILABLE) as exc:
            raise self._database.translate(exc) from None


class MysqlDatabase(Database):
    paramstyle = "pyformat"

    _pool: Any = None

    async def connect(self) -> None:
        url = self.url
        try:
            self._pool = await aiomysql.create_pool(
                host=url.host,
                port=url.port or 3306,
                user=url.user or "root",
                password=url.password,
                db=url.database,
                minsize=self.pool_min,
                maxsize=self.pool_max,
                charset="utf8mb4",
                autocommit=True,
                connect_timeout=self.timeout,
                init_command=_SESSION_INIT,
                pool_recycle=3600,
            )
        except (pymysql.Error, *_UNAVAILABLE) as exc:
            raise self.error(exc, "connect") from None

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            await self._pool.wait_closed()
            self._pool = None

    def translate(self, exc: BaseException) -> DatabaseError:
        if isinstance(exc, pymysql.IntegrityError):
            return IntegrityViolation(f"{self.url.redacted()}: {exc}", constraint=str(exc))
        return self.error(exc)

    def pool_stats(self) -> tuple[int, int]:
        if self._pool is None:
            return (0, 0)
        idle = int(self._pool.freesize)
        return (int(self._pool.size) - idle, idle)

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[Any]:
        if self._pool is None:
            raise DatabaseError(f"{self.url.redacted()}: not connected")
        try:
            connection = await asyncio.wait_for(self._pool.acquire(), self.timeout)
        except (pymysql.Error, *_UNAVAILABLE) as exc:
            raise self.error(exc, "connect") from None
        try:
            yield connection
        finally:
            self._pool.release(connection)

    async def fetch_one(self, query: Query, params: Params | None = None) -> Row | None:
        async with self._acquire() as connection:
            return await _MysqlExecutor(self, connection).fetch_one(query, params)

    async def fetch_all(self, query: Query, params: Params | None = None) -> list[Row]:
        async with self._acquire() as connection:
            return await _MysqlExecutor(self, connection).fetch_all(query, params)

    async def execute(self, query: Query, params: Params | None = None) -> int:
        async with self._acquire() as connection:
            return await _MysqlExecutor(self, connection).execute(query, params)

    async def execute_many(self, query: Query, params: Sequence[Params]) -> None:
        async with self.transaction() as tx:
            await tx.execute_many(query, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._acquire() as connection:
            try:
                await connection.begin()
            except (pymysql.Error, *_UNAVAILABLE) as exc:
                raise self.translate(exc) from None
            try:
                yield _MysqlExecutor(self, connection)
            except BaseException:
                await _quietly(connection.rollback())
                raise
            try:
                await connection.commit()
            except (pymysql.Error, *_UNAVAILABLE) as exc:
                raise self.translate(exc) from None


async def _quietly(awaitable: Any) -> None:
    # A rollback on a dead connection fails too; the original error matters more.
    try:
        await awaitable
    except (pymysql.Error, *_UNAVAILABLE):
        pass
