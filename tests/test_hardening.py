"""Bad input and faults: never a 500, nothing changed by a rejected request, the daemon keeps serving."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import http.client
import json
import random
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import openai
import orjson
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxyd.appkeys import DATABASE, RESOLVER, USAGE
from proxyd.config import Config
from proxyd.models import ApiKey
from tests.conftest import RunningProxy, run_proxy
from tests.fake_upstream import FakeUpstream, running_fake_upstream

T = TypeVar("T")
GITHUB_TOKEN = "gho_hardening000000000000000000000000001"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


@dataclass
class ThreadedProxy:
    """proxyd and the fake upstream on an event loop of their own, for synchronous (hypothesis) tests."""

    proxy: RunningProxy
    loop: asyncio.AbstractEventLoop

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def snapshot(self) -> list[ApiKey]:
        return self.call(self.proxy.store.find_all())

    def request(self, method: str, path: str, body: bytes, content_type: str | None) -> int:
        host, port = self.proxy.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            headers = {"Content-Type": content_type} if content_type else {}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            if response.status >= 400:
                error = orjson.loads(payload)
                assert error["statusCode"] == response.status and error["message"], payload
            return response.status
        finally:
            connection.close()


@pytest.fixture
def threaded(config: Config) -> Iterator[ThreadedProxy]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    started: concurrent.futures.Future[ThreadedProxy] = concurrent.futures.Future()
    stop = asyncio.Event()

    async def serve() -> None:
        async with running_fake_upstream() as upstream, run_proxy(config, upstream) as proxy:
            upstream.state.add_github_token(GITHUB_TOKEN)
            started.set_result(ThreadedProxy(proxy, loop))
            await stop.wait()

    task = asyncio.run_coroutine_threadsafe(serve(), loop)
    try:
        yield started.result(timeout=60)
    finally:
        loop.call_soon_threadsafe(stop.set)
        task.result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


def dumps(value: object) -> bytes:
    return json.dumps(value).encode()  # not orjson: integers beyond 64 bits are good input too


names = st.text(max_size=120) | st.sampled_from(["Robert'); DROP TABLE api_keys;--", "%s %(x)s :id $1", "🔑" * 101])
bodies = st.one_of(
    st.fixed_dictionaries({"name": names | json_values, "key": st.text(max_size=600) | json_values}).map(dumps),
    st.fixed_dictionaries({"id": st.text(max_size=300) | json_values}).map(dumps),
    json_values.map(dumps),
    st.binary(max_size=200),
    st.just(b"\xff\xfe{not utf-8"),
)
ids = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40).map(lambda s: quote(s, safe="")) | st.sampled_from(
    ["..", "%00", "default", "device-flow", "0" * 300]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(
        [
            ("POST", "/api/api-keys"),
            ("PATCH", "/api/api-keys/{id}"),
            ("DELETE", "/api/api-keys/{id}"),
            ("POST", "/api/api-keys/default"),
            ("POST", "/api/api-keys/{id}/refresh-meta"),
            ("GET", "/api/admin/logs?page={id}&limit={id}"),
            ("POST", "/api/admin/login"),
        ]
    ),
    key_id=ids,
    body=bodies,
    content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", None]),
)
def test_fuzzed_admin_input(
    threaded: ThreadedProxy, route: tuple[str, str], key_id: str, body: bytes, content_type: str | None
) -> None:
    method, template = route
    before = threaded.snapshot()
    status = threaded.request(method, template.replace("{id}", key_id), body, content_type)
    assert status < 500
    if status >= 400:
        assert threaded.snapshot() == before


def test_sql_metacharacters_round_trip_through_the_api(threaded: ThreadedProxy) -> None:
    name = "Robert'); DROP TABLE api_keys;-- %s %(x)s :id $1 \\ \" ` ü 🔑"
    body = orjson.dumps({"name": name, "key": "gho_meta'\"chars%s:x$1"})
    assert threaded.request("POST", "/api/api-keys", body, "application/json") == 201
    assert [k.name for k in threaded.snapshot()] == [name]


async def test_concurrent_admin_writes_stay_consistent(proxy: RunningProxy) -> None:
    async with aiohttp.ClientSession() as http:

        async def create(i: int) -> str | None:
            body = {"name": f"k{i}", "key": f"gho_concurrent_admin_{i:04d}"}
            async with http.post(f"{proxy.url}/api/api-keys", json=body) as r:
                return str((await r.json())["id"]) if r.status == 201 else None

        ids = [i for i in await asyncio.gather(*(create(i) for i in range(12))) if i]
        assert len(ids) == 12
        rng = random.Random(7)

        async def churn(key_id: str) -> None:
            for action in rng.sample(["rename", "default", "default", "refresh", "delete"], 5):
                if action == "rename":
                    request = http.patch(f"{proxy.url}/api/api-keys/{key_id}", json={"name": "renamed"})
                elif action == "default":
                    request = http.post(f"{proxy.url}/api/api-keys/default", json={"id": key_id})
                elif action == "refresh":
                    request = http.post(f"{proxy.url}/api/api-keys/{key_id}/refresh-meta")
                else:
                    request = http.delete(f"{proxy.url}/api/api-keys/{key_id}")
                async with request as r:
                    assert r.status < 500 or r.status == 502, await r.text()

        await asyncio.gather(*(churn(i) for i in ids))
    database = proxy.app[DATABASE]
    orphans = await database.fetch_one(database.queries["count_orphaned_meta"])
    defaults = await database.fetch_one(database.queries["count_default_keys"])
    assert orphans is not None and int(orphans["n"]) == 0
    assert defaults is not None and int(defaults["n"]) <= 1
    assert len(await proxy.store.find_all()) == 0


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
    proxy.upstream.state.add_github_token(GITHUB_TOKEN)
    await proxy.store.set_default((await proxy.store.create("faults", GITHUB_TOKEN)).id)
    proxy.app[RESOLVER].invalidate()
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

        state.fail_next(500, {"error": {"message": "boom"}}, path="/chat/completions")
        assert (await chat(CHAT))[0] == 500

        state.reset_mid_stream_after = 1
        status, data = await chat(stream)
        assert status == 200 and b"upstream connection lost" in data
        state.reset_mid_stream_after = None

        for _ in range(3):  # and afterwards, business as usual
            status, data = await chat(stream)
            assert status == 200 and data.rstrip().endswith(b"data: [DONE]")


@pytest.fixture
async def broken_copilot() -> AsyncIterator[str]:
    """A Copilot API that sends half an answer (JSON, or an SSE event), then drops the connection."""

    async def half_answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        response.content_type = "application/json"
        await response.prepare(request)
        await response.write(b'{"id":"chatcmpl-1","choices":[{"message":{"content":"cut')
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
        return await (half_event(request) if body.get("stream") else half_answer(request))

    app = web.Application()
    app.router.add_post("/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_truncated_json_answer_is_not_passed_off_as_complete(
    config: Config, upstream: FakeUpstream, broken_copilot: str, sqlite_only: None
) -> None:
    async with run_proxy(dataclasses.replace(config, copilot_api_url=broken_copilot), upstream) as proxy:
        upstream.state.add_github_token(GITHUB_TOKEN)
        await proxy.store.set_default((await proxy.store.create("k", GITHUB_TOKEN)).id)
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientPayloadError):
                async with http.post(f"{proxy.url}/v1/chat/completions", json=CHAT) as r:
                    await r.read()
            async with http.get(f"{proxy.url}/healthz") as r:  # and the daemon is fine
                assert r.status == 200


async def test_request_log_records_what_the_client_got(proxy: RunningProxy, sqlite_only: None) -> None:
    proxy.upstream.state.add_github_token(GITHUB_TOKEN)
    await proxy.store.set_default((await proxy.store.create("k", GITHUB_TOKEN)).id)
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
    config: Config, upstream: FakeUpstream, broken_copilot: str, sqlite_only: None
) -> None:
    async with run_proxy(dataclasses.replace(config, copilot_api_url=broken_copilot), upstream) as proxy:
        upstream.state.add_github_token(GITHUB_TOKEN)
        await proxy.store.set_default((await proxy.store.create("k", GITHUB_TOKEN)).id)
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
