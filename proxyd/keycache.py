"""Resolving the key a client presents, without a database query on the request's path.

Lookups are cached in memory for ``PROXYD_KEY_CACHE_TTL`` seconds. Once an
entry for a known key is older than that, it is still served while one
background query refreshes it (stale-while-revalidate), so steady traffic
never waits for the database; an unknown key's entry is re-checked before
answering, so a key created on another instance is accepted as soon as the
entry expires. This process's admin changes invalidate the cache at once.
While the database is unreachable, cached entries keep being served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .errors import DatabaseError, Unauthorized
from .limits import KEY_REFRESH_BACKOFF, UNKNOWN_KEYS_CACHED
from .models import ApiKey
from .store import KeyStore

log = logging.getLogger("proxyd.keycache")

DEFAULT_KEY_ALIASES = frozenset({"", "_"})


def unusable_key_reasons(key: str) -> list[str]:
    """Why a stored ``key`` could never be matched by a request (empty list: it can be).

    The proxy strips whitespace around the presented key and reads ``_`` as the
    default key, so such a key would be stored but never resolve to itself.
    """
    reasons: list[str] = []
    if key != key.strip():
        reasons.append("must not start or end with whitespace")
    if key and key in DEFAULT_KEY_ALIASES:
        reasons.append(f'must not be "{key}": it selects the default key')
    return reasons


Fallback = Callable[[str | None], Awaitable[ApiKey | None]]
Lookup = str | None  # None: the default key


@dataclass(slots=True)
class _Entry:
    api_key: ApiKey | None
    expires: float


class KeyResolver:
    def __init__(
        self,
        store: KeyStore,
        ttl: float,
        fallback: Fallback | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_unknown: int = UNKNOWN_KEYS_CACHED,
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._max_unknown = max_unknown
        self._fallback = fallback
        self._known: dict[Lookup, _Entry] = {}
        self._unknown: dict[Lookup, _Entry] = {}
        self._loading: dict[Lookup, asyncio.Task[ApiKey | None]] = {}
        self._tasks: set[asyncio.Task[ApiKey | None]] = set()  # every lookup still running, detached or not
        # Bumped by invalidate(): a load that started earlier must not store its (stale) answer.
        self._generation = 0
        self.hits = 0
        self.misses = 0
        self.refreshes = 0

    def invalidate(self) -> None:
        self._known.clear()
        self._unknown.clear()
        self._generation += 1
        # Detach lookups already running: requests from now on must not join an answer from before.
        self._loading.clear()

    async def settled(self) -> None:
        """Wait until no lookup is running (background refreshes included)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, DatabaseError):
                await task

    async def resolve(self, presented: str | None) -> ApiKey:
        """The stored key for ``presented``; None, empty or ``_`` mean the default key."""
        lookup = None if presented is None or presented in DEFAULT_KEY_ALIASES else presented
        entry = self._known.get(lookup) or self._unknown.get(lookup)
        if entry is not None and self._clock() < entry.expires:
            self.hits += 1
            api_key = entry.api_key
        elif entry is not None and entry.api_key is not None:
            self.refreshes += 1
            self._load_shared(lookup)
            api_key = entry.api_key
        else:
            self.misses += 1
            try:
                api_key = await asyncio.shield(self._load_shared(lookup))
            except DatabaseError:
                if entry is None:
                    raise
                api_key = entry.api_key  # stale, but the database is away
        if api_key is None:
            raise Unauthorized("No default API key is set" if lookup is None else "Invalid API key")
        return api_key

    def _load_shared(self, lookup: Lookup) -> asyncio.Task[ApiKey | None]:
        """One database lookup per key at a time, however many requests ask."""
        task = self._loading.get(lookup)
        if task is None:
            task = asyncio.create_task(self._load_and_store(lookup, self._generation))
            self._loading[lookup] = task
            self._tasks.add(task)
            task.add_done_callback(lambda done: self._finished(lookup, done))
        return task

    async def _load_and_store(self, lookup: Lookup, generation: int) -> ApiKey | None:
        found = await (self._store.get_default() if lookup is None else self._store.find_by_key(lookup))
        if found is None and self._fallback is not None:
            found = await self._fallback(lookup)
        if generation == self._generation:
            self._store_entry(lookup, found, self._ttl)
        return found

    def _store_entry(self, lookup: Lookup, api_key: ApiKey | None, ttl: float) -> None:
        entry = _Entry(api_key, self._clock() + ttl)
        if api_key is None:
            # Unknown keys live apart from known ones, so random keys can only ever evict each other.
            self._known.pop(lookup, None)
            if len(self._unknown) >= self._max_unknown:
                self._unknown.clear()
            self._unknown[lookup] = entry
        else:
            self._unknown.pop(lookup, None)
            self._known[lookup] = entry

    def _finished(self, lookup: Lookup, task: asyncio.Task[ApiKey | None]) -> None:
        self._tasks.discard(task)
        if self._loading.get(lookup) is task:
            del self._loading[lookup]
        if task.cancelled() or (exc := task.exception()) is None:
            return
        stale = self._known.get(lookup)
        if stale is not None:
            # Serve the cached key a little longer instead of retrying on every request.
            stale.expires = self._clock() + min(self._ttl, KEY_REFRESH_BACKOFF) if self._ttl else 0
            message = exc.message if isinstance(exc, DatabaseError) else repr(exc)
            log.warning("key refresh failed; serving the cached key meanwhile: %s", message)
