"""A shared store that fails open: when Redis errs or is slow, this instance's memory serves instead.

Requests are never refused, delayed past ``timeout`` or answered with a 500
because Redis is unreachable, slow or restarting: every operation that Redis
does not answer within ``timeout`` is done in memory instead, and so are all
operations for the next ``retry`` seconds. Limits then hold per instance
(each instance admits a client key's rpm on its own), which is what one
instance without Redis does anyway. The first operation after ``retry``
tries Redis again; when it answers, sharing resumes by itself. One warning
a minute names Redis while it fails; ``serving`` says which store is in use
(the ``proxyd_shared_state_store`` gauge).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

from proxyd.sharedstate.base import SharedState
from proxyd.sharedstate.memory import MemoryState
from proxyd.sharedstate.redis import RedisState

log = logging.getLogger("proxyd.sharedstate")

T = TypeVar("T")

WARN_EVERY = 60.0


class FailOpenState:
    def __init__(
        self,
        local: MemoryState,
        *,
        name: str = "Redis",
        timeout: float = 0.25,
        retry: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        scrub: Callable[[str], str] = lambda text: text,
    ) -> None:
        self.local = local
        self.shared: RedisState | None = None
        self._name = name
        self._timeout = timeout
        self._retry = retry
        self._clock = clock
        self._scrub = scrub  # masks the password in a driver's message
        self._down_until = 0.0
        self._down = False
        self._warned = -WARN_EVERY
        self.failures = 0

    @property
    def serving(self) -> str:
        """``redis`` while Redis serves, ``memory`` while this instance's memory does."""
        return "redis" if self.shared is not None and not self._down else "memory"

    def attach(self, shared: RedisState | None) -> None:
        self.shared = shared

    async def _either(self, shared: Callable[[SharedState], Awaitable[T]]) -> T:
        store = self.shared
        if store is None or (self._down and self._clock() < self._down_until):
            return await shared(self.local)
        try:
            async with asyncio.timeout(self._timeout):
                found = await shared(store)
        except (RedisError, OSError, TimeoutError) as exc:
            self.failed(exc)
            return await shared(self.local)
        if self._down:
            self._down = False
            log.warning("%s answers again: limits are shared by every instance again", self._name)
        return found

    def failed(self, exc: BaseException) -> None:
        """Redis failed: serve from memory for ``retry`` seconds; warn once a minute."""
        self.failures += 1
        now = self._clock()
        self._down, self._down_until = True, now + self._retry
        if now - self._warned >= WARN_EVERY:
            self._warned = now
            reason = self._scrub(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            log.warning(
                "%s does not answer (%s): limits are kept in this instance's memory until it does", self._name, reason
            )

    async def hit(self, namespace: str, key: str, *, limit: int, seconds: float) -> float | None:
        return await self._either(lambda s: s.hit(namespace, key, limit=limit, seconds=seconds))

    async def note(self, namespace: str, key: str, *, limit: int, seconds: float) -> None:
        await self._either(lambda s: s.note(namespace, key, limit=limit, seconds=seconds))

    async def full_for(self, namespace: str, key: str, *, limit: int, seconds: float) -> float | None:
        return await self._either(lambda s: s.full_for(namespace, key, limit=limit, seconds=seconds))

    async def add(
        self, namespace: str, key: str, amount: int, *, floor: int = 0, limit: int | None = None, seconds: float
    ) -> int | None:
        return await self._either(lambda s: s.add(namespace, key, amount, floor=floor, limit=limit, seconds=seconds))

    async def set_deadline(self, namespace: str, key: str, seconds: float, value: str) -> None:
        await self._either(lambda s: s.set_deadline(namespace, key, seconds, value))

    async def deadline(self, namespace: str, key: str) -> tuple[float, str] | None:
        return await self._either(lambda s: s.deadline(namespace, key))

    async def get(self, namespace: str, key: str, *, touch: float | None = None) -> str | None:
        return await self._either(lambda s: s.get(namespace, key, touch=touch))

    async def put(self, namespace: str, key: str, value: str, *, seconds: float) -> None:
        await self._either(lambda s: s.put(namespace, key, value, seconds=seconds))

    async def delete(self, namespace: str, key: str) -> None:
        await self.local.delete(namespace, key)
        if self.shared is not None:
            await self._either(lambda s: s.delete(namespace, key))

    def size(self, namespace: str) -> int:
        store = self.shared if self.serving == "redis" else None
        return (store or self.local).size(namespace)
