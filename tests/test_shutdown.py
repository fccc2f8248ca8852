"""SIGTERM: in-flight streams finish, /readyz turns 503, and no usage is lost."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time

import aiohttp

from bench.fake_upstream import FakeUpstream
from proxyd.admin.routes_stats import unfiltered
from proxyd.appkeys import LIFECYCLE
from proxyd.config import Config
from proxyd.db import open_database
from proxyd.db.schema import Migrator
from proxyd.keys.store import KeyStore
from tests.conftest import RunningProxy, keys_for
from tests.daemon import Daemon

GITHUB_TOKEN = "gho_shutdown0000000000000000000000000001"


async def _daemon_with_default_key(config: Config, upstream: FakeUpstream, **env: str) -> tuple[Daemon, str]:
    await asyncio.to_thread(Migrator(config.database).apply)
    database = await open_database(config)
    store = KeyStore(database, keys_for(config))
    upstream.state.add_github_token(GITHUB_TOKEN)
    api_key = await store.create("shutdown", GITHUB_TOKEN)
    await store.set_default(api_key.id)
    await database.close()
    daemon = Daemon(
        {
            "DATABASE_URL": config.database.raw,
            "PROXYD_GITHUB_API_URL": upstream.url,
            "PROXYD_COPILOT_API_URL": upstream.url,
            "PROXYD_USAGE_FLUSH_INTERVAL": "30",  # only the shutdown flush can write the usage
            **env,
        }
    )
    await daemon.start()
    return daemon, api_key.id


async def _usage_count(config: Config, key_id: str) -> int:
    database = await open_database(config)
    try:
        return (await KeyStore(database, keys_for(config)).get(key_id)).usage_count
    finally:
        await database.close()


STREAM = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "stream": True}
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}


async def test_sigterm_mid_stream_loses_nothing(config: Config, upstream: FakeUpstream, sqlite_only: None) -> None:
    upstream.state.stream_chunks = 20
    upstream.state.stream_chunk_delay = 0.05
    daemon, key_id = await _daemon_with_default_key(config, upstream, PROXYD_SHUTDOWN_TIMEOUT="10")
    async with aiohttp.ClientSession() as http, http.post(f"{daemon.url}/v1/chat/completions", json=STREAM) as r:
        first = await r.content.readline()
        assert first.startswith(b"data: ")
        daemon.terminate()
        rest = await r.content.read()
    assert rest.rstrip().endswith(b"data: [DONE]")  # the stream was allowed to finish
    assert await daemon.stop() == 0, daemon.output.decode()
    assert await _usage_count(config, key_id) == 1, daemon.output.decode()
    assert b"shutting down" in daemon.output


async def test_stream_cut_by_the_shutdown_timeout_is_still_counted(
    config: Config, upstream: FakeUpstream, sqlite_only: None
) -> None:
    upstream.state.stream_chunks = 200
    upstream.state.stream_chunk_delay = 0.05  # 10 s of stream, far beyond the timeout
    daemon, key_id = await _daemon_with_default_key(config, upstream, PROXYD_SHUTDOWN_TIMEOUT="1")
    async with aiohttp.ClientSession() as http, http.post(f"{daemon.url}/v1/chat/completions", json=STREAM) as r:
        await r.content.readline()
        daemon.terminate()
        stopping = time.monotonic()
        with contextlib.suppress(aiohttp.ClientPayloadError):
            await asyncio.wait_for(r.content.read(), 5)
        cut_after = time.monotonic() - stopping
    assert await daemon.stop() == 0, daemon.output.decode()
    assert cut_after < 1.6  # PROXYD_SHUTDOWN_TIMEOUT in all, not twice that
    assert await _usage_count(config, key_id) == 1, daemon.output.decode()


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


async def test_storage_dir_is_not_read_but_named(config: Config, upstream: FakeUpstream, sqlite_only: None) -> None:
    await asyncio.to_thread(Migrator(config.database).apply)
    daemon = Daemon({"DATABASE_URL": config.database.raw, "STORAGE_DIR": "/var/lib/legacy/storage"})
    await daemon.start()
    assert await daemon.stop() == 0
    warnings = [line for line in daemon.output.decode().splitlines() if "STORAGE_DIR" in line]
    assert len(warnings) == 1
    assert "PROXYD_LEGACY_DIR" in warnings[0] and "proxyd import-legacy" in warnings[0]


async def test_kill_9_loses_nothing_a_flush_interval_old(config: Config, upstream: FakeUpstream) -> None:
    """The README's promise: kill -9 loses at most the usage of the last PROXYD_USAGE_FLUSH_INTERVAL."""
    daemon, key_id = await _daemon_with_default_key(config, upstream, PROXYD_USAGE_FLUSH_INTERVAL="0.2")
    async with aiohttp.ClientSession() as http:
        for _ in range(5):
            async with http.post(f"{daemon.url}/v1/chat/completions", json=CHAT) as r:
                assert r.status == 200
    await asyncio.sleep(1.0)  # five flush intervals
    assert daemon.process is not None
    daemon.process.kill()
    assert await daemon.stop() == -signal.SIGKILL
    assert await _usage_count(config, key_id) == 5, daemon.output.decode()
    database = await open_database(config)
    try:
        row = await database.fetch_one(database.queries["count_request_log"], unfiltered())
    finally:
        await database.close()
    assert row is not None and int(row["total"]) == 5
