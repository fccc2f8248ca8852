"""The failed-credential throttle: bounded memory, no mass reset, and a 429 that says when to retry.

The throttle does not depend on the database: everything here runs on SQLite.
"""

from __future__ import annotations

import dataclasses

import aiohttp
import pytest

from proxyd.admin.throttle import FailureThrottle
from proxyd.config import Config
from proxyd.errors import TooManyRequests
from proxyd.sharedstate.memory import MemoryState
from tests.conftest import KNOWN_SECRETS, RunningProxy
from tests.manual_clock import ManualClock

ADMIN_TOKEN = "throttle-admin-token-0123456789"
KNOWN_SECRETS.add(ADMIN_TOKEN)


async def locked_for(throttle: FailureThrottle, remote: str) -> int:
    with pytest.raises(TooManyRequests) as caught:
        await throttle.check(remote)
    return int(caught.value.headers["Retry-After"])


async def test_locked_address_is_told_when_to_retry() -> None:
    clock = ManualClock()
    throttle = FailureThrottle(MemoryState(clock=clock), limit=3, window=60)
    for _ in range(3):
        await throttle.check("192.0.2.1")
        await throttle.failed("192.0.2.1")
        clock.now += 10
    # Failures at 1000, 1010, 1020; now 1030: free when the first leaves the window, at 1060.
    assert await locked_for(throttle, "192.0.2.1") == 30
    clock.now += 29.5
    assert await locked_for(throttle, "192.0.2.1") == 1  # rounded up, never 0
    clock.now += 0.5
    await throttle.check("192.0.2.1")
    # The window slides: the two later failures still count, one more locks it out again.
    await throttle.failed("192.0.2.1")
    assert await locked_for(throttle, "192.0.2.1") == 10


async def test_flood_from_other_addresses_unlocks_no_one() -> None:
    clock = ManualClock()
    throttle = FailureThrottle(MemoryState(clock=clock, capacity=10_000), limit=10, window=60)
    for _ in range(10):
        await throttle.failed("203.0.113.7")
    for n in range(25_000):
        await throttle.failed(f"2001:db8::{n:x}")
        if n % 5_000 == 0:
            clock.now += 1
    assert await locked_for(throttle, "203.0.113.7") == 55
    # Bounded: at most max_addresses below the limit (plus the locked ones), never everyone dropped.
    assert len(throttle) == 10_001
    await throttle.failed("2001:db8::1")  # evicted by the flood: counting starts over, one entry at a time
    assert len(throttle) == 10_001


async def test_locked_addresses_are_bounded_too() -> None:
    clock = ManualClock()
    throttle = FailureThrottle(MemoryState(clock=clock, capacity=100), limit=2, window=60)
    for n in range(150):
        await throttle.failed(f"10.0.{n // 256}.{n % 256}")
        await throttle.failed(f"10.0.{n // 256}.{n % 256}")
        clock.now += 0.01
    assert len(throttle) == 100
    # The earliest locked out went first, one at a time; the latest are still locked.
    await throttle.check("10.0.0.0")
    assert await locked_for(throttle, "10.0.0.149") == 60


async def test_each_address_keeps_at_most_limit_failures() -> None:
    clock = ManualClock()
    throttle = FailureThrottle(MemoryState(clock=clock), limit=3, window=60)
    for _ in range(50):  # concurrent failures can all pass check() before the first is recorded
        await throttle.failed("192.0.2.9")
        clock.now += 1
    # Only the last three count: free 60 s after the third-last, not after the first of the fifty.
    assert await locked_for(throttle, "192.0.2.9") == 57


@pytest.fixture
def proxy_config(config: Config) -> Config:
    return dataclasses.replace(config, admin_token=ADMIN_TOKEN, usage_flush_interval=0.05, shutdown_timeout=2.0)


async def test_429_carries_retry_after(proxy: RunningProxy, sqlite_only: None) -> None:
    async with aiohttp.ClientSession() as http:

        async def get(token: str) -> aiohttp.ClientResponse:
            async with http.get(f"{proxy.base_url}/api-keys", headers={"Authorization": f"Bearer {token}"}) as r:
                await r.read()
                return r

        for _ in range(10):
            assert (await get("guess")).status == 401
        locked = await get(ADMIN_TOKEN)
    assert locked.status == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 60
