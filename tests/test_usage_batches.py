"""Usage stays exact when a COMMIT, or its acknowledgement, is lost: every flush is idempotent."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bench.delegating_database import DelegatingDatabase
from bench.fake_upstream import FakeUpstream
from proxyd.admin.routes_stats import unfiltered
from proxyd.appkeys import DATABASE, TOKENS, USAGE
from proxyd.config import Config
from proxyd.db import Database, Executor
from proxyd.errors import DatabaseError
from proxyd.gateway.recorder import RequestLogEntry, UsageRecorder
from proxyd.keys.records import ApiKey
from proxyd.keys.store import KeyStore
from proxyd.keys.usage import UsageIncrement
from tests.conftest import RunningProxy, run_proxy
from tests.proxy_clients import add_key
from tests.tcp_relay import CommitLosingRelay, LostPart

GITHUB_TOKEN = "gho_lostcommit000000000000000000000001"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def _entry(key_id: str, t: int) -> RequestLogEntry:
    return RequestLogEntry(
        time=t, api_key_id=key_id, endpoint="/chat/completions", model="m", status=200, duration_ms=1
    )


async def _request_log_rows(database: Database) -> int:
    row = await database.fetch_one(database.queries["count_request_log"], unfiltered())
    assert row is not None
    return int(row["total"])


# --- The store: a batch id applies once ------------------------------------------------------


async def test_a_batch_applied_twice_counts_once(database: Database, store: KeyStore) -> None:
    key = await store.create("batch", "gho_batch_twice")
    increments = [UsageIncrement(key.id, 3, 1_000)]
    for expected in (True, False):  # the second time is the retry of a batch whose COMMIT was acknowledged late
        async with database.transaction() as tx:
            assert await store.record_usage_batch(tx, "batch-1", increments) is expected
    assert (await store.get(key.id)).usage_count == 3
    async with database.transaction() as tx:
        assert await store.record_usage_batch(tx, "batch-2", increments)
    assert (await store.get(key.id)).usage_count == 6


async def test_a_batch_rolled_back_applies_on_retry(database: Database, store: KeyStore) -> None:
    key = await store.create("batch", "gho_batch_rolled_back")
    with contextlib.suppress(RuntimeError):
        async with database.transaction() as tx:
            assert await store.record_usage_batch(tx, "batch-1", [UsageIncrement(key.id, 2, 1_000)])
            raise RuntimeError("the transaction never commits")
    async with database.transaction() as tx:
        assert await store.record_usage_batch(tx, "batch-1", [UsageIncrement(key.id, 2, 1_000)])
    assert (await store.get(key.id)).usage_count == 2


async def test_batch_ids_older_than_a_day_are_forgotten(database: Database, store: KeyStore) -> None:
    recorder = UsageRecorder(database, store)
    for batch_id, applied_at in (("old", 1_000), ("new", 5_000)):
        async with database.transaction() as tx:
            await store.record_usage_batch(tx, batch_id, [], applied_at=applied_at)
    assert await recorder.forget_batches(2_000, batch=1) == 1
    async with database.transaction() as tx:
        assert await store.record_usage_batch(tx, "old", [])  # forgotten: it would apply again
        assert not await store.record_usage_batch(tx, "new", [])


# --- The recorder: a write whose acknowledgement is lost --------------------------------------


class AcknowledgementLosingDatabase(DelegatingDatabase):
    """A real database whose next transaction commits, then fails as a connection lost at that moment would."""

    def __init__(self, inner: Database) -> None:
        super().__init__(inner)
        self.lose_next = False

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with super().transaction() as tx:
            yield tx
        if self.lose_next:
            self.lose_next = False
            raise DatabaseError("connection lost while committing")


async def _losing_acknowledgements(
    database: Database, store: KeyStore, token: str
) -> tuple[ApiKey, AcknowledgementLosingDatabase, UsageRecorder]:
    """A key, and a recorder whose database can lose the next COMMIT's acknowledgement."""
    key = await store.create("ack", token)
    losing = AcknowledgementLosingDatabase(database)
    return key, losing, UsageRecorder(losing, store)


async def test_a_flush_whose_acknowledgement_is_lost_is_not_counted_twice(database: Database, store: KeyStore) -> None:
    key, losing, recorder = await _losing_acknowledgements(database, store, "gho_ack_lost")
    for t in range(3):
        recorder.record(_entry(key.id, t), count_usage=True)
    losing.lose_next = True
    assert not await recorder.flush()  # it did commit; proxyd cannot know
    assert recorder.buffered == 4  # kept, in doubt
    for t in range(3, 5):
        recorder.record(_entry(key.id, t), count_usage=True)
    assert await recorder.flush()  # the batch in doubt is found applied; only the new entries count
    assert recorder.buffered == 0
    assert (await store.get(key.id)).usage_count == 5
    assert await _request_log_rows(database) == 5


async def test_retrying_a_batch_in_doubt_can_be_in_doubt_again(database: Database, store: KeyStore) -> None:
    key, losing, recorder = await _losing_acknowledgements(database, store, "gho_ack_lost_twice")
    for round_ in range(3):
        recorder.record(_entry(key.id, round_), count_usage=True)
        losing.lose_next = True
        assert not await recorder.flush()
    assert await recorder.flush()
    assert recorder.buffered == 0
    assert (await store.get(key.id)).usage_count == 3
    assert await _request_log_rows(database) == 3


# --- Through a relay that loses a real COMMIT or its acknowledgement ---------------------------


@pytest.fixture
async def relayed(
    config: Config, upstream: FakeUpstream, server_dialects_only: None, dialect: str
) -> AsyncIterator[tuple[RunningProxy, CommitLosingRelay]]:
    relay = CommitLosingRelay(
        config.database.host, config.database.port or 0, "mysql" if dialect == "mysql" else "postgresql"
    )
    await relay.start()
    url = relay.relayed_url(config.database)
    # Flushes only when the test asks; the key stays cached for the whole test.
    relayed_config = dataclasses.replace(config, database=url, usage_flush_interval=3600, key_cache_ttl=600)
    try:
        async with run_proxy(relayed_config, upstream) as proxy:
            yield proxy, relay
    finally:
        await relay.close()


async def _chat(http: aiohttp.ClientSession, proxy: RunningProxy, count: int) -> None:
    for _ in range(count):
        async with http.post(f"{proxy.url}/v1/chat/completions", json=CHAT) as r:
            assert r.status == 200


async def _flushed(proxy: RunningProxy) -> None:
    for _ in range(50):  # the first attempt may meet a pooled connection the relay cut
        if await proxy.app[USAGE].flush():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("usage was never written")


@pytest.mark.parametrize("lost", ["reply", "request"])
async def test_a_lost_commit_counts_every_request_once(
    relayed: tuple[RunningProxy, CommitLosingRelay], upstream: FakeUpstream, lost: LostPart
) -> None:
    proxy, relay = relayed
    key = await add_key(proxy, GITHUB_TOKEN, "relayed", default=True)
    async with aiohttp.ClientSession() as http:
        await _chat(http, proxy, 3)
        await proxy.app[TOKENS].drain()  # the Copilot token is stored: from here on only flushes commit
        await _flushed(proxy)

        relay.lose_next_commit(lost)
        await _chat(http, proxy, 4)
        assert not await proxy.app[USAGE].flush()
        assert relay.lost == [lost]

        await _chat(http, proxy, 5)
        await _flushed(proxy)
    assert (await proxy.store.get(key.id)).usage_count == 12
    assert await _request_log_rows(proxy.app[DATABASE]) == 12


async def test_usage_stays_exact_under_load_when_an_acknowledgement_is_lost(
    relayed: tuple[RunningProxy, CommitLosingRelay], upstream: FakeUpstream
) -> None:
    proxy, relay = relayed
    key = await add_key(proxy, GITHUB_TOKEN, "relayed", default=True)
    recorder = proxy.app[USAGE]
    stop = asyncio.Event()
    flushing = asyncio.create_task(recorder.run(0.02, stop))
    succeeded = 0

    async def client(http: aiohttp.ClientSession, count: int) -> None:
        nonlocal succeeded
        for _ in range(count):
            async with http.post(f"{proxy.url}/v1/chat/completions", json=CHAT) as r:
                succeeded += r.status == 200

    try:
        async with aiohttp.ClientSession() as http:
            await client(http, 1)
            await proxy.app[TOKENS].drain()
            for round_ in range(3):  # a lost acknowledgement while requests keep arriving, three times
                relay.lose_next_commit("reply")
                await asyncio.gather(*(client(http, 25) for _ in range(8)))
                assert len(relay.lost) == round_ + 1
    finally:
        stop.set()
        await flushing
    await _flushed(proxy)
    assert succeeded == 1 + 3 * 8 * 25
    assert (await proxy.store.get(key.id)).usage_count == succeeded
    assert await _request_log_rows(proxy.app[DATABASE]) == succeeded
