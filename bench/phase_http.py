"""Non-streaming and streaming answers, direct to the fake and through proxyd: chat completions and Anthropic's
Messages API (``/v1/messages``, against the chat completion proxyd makes of it sent direct)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import loadclient, wrk
from .procs import cpu_seconds
from .services import (
    CHAT_FOR_MESSAGES,
    MESSAGES,
    Fake,
    Target,
    register_client_key,
    register_key,
    running_floor,
    running_proxyd,
    running_static,
)
from .settings import Settings
from .stats import Summary

# Each proxied target and what the same request costs without proxyd in the way.
BASELINES = {"proxyd": "direct", "proxyd-static": "static", "floor": "static", "proxyd-static-client-key": "static"}
# proxyd's own cost: the least an aiohttp proxy does (bench/floor.py) in front of the same static upstream, and
# proxyd there presenting a GitHub token or a client key. proxyd's req/s over the floor's is the target.
FLOOR = "floor"
OVER_THE_FLOOR = ("proxyd-static", "proxyd-static-client-key")
KEY_KINDS = dict(zip(OVER_THE_FLOOR, ("GitHub token", "client key"), strict=True))


@dataclass(frozen=True, slots=True)
class ThroughputRun:
    target: str
    concurrency: int
    requests: int
    errors: int
    rps: float
    latency: Summary
    # proxyd's CPU time (user + system) per request: steadier than req/s when other load shares the cores.
    cpu_us_per_request: float | None = None


@dataclass(frozen=True, slots=True)
class AddedLatency:
    """Open-loop load at a fixed rate well below saturation: what one request pays for the extra hop.

    Each side gets ``rate`` requests/s for ``seconds``. ``errors`` counts both sides, and ``max_send_lateness_ms`` is
    the furthest either load generator fell behind its schedule (large: the rate was not held, the figures suspect).
    """

    rate: float
    seconds: float
    direct: Summary
    proxyd: Summary
    errors: int
    max_send_lateness_ms: float

    @property
    def added_p50_ms(self) -> float:
        return self.proxyd.p50_ms - self.direct.p50_ms

    @property
    def added_p99_ms(self) -> float:
        return self.proxyd.p99_ms - self.direct.p99_ms


@dataclass(frozen=True, slots=True)
class NonStreaming:
    loadgen: str
    runs: list[ThroughputRun]
    moderate: AddedLatency
    event_loop: str = ""  # the one proxyd said it runs on

    def run_for(self, target: str, concurrency: int) -> ThroughputRun | None:
        return next((r for r in self.runs if r.target == target and r.concurrency == concurrency), None)

    def mean_rps(self, target: str, concurrency: int) -> float | None:
        """Over every run of ``target`` at ``concurrency`` (the floor and both keys: twice a round, ``_rounds``)."""
        runs = [r.rps for r in self.runs if r.target == target and r.concurrency == concurrency]
        return sum(runs) / len(runs) if runs else None

    def over_the_floor(self, target: str, concurrency: int) -> float | None:
        """``target``'s req/s over the floor's, at ``concurrency``."""
        floor, proxied = self.mean_rps(FLOOR, concurrency), self.mean_rps(target, concurrency)
        return proxied / floor if floor and proxied is not None else None


@dataclass(frozen=True, slots=True)
class StreamSide:
    streams: int
    errors: int
    incomplete: int
    events_per_stream: float
    ttfb: Summary  # to the first event, whatever it is
    gap: Summary  # between chunks: every event, or those with the route's chunk marker
    first_chunk: Summary  # to the first chunk
    chunks_per_stream: float


@dataclass(frozen=True, slots=True)
class Streaming:
    chunks: int
    chunk_delay_ms: float
    concurrency: int
    direct: StreamSide
    proxyd: StreamSide
    # The same stream relayed by the floor (bench/floor.py) in front of the fake: what any proxy adds per chunk.
    floor: StreamSide | None = None

    @property
    def gap_p50_over_floor_ms(self) -> float | None:
        """proxyd's median gap between chunks minus the floor's: proxyd's own work per chunk."""
        return None if self.floor is None else self.proxyd.gap.p50_ms - self.floor.gap.p50_ms

    @property
    def added_ttfb_p50_ms(self) -> float:
        return self.proxyd.ttfb.p50_ms - self.direct.ttfb.p50_ms

    @property
    def added_gap_mean_ms(self) -> float:
        return self.proxyd.gap.mean_ms - self.direct.gap.mean_ms

    @property
    def added_gap_p99_ms(self) -> float:
        return self.proxyd.gap.p99_ms - self.direct.gap.p99_ms


def _errors(result: dict[str, Any]) -> int:
    return int(result["errors"])


async def warm_up(workdir: Path, target: Target, requests: int = 500, concurrency: int = 10) -> None:
    result = await loadclient.run(target.closed_loop(concurrency, seconds=30, requests=requests), workdir)
    if _errors(result):
        raise RuntimeError(f"warm-up against {target.name} had {_errors(result)} errors: {result['statuses']}")


async def closed_run(settings: Settings, workdir: Path, target: Target, concurrency: int) -> ThroughputRun:
    cpu_before = cpu_seconds(target.pid) if target.pid is not None else 0.0
    run = await _closed_load(settings, workdir, target, concurrency)
    if target.pid is None or run.requests == 0:
        return run
    return replace(run, cpu_us_per_request=(cpu_seconds(target.pid) - cpu_before) / run.requests * 1e6)


async def _closed_load(settings: Settings, workdir: Path, target: Target, concurrency: int) -> ThroughputRun:
    if settings.loadgen == "wrk":
        measured = await wrk.run(
            workdir,
            target.url,
            target.route.body,
            target.headers(),
            connections=concurrency,
            seconds=settings.throughput_seconds,
        )
        return ThroughputRun(
            target.name, concurrency, measured.requests, measured.errors, measured.rps, measured.latency
        )
    result = await loadclient.run(target.closed_loop(concurrency, settings.throughput_seconds), workdir)
    return ThroughputRun(
        target.name,
        concurrency,
        int(result["requests"]),
        _errors(result),
        float(result["rps"]),
        Summary.from_json(result["latency"]),
    )


async def at_moderate_rate(settings: Settings, workdir: Path, *targets: Target) -> dict[str, dict[str, Any]]:
    """The load generator's result for each target at the moderate rate, one target after the other."""
    results = {}
    for target in targets:
        spec = target.load("rate", rate=settings.moderate_rate, seconds=settings.moderate_seconds)
        results[target.name] = await loadclient.run(spec, workdir)
    return results


def added_latency(
    settings: Settings, at_rate: dict[str, dict[str, Any]], direct: Target, proxied: Target
) -> AddedLatency:
    """What ``proxied`` adds over ``direct``, from their results in ``at_rate``."""
    sides = (at_rate[direct.name], at_rate[proxied.name])
    return AddedLatency(
        rate=settings.moderate_rate,
        seconds=settings.moderate_seconds,
        direct=Summary.from_json(sides[0]["latency"]),
        proxyd=Summary.from_json(sides[1]["latency"]),
        errors=sum(_errors(side) for side in sides),
        max_send_lateness_ms=max(float(side["send_lateness"]["max_ms"]) for side in sides),
    )


async def nonstreaming(settings: Settings, workdir: Path, direct: Target, proxied: Target, fake: Fake) -> NonStreaming:
    """Closed-loop runs against the fake and the static upstream, direct and through proxyd, back to back."""
    async with (
        running_static(workdir, "static") as static,
        running_floor(workdir, FLOOR, static.url) as floor,
        running_proxyd(
            workdir,
            "proxyd-static",
            fake,
            command=settings.proxyd,
            log_level=settings.log_level,
            copilot_api_url=static.url,
        ) as proxyd_static,
    ):
        await register_key(proxyd_static.url, fake.github_token)
        by_token = Target("proxyd-static", f"{proxyd_static.url}/v1", fake.github_token, proxyd_static.pid)
        by_client_key = replace(by_token, name=OVER_THE_FLOOR[1], token=await register_client_key(proxyd_static.url))
        floor_target = Target(FLOOR, f"{floor.url}/v1", "floor", floor.pid)
        alone = (direct, proxied, Target("static", static.url, "static"))
        for target in (*alone, floor_target, by_token, by_client_key):
            await warm_up(workdir, target)
        runs: list[ThroughputRun] = []
        for concurrency in settings.concurrencies:
            for target in (*alone, *_rounds(settings.over_the_floor_rounds, floor_target, by_token, by_client_key)):
                runs.append(await closed_run(settings, workdir, target, concurrency))
        event_loop = proxyd_static.event_loop
    moderate = added_latency(settings, await at_moderate_rate(settings, workdir, direct, proxied), direct, proxied)
    return NonStreaming(loadgen=settings.loadgen, runs=runs, moderate=moderate, event_loop=event_loop)


def _rounds(rounds: int, floor: Target, *keys: Target) -> list[Target]:
    """Mirrored rounds: floor, token, client key, client key, token, floor, then the keys the other way round.

    A drift in the machine's other load then weighs alike on both sides of each ratio, and each key runs
    next to the floor as often as the other (what a run right after another target pays, both pay).
    """
    order: list[Target] = []
    for turn in range(rounds):
        first = keys if turn % 2 == 0 else keys[::-1]
        order += [floor, *first, *first[::-1], floor]
    return order


async def _stream_side(settings: Settings, workdir: Path, target: Target) -> StreamSide:
    body = target.route.stream_body
    spec = target.load("stream", body, concurrency=settings.stream_concurrency, requests=settings.streams, seconds=120)
    warm = replace(spec, requests=settings.stream_concurrency)  # connections and caches, not measured
    await loadclient.run(warm, workdir)
    result = await loadclient.run(spec, workdir)
    return StreamSide(
        streams=int(result["streams"]),
        errors=int(result["errors"]),
        incomplete=int(result["incomplete"]),
        events_per_stream=float(result["events_per_stream"]),
        ttfb=Summary.from_json(result["ttfb"]),
        gap=Summary.from_json(result["gap"]),
        first_chunk=Summary.from_json(result["first_chunk"]),
        chunks_per_stream=float(result["chunks_per_stream"]),
    )


async def streaming(
    settings: Settings, workdir: Path, direct: Target, proxied: Target, floor_name: str = "floor-stream"
) -> Streaming:
    """``floor_name``: the floor's process (and log) name, one per phase."""
    async with running_floor(workdir, floor_name, direct.base) as floor:
        relayed = replace(direct, name=FLOOR, base=floor.url, pid=floor.pid)
        sides = {target.name: await _stream_side(settings, workdir, target) for target in (direct, relayed, proxied)}
    return Streaming(
        chunks=settings.stream_chunks,
        chunk_delay_ms=settings.chunk_delay * 1000,
        concurrency=settings.stream_concurrency,
        direct=sides["direct"],
        proxyd=sides["proxyd"],
        floor=sides[FLOOR],
    )


def _for_messages(direct: Target, proxied: Target) -> tuple[Target, Target]:
    """``/v1/messages`` through proxyd, and direct the chat completion proxyd sends Copilot for it."""
    return replace(direct, route=CHAT_FOR_MESSAGES), replace(proxied, route=MESSAGES)


async def messages(settings: Settings, workdir: Path, direct: Target, proxied: Target) -> AddedLatency:
    direct, proxied = _for_messages(direct, proxied)
    for target in (direct, proxied):
        await warm_up(workdir, target)
    return added_latency(settings, await at_moderate_rate(settings, workdir, direct, proxied), direct, proxied)


async def messages_streaming(settings: Settings, workdir: Path, direct: Target, proxied: Target) -> Streaming:
    """Chunks are the events with text: Copilot's content chunks direct, the ``content_block_delta`` events
    proxyd makes of them (one each) on ``/v1/messages``."""
    return await streaming(settings, workdir, *_for_messages(direct, proxied), floor_name="floor-messages-stream")
