"""The database goes away while proxyd runs: cached keys keep being served, usage waits and is written later."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bench.fake_upstream import FakeUpstream
from proxyd.appkeys import STORE, USAGE
from proxyd.config import Config
from tests.conftest import RunningProxy, run_proxy
from tests.proxy_clients import add_key
from tests.tcp_relay import TcpRelay

GITHUB_TOKEN = "gho_outage00000000000000000000000000001"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def relayed(
    config: Config, upstream: FakeUpstream, server_dialects_only: None
) -> AsyncIterator[tuple[RunningProxy, TcpRelay]]:
    relay = TcpRelay(config.database.host, config.database.port or 0)
    await relay.start()
    url = relay.relayed_url(config.database)
    relayed_config = dataclasses.replace(
        config, database=url, key_cache_ttl=0.1, usage_flush_interval=0.1, db_timeout=2.0, db_pool_min=1
    )
    async with run_proxy(relayed_config, upstream) as proxy:
        yield proxy, relay
    await relay.cut()


async def test_outage_serves_cached_keys_and_writes_usage_later(
    relayed: tuple[RunningProxy, TcpRelay], upstream: FakeUpstream
) -> None:
    proxy, relay = relayed
    api_key = await add_key(proxy, GITHUB_TOKEN, "outage")
    headers = {"Authorization": f"Bearer {GITHUB_TOKEN}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{proxy.url}/v1/chat/completions", json=CHAT, headers=headers) as r:
            assert r.status == 200
        assert await proxy.app[USAGE].flush()  # the first request's usage is written
        await asyncio.sleep(0.15)  # past the key cache's TTL (0.1 s): the outage meets a stale entry

        await relay.cut()
        for _ in range(3):
            async with http.post(f"{proxy.url}/v1/chat/completions", json=CHAT, headers=headers) as r:
                assert r.status == 200
        async with http.get(f"{proxy.url}/readyz") as r:
            assert r.status == 503
            assert (await r.json())["reason"] == "database unavailable"
        async with http.get(f"{proxy.url}/api/api-keys") as r:  # admin routes: 503, no database details
            assert r.status == 503
            assert await r.json() == {
                "statusCode": 503,
                "message": "Database unavailable",
                "error": "Service Unavailable",
            }
        assert not await proxy.app[USAGE].flush()
        assert proxy.app[USAGE].buffered > 0

        await relay.restore()
        for _ in range(50):
            if await proxy.app[USAGE].flush():
                break
            await asyncio.sleep(0.2)
        async with http.get(f"{proxy.url}/readyz") as r:
            assert r.status == 200
    assert (await proxy.app[STORE].get(api_key.id)).usage_count == 4
