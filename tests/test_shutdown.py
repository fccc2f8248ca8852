"""SIGTERM: in-flight streams finish, /readyz turns 503, and no usage is lost."""

from __future__ import annotations

import asyncio

import aiohttp

from proxyd.appkeys import LIFECYCLE
from proxyd.config import Config
from proxyd.db import open_database
from proxyd.schema import Migrator
from proxyd.store import KeyStore
from tests.conftest import RunningProxy
from tests.daemon import Daemon
from tests.fake_upstream import FakeUpstream

GITHUB_TOKEN = "gho_shutdown0000000000000000000000000001"


async def test_sigterm_mid_stream_loses_nothing(config: Config, upstream: FakeUpstream, sqlite_only: None) -> None:
    await asyncio.to_thread(Migrator(config.database).apply)
    database = await open_database(config)
    store = KeyStore(database)
    upstream.state.add_github_token(GITHUB_TOKEN)
    api_key = await store.create("shutdown", GITHUB_TOKEN)
    await store.set_default(api_key.id)
    await database.close()

    upstream.state.stream_chunks = 20
    upstream.state.stream_chunk_delay = 0.05
    daemon = Daemon(
        {
            "DATABASE_URL": config.database.raw,
            "PROXYD_GITHUB_API_URL": upstream.url,
            "PROXYD_COPILOT_API_URL": upstream.url,
            "PROXYD_SHUTDOWN_TIMEOUT": "10",
            "PROXYD_USAGE_FLUSH_INTERVAL": "30",  # only the shutdown flush can write the usage
        }
    )
    await daemon.start()
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "stream": True}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{daemon.url}/v1/chat/completions", json=body) as r:
            first = await r.content.readline()
            assert first.startswith(b"data: ")
            daemon.terminate()
            rest = await r.content.read()
        assert rest.rstrip().endswith(b"data: [DONE]")
        await asyncio.sleep(0.1)
    assert await daemon.stop() == 0, daemon.output.decode()

    database = await open_database(config)
    try:
        stored = await KeyStore(database).get(api_key.id)
    finally:
        await database.close()
    assert stored.usage_count == 1, daemon.output.decode()
    assert b"shutting down" in daemon.output


async def test_readyz_is_503_while_draining(proxy: RunningProxy, sqlite_only: None) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{proxy.url}/readyz") as r:
            assert r.status == 200
        proxy.app[LIFECYCLE].shutting_down = True
        async with http.get(f"{proxy.url}/readyz") as r:
            assert r.status == 503
            assert (await r.json())["reason"] == "shutting down"
        async with http.get(f"{proxy.url}/healthz") as r:
            assert r.status == 200
