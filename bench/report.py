"""``report.md``: the run's figures as markdown tables, targets first."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from proxyd.translate.base import ENDPOINT_PATHS

from .phase_client_keys import BY_CLIENT_KEY, BY_GITHUB_TOKEN, ClientKeyCost
from .phase_heavy import HEALTHZ_LIMIT_MS, Heavy
from .phase_http import BASELINES, AddedLatency, NonStreaming, Streaming, StreamSide, ThroughputRun
from .phase_keys import KeyLookup, QueryCount
from .phase_legacy import LegacyImport
from .phase_memory import HeldStreams, Soak
from .phase_routes import RouteFigures
from .profile import Profile
from .results import NATIVE_NOISE_MS, TRANSLATED_LIMIT_MS, Results, route_goal, route_met, targets
from .stats import Summary

T = TypeVar("T")


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _ms(value: float) -> str:
    return f"{value:.2f}"


def _us(ms: float) -> str:
    return f"{ms * 1000:.1f}"


def _meta(r: Results) -> list[str]:
    m = r.meta
    return [
        f"Command: `{m['command']}` — {m['mode']} run, {m['duration_s']:.0f} s, {m['started']}.",
        f"Machine: {m['cpus']} x {m['cpu_model']}, {m['memory_gb']:.0f} GB RAM, Linux {m['kernel']}; "
        f"Python {m['python']}, aiohttp {m['aiohttp']}; proxyd at {m['commit']}.",
        f"Setup: fake upstream, `proxyd serve` (1 worker, SQLite, LOG_LEVEL={m['log_level']}) and the load "
        f"generator ({m['loadgen']}) are separate processes on loopback, unpinned, sharing the machine's cores; "
        f"1-minute load average {m['loadavg_start']:.1f} at the start, {m['loadavg_end']:.1f} at the end "
        "(anything else running on the machine skews the figures).",
        *(
            [
                f"proxyd command: `{m['proxyd_command']}` (the in-process key-lookup and statement-count phases "
                "measure the proxyd package the benchmark imports, not this command)."
            ]
            if not m["proxyd_command"].endswith("/proxyd")
            else []
        ),
        "",
    ]


def _targets(r: Results, quick: bool) -> list[str]:
    rows = [(t.name, t.goal, t.measured, f"**{t.status}**") for t in targets(r, quick)]
    return ["## Targets", "", *_table(("target", "goal", "measured", ""), rows)]


def _percentiles_row(label: str, s: Summary) -> tuple[str, ...]:
    return (label, _ms(s.p50_ms), _ms(s.p90_ms), _ms(s.p99_ms), _ms(s.max_ms), str(s.count))


def _nonstreaming(n: NonStreaming) -> list[str]:
    driver = "wrk" if n.loadgen == "wrk" else "bench.loadgen (aiohttp)"
    loop = f"; proxyd's event loop: {n.event_loop}" if n.event_loop else ""
    lines = [
        "## Non-streaming chat completions",
        "",
        f"Closed loop, {driver}{loop}; latency in ms. *direct* is the fake upstream alone and *proxyd* proxyd in front "
        "of it; *static* is `bench/static_upstream.py` alone, which answers every request at once from a fixed "
        "body, and *proxyd-static* proxyd in front of that (*-client-key*: presenting a client key): there "
        "proxyd's own cost is nearly all there is. *floor* (`bench/floor.py`) is the least an aiohttp proxy does in "
        "front of the same static upstream (read the body, POST it on a pooled session, stream the answer back; no "
        "authentication, accounting or logging): proxyd's target. At each concurrency the floor and proxyd-static's "
        "two keys run in mirrored rounds (floor, token, client key, client key, token, floor; the next round "
        "puts the client key first), and each ratio is taken over the means. "
        "*added* = proxied - its upstream alone at the same concurrency; *CPU/req* = proxyd's CPU time (user + "
        "system) per request, which other load on the machine disturbs less than req/s.",
        "",
    ]
    rows = []
    for run in n.runs:
        added = ""
        baseline = n.run_for(BASELINES.get(run.target, ""), run.concurrency)
        if baseline is not None:
            p50 = run.latency.p50_ms - baseline.latency.p50_ms
            added = f"{p50:+.2f} / {run.latency.p99_ms - baseline.latency.p99_ms:+.2f}"
        rows.append(_run_row(run, added))
    header = ("target", "concurrency", "req/s", "p50", "p99", "added p50 / p99", "CPU/req", "requests", "errors")
    lines += _table(header, rows)
    m = n.moderate
    lines += [f"Moderate load (the latency target): {_open_loop(m)}", ""]
    lines += _table(_MODERATE_HEADER, [*_moderate_rows(m), _added_row("added", m)])
    return lines


def _run_row(run: ThroughputRun, added: str | None = None) -> tuple[str, ...]:
    """One closed-loop run; ``added`` (None: no such column) what it costs over its upstream alone."""
    return (
        run.target,
        str(run.concurrency),
        f"{run.rps:,.0f}",
        _ms(run.latency.p50_ms),
        _ms(run.latency.p99_ms),
        *(() if added is None else (added,)),
        f"{run.cpu_us_per_request:.0f} µs" if run.cpu_us_per_request is not None else "",
        f"{run.requests:,}",
        str(run.errors),
    )


_MODERATE_HEADER = ("", "p50", "p90", "p99", "max", "requests")


def _open_loop(m: AddedLatency) -> str:
    return (
        f"open loop at {m.rate:g} req/s for {m.seconds:g} s each, "
        f"Python load generator (max send lateness {m.max_send_lateness_ms:.1f} ms); latency in ms."
    )


def _moderate_rows(m: AddedLatency, proxied: str = "proxyd") -> list[tuple[str, ...]]:
    return [_percentiles_row("direct", m.direct), _percentiles_row(proxied, m.proxyd)]


def _added_row(label: str, m: AddedLatency) -> tuple[str, ...]:
    p90 = _ms(m.proxyd.p90_ms - m.direct.p90_ms)
    return (f"**{label}**", f"**{m.added_p50_ms:.2f}**", p90, f"**{m.added_p99_ms:.2f}**", "", "")


def _messages(m: AddedLatency) -> list[str]:
    return [
        "## Anthropic Messages API (`/v1/messages`)",
        "",
        "*proxyd*: `POST /v1/messages` with an Anthropic body (`anthropic-version`, the GitHub token in "
        "`x-api-key`) for Claude Sonnet 4, a model Copilot serves on chat completions only, so proxyd translates it "
        "into a chat completion and the answer back (the `routes` section has the native Messages route); "
        f"*direct*: that chat completion sent to the fake alone. Moderate load: {_open_loop(m)}",
        "",
        *_table(_MODERATE_HEADER, [*_moderate_rows(m), _added_row("added", m)]),
    ]


def _client_keys(c: ClientKeyCost) -> list[str]:
    token, key = c.github_token, c.client_key
    cpu = c.extra_cpu_us_per_request
    lateness = max(token.max_send_lateness_ms, key.max_send_lateness_ms)
    return [
        "## Client keys against GitHub tokens",
        "",
        "The same chat completions through the same proxyd, the key presented either the stored GitHub token "
        f"(*{BY_GITHUB_TOKEN}*) or a client key (`pxd_...`, created through `POST /api/client-keys`, every "
        f"account its pool: *{BY_CLIENT_KEY}*). Open loop at {token.rate:g} req/s for {token.seconds:g} s each, "
        f"one *direct* run shared (max send lateness {lateness:.1f} ms); latency in ms.",
        "",
        *_table(
            _MODERATE_HEADER,
            [
                *_moderate_rows(token, BY_GITHUB_TOKEN),
                _percentiles_row(BY_CLIENT_KEY, key.proxyd),
                _added_row("added, GitHub token", token),
                _added_row("added, client key", key),
            ],
        ),
        f"Closed loop at concurrency {c.runs[0].concurrency}, the two keys alternated:",
        "",
        *_table(
            ("target", "concurrency", "req/s", "p50", "p99", "CPU/req", "requests", "errors"),
            [_run_row(run) for run in c.runs],
        ),
        f"A client key against a GitHub token: p50 {key.proxyd.p50_ms - token.proxyd.p50_ms:+.2f} ms, "
        f"p99 {key.proxyd.p99_ms - token.proxyd.p99_ms:+.2f} ms at "
        f"{token.rate:g} req/s; in the closed loop {c.rps_ratio:.2f} x the req/s and "
        + (f"{cpu:+.0f} µs" if cpu is not None else "unmeasured")
        + " of proxyd's CPU per request (over both runs of each). Errors at the fixed rate, each with the direct "
        f"run's: GitHub token {token.errors}, client key {key.errors}.",
        "",
    ]


def _summary_row(label: str, s: Summary) -> tuple[str, ...]:
    return (label, _ms(s.mean_ms), _ms(s.p50_ms), _ms(s.p99_ms), _ms(s.max_ms))


def _sides(s: Streaming) -> list[tuple[str, StreamSide]]:
    floor = [("through the floor", s.floor)] if s.floor is not None else []
    return [("direct", s.direct), *floor, ("proxyd", s.proxyd)]


def _stream_rows(s: Streaming, what: str, pick: Callable[[StreamSide], Summary]) -> list[tuple[str, ...]]:
    return [_summary_row(f"{what}, {name}", pick(side)) for name, side in _sides(s)]


def _first_event_rows(s: Streaming) -> list[tuple[str, ...]]:
    rows = [(f"time to first event, {name} ({side.streams} streams)", side.ttfb) for name, side in _sides(s)]
    return [_summary_row(label, summary) for label, summary in rows]


def _stream_intro(s: Streaming) -> str:
    return f"{s.chunks} content chunks {s.chunk_delay_ms:g} ms apart, {s.concurrency} streams at a time; "


def _stream_added(s: Streaming, first: str) -> str:
    over = s.gap_p50_over_floor_ms
    floor = f" (over the floor's: {over:+.3f} ms at p50)" if over is not None else ""
    return (
        f"Added by proxyd: {first}; per chunk {s.added_gap_mean_ms:+.3f} ms mean, {s.added_gap_p99_ms:+.2f} ms at "
        f"p99{floor}. Errors: direct {s.direct.errors}, proxyd {s.proxyd.errors}; incomplete streams: "
        f"{s.direct.incomplete + s.proxyd.incomplete}; "
    )


def _streaming(s: Streaming) -> list[str]:
    lines = [
        "## Streaming chat completions",
        "",
        _stream_intro(s) + "arrival of every SSE event timed on the client (ms).",
        "",
    ]
    lines += _table(
        ("", "mean", "p50", "p99", "max"),
        [*_first_event_rows(s), *_stream_rows(s, "gap between events", lambda side: side.gap)],
    )
    first = f"first event {s.added_ttfb_p50_ms:+.2f} ms (p50)"
    lines += [_stream_added(s, first) + f"events per stream {s.proxyd.events_per_stream:.0f}.", ""]
    return lines


def _messages_streaming(s: Streaming) -> list[str]:
    lines = [
        "## Streaming Anthropic messages (`/v1/messages`)",
        "",
        _stream_intro(s) + "arrival of every SSE event timed on the client (ms). proxyd sends several events per "
        "Copilot chunk (`message_start` and `ping` once the upstream answers, then `content_block_start`, ...): "
        "a *chunk* here is an event with text, Copilot's content chunk direct and the `content_block_delta` proxyd "
        "makes of it through proxyd, so the gaps compare like with like.",
        "",
    ]
    lines += _table(
        ("", "mean", "p50", "p99", "max"),
        [
            *_first_event_rows(s),
            *_stream_rows(s, "time to first chunk", lambda side: side.first_chunk),
            *_stream_rows(s, "gap between chunks", lambda side: side.gap),
        ],
    )
    first_chunk = s.proxyd.first_chunk.p50_ms - s.direct.first_chunk.p50_ms
    first = f"first event {s.added_ttfb_p50_ms:+.2f} ms, first chunk {first_chunk:+.2f} ms (p50)"
    lines += [
        _stream_added(s, first) + f"events per stream: direct {s.direct.events_per_stream:.0f}, proxyd "
        f"{s.proxyd.events_per_stream:.0f}; chunks per stream: direct {s.direct.chunks_per_stream:.0f}, proxyd "
        f"{s.proxyd.chunks_per_stream:.0f}.",
        "",
    ]
    return lines


def _routes(routes: list[RouteFigures]) -> list[str]:
    first = routes[0]
    lateness = max(r.moderate.max_send_lateness_ms for r in routes)
    rows = []
    for r in routes:
        goal = route_goal(r, routes)
        rows.append(
            (
                f"{r.client} → {r.model}",
                f"`{ENDPOINT_PATHS[r.upstream]}`" + (" (native)" if r.native else ""),
                _ms(r.moderate.added_p50_ms),
                _ms(r.moderate.added_p99_ms),
                f"{r.streaming.added_gap_mean_ms:.3f}",
                goal.text,
                str(r.errors),
                f"**{'PASS' if route_met(r, goal) else 'MISS'}**",
            )
        )
    return [
        "## Each client API on each kind of model (`routes`)",
        "",
        "A client's request goes natively to the endpoint Copilot serves its model on when that is the client's API, "
        "translated otherwise. *direct* is the body proxyd sends that endpoint of the fake (the client's own when "
        "native), sent there alone; *added* = through proxyd - direct. JSON answers: "
        f"open loop at {first.moderate.rate:g} req/s for {first.moderate.seconds:g} s each side, Python load "
        f"generator (max send lateness {lateness:.1f} ms over all routes); latency in ms. Streams: "
        + _stream_intro(first.streaming)
        + "a *chunk* is an event with text on each side (a chat chunk with content, `response.output_text.delta`, "
        "`content_block_delta`); *per chunk* is the added mean gap between chunks. A native route may add what the "
        "chat passthrough adds (chat → its chat model, measured beside it; from 0) plus noise, "
        f"{NATIVE_NOISE_MS[0]:g} ms at p50 and {NATIVE_NOISE_MS[1]:g} ms per chunk; a translated one at most "
        f"{TRANSLATED_LIMIT_MS:g} ms at p50 and per chunk. *errors*: failed requests and broken streams.",
        "",
        *_table(("route", "Copilot endpoint", "added p50", "added p99", "per chunk", "goal", "errors", ""), rows),
    ]


def _held(h: HeldStreams) -> list[str]:
    return [
        f"## {h.streams:,} concurrent open streams",
        "",
        f"Slow streams (one event every few seconds) opened 100 at a time through proxyd in {h.ramp_s:.1f} s; "
        f"{h.opened:,} open, {h.failed} failed; proxyd held {h.fds_open:,} file descriptors.",
        "",
        *_table(
            ("proxyd VmRSS", "MB"),
            [
                ("idle (after a 20-stream warm-up)", f"{h.rss_idle_mb:.1f}"),
                (f"{h.opened:,} streams open (peak of samples)", f"{h.rss_open_mb:.1f}"),
                ("after they closed", f"{h.rss_after_mb:.1f}"),
                ("per open stream", f"{h.per_stream_kb:.1f} KB"),
            ],
        ),
    ]


def _heavy(h: Heavy) -> list[str]:
    rows = []
    for run in h.runs:
        answers = ", ".join(f"{n} x {status}" for status, n in run.statuses.items())
        rows.append(
            (
                run.kind,
                run.description,
                answers + ("" if run.as_expected else f" (expected {run.expected_status})"),
                f"{run.handled_s:.2f}",
                f"{run.healthz.count}" + (f" ({run.healthz_failed} failed)" if run.healthz_failed else ""),
                _ms(run.healthz.p50_ms),
                _ms(run.healthz.p99_ms),
                _ms(run.healthz.max_ms),
                f"**{'PASS' if run.met else 'MISS'}**",
            )
        )
    return [
        "## The event loop under worst-case bodies (`heavy`)",
        "",
        f"{h.concurrency} requests of a kind sent at once while a thread of the benchmark polls `GET /healthz` every "
        f"{h.poll_interval_ms:g} ms on a connection of its own: a poll waits as long as proxyd's event loop is held. "
        f"*handled*: seconds from the first request sent to the last answer; latency in ms. Goal: every poll "
        f"under {HEALTHZ_LIMIT_MS:g} ms, and every request answered as expected.",
        "",
        *_table(("kind", "body", "answers", "handled (s)", "polls", "p50", "p99", "max", ""), rows),
        f"/healthz polled alone first, for comparison (what the machine adds): {h.idle.count} polls, p50 "
        f"{_ms(h.idle.p50_ms)}, p99 {_ms(h.idle.p99_ms)}, max {_ms(h.idle.max_ms)} ms.",
        "",
    ]


def _soak(k: Soak) -> list[str]:
    series = ", ".join(f"{mb:.0f}" for _, mb in k.rss_samples)
    return [
        f"## {k.requests:,} requests in a row",
        "",
        f"Concurrency {k.concurrency} through proxyd: {k.elapsed_s:.1f} s, {k.rps:,.0f} req/s, {k.errors} errors, "
        f"latency p50 {k.latency.p50_ms:.2f} ms, p99 {k.latency.p99_ms:.2f} ms.",
        "",
        *_table(
            ("proxyd VmRSS", "MB"),
            [
                ("before (warm, idle)", f"{k.rss_before_mb:.1f}"),
                ("peak during", f"{k.rss_peak_mb:.1f}"),
                ("after (idle)", f"{k.rss_after_mb:.1f}"),
                ("growth", f"{k.growth_pct:+.1f} %"),
            ],
        ),
        f"RSS over the run (MB): {series}.",
        "",
    ]


def _keys(k: KeyLookup | None, q: QueryCount | None) -> list[str]:
    lines = ["## Key lookup and database statements", ""]
    if k is not None:
        lines += [f"`KeyResolver.resolve()` in process on SQLite with {k.stored_keys:,} stored keys (µs per call):", ""]

        def row(label: str, s: Summary, queries: str) -> tuple[str, ...]:
            return (label, _us(s.mean_ms), _us(s.p50_ms), _us(s.p99_ms), f"{s.count:,}", queries)

        lines += _table(
            ("", "mean", "p50", "p99", "calls", "DB queries"),
            [
                row("cold (no entry: `invalidate()` first), by key", k.cold, f"{k.cold_queries:,} (both cold rows)"),
                row("cold, default key", k.cold_default, ""),
                row("expired entry (ttl 0)", k.expired, f"{k.expired_queries:,}"),
                row("warm (fresh entry)", k.warm, f"{k.warm_queries:,}"),
            ],
        )
        if k.decrypt is not None:
            lines += [
                f"Stored tokens are encrypted: a cold lookup by key decrypts {k.cold_decrypts_per_lookup:g} token(s) "
                f"(its GitHub token; {_us(k.decrypt.mean_ms)} µs mean, {_us(k.decrypt.p99_ms)} µs p99 each), "
                f"a warm lookup decrypts nothing ({k.warm_decrypts:,} decryptions in {k.warm.count:,} warm calls): "
                "once cached, encryption adds nothing to a request.",
                "",
            ]
    if q is not None:
        by_query = ", ".join(f"`{name}` x {n}" for name, n in q.by_query.items()) or "none"
        lines += [
            f"Statements during {q.requests:,} proxied requests after warm-up ({q.elapsed_s:.1f} s, in process, "
            f"`create_app` behind aiohttp's TestServer with a counting database): {by_query}.",
            "",
            f"- per request: **{q.queries_per_request:.4f}** ({q.per_request_statements} statements that scale "
            "with requests)",
            f"- usage flush (batched, every {q.flush_interval_s:g} s): {q.flush_statements} statements in "
            f"{q.flush_transactions} transactions",
            f"- key lookups: {q.key_lookups}, of which {q.cache_refreshes} are explained by the key cache's "
            f"TTL expiring in the window (TTL set to {q.key_cache_ttl_s:g} s here so that the window holds several "
            "expiries; each should cost one lookup)"
            + (
                f"; the other {q.key_lookups - q.cache_refreshes} are concurrent requests that all found the "
                "entry expired and each queried (no single-flight refresh)"
                if q.key_lookups > q.cache_refreshes
                else ""
            ),
            "",
        ]
    return lines


def _legacy(g: LegacyImport) -> list[str]:
    rows = [
        ("generate the node-persist store", f"{g.generate_s:.2f}"),
        ("read_store + plan_import (in process)", f"{g.read_plan_s:.2f}"),
    ]
    if g.import_s is not None:
        rows.append(("`proxyd import-legacy DIR` (wall clock, incl. start-up)", f"{g.import_s:.2f}"))
    lines = [f"## Legacy import of {g.keys:,} keys", "", *_table(("step", "seconds"), rows)]
    if g.imported_rows is not None:
        lines += [f"Rows in `api_keys` afterwards: {g.imported_rows:,}.", ""]
    if g.note:
        lines += [f"Output: `{g.note}`" if g.import_s is not None else f"Note: {g.note}", ""]
    return lines


def _profile(p: Profile) -> list[str]:
    lines = [
        f"## Where proxyd's time goes (py-spy, concurrency {p.concurrency})",
        "",
        f"{p.samples:,} samples of the proxyd process at 200 Hz, all threads; raw stacks in `{Path(p.raw_file).name}`.",
        "",
    ]
    rows = [(f"{pct:.1f} %", f"`{frame}`") for pct, frame in p.self_top]
    lines += _table(("self", "function"), rows)
    rows = [(f"{pct:.1f} %", f"`{frame}`") for pct, frame in p.inclusive_top]
    lines += _table(("inclusive", "function (event loop and thread plumbing left out)"), rows)
    return lines


def _section(measured: T | None, render: Callable[[T], list[str]]) -> list[str]:
    """The lines ``render`` makes of what a phase ``measured``; none when it did not run."""
    return render(measured) if measured is not None else []


def render(r: Results, quick: bool) -> str:
    lines = ["# proxyd benchmark", "", *_meta(r), *_targets(r, quick)]
    lines += [
        *_section(r.nonstreaming, _nonstreaming),
        *_section(r.messages, _messages),
        *_section(r.client_keys, _client_keys),
        *_section(r.streaming, _streaming),
        *_section(r.messages_streaming, _messages_streaming),
        *_section(r.routes, _routes),
        *_section(r.held, _held),
        *_section(r.heavy, _heavy),
        *_section(r.profile, _profile),
        *_section(r.soak, _soak),
    ]
    if r.key_lookup is not None or r.queries is not None:
        lines += _keys(r.key_lookup, r.queries)
    lines += _section(r.legacy, _legacy)
    if r.notes:
        lines += ["## Notes", ""]
        lines += [f"- **{phase}** did not run: {message}" for phase, message in r.notes.items()]
        lines.append("")
    if r.errors:
        lines += ["## Errors", ""]
        lines += [f"- **{phase}**: {message}" for phase, message in r.errors.items()]
        lines.append("")
    phases = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in r.phase_seconds.items())
    lines += [f"Phase wall times: {phases}.", ""]
    return "\n".join(lines)
