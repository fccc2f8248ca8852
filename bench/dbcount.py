"""A ``Database`` that counts every statement it runs, by query name, around any real adapter."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Sequence

from proxyd.db import Database
from proxyd.db.base import Executor, Params, Row
from proxyd.db.queries import Query


class CountingExecutor(Executor):
    def __init__(self, inner: Executor, counts: Counter[str]) -> None:
        self._inner = inner
        self._counts = counts

    async def fetch_one(self, query: Query, params: Params | None = None) -> Row | None:
        self._counts[query.name] += 1
        return await self._inner.fetch_one(query, params)

    async def fetch_all(self, query: Query, params: Params | None = None) -> list[Row]:
        self._counts[query.name] += 1
        return await self._inner.fetch_all(query, params)

    async def execute(self, query: Query, params: Params | None = None) -> int:
        self._counts[query.name] += 1
        return await self._inner.execute(query, params)

    async def execute_many(self, query: Query, params: Sequence[Params]) -> None:
        self._counts[query.name] += 1  # one round trip, however many rows
        await self._inner.execute_many(query, params)


class CountingDatabase(Database):
    """Delegates everything to ``inner``; statements inside transactions are counted too."""

    paramstyle = "named"  # only consulted by Database.__init__; the inner adapter's queries replace its result

    def __init__(self, inner: Database) -> None:
        super().__init__(inner.url, pool_min=inner.pool_min, pool_max=inner.pool_max, timeout=inner.timeout)
        self.queries = inner.queries
        self._inner = inner
        self.counts: Counter[str] = Counter()
        self.transactions = 0
        self._direct = CountingExecutor(inner, self.counts)

    async def connect(self) -> None:
        await self._inner.connect()

    async def close(self) -> None:
        await self._inner.close()

    def pool_stats(self) -> tuple[int, int]:
        return self._inner.pool_stats()

    async def fetch_one(self, query: Query, params: Params | None = None) -> Row | None:
        return await self._direct.fetch_one(query, params)

    async def fetch_all(self, query: Query, params: Params | None = None) -> list[Row]:
        return await self._direct.fetch_all(query, params)

    async def execute(self, query: Query, params: Params | None = None) -> int:
        return await self._direct.execute(query, params)

    async def execute_many(self, query: Query, params: Sequence[Params]) -> None:
        await self._direct.execute_many(query, params)

    @contextlib.asynccontextmanager
    async def _statement(self) -> AsyncIterator[Executor]:
        yield self._direct  # unused: the one-statement calls above are counted and delegated directly

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._inner.transaction() as tx:
            self.transactions += 1
            yield CountingExecutor(tx, self.counts)
