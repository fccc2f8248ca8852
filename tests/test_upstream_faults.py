"""Slow clients and broken upstreams: a clear status, a request log that tells the truth, the daemon keeps serving."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import TypeVar

import aiohttp
import openai
import orjson
import pytest
from aiohttp import web

from bench.fake_upstream import FakeUpstream
from proxyd.appkeys import USAGE
from proxyd.config import Config
from proxyd.limits import WHOLE_ANSWER_MAX_BYTES
from tests.conftest import RunningProxy, run_proxy
from tests.proxy_clients import add_key

T = TypeVar("T")
GITHUB_TOKEN = "gho_hardening000000000000000000000000001"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def slow_client_config(config: Config) -> Config:
    return dataclasses.replace(config, client_timeout=0.5)


async def test_slow_client_is_cut_off(slow_client_config: Config, upstream: FakeUpstream, sqlite_only: None) -> None:
    async with run_proxy(slow_client_config, upstream) as proxy:
        await proxy.store.set_default((await proxy.store.create("slow", GITHUB_TOKEN)).id)
        host, port = proxy.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"model":'
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5)
        assert b" 408 " in status_line
        writer.close()


async def test_upstream_faults_leave_the_daemon_serving(proxy: RunningProxy, sqlite_only: None) -> None:
    await add_key(proxy, GITHUB_TOKEN, "faults", default=True)
    state = proxy.upstream.state
    stream = {**CHAT, "stream": True}
    async with aiohttp.ClientSession() as http:

        async def chat(body: Mapping[str, object]) -> tuple[int, bytes]:
            async with asyncio.timeout(10), http.post(f"{proxy.url}/v1/chat/completions", json=body) as r:
                return r.status, await r.read()

        state.omit_done = True
        status, data = await chat(stream)
        assert status == 200 and b"[DONE]" not in data and data.endswith(b"\n\n")
        state.omit_done = False

        state.fail_next(500, {"error": {"message": "boom"}}, path="/chat/completions", times=2)  # sent twice
        assert (await chat(CHAT))[0] == 500

        state.reset_mid_stream_after = 1
        status, data = await chat(stream)
        assert status == 200 and b"upstream connection lost" in data
        state.reset_mid_stream_after = None

        for _ in range(3):  # and afterwards, business as usual
            status, data = await chat(stream)
            assert status == 200 and data.rstrip().endswith(b"data: [DONE]")


LARGE_ANSWER_MODEL = "gpt-4o-large-answer"


@pytest.fixture
async def broken_copilot() -> AsyncIterator[str]:
    """A Copilot API that sends half an answer (JSON, or an SSE event), then drops the connection."""

    async def half_answer(request: web.Request, padding: int) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        await response.prepare(request)
        await response.write(b'{"id":"chatcmpl-1","padding":"' + b"x" * padding + b'",')
        await response.write(b'"choices":[{"message":{"content":"cut')
        assert request.transport is not None
        request.transport.abort()
        return response

    async def half_event(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        response.content_type = "text/event-stream"
        await response.prepare(request)
        chunk = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o",
            "choices": [{"index": 0, "delta": {"content": "hel"}, "finish_reason": None}],
        }
        await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await response.write(b'data: {"id":"c","choices":[{"delta":{"content":"lo')  # cut mid-event
        assert request.transport is not None
        request.transport.abort()
        return response

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if body.get("stream"):
            return await half_event(request)
        return await half_answer(request, WHOLE_ANSWER_MAX_BYTES if body["model"] == LARGE_ANSWER_MODEL else 0)

    app = web.Application()
    app.router.add_post("/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def broken_proxy(config: Config, upstream: FakeUpstream, broken_copilot: str) -> AsyncIterator[RunningProxy]:
    """proxyd in front of the broken Copilot API, with a default key."""
    async with run_proxy(dataclasses.replace(config, copilot_api_url=broken_copilot), upstream) as proxy:
        await add_key(proxy, GITHUB_TOKEN, "k", default=True)
        yield proxy


async def test_truncated_json_answer_is_not_passed_off_as_complete(
    broken_proxy: RunningProxy, sqlite_only: None
) -> None:
    proxy = broken_proxy
    async with aiohttp.ClientSession() as http:
        # Held until its end, which never came: nothing was sent yet, so the client gets a 502 of its own.
        async with http.post(f"{proxy.url}/v1/chat/completions", json=CHAT) as r:
            assert r.status == 502
            assert "connection lost mid-answer" in (await r.json())["error"]["message"]
        # Too large to hold, so streamed on as it came: the client sees its body cut short.
        async with http.post(f"{proxy.url}/v1/chat/completions", json={**CHAT, "model": LARGE_ANSWER_MODEL}) as r:
            assert r.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await r.read()
        async with http.get(f"{proxy.url}/healthz") as r:  # and the daemon is fine
            assert r.status == 200


async def test_request_log_records_what_the_client_got(proxy: RunningProxy, sqlite_only: None) -> None:
    await add_key(proxy, GITHUB_TOKEN, "k", default=True)
    proxy.upstream.state.fail_next(500, path="/copilot_internal/v2/token")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{proxy.url}/v1/chat/completions?secret=1", json=CHAT) as r:
            assert r.status == 502
        async with http.post(f"{proxy.url}/v1/chat/completions?secret=1", json=CHAT) as r:
            assert r.status == 200
        assert await proxy.app[USAGE].flush()
        async with http.get(f"{proxy.base_url}/admin/logs") as r:
            statuses = [entry["status"] for entry in (await r.json())["logs"]]
    assert statuses == [200, 502]
    assert all(not req.query for req in proxy.upstream.state.requests_to("/chat/completions"))


async def test_stream_cut_mid_event_ends_with_an_error_the_sdk_understands(
    broken_proxy: RunningProxy, sqlite_only: None
) -> None:
    proxy = broken_proxy
    async with openai.AsyncOpenAI(base_url=f"{proxy.url}/v1", api_key="_", max_retries=0) as ai:
        stream = await ai.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True
        )
        received: list[str] = []

        async def consume() -> None:
            async for chunk in stream:
                received.append(chunk.choices[0].delta.content or "")

        with pytest.raises(openai.APIError, match="upstream connection lost"):
            await consume()
    assert received == ["hel"]
