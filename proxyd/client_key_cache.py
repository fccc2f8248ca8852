"""Client keys by the SHA-256 of their secret, cached as ``keycache`` caches API keys.

An entry is served for ``PROXYD_KEY_CACHE_TTL`` seconds; after that a known
key is still served while one background query refreshes it
(stale-while-revalidate), so steady traffic never waits for the database, and
a key deleted on another instance stops working there within the TTL plus one
request. An unknown secret is re-checked before answering once its entry
expired. Entries hold the key's account pool too: its named accounts that
still exist, or every stored account when it names none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from .client_keys import ClientKey, ClientKeyStore, secret_hash
from .errors import DatabaseError
from .limits import KEY_REFRESH_BACKOFF, UNKNOWN_KEYS_CACHED
from .models import ApiKey
from .store import KeyStore

log = logging.getLogger("proxyd.keycache")


@dataclass(frozen=True, slots=True)
class ClientKeyGrant:
    """A client key as a request uses it: the record and the accounts that may serve it."""

    key: ClientKey
    pool: tuple[ApiKey, ...]


Found = ClientKeyGrant | None


@dataclass(slots=True)
class _Entry:
    grant: Found
    expires: float


class ClientKeyResolver:
    def __init__(
        self,
        client_keys: ClientKeyStore,
        accounts: KeyStore,
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_unknown: int = UNKNOWN_KEYS_CACHED,
    ) -> None:
        self._client_keys = client_keys
        self._accounts = accounts
        self._ttl = ttl
        self._clock = clock
        self._max_unknown = max_unknown
        self._known: dict[str, _Entry] = {}
        self._unknown: dict[str, _Entry] = {}
        self._loading: dict[str, asyncio.Task[Found]] = {}
        self._tasks: set[asyncio.Task[Found]] = set()
        self._generation = 0
        self.hits = 0
        self.misses = 0
        self.refreshes = 0

    def invalidate(self) -> None:
        self._known.clear()
        self._unknown.clear()
        self._generation += 1
        self._loading.clear()

    async def settled(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, DatabaseError):
                await task

    async def resolve(self, secret: str) -> Found:
        """The key whose secret is ``secret`` and its pool; None when there is no such key."""
        digest = secret_hash(secret)
        entry = self._known.get(digest) or self._unknown.get(digest)
        if entry is not None and self._clock() < entry.expires:
            self.hits += 1
            return entry.grant
        if entry is not None and entry.grant is not None:
            self.refreshes += 1
            self._load_shared(digest, secret)
            return entry.grant
        self.misses += 1
        try:
            return await asyncio.shield(self._load_shared(digest, secret))
        except DatabaseError:
            if entry is None:
                raise
            return entry.grant  # stale, but the database is away

    def _load_shared(self, digest: str, secret: str) -> asyncio.Task[Found]:
        task = self._loading.get(digest)
        if task is None:
            task = asyncio.create_task(self._load_and_store(digest, secret, self._generation))
            self._loading[digest] = task
            self._tasks.add(task)
            task.add_done_callback(lambda done: self._finished(digest, done))
        return task

    async def _load_and_store(self, digest: str, secret: str, generation: int) -> Found:
        key = await self._client_keys.find_by_secret(secret)
        grant = None
        if key is not None:
            accounts = await self._accounts.find_all()
            named = key.settings.accounts
            if named is not None:
                by_id = {account.id: account for account in accounts}
                accounts = [by_id[account_id] for account_id in named if account_id in by_id]
            else:
                accounts.reverse()  # oldest first: the order they were added in
            grant = ClientKeyGrant(key, tuple(accounts))
        if generation == self._generation:
            self._store_entry(digest, grant)
        return grant

    def _store_entry(self, digest: str, grant: Found) -> None:
        entry = _Entry(grant, self._clock() + self._ttl)
        if grant is None:
            self._known.pop(digest, None)
            if len(self._unknown) >= self._max_unknown:
                self._unknown.clear()
            self._unknown[digest] = entry
        else:
            self._unknown.pop(digest, None)
            self._known[digest] = entry

    def _finished(self, digest: str, task: asyncio.Task[Found]) -> None:
        self._tasks.discard(task)
        if self._loading.get(digest) is task:
            del self._loading[digest]
        if task.cancelled() or (exc := task.exception()) is None:
            return
        stale = self._known.get(digest)
        if stale is not None:
            stale.expires = self._clock() + min(self._ttl, KEY_REFRESH_BACKOFF) if self._ttl else 0
            message = exc.message if isinstance(exc, DatabaseError) else repr(exc)
            log.warning("client key refresh failed; serving the cached key meanwhile: %s", message)
