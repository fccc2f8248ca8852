"""Client keys by the SHA-256 of their secret, cached as ``account_resolver`` caches API keys.

Entries live ``PROXYD_KEY_CACHE_TTL`` seconds in a
:class:`~proxyd.keys.lookup_cache.LookupCache` (stale-while-revalidate), so a key
deleted on another instance stops working there within the TTL plus one
request. Entries hold the key's account pool too: its named accounts that
still exist, or every stored account when it names none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Unpack

from proxyd.keys.client_keys import ClientKey, ClientKeyStore, secret_hash
from proxyd.keys.lookup_cache import CacheOptions, LookupCache
from proxyd.keys.records import ApiKey
from proxyd.keys.store import KeyStore


@dataclass(frozen=True, slots=True)
class ClientKeyGrant:
    """A client key as a request uses it: the record and the accounts that may serve it."""

    key: ClientKey
    pool: tuple[ApiKey, ...]


class ClientKeyResolver(LookupCache[str, ClientKeyGrant]):
    """Looks keys up by the SHA-256 of their secret, so the cache holds no secret."""

    what = "client key"

    def __init__(
        self, client_keys: ClientKeyStore, accounts: KeyStore, ttl: float, **options: Unpack[CacheOptions]
    ) -> None:
        super().__init__(ttl, **options)
        self._client_keys = client_keys
        self._accounts = accounts

    async def resolve(self, secret: str) -> ClientKeyGrant | None:
        """The key whose secret is ``secret`` and its pool; None when there is no such key."""
        return await self.get(secret_hash(secret))

    async def _load(self, digest: str) -> ClientKeyGrant | None:
        key = await self._client_keys.find_by_hash(digest)
        if key is None:
            return None
        accounts = await self._accounts.find_all()
        named = key.settings.accounts
        if named is not None:
            by_id = {account.id: account for account in accounts}
            accounts = [by_id[account_id] for account_id in named if account_id in by_id]
        else:
            accounts.reverse()  # oldest first: the order they were added in
        return ClientKeyGrant(key, tuple(accounts))
