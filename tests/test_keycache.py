"""The key lookup cache: hits cost no query, stale known keys are served while refreshed, unknown keys re-checked."""

from __future__ import annotations

import asyncio

import pytest

from proxyd.config import Config
from proxyd.db import open_database
from proxyd.db.schema import Migrator
from proxyd.errors import Unauthorized
from proxyd.keys.account_resolver import KeyResolver
from proxyd.keys.records import ApiKey
from proxyd.keys.store import KeyStore
from tests.conftest import keys_for
from tests.manual_clock import ManualClock

KEY = "gho_keycache000000000000000000000000001"


async def test_known_key_is_served_stale_and_refreshed_in_the_background(store: KeyStore) -> None:
    created = await store.create("k", KEY)
    clock = ManualClock()
    resolver = KeyResolver(store, ttl=0.05, clock=clock)
    assert (await resolver.resolve(KEY)).id == created.id
    assert await resolver.resolve(KEY) == created and resolver.hits == 1
    await store.delete(created.id)  # as another instance would: this resolver is not told
    clock.advance(0.1)
    assert (await resolver.resolve(KEY)).id == created.id  # stale, answered without waiting
    assert resolver.refreshes == 1
    await resolver.settled()  # the background refresh lands
    with pytest.raises(Unauthorized):
        await resolver.resolve(KEY)
    await resolver.close()


async def test_unknown_key_is_checked_again_once_expired(store: KeyStore, sqlite_only: None) -> None:
    clock = ManualClock()
    resolver = KeyResolver(store, ttl=0.05, clock=clock)
    with pytest.raises(Unauthorized):
        await resolver.resolve(KEY)
    with pytest.raises(Unauthorized):
        await resolver.resolve(KEY)  # cached "unknown": no query
    assert (resolver.misses, resolver.hits) == (1, 1)
    created = await store.create("k", KEY)
    clock.advance(0.1)
    assert (await resolver.resolve(KEY)).id == created.id


async def test_concurrent_cold_lookups_share_one_query(store: KeyStore, sqlite_only: None) -> None:
    calls: list[str | None] = []

    async def counting_fallback(presented: str | None) -> ApiKey | None:
        calls.append(presented)
        await asyncio.sleep(0.01)
        return None

    resolver = KeyResolver(store, ttl=5, fallback=counting_fallback)
    results = await asyncio.gather(*(resolver.resolve(KEY) for _ in range(20)), return_exceptions=True)
    assert all(isinstance(r, Unauthorized) for r in results)
    assert calls == [KEY]  # one lookup (database, then fallback) for twenty requests


async def test_unknown_keys_never_evict_known_ones(store: KeyStore, sqlite_only: None) -> None:
    created = await store.create("k", KEY)
    resolver = KeyResolver(store, ttl=60, max_unknown=5)
    await resolver.resolve(KEY)
    for i in range(20):
        with pytest.raises(Unauthorized):
            await resolver.resolve(f"gho_random{i}")
    await store.delete(created.id)  # not told: only a cache hit can still answer
    assert (await resolver.resolve(KEY)).id == created.id
    assert resolver.hits == 1


async def test_failed_refresh_warns_once_and_backs_off(
    config: Config, sqlite_only: None, caplog: pytest.LogCaptureFixture
) -> None:
    await asyncio.to_thread(Migrator(config.database).apply)
    database = await open_database(config)
    store = KeyStore(database, keys_for(config))
    created = await store.create("k", KEY)
    clock = ManualClock()
    resolver = KeyResolver(store, ttl=0.05, clock=clock)
    await resolver.resolve(KEY)
    clock.advance(0.1)
    await database.close()  # the database goes away
    for _ in range(30):  # within the back-off (min(ttl, 1 s)) after the first failure
        assert (await resolver.resolve(KEY)).id == created.id
        await resolver.settled()
    warnings = [r for r in caplog.records if r.name == "proxyd.keycache"]
    assert len(warnings) == 1  # one failed refresh, one line: no retry storm, no log flood
    await resolver.close()


async def test_invalidate_wins_over_a_lookup_in_flight(store: KeyStore, sqlite_only: None) -> None:
    release = asyncio.Event()
    answers = [ApiKey(id="x", name="x", key=KEY, created_at=1)]

    waiting = asyncio.Event()

    async def slow_fallback(presented: str | None) -> ApiKey | None:
        waiting.set()
        await release.wait()
        return answers.pop() if answers else None

    resolver = KeyResolver(store, ttl=5, fallback=slow_fallback)
    lookup = asyncio.ensure_future(resolver.resolve(KEY))
    await waiting.wait()  # the lookup is waiting in the fallback
    resolver.invalidate()  # e.g. an admin deleted the key meanwhile
    release.set()
    assert (await lookup).id == "x"  # the caller that asked before gets its answer ...
    with pytest.raises(Unauthorized):
        await resolver.resolve(KEY)  # ... but it was not cached
    await resolver.close()


@pytest.mark.parametrize("presented", [None, "", "_"])
async def test_default_key_aliases(store: KeyStore, sqlite_only: None, presented: str | None) -> None:
    resolver = KeyResolver(store, ttl=5)
    with pytest.raises(Unauthorized, match="No default API key"):
        await resolver.resolve(presented)
    resolver.invalidate()
    created = await store.create("k", KEY)
    await store.set_default(created.id)
    assert (await resolver.resolve(presented)).id == created.id
