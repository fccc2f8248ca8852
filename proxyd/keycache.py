"""Resolving the key a client presents, without a database query per request.

Lookups are cached in memory for ``PROXYD_KEY_CACHE_TTL`` seconds: this
process's admin changes invalidate the cache at once, other instances' changes
arrive when the entry expires. While the database is unreachable, expired
entries keep being served.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .errors import DatabaseError, Unauthorized
from .models import ApiKey
from .store import KeyStore

DEFAULT_KEY_ALIASES = frozenset({"", "_"})
# Negative answers are cached too, so a client hammering with a bad key costs no queries.
_MAX_ENTRIES = 10_000

Fallback = Callable[[str | None], Awaitable[ApiKey | None]]


@dataclass(slots=True)
class _Entry:
    api_key: ApiKey | None
    expires: float


class KeyResolver:
    def __init__(self, store: KeyStore, ttl: float, fallback: Fallback | None = None) -> None:
        self._store = store
        self._ttl = ttl
        self._fallback = fallback
        self._entries: dict[str | None, _Entry] = {}
        self.hits = 0
        self.misses = 0

    def invalidate(self) -> None:
        self._entries.clear()

    async def resolve(self, presented: str | None) -> ApiKey:
        """The stored key for ``presented``; None, empty or ``_`` mean the default key."""
        lookup = None if presented is None or presented in DEFAULT_KEY_ALIASES else presented
        entry = self._entries.get(lookup)
        now = time.monotonic()
        if entry is not None and now < entry.expires:
            self.hits += 1
            api_key = entry.api_key
        else:
            self.misses += 1
            try:
                api_key = await self._load(lookup)
            except DatabaseError:
                if entry is None:
                    raise
                api_key = entry.api_key  # stale, but the database is away
            else:
                if len(self._entries) >= _MAX_ENTRIES:
                    self._entries.clear()
                self._entries[lookup] = _Entry(api_key, now + self._ttl)
        if api_key is None:
            raise Unauthorized("No default API key is set" if lookup is None else "Invalid API key")
        return api_key

    async def _load(self, lookup: str | None) -> ApiKey | None:
        found = await (self._store.get_default() if lookup is None else self._store.find_by_key(lookup))
        if found is None and self._fallback is not None:
            found = await self._fallback(lookup)
        return found
