"""One benchmark run: phases in order, each with its own fake and proxyd, every process stopped at the end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from . import phase_client_keys, phase_http, phase_keys, phase_legacy, phase_memory, phase_routes, profile, report, wrk
from .procs import raise_nofile_limit
from .results import Results, to_json
from .services import REPO, Fake, Proxyd, Target, running_fake, running_proxyd, targets
from .settings import Settings

T = TypeVar("T")
_WORK_PREFIX = "proxyd-bench-"
PHASES = (
    "nonstreaming",
    "messages",
    "client-keys",
    "profile",
    "soak",
    "streaming",
    "messages-streaming",
    "routes",
    "held",
    "keys",
    "legacy",
)


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _memory_gb() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "proxyd"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return f"{head or 'unknown'}{' + uncommitted changes in proxyd/' if dirty else ''}"


def _meta(settings: Settings, argv: list[str]) -> dict[str, Any]:
    return {
        "command": " ".join(["python -m bench", *argv]),
        "mode": settings.mode,
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": 0.0,
        "cpus": os.cpu_count() or 0,
        "cpu_model": _cpu_model(),
        "memory_gb": _memory_gb(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "commit": _commit(),
        "loadgen": (wrk.version() or "wrk") if settings.loadgen == "wrk" else "bench.loadgen (aiohttp)",
        "log_level": settings.log_level,
        "proxyd_command": " ".join(settings.proxyd),
        "nofile_limit": raise_nofile_limit(),
        "loadavg_start": os.getloadavg()[0],
        "loadavg_end": 0.0,
    }


class _Phases:
    """Runs each phase once, timing it; an error is recorded and the run goes on with the next phase."""

    def __init__(self, results: Results, only: frozenset[str]) -> None:
        self.results = results
        self.only = only

    def wanted(self, *names: str) -> bool:
        return any(name in self.only for name in names)

    async def run(self, name: str, make: Callable[[], Awaitable[T]], *, optional: bool = False) -> T | None:
        """``optional``: a failure is a note in the report (e.g. py-spy not allowed to attach), not an error."""
        if name not in self.only:
            return None
        _log(f"{name} ...")
        started = time.monotonic()
        try:
            return await make()
        except Exception as exc:  # one broken phase must not hide the others' figures
            message = f"{type(exc).__name__}: {exc}"
            if optional:
                self.results.notes[name] = message
                _log(f"{name} skipped: {message}")
            else:
                self.results.errors[name] = message
                _log(f"{name} FAILED:\n{traceback.format_exc()}")
            return None
        finally:
            self.results.phase_seconds[name] = time.monotonic() - started


@contextlib.asynccontextmanager
async def _behind_proxyd(
    settings: Settings, work: Path, starting_fake: contextlib.AbstractAsyncContextManager[Fake], name: str
) -> AsyncIterator[tuple[Fake, Proxyd, Target, Target]]:
    """The fake, a proxyd called ``name`` in front of it, and the (direct, proxied) targets to load them with."""
    async with (
        starting_fake as fake,
        running_proxyd(work, name, fake, command=settings.proxyd, log_level=settings.log_level) as proxyd,
    ):
        direct, proxied = await targets(fake, proxyd)
        yield fake, proxyd, direct, proxied


async def _proxied_phases(settings: Settings, work: Path, phases: _Phases) -> None:
    r = phases.results
    if phases.wanted("nonstreaming", "messages", "client-keys", "profile", "soak"):
        plain = running_fake(work, "fake-plain")
        async with _behind_proxyd(settings, work, plain, "proxyd-plain") as (fake, proxyd, direct, proxied):
            r.nonstreaming = await phases.run(
                "nonstreaming", lambda: phase_http.nonstreaming(settings, work, direct, proxied, fake)
            )
            r.messages = await phases.run("messages", lambda: phase_http.messages(settings, work, direct, proxied))
            r.client_keys = await phases.run(
                "client-keys", lambda: phase_client_keys.client_key_cost(settings, work, proxyd, direct, proxied)
            )
            r.profile = await phases.run(
                "profile",
                lambda: profile.profile(work, settings.out, proxyd, proxied, seconds=settings.profile_seconds),
                optional=True,
            )
            r.soak = await phases.run("soak", lambda: phase_memory.soak(settings, work, proxyd, proxied))
    if phases.wanted("streaming", "messages-streaming", "routes"):
        streaming = running_fake(
            work, "fake-stream", stream_chunks=settings.stream_chunks, chunk_delay=settings.chunk_delay
        )
        async with _behind_proxyd(settings, work, streaming, "proxyd-stream") as (_, _, direct, proxied):
            r.streaming = await phases.run("streaming", lambda: phase_http.streaming(settings, work, direct, proxied))
            r.messages_streaming = await phases.run(
                "messages-streaming", lambda: phase_http.messages_streaming(settings, work, direct, proxied)
            )
            r.routes = await phases.run("routes", lambda: phase_routes.routes(settings, work, direct, proxied))
    if phases.wanted("held"):
        slow = running_fake(
            work, "fake-slow", stream_chunks=settings.held_chunks, chunk_delay=settings.held_chunk_delay
        )
        async with _behind_proxyd(settings, work, slow, "proxyd-held") as (_, proxyd, _, proxied):
            r.held = await phases.run("held", lambda: phase_memory.held_streams(settings, work, proxyd, proxied))


async def _run(settings: Settings, argv: list[str], only: frozenset[str], keep: bool) -> Results:
    results = Results(meta=_meta(settings, argv))
    phases = _Phases(results, only)
    work = _work_dir()
    started = time.monotonic()
    try:
        try:
            await _proxied_phases(settings, work, phases)
        except Exception as exc:  # a service that would not start
            results.errors["services"] = f"{type(exc).__name__}: {exc}"
            _log(f"services FAILED:\n{traceback.format_exc()}")
        results.key_lookup = await phases.run("keys", lambda: phase_keys.key_lookup(settings, work))
        results.queries = await phases.run("keys", lambda: phase_keys.query_count(settings, work))
        results.legacy = await phases.run(
            "legacy", lambda: phase_legacy.legacy_import(work, settings.legacy_keys, settings.proxyd)
        )
    finally:
        results.meta["duration_s"] = time.monotonic() - started
        results.meta["loadavg_end"] = os.getloadavg()[0]
        if results.errors:
            _save_logs(work, settings.out / "logs")
        if keep:
            _log(f"kept the work directory {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return results


def _work_dir() -> Path:
    """A fresh temporary directory; those of earlier runs that were killed outright are removed first."""
    for stale in Path(tempfile.gettempdir()).glob(f"{_WORK_PREFIX}*"):
        try:
            pid = int((stale / "bench.pid").read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):  # no pid file, or its process is gone
            shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=_WORK_PREFIX))
    (work / "bench.pid").write_text(str(os.getpid()))
    return work


def _save_logs(work: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for log in work.glob("*.log"):
        shutil.copy(log, target / log.name)


def write(results: Results, settings: Settings) -> tuple[Path, Path]:
    settings.out.mkdir(parents=True, exist_ok=True)
    md = settings.out / "report.md"
    js = settings.out / "results.json"
    md.write_text(report.render(results, settings.quick))
    js.write_text(json.dumps(to_json(results, settings.quick), indent=2) + "\n")
    return md, js


def main(settings: Settings, argv: list[str], only: frozenset[str], keep: bool) -> Results:
    raise_nofile_limit()

    async def guarded() -> Results:
        task = asyncio.current_task()
        assert task is not None
        # SIGTERM stops the run like Ctrl-C does: cancelled, and every child stopped on the way out.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await _run(settings, argv, only, keep)

    return asyncio.run(guarded())
