"""Prometheus metrics in the text exposition format.

A few counters and one histogram are all proxyd needs, so they are written
here rather than pulling in a client library and its process-global registry.
Values owned by other components (caches, pools, buffers) are read when
``/metrics`` is scraped instead of being mirrored on every change.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    escaped = (f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in labels)
    return "{" + ",".join(escaped) + "}"


def _value(value: float) -> str:
    """A sample value as Prometheus reads it: integral values as integers, others at full precision."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:  # exact as an integer; beyond that repr() is shorter
        return str(int(value))
    return repr(value)


@dataclass
class Counter:
    name: str
    help: str
    values: dict[Labels, float] = field(default_factory=dict)

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(labels)} {_value(value)}"


@dataclass
class Histogram:
    name: str
    help: str
    buckets: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
    counts: dict[Labels, list[int]] = field(default_factory=dict)
    sums: dict[Labels, float] = field(default_factory=dict)

    def observe(self, value: float, labels: Labels = ()) -> None:
        counts = self.counts.setdefault(labels, [0] * (len(self.buckets) + 1))
        counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sums[labels] = self.sums.get(labels, 0.0) + value

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for labels, counts in sorted(self.counts.items()):
            cumulative = 0
            for bound, count in zip((*self.buckets, float("inf")), counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                yield f"{self.name}_bucket{_labels((*labels, ('le', le)))} {cumulative}"
            yield f"{self.name}_sum{_labels(labels)} {_value(self.sums[labels])}"
            yield f"{self.name}_count{_labels(labels)} {cumulative}"


@dataclass
class Sampled:
    """A value read from its owner at scrape time: (labels, value) pairs."""

    name: str
    help: str
    kind: str
    read: Callable[[], Iterable[tuple[Labels, float]]]

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} {self.kind}"
        for labels, value in self.read():
            yield f"{self.name}{_labels(labels)} {_value(value)}"


class Metrics:
    def __init__(self) -> None:
        self.requests = Counter("proxyd_http_requests_total", "HTTP requests by route, method and status.")
        self.upstream_latency = Histogram(
            "proxyd_upstream_latency_seconds", "Time until the Copilot API answered with headers, by endpoint."
        )
        self.upstream_errors = Counter("proxyd_upstream_errors_total", "Copilot API calls that failed, by kind.")
        self.upstream_retries = Counter(
            "proxyd_upstream_retries_total", "Copilot API calls proxyd sent again itself, by the status that caused it."
        )
        self.version_refused = Counter(
            "proxyd_copilot_version_refused_total",
            "Copilot API calls answered 466: proxyd's client version is too old (PROXYD_COPILOT_API_VERSION).",
        )
        self._sampled: list[Sampled] = []

    def sample(self, name: str, help: str, kind: str, read: Callable[[], Iterable[tuple[Labels, float]]]) -> None:
        self._sampled.append(Sampled(name, help, kind, read))

    def render(self) -> str:
        lines: list[str] = []
        metrics: list[Counter | Histogram | Sampled] = [
            self.requests,
            self.upstream_latency,
            self.upstream_errors,
            self.upstream_retries,
            self.version_refused,
        ]
        for metric in (*metrics, *self._sampled):
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"
