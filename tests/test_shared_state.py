"""The in-memory shared state on its own: windows, counters, deadlines, the map; bounded, on a manual clock."""

from __future__ import annotations

from proxyd.sharedstate.base import SharedState
from proxyd.sharedstate.memory import MemoryState
from tests.manual_clock import ManualClock


def _state(clock: ManualClock, capacity: int = 100) -> SharedState:
    return MemoryState(clock=clock, capacity=capacity)


async def test_a_window_admits_up_to_its_limit_and_says_when_the_next_fits() -> None:
    clock = ManualClock()
    state = _state(clock)
    assert await state.hit("rpm", "k", limit=2, seconds=60) is None
    clock.advance(20)
    assert await state.hit("rpm", "k", limit=2, seconds=60) is None
    assert await state.hit("rpm", "k", limit=2, seconds=60) == 40  # refused: not counted
    assert await state.full_for("rpm", "k", limit=2, seconds=60) == 40
    clock.advance(40)
    assert await state.full_for("rpm", "k", limit=2, seconds=60) is None
    assert await state.hit("rpm", "k", limit=2, seconds=60) is None
    assert await state.hit("rpm", "other", limit=2, seconds=60) is None  # keys apart


async def test_noted_events_keep_only_the_last_limit() -> None:
    clock = ManualClock()
    state = _state(clock)
    for _ in range(50):
        await state.note("failed", "addr", limit=3, seconds=60)
        clock.advance(1)
    assert await state.full_for("failed", "addr", limit=3, seconds=60) == 57


async def test_a_counter_starts_at_its_floor_refuses_past_its_limit_and_expires() -> None:
    clock = ManualClock()
    state = _state(clock)
    assert await state.add("month", "k", 1, floor=5, limit=7, seconds=100) == 6
    assert await state.add("month", "k", 1, floor=3, limit=7, seconds=100) == 7  # a lower floor changes nothing
    assert await state.add("month", "k", 1, limit=7, seconds=100) is None
    assert await state.add("month", "k", -1, seconds=100) == 6  # given back
    clock.advance(101)
    assert await state.add("month", "k", 1, limit=7, seconds=100) == 1  # a new period


async def test_deadlines_pass() -> None:
    clock = ManualClock()
    state = _state(clock)
    await state.set_deadline("cooldown", "a", 30, "rate_limited")
    assert await state.deadline("cooldown", "a") == (30, "rate_limited")
    clock.advance(30)
    assert await state.deadline("cooldown", "a") is None


async def test_the_map_expires_unless_touched_and_stays_bounded() -> None:
    clock = ManualClock()
    state = _state(clock, capacity=2)
    await state.put("conversation", "c1", "a", seconds=10)
    clock.advance(9)
    assert await state.get("conversation", "c1", touch=10) == "a"
    clock.advance(9)
    assert await state.get("conversation", "c1") == "a"  # the touch gave it ten more seconds
    clock.advance(2)
    assert await state.get("conversation", "c1") is None
    for name in ("c2", "c3", "c4"):
        await state.put("conversation", name, "a", seconds=10)
    assert state.size("conversation") == 2 and await state.get("conversation", "c2") is None


async def test_delete_forgets_every_kind() -> None:
    clock = ManualClock()
    state = _state(clock)
    await state.hit("ns", "k", limit=1, seconds=60)
    await state.add("ns", "k", 1, seconds=60)
    await state.set_deadline("ns", "k", 60, "x")
    await state.put("ns", "k", "v", seconds=60)
    await state.delete("ns", "k")
    assert await state.hit("ns", "k", limit=1, seconds=60) is None
    assert await state.add("ns", "k", 1, seconds=60) == 1
    assert await state.deadline("ns", "k") is None
    assert await state.get("ns", "k") is None
