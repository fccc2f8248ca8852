"""A ``Database`` that hands every call to a real adapter: the base of fakes that watch or break it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from proxyd.db import Database
from proxyd.db.base import Executor, Params, Row
from proxyd.db.queries import Query


class DelegatingDatabase(Database):
    """Every statement runs on ``inner``; ``wrap`` sees each executor (direct or a transaction's) first."""

    paramstyle = "named"  # only consulted by Database.__init__; the inner adapter's queries replace its result

    def __init__(self, inner: Database) -> None:
        super().__init__(inner.url, pool_min=inner.pool_min, pool_max=inner.pool_max, timeout=inner.timeout)
        self.queries = inner.queries
        self._inner = inner

    def wrap(self, executor: Executor) -> Executor:
        return executor

    async def connect(self) -> None:
        await self._inner.connect()

    async def close(self) -> None:
        await self._inner.close()

    def pool_stats(self) -> tuple[int, int]:
        return self._inner.pool_stats()

    async def fetch_one(self, query: Query, params: Params | None = None) -> Row | None:
        return await self.wrap(self._inner).fetch_one(query, params)

    async def fetch_all(self, query: Query, params: Params | None = None) -> list[Row]:
        return await self.wrap(self._inner).fetch_all(query, params)

    async def execute(self, query: Query, params: Params | None = None) -> int:
        return await self.wrap(self._inner).execute(query, params)

    async def execute_many(self, query: Query, params: Sequence[Params]) -> None:
        await self.wrap(self._inner).execute_many(query, params)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._inner.transaction() as tx:
            yield self.wrap(tx)
