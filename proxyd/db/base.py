"""The database interface every adapter implements.

``Executor`` runs single statements; ``Database.transaction()`` yields an
executor bound to one connection inside one transaction. Adapters translate
driver exceptions into ``DatabaseError`` / ``IntegrityViolation`` so callers
never see a driver type.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar

from ..config import DatabaseUrl
from ..errors import DatabaseError
from .queries import Paramstyle, Queries, Query

Row = dict[str, Any]
Params = Mapping[str, Any]


class IntegrityViolation(DatabaseError):
    """A constraint (unique, foreign key, check) rejected the statement."""

    status = 409

    def __init__(self, message: str, constraint: str = "") -> None:
        super().__init__(message)
        self.constraint = constraint


class TransientConflict(DatabaseError):
    """The database aborted a transaction to break a deadlock (or a lock wait timed out): retry it."""


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
    """A connection pool (or, for SQLite, one connection) for one dialect."""

    paramstyle: ClassVar[Paramstyle]

    def __init__(self, url: DatabaseUrl, *, pool_min: int, pool_max: int, timeout: float) -> None:
        self.url = url
        self.pool_min = pool_min
        self.pool_max = pool_max
        self.timeout = timeout
        self.queries = Queries.load(url.dialect, self.paramstyle)

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
    def _statement(self) -> AbstractAsyncContextManager[Executor]:
        """An executor on one connection, held for one statement outside any transaction."""

    async def fetch_one(self, query: Query, params: Params | None = None) -> Row | None:
        async with self._statement() as executor:
            return await executor.fetch_one(query, params)

    async def fetch_all(self, query: Query, params: Params | None = None) -> list[Row]:
        async with self._statement() as executor:
            return await executor.fetch_all(query, params)

    async def execute(self, query: Query, params: Params | None = None) -> int:
        async with self._statement() as executor:
            return await executor.execute(query, params)

    async def execute_many(self, query: Query, params: Sequence[Params]) -> None:
        # All rows or none, on every dialect.
        async with self.transaction() as tx:
            await tx.execute_many(query, params)

    @abc.abstractmethod
    def pool_stats(self) -> tuple[int, int]:
        """(connections in use, idle connections) for metrics."""

    def error(self, exc: BaseException, action: str = "query") -> DatabaseError:
        """A project error naming this database and the reason, never its credentials."""
        reason = self.url.scrub(str(exc).strip() or type(exc).__name__)
        return DatabaseError(f"{self.url.redacted()}: {action} failed: {reason}")
