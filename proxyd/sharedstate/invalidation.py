"""Key caches cleared on every instance at once: Redis pub/sub.

An instance that creates, changes or deletes a client key or an account
clears its own caches and publishes which kind changed on one channel; every
other instance clears the same caches when the message arrives (well within
a second), instead of serving what it cached for up to
``PROXYD_KEY_CACHE_TTL``. While Redis is away messages are lost: an instance
whose subscription comes back clears every cache, so whatever changed
meanwhile is read again; until then the TTL bounds how stale a cache is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("proxyd.sharedstate")

CHANNEL = "invalidate"
# Wait this long before subscribing again after Redis failed.
RESUBSCRIBE = 1.0


class Invalidations:
    def __init__(self, client: Redis, caches: Mapping[str, Callable[[], None]], *, prefix: str = "proxyd:") -> None:
        """``caches``: per kind of record (``accounts``, ``client-keys``), what clears its local caches."""
        self._client = client
        self._caches = caches
        self._channel = f"{prefix}{CHANNEL}"
        self._instance = os.urandom(6).hex()
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self.received = 0
        self.subscribed = asyncio.Event()

    def changed(self, kind: str) -> None:
        """Records of ``kind`` changed here: tell the other instances (this one cleared its caches already)."""
        task = asyncio.get_running_loop().create_task(self._publish(kind))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _publish(self, kind: str) -> None:
        try:
            await self._client.publish(self._channel, f"{self._instance} {kind}")
        except (RedisError, OSError, TimeoutError) as exc:
            # The shared store warns about Redis once a minute; the TTL still bounds the others' caches.
            log.debug("key cache invalidation not published: %s", type(exc).__name__)

    async def start(self, wait: float) -> None:
        """Listen from now on; wait up to ``wait`` seconds for the subscription (Redis may be away: it retries)."""
        self._task = asyncio.get_running_loop().create_task(self._listen())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self.subscribed.wait()

    async def close(self) -> None:
        for task in [self._task, *self._pending]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _listen(self) -> None:
        first = True
        while True:
            try:
                async with self._client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    if not first:  # messages were lost while Redis was away: read everything again
                        self._clear(self._caches)
                    first = False
                    self.subscribed.set()
                    while True:
                        message = await pubsub.get_message(timeout=1.0)
                        if message is not None:
                            self._received(message.get("data"))
            except (RedisError, OSError, TimeoutError):
                self.subscribed.clear()
                first = False
                await asyncio.sleep(RESUBSCRIBE)

    def _received(self, data: object) -> None:
        text = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
        sender, _, kind = text.partition(" ")
        if sender == self._instance:
            return
        self.received += 1
        clear = self._caches.get(kind)
        if clear is not None:
            clear()

    @staticmethod
    def _clear(caches: Mapping[str, Callable[[], None]]) -> None:
        for clear in caches.values():
            clear()
