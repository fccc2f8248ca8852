"""The database interface, and the one transaction template every adapter shares.

``Executor`` runs single statements; ``Database.transaction()`` yields an
executor bound to one connection inside one transaction. ``Adapter`` owns the
control flow once for every driver (hand out a connection, BEGIN, COMMIT or
ROLLBACK, translate driver exceptions into ``DatabaseError`` /
``IntegrityViolation`` / ``TransientConflict``, so callers never see a driver
type); an adapter supplies only its driver's calls and, as class attributes,
which of its exceptions mean what (as yoyo's backends do: data, not if-chains).
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, Generic, TypeVar

from proxyd.db.queries import Paramstyle, Query, queries_for
from proxyd.db.url import DatabaseUrl
from proxyd.errors import DatabaseError, IntegrityViolation, TransientConflict

Row = dict[str, Any]
Params = Mapping[str, Any]


def optional_int(value: Any) -> int | None:
    """A nullable integer column as an int, whatever numeric type the driver handed back."""
    return None if value is None else int(value)


C = TypeVar("C")  # a driver's connection
H = TypeVar("H")  # what a driver's connect() opens: a pool, or SQLite's one connection
T = TypeVar("T")


class Executor(abc.ABC):
    """Runs named queries with named parameters."""

    @abc.abstractmethod
    async def fetch_one(self, query: Query, params: Params | None = None) -> Row | None: ...

    @abc.abstractmethod
    async def fetch_all(self, query: Query, params: Params | None = None) -> list[Row]: ...

    @abc.abstractmethod
    async def execute(self, query: Query, params: Params | None = None) -> int:
        """Run a statement; return the number of rows it changed."""

    @abc.abstractmethod
    async def execute_many(self, query: Query, params: Sequence[Params]) -> None: ...


class Database(Executor):
    """A connection pool (or, for SQLite, one connection) for one dialect: what callers see."""

    paramstyle: ClassVar[Paramstyle]

    def __init__(self, url: DatabaseUrl, *, pool_min: int, pool_max: int, timeout: float) -> None:
        self.url = url
        self.pool_min = pool_min
        self.pool_max = pool_max
        self.timeout = timeout
        self.queries = queries_for(url.dialect, self.paramstyle)

    @property
    def dialect(self) -> str:
        return self.url.dialect

    @abc.abstractmethod
    async def connect(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Executor]: ...

    @abc.abstractmethod
    def pool_stats(self) -> tuple[int, int]:
        """(connections in use, idle connections) for metrics."""

    def error(self, exc: BaseException, action: str = "query") -> DatabaseError:
        """A project error naming this database and the reason, never its credentials."""
        reason = self.url.scrub(str(exc).strip() or type(exc).__name__)
        return DatabaseError(f"{self.url.redacted()}: {action} failed: {reason}")


class Adapter(Database, Generic[C, H]):
    """A ``Database`` on one async driver whose connections are of type ``C``, handed out by an ``H``.

    Everything here is written once: each driver call runs through ``_call``
    (errors translated, never a driver type); a transaction is BEGIN, the
    caller's statements, then COMMIT, or ROLLBACK on any error or
    cancellation, and a failed ROLLBACK never hides the error that caused it.
    A subclass supplies what it opens and how to close it, its connections,
    its statement and transaction calls, and the exception classes below.
    """

    # Everything the driver raises; anything else (our own errors, cancellation) passes through untouched.
    driver_errors: ClassVar[tuple[type[BaseException], ...]]
    # A constraint (unique, foreign key, check) rejected the statement.
    integrity_errors: ClassVar[tuple[type[BaseException], ...]]
    # The database rolled the transaction back to break a deadlock: the caller may run it again.
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    # How a transaction that writes begins, here and in the legacy import's synchronous executor.
    begin_sql: ClassVar[str] = "BEGIN"
    # Settings every session of this dialect starts with, on the async pool and the synchronous drivers alike.
    session_init: ClassVar[str | None] = None

    # What connect() opened; None before and once closed.
    _handle: H | None = None

    # --- what a driver supplies ---------------------------------------------------------------

    @abc.abstractmethod
    async def _close(self, handle: H) -> None: ...

    @abc.abstractmethod
    def _stats(self, handle: H) -> tuple[int, int]:
        """``pool_stats()`` of an open database."""

    @abc.abstractmethod
    def _connection(self) -> AbstractAsyncContextManager[C]:
        """One connection, held for one statement or one transaction, then handed back."""

    @abc.abstractmethod
    async def _begin(self, connection: C) -> None: ...

    @abc.abstractmethod
    async def _commit(self, connection: C) -> None: ...

    @abc.abstractmethod
    async def _rollback(self, connection: C) -> None: ...

    @abc.abstractmethod
    async def _fetch_one(self, connection: C, query: Query, params: Params | None) -> Row | None: ...

    @abc.abstractmethod
    async def _fetch_all(self, connection: C, query: Query, params: Params | None) -> list[Row]: ...

    @abc.abstractmethod
    async def _execute(self, connection: C, query: Query, params: Params | None) -> int: ...

    @abc.abstractmethod
    async def _execute_many(self, connection: C, query: Query, params: Sequence[Params]) -> None: ...

    def _discard(self, connection: C) -> None:
        """Close a connection whose protocol state is unknown, so it is never handed out again.

        SQLite's in-process connection never is: it has no statement timeout to run into.
        """

    def _is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, self.transient_errors)

    def _constraint(self, exc: BaseException) -> str:
        """The constraint an integrity error names, as far as the driver tells."""
        return str(exc)

    # --- the template ---------------------------------------------------------------------------

    async def close(self) -> None:
        if self._handle is not None:
            await self._close(self._handle)
            self._handle = None

    def pool_stats(self) -> tuple[int, int]:
        return (0, 0) if self._handle is None else self._stats(self._handle)

    async def _call(self, connection: C, operation: Awaitable[T]) -> T:
        """Run one driver call on ``connection``, its errors translated."""
        try:
            return await operation
        except self.driver_errors as exc:
            raise self.translate(exc, connection) from None

    def translate(self, exc: BaseException, connection: C | None = None) -> DatabaseError:
        if isinstance(exc, self.integrity_errors):
            return IntegrityViolation(f"{self.url.redacted()}: {exc}", constraint=self._constraint(exc))
        if self._is_transient(exc):
            return TransientConflict(f"{self.url.redacted()}: {exc}")
        if isinstance(exc, TimeoutError):  # the statement ran past PROXYD_DB_TIMEOUT
            if connection is not None:
                self._discard(connection)
            return DatabaseError(f"{self.url.redacted()}: statement timed out after {self.timeout:g} s")
        return self.error(exc)

    @contextlib.contextmanager
    def _connecting(self) -> Iterator[None]:
        """Driver errors while opening or handing out a connection, as a connect failure."""
        try:
            yield
        except self.driver_errors as exc:
            raise self.error(exc, "connect") from None

    def _not_connected(self) -> DatabaseError:
        return DatabaseError(f"{self.url.redacted()}: not connected")

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._connection() as connection:
            await self._call(connection, self._begin(connection))
            try:
                yield _ConnectionExecutor(self, connection)
            except BaseException:
                await self._rollback_quietly(connection)
                raise
            try:
                await self._call(connection, self._commit(connection))
            except DatabaseError:
                # Where the transaction outlives a failed COMMIT (SQLite busy), it must not stay open.
                await self._rollback_quietly(connection)
                raise

    async def _rollback_quietly(self, connection: C) -> None:
        # A rollback on a dead connection fails too; the error that led here matters more.
        with contextlib.suppress(DatabaseError):
            await self._call(connection, self._rollback(connection))

    async def fetch_one(self, query: Query, params: Params | None = None) -> Row | None:
        async with self._connection() as connection:
            return await _ConnectionExecutor(self, connection).fetch_one(query, params)

    async def fetch_all(self, query: Query, params: Params | None = None) -> list[Row]:
        async with self._connection() as connection:
            return await _ConnectionExecutor(self, connection).fetch_all(query, params)

    async def execute(self, query: Query, params: Params | None = None) -> int:
        async with self._connection() as connection:
            return await _ConnectionExecutor(self, connection).execute(query, params)

    async def execute_many(self, query: Query, params: Sequence[Params]) -> None:
        # All rows or none, on every dialect.
        async with self.transaction() as tx:
            await tx.execute_many(query, params)


class _ConnectionExecutor(Executor, Generic[C]):
    """An adapter's statements on one connection, each run through the adapter's ``_call``."""

    def __init__(self, adapter: Adapter[C, Any], connection: C) -> None:
        self._adapter = adapter
        self._connection = connection

    async def fetch_one(self, query: Query, params: Params | None = None) -> Row | None:
        adapter, connection = self._adapter, self._connection
        return await adapter._call(connection, adapter._fetch_one(connection, query, params))

    async def fetch_all(self, query: Query, params: Params | None = None) -> list[Row]:
        adapter, connection = self._adapter, self._connection
        return await adapter._call(connection, adapter._fetch_all(connection, query, params))

    async def execute(self, query: Query, params: Params | None = None) -> int:
        adapter, connection = self._adapter, self._connection
        return await adapter._call(connection, adapter._execute(connection, query, params))

    async def execute_many(self, query: Query, params: Sequence[Params]) -> None:
        adapter, connection = self._adapter, self._connection
        await adapter._call(connection, adapter._execute_many(connection, query, params))
