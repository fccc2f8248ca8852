"""Anthropic's Messages API end to end: the official anthropic client against proxyd against the fake upstream."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import anthropic
import pytest

from proxyd.appkeys import RESOLVER, USAGE
from proxyd.config import Config
from proxyd.keys.records import ApiKey
from tests.conftest import RunningProxy

GITHUB_TOKEN = "gho_anthropictest00000000000000000000001"
# Any: the SDK's parameter types are TypedDicts that plain literals do not match for mypy.
HI: Any = [{"role": "user", "content": "hi"}]
WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}

ClientFactory = Callable[..., anthropic.AsyncAnthropic]


@pytest.fixture
def proxy_config(config: Config) -> Config:
    model_map = (("claude-3-5-haiku-20241022", "gpt-4o-mini"),)
    return dataclasses.replace(config, usage_flush_interval=0.05, shutdown_timeout=2.0, model_map=model_map)


@pytest.fixture
async def client() -> AsyncIterator[ClientFactory]:
    made: list[anthropic.AsyncAnthropic] = []

    def make(proxy: RunningProxy, key: str = GITHUB_TOKEN) -> anthropic.AsyncAnthropic:
        made.append(anthropic.AsyncAnthropic(base_url=proxy.url, api_key=key, max_retries=0, timeout=10))
        return made[-1]

    yield make
    for ai in made:
        await ai.close()


async def add_key(proxy: RunningProxy, *, default: bool = True) -> ApiKey:
    proxy.upstream.state.add_github_token(GITHUB_TOKEN)
    api_key = await proxy.store.create("claude key", GITHUB_TOKEN)
    if default:
        await proxy.store.set_default(api_key.id)
    proxy.app[RESOLVER].invalidate()
    return api_key


async def request_log(proxy: RunningProxy) -> list[dict[str, Any]]:
    assert await proxy.app[USAGE].flush()
    async with aiohttp.ClientSession() as http, http.get(f"{proxy.base_url}/admin/logs") as r:
        logs: list[dict[str, Any]] = (await r.json())["logs"]
    return logs


def sent_to_copilot(proxy: RunningProxy) -> dict[str, Any]:
    sent: dict[str, Any] = proxy.upstream.state.requests_to("/chat/completions")[-1].json
    return sent


# --------------------------------------------------------------------------- every dialect


async def test_create_translates_both_ways_and_is_accounted(client: ClientFactory, proxy: RunningProxy) -> None:
    api_key = await add_key(proxy)
    message = await client(proxy).messages.create(
        model="claude-sonnet-4-20250514",
        max_tokens=100,
        system="Be brief.",
        messages=HI,
        metadata={"user_id": "u1"},
        stop_sequences=["\n\nHuman:"],
        extra_body={"temperature": 0.2, "top_p": 0.9},  # this SDK version has no parameters for them
    )
    assert message.content[0].type == "text" and message.content[0].text == "Hello from the fake Copilot!"
    assert (message.model, message.role, message.stop_reason) == ("claude-sonnet-4-20250514", "assistant", "end_turn")
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 8)
    sent = sent_to_copilot(proxy)
    assert sent == {
        "model": "claude-sonnet-4",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "max_tokens": 100,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["\n\nHuman:"],
    }
    (entry,) = await request_log(proxy)
    assert (entry["apiKeyId"], entry["endpoint"], entry["model"], entry["status"]) == (
        api_key.id,
        "/v1/messages",
        "claude-sonnet-4-20250514",
        200,
    )
    assert (entry["promptTokens"], entry["completionTokens"], entry["totalTokens"]) == (12, 8, 20)
    assert (await proxy.store.get(api_key.id)).usage_count == 1


async def test_stream_with_tool_use_is_accounted(client: ClientFactory, proxy: RunningProxy) -> None:
    api_key = await add_key(proxy)
    state = proxy.upstream.state
    state.completion_text = "Let me look."
    state.tool_calls = [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})]
    async with client(proxy).messages.stream(
        model="claude-sonnet-4", max_tokens=200, messages=HI, tools=[WEATHER_TOOL], tool_choice={"type": "auto"}
    ) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "input_json" in kinds and "text" in kinds
    assert final.stop_reason == "tool_use"
    text, first, second = final.content
    assert text.type == "text" and text.text == "Let me look."
    assert first.type == "tool_use" and second.type == "tool_use"
    assert (first.name, first.input, second.input) == ("get_weather", {"city": "Paris"}, {"city": "Oslo"})
    assert (final.usage.input_tokens, final.usage.output_tokens) == (12, 8)
    sent = sent_to_copilot(proxy)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["tool_choice"] == "auto"
    assert sent["tools"][0]["function"]["parameters"] == WEATHER_TOOL["input_schema"]
    (entry,) = await request_log(proxy)
    assert (entry["endpoint"], entry["status"], entry["totalTokens"]) == ("/v1/messages", 200, 20)
    assert (await proxy.store.get(api_key.id)).usage_count == 1


async def test_a_bad_key_is_an_authentication_error(client: ClientFactory, proxy: RunningProxy) -> None:
    await add_key(proxy)
    with pytest.raises(anthropic.AuthenticationError) as raised:
        await client(proxy, key="gho_not_a_stored_key").messages.create(
            model="claude-sonnet-4", max_tokens=5, messages=HI
        )
    assert raised.value.status_code == 401
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "Invalid API key"},
    }
    assert proxy.upstream.state.requests_to("/chat/completions") == []


# --------------------------------------------------------------------------- SQLite only


async def test_plain_text_stream_events_in_order(client: ClientFactory, proxy: RunningProxy, sqlite_only: None) -> None:
    await add_key(proxy)
    async with client(proxy).messages.stream(model="claude-sonnet-4", max_tokens=50, messages=HI) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_message()
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert kinds.count("text") == 3  # one per Copilot chunk: nothing is buffered
    block = final.content[0]
    assert block.type == "text" and block.text == "Hello from the fake Copilot!" and final.stop_reason == "end_turn"


async def test_raw_stream_has_ping_and_anthropic_framing(proxy: RunningProxy, sqlite_only: None) -> None:
    await add_key(proxy)
    body = {"model": "claude-sonnet-4", "max_tokens": 5, "messages": HI, "stream": True}
    headers = {"x-api-key": GITHUB_TOKEN}
    async with aiohttp.ClientSession() as http, http.post(f"{proxy.url}/v1/messages", json=body, headers=headers) as r:
        assert r.status == 200 and r.content_type == "text/event-stream"
        text = (await r.read()).decode()
    names = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]


async def test_a_json_answer_to_a_stream_request_still_streams(
    client: ClientFactory, proxy: RunningProxy, sqlite_only: None
) -> None:
    await add_key(proxy)
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}
    completion = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Checking."}, "finish_reason": "stop"},
            {"index": 1, "message": {"role": "assistant", "tool_calls": [call]}, "finish_reason": "tool_calls"},
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10},
    }
    proxy.upstream.state.fail_next(200, completion, path="/chat/completions")  # a canned answer, not a failure
    async with client(proxy).messages.stream(model="claude-sonnet-4", max_tokens=50, messages=HI) as stream:
        final = await stream.get_final_message()
    text, tool = final.content
    assert text.type == "text" and text.text == "Checking."
    assert tool.type == "tool_use" and (tool.id, tool.input) == ("c1", {"city": "Rome"})
    assert (final.stop_reason, final.usage.input_tokens, final.usage.output_tokens) == ("tool_use", 4, 6)


async def test_model_names_are_mapped(client: ClientFactory, proxy: RunningProxy, sqlite_only: None) -> None:
    await add_key(proxy)
    ai = client(proxy)
    for asked, sent in (
        ("claude-3-5-sonnet-20241022", "claude-3.5-sonnet"),
        ("claude-3-5-haiku-20241022", "gpt-4o-mini"),  # PROXYD_MODEL_MAP
        ("gpt-4o", "gpt-4o"),
    ):
        message = await ai.messages.create(model=asked, max_tokens=5, messages=HI)
        assert message.model == asked
        assert sent_to_copilot(proxy)["model"] == sent


async def test_images_send_the_vision_header(client: ClientFactory, proxy: RunningProxy, sqlite_only: None) -> None:
    await add_key(proxy)
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    linked = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    content: Any = [{"type": "text", "text": "what is this?"}, image, linked]
    await client(proxy).messages.create(
        model="claude-sonnet-4", max_tokens=5, messages=[{"role": "user", "content": content}]
    )
    (request,) = proxy.upstream.state.requests_to("/chat/completions")
    assert request.headers["copilot-vision-request"] == "true"
    parts = request.json["messages"][0]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    assert parts[2] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}


async def test_tool_results_go_back_as_tool_messages(
    client: ClientFactory, proxy: RunningProxy, sqlite_only: None
) -> None:
    await add_key(proxy)
    messages: list[Any] = [
        {"role": "user", "content": "weather in Paris and Oslo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "two calls", "signature": "sig"},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Oslo"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "rain"}]},
            ],
        },
    ]
    message = await client(proxy).messages.create(
        model="claude-sonnet-4",
        max_tokens=50,
        messages=messages,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    assert message.stop_reason == "end_turn"
    (request,) = proxy.upstream.state.requests_to("/chat/completions")
    sent = request.json
    assert sent["messages"][1]["tool_calls"][1] == {
        "id": "toolu_2",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
    }
    assert sent["messages"][2:] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "rain"},
    ]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert request.headers["x-initiator"] == "agent"


async def test_max_tokens_stop_reason(client: ClientFactory, proxy: RunningProxy, sqlite_only: None) -> None:
    await add_key(proxy)
    proxy.upstream.state.finish_reason = "length"
    message = await client(proxy).messages.create(model="claude-sonnet-4", max_tokens=3, messages=HI)
    assert message.stop_reason == "max_tokens"
    async with client(proxy).messages.stream(model="claude-sonnet-4", max_tokens=3, messages=HI) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "max_tokens"


async def test_count_tokens(client: ClientFactory, proxy: RunningProxy, sqlite_only: None) -> None:
    await add_key(proxy)
    ai = client(proxy)
    counted = await ai.messages.count_tokens(model="claude-sonnet-4-20250514", system="x" * 40, messages=HI)
    # 40 + 2 characters -> 11 tokens, plus 4 per message (system and user).
    assert counted.input_tokens == 19
    assert proxy.upstream.state.requests_to("/chat/completions") == []
    with pytest.raises(anthropic.AuthenticationError):
        await client(proxy, key="gho_not_a_stored_key").messages.count_tokens(model="claude-sonnet-4", messages=HI)


async def test_client_mistakes_are_invalid_request_errors(
    client: ClientFactory, proxy: RunningProxy, sqlite_only: None
) -> None:
    await add_key(proxy)
    ai = client(proxy)
    with pytest.raises(anthropic.BadRequestError) as raised:
        await ai.messages.create(model="claude-sonnet-4", max_tokens=5, messages=[])
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "messages: at least one message is required"},
    }
    document: Any = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}
    with pytest.raises(anthropic.BadRequestError, match="'document' are not supported"):
        await ai.messages.create(
            model="claude-sonnet-4", max_tokens=5, messages=[{"role": "user", "content": [document]}]
        )
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{proxy.url}/v1/messages") as r:
            assert r.status == 405
            assert (await r.json())["error"]["type"] == "invalid_request_error"
        async with http.post(f"{proxy.url}/v1/messages", data=b"{oops", headers={"x-api-key": GITHUB_TOKEN}) as r:
            assert r.status == 400 and (await r.json())["type"] == "error"


@pytest.mark.parametrize(
    ("status", "kind", "exception"),
    [
        (429, "rate_limit_error", anthropic.RateLimitError),
        (403, "permission_error", anthropic.PermissionDeniedError),
        (503, "overloaded_error", anthropic.InternalServerError),
        (500, "api_error", anthropic.InternalServerError),
    ],
)
async def test_copilot_errors_become_anthropic_errors(
    client: ClientFactory, proxy: RunningProxy, sqlite_only: None, status: int, kind: str, exception: type[Exception]
) -> None:
    await add_key(proxy)
    copilot_says = {"error": {"message": "slow down", "code": "rate_limited"}}
    # A 500 is sent once more (as Copilot's own client does): it must fail twice to reach the client.
    times = 2 if status == 500 else 1
    proxy.upstream.state.fail_next(status, copilot_says, {"Retry-After": "7"}, path="/chat/completions", times=times)
    with pytest.raises(exception) as raised:
        await client(proxy).messages.create(model="claude-sonnet-4", max_tokens=5, messages=HI)
    error = raised.value
    assert isinstance(error, anthropic.APIStatusError)
    assert error.status_code == status
    assert error.body == {"type": "error", "error": {"type": kind, "message": "slow down"}}
    assert error.response.headers["retry-after"] == "7"
    (entry,) = await request_log(proxy)
    assert entry["status"] == status


async def test_a_broken_stream_ends_with_an_error_event(
    client: ClientFactory, proxy: RunningProxy, sqlite_only: None
) -> None:
    await add_key(proxy)
    proxy.upstream.state.reset_mid_stream_after = 2

    async def read_all() -> None:
        async with client(proxy).messages.stream(model="claude-sonnet-4", max_tokens=5, messages=HI) as stream:
            async for _ in stream:
                pass

    with pytest.raises(anthropic.APIStatusError, match="upstream connection lost"):
        await read_all()
    (entry,) = await request_log(proxy)
    assert entry["status"] == 502


async def test_a_client_leaving_mid_stream_stops_copilot(
    proxy: RunningProxy, caplog: pytest.LogCaptureFixture, sqlite_only: None
) -> None:
    await add_key(proxy)
    state = proxy.upstream.state
    state.stream_chunks = 50
    state.stream_chunk_delay = 0.05
    body = {"model": "claude-sonnet-4", "max_tokens": 5, "messages": HI, "stream": True}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{proxy.url}/v1/messages", json=body) as r:
            await r.content.readline()
        # leaving the block closes the connection mid-stream: proxyd drops its Copilot connection too
        await asyncio.wait_for(state.stream_cancelled.wait(), 5)
    (entry,) = await request_log(proxy)
    assert entry["status"] == 499
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


async def test_the_default_key_serves_keyless_clients(proxy: RunningProxy, sqlite_only: None) -> None:
    await add_key(proxy)
    body = {"model": "claude-sonnet-4", "max_tokens": 5, "messages": HI}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{proxy.url}/v1/messages", json=body) as r:
            assert r.status == 200 and (await r.json())["type"] == "message"
        # Another site's name in Host: the default key is refused, in Anthropic's shape.
        async with http.post(f"{proxy.url}/v1/messages", json=body, headers={"Host": "evil.example"}) as r:
            assert r.status == 403
            assert (await r.json())["error"]["type"] == "permission_error"
