"""MySQL / MariaDB through an aiomysql pool: utf8mb4, UTC sessions, explicit transactions.

aiomysql has no read timeout, so every statement (and BEGIN / COMMIT / ROLLBACK)
runs under ``asyncio.timeout(PROXYD_DB_TIMEOUT)``; a connection whose statement
timed out or was cancelled is closed, never handed out again (its protocol state
is unknown). TLS comes from DATABASE_URL's yoyo-style options (``ssl``,
``sslca``, ...) and is enforced: a connection the server did not encrypt is
refused before any statement runs.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

import aiomysql
import pymysql

from ..config import DatabaseUrl
from ..errors import ConfigError, DatabaseError
from .base import Database, Executor, IntegrityViolation, Params, Row, TransientConflict
from .queries import Query

T = TypeVar("T")

_UNAVAILABLE = (OSError, asyncio.TimeoutError)
# Strict mode turns silent truncation into an error, so a name or key is
# stored whole or not at all.
SESSION_INIT = (
    "SET time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO'"
)
# ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT: InnoDB rolled the transaction back; it may simply be retried.
_RETRYABLE = frozenset({1213, 1205})
_TLS_OPTIONS = ("ssl", "sslca", "sslcapath", "sslcert", "sslkey", "sslcipher")


def ssl_context(url: DatabaseUrl) -> ssl.SSLContext | None:
    """The TLS context DATABASE_URL asks for, with the meaning yoyo (PyMySQL) gives the same options.

    Any of ``ssl``, ``sslca``, ``sslcapath``, ``sslcert``, ``sslkey``, ``sslcipher`` turns TLS on.
    With ``sslca`` or ``sslcapath`` the server's certificate and host name are verified; without,
    the connection is encrypted but the server is not authenticated. ``sslcert``/``sslkey`` are a
    client certificate, ``sslcipher`` an OpenSSL cipher list. A file or value that cannot be used
    is a ConfigError naming DATABASE_URL and the option.
    """
    options = url.options()
    if not any(name in options for name in _TLS_OPTIONS):
        return None
    ca, capath = options.get("sslca"), options.get("sslcapath")
    cert, key, cipher = options.get("sslcert"), options.get("sslkey"), options.get("sslcipher")
    if key and not cert:
        raise ConfigError("DATABASE_URL: option 'sslkey' needs 'sslcert' (the client certificate)")
    if capath and not os.path.isdir(capath):  # OpenSSL would only notice when verifying
        raise ConfigError("DATABASE_URL: option 'sslcapath' cannot be used: not a directory")
    try:
        context = ssl.create_default_context(cafile=ca or None, capath=capath or None)
    except (OSError, ssl.SSLError) as exc:
        raise _option_error("sslca" if ca else "sslcapath", exc) from None
    # As PyMySQL: certificates MySQL generates for itself fail the strict X.509 checks.
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    if not ca and not capath:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert:
        try:
            context.load_cert_chain(cert, keyfile=key or None)
        except (OSError, ssl.SSLError) as exc:
            raise _option_error("sslcert", exc) from None
    if cipher:
        try:
            context.set_ciphers(cipher)
        except ssl.SSLError as exc:
            raise _option_error("sslcipher", exc) from None
    return context


def _option_error(option: str, exc: BaseException) -> ConfigError:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return ConfigError(f"DATABASE_URL: option {option!r} cannot be used: {reason}")


def _encrypted(connection: Any) -> bool:
    # aiomysql upgrades to TLS only if the server offers it and silently carries on in clear text
    # otherwise; the transport is the ground truth. Anything unexpected counts as not encrypted.
    writer = getattr(connection, "_writer", None)
    return writer is not None and writer.get_extra_info("ssl_object") is not None


def connect_sync(url: DatabaseUrl, *, timeout: float, **kwargs: Any) -> Any:
    """A PyMySQL connection as the daemon connects: utf8mb4, strict session, the URL's TLS enforced.

    For migrations (yoyo) and ``import-legacy``, which run on synchronous drivers.
    """
    context = ssl_context(url)
    connection = pymysql.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.user or "root",
        password=url.password,
        database=url.database,
        charset="utf8mb4",
        connect_timeout=max(1, int(timeout)),
        init_command=SESSION_INIT,
        ssl=context,
        **kwargs,
    )
    # PyMySQL, like aiomysql, silently stays in clear text when the server offers no TLS.
    if context is not None and not isinstance(getattr(connection, "_sock", None), ssl.SSLSocket):
        connection.close()
        raise DatabaseError(
            f"{url.redacted()}: connect failed: the server did not negotiate TLS, "
            "which DATABASE_URL asks for (ssl options)"
        )
    return connection


class _MysqlExecutor(Executor):
    def __init__(self, database: MysqlDatabase, connection: Any) -> None:
        self._database = database
        self._connection = connection

    async def fetch_one(self, query: Query, params: Params | None = None) -> Row | None:
        async def one(cursor: Any) -> Row | None:
            row: Row | None = await cursor.fetchone()
            return row

        return await self._statement(query, params, one)

    async def fetch_all(self, query: Query, params: Params | None = None) -> list[Row]:
        async def every(cursor: Any) -> list[Row]:
            return list(await cursor.fetchall())

        return await self._statement(query, params, every)

    async def execute(self, query: Query, params: Params | None = None) -> int:
        async def rowcount(cursor: Any) -> int:
            return int(cursor.rowcount)

        return await self._statement(query, params, rowcount)

    async def execute_many(self, query: Query, params: Sequence[Params]) -> None:
        async def run() -> None:
            async with self._connection.cursor() as cursor:
                await cursor.executemany(query.sql, [dict(p) for p in params])

        await self._database.bounded(self._connection, run())

    async def _statement(self, query: Query, params: Params | None, consume: Callable[[Any], Awaitable[T]]) -> T:
        async def run() -> T:
            async with self._connection.cursor(aiomysql.DictCursor) as cursor:
                await cursor.execute(query.sql, dict(params) if params else None)
                return await consume(cursor)

        return await self._database.bounded(self._connection, run())


class MysqlDatabase(Database):
    paramstyle = "pyformat"

    _pool: Any = None
    _ssl: ssl.SSLContext | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wakeups: set[asyncio.Future[None]] = set()

    async def connect(self) -> None:
        url = self.url
        self._ssl = ssl_context(url)
        try:
            # create_pool opens pool_min connections; aiomysql's connect_timeout covers only the TCP connect.
            async with asyncio.timeout(self.timeout):
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
                    init_command=SESSION_INIT,
                    pool_recycle=3600,
                    ssl=self._ssl,
                )
        except (pymysql.Error, *_UNAVAILABLE) as exc:
            raise self.error(exc, "connect") from None
        if self._ssl is not None:
            try:
                async with self._acquire():
                    pass  # refuse to start on a server that does not encrypt
            except DatabaseError:
                await self.close()
                raise

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            await self._pool.wait_closed()
            self._pool = None

    def translate(self, exc: BaseException) -> DatabaseError:
        if isinstance(exc, pymysql.IntegrityError):
            return IntegrityViolation(f"{self.url.redacted()}: {exc}", constraint=str(exc))
        if isinstance(exc, pymysql.OperationalError) and exc.args and exc.args[0] in _RETRYABLE:
            return TransientConflict(f"{self.url.redacted()}: {exc}")
        return self.error(exc)

    def pool_stats(self) -> tuple[int, int]:
        if self._pool is None:
            return (0, 0)
        idle = int(self._pool.freesize)
        return (int(self._pool.size) - idle, idle)

    async def bounded(self, connection: Any, statement: Awaitable[T]) -> T:
        """Run one statement on ``connection`` within PROXYD_DB_TIMEOUT, translating driver errors.

        A statement that times out or is cancelled leaves the connection mid-protocol: it is closed,
        so the pool drops it instead of handing a stale result to the next caller.
        """
        deadline = asyncio.timeout(self.timeout)
        try:
            async with deadline:
                return await statement
        except (pymysql.Error, *_UNAVAILABLE) as exc:
            if deadline.expired():
                connection.close()
                raise DatabaseError(f"{self.url.redacted()}: statement timed out after {self.timeout:g} s") from None
            raise self.translate(exc) from None
        except asyncio.CancelledError:
            connection.close()
            raise

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[Any]:
        if self._pool is None:
            raise DatabaseError(f"{self.url.redacted()}: not connected")
        try:
            connection = await asyncio.wait_for(self._pool.acquire(), self.timeout)
        except (pymysql.Error, *_UNAVAILABLE) as exc:
            raise self.error(exc, "connect") from None
        try:
            if self._ssl is not None and not _encrypted(connection):
                connection.close()
                raise DatabaseError(
                    f"{self.url.redacted()}: connect failed: the server did not negotiate TLS, "
                    "which DATABASE_URL asks for (ssl options)"
                )
            yield connection
        finally:
            dropped = connection.closed
            self._pool.release(connection)
            if dropped and not self._pool._closing:
                # aiomysql wakes waiters only for connections it takes back, not for
                # one we dropped (timeout, lost TLS): without this, a request queued
                # for a connection would wait out its timeout although a slot is free.
                self._wakeups.add(task := asyncio.ensure_future(self._pool._wakeup()))
                task.add_done_callback(self._wakeups.discard)

    @asynccontextmanager
    async def _statement(self) -> AsyncIterator[Executor]:
        async with self._acquire() as connection:
            yield _MysqlExecutor(self, connection)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._acquire() as connection:
            await self.bounded(connection, connection.begin())
            try:
                yield _MysqlExecutor(self, connection)
            except BaseException:
                # A rollback on a dead connection fails too; the original error matters more.
                with suppress(DatabaseError):
                    await self.bounded(connection, connection.rollback())
                raise
            await self.bounded(connection, connection.commit())
