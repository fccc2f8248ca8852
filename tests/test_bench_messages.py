"""The benchmark's /v1/messages and client-key measurements: their bodies, their stream timing, their report."""

from __future__ import annotations

import json

import aiohttp
import pytest

from bench import loadgen
from bench.phase_client_keys import BY_CLIENT_KEY, BY_GITHUB_TOKEN, ClientKeyCost
from bench.phase_http import AddedLatency, Streaming, StreamSide, ThroughputRun
from bench.report import render
from bench.results import Results, targets, to_json
from bench.services import (
    CHAT_FOR_MESSAGES,
    MESSAGES,
    MESSAGES_BODY,
    MESSAGES_STREAM_BODY,
    TRANSLATED_BODY,
    TRANSLATED_STREAM_BODY,
    Target,
)
from bench.stats import Summary
from proxyd.translate.messages_to_chat.request import chat_request as to_chat_request
from proxyd.upstream.model_names import copilot_model
from tests.conftest import RunningProxy

GITHUB_TOKEN = "gho_benchmessages000000000000000000000001"


@pytest.mark.parametrize(
    ("anthropic", "chat"), [(MESSAGES_BODY, TRANSLATED_BODY), (MESSAGES_STREAM_BODY, TRANSLATED_STREAM_BODY)]
)
def test_the_direct_side_sends_what_proxyd_makes_of_the_anthropic_body(anthropic: str, chat: str) -> None:
    body = json.loads(anthropic)
    assert to_chat_request(body, copilot_model(body["model"], {})) == json.loads(chat)


async def test_proxyd_sends_the_fake_the_direct_sides_chat_completion(proxy: RunningProxy, sqlite_only: None) -> None:
    """claude-sonnet-4 is served on chat completions only: the phase measures the translated route."""
    state = proxy.upstream.state
    state.add_github_token(GITHUB_TOKEN)
    await proxy.store.create("bench", GITHUB_TOKEN)
    proxied = Target("proxyd", f"{proxy.url}/v1", GITHUB_TOKEN, route=MESSAGES)
    async with aiohttp.ClientSession() as http:
        for body, sent in ((MESSAGES_BODY, TRANSLATED_BODY), (MESSAGES_STREAM_BODY, TRANSLATED_STREAM_BODY)):
            state.clear_requests()
            async with http.post(proxied.url, data=body, headers=proxied.headers()) as response:
                assert response.status == 200, await response.text()
                await response.read()
            posted = [(r.path, r.json) for r in state.requests if r.method == "POST"]
            assert posted == [(CHAT_FOR_MESSAGES.path, json.loads(sent))]


async def test_a_stream_has_one_chunk_per_copilot_content_chunk_on_both_sides(
    proxy: RunningProxy, sqlite_only: None
) -> None:
    state = proxy.upstream.state
    state.stream_chunks = 4
    state.add_github_token(GITHUB_TOKEN)
    await proxy.store.create("bench", GITHUB_TOKEN)
    copilot_token = state.issue_copilot_token(GITHUB_TOKEN).token
    direct = Target("direct", proxy.upstream.url, copilot_token, route=CHAT_FOR_MESSAGES)
    proxied = Target("proxyd", f"{proxy.url}/v1", GITHUB_TOKEN, route=MESSAGES)
    results = {}
    for target in (direct, proxied):
        spec = target.load("stream", target.route.stream_body, concurrency=1, requests=2, seconds=10)
        results[target.name] = await loadgen.run(spec)
    for result in results.values():
        assert (result["streams"], result["errors"], result["incomplete"]) == (2, 0, 0)
        assert result["chunks_per_stream"] == 4
        assert result["gap"]["count"] == 2 * 3
    # message_start, ping, content_block_start, 4 deltas, content_block_stop, message_delta, message_stop
    assert results["proxyd"]["events_per_stream"] == 10


META = {
    "command": "python -m bench",
    "mode": "quick",
    "duration_s": 1.0,
    "started": "now",
    "cpus": 1,
    "cpu_model": "cpu",
    "memory_gb": 1.0,
    "kernel": "6",
    "python": "3",
    "aiohttp": "3",
    "commit": "abc",
    "log_level": "info",
    "loadgen": "bench.loadgen (aiohttp)",
    "loadavg_start": 0.0,
    "loadavg_end": 0.0,
    "proxyd_command": "/venv/bin/proxyd",
}


def _summary(ms: float) -> Summary:
    return Summary(count=10, mean_ms=ms, p50_ms=ms, p90_ms=ms, p99_ms=ms, max_ms=ms)


def _added(direct_ms: float, proxyd_ms: float) -> AddedLatency:
    return AddedLatency(
        rate=200, seconds=1, direct=_summary(direct_ms), proxyd=_summary(proxyd_ms), errors=0, max_send_lateness_ms=0
    )


def _side(gap_ms: float) -> StreamSide:
    first = _summary(3.0)
    return StreamSide(10, 0, 0, 10.0, ttfb=first, gap=_summary(gap_ms), first_chunk=first, chunks_per_stream=4.0)


def test_messages_figures_are_judged_by_the_chat_completion_goals_and_client_keys_reported() -> None:
    runs = [
        ThroughputRun(BY_GITHUB_TOKEN, 4, 1000, 0, 500.0, _summary(2.0), cpu_us_per_request=400.0),
        ThroughputRun(BY_CLIENT_KEY, 4, 1000, 0, 500.0, _summary(2.1), cpu_us_per_request=420.0),
        ThroughputRun(BY_CLIENT_KEY, 4, 3000, 0, 400.0, _summary(2.1), cpu_us_per_request=400.0),
        ThroughputRun(BY_GITHUB_TOKEN, 4, 3000, 0, 500.0, _summary(2.0), cpu_us_per_request=400.0),
    ]
    client_keys = ClientKeyCost(github_token=_added(1.0, 1.5), client_key=_added(1.0, 1.7), runs=runs)
    results = Results(
        meta=META,
        messages=_added(1.0, 2.5),
        messages_streaming=Streaming(4, chunk_delay_ms=20, concurrency=1, direct=_side(20.0), proxyd=_side(20.5)),
        client_keys=client_keys,
    )
    judged = {t.name: (t.measured, t.status) for t in targets(results, quick=True)}
    assert judged["/v1/messages added latency p50"] == ("1.50 ms at 200 req/s", "MISS")
    assert judged["/v1/messages added latency p99"][1] == "PASS"
    assert judged["/v1/messages streaming: added delay per chunk"] == ("0.500 ms mean (p99 +0.50 ms)", "PASS")
    assert judged["added latency p50"][1] == "N/A"  # the chat completion targets stay apart
    assert client_keys.extra_cpu_us_per_request == 5.0  # each run weighted by its requests
    assert client_keys.rps_ratio == 0.9
    report = render(results, quick=True)
    for heading in ("## Anthropic Messages API", "## Client keys against GitHub tokens", "## Streaming Anthropic"):
        assert heading in report
    assert "A client key against a GitHub token: p50 +0.20 ms" in report
    data = to_json(results, quick=True)
    assert data["messages_streaming"]["added_gap_mean_ms"] == 0.5
    assert data["client_keys"]["extra_cpu_us_per_request"] == 5.0
