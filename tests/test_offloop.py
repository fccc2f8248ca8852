"""The worker thread large bodies are parsed and translated in (proxyd/runtime/offloop.py)."""

from __future__ import annotations

import contextvars
import gc
import threading

import pytest

from proxyd.runtime import offloop

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def where() -> tuple[str, bool, str]:
    return threading.current_thread().name, gc.isenabled(), REQUEST_ID.get()


async def test_work_runs_in_one_worker_thread_with_collections_paused() -> None:
    offloop.start()
    REQUEST_ID.set("r1")
    first = await offloop.off_loop(where)
    assert first[0].startswith("proxyd-offloop") and first[0] != threading.current_thread().name
    assert first[1:] == (False, "r1")  # collections paused; the caller's context variables seen
    assert await offloop.off_loop(where) == first  # the same thread every time
    assert gc.isenabled()  # and resumed once the work is done


async def test_a_failure_is_raised_to_the_caller_and_collections_resume() -> None:
    def fail() -> None:
        raise ValueError("bad body")

    with pytest.raises(ValueError, match="bad body"):
        await offloop.off_loop(fail)
    assert gc.isenabled()


async def test_collections_paused_by_someone_else_stay_paused() -> None:
    gc.disable()
    try:
        assert (await offloop.off_loop(where))[1] is False
        assert not gc.isenabled()
    finally:
        gc.enable()
