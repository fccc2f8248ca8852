"""How ``proxyd serve`` sets up the interpreter for serving: the garbage collector once start-up is done."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from proxyd import server
from proxyd.config import Config
from proxyd.schema import Migrator
from tests.daemon import Daemon


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """The test process's collector as it was: settle_gc changes process-wide state."""
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_settle_gc_freezes_start_up_objects_and_raises_the_young_threshold(restored_gc: None) -> None:
    _, older, oldest = gc.get_threshold()
    gc.unfreeze()
    server.settle_gc()
    assert gc.get_freeze_count() > 0
    # Only the youngest generation's threshold changes; the older ones keep Python's ratios.
    assert gc.get_threshold() == (server.GC_YOUNG_THRESHOLD, older, oldest)
    assert server.GC_YOUNG_THRESHOLD > 700


async def test_serve_settles_the_gc_once_started(config: Config, sqlite_only: None) -> None:
    await asyncio.to_thread(Migrator(config.database).apply)
    daemon = Daemon({"DATABASE_URL": config.database.raw, "LOG_LEVEL": "debug"})
    await daemon.start()
    assert await daemon.stop() == 0
    settled = [line for line in daemon.output.decode().splitlines() if "garbage collector:" in line]
    assert len(settled) == 1, daemon.output.decode()
    assert f"young-generation threshold {server.GC_YOUNG_THRESHOLD}" in settled[0]
