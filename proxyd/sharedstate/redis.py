"""``SharedState`` in Redis: every instance that names the same Redis shares windows, counters, deadlines and the map.

Each operation is one Lua script, so the check and the change it allows
happen inside Redis at once, whatever the other instances do meanwhile.
Redis's own clock (``TIME``) is the one clock of every instance; tests pass
a clock of their own instead.

Keys, under the prefix (``proxyd:`` by default):

    w:<namespace>:<key>   a sliding window: a sorted set of events scored by their time (ms)
    c:<namespace>:<key>   a counter: a hash {v: value, e: expiry (ms)}
    d:<namespace>:<key>   a deadline: "<deadline ms> <value>"
    m:<namespace>:<key>   a map entry: "<expiry ms> <value>"

Every key also carries a Redis expiry no earlier than the state's own, so
Redis forgets what cannot matter any more; a Redis without persistence or
``maxmemory`` eviction loses windows and cool-downs, never usage (that is in
the database).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = logging.getLogger("proxyd.sharedstate")

# The time in ms: the caller's (tests' manual clocks) or Redis's own.
_NOW = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
"""

# A sliding window of events (KEYS[1], scored by time): the limit, the window's length, the expired dropped.
_WINDOW = (
    _NOW
    + """
local limit, window = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
"""
)

_HIT = (
    _WINDOW
    + """
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(math.max(0, tonumber(oldest[2]) + window - now))
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(window))
return false
"""
)

_NOTE = (
    _WINDOW
    + """
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(limit + 1))
redis.call('PEXPIRE', KEYS[1], math.ceil(window))
return false
"""
)

_FULL_FOR = (
    _WINDOW
    + """
if redis.call('ZCARD', KEYS[1]) < limit then
  return false
end
local event = redis.call('ZRANGE', KEYS[1], -limit, -limit, 'WITHSCORES')
return tostring(math.max(0, tonumber(event[2]) + window - now))
"""
)

_ADD = (
    _NOW
    + """
local amount, floor, limit, span = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local found = redis.call('HMGET', KEYS[1], 'v', 'e')
local value, expires = tonumber(found[1]), tonumber(found[2])
if not value or not expires or expires <= now then
  value, expires = 0, now + span
end
value = math.max(value, floor)
local refused = amount > 0 and limit ~= nil and value + amount > limit
if not refused then
  value = math.max(0, value + amount)
end
redis.call('HSET', KEYS[1], 'v', value, 'e', tostring(expires))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(expires - now)))
if refused then
  return false
end
return value
"""
)

_SET_DEADLINE = (
    _NOW
    + """
local span = tonumber(ARGV[2])
redis.call('SET', KEYS[1], tostring(now + span) .. ' ' .. ARGV[3], 'PX', math.max(1, math.ceil(span)))
return false
"""
)

# A deadline and a map entry are both "<until ms> <value>"; a map entry's read may extend it.
_READ = (
    _NOW
    + """
local found = redis.call('GET', KEYS[1])
if not found then
  return false
end
local space = string.find(found, ' ', 1, true)
local untill = tonumber(string.sub(found, 1, space - 1))
local value = string.sub(found, space + 1)
if untill <= now then
  redis.call('DEL', KEYS[1])
  return false
end
local touch = tonumber(ARGV[2])
if touch then
  redis.call('SET', KEYS[1], tostring(now + touch) .. ' ' .. value, 'PX', math.max(1, math.ceil(touch)))
end
return {tostring(untill - now), value}
"""
)

# How often ``size`` (metrics) counts a namespace's keys again.
SIZE_REFRESH = 15.0


class RedisState:
    def __init__(self, client: Redis, *, prefix: str = "proxyd:", clock: Callable[[], float] | None = None) -> None:
        self.client = client
        self._prefix = prefix
        self._clock = clock
        self._hit = client.register_script(_HIT)
        self._note = client.register_script(_NOTE)
        self._full_for = client.register_script(_FULL_FOR)
        self._add = client.register_script(_ADD)
        self._set_deadline = client.register_script(_SET_DEADLINE)
        self._read = client.register_script(_READ)
        # Members of windows must differ: this process's id and a sequence.
        self._events = itertools.count()
        self._instance = os.urandom(6).hex()
        self._sizes: dict[str, int] = {}
        self._counted: dict[str, float] = {}
        self._counting: dict[str, asyncio.Task[None]] = {}

    def _key(self, kind: str, namespace: str, key: str) -> str:
        return f"{self._prefix}{kind}:{namespace}:{key}"

    def _now(self) -> str:
        return "" if self._clock is None else repr(self._clock() * 1000)

    def _event(self) -> str:
        return f"{self._instance}:{next(self._events)}"

    async def hit(self, namespace: str, key: str, *, limit: int, seconds: float) -> float | None:
        found = await self._hit(
            keys=[self._key("w", namespace, key)], args=[self._now(), limit, seconds * 1000, self._event()]
        )
        return None if found is None else float(found) / 1000

    async def note(self, namespace: str, key: str, *, limit: int, seconds: float) -> None:
        await self._note(
            keys=[self._key("w", namespace, key)], args=[self._now(), limit, seconds * 1000, self._event()]
        )

    async def full_for(self, namespace: str, key: str, *, limit: int, seconds: float) -> float | None:
        found = await self._full_for(keys=[self._key("w", namespace, key)], args=[self._now(), limit, seconds * 1000])
        return None if found is None else float(found) / 1000

    async def add(
        self, namespace: str, key: str, amount: int, *, floor: int = 0, limit: int | None = None, seconds: float
    ) -> int | None:
        found = await self._add(
            keys=[self._key("c", namespace, key)],
            args=[self._now(), amount, floor, "" if limit is None else limit, seconds * 1000],
        )
        return None if found is None else int(found)

    async def set_deadline(self, namespace: str, key: str, seconds: float, value: str) -> None:
        await self._set_deadline(keys=[self._key("d", namespace, key)], args=[self._now(), seconds * 1000, value])

    async def deadline(self, namespace: str, key: str) -> tuple[float, str] | None:
        return await self._read_entry("d", namespace, key, None)

    async def get(self, namespace: str, key: str, *, touch: float | None = None) -> str | None:
        found = await self._read_entry("m", namespace, key, touch)
        return None if found is None else found[1]

    async def put(self, namespace: str, key: str, value: str, *, seconds: float) -> None:
        await self._set_deadline(keys=[self._key("m", namespace, key)], args=[self._now(), seconds * 1000, value])

    async def _read_entry(self, kind: str, namespace: str, key: str, touch: float | None) -> tuple[float, str] | None:
        found: Any = await self._read(
            keys=[self._key(kind, namespace, key)], args=[self._now(), "" if touch is None else touch * 1000]
        )
        if found is None:
            return None
        left, value = found
        return float(left) / 1000, _text(value)

    async def delete(self, namespace: str, key: str) -> None:
        await self.client.delete(*(self._key(kind, namespace, key) for kind in ("w", "c", "d", "m")))

    def size(self, namespace: str) -> int:
        """The keys of ``namespace`` last counted (windows and map entries), counted again now and then."""
        now = time.monotonic()
        if now - self._counted.get(namespace, -math.inf) >= SIZE_REFRESH and namespace not in self._counting:
            self._counted[namespace] = now
            try:
                task = asyncio.get_running_loop().create_task(self._count(namespace))
            except RuntimeError:
                return self._sizes.get(namespace, 0)
            self._counting[namespace] = task
            task.add_done_callback(lambda _: self._counting.pop(namespace, None))
        return self._sizes.get(namespace, 0)

    async def _count(self, namespace: str) -> None:
        total = 0
        try:
            for kind in ("w", "m"):
                async for _ in self.client.scan_iter(match=f"{self._prefix}{kind}:{namespace}:*", count=1000):
                    total += 1
        except Exception:  # a metric: the store's own calls report Redis failing
            return
        self._sizes[namespace] = total

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        for task in list(self._counting.values()):
            task.cancel()
        await self.client.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def open_redis_state(url: str, *, timeout: float) -> RedisState:
    """A ``RedisState`` on a new client of ``url`` (it connects on first use)."""
    client = Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # One retry on a fresh connection: the pool's connections are dropped when Redis restarts.
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )
    return RedisState(client)
