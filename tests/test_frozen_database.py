"""A database that stops answering without closing anything (a server stopped with SIGSTOP, a dead link).

The tests freeze a relay in front of the session's shared servers, never the servers themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bench.fake_upstream import FakeUpstream
from proxyd.config import Config
from proxyd.db import open_database
from proxyd.db.schema import Migrator
from proxyd.keys.store import KeyStore
from proxyd.limits import READINESS_TIMEOUT
from proxyd.logs import OneLineLibraryWarnings, TextFormatter
from proxyd.runtime.lifecycle import bounded
from tests.conftest import RunningProxy, keys_for, run_proxy
from tests.daemon import Daemon
from tests.tcp_relay import TcpRelay

GITHUB_TOKEN = "gho_frozen0000000000000000000000000001"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def relay(config: Config, server_dialects_only: None) -> AsyncIterator[TcpRelay]:
    relay = TcpRelay(config.database.host, config.database.port or 0)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.close()


@pytest.fixture
async def relayed_proxy(config: Config, upstream: FakeUpstream, relay: TcpRelay) -> AsyncIterator[RunningProxy]:
    # The default PROXYD_DB_TIMEOUT (10 s): what a frozen server costs whoever waits for the driver.
    relayed = dataclasses.replace(config, database=relay.relayed_url(config.database), db_pool_max=3)
    async with run_proxy(relayed, upstream) as proxy:
        yield proxy


async def _timed_readyz(http: aiohttp.ClientSession, proxy: RunningProxy) -> tuple[int, float]:
    started = time.monotonic()
    async with http.get(f"{proxy.url}/readyz", timeout=aiohttp.ClientTimeout(total=30)) as r:
        await r.read()
        return r.status, time.monotonic() - started


async def test_readyz_answers_promptly_while_the_database_is_frozen(
    relayed_proxy: RunningProxy, relay: TcpRelay, upstream: FakeUpstream
) -> None:
    proxy = relayed_proxy
    upstream.state.add_github_token(GITHUB_TOKEN)
    await proxy.store.create("frozen", GITHUB_TOKEN)
    headers = {"Authorization": f"Bearer {GITHUB_TOKEN}"}
    async with aiohttp.ClientSession() as http:
        for _ in range(3):  # pooled connections that have run statements before
            async with http.post(f"{proxy.url}/v1/chat/completions", json=CHAT, headers=headers) as r:
                assert r.status == 200
        assert (await _timed_readyz(http, proxy))[0] == 200

        relay.freeze()
        for stuck_requests in (0, 4):
            # Then admin requests take every pooled connection and hang on the frozen server too.
            stuck = [asyncio.create_task(http.get(f"{proxy.url}/api/api-keys")) for _ in range(stuck_requests)]
            await asyncio.sleep(0.2)
            for _ in range(3):
                status, elapsed = await _timed_readyz(http, proxy)
                assert status == 503
                # It took 12 s: 2 s, then as long as PROXYD_DB_TIMEOUT for the driver's cleanup.
                assert elapsed < READINESS_TIMEOUT + 1.0, elapsed

        relay.thaw()
        for _ in range(100):
            if (await _timed_readyz(http, proxy))[0] == 200:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("readyz never recovered")
        for task in stuck:
            with contextlib.suppress(aiohttp.ClientError):
                (await task).release()


async def _daemon_through(relay: TcpRelay, config: Config, upstream: FakeUpstream, **env: str) -> Daemon:
    """``proxyd serve`` on a migrated database through ``relay``, with a default key."""
    await asyncio.to_thread(Migrator(config.database).apply)
    database = await open_database(config)
    try:
        upstream.state.add_github_token(GITHUB_TOKEN)
        store = KeyStore(database, keys_for(config))
        await store.set_default((await store.create("frozen", GITHUB_TOKEN)).id)
    finally:
        await database.close()
    daemon = Daemon(
        {
            "DATABASE_URL": relay.relayed_url(config.database).raw,
            "PROXYD_GITHUB_API_URL": upstream.url,
            "PROXYD_COPILOT_API_URL": upstream.url,
            **env,
        }
    )
    await daemon.start()
    return daemon


SHUTDOWN_TIMEOUT = 2.0


async def test_sigterm_with_a_frozen_database_exits_in_time_and_says_what_it_lost(
    config: Config, upstream: FakeUpstream, relay: TcpRelay
) -> None:
    daemon = await _daemon_through(
        relay,
        config,
        upstream,
        PROXYD_USAGE_FLUSH_INTERVAL="3600",  # only the shutdown flush would write the usage
        PROXYD_SHUTDOWN_TIMEOUT=f"{SHUTDOWN_TIMEOUT:g}",
        PROXYD_DB_TIMEOUT="30",  # what waiting for the frozen server would cost without the bound
    )
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.post(f"{daemon.url}/v1/chat/completions", json=CHAT) as r:
                assert r.status == 200
    relay.freeze()
    stopping = time.monotonic()
    assert await daemon.stop() == 0
    stopped_after = time.monotonic() - stopping
    output = daemon.output.decode()
    assert stopped_after < SHUTDOWN_TIMEOUT + 6, output  # within the timeout plus the last steps' floors
    errors = [line for line in output.splitlines() if line.startswith("ERROR")]
    assert errors == ["ERROR proxyd: shutdown: 4 usage entries could not be written"], output  # 3 log rows, 1 key
    assert "Traceback" not in output, output
    assert "proxyd stopped" in output


def test_library_warnings_keep_their_exception_but_not_its_traceback() -> None:
    """asyncpg logs a warning with a traceback for every failed reconnect while the database is away."""
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(TextFormatter())
    handler.addFilter(OneLineLibraryWarnings())
    for name, level in (("asyncpg.pool", logging.WARNING), ("aiohttp.server", logging.ERROR)):
        try:
            raise TimeoutError
        except TimeoutError:
            record = logging.LogRecord(name, level, __file__, 1, "reconnect %s failed", ("x",), sys.exc_info())
        handler.handle(record)
    assert isinstance(handler.stream, io.StringIO)
    lines = handler.stream.getvalue().splitlines()
    assert lines[0] == "WARNING asyncpg.pool: reconnect x failed (TimeoutError)"
    assert lines[1] == "ERROR aiohttp.server: reconnect x failed"  # a library's error may be a bug: traceback kept
    assert lines[2] == "  Traceback (most recent call last):"  # indented: no line of it passes for a record


async def test_driver_work_abandoned_at_shutdown_fails_quietly(caplog: pytest.LogCaptureFixture) -> None:
    """asyncpg's own release task fails after its pool was dropped: no 'never retrieved' error for that."""
    driver_error = type("ConnectionDoesNotExistError", (Exception,), {"__module__": "asyncpg.exceptions"})
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(None)
    try:
        with pytest.raises(TimeoutError):
            await bounded(asyncio.sleep(10), 0.01)
        for exception in (driver_error("connection was closed"), ValueError("a bug of ours")):
            loop.call_exception_handler({"message": "Task exception was never retrieved", "exception": exception})
    finally:
        loop.set_exception_handler(previous)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["Task exception was never retrieved"]  # ours, still loud
    assert caplog.records[-1].exc_info is not None and "a bug of ours" in str(caplog.records[-1].exc_info[1])
