"""A client key's limits, the account pool's cool-downs and the client key cache on their own, with fake clocks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from proxyd.clock import epoch_ms
from proxyd.errors import Forbidden, TooManyRequests
from proxyd.gateway.client_limits import ClientKeyLimits
from proxyd.keys.client_key_resolver import ClientKeyResolver
from proxyd.keys.client_keys import ClientKey, ClientKeySettings, ClientKeyStore, month_start, next_month_start
from proxyd.keys.records import ApiKey
from proxyd.keys.store import KeyStore
from proxyd.sharedstate.memory import MemoryState
from proxyd.upstream.pool import RATE_LIMITED, AccountCooldowns, retry_after_seconds


class Clocks:
    def __init__(self, wall: datetime) -> None:
        self.mono = 1000.0
        self.wall = epoch_ms(wall)

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += int(seconds * 1000)


def key(**settings: object) -> ClientKey:
    return ClientKey(id="k1", settings=ClientKeySettings(name="team", **settings), prefix="pxd_abcdef", created_at=0)  # type: ignore[arg-type]


def limits(clocks: Clocks) -> ClientKeyLimits:
    return ClientKeyLimits(MemoryState(clock=lambda: clocks.mono), wall_ms=lambda: clocks.wall)


async def test_rpm_is_a_sliding_minute() -> None:
    clocks = Clocks(datetime(2026, 5, 10, tzinfo=UTC))
    limiter, record = limits(clocks), key(rpm=2)
    await limiter.admit(record, "gpt-4o")
    clocks.advance(20)
    await limiter.admit(record, "gpt-4o")
    with pytest.raises(TooManyRequests) as refused:
        await limiter.admit(record, "gpt-4o")
    assert refused.value.headers["Retry-After"] == "40"
    clocks.advance(40)
    await limiter.admit(record, "gpt-4o")  # the first one left the window


async def test_a_key_without_limits_keeps_no_state() -> None:
    clocks = Clocks(datetime(2026, 5, 10, tzinfo=UTC))
    state = MemoryState(clock=lambda: clocks.mono)
    limiter = ClientKeyLimits(state, wall_ms=lambda: clocks.wall)
    for _ in range(1000):
        await limiter.admit(key(), "gpt-4o")
    assert (state.size("rpm"), state.size("month")) == (0, 0)


async def test_a_request_refused_per_minute_is_not_counted_for_the_month() -> None:
    clocks = Clocks(datetime(2026, 5, 10, tzinfo=UTC))
    limiter, record = limits(clocks), key(rpm=1, monthly_requests=2)
    await limiter.admit(record, "gpt-4o")
    with pytest.raises(TooManyRequests):
        await limiter.admit(record, "gpt-4o")  # rpm: given back to the month
    clocks.advance(60)
    await limiter.admit(record, "gpt-4o")  # the month's second
    clocks.advance(60)
    with pytest.raises(TooManyRequests, match="of this month"):
        await limiter.admit(record, "gpt-4o")


async def test_forgetting_a_deleted_key_drops_its_counts() -> None:
    clocks = Clocks(datetime(2026, 5, 10, tzinfo=UTC))
    state = MemoryState(clock=lambda: clocks.mono)
    limiter = ClientKeyLimits(state, wall_ms=lambda: clocks.wall)
    await limiter.admit(key(rpm=5), "gpt-4o")
    assert state.size("rpm") == 1
    await limiter.forget("k1")
    assert state.size("rpm") == 0


async def test_models_are_checked_before_anything_counts() -> None:
    clocks = Clocks(datetime(2026, 5, 10, tzinfo=UTC))
    limiter, record = limits(clocks), key(models=("gpt-4o",), rpm=1)
    with pytest.raises(Forbidden):
        await limiter.admit(record, "o3")
    await limiter.admit(record, "gpt-4o")
    await limiter.admit(key(models=("gpt-4o",)), None)  # GET /models names no model


async def test_the_month_starts_from_the_logged_count_and_restarts_in_utc() -> None:
    clocks = Clocks(datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC))
    limiter = limits(clocks)
    record = ClientKey(
        id="k1",
        settings=ClientKeySettings(name="team", monthly_requests=3),
        prefix="pxd_abcdef",
        created_at=0,
        requests_this_month=2,
    )
    await limiter.admit(record, None)
    with pytest.raises(TooManyRequests) as refused:
        await limiter.admit(record, None)
    assert refused.value.headers["Retry-After"] == "30"  # until 2027-01-01T00:00:00Z
    clocks.advance(31)
    await limiter.admit(record, None)  # a new month: last month's count is not carried over
    await limiter.admit(record, None)
    await limiter.admit(record, None)
    with pytest.raises(TooManyRequests):
        await limiter.admit(record, None)


def test_month_boundaries() -> None:
    moment = epoch_ms(datetime(2026, 12, 15, 8, tzinfo=UTC))
    assert month_start(moment) == epoch_ms(datetime(2026, 12, 1, tzinfo=UTC))
    assert next_month_start(moment) == epoch_ms(datetime(2027, 1, 1, tzinfo=UTC))


def account(n: int) -> ApiKey:
    return ApiKey(id=f"a{n}", name=f"account {n}", key=f"gho_{n}", created_at=n)


async def test_round_robin_skips_cooling_accounts_until_they_are_ready() -> None:
    clocks = Clocks(datetime(2026, 5, 10, tzinfo=UTC))
    pool = AccountCooldowns(MemoryState(clock=lambda: clocks.mono), wall_ms=lambda: clocks.wall)
    accounts = [account(1), account(2), account(3)]
    assert [a.id for a in await pool.order(accounts)] == ["a1", "a2", "a3"]
    assert [a.id for a in await pool.order(accounts)] == ["a2", "a3", "a1"]
    assert [a.id for a in await pool.order(accounts, first="a3")] == ["a3", "a1", "a2"]  # a conversation's own
    await pool.cool_down(accounts[1], 30, RATE_LIMITED, "test")
    assert await pool.cooling("a2") is not None and pool.failovers == {"a2": 1}
    assert all(a.id != "a2" for a in await pool.order(accounts))
    await pool.cool_down(accounts[0], 90, RATE_LIMITED, "test")
    await pool.cool_down(accounts[2], 10, RATE_LIMITED, "test")
    assert await pool.order(accounts) == [] and await pool.shortest_wait(accounts) == 10
    clocks.advance(10)
    assert [a.id for a in await pool.order(accounts)] == ["a3"]
    await pool.forget("a1")  # deleted: its cool-down goes with it
    assert "a1" in [a.id for a in await pool.order(accounts)]


def test_retry_after_reads_seconds_and_dates() -> None:
    wall = epoch_ms(datetime(2026, 5, 10, 12, tzinfo=UTC))
    assert retry_after_seconds("120", wall_ms=wall) == 120
    assert retry_after_seconds("Sun, 10 May 2026 12:01:00 GMT", wall_ms=wall) == 60
    assert retry_after_seconds("soon", wall_ms=wall) is None
    assert retry_after_seconds(None, wall_ms=wall) is None


# --------------------------------------------------------------------------- the lookup cache


class CountingClientKeys(ClientKeyStore):
    lookups = 0

    async def find_by_hash(self, digest: str) -> ClientKey | None:
        self.lookups += 1
        return await super().find_by_hash(digest)


async def test_client_keys_are_cached_and_refreshed_in_the_background(store: KeyStore, sqlite_only: None) -> None:
    await store.create("alice", "gho_cachedaccount000000000000000000000001")
    client_keys = CountingClientKeys(store.db)
    created, secret = await client_keys.create(ClientKeySettings(name="team"))
    now = [0.0]
    resolver = ClientKeyResolver(client_keys, store, ttl=5, clock=lambda: now[0])
    grant = await resolver.resolve(secret)
    assert grant is not None and grant.key.id == created.id and [a.name for a in grant.pool] == ["alice"]
    for _ in range(10):
        await resolver.resolve(secret)
    assert client_keys.lookups == 1  # steady state: no query per request
    await client_keys.delete(created.id)  # on another instance: this cache is not told
    now[0] = 6
    assert await resolver.resolve(secret) is not None  # stale, while one refresh runs
    await resolver.settled()
    assert await resolver.resolve(secret) is None and client_keys.lookups == 2
    assert await resolver.resolve("pxd_unknown") is None
    assert await resolver.resolve("pxd_unknown") is None
    assert client_keys.lookups == 3  # an unknown secret is remembered for the TTL too
