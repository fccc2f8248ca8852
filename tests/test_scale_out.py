"""Several proxyd processes: instances sharing one database, and workers sharing one port."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import aiohttp

from bench.fake_upstream import FakeUpstream
from proxyd.config import Config
from proxyd.db import open_database
from proxyd.db.schema import Migrator
from proxyd.keys.store import KeyStore
from tests.conftest import keys_for, migrator
from tests.daemon import Daemon

GITHUB_TOKEN = "gho_scaleout0000000000000000000000000001"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def _env(config: Config, upstream: FakeUpstream, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": config.database.raw,
        "PROXYD_GITHUB_API_URL": upstream.url,
        "PROXYD_GITHUB_URL": upstream.url,
        "PROXYD_COPILOT_API_URL": upstream.url,
        "PROXYD_KEY_CACHE_TTL": "1",
        **extra,
    }


async def _chat(http: aiohttp.ClientSession, daemon: Daemon, n: int) -> None:
    headers = {"Authorization": f"Bearer {GITHUB_TOKEN}"}
    for _ in range(n):
        async with http.post(f"{daemon.url}/v1/chat/completions", json=CHAT, headers=headers) as r:
            assert r.status == 200, await r.text()


async def _usage(config: Config) -> int:
    database = await open_database(config)
    try:
        keys = await KeyStore(database, keys_for(config)).find_all()
    finally:
        await database.close()
    return sum(k.usage_count for k in keys)


async def test_two_instances_share_one_database(
    config: Config, upstream: FakeUpstream, server_dialects_only: None
) -> None:
    await asyncio.to_thread(Migrator(config.database).apply)
    upstream.state.add_github_token(GITHUB_TOKEN)
    first, second = Daemon(_env(config, upstream)), Daemon(_env(config, upstream))
    await asyncio.gather(first.start(), second.start())
    try:
        async with aiohttp.ClientSession() as http:
            # Before the key exists, the second instance caches "unknown key".
            async with http.get(f"{second.url}/v1/models", headers={"Authorization": f"Bearer {GITHUB_TOKEN}"}) as r:
                assert r.status == 401
            async with http.post(f"{first.url}/api/api-keys", json={"name": "shared", "key": GITHUB_TOKEN}) as r:
                assert r.status == 201, await r.text()
            created = time.monotonic()
            while True:  # the documented delay: PROXYD_KEY_CACHE_TTL (1 s here)
                async with http.get(
                    f"{second.url}/v1/models", headers={"Authorization": f"Bearer {GITHUB_TOKEN}"}
                ) as r:
                    if r.status == 200:
                        break
                # TTL (1 s) plus slack for a loaded machine
                assert time.monotonic() - created < 2.0, "the key did not reach the other instance in time"
                await asyncio.sleep(0.05)
            await asyncio.gather(_chat(http, first, 25), _chat(http, second, 17))
    finally:
        assert await first.stop() == 0, first.output.decode()
        assert await second.stop() == 0, second.output.decode()
    assert await _usage(config) == 42 + 1  # +1: the /models call that proved the key arrived


async def test_workers_share_one_port(
    config: Config, upstream: FakeUpstream, sqlite_only: None, tmp_path: Path
) -> None:
    await asyncio.to_thread(Migrator(config.database).apply)
    upstream.state.add_github_token(GITHUB_TOKEN)
    database = await open_database(config)
    await KeyStore(database, keys_for(config)).create("workers", GITHUB_TOKEN)
    await database.close()
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.setblocking(False)
    daemon = Daemon(_env(config, upstream, PROXYD_WORKERS="2", NOTIFY_SOCKET=notify_path))
    await daemon.start()
    try:
        # The supervisor says READY=1 once every worker listens.
        async with asyncio.timeout(30):
            while b"READY=1" not in await asyncio.get_running_loop().sock_recv(notify, 4096):
                pass
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            await asyncio.gather(*(_chat(http, daemon, 5) for _ in range(6)))
    finally:
        notify.close()
        assert await daemon.stop() == 0, daemon.output.decode()
    assert daemon.output.count(b"proxyd listening") == 2
    assert await _usage(config) == 30


def _requests_total(text: str, route_part: str) -> float:
    """The sum of proxyd_http_requests_total over the routes containing ``route_part``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("proxyd_http_requests_total{") and route_part in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_every_scrape_reports_the_sum_over_workers(
    config: Config, upstream: FakeUpstream, sqlite_only: None
) -> None:
    await asyncio.to_thread(migrator(config).apply)
    upstream.state.add_github_token(GITHUB_TOKEN)
    database = await open_database(config)
    await KeyStore(database, keys_for(config)).create("workers", GITHUB_TOKEN)
    await database.close()
    daemon = Daemon(_env(config, upstream, PROXYD_WORKERS="2"))
    await daemon.start()
    try:
        # A new connection each time: both workers serve requests, both answer scrapes.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            await asyncio.gather(*(_chat(http, daemon, 5) for _ in range(6)))
            scraped = []
            for _ in range(12):
                async with http.get(f"{daemon.url}/metrics") as r:
                    assert r.status == 200
                    scraped.append(await r.text())
    finally:
        assert await daemon.stop() == 0, daemon.output.decode()
    assert [_requests_total(text, "chat/completions") for text in scraped] == [30.0] * 12
    seen = [_requests_total(text, "metrics") for text in scraped]
    assert seen == sorted(seen) and seen[-1] >= 11  # never backwards: each scrape counts the ones before
    for text in scraped:
        assert "# TYPE proxyd_upstream_latency_seconds histogram" in text
        assert "proxyd_upstream_latency_seconds_count" in text
        assert "# TYPE proxyd_usage_buffered_entries gauge" in text
