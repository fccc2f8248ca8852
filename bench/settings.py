"""What each run measures and for how long: the full run, ``--quick`` and ``--smoke``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

_MODES = ("full", "quick", "smoke")

# Each knob's value in a full, a quick and a smoke run (the columns of _MODES), side by side.
_KNOBS: dict[str, tuple[Any, Any, Any]] = {
    "profile_seconds": (6.0, 6.0, 1.0),
    "concurrencies": ((1, 4, 64), (1, 4, 64), (1, 10)),  # 64 against 4: does proxyd keep up as requests pile up?
    "throughput_seconds": (5.0, 2.0, 1.0),
    # Mirrored rounds of the floor and both keys at each concurrency: the ratios' noise falls as they add up.
    "over_the_floor_rounds": (2, 1, 1),
    "moderate_rate": (200.0, 200.0, 50.0),  # requests/s for the added-latency target: "moderate load"
    "moderate_seconds": (10.0, 4.0, 1.0),
    "client_key_concurrency": (4, 4, 4),  # the closed loop comparing a client key with a GitHub token
    "route_warm_up": (500, 500, 100),  # requests sent each side of a route before it is measured
    "stream_chunks": (20, 20, 5),
    "chunk_delay": (0.02, 0.02, 0.02),
    "streams": (100, 30, 10),
    "stream_concurrency": (10, 10, 5),
    "held_streams": (2000, 2000, 100),
    "held_chunk_delay": (3.0, 3.0, 3.0),  # the fake builds every event up front: few, slow chunks
    "held_chunks": (40, 40, 40),
    "soak_requests": (100_000, 10_000, 1_000),
    "soak_concurrency": (50, 50, 10),
    "lookup_iterations": (20_000, 5_000, 1_000),
    "db_count_seconds": (6.0, 6.0, 2.0),  # several key-cache expiries (the phase sets a 1 s TTL) and usage flushes
    "legacy_keys": (20_000, 20_000, 1_000),
    "heavy_requests": (4, 4, 4),  # worst-case bodies of a kind in flight at once
    "heavy_scale": (1.0, 1.0, 0.125),  # their size against the full one (31 MB, 32 MiB, 1 GiB inflated)
}


def _mode(quick: bool, smoke: bool) -> str:
    return "smoke" if smoke else "quick" if quick else "full"


@dataclass(frozen=True, slots=True)
class Settings:
    out: Path
    quick: bool  # a short run: targets judged on fewer requests (a smoke run is quick too)
    loadgen: str  # "wrk" or "python": who drives the closed-loop throughput runs
    log_level: str  # proxyd's LOG_LEVEL (info, the default, logs one access line per request)
    proxyd: tuple[str, ...]  # the proxyd command: the venv's, or another build to compare
    profile_seconds: float
    concurrencies: tuple[int, ...]
    throughput_seconds: float
    over_the_floor_rounds: int
    moderate_rate: float
    moderate_seconds: float
    client_key_concurrency: int
    route_warm_up: int
    stream_chunks: int
    chunk_delay: float
    streams: int
    stream_concurrency: int
    held_streams: int
    held_chunk_delay: float
    held_chunks: int
    soak_requests: int
    soak_concurrency: int
    lookup_iterations: int
    db_count_seconds: float
    legacy_keys: int
    heavy_requests: int
    heavy_scale: float
    smoke: bool = False  # every phase, a few seconds each: proves the benchmark runs, its figures mean little

    @property
    def mode(self) -> str:
        return _mode(self.quick, self.smoke)

    @classmethod
    def for_run(
        cls, out: Path, quick: bool, loadgen: str, log_level: str, proxyd: tuple[str, ...], *, smoke: bool = False
    ) -> Settings:
        column = _MODES.index(_mode(quick, smoke))
        knobs = {name: values[column] for name, values in _KNOBS.items()}
        return cls(out, quick or smoke, loadgen, log_level, proxyd, smoke=smoke, **knobs)
