"""The benchmark's static upstream answers keep-alive and pipelined requests; the throughput target reads runs."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from bench.phase_http import AddedLatency, NonStreaming, ThroughputRun, _rounds
from bench.results import Results, targets
from bench.services import Target
from bench.static_upstream import RESPONSE, StaticHttp
from bench.stats import Summary

CHAT = b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'


async def _serve() -> tuple[asyncio.Server, int]:
    server = await asyncio.get_running_loop().create_server(StaticHttp, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_keep_alive_requests_get_the_fixed_completion() -> None:
    server, port = await _serve()
    async with server, aiohttp.ClientSession() as http:
        for _ in range(3):  # one pooled connection, reused
            async with http.post(f"http://127.0.0.1:{port}/chat/completions", data=CHAT) as response:
                assert response.status == 200
                body = await response.json()
        assert body["usage"]["total_tokens"] == 11
        assert body["choices"][0]["message"]["role"] == "assistant"


async def test_pipelined_requests_split_anywhere_each_get_one_answer() -> None:
    server, port = await _serve()
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = b"POST /chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(CHAT), CHAT)
        stream = request * 3
        for at in range(0, len(stream), 7):  # headers and bodies cut at odd places
            writer.write(stream[at : at + 7])
            await writer.drain()
        answers = await asyncio.wait_for(reader.readexactly(len(RESPONSE) * 3), 5)
        assert answers == RESPONSE * 3
        head, _, body = RESPONSE.partition(b"\r\n\r\n")
        assert b"Content-Length: %d" % len(body) in head
        assert json.loads(body)["object"] == "chat.completion"
        writer.close()
        await writer.wait_closed()


def _run(target: str, concurrency: int, rps: float) -> ThroughputRun:
    latency = Summary(count=1, mean_ms=1.0, p50_ms=1.0, p90_ms=1.0, p99_ms=1.0, max_ms=1.0)
    return ThroughputRun(target, concurrency, 100, 0, rps, latency)


def _keeps_up_target(runs: list[ThroughputRun]) -> tuple[str, str]:
    latency = Summary(count=1, mean_ms=1.0, p50_ms=1.0, p90_ms=1.0, p99_ms=1.0, max_ms=1.0)
    moderate = AddedLatency(rate=200, seconds=1, direct=latency, proxyd=latency, errors=0, max_send_lateness_ms=0.0)
    results = Results(meta={}, nonstreaming=NonStreaming(loadgen="wrk", runs=runs, moderate=moderate))
    row = next(t for t in targets(results, quick=True) if t.name.startswith("proxyd req/s"))
    return row.measured, row.status


def test_throughput_target_compares_the_highest_concurrency_with_the_lowest_above_one() -> None:
    runs = [_run("proxyd", 1, 900), _run("proxyd", 4, 1000), _run("proxyd", 64, 1100)]
    runs += [_run("proxyd-static", 4, 2000), _run("proxyd-static", 64, 2100), _run("direct", 64, 1)]
    measured, status = _keeps_up_target(runs)
    assert (measured, status) == ("1.10 x (proxyd), 1.05 x (proxyd-static)", "PASS")
    runs[-2] = _run("proxyd-static", 64, 1900)  # one proxied target losing throughput is a miss
    assert _keeps_up_target(runs)[1] == "MISS"


def test_the_two_keys_take_turns_beside_the_floor() -> None:
    floor, token, key = (Target(name, "http://127.0.0.1:1", "t") for name in ("floor", "token", "key"))
    names = [target.name for target in _rounds(2, floor, token, key)]
    assert names == ["floor", "token", "key", "key", "token", "floor", "floor", "key", "token", "token", "key", "floor"]
