"""The benchmark's side of ``bench.loadgen``: start it as a process, read its JSON lines."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from .loadgen import Spec
from .procs import Child, clean_env, python_argv, spawn
from .services import REPO


class LoadgenError(RuntimeError):
    pass


async def _next_event(child: Child, deadline: float) -> dict[str, Any]:
    stdout = child.process.stdout
    assert stdout is not None
    line = await asyncio.wait_for(stdout.readline(), max(0.1, deadline - asyncio.get_running_loop().time()))
    if not line:
        await child.process.wait()
        raise LoadgenError(f"load generator exited ({child.process.returncode}) early:\n{child.log_tail()}")
    event: dict[str, Any] = json.loads(line)
    return event


@contextlib.asynccontextmanager
async def started(spec: Spec, workdir: Path, *, stdin: bool = False) -> AsyncIterator[Child]:
    argv = python_argv("bench.loadgen", spec.to_json())
    child = await spawn(
        "loadgen",
        argv,
        env=clean_env({}),
        log_path=workdir / "loadgen.log",
        stdout_pipe=True,
        stdin_pipe=stdin,
        cwd=REPO,
    )
    try:
        yield child
    finally:
        await child.stop(grace=5)


async def run(spec: Spec, workdir: Path, *, limit_s: float | None = None) -> dict[str, Any]:
    """Run one load generator to completion and return its result (bounded by ``limit_s``)."""
    limit = limit_s if limit_s is not None else spec.seconds + 60
    async with started(spec, workdir) as child:
        deadline = asyncio.get_running_loop().time() + limit
        try:
            while True:
                event = await _next_event(child, deadline)
                if event.get("event") == "result":
                    return event
        except TimeoutError:
            raise LoadgenError(f"load generator ({spec.mode}) did not finish within {limit:.0f}s") from None


class Holding:
    """A running ``hold`` load generator: wait until its streams are open, then release them."""

    def __init__(self, child: Child, spec: Spec) -> None:
        self.child = child
        self.spec = spec

    async def wait_open(self) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + self.spec.seconds + 30
        while True:
            event = await _next_event(self.child, deadline)
            if event.get("event") == "open":
                return event

    async def release(self) -> dict[str, Any]:
        stdin = self.child.process.stdin
        assert stdin is not None
        stdin.close()
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            event = await _next_event(self.child, deadline)
            if event.get("event") == "result":
                return event


@contextlib.asynccontextmanager
async def holding(spec: Spec, workdir: Path) -> AsyncIterator[Holding]:
    async with started(spec, workdir, stdin=True) as child:
        yield Holding(child, spec)
