"""The OpenAI-compatible proxy end to end: the official openai client against proxyd against the fake upstream."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator

import aiohttp
import openai
import pytest

from bench.fake_upstream import FakeUpstream
from proxyd.appkeys import RESOLVER, TOKENS, USAGE
from proxyd.config import Config
from proxyd.keys.records import ApiKey
from proxyd.upstream.github import copilot_api_base
from tests import proxy_clients
from tests.conftest import RunningProxy, run_proxy
from tests.proxy_clients import ClientFactory, leave_mid_stream, openai_clients

GITHUB_TOKEN = "gho_proxytest000000000000000000000000001"


async def add_key(proxy: RunningProxy, token: str = GITHUB_TOKEN, *, default: bool = True) -> ApiKey:
    return await proxy_clients.add_key(proxy, token, default=default)


@pytest.fixture
async def client() -> AsyncIterator[ClientFactory]:
    async with openai_clients(GITHUB_TOKEN) as make:
        yield make


async def flushed(proxy: RunningProxy) -> None:
    assert await proxy.app[USAGE].flush()


async def test_streamed_completion_counts_usage(client: ClientFactory, proxy: RunningProxy) -> None:
    api_key = await add_key(proxy)
    stream = await client(proxy).chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].usage is not None
    await flushed(proxy)
    stored = await proxy.store.get(api_key.id)
    assert stored.usage_count == 1 and stored.last_used is not None
    async with aiohttp.ClientSession() as http, http.get(f"{proxy.base_url}/admin/logs") as r:
        (entry,) = (await r.json())["logs"]
    usage = chunks[-1].usage
    assert (entry["apiKeyId"], entry["endpoint"], entry["model"], entry["status"]) == (
        api_key.id,
        "/chat/completions",
        "gpt-4o",
        200,
    )
    assert (entry["promptTokens"], entry["completionTokens"], entry["totalTokens"]) == (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.total_tokens,
    )


async def test_every_route_with_the_openai_client(
    client: ClientFactory, proxy: RunningProxy, sqlite_only: None
) -> None:
    await add_key(proxy)
    for base in ("/v1", "/api"):
        ai = client(proxy, base=base)
        completion = await ai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
        assert completion.choices[0].message.content
        assert completion.usage is not None and completion.usage.total_tokens > 0
        models = await ai.models.list()
        assert any(m.id == "gpt-4o" for m in models.data)
        embedding = await ai.embeddings.create(model="text-embedding-3-small", input="hello")
        assert len(embedding.data[0].embedding) > 0
        response = await ai.responses.create(model="gpt-4o", input="hello")
        assert response.output_text
        events = [e.type async for e in await ai.responses.create(model="gpt-4o", input="hi", stream=True)]
        assert events[-1] == "response.completed"
    await flushed(proxy)
    assert (await proxy.store.find_all())[0].usage_count == 10


async def test_sync_client(client: ClientFactory, proxy: RunningProxy, sqlite_only: None) -> None:
    await add_key(proxy)

    def call() -> str:
        sync = openai.OpenAI(base_url=proxy.url + "/v1", api_key=GITHUB_TOKEN, max_retries=0, timeout=10)
        stream = sync.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True)
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    assert await asyncio.to_thread(call)


async def test_upstream_sees_copilot_headers_only(proxy: RunningProxy, sqlite_only: None) -> None:
    await add_key(proxy)
    async with aiohttp.ClientSession() as http:
        body = {
            "model": "gpt-4o",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                    ],
                },
                {"role": "assistant", "content": "a cat"},
            ],
        }
        headers = {"Authorization": f"Bearer {GITHUB_TOKEN}", "Cookie": "session=secret", "X-Custom": "1"}
        async with http.post(f"{proxy.url}/api/chat/completions", json=body, headers=headers) as r:
            assert r.status == 200
        plain = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        async with http.post(f"{proxy.url}/api/chat/completions", json=plain, headers=headers) as r:
            assert r.status == 200
    first, second = proxy.upstream.state.requests_to("/chat/completions")
    token = first.headers["Authorization"].removeprefix("Bearer ")
    assert proxy.upstream.state.copilot_token_status(token) == "valid"
    assert GITHUB_TOKEN not in str(dict(first.headers))
    assert "Cookie" not in first.headers and "X-Custom" not in first.headers
    assert first.headers["copilot-integration-id"] == "vscode-chat"
    assert first.headers["editor-version"] and first.headers["openai-intent"]
    assert first.headers["x-initiator"] == "agent" and second.headers["x-initiator"] == "user"
    assert first.headers["copilot-vision-request"] == "true" and "copilot-vision-request" not in second.headers
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert first.json == body


@pytest.mark.parametrize("authorization", [None, "Bearer ", "Bearer _", "token _"])
async def test_default_key_selection(proxy: RunningProxy, sqlite_only: None, authorization: str | None) -> None:
    await add_key(proxy)
    headers = {"Authorization": authorization} if authorization is not None else {}
    async with aiohttp.ClientSession() as http, http.get(f"{proxy.url}/v1/models", headers=headers) as r:
        assert r.status == 200


async def test_token_scheme_and_unknown_keys(proxy: RunningProxy, sqlite_only: None) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{proxy.url}/api/models") as r:
            assert r.status == 401
            assert (await r.json())["statusCode"] == 401
        await add_key(proxy, default=False)
        async with http.get(f"{proxy.url}/api/models", headers={"Authorization": f"token {GITHUB_TOKEN}"}) as r:
            assert r.status == 200
        async with http.get(f"{proxy.url}/api/models", headers={"Authorization": "Bearer gho_wrong_key_123"}) as r:
            assert r.status == 401
            body = await r.json()
            assert body["error"] == "Unauthorized" and "gho_wrong" not in str(body)


async def test_key_lookups_are_cached(client: ClientFactory, proxy: RunningProxy, sqlite_only: None) -> None:
    await add_key(proxy)
    ai = client(proxy)
    for _ in range(5):
        await ai.models.list()
    resolver = proxy.app[RESOLVER]
    assert resolver.misses == 1 and resolver.hits == 4


async def test_one_exchange_for_concurrent_requests(client: ClientFactory, proxy: RunningProxy) -> None:
    api_key = await add_key(proxy)
    ai = client(proxy)
    await asyncio.gather(*(ai.models.list() for _ in range(10)))
    assert proxy.upstream.state.exchange_count(GITHUB_TOKEN) == 1
    await proxy.app[TOKENS].drain()  # the token is persisted in the background
    stored = await proxy.store.get(api_key.id)
    assert stored.meta is not None
    assert stored.meta.token == proxy.app[TOKENS]._cache[api_key.id].token
    assert stored.meta.expires_at > 1_000_000_000_000  # epoch ms, from Unix seconds
    assert (stored.meta.chat_quota, stored.meta.completions_quota) == (50, 2000)


async def test_restart_reuses_the_persisted_token(
    client: ClientFactory, proxy: RunningProxy, upstream: FakeUpstream
) -> None:
    await add_key(proxy)
    await client(proxy).models.list()
    await proxy.app[TOKENS].drain()
    async with run_proxy(proxy.config, upstream) as again:
        await client(again).models.list()
    assert upstream.state.exchange_count(GITHUB_TOKEN) == 1


async def test_expired_copilot_token_is_refreshed_once(
    client: ClientFactory, proxy: RunningProxy, sqlite_only: None
) -> None:
    await add_key(proxy)
    ai = client(proxy)
    await ai.models.list()
    proxy.upstream.state.expire_all_copilot_tokens()
    await ai.models.list()
    assert proxy.upstream.state.exchange_count(GITHUB_TOKEN) == 2


async def test_token_refreshed_ahead_of_expiry(client: ClientFactory, proxy: RunningProxy, sqlite_only: None) -> None:
    await add_key(proxy)
    proxy.upstream.state.copilot_token_ttl = 200  # inside the refresh margin: always refresh
    proxy.upstream.state.refresh_in = 0  # no hint: proxyd refreshes 5 minutes ahead
    ai = client(proxy)
    await ai.models.list()
    await ai.models.list()
    assert proxy.upstream.state.exchange_count(GITHUB_TOKEN) == 2


async def test_upstream_errors_pass_through(proxy: RunningProxy, sqlite_only: None) -> None:
    await add_key(proxy)
    state = proxy.upstream.state
    state.fail_next(
        429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"retry-after": "7"}, path="/chat/completions"
    )
    async with aiohttp.ClientSession() as http:
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}
        async with http.post(f"{proxy.url}/v1/chat/completions", json=body) as r:
            assert r.status == 429
            assert r.headers["retry-after"] == "7"
            assert (await r.json())["error"]["message"] == "slow down"
        state.fail_next(503, {"error": {"message": "overloaded"}}, path="/chat/completions")
        async with http.post(f"{proxy.url}/v1/chat/completions", json=body) as r:
            assert r.status == 503
            assert (await r.json())["error"]["message"] == "overloaded"
    await flushed(proxy)
    assert (await proxy.store.find_all())[0].usage_count == 0  # failures are logged, not counted


async def test_bad_request_bodies(proxy: RunningProxy, sqlite_only: None) -> None:
    await add_key(proxy)
    async with aiohttp.ClientSession() as http:
        for data in (b"{not json", b"", b"[1, 2]"):
            headers = {"Content-Type": "application/json"}
            async with http.post(f"{proxy.url}/v1/chat/completions", data=data, headers=headers) as r:
                assert r.status == 400
                assert (await r.json())["error"]["type"] == "invalid_request_error"  # OpenAI's shape under /v1


async def test_keyless_requests_must_be_json(proxy: RunningProxy, sqlite_only: None) -> None:
    """A web page could POST text/plain to the default key without a CORS preflight; JSON needs one."""
    await add_key(proxy)
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}'
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{proxy.url}/v1/chat/completions", data=body, headers={"Content-Type": "text/plain"}
        ) as r:
            assert r.status == 415
        async with http.post(
            f"{proxy.url}/v1/chat/completions",
            data=body,
            headers={"Content-Type": "text/plain", "Authorization": f"Bearer {GITHUB_TOKEN}"},
        ) as r:
            assert r.status == 200  # a client that names its key is no cross-site form
    assert len(proxy.upstream.state.requests_to("/chat/completions")) == 1


@pytest.fixture
def small_body_config(config: Config) -> Config:
    return dataclasses.replace(config, max_body_bytes=4096)


async def test_oversized_body_is_413(small_body_config: Config, upstream: FakeUpstream, sqlite_only: None) -> None:
    async with run_proxy(small_body_config, upstream) as proxy:
        await add_key(proxy)
        async with aiohttp.ClientSession() as http:
            body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 10_000}]}
            async with http.post(f"{proxy.url}/v1/chat/completions", json=body) as r:
                assert r.status == 413
                assert (await r.json())["error"]["type"] == "invalid_request_error"
    assert upstream.state.requests_to("/chat/completions") == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_upstream_is_502(config: Config, upstream: FakeUpstream, sqlite_only: None) -> None:
    broken = dataclasses.replace(config, copilot_api_url=f"http://127.0.0.1:{_closed_port()}")
    async with run_proxy(broken, upstream) as proxy:
        await add_key(proxy)
        async with aiohttp.ClientSession() as http, http.get(f"{proxy.url}/v1/models") as r:
            assert r.status == 502
            error = (await r.json())["error"]
            assert error["type"] == "server_error" and error["message"].startswith("Copilot API unreachable")


async def test_upstream_timeout_is_504(config: Config, upstream: FakeUpstream, sqlite_only: None) -> None:
    slow = dataclasses.replace(config, upstream_timeout=0.3)
    upstream.state.stall_seconds = 3
    upstream.state.stall_path = "/models"
    async with run_proxy(slow, upstream) as proxy:
        await add_key(proxy)
        async with aiohttp.ClientSession() as http, http.get(f"{proxy.url}/v1/models") as r:
            assert r.status == 504
            error = (await r.json())["error"]
            assert (error["type"], error["message"]) == ("server_error", "Copilot API did not answer in time")


async def test_stream_dying_mid_way_ends_promptly(
    client: ClientFactory, proxy: RunningProxy, sqlite_only: None
) -> None:
    await add_key(proxy)
    proxy.upstream.state.stream_chunks = 10
    proxy.upstream.state.reset_mid_stream_after = 3
    stream = await client(proxy).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True
    )
    received: list[object] = []

    async def consume() -> None:
        async with asyncio.timeout(5):
            async for chunk in stream:
                received.append(chunk)

    with pytest.raises(openai.APIError, match="upstream connection lost"):
        await consume()
    assert received


async def test_client_disconnect_cancels_upstream(proxy: RunningProxy) -> None:
    api_key = await add_key(proxy)
    async with aiohttp.ClientSession() as http:
        await leave_mid_stream(proxy, http)  # returns once the upstream saw proxyd hang up: accounted by then
    await flushed(proxy)
    assert (await proxy.store.get(api_key.id)).usage_count == 1


def test_copilot_api_base_selection() -> None:
    config = Config()
    token = "tid=1;exp=2;proxy-ep=proxy.business.githubcopilot.com;chat=1"
    assert copilot_api_base(config, token, "https://api.enterprise.githubcopilot.com") == (
        "https://api.enterprise.githubcopilot.com"
    )
    assert copilot_api_base(config, token, "https://evil.example.com") == "https://api.business.githubcopilot.com"
    assert copilot_api_base(config, "tid=1") == "https://api.githubcopilot.com"
    override = dataclasses.replace(config, copilot_api_url="http://127.0.0.1:9")
    assert copilot_api_base(override, token, "https://api.x.githubcopilot.com") == "http://127.0.0.1:9"
