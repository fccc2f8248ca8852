"""What each run measures and for how long: the full run, ``--quick`` and ``--smoke``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    out: Path
    quick: bool  # a short run: targets judged on fewer requests (a smoke run is quick too)
    loadgen: str  # "wrk" or "python": who drives the closed-loop throughput runs
    log_level: str  # proxyd's LOG_LEVEL (info, the default, logs one access line per request)
    proxyd: tuple[str, ...]  # the proxyd command: the venv's, or another build to compare
    profile_seconds: float = 6.0
    concurrencies: tuple[int, ...] = (1, 4, 64)  # 64 against 4: does proxyd keep up as requests pile up?
    throughput_seconds: float = 5.0
    moderate_rate: float = 200.0  # requests/s for the added-latency target: "moderate load"
    moderate_seconds: float = 10.0
    stream_chunks: int = 20
    chunk_delay: float = 0.02
    streams: int = 100
    stream_concurrency: int = 10
    held_streams: int = 2000
    held_chunk_delay: float = 3.0  # the fake builds every event up front: few, slow chunks
    held_chunks: int = 40
    soak_requests: int = 100_000
    soak_concurrency: int = 50
    lookup_iterations: int = 20_000
    db_count_seconds: float = 6.0  # several key-cache expiries (the phase sets a 1 s TTL) and usage flushes
    legacy_keys: int = 20_000
    smoke: bool = False  # every phase, a few seconds each: proves the benchmark runs, its figures mean little

    @property
    def mode(self) -> str:
        return "smoke" if self.smoke else "quick" if self.quick else "full"

    @classmethod
    def for_run(
        cls, out: Path, quick: bool, loadgen: str, log_level: str, proxyd: tuple[str, ...], *, smoke: bool = False
    ) -> Settings:
        if smoke:
            return cls(
                out=out,
                quick=True,
                smoke=True,
                loadgen=loadgen,
                log_level=log_level,
                proxyd=proxyd,
                profile_seconds=1.0,
                concurrencies=(1, 10),
                throughput_seconds=1.0,
                moderate_rate=50.0,
                moderate_seconds=1.0,
                stream_chunks=5,
                streams=10,
                stream_concurrency=5,
                held_streams=100,
                soak_requests=1_000,
                soak_concurrency=10,
                lookup_iterations=1_000,
                db_count_seconds=2.0,
                legacy_keys=1_000,
            )
        if not quick:
            return cls(out=out, quick=False, loadgen=loadgen, log_level=log_level, proxyd=proxyd)
        return cls(
            out=out,
            quick=True,
            loadgen=loadgen,
            log_level=log_level,
            proxyd=proxyd,
            throughput_seconds=2.0,
            moderate_seconds=4.0,
            streams=30,
            soak_requests=10_000,
            lookup_iterations=5_000,
        )
