"""SQLite through aiosqlite: one connection, WAL, a busy timeout, foreign keys on.

One connection is enough: aiosqlite runs it on its own thread, SQLite allows one
writer at a time anyway, and WAL lets other processes read meanwhile. An
asyncio lock keeps one task's transaction from interleaving with another's
statements on the shared connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

import aiosqlite
import orjson

from proxyd.db.base import Adapter, Params, Row
from proxyd.db.queries import Query
from proxyd.db.url import DatabaseUrl
from proxyd.errors import DatabaseError

# A query whose one parameter is this takes ``execute_many``'s rows as one JSON array.
_BATCH = "batch"

SECURE_DELETE = "PRAGMA secure_delete = ON"

# Files SQLite keeps beside the database, with the same contents' secrets.
COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")


def create_private(url: DatabaseUrl) -> bool:
    """Create the database file, empty, readable and writable by its owner only, unless it exists.

    It holds every account's GitHub token. SQLite creates a missing file 0644 (less the umask), and
    gives its -wal, -shm and -journal files the database file's mode: created here first, all are 0600.
    True if this call created it.
    """
    try:
        descriptor = os.open(url.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return False
    except OSError as exc:
        raise DatabaseError(f"{url.redacted()}: cannot create {os.path.abspath(url.path)}: {exc.strerror}") from None
    os.close(descriptor)
    return True


def missing_file(url: DatabaseUrl) -> str | None:
    """Why ``url`` cannot be opened without creating it (which only migrations do), or None if its file exists."""
    if os.path.exists(url.path):
        return None
    return (
        f"{url.redacted()}: no database file at {os.path.abspath(url.path)}; "
        "`proxyd migrate apply` (or `proxyd serve --migrate`) creates it"
    )


def _existing_file_uri(url: DatabaseUrl) -> str:
    # mode=rw: SQLite never creates the file (only migrations do), even if it vanished since the check.
    return f"file:{pathname2url(os.path.abspath(url.path))}?mode=rw"


def readable_by_others(url: DatabaseUrl) -> list[tuple[str, int]]:
    """The database file and its companions that users other than the owner may read, with their modes."""
    exposed = []
    for path in (url.path, *(url.path + suffix for suffix in COMPANION_SUFFIXES)):
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            continue
        if mode & 0o044:
            exposed.append((path, mode))
    return exposed


class SqliteDatabase(Adapter[aiosqlite.Connection, aiosqlite.Connection]):
    paramstyle = "named"
    driver_errors = (sqlite3.Error,)
    integrity_errors = (sqlite3.IntegrityError,)
    # IMMEDIATE takes the write lock up front, so two processes never
    # deadlock upgrading a read lock, and busy_timeout applies.
    begin_sql = "BEGIN IMMEDIATE"
    # What SQLite deletes or overwrites (a token re-sealed under a new key, a deleted account) is zeroed in
    # the file rather than left in free space; the legacy import and migrations set it too (SyncExecutor).
    session_init = SECURE_DELETE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        path = Path(self.url.path)
        if path.parent != Path() and not path.parent.is_dir():
            raise DatabaseError(f"{self.url.redacted()}: directory {path.parent} does not exist")
        missing = missing_file(self.url)
        if missing:
            raise DatabaseError(missing)
        with self._connecting():
            connection = await aiosqlite.connect(
                _existing_file_uri(self.url), uri=True, timeout=self.timeout, isolation_level=None
            )
            connection.row_factory = sqlite3.Row
            # WAL lets readers in other processes proceed while we write; NORMAL
            # sync is durable across process crashes, which is what WAL needs.
            for pragma in (
                f"PRAGMA busy_timeout = {int(self.timeout * 1000)}",  # first: the others may wait for a lock
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA foreign_keys = ON",
                SECURE_DELETE,
            ):
                await connection.execute(pragma)
        self._handle = connection

    async def _close(self, handle: aiosqlite.Connection) -> None:
        await handle.close()

    def _stats(self, handle: aiosqlite.Connection) -> tuple[int, int]:
        return (1, 0) if self._lock.locked() else (0, 1)

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            if self._handle is None:
                raise self._not_connected()
            yield self._handle

    async def _begin(self, connection: aiosqlite.Connection) -> None:
        if connection.in_transaction:  # never build on a transaction someone left open
            await self._rollback_quietly(connection)
        begin = asyncio.ensure_future(connection.execute(self.begin_sql))
        try:
            await asyncio.shield(begin)
        except asyncio.CancelledError:
            # The BEGIN still runs on aiosqlite's thread (waiting for another
            # process's lock): let it finish and undo it, or the connection
            # would stay inside a transaction for good.
            with contextlib.suppress(sqlite3.Error):
                await begin
            await self._rollback_quietly(connection)
            raise

    async def _commit(self, connection: aiosqlite.Connection) -> None:
        await connection.commit()

    async def _rollback(self, connection: aiosqlite.Connection) -> None:
        with contextlib.suppress(ValueError):  # aiosqlite: the connection is already closed
            await connection.rollback()

    async def _fetch_one(self, connection: aiosqlite.Connection, query: Query, params: Params | None) -> Row | None:
        async with connection.execute(query.sql, params or {}) as cursor:
            row = await cursor.fetchone()
        return dict(row) if row is not None else None

    async def _fetch_all(self, connection: aiosqlite.Connection, query: Query, params: Params | None) -> list[Row]:
        async with connection.execute(query.sql, params or {}) as cursor:
            rows = await cursor.fetchall()
        return [dict(row) for row in rows]

    async def _execute(self, connection: aiosqlite.Connection, query: Query, params: Params | None) -> int:
        async with connection.execute(query.sql, params or {}) as cursor:
            return cursor.rowcount

    async def _execute_many(self, connection: aiosqlite.Connection, query: Query, params: Sequence[Params]) -> None:
        if query.params == (_BATCH,):
            # The query reads its rows from one JSON array (sql/sqlite/*.sql): SQLite binds them in C in one
            # statement. executemany binds each row in Python, taking the interpreter lock back from the event
            # loop once per row: the request log's rows cost the database thread 6x the CPU that way.
            await connection.execute(query.sql, {_BATCH: orjson.dumps(params).decode()})
            return
        await connection.executemany(query.sql, params)
