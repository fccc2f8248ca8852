"""Prometheus metrics in the text exposition format.

One process: a few counters and one histogram, written here, and values
owned by other components (caches, pools, buffers) read when ``/metrics`` is
scraped instead of being mirrored on every change.

Several workers (``PROXYD_WORKERS``): the supervisor names a directory in
``PROMETHEUS_MULTIPROC_DIR`` and every worker keeps its values there through
``prometheus_client``'s multiprocess mode (``Shared`` below): counters and the
histogram as they change, the sampled values each second and at each scrape.
Whichever worker answers a scrape reports the sum over all workers, so
counters never go backwards between scrapes. The metric names are the same.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

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
    shared: Shared | None = None

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount
        if self.shared is not None:
            self.shared.inc(self.name, self.help, labels, amount)

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
    shared: Shared | None = None

    def observe(self, value: float, labels: Labels = ()) -> None:
        counts = self.counts.setdefault(labels, [0] * (len(self.buckets) + 1))
        counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sums[labels] = self.sums.get(labels, 0.0) + value
        if self.shared is not None:
            self.shared.observe(self, value, labels)

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


class Shared:
    """This worker's values in ``prometheus_client``'s multiprocess files; ``render`` sums every worker's."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._metrics: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._published: dict[tuple[str, Labels], float] = {}

    def _metric(self, kind: str, name: str, help: str, names: tuple[str, ...], **options: Any) -> Any:
        import prometheus_client

        found = self._metrics.get((name, names))
        if found is None:
            # No registry: the multiprocess collector reads the files, whatever registered them.
            make = {"counter": prometheus_client.Counter, "gauge": prometheus_client.Gauge}.get(
                kind, prometheus_client.Histogram
            )
            found = self._metrics[(name, names)] = make(name, help, names, registry=None, **options)
        return found

    @staticmethod
    def _child(metric: Any, labels: Labels) -> Any:
        return metric.labels(*(value for _, value in labels)) if labels else metric

    def inc(self, name: str, help: str, labels: Labels, amount: float) -> None:
        names = tuple(key for key, _ in labels)
        self._child(self._metric("counter", name, help, names), labels).inc(amount)

    def observe(self, histogram: Histogram, value: float, labels: Labels) -> None:
        names = tuple(key for key, _ in labels)
        metric = self._metric("histogram", histogram.name, histogram.help, names, buckets=histogram.buckets)
        self._child(metric, labels).observe(value)

    def publish(self, sampled: Sampled) -> None:
        """A sampled value as this worker sees it now: a counter's growth since last time, a gauge's value."""
        for labels, value in sampled.read():
            names = tuple(key for key, _ in labels)
            if sampled.kind == "counter":
                seen = self._published.get((sampled.name, labels), 0.0)
                if value > seen:
                    self._child(self._metric("counter", sampled.name, sampled.help, names), labels).inc(value - seen)
                    self._published[(sampled.name, labels)] = value
            else:
                metric = self._metric("gauge", sampled.name, sampled.help, names, multiprocess_mode="livesum")
                self._child(metric, labels).set(value)

    def render(self) -> str:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry).decode()


class Metrics:
    def __init__(self, *, multiprocess_dir: str | None = None) -> None:
        """``multiprocess_dir``: where every worker keeps its values (default: ``PROMETHEUS_MULTIPROC_DIR``)."""
        directory = multiprocess_dir if multiprocess_dir is not None else os.environ.get(MULTIPROCESS_DIR)
        self.shared = Shared(directory) if directory else None
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
        for metric in (
            self.requests,
            self.upstream_latency,
            self.upstream_errors,
            self.upstream_retries,
            self.version_refused,
        ):
            metric.shared = self.shared

    def publish(self) -> None:
        """With workers: write this worker's sampled values where every worker's scrape reads them."""
        if self.shared is not None:
            for sampled in self._sampled:
                self.shared.publish(sampled)

    def sample(self, name: str, help: str, kind: str, read: Callable[[], Iterable[tuple[Labels, float]]]) -> None:
        self._sampled.append(Sampled(name, help, kind, read))

    def render(self) -> str:
        if self.shared is not None:
            self.publish()
            return self.shared.render()
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
