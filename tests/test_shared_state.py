"""Each shared state, in memory and in a real Redis: windows, counters, deadlines, the map, on a manual clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from proxyd.sharedstate.base import SharedState
from proxyd.sharedstate.memory import MemoryState
from proxyd.sharedstate.redis import RedisState
from tests.manual_clock import ManualClock

Factory = Callable[[ManualClock], SharedState]


@pytest.fixture(params=["memory", "redis"])
async def make_state(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    if request.param == "memory":
        yield lambda clock: MemoryState(clock=clock, capacity=100)
        return
    client = Redis.from_url(request.getfixturevalue("redis_url"))
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    # Each state a test makes is a new instance on the same Redis keys: what one sets, the next sees.
    yield lambda clock: RedisState(client, prefix=prefix, clock=clock)
    await client.aclose()


async def test_a_window_admits_up_to_its_limit_and_says_when_the_next_fits(make_state: Factory) -> None:
    clock = ManualClock()
    state = make_state(clock)
    assert await state.hit("rpm", "k", limit=2, seconds=60) is None
    clock.advance(20)
    assert await state.hit("rpm", "k", limit=2, seconds=60) is None
    assert await state.hit("rpm", "k", limit=2, seconds=60) == 40  # refused: not counted
    assert await state.full_for("rpm", "k", limit=2, seconds=60) == 40
    clock.advance(40)
    assert await state.full_for("rpm", "k", limit=2, seconds=60) is None
    assert await state.hit("rpm", "k", limit=2, seconds=60) is None
    assert await state.hit("rpm", "other", limit=2, seconds=60) is None  # keys apart


async def test_noted_events_keep_only_the_last_limit(make_state: Factory) -> None:
    clock = ManualClock()
    state = make_state(clock)
    for _ in range(50):
        await state.note("failed", "addr", limit=3, seconds=60)
        clock.advance(1)
    assert await state.full_for("failed", "addr", limit=3, seconds=60) == 57


async def test_a_counter_starts_at_its_floor_refuses_past_its_limit_and_expires(make_state: Factory) -> None:
    clock = ManualClock()
    state = make_state(clock)
    assert await state.add("month", "k", 1, floor=5, limit=7, seconds=100) == 6
    assert await state.add("month", "k", 1, floor=3, limit=7, seconds=100) == 7  # a lower floor changes nothing
    assert await state.add("month", "k", 1, limit=7, seconds=100) is None
    assert await state.add("month", "k", -1, seconds=100) == 6  # given back
    clock.advance(101)
    assert await state.add("month", "k", 1, limit=7, seconds=100) == 1  # a new period


async def test_deadlines_pass(make_state: Factory) -> None:
    clock = ManualClock()
    state = make_state(clock)
    await state.set_deadline("cooldown", "a", 30, "rate_limited")
    assert await state.deadline("cooldown", "a") == (30, "rate_limited")
    clock.advance(30)
    assert await state.deadline("cooldown", "a") is None


async def test_the_map_expires_unless_touched(make_state: Factory) -> None:
    clock = ManualClock()
    state = make_state(clock)
    await state.put("conversation", "c1", "a", seconds=10)
    clock.advance(9)
    assert await state.get("conversation", "c1", touch=10) == "a"
    clock.advance(9)
    assert await state.get("conversation", "c1") == "a"  # the touch gave it ten more seconds
    clock.advance(2)
    assert await state.get("conversation", "c1") is None


async def test_the_memory_map_stays_bounded() -> None:
    state = MemoryState(clock=ManualClock(), capacity=2)
    for name in ("c2", "c3", "c4"):
        await state.put("conversation", name, "a", seconds=10)
    assert state.size("conversation") == 2 and await state.get("conversation", "c2") is None


async def test_instances_on_one_redis_share_every_kind(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        first, second = RedisState(client, prefix="share:"), RedisState(client, prefix="share:")
        assert await first.hit("rpm", "k", limit=2, seconds=60) is None
        assert await second.hit("rpm", "k", limit=2, seconds=60) is None
        wait = await first.hit("rpm", "k", limit=2, seconds=60)
        assert wait is not None and 59 < wait <= 60
        assert await first.add("month", "k", 1, limit=2, seconds=60) == 1
        assert await second.add("month", "k", 1, limit=2, seconds=60) == 2
        assert await first.add("month", "k", 1, limit=2, seconds=60) is None
        await first.set_deadline("cooldown", "a", 30, "rate_limited")
        found = await second.deadline("cooldown", "a")
        assert found is not None and 29 < found[0] <= 30 and found[1] == "rate_limited"
        await second.put("conversation", "c", "acct kept", seconds=30)
        assert await first.get("conversation", "c") == "acct kept"
        # Windows are bounded by time in Redis: every key expires when it cannot matter any more.
        assert 0 < await client.pttl("share:w:rpm:k") <= 60_000
        assert 0 < await client.pttl("share:c:month:k") <= 60_000
    finally:
        await client.aclose()


async def test_delete_forgets_every_kind(make_state: Factory) -> None:
    clock = ManualClock()
    state = make_state(clock)
    await state.hit("ns", "k", limit=1, seconds=60)
    await state.add("ns", "k", 1, seconds=60)
    await state.set_deadline("ns", "k", 60, "x")
    await state.put("ns", "k", "v", seconds=60)
    await state.delete("ns", "k")
    assert await state.hit("ns", "k", limit=1, seconds=60) is None
    assert await state.add("ns", "k", 1, seconds=60) == 1
    assert await state.deadline("ns", "k") is None
    assert await state.get("ns", "k") is None
