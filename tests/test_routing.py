"""Routing by model, end to end: each client API reaches every model, natively or translated.

The fake upstream lists each model's ``supported_endpoints`` and refuses the
others, as Copilot does; the clients are the official ``openai`` and
``anthropic`` packages. Nine combinations (three client APIs by a model on each
endpoint), JSON and streamed, with a tool call and its result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import aiohttp
import anthropic
import openai
import orjson
import pytest

from bench.fake_upstream import FakeUpstream
from bench.phase_routes import ROUTES
from proxyd.config import Config
from tests import proxy_clients
from tests.conftest import RunningProxy
from tests.test_anthropic_messages import request_log

GITHUB_TOKEN = "gho_routingtest0000000000000000000000001"
TEXT = "Hello from the fake Copilot!"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
UPSTREAM_PATHS = {"chat": "/chat/completions", "responses": "/responses", "messages": "/v1/messages"}
CLIENT_PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses", "messages": "/v1/messages"}
# (the client's API, a model, the endpoint the fake serves it on): the nine combinations, as the benchmark runs them.
COMBINATIONS = list(ROUTES)


class Combination(NamedTuple):
    """One of the nine (client API, model, the endpoint the fake serves it on) routes, JSON or streamed."""

    client_api: str
    model: str
    endpoint: str
    stream: bool


@pytest.fixture(
    params=[Combination(*route, stream) for route in COMBINATIONS for stream in (False, True)],
    ids=lambda c: f"{c.client_api}-{c.model}-{c.endpoint}-{'stream' if c.stream else 'json'}",
)
def combination(request: pytest.FixtureRequest) -> Combination:
    return Combination(*request.param)


@pytest.fixture
def proxy_config(config: Config) -> Config:
    return dataclasses.replace(config, usage_flush_interval=0.05, shutdown_timeout=2.0)


@pytest.fixture
async def strict_upstream(upstream: FakeUpstream) -> FakeUpstream:
    upstream.state.responses_accepts_chat_models = False  # as Copilot: a chat model is refused on /responses
    return upstream


@pytest.fixture
async def clients(proxy: RunningProxy, strict_upstream: FakeUpstream) -> AsyncIterator[tuple[Any, Any]]:
    await proxy_clients.add_key(proxy, GITHUB_TOKEN)
    ai = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=GITHUB_TOKEN, max_retries=0, timeout=10)
    claude = anthropic.AsyncAnthropic(base_url=proxy.url, api_key=GITHUB_TOKEN, max_retries=0, timeout=10)
    yield ai, claude
    await ai.close()
    await claude.close()


# --- one request in each client API, returning (text, tool calls as (name, arguments dict)) ------------


async def ask_chat(ai: openai.AsyncOpenAI, model: str, stream: bool, tools: bool) -> tuple[str, list[Any]]:
    extra: dict[str, Any] = {"tools": [{"type": "function", "function": WEATHER_TOOL}]} if tools else {}
    messages: list[Any] = [{"role": "user", "content": "Weather in Oslo?"}]
    if not stream:
        answer = await ai.chat.completions.create(model=model, messages=messages, **extra)
        message = answer.choices[0].message
        calls = [(c.function.name, c.function.arguments) for c in message.tool_calls or () if c.type == "function"]
        assert answer.usage is not None and answer.usage.total_tokens > 0
        return message.content or "", calls
    text, parts = "", dict[int, tuple[str, str]]()
    chunks = await ai.chat.completions.create(
        model=model, messages=messages, stream=True, stream_options={"include_usage": True}, **extra
    )
    usage = None
    async for chunk in chunks:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or ():
                name, arguments = parts.get(call.index, ("", ""))
                function = call.function
                parts[call.index] = (
                    name + (function.name or "" if function else ""),
                    arguments + (function.arguments or "" if function else ""),
                )
    assert usage is not None and usage.total_tokens > 0
    return text, list(parts.values())


async def ask_responses(ai: openai.AsyncOpenAI, model: str, stream: bool, tools: bool) -> tuple[str, list[Any]]:
    extra: dict[str, Any] = {"tools": [{"type": "function", **WEATHER_TOOL}]} if tools else {}
    if not stream:
        answer = await ai.responses.create(model=model, input="Weather in Oslo?", **extra)
    else:
        events = await ai.responses.create(model=model, input="Weather in Oslo?", stream=True, **extra)
        seen = [event async for event in events]
        # Codex builds its history from these, and fails a stream without response.completed.
        assert seen[0].type == "response.created"
        done = [e.item for e in seen if e.type == "response.output_item.done"]
        last = seen[-1]
        assert last.type == "response.completed"
        answer = last.response
        assert answer.id and [item.type for item in answer.output] == [item.type for item in done]
    assert answer.usage is not None and answer.usage.total_tokens > 0
    calls = [(item.name, item.arguments) for item in answer.output if item.type == "function_call"]
    return answer.output_text, calls


async def ask_messages(
    claude: anthropic.AsyncAnthropic, model: str, stream: bool, tools: bool
) -> tuple[str, list[Any]]:
    extra: dict[str, Any] = {}
    if tools:
        extra["tools"] = [
            {"name": WEATHER_TOOL["name"], "description": "x", "input_schema": WEATHER_TOOL["parameters"]}
        ]
    messages: Any = [{"role": "user", "content": "Weather in Oslo?"}]
    if stream:
        async with claude.messages.stream(model=model, max_tokens=256, messages=messages, **extra) as events:
            message = await events.get_final_message()
    else:
        message = await claude.messages.create(model=model, max_tokens=256, messages=messages, **extra)
    assert message.usage.output_tokens > 0
    text = "".join(block.text for block in message.content if block.type == "text")
    calls = [(block.name, block.input) for block in message.content if block.type == "tool_use"]
    return text, calls


async def ask(
    clients: tuple[Any, Any], client_api: str, model: str, stream: bool, tools: bool
) -> tuple[str, list[Any]]:
    ai, claude = clients
    if client_api == "chat":
        return await ask_chat(ai, model, stream, tools)
    if client_api == "responses":
        return await ask_responses(ai, model, stream, tools)
    return await ask_messages(claude, model, stream, tools)


def _arguments(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str) else value


async def _post_ok(proxy: RunningProxy, client_api: str, body: dict[str, Any]) -> None:
    """Sends ``body`` raw to the client API's path and expects a 200."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            proxy.url + CLIENT_PATHS[client_api], json=body, headers={"Authorization": f"Bearer {GITHUB_TOKEN}"}
        ) as r,
    ):
        assert r.status == 200, await r.text()


async def test_every_client_api_reaches_every_model(
    proxy: RunningProxy, clients: tuple[Any, Any], combination: Combination, sqlite_only: None
) -> None:
    client_api, model, endpoint, stream = combination
    state = proxy.upstream.state
    text, calls = await ask(clients, client_api, model, stream, tools=False)
    assert text == TEXT
    assert calls == []
    (sent,) = state.requests_to(UPSTREAM_PATHS[endpoint])
    assert sent.json["model"] == model
    assert sent.headers["x-initiator"] == "user"
    others = [path for api, path in UPSTREAM_PATHS.items() if api != endpoint]
    assert all(state.requests_to(path) == [] for path in others)  # no refused first try
    (logged,) = await request_log(proxy)
    assert (logged["endpoint"], logged["model"], logged["status"]) == (UPSTREAM_PATHS[client_api], model, 200)
    assert logged["totalTokens"] > 0


async def test_tool_calls_cross_every_combination(
    proxy: RunningProxy, clients: tuple[Any, Any], combination: Combination, sqlite_only: None
) -> None:
    client_api, model, endpoint, stream = combination
    proxy.upstream.state.tool_calls = [("get_weather", {"city": "Oslo"})]
    _, calls = await ask(clients, client_api, model, stream, tools=True)
    assert [(name, _arguments(arguments)) for name, arguments in calls] == [("get_weather", {"city": "Oslo"})]
    (sent,) = proxy.upstream.state.requests_to(UPSTREAM_PATHS[endpoint])
    tools = sent.json["tools"]
    names = [tool.get("name") or tool.get("function", {}).get("name") for tool in tools]
    assert names == ["get_weather"]


@pytest.mark.parametrize(
    ("client_api", "model", "endpoint"),
    [
        ("chat", "gpt-5.3-codex", "responses"),
        ("messages", "claude-sonnet-4.5", "messages"),
        ("responses", "gpt-4.1", "chat"),
    ],
)
async def test_routing_on_every_database(
    proxy: RunningProxy, clients: tuple[Any, Any], client_api: str, model: str, endpoint: str
) -> None:
    text, _ = await ask(clients, client_api, model, stream=True, tools=False)
    assert text == TEXT
    assert len(proxy.upstream.state.requests_to(UPSTREAM_PATHS[endpoint])) == 1
    (logged,) = await request_log(proxy)
    assert (logged["endpoint"], logged["status"]) == (UPSTREAM_PATHS[client_api], 200)


def _tool_turn(client_api: str, model: str) -> dict[str, Any]:
    """A request whose last message is get_weather's result, in ``client_api``'s shape."""
    arguments = '{"city":"Oslo"}'
    if client_api == "chat":
        call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
        return {
            "model": model,
            "tools": [{"type": "function", "function": WEATHER_TOOL}],
            "messages": [
                {"role": "user", "content": "Weather in Oslo?"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            ],
        }
    if client_api == "responses":
        return {
            "model": model,
            "tools": [{"type": "function", **WEATHER_TOOL}],
            "input": [
                {"role": "user", "content": "Weather in Oslo?"},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": arguments},
                {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
            ],
        }
    use = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}
    return {
        "model": model,
        "max_tokens": 256,
        "tools": [{"name": "get_weather", "description": "x", "input_schema": WEATHER_TOOL["parameters"]}],
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": [use]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
        ],
    }


def _tool_result_sent(endpoint: str, body: dict[str, Any]) -> Any:
    """The tool's result as the request to ``endpoint`` carries it."""
    if endpoint == "chat":
        (result,) = [m for m in body["messages"] if m["role"] == "tool"]
        return result["content"]
    if endpoint == "responses":
        (result,) = [item for item in body["input"] if item.get("type") == "function_call_output"]
        return result["output"]
    last = body["messages"][-1]
    (result,) = [block for block in last["content"] if block["type"] == "tool_result"]
    content = result["content"]
    return content if isinstance(content, str) else "".join(part["text"] for part in content)


@pytest.mark.parametrize(("client_api", "model", "endpoint"), COMBINATIONS)
async def test_tool_results_cross_every_combination(
    proxy: RunningProxy, clients: tuple[Any, Any], client_api: str, model: str, endpoint: str, sqlite_only: None
) -> None:
    await _post_ok(proxy, client_api, _tool_turn(client_api, model))
    (sent,) = proxy.upstream.state.requests_to(UPSTREAM_PATHS[endpoint])
    assert _tool_result_sent(endpoint, sent.json) == "sunny"
    assert sent.headers["x-initiator"] == "agent"  # a tool result is the agent loop going on


_PNG = "iVBORw0KGgo="


def _image_turn(client_api: str, model: str) -> dict[str, Any]:
    if client_api == "chat":
        image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{_PNG}"}}
        return {"model": model, "messages": [{"role": "user", "content": [{"type": "text", "text": "what?"}, image]}]}
    if client_api == "responses":
        image = {"type": "input_image", "image_url": f"data:image/png;base64,{_PNG}"}
        return {
            "model": model,
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "what?"}, image]}],
        }
    source = {"type": "base64", "media_type": "image/png", "data": _PNG}
    content = [{"type": "text", "text": "what?"}, {"type": "image", "source": source}]
    return {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": content}]}


@pytest.mark.parametrize(("client_api", "model", "endpoint"), COMBINATIONS)
async def test_images_cross_every_combination(
    proxy: RunningProxy, clients: tuple[Any, Any], client_api: str, model: str, endpoint: str, sqlite_only: None
) -> None:
    proxy.upstream.state.require_vision_header = True  # as Copilot: an image without the header is refused
    await _post_ok(proxy, client_api, _image_turn(client_api, model))
    (sent,) = proxy.upstream.state.requests_to(UPSTREAM_PATHS[endpoint])
    assert sent.headers["copilot-vision-request"] == "true"
    assert _PNG in orjson.dumps(sent.json).decode()


@pytest.mark.parametrize(("client_api", "model", "endpoint"), [COMBINATIONS[6], COMBINATIONS[7], COMBINATIONS[1]])
async def test_a_large_body_is_prepared_off_the_event_loop(
    proxy: RunningProxy, clients: tuple[Any, Any], client_api: str, model: str, endpoint: str, sqlite_only: None
) -> None:
    """Over 256 KiB a body is translated and read for its headers in a worker thread; the answer is the same."""
    body = _image_turn(client_api, model)
    words = "lorem ipsum " * 40_000  # ~480 KB of text beside the image
    body["messages"][0]["content"].insert(0, {"type": "text", "text": words})
    await _post_ok(proxy, client_api, body)
    (sent,) = proxy.upstream.state.requests_to(UPSTREAM_PATHS[endpoint])
    assert sent.headers["copilot-vision-request"] == "true" and sent.headers["x-initiator"] == "user"
    assert words in orjson.dumps(sent.json).decode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            proxy.url + "/v1/messages/count_tokens",
            json={"model": model, "messages": [{"role": "user", "content": words}]},
            headers={"Authorization": f"Bearer {GITHUB_TOKEN}"},
        ) as r,
    ):
        assert r.status == 200 and (await r.json())["input_tokens"] > 100_000
