"""SQLite through aiosqlite: one connection, WAL, a busy timeout, foreign keys on.

One connection is enough: aiosqlite runs it on its own thread, SQLite allows one
writer at a time anyway, and WAL lets other processes read meanwhile. An
asyncio lock keeps one task's transaction from interleaving with another's
statements on the shared connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from ..errors import DatabaseError
from .base import Database, Executor, IntegrityViolation, Params, Row
from .queries import Query


class _SqliteExecutor(Executor):
    def __init__(self, database: SqliteDatabase, connection: aiosqlite.Connection) -> None:
        self._database = database
        self._connection = connection

    async def fetch_one(self, query: Query, params: Params | None = None) -> Row | None:
        async with self._run(query, params) as cursor:
            row = await cursor.fetchone()
        return dict(row) if row is not None else None

    async def fetch_all(self, query: Query, params: Params | None = None) -> list[Row]:
        async with self._run(query, params) as cursor:
            rows = await cursor.fetchall()
        return [dict(row) for row in rows]

    async def execute(self, query: Query, params: Params | None = None) -> int:
        async with self._run(query, params) as cursor:
            return cursor.rowcount

    async def execute_many(self, query: Query, params: Sequence[Params]) -> None:
        try:
            await self._connection.executemany(query.sql, params)
        except sqlite3.Error as exc:
            raise self._database.translate(exc) from None

    @asynccontextmanager
    async def _run(self, query: Query, params: Params | None) -> AsyncIterator[aiosqlite.Cursor]:
        try:
            cursor = await self._connection.execute(query.sql, params or {})
        except sqlite3.Error as exc:
            raise self._database.translate(exc) from None
        try:
            yield cursor
        finally:
            await cursor.close()


class SqliteDatabase(Database):
    paramstyle = "named"

    _connection: aiosqlite.Connection | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        path = Path(self.url.path)
        if path.parent != Path() and not path.parent.is_dir():
            raise DatabaseError(f"{self.url.redacted()}: directory {path.parent} does not exist")
        try:
            connection = await aiosqlite.connect(self.url.path, timeout=self.timeout, isolation_level=None)
            connection.row_factory = sqlite3.Row
            # WAL lets readers in other processes proceed while we write; NORMAL
            # sync is durable across process crashes, which is what WAL needs.
            for pragma in (
                f"PRAGMA busy_timeout = {int(self.timeout * 1000)}",  # first: the others may wait for a lock
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA foreign_keys = ON",
            ):
                await connection.execute(pragma)
        except sqlite3.Error as exc:
            raise self.error(exc, "connect") from None
        self._connection = connection

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    def translate(self, exc: sqlite3.Error) -> DatabaseError:
        if isinstance(exc, sqlite3.IntegrityError):
            return IntegrityViolation(f"{self.url.redacted()}: {exc}", constraint=str(exc))
        return self.error(exc)

    def pool_stats(self) -> tuple[int, int]:
        if self._connection is None:
            return (0, 0)
        return (1, 0) if self._lock.locked() else (0, 1)

    @property
    def _executor(self) -> _SqliteExecutor:
        if self._connection is None:
            raise DatabaseError(f"{self.url.redacted()}: not connected")
        return _SqliteExecutor(self, self._connection)

    @asynccontextmanager
    async def _statement(self) -> AsyncIterator[Executor]:
        async with self._lock:
            yield self._executor

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._lock:
            executor = self._executor
            connection = self._connection
            assert connection is not None
            if connection.in_transaction:  # never build on a transaction someone left open
                await self._rollback(connection)
            # IMMEDIATE takes the write lock up front, so two processes never
            # deadlock upgrading a read lock, and busy_timeout applies.
            begin = asyncio.ensure_future(connection.execute("BEGIN IMMEDIATE"))
            try:
                await asyncio.shield(begin)
            except sqlite3.Error as exc:
                raise self.translate(exc) from None
            except asyncio.CancelledError:
                # The BEGIN still runs on aiosqlite's thread (waiting for another
                # process's lock): let it finish and undo it, or the connection
                # would stay inside a transaction for good.
                with contextlib.suppress(sqlite3.Error):
                    await begin
                await self._rollback(connection)
                raise
            try:
                yield executor
            except BaseException:
                await self._rollback(connection)
                raise
            try:
                await connection.commit()
            except sqlite3.Error as exc:
                await self._rollback(connection)
                raise self.translate(exc) from None

    @staticmethod
    async def _rollback(connection: aiosqlite.Connection) -> None:
        # A failed rollback must not hide the error that caused it.
        with contextlib.suppress(sqlite3.Error, ValueError):
            await connection.rollback()
