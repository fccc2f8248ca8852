"""Everything one run measured, the targets it is judged by, and its JSON form."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .phase_http import BASELINES, NonStreaming, Streaming
from .phase_keys import KeyLookup, QueryCount
from .phase_legacy import LegacyImport
from .phase_memory import HeldStreams, Soak
from .profile import Profile


@dataclass
class Results:
    meta: dict[str, Any]
    nonstreaming: NonStreaming | None = None
    streaming: Streaming | None = None
    held: HeldStreams | None = None
    soak: Soak | None = None
    key_lookup: KeyLookup | None = None
    queries: QueryCount | None = None
    legacy: LegacyImport | None = None
    profile: Profile | None = None
    errors: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # optional steps that could not run
    phase_seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    goal: str
    measured: str
    status: str  # PASS, MISS, or N/A when the phase did not run


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _missing(name: str, goal: str, why: str = "not measured") -> Target:
    return Target(name, goal, why, "N/A")


def _keeps_up(n: NonStreaming) -> Target:
    """Throughput through proxyd at the highest concurrency against the lowest above 1: no loss as requests pile up."""
    levels = sorted({run.concurrency for run in n.runs if run.concurrency > 1})
    name, goal = "proxyd req/s as concurrency grows", "≥ 1.00 x"
    if len(levels) < 2:
        return _missing(name, goal)
    low, high = levels[0], levels[-1]
    name = f"proxyd req/s at concurrency {high} vs {low}"
    ratios: list[tuple[str, float]] = []
    for target in BASELINES:
        at_low, at_high = n.run_for(target, low), n.run_for(target, high)
        if at_low is not None and at_high is not None and at_low.rps > 0:
            ratios.append((target, at_high.rps / at_low.rps))
    if not ratios:
        return _missing(name, goal)
    measured = ", ".join(f"{ratio:.2f} x ({target})" for target, ratio in ratios)
    return Target(name, goal, measured, _verdict(all(ratio >= 1.0 for _, ratio in ratios)))


def targets(r: Results, quick: bool) -> list[Target]:
    out: list[Target] = []
    if r.nonstreaming is not None:
        m = r.nonstreaming.moderate
        load = f"at {m.rate:g} req/s"
        out.append(
            Target(
                "added latency p50",
                "≤ 1 ms",
                f"{m.added_p50_ms:.2f} ms {load}",
                _verdict(m.added_p50_ms <= 1.0 and m.errors == 0),
            )
        )
        out.append(
            Target(
                "added latency p99",
                "≤ 5 ms",
                f"{m.added_p99_ms:.2f} ms {load}",
                _verdict(m.added_p99_ms <= 5.0 and m.errors == 0),
            )
        )
        out.append(_keeps_up(r.nonstreaming))
    else:
        out += [
            _missing("added latency p50", "≤ 1 ms"),
            _missing("added latency p99", "≤ 5 ms"),
            _missing("proxyd req/s at concurrency 64 vs 4", "≥ 1.00 x"),
        ]
    if r.streaming is not None:
        s = r.streaming
        ok = s.added_gap_mean_ms <= 1.0 and s.proxyd.errors == 0 and s.proxyd.incomplete == 0
        out.append(
            Target(
                "streaming: added delay per chunk",
                "≤ 1 ms",
                f"{s.added_gap_mean_ms:.3f} ms mean (p99 {s.added_gap_p99_ms:+.2f} ms)",
                _verdict(ok),
            )
        )
    else:
        out.append(_missing("streaming: added delay per chunk", "≤ 1 ms"))
    if r.held is not None:
        h = r.held
        ok = h.opened == h.streams and h.rss_open_mb < 300
        out.append(
            Target(
                f"RSS with {h.streams:,} open streams",
                "< 300 MB",
                f"{h.rss_open_mb:.0f} MB ({h.opened:,} open)",
                _verdict(ok),
            )
        )
    else:
        out.append(_missing("RSS with 2,000 open streams", "< 300 MB"))
    if r.soak is not None:
        k = r.soak
        note = " (quick run)" if quick else ""
        out.append(
            Target(
                f"RSS growth over {k.requests:,} requests{note}",
                "≤ 10 %",
                f"{k.growth_pct:+.1f} % ({k.rss_before_mb:.0f} → {k.rss_after_mb:.0f} MB)",
                _verdict(k.growth_pct <= 10 and k.errors == 0),
            )
        )
    else:
        out.append(_missing("RSS growth over 100,000 requests", "≤ 10 %"))
    if r.queries is not None:
        q = r.queries
        out.append(
            Target(
                "DB statements per proxied request",
                "0",
                f"{q.queries_per_request:.4f} ({q.per_request_statements} in {q.requests:,} requests)",
                _verdict(q.per_request_statements == 0 and q.errors == 0),
            )
        )
    else:
        out.append(_missing("DB statements per proxied request", "0"))
    if r.legacy is not None and r.legacy.import_s is not None:
        g = r.legacy
        ok = g.import_s is not None and g.import_s < 10 and g.imported_rows == g.keys
        out.append(
            Target(
                f"legacy import of {g.keys:,} keys",
                "< 10 s",
                f"{g.import_s:.2f} s ({g.imported_rows:,} rows)",
                _verdict(ok),
            )
        )
    elif r.legacy is not None:
        out.append(
            _missing(
                f"legacy import of {r.legacy.keys:,} keys", "< 10 s", f"read + plan only: {r.legacy.read_plan_s:.2f} s"
            )
        )
    else:
        out.append(_missing("legacy import of 20,000 keys", "< 10 s"))
    return out


def _plain(value: Any) -> Any:
    """JSON-ready: dataclasses with their computed properties, NaN as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name, attr in vars(type(value)).items():
            if isinstance(attr, property):
                data[name] = _plain(getattr(value, name))
        return data
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(r: Results, quick: bool) -> dict[str, Any]:
    data: dict[str, Any] = _plain(r)
    data["targets"] = [_plain(t) for t in targets(r, quick)]
    return data
