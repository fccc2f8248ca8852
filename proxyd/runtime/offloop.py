"""The CPU work of large request bodies, in one worker thread, so the event loop stays free.

Bodies over OFF_LOOP_BODY_BYTES are joined (``http/body``), counted, parsed and checked
(``http/json_io``), translated and scanned for their headers (``upstream/client``) and estimated
(``count_tokens``) here. One thread, not a pool: Python runs one thread at a time (the GIL), and
orjson keeps it for a whole call, so the event loop waits out whichever call a worker is in. With
one worker it waits out one call at a time, not one of each of several workers taking turns; nor
is the work done later, since more threads would not run at once anyway. The thread is started
with the server (``start``): started on demand, ``Thread.start`` would hold the loop until the new
thread first ran, that is until a busy worker let go.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

# Threads start on the first submit, not here: a process that forks its workers starts none before.
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="proxyd-offloop")


async def off_loop(work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``work(*args, **kwargs)`` in the worker thread (with the caller's context variables, as asyncio.to_thread)."""
    context = contextvars.copy_context()
    call = functools.partial(context.run, _collections_paused, functools.partial(work, *args, **kwargs))
    return await asyncio.get_running_loop().run_in_executor(_WORKER, call)


def _collections_paused(work: Callable[[], R]) -> R:
    """``work`` with the cyclic garbage collector paused.

    Parsing or translating a large body makes hundreds of thousands of objects, each allocation
    counting towards the next collection; a collection run in the middle holds the lock for as long
    as it takes to walk every object alive, the other large bodies' included (~0.1 s with four).
    Reference counting still frees what the work drops; the collector resumes when it is done.
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return work()
    finally:
        if paused:
            gc.enable()


def start() -> None:
    """Start the worker thread now, before requests arrive; it waits for one."""
    _WORKER.submit(int).result()
