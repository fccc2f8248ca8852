"""Admin changes to API keys, each with what it owes GitHub and this process's caches.

The key resolver and the Copilot token cache hold keys in memory; every change
made here clears what it made stale, so this process sees it on the next
request (other instances see it when their cache entries expire).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from proxyd.errors import ConflictError, DuplicateKeyError, UpstreamError
from proxyd.keys.account_resolver import KeyResolver
from proxyd.keys.records import ApiKey, CopilotMeta
from proxyd.keys.store import KeyStore
from proxyd.upstream.github import GitHubClient
from proxyd.upstream.tokens import CopilotTokens

log = logging.getLogger("proxyd.admin")


class KeyAdmin:
    def __init__(
        self,
        store: KeyStore,
        github: GitHubClient,
        resolver: KeyResolver,
        tokens: CopilotTokens,
        on_change: Callable[[], None] | None = None,
        on_delete: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        # What the upstream client keeps per account (cool-down, model list, conversations).
        self._on_delete = on_delete
        self._github = github
        self._resolver = _Invalidating(resolver, on_change)
        self._tokens = tokens

    async def fetch_meta(self, key: str) -> CopilotMeta | None:
        """The key's Copilot meta, or None when GitHub refuses or cannot be reached.

        A key is worth storing even then: the subscription may start later, and
        the proxy exchanges the key again on first use.
        """
        try:
            return (await self._github.exchange(key)).meta
        except UpstreamError as exc:
            log.info("Copilot meta not fetched for a key: %s", exc.message)
            return None

    async def create(self, name: str, key: str) -> ApiKey:
        created = await self._store.create(name, key, meta=await self.fetch_meta(key))
        self._resolver.invalidate()
        return created

    async def create_or_find(self, name: str, key: str) -> ApiKey:
        """``create``, or the stored record when the key is already there (GitHub may hand out a token again)."""
        try:
            return await self.create(name, key)
        except DuplicateKeyError:
            existing = await self._store.find_by_key(key)
            if existing is None:  # deleted again in between
                raise
            return existing

    async def rename(self, key_id: str, name: str) -> ApiKey:
        updated = await self._store.update(key_id, name=name)
        self._resolver.invalidate()
        return updated

    async def delete(self, key_id: str) -> None:
        await self._store.delete(key_id)
        self._tokens.forget(key_id)
        self._resolver.invalidate()
        if self._on_delete is not None:
            await self._on_delete(key_id)

    async def set_default(self, key_id: str) -> ApiKey:
        updated = await self._store.set_default(key_id)
        self._resolver.invalidate()
        return updated

    async def refresh_meta(self, key_id: str) -> ApiKey:
        """Fetch the key's meta again; a GitHub failure is a 502 and leaves the stored meta as it was."""
        api_key = usable(await self._store.get(key_id))
        try:
            token = await self._github.exchange(api_key.key)
        except UpstreamError as exc:
            # Always 502 (a timeout too): the admin asked GitHub and GitHub did not deliver.
            raise UpstreamError(exc.message) from None
        updated = await self._store.upsert_meta(key_id, token.meta)
        self._tokens.forget(key_id)
        self._resolver.invalidate()
        return updated


def usable(api_key: ApiKey) -> ApiKey:
    """``api_key``, unless its token cannot be decrypted: nothing can be asked of GitHub for it then."""
    if api_key.unusable:
        raise ConflictError(
            "This API key's token cannot be decrypted with the encryption key in use; "
            "delete it, or start proxyd with the key it was encrypted with"
        )
    return api_key


class _Invalidating:
    """The resolver, and whatever else caches accounts (client keys' pools), cleared together."""

    def __init__(self, resolver: KeyResolver, also: Callable[[], None] | None) -> None:
        self._resolver = resolver
        self._also = also

    def invalidate(self) -> None:
        self._resolver.invalidate()
        if self._also is not None:
            self._also()
