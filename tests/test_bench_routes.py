"""The benchmark's routes phase: each (client API, model) pair against what proxyd sends the fake, and its goals."""

from __future__ import annotations

import json

import aiohttp

from bench import loadgen
from bench.phase_http import AddedLatency, Streaming, StreamSide
from bench.phase_routes import ROUTES, RouteFigures, route_targets
from bench.report import render
from bench.results import Results, targets, to_json
from bench.services import Target
from bench.stats import Summary
from proxyd.translate.base import ENDPOINT_PATHS, Api
from tests.conftest import RunningProxy
from tests.test_bench_messages import META

GITHUB_TOKEN = "gho_benchroutes00000000000000000000000001"
CHUNKS = 4


async def test_each_route_sends_the_fake_the_direct_sides_body_and_streams_one_chunk_per_copilot_chunk(
    proxy: RunningProxy, sqlite_only: None
) -> None:
    state = proxy.upstream.state
    state.stream_chunks = CHUNKS
    state.add_github_token(GITHUB_TOKEN)
    await proxy.store.create("bench", GITHUB_TOKEN)
    direct = Target("direct", proxy.upstream.url, state.issue_copilot_token(GITHUB_TOKEN).token)
    proxied = Target("proxyd", f"{proxy.url}/v1", GITHUB_TOKEN)
    assert len(ROUTES) == 9 and len({(client, model) for client, model, _ in ROUTES}) == 9
    async with aiohttp.ClientSession() as http:
        for client, model, upstream in ROUTES:
            sides = route_targets(direct, proxied, client, model, upstream)
            for body, sent in zip(
                (sides[1].route.body, sides[1].route.stream_body),
                (sides[0].route.body, sides[0].route.stream_body),
                strict=True,
            ):
                state.clear_requests()
                async with http.post(sides[1].url, data=body, headers=sides[1].headers()) as response:
                    assert response.status == 200, (client, model, await response.text())
                    await response.read()
                posted = [(r.path, r.json) for r in state.requests if r.method == "POST"]
                assert posted == [(ENDPOINT_PATHS[upstream], json.loads(sent))], (client, model)
            for side in sides:
                spec = side.load("stream", side.route.stream_body, concurrency=1, requests=2, seconds=10)
                result = await loadgen.run(spec)
                assert (result["streams"], result["errors"], result["incomplete"]) == (2, 0, 0), (client, side.name)
                assert result["chunks_per_stream"] == CHUNKS, (client, model, side.name)


def _summary(ms: float) -> Summary:
    return Summary(count=10, mean_ms=ms, p50_ms=ms, p90_ms=ms, p99_ms=ms, max_ms=ms)


def _route(client: Api, model: str, upstream: Api, p50_ms: float, chunk_ms: float, errors: int = 0) -> RouteFigures:
    moderate = AddedLatency(200, 1, _summary(1.0), _summary(1.0 + p50_ms), errors, max_send_lateness_ms=0)

    def side(gap_ms: float) -> StreamSide:
        return StreamSide(
            10, 0, 0, 10.0, ttfb=_summary(3), gap=_summary(gap_ms), first_chunk=_summary(3), chunks_per_stream=4
        )

    return RouteFigures(client, model, upstream, moderate, Streaming(4, 20, 1, side(20.0), side(20.0 + chunk_ms)))


def test_native_routes_are_held_to_the_chat_passthrough_and_translated_ones_to_one_ms() -> None:
    routes = [
        _route("chat", "gpt-4.1", "chat", 0.8, -0.1),  # the chat passthrough: its goals are chat's
        _route("responses", "gpt-5.3-codex", "responses", 1.0, 0.45),  # ≤ 0.8 + 0.25 ms, ≤ 0 + 0.5 ms
        _route("messages", "claude-sonnet-4.5", "messages", 1.1, 0.0),  # more than the chat passthrough
        _route("chat", "gpt-5.3-codex", "responses", 0.9, 0.9),
        _route("messages", "gpt-4.1", "chat", 0.5, 0.1, errors=1),
        _route("responses", "gpt-4.1", "chat", 0.5, 1.2),
    ]
    results = Results(meta=META, routes=routes)
    judged = {t.name: (t.measured, t.status) for t in targets(results, quick=True)}
    assert judged["routes: each client API on each kind of model"] == (
        "3 of 6 within; missed: messages → claude-sonnet-4.5, messages → gpt-4.1, responses → gpt-4.1",
        "MISS",
    )
    report = render(results, quick=True)
    assert "## Each client API on each kind of model (`routes`)" in report
    assert (
        "| responses → gpt-5.3-codex | `/responses` (native) | 1.00 | 1.00 | 0.450 | "
        "chat passthrough + noise: ≤ 1.05 ms p50, ≤ 0.50 ms/chunk | 0 | **PASS** |"
    ) in report
    assert (
        "| chat → gpt-5.3-codex | `/responses` | 0.90 | 0.90 | 0.900 | ≤ 1 ms p50, ≤ 1 ms/chunk | 0 | **PASS** |"
        in report
    )
    data = to_json(results, quick=True)
    assert [route["status"] for route in data["routes"]] == ["PASS", "PASS", "MISS", "PASS", "MISS", "MISS"]
    assert data["routes"][1]["goal"]["p50_ms"] == 1.05
