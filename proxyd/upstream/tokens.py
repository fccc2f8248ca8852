"""Copilot tokens per API key: cached until shortly before expiry, one exchange at a time.

A token survives restarts as the key's ``CopilotMeta``; concurrent requests for
one key share a single in-flight exchange instead of each asking GitHub.
"""

from __future__ import annotations

import asyncio
import logging

from proxyd.clock import now_ms
from proxyd.config import Config
from proxyd.errors import ApiKeyNotFound, DatabaseError
from proxyd.keys.records import ApiKey
from proxyd.keys.store import KeyStore
from proxyd.upstream.github import CopilotToken, GitHubClient, token_from_meta

log = logging.getLogger("proxyd.tokens")


class CopilotTokens:
    def __init__(self, github: GitHubClient, store: KeyStore, config: Config) -> None:
        self._github = github
        self._store = store
        self._config = config
        self._cache: dict[str, CopilotToken] = {}
        self._inflight: dict[str, asyncio.Future[CopilotToken]] = {}
        self._persisting: set[asyncio.Task[None]] = set()
        self.exchanges = 0
        self.cache_hits = 0

    async def get(self, api_key: ApiKey, *, stale: str | None = None) -> CopilotToken:
        """A valid Copilot token for ``api_key``.

        ``stale`` is a token the Copilot API just rejected: never return it again.
        """
        cached = self._cache.get(api_key.id)
        if cached is None and api_key.meta is not None:
            cached = token_from_meta(self._config, api_key.meta)
        if cached is not None and cached.token != stale and now_ms() < cached.refresh_at_ms:
            self._cache[api_key.id] = cached
            self.cache_hits += 1
            return cached
        return await self._exchange_once(api_key)

    def forget(self, key_id: str) -> None:
        self._cache.pop(key_id, None)

    async def _exchange_once(self, api_key: ApiKey) -> CopilotToken:
        pending = self._inflight.get(api_key.id)
        if pending is None:
            pending = asyncio.ensure_future(self._exchange(api_key))
            self._inflight[api_key.id] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(api_key.id, None))
        # shield: one waiting client disconnecting must not cancel everyone's exchange.
        return await asyncio.shield(pending)

    async def _exchange(self, api_key: ApiKey) -> CopilotToken:
        token = await self._github.exchange(api_key.key)
        self.exchanges += 1
        self._cache[api_key.id] = token
        # Persisted in the background: the requests waiting for this token need not wait for the database.
        task = asyncio.create_task(self._persist(api_key.id, token))
        self._persisting.add(task)
        task.add_done_callback(self._persisting.discard)
        return token

    async def _persist(self, key_id: str, token: CopilotToken) -> None:
        if self._cache.get(key_id) is not token:
            return  # a newer token replaced it meanwhile: never write an older one last
        try:
            await self._store.save_meta(key_id, token.meta)
        except DatabaseError as exc:
            # The token is good; only its persistence failed. Serve it anyway.
            log.warning("could not persist Copilot token meta: %s", exc.message)
        except ApiKeyNotFound:
            log.info("Copilot token meta not stored: the key was deleted meanwhile")

    async def drain(self) -> None:
        """Wait until every exchanged token is persisted (at shutdown, and in tests)."""
        while self._persisting:
            await asyncio.gather(*self._persisting)
