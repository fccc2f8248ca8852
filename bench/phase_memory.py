"""proxyd's resident memory: with 2,000 streams open, and across a long run of requests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from . import loadclient
from .phase_http import warm_up
from .procs import open_fds, rss_kb
from .services import STREAM_BODY, Proxyd, Target
from .settings import Settings
from .stats import Summary

MB = 1024.0  # KiB per MiB


@dataclass
class RssSampler:
    """VmRSS of one process every ``interval`` seconds while the block runs."""

    pid: int
    interval: float = 0.25
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MiB)

    @property
    def peak_mb(self) -> float:
        return max((mb for _, mb in self.samples), default=0.0)

    def thinned(self, points: int = 40) -> list[tuple[float, float]]:
        step = max(1, len(self.samples) // points)
        return [(round(t, 2), round(mb, 1)) for t, mb in self.samples[::step]]

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[RssSampler]:
        started = time.monotonic()

        async def sample() -> None:
            while True:
                self.samples.append((time.monotonic() - started, rss_kb(self.pid) / MB))
                await asyncio.sleep(self.interval)

        task = asyncio.create_task(sample())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def settled_rss_mb(pid: int, seconds: float = 1.5) -> float:
    """RSS once proxyd has been idle for ``seconds`` (its usage buffer flushes every second)."""
    await asyncio.sleep(seconds)
    return rss_kb(pid) / MB


@dataclass(frozen=True, slots=True)
class HeldStreams:
    streams: int
    opened: int
    failed: int
    ramp_s: float
    rss_idle_mb: float
    rss_open_mb: float
    rss_after_mb: float
    fds_open: int
    open_latency: Summary

    @property
    def per_stream_kb(self) -> float:
        return (self.rss_open_mb - self.rss_idle_mb) * MB / max(1, self.opened)


async def held_streams(settings: Settings, workdir: Path, proxyd: Proxyd, proxied: Target) -> HeldStreams:
    # A few streams first, so the idle figure already includes imports and first-request allocations.
    warm = proxied.load("hold", STREAM_BODY, requests=20, concurrency=20, seconds=30)
    async with loadclient.holding(warm, workdir) as held:
        await held.wait_open()
        await held.release()
    idle = await settled_rss_mb(proxyd.pid)
    spec = proxied.load("hold", STREAM_BODY, requests=settings.held_streams, concurrency=100, seconds=90)
    async with loadclient.holding(spec, workdir) as held:
        opened = await held.wait_open()
        await asyncio.sleep(1.0)  # let every stream settle into its steady state
        sampler = RssSampler(proxyd.pid, interval=0.2)
        async with sampler.running():
            await asyncio.sleep(2.0)
        fds = open_fds(proxyd.pid)
        result = await held.release()
    after = await settled_rss_mb(proxyd.pid)
    return HeldStreams(
        streams=settings.held_streams,
        opened=int(opened["open"]),
        failed=int(opened["failed"]),
        ramp_s=float(opened["ramp_s"]),
        rss_idle_mb=idle,
        rss_open_mb=sampler.peak_mb,
        rss_after_mb=after,
        fds_open=fds,
        open_latency=Summary.from_json(result["open_latency"]),
    )


@dataclass(frozen=True, slots=True)
class Soak:
    requests: int
    errors: int
    concurrency: int
    elapsed_s: float
    rps: float
    latency: Summary
    rss_before_mb: float
    rss_after_mb: float
    rss_peak_mb: float
    rss_samples: list[tuple[float, float]]

    @property
    def growth_pct(self) -> float:
        return (self.rss_after_mb - self.rss_before_mb) / self.rss_before_mb * 100


async def soak(settings: Settings, workdir: Path, proxyd: Proxyd, proxied: Target) -> Soak:
    # Warm at the soak's own concurrency first: "before" then includes every buffer that load needs.
    await warm_up(workdir, proxied, requests=min(2000, settings.soak_requests), concurrency=settings.soak_concurrency)
    before = await settled_rss_mb(proxyd.pid)
    spec = proxied.closed_loop(settings.soak_concurrency, seconds=240, requests=settings.soak_requests)
    sampler = RssSampler(proxyd.pid, interval=0.5)
    async with sampler.running():
        result = await loadclient.run(spec, workdir, limit_s=300)
    after = await settled_rss_mb(proxyd.pid)
    return Soak(
        requests=int(result["requests"]),
        errors=int(result["errors"]),
        concurrency=settings.soak_concurrency,
        elapsed_s=float(result["elapsed_s"]),
        rps=float(result["rps"]),
        latency=Summary.from_json(result["latency"]),
        rss_before_mb=before,
        rss_after_mb=after,
        rss_peak_mb=max(sampler.peak_mb, after),
        rss_samples=sampler.thinned(),
    )
