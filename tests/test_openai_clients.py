"""What OpenAI SDKs see: errors in OpenAI's shape under /v1, ``models.retrieve``, the README's first steps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest

from proxyd.http.json_io import error_renderer, nest_error, openai_error
from tests import proxy_clients
from tests.conftest import RunningProxy
from tests.proxy_clients import ClientFactory, openai_clients

GITHUB_TOKEN = "gho_openaiclients00000000000000000000001"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def client() -> AsyncIterator[ClientFactory]:
    async with openai_clients(GITHUB_TOKEN) as make:
        yield make


async def add_key(proxy: RunningProxy) -> None:
    await proxy_clients.add_key(proxy, GITHUB_TOKEN)


async def fetch(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any, Any]:
    async with http.request(method, url, **kwargs) as response:
        return response.status, await response.json(content_type=None), response.headers


def openai_shape(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


# --------------------------------------------------------------------------- error shapes


def test_the_error_shape_follows_the_route_prefix() -> None:
    assert error_renderer("/v1") is openai_error
    assert error_renderer("/v1/chat/completions") is openai_error
    for path in ("/api/models", "/v10/models", "/v1x", "/healthz", "/"):
        assert error_renderer(path) is nest_error, path


async def test_a_bad_key_shows_its_reason_in_the_sdk(
    client: ClientFactory, proxy: RunningProxy, sqlite_only: None
) -> None:
    await add_key(proxy)
    with pytest.raises(openai.AuthenticationError) as raised:
        await client(proxy, key="gho_not_a_stored_key").models.list()
    error = raised.value
    assert "Invalid API key" in str(error)  # before: only "Error code: 401"
    assert (error.status_code, error.type, error.code) == (401, "invalid_request_error", "invalid_api_key")
    assert error.body == openai_shape("Invalid API key", code="invalid_api_key")["error"]
    assert "gho_not_a_stored_key" not in str(error.response.text)


async def test_no_default_key_says_so(client: ClientFactory, proxy: RunningProxy, sqlite_only: None) -> None:
    with pytest.raises(openai.AuthenticationError, match="No default API key is set"):
        await client(proxy, key="_").chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )


async def test_malformed_json_is_400_in_openai_shape(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    await add_key(proxy)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {GITHUB_TOKEN}"}
    status, body, _ = await fetch(http, "POST", f"{proxy.url}/v1/chat/completions", data=b"{oops", headers=headers)
    assert status == 400
    assert body == openai_shape(body["error"]["message"]) and body["error"]["message"].startswith("Malformed JSON: ")
    status, body, _ = await fetch(http, "POST", f"{proxy.url}/v1/chat/completions", data=b"[1]", headers=headers)
    assert (status, body) == (400, openai_shape("Request body must be a JSON object"))


async def test_a_bad_body_shows_its_reason_in_the_sdk(
    client: ClientFactory, proxy: RunningProxy, sqlite_only: None
) -> None:
    await add_key(proxy)
    with pytest.raises(openai.BadRequestError, match="Request body must be a JSON object"):
        await client(proxy).post("/chat/completions", body=[CHAT], cast_to=object)


async def test_unknown_routes_and_methods_under_v1(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    status, body, _ = await fetch(http, "GET", f"{proxy.url}/v1/nope")
    assert (status, body) == (404, openai_shape("Cannot GET /v1/nope"))
    status, body, headers = await fetch(http, "GET", f"{proxy.url}/v1/chat/completions")
    assert (status, body) == (405, openai_shape("Method Not Allowed"))
    assert headers["Allow"] == "POST"


async def test_github_refusing_a_key_shows_why(client: ClientFactory, proxy: RunningProxy, sqlite_only: None) -> None:
    token = "gho_nocopilot0000000000000000000000000001"
    proxy.upstream.state.add_github_token(token, has_copilot=False, denied_status=403)
    await proxy.store.create("no copilot", token)
    with pytest.raises(openai.AuthenticationError, match=r"GitHub refused this API key for Copilot \(403\)"):
        await client(proxy, key=token).models.list()


async def test_legacy_prefix_keeps_the_nestjs_shape(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    await add_key(proxy)
    bad = {"Authorization": "Bearer gho_not_a_stored_key"}
    status, body, _ = await fetch(http, "GET", f"{proxy.url}/api/models", headers=bad)
    assert (status, body) == (401, {"statusCode": 401, "message": "Invalid API key", "error": "Unauthorized"})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {GITHUB_TOKEN}"}
    status, body, _ = await fetch(http, "POST", f"{proxy.url}/api/chat/completions", data=b"[1]", headers=headers)
    assert (status, body) == (
        400,
        {"statusCode": 400, "message": "Request body must be a JSON object", "error": "Bad Request"},
    )
    status, body, _ = await fetch(http, "GET", f"{proxy.url}/api/nope")
    assert (status, body) == (404, {"statusCode": 404, "message": "Cannot GET /api/nope", "error": "Not Found"})


async def test_upstream_error_bodies_pass_through_unchanged(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    await add_key(proxy)
    copilot_says = {"message": "quota exceeded", "code": "quota_exceeded"}  # not OpenAI's shape: left alone
    proxy.upstream.state.fail_next(402, copilot_says, path="/chat/completions")
    status, body, _ = await fetch(http, "POST", f"{proxy.url}/v1/chat/completions", json=CHAT)
    assert (status, body) == (402, copilot_says)


# --------------------------------------------------------------------------- models.retrieve


async def test_models_retrieve(client: ClientFactory, proxy: RunningProxy, sqlite_only: None) -> None:
    await add_key(proxy)
    ai = client(proxy)
    model = await ai.models.retrieve("gpt-4o")
    assert model.id == "gpt-4o"
    listed = {m["id"]: m for m in proxy.upstream.state.models}
    assert model.model_dump(exclude_unset=True) == listed["gpt-4o"]  # Copilot's model object, as it sent it
    with pytest.raises(openai.NotFoundError) as raised:
        await ai.models.retrieve("gpt-5-nonexistent")
    assert "The model 'gpt-5-nonexistent' does not exist" in str(raised.value)
    assert (raised.value.type, raised.value.code, raised.value.param) == (
        "invalid_request_error",
        "model_not_found",
        "model",
    )
    # Each retrieve fetches Copilot's list with the key's Copilot token, exchanged once.
    assert len(proxy.upstream.state.requests_to("/models")) == 2
    assert proxy.upstream.state.exchange_count(GITHUB_TOKEN) == 1


async def test_models_retrieve_needs_a_key(client: ClientFactory, proxy: RunningProxy, sqlite_only: None) -> None:
    with pytest.raises(openai.AuthenticationError):
        await client(proxy, key="gho_not_a_stored_key").models.retrieve("gpt-4o")
    assert proxy.upstream.state.requests_to("/models") == []


async def test_models_retrieve_under_the_legacy_prefix(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    await add_key(proxy)
    status, body, _ = await fetch(http, "GET", f"{proxy.url}/api/models/claude-sonnet-4")
    assert status == 200 and body["id"] == "claude-sonnet-4"
    status, body, _ = await fetch(http, "GET", f"{proxy.url}/api/models/vendor/model")  # ids may hold a "/"
    assert (status, body) == (
        404,
        {"statusCode": 404, "message": "The model 'vendor/model' does not exist", "error": "Not Found"},
    )


async def test_models_retrieve_passes_upstream_errors_through(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    await add_key(proxy)
    proxy.upstream.state.fail_next(503, {"error": {"message": "overloaded"}}, {"retry-after": "3"}, path="/models")
    status, body, headers = await fetch(http, "GET", f"{proxy.url}/v1/models/gpt-4o")
    assert (status, body, headers["retry-after"]) == (503, {"error": {"message": "overloaded"}}, "3")


# --------------------------------------------------------------------------- README "First steps", literally


async def test_readme_first_steps(client: ClientFactory, proxy: RunningProxy, http: aiohttp.ClientSession) -> None:
    proxy.upstream.state.add_github_token(GITHUB_TOKEN)
    status, created, _ = await fetch(
        http, "POST", f"{proxy.url}/api/api-keys", json={"name": "laptop", "key": GITHUB_TOKEN}
    )
    assert status == 201 and created["isDefault"] is True  # the first key is the default
    ai = client(proxy, key="_")
    stream = await ai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Hello!"}], stream=True
    )
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
    assert text == proxy.upstream.state.completion_text
    status, second, _ = await fetch(
        http, "POST", f"{proxy.url}/api/api-keys", json={"name": "ci", "key": "gho_" + "c" * 36}
    )
    assert status == 201 and second["isDefault"] is False  # later keys leave the default alone
