"""How ``proxyd serve`` sets up the interpreter: its event loop, and the garbage collector once started."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Iterator

import pytest
import uvloop

from proxyd.config import Config
from proxyd.db.schema import Migrator
from proxyd.errors import ConfigError
from proxyd.runtime import server
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


def test_uvloop_serves_when_installed_unless_asyncio_is_asked_for() -> None:
    assert server.event_loop("auto")[0] is uvloop.new_event_loop
    assert server.event_loop("uvloop")[1].startswith("uvloop ")
    assert server.event_loop("asyncio") == (asyncio.new_event_loop, "asyncio")


def test_without_uvloop_auto_is_asyncio_and_uvloop_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # the import fails as if not installed
    assert server.event_loop("auto") == (asyncio.new_event_loop, "asyncio")
    with pytest.raises(ConfigError, match=r"^PROXYD_EVENT_LOOP: uvloop is not installed"):
        server.event_loop("uvloop")


@pytest.mark.parametrize(("choice", "loop"), [("auto", "uvloop "), ("asyncio", "asyncio")])
async def test_serve_names_its_loop_and_settles_the_gc_once_started(
    config: Config, sqlite_only: None, choice: str, loop: str
) -> None:
    await asyncio.to_thread(Migrator(config.database).apply)
    daemon = Daemon({"DATABASE_URL": config.database.raw, "LOG_LEVEL": "debug", "PROXYD_EVENT_LOOP": choice})
    await daemon.start()
    assert await daemon.stop() == 0
    output = daemon.output.decode().splitlines()
    loops = [line for line in output if "event loop:" in line]
    assert len(loops) == 1 and loops[0].startswith(f"INFO proxyd: event loop: {loop}"), output
    settled = [line for line in output if "garbage collector:" in line]
    assert len(settled) == 1, output
    assert f"young-generation threshold {server.GC_YOUNG_THRESHOLD}" in settled[0]
