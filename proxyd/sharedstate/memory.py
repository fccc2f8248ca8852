"""``SharedState`` in this process's memory, bounded.

Each namespace holds at most ``capacity`` keys of each kind. A full window
table drops its stalest key still under its limit first, so a flood of new
keys (failed logins from many addresses) never unlocks one that reached its
limit; a full map drops its least recently used key.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from proxyd.limits import SHARED_STATE_KEYS_KEPT


@dataclass(slots=True)
class _Window:
    events: deque[float]
    limit: int


class _Windows:
    """One namespace's windows: those under their limit and those at it, kept apart."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self.below: OrderedDict[str, _Window] = OrderedDict()
        self.full: OrderedDict[str, _Window] = OrderedDict()

    def take(self, key: str, now: float, seconds: float) -> _Window | None:
        window = self.below.pop(key, None) or self.full.pop(key, None)
        if window is not None:
            cutoff = now - seconds
            while window.events and window.events[0] <= cutoff:
                window.events.popleft()
        return window

    def keep(self, key: str, window: _Window) -> None:
        if not window.events:
            return
        table = self.full if len(window.events) >= window.limit else self.below
        table[key] = window
        while len(table) > self._capacity:
            table.popitem(last=False)

    def __len__(self) -> int:
        return len(self.below) + len(self.full)


class MemoryState:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic, capacity: int = SHARED_STATE_KEYS_KEPT) -> None:
        self._clock = clock
        self._capacity = capacity
        self._windows: dict[str, _Windows] = {}
        self._counters: dict[tuple[str, str], tuple[int, float]] = {}
        self._deadlines: dict[tuple[str, str], tuple[float, str]] = {}
        self._maps: dict[str, OrderedDict[str, tuple[str, float]]] = {}

    def _windows_of(self, namespace: str) -> _Windows:
        found = self._windows.get(namespace)
        if found is None:
            found = self._windows[namespace] = _Windows(self._capacity)
        return found

    async def hit(self, namespace: str, key: str, *, limit: int, seconds: float) -> float | None:
        now = self._clock()
        windows = self._windows_of(namespace)
        window = windows.take(key, now, seconds) or _Window(deque(), limit)
        window.limit = limit
        try:
            if len(window.events) >= limit:
                return max(0.0, window.events[0] + seconds - now)
            window.events.append(now)
            return None
        finally:
            windows.keep(key, window)

    async def note(self, namespace: str, key: str, *, limit: int, seconds: float) -> None:
        now = self._clock()
        windows = self._windows_of(namespace)
        window = windows.take(key, now, seconds) or _Window(deque(maxlen=limit), limit)
        window.events.append(now)
        windows.keep(key, window)

    async def full_for(self, namespace: str, key: str, *, limit: int, seconds: float) -> float | None:
        now = self._clock()
        windows = self._windows_of(namespace)
        window = windows.take(key, now, seconds)
        if window is None:
            return None
        windows.keep(key, window)
        if len(window.events) < limit:
            return None
        return max(0.0, window.events[-limit] + seconds - now)

    async def add(
        self, namespace: str, key: str, amount: int, *, floor: int = 0, limit: int | None = None, seconds: float
    ) -> int | None:
        now = self._clock()
        value, expires = self._counters.get((namespace, key), (0, 0.0))
        if expires <= now:
            value, expires = 0, now + seconds
        value = max(value, floor)
        if amount > 0 and limit is not None and value + amount > limit:
            self._counters[(namespace, key)] = (value, expires)
            return None
        value = max(0, value + amount)
        self._counters[(namespace, key)] = (value, expires)
        return value

    async def set_deadline(self, namespace: str, key: str, seconds: float, value: str) -> None:
        self._deadlines[(namespace, key)] = (self._clock() + seconds, value)

    async def deadline(self, namespace: str, key: str) -> tuple[float, str] | None:
        found = self._deadlines.get((namespace, key))
        if found is None:
            return None
        left = found[0] - self._clock()
        if left <= 0:
            del self._deadlines[(namespace, key)]
            return None
        return left, found[1]

    async def get(self, namespace: str, key: str, *, touch: float | None = None) -> str | None:
        table = self._maps.get(namespace)
        found = table.get(key) if table is not None else None
        if table is None or found is None:
            return None
        value, expires = found
        now = self._clock()
        if expires <= now:
            del table[key]
            return None
        if touch is not None:
            table[key] = (value, now + touch)
            table.move_to_end(key)
        return value

    async def put(self, namespace: str, key: str, value: str, *, seconds: float) -> None:
        table = self._maps.setdefault(namespace, OrderedDict())
        now = self._clock()
        table[key] = (value, now + seconds)
        table.move_to_end(key)
        while table:
            oldest_value = next(iter(table.values()))
            if len(table) <= self._capacity and oldest_value[1] > now:
                break
            table.popitem(last=False)

    async def delete(self, namespace: str, key: str) -> None:
        windows = self._windows.get(namespace)
        if windows is not None:
            windows.take(key, self._clock(), 0.0)
        self._counters.pop((namespace, key), None)
        self._deadlines.pop((namespace, key), None)
        table = self._maps.get(namespace)
        if table is not None:
            table.pop(key, None)

    def size(self, namespace: str) -> int:
        windows = self._windows.get(namespace)
        table = self._maps.get(namespace)
        return (len(windows) if windows is not None else 0) + (len(table) if table is not None else 0)
