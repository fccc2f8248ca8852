"""Latency summaries: nearest-rank percentiles over samples in seconds, reported in milliseconds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def from_json(cls, data: Any) -> Summary:
        return cls(**{name: data[name] for name in cls.__slots__})


EMPTY = Summary(0, math.nan, math.nan, math.nan, math.nan, math.nan)


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values; NaN for no values."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(seconds: Sequence[float]) -> Summary:
    if not seconds:
        return EMPTY
    ordered = sorted(seconds)
    ms = 1000.0
    return Summary(
        count=len(ordered),
        mean_ms=sum(ordered) / len(ordered) * ms,
        p50_ms=percentile(ordered, 50) * ms,
        p90_ms=percentile(ordered, 90) * ms,
        p99_ms=percentile(ordered, 99) * ms,
        max_ms=ordered[-1] * ms,
    )
