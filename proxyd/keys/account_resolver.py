"""Resolving the key a client presents, without a database query on the request's path.

Lookups are cached for ``PROXYD_KEY_CACHE_TTL`` seconds by a
:class:`~proxyd.keys.lookup_cache.LookupCache` (stale-while-revalidate). This
process's admin changes invalidate the cache at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Unpack

from proxyd.errors import Unauthorized
from proxyd.keys.lookup_cache import CacheOptions, LookupCache
from proxyd.keys.records import ApiKey
from proxyd.keys.store import KeyStore

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


class KeyResolver(LookupCache[Lookup, ApiKey]):
    def __init__(
        self, store: KeyStore, ttl: float, fallback: Fallback | None = None, **options: Unpack[CacheOptions]
    ) -> None:
        super().__init__(ttl, **options)
        self._store = store
        self._fallback = fallback

    async def resolve(self, presented: str | None) -> ApiKey:
        """The stored key for ``presented``; None, empty or ``_`` mean the default key."""
        lookup = None if presented is None or presented in DEFAULT_KEY_ALIASES else presented
        api_key = await self.get(lookup)
        if api_key is None:
            raise Unauthorized("No default API key is set" if lookup is None else "Invalid API key")
        return api_key

    async def _load(self, lookup: Lookup) -> ApiKey | None:
        found = await (self._store.get_default() if lookup is None else self._store.find_by_key(lookup))
        if found is None and self._fallback is not None:
            found = await self._fallback(lookup)
        return found
