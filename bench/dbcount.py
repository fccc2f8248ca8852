"""A ``Database`` that counts every statement it runs, by query name, around any real adapter."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Sequence

from bench.delegating_database import DelegatingDatabase
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


class CountingDatabase(DelegatingDatabase):
    """Delegates everything to ``inner``; statements inside transactions are counted too."""

    def __init__(self, inner: Database) -> None:
        super().__init__(inner)
        self.counts: Counter[str] = Counter()
        self.transactions = 0

    def wrap(self, executor: Executor) -> Executor:
        return CountingExecutor(executor, self.counts)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with super().transaction() as tx:
            self.transactions += 1
            yield tx
