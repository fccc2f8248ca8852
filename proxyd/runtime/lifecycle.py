"""Where the process is in its life (``Lifecycle``, shared through an AppKey), and the shutdown budget."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from proxyd.limits import CANCEL_GRACE

T = TypeVar("T")

log = logging.getLogger("proxyd")
# Drivers whose internal tasks may still fail after work on them was abandoned at shutdown.
_DRIVERS = ("asyncpg", "aiomysql", "pymysql")


@dataclass(slots=True)
class Lifecycle:
    """Where the process is in its life; /readyz answers 503 once shutdown began."""

    shutting_down: bool = False
    # time.monotonic() by which shutdown should be over: PROXYD_SHUTDOWN_TIMEOUT after it began.
    shutdown_deadline: float | None = None

    def begin_shutdown(self, timeout: float) -> None:
        """Start the shutdown clock, unless it already runs."""
        self.shutting_down = True
        if self.shutdown_deadline is None:
            self.shutdown_deadline = time.monotonic() + timeout

    def time_left(self, floor: float) -> float:
        """Seconds until the shutdown deadline, but at least ``floor``: a last write always gets a chance."""
        if self.shutdown_deadline is None:
            return floor
        return max(floor, self.shutdown_deadline - time.monotonic())


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def bounded(work: Coroutine[Any, Any, T], seconds: float) -> T:
    """``await work``, but raise TimeoutError after ``seconds``.

    Unlike ``asyncio.timeout``, this does not wait for the cancelled work to clean up beyond
    ``CANCEL_GRACE``: asyncpg, cancelled mid-statement, waits for the server to confirm the cancel
    before giving its connection back, and a frozen server never does.
    """
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if done:
        return task.result()
    task.cancel()
    await asyncio.wait({task}, timeout=CANCEL_GRACE)
    task.add_done_callback(_retrieve)
    loop = asyncio.get_running_loop()
    if loop.get_exception_handler() is None:
        loop.set_exception_handler(_quiet_driver_stragglers)
    raise TimeoutError


def _quiet_driver_stragglers(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """After work was abandoned, a driver's own tasks (asyncpg releasing a connection the pool
    already dropped, say) fail unobserved; that is the abandonment already logged, not a new error."""
    exception = context.get("exception")
    if exception is not None and type(exception).__module__.startswith(_DRIVERS):
        log.debug("shutdown: abandoned database work ended with %s", type(exception).__name__)
        return
    loop.default_exception_handler(context)
