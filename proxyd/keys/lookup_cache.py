"""Database lookups cached in memory, stale-while-revalidate: what both key caches are built on.

An answer is served for ``ttl`` seconds. After that, a found value is still
served while one background load refreshes it, so steady traffic never waits
for the database; a "not found" is loaded again before answering, so a key
created on another instance is found as soon as its entry expires. While the
database is unreachable, found values keep being served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypedDict, TypeVar

from proxyd.errors import DatabaseError
from proxyd.limits import KEY_REFRESH_BACKOFF, UNKNOWN_KEYS_CACHED
from proxyd.metrics import Labels

log = logging.getLogger("proxyd.keycache")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class CacheOptions(TypedDict, total=False):
    """What tests and the benchmark may set besides the TTL."""

    clock: Callable[[], float]
    max_unknown: int  # "not found" answers kept at most: random keys must not fill memory


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V | None
    expires: float


class LookupCache(ABC, Generic[K, V]):
    """Caches :meth:`_load`; ``hits``, ``refreshes`` (stale answers) and ``misses`` count the outcomes."""

    what = "key"  # names the value in the warning a failed refresh logs

    def __init__(
        self, ttl: float, *, clock: Callable[[], float] = time.monotonic, max_unknown: int = UNKNOWN_KEYS_CACHED
    ) -> None:
        self._ttl = ttl
        self._clock = clock
        self._max_unknown = max_unknown
        self._known: dict[K, _Entry[V]] = {}
        self._unknown: dict[K, _Entry[V]] = {}
        self._loading: dict[K, asyncio.Task[V | None]] = {}
        self._tasks: set[asyncio.Task[V | None]] = set()  # every load still running, detached or not
        # Bumped by invalidate(): a load that started earlier must not store its (stale) answer.
        self._generation = 0
        self.hits = 0
        self.misses = 0
        self.refreshes = 0
        # Called by invalidate(): tells the other instances (proxyd/sharedstate/invalidation.py).
        self.on_invalidate: Callable[[], None] | None = None

    @abstractmethod
    async def _load(self, key: K) -> V | None:
        """The value for ``key`` from the database; None when there is none."""

    def outcomes(self) -> list[tuple[Labels, float]]:
        """The counters as ``/metrics`` samples them."""
        return [
            ((("outcome", "hit"),), self.hits),
            ((("outcome", "stale"),), self.refreshes),
            ((("outcome", "miss"),), self.misses),
        ]

    def invalidate(self) -> None:
        """Records changed here: forget every answer, here and (``on_invalidate``) on the other instances."""
        self.clear()
        if self.on_invalidate is not None:
            self.on_invalidate()

    def clear(self) -> None:
        """Forget every answer (records changed on another instance)."""
        self._known.clear()
        self._unknown.clear()
        self._generation += 1
        # Detach loads already running: requests from now on must not join an answer from before.
        self._loading.clear()

    async def settled(self) -> None:
        """Wait until no load is running (background refreshes included)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, DatabaseError):
                await task

    async def get(self, key: K) -> V | None:
        entry = self._known.get(key) or self._unknown.get(key)
        if entry is not None and self._clock() < entry.expires:
            self.hits += 1
            return entry.value
        if entry is not None and entry.value is not None:
            self.refreshes += 1
            self._load_shared(key)
            return entry.value
        self.misses += 1
        try:
            return await asyncio.shield(self._load_shared(key))
        except DatabaseError:
            if entry is None:
                raise
            return entry.value  # stale, but the database is away

    def _load_shared(self, key: K) -> asyncio.Task[V | None]:
        """One load per key at a time, however many requests ask."""
        task = self._loading.get(key)
        if task is None:
            task = asyncio.create_task(self._load_and_store(key, self._generation))
            self._loading[key] = task
            self._tasks.add(task)
            task.add_done_callback(lambda done: self._finished(key, done))
        return task

    async def _load_and_store(self, key: K, generation: int) -> V | None:
        found = await self._load(key)
        if generation == self._generation:
            self._store_entry(key, found)
        return found

    def _store_entry(self, key: K, value: V | None) -> None:
        entry = _Entry(value, self._clock() + self._ttl)
        if value is None:
            # Unknown keys live apart from known ones, so random keys can only ever evict each other.
            self._known.pop(key, None)
            if len(self._unknown) >= self._max_unknown:
                self._unknown.clear()
            self._unknown[key] = entry
        else:
            self._unknown.pop(key, None)
            self._known[key] = entry

    def _finished(self, key: K, task: asyncio.Task[V | None]) -> None:
        self._tasks.discard(task)
        if self._loading.get(key) is task:
            del self._loading[key]
        if task.cancelled() or (exc := task.exception()) is None:
            return
        stale = self._known.get(key)
        if stale is not None:
            # Serve the cached value a little longer instead of retrying on every request.
            stale.expires = self._clock() + min(self._ttl, KEY_REFRESH_BACKOFF) if self._ttl else 0
            message = exc.message if isinstance(exc, DatabaseError) else repr(exc)
            log.warning("%s refresh failed; serving the cached %s meanwhile: %s", self.what, self.what, message)
