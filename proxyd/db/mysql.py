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
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiomysql
import pymysql

from proxyd.db.aiomysql_shim import is_encrypted, is_encrypted_sync, wake_pool_waiter
from proxyd.db.base import Adapter, Params, Row
from proxyd.db.queries import Query
from proxyd.db.url import DatabaseUrl
from proxyd.errors import ConfigError, DatabaseError
from proxyd.limits import MYSQL_POOL_RECYCLE

T = TypeVar("T")

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
    if context is not None and not is_encrypted_sync(connection):
        connection.close()
        raise DatabaseError(
            f"{url.redacted()}: connect failed: the server did not negotiate TLS, "
            "which DATABASE_URL asks for (ssl options)"
        )
    return connection


@asynccontextmanager
async def _cursor(connection: Any, query: Query, params: Params | None) -> AsyncIterator[Any]:
    """A cursor that has run ``query``, its rows as dicts."""
    async with connection.cursor(aiomysql.DictCursor) as cursor:
        await cursor.execute(query.sql, dict(params) if params else None)
        yield cursor


class MysqlDatabase(Adapter[Any, Any]):
    paramstyle = "pyformat"
    driver_errors = (pymysql.Error, OSError, asyncio.TimeoutError)
    integrity_errors = (pymysql.IntegrityError,)
    session_init = SESSION_INIT

    _ssl: ssl.SSLContext | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wakeups: set[asyncio.Future[None]] = set()

    async def connect(self) -> None:
        url = self.url
        self._ssl = ssl_context(url)
        with self._connecting():
            # create_pool opens pool_min connections; aiomysql's connect_timeout covers only the TCP connect.
            async with asyncio.timeout(self.timeout):
                self._handle = await aiomysql.create_pool(
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
                    init_command=self.session_init,
                    pool_recycle=MYSQL_POOL_RECYCLE,
                    ssl=self._ssl,
                )
        if self._ssl is not None:
            try:
                async with self._connection():
                    pass  # refuse to start on a server that does not encrypt
            except DatabaseError:
                await self.close()
                raise

    async def _close(self, handle: Any) -> None:
        handle.close()
        await handle.wait_closed()

    def _stats(self, handle: Any) -> tuple[int, int]:
        idle = int(handle.freesize)
        return (int(handle.size) - idle, idle)

    def _is_transient(self, exc: BaseException) -> bool:
        # InnoDB says so by error code, on the generic OperationalError.
        return isinstance(exc, pymysql.OperationalError) and bool(exc.args) and exc.args[0] in _RETRYABLE

    def _discard(self, connection: Any) -> None:
        connection.close()

    async def _call(self, connection: Any, operation: Awaitable[T]) -> T:
        """Every driver call (statements, BEGIN, COMMIT, ROLLBACK) within PROXYD_DB_TIMEOUT.

        A call that times out or is cancelled leaves the connection mid-protocol: it is closed, so the
        pool drops it instead of handing a stale result to the next caller.
        """
        try:
            return await super()._call(connection, self._within_timeout(operation))
        except asyncio.CancelledError:
            self._discard(connection)
            raise

    async def _within_timeout(self, operation: Awaitable[T]) -> T:
        # aiomysql has no read timeout, and turns its own socket errors into pymysql errors:
        # a TimeoutError out of here is this deadline, which translate() reports as such.
        async with asyncio.timeout(self.timeout):
            return await operation

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        if self._handle is None:
            raise self._not_connected()
        with self._connecting():
            connection = await asyncio.wait_for(self._handle.acquire(), self.timeout)
        try:
            if self._ssl is not None and not is_encrypted(connection):
                connection.close()
                raise DatabaseError(
                    f"{self.url.redacted()}: connect failed: the server did not negotiate TLS, "
                    "which DATABASE_URL asks for (ssl options)"
                )
            yield connection
        finally:
            dropped = connection.closed
            self._handle.release(connection)
            if dropped and (wakeup := wake_pool_waiter(self._handle)) is not None:
                self._wakeups.add(wakeup)  # a reference, so the task is not collected before it runs
                wakeup.add_done_callback(self._wakeups.discard)

    async def _begin(self, connection: Any) -> None:
        await connection.begin()

    async def _commit(self, connection: Any) -> None:
        await connection.commit()

    async def _rollback(self, connection: Any) -> None:
        await connection.rollback()

    async def _fetch_one(self, connection: Any, query: Query, params: Params | None) -> Row | None:
        async with _cursor(connection, query, params) as cursor:
            row: Row | None = await cursor.fetchone()
            return row

    async def _fetch_all(self, connection: Any, query: Query, params: Params | None) -> list[Row]:
        async with _cursor(connection, query, params) as cursor:
            return list(await cursor.fetchall())

    async def _execute(self, connection: Any, query: Query, params: Params | None) -> int:
        async with _cursor(connection, query, params) as cursor:
            return int(cursor.rowcount)

    async def _execute_many(self, connection: Any, query: Query, params: Sequence[Params]) -> None:
        async with connection.cursor() as cursor:
            await cursor.executemany(query.sql, [dict(p) for p in params])
