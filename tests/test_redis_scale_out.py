"""Two proxyd instances on one database and one real Redis: limits, cool-downs and conversations shared,
Redis failing (the instances fail open) and coming back (sharing resumes)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
import pytest

from bench.fake_upstream import FakeUpstream
from proxyd.appkeys import SHARED_STATE
from proxyd.config import Config, RedisUrl
from proxyd.sharedstate.failopen import FailOpenState
from tests.conftest import RunningProxy, run_proxy
from tests.dbservers import RedisServer
from tests.test_client_keys import ALICE, BOB, CHAT_PATH, add_account, call, chat, new_client_key


@asynccontextmanager
async def two_instances(
    config: Config, upstream: FakeUpstream, redis_url: str, **overrides: Any
) -> AsyncIterator[tuple[RunningProxy, RunningProxy]]:
    # A generous Redis timeout: on a loaded machine the default quarter second would make an instance fail
    # open to its own memory, and exactness across instances is what these tests check (failing open has its own).
    settings: dict[str, Any] = {
        "key_cache_ttl": 0.2,
        "usage_flush_interval": 0.05,
        "shutdown_timeout": 2.0,
        "redis_timeout": 5.0,
    }
    config = dataclasses.replace(config, redis_url=RedisUrl.parse(redis_url), **{**settings, **overrides})
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(run_proxy(config, upstream))
        second = await stack.enter_async_context(run_proxy(config, upstream))
        yield first, second


TwoInstances = Callable[..., AbstractAsyncContextManager[tuple[RunningProxy, RunningProxy]]]


@pytest.fixture
def on_own_redis(config: Config, upstream: FakeUpstream, private_redis: RedisServer, sqlite_only: None) -> TwoInstances:
    """``two_instances`` sharing the test's own Redis, to stop, pause or restart (the database is SQLite: what
    these tests are about is Redis going away)."""
    return functools.partial(two_instances, config, upstream, private_redis.url)


async def seen_by(http: aiohttp.ClientSession, proxy: RunningProxy, key: str) -> None:
    """Wait until ``proxy`` knows the client key (its cache of unknown keys lasts PROXYD_KEY_CACHE_TTL).

    Each try counts against the key's rpm.
    """
    async with asyncio.timeout(5):
        while True:
            async with http.get(f"{proxy.url}/v1/models", headers={"Authorization": f"Bearer {key}"}) as r:
                if r.status == 200:
                    return
            await asyncio.sleep(0.05)


async def statuses(http: aiohttp.ClientSession, proxies: tuple[RunningProxy, ...], key: str, n: int) -> list[int]:
    """``n`` concurrent chat requests of ``key``, spread over ``proxies`` in turn."""
    answers = await asyncio.gather(*(chat(http, proxies[i % len(proxies)], key) for i in range(n)))
    return [status for status, _, _ in answers]


async def test_rpm_and_monthly_requests_are_exact_across_two_instances(
    config: Config, upstream: FakeUpstream, redis_url: str, http: aiohttp.ClientSession, server_dialects_only: None
) -> None:
    async with two_instances(config, upstream, redis_url) as (first, second):
        await add_account(first, http, "alice", ALICE)
        per_minute = await new_client_key(first, http, rpm=25)
        monthly = await new_client_key(first, http, name="monthly", monthlyRequests=10)
        # The second instance never looked these keys up: it reads them from the database at once.
        got = await statuses(http, (first, second), per_minute["key"], 60)
        assert got.count(200) == 25 and got.count(429) == 35
        got = await statuses(http, (first, second), monthly["key"], 30)
        assert got.count(200) == 10 and got.count(429) == 20
        assert len(upstream.state.requests_to(CHAT_PATH)) == 35


async def test_a_cool_down_and_a_conversation_are_seen_by_both(
    config: Config, upstream: FakeUpstream, redis_url: str, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    async with two_instances(config, upstream, redis_url) as (first, second):
        await add_account(first, http, "alice", ALICE)
        await add_account(first, http, "bob", BOB)
        created = await new_client_key(first, http)
        await seen_by(http, second, created["key"])
        upstream.state.fail_next(429, headers={"retry-after": "120"}, path=CHAT_PATH)
        assert (await chat(http, first, created["key"], user="conversation-1"))[0] == 200
        served = upstream.state.requests_to(CHAT_PATH)[-1].headers["Authorization"]
        for proxy in (first, second):
            _, accounts, _ = await call(http, "GET", f"{proxy.base_url}/api-keys")
            cooling = [(a["coolingDownUntil"], a["coolingDownReason"]) for a in accounts if a["coolingDownUntil"]]
            assert len(cooling) == 1 and cooling[0][1] == "rate_limited", accounts
        # The other instance neither tries the cooling account nor moves the conversation.
        upstream.state.clear_requests()
        for _ in range(3):
            assert (await chat(http, second, created["key"], user="conversation-1"))[0] == 200
        assert {r.headers["Authorization"] for r in upstream.state.requests_to(CHAT_PATH)} == {served}


def _serving(proxy: RunningProxy) -> str:
    state = proxy.app[SHARED_STATE]
    assert isinstance(state, FailOpenState)
    return state.serving


async def _metric(http: aiohttp.ClientSession, proxy: RunningProxy, line: str) -> bool:
    async with http.get(f"{proxy.url}/metrics") as r:
        return line in (await r.text()).splitlines()


async def test_redis_killed_the_instances_fail_open_and_share_again_when_it_is_back(
    private_redis: RedisServer,
    on_own_redis: TwoInstances,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with on_own_redis() as (first, second):
        await add_account(first, http, "alice", ALICE)
        created = await new_client_key(first, http, rpm=4)
        assert await _metric(http, first, 'proxyd_shared_state_store{store="redis"} 1')
        private_redis.stop()
        caplog.clear()
        # Within each instance's own limits: 4 a minute on each, no 500.
        got = await statuses(http, (first, second), created["key"], 12)
        assert got.count(200) == 8 and got.count(429) == 4, got
        assert _serving(first) == _serving(second) == "memory"
        assert await _metric(http, first, 'proxyd_shared_state_store{store="memory"} 1')
        warnings = [r for r in caplog.records if r.name == "proxyd.sharedstate" and r.levelno == logging.WARNING]
        assert len(warnings) == 2 and all("Redis" in r.getMessage() and not r.exc_info for r in warnings)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        async with http.get(f"{first.url}/readyz") as r:
            assert r.status == 200
        private_redis.start()  # empty: a Redis that lost its data loses windows, never usage
        another = await new_client_key(first, http, name="another", rpm=3)
        started = time.monotonic()
        while _serving(first) != "redis" or _serving(second) != "redis":
            assert time.monotonic() - started < 5, "sharing did not resume"
            await seen_by(http, first, created["key"])  # a request: the store tries Redis again
            await seen_by(http, second, created["key"])
            await asyncio.sleep(0.2)
        got = await statuses(http, (first, second), another["key"], 8)
        assert got.count(200) == 3 and got.count(429) == 5, got


async def _refused_within(http: aiohttp.ClientSession, proxy: RunningProxy, key: str, seconds: float) -> float:
    """Seconds until ``proxy`` refuses ``key`` (401), at most ``seconds``."""
    started = time.monotonic()
    while True:
        async with http.get(f"{proxy.url}/v1/models", headers={"Authorization": f"Bearer {key}"}) as r:
            if r.status == 401:
                return time.monotonic() - started
            assert r.status == 200
        assert time.monotonic() - started < seconds, f"still accepted after {seconds} s"
        await asyncio.sleep(0.02)


async def test_revocations_and_edits_reach_the_other_instance_within_a_second(
    config: Config, upstream: FakeUpstream, redis_url: str, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    # A cache TTL of a minute: only the invalidation can explain the other instance seeing the change.
    async with two_instances(config, upstream, redis_url, key_cache_ttl=60.0) as (first, second):
        alice = await add_account(first, http, "alice", ALICE)
        created = await new_client_key(first, http)
        edited = await new_client_key(first, http, name="edited")
        for key in (created["key"], edited["key"], ALICE):
            await seen_by(http, second, key)  # cached there now
        status, _, _ = await call(http, "DELETE", f"{first.base_url}/client-keys/{created['id']}")
        assert status in (200, 204)
        assert await _refused_within(http, second, created["key"], 1.0) < 1.0
        status, _, _ = await call(
            http, "PATCH", f"{first.base_url}/client-keys/{edited['id']}", json={"models": ["o3"]}
        )
        assert status == 200
        started = time.monotonic()
        while (await chat(http, second, edited["key"]))[0] != 403:  # gpt-4o is no longer allowed
            assert time.monotonic() - started < 1.0, "the edit did not reach the other instance in time"
            await asyncio.sleep(0.02)
        status, _, _ = await call(http, "DELETE", f"{first.base_url}/api-keys/{alice}")
        assert status in (200, 204)
        assert await _refused_within(http, second, ALICE, 1.0) < 1.0


async def test_a_hung_redis_costs_at_most_its_timeout_and_no_error(
    private_redis: RedisServer, on_own_redis: TwoInstances, http: aiohttp.ClientSession
) -> None:
    async with on_own_redis(redis_timeout=0.2) as (first, second):
        await add_account(first, http, "alice", ALICE)
        created = await new_client_key(first, http, rpm=100)
        assert (await chat(http, first, created["key"]))[0] == 200
        private_redis.pause()
        try:
            started = time.monotonic()
            got = await statuses(http, (first, second), created["key"], 10)
            took = time.monotonic() - started
            assert got == [200] * 10
            # Each instance waits for Redis once (about 0.2 s per call it tried), then serves from memory.
            assert took < 2.0, took
            assert _serving(first) == _serving(second) == "memory"
        finally:
            private_redis.resume()
        started = time.monotonic()
        while _serving(first) != "redis":
            assert time.monotonic() - started < 5, "sharing did not resume"
            await chat(http, first, created["key"])
            await asyncio.sleep(0.2)


async def test_starting_while_redis_is_away_serves_and_warns_once(
    config: Config,
    upstream: FakeUpstream,
    private_redis: RedisServer,
    http: aiohttp.ClientSession,
    sqlite_only: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = private_redis.url
    private_redis.stop()
    configured = dataclasses.replace(
        config, redis_url=RedisUrl.parse(url), usage_flush_interval=0.05, shutdown_timeout=2.0
    )
    async with run_proxy(configured, upstream) as proxy:
        await add_account(proxy, http, "alice", ALICE)
        created = await new_client_key(proxy, http, rpm=2)
        got = [(await chat(http, proxy, created["key"]))[0] for _ in range(3)]
        assert got == [200, 200, 429]  # its own limits meanwhile
        assert _serving(proxy) == "memory"
        warnings = [r for r in caplog.records if r.name == "proxyd.sharedstate" and r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "Redis at redis://127.0.0.1" in warnings[0].getMessage()
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
