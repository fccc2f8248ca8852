"""Quick checks that the fake upstream speaks the protocol proxyd's tests rely on."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request
from pytest_aiohttp import AiohttpClient

from bench.fake_upstream import (
    API_VERSION_UNSUPPORTED,
    DEVICE_GRANT_TYPE,
    FAKE_STATE,
    FakeUpstreamState,
    create_fake_upstream,
    running_fake_upstream,
)

GITHUB_TOKEN = "gho_testtoken"
OTHER_TOKEN = "gho_othertoken"  # a second account: signatures and encrypted reasoning must not cross over
FakeClient = TestClient[Request, Application]


@pytest.fixture
async def client(aiohttp_client: AiohttpClient) -> FakeClient:
    state = FakeUpstreamState(device_interval=0)
    state.add_github_token(GITHUB_TOKEN)
    state.add_github_token("gho_nocopilot", has_copilot=False)
    state.add_github_token(OTHER_TOKEN, login="hubot")
    return await aiohttp_client(create_fake_upstream(state))


def state_of(client: FakeClient) -> FakeUpstreamState:
    return client.app[FAKE_STATE]


def bearer(client: FakeClient, github_token: str = GITHUB_TOKEN) -> dict[str, str]:
    return {"Authorization": "Bearer " + state_of(client).issue_copilot_token(github_token).token}


async def test_token_exchange(client: FakeClient) -> None:
    resp = await client.get("/copilot_internal/v2/token", headers={"Authorization": "token nope"})
    assert resp.status == 401
    assert (await resp.json())["message"] == "Bad credentials"
    resp = await client.get("/copilot_internal/v2/token", headers={"Authorization": "token gho_nocopilot"})
    assert resp.status == 404

    tokens = []
    for _ in range(2):
        resp = await client.get("/copilot_internal/v2/token", headers={"Authorization": f"token {GITHUB_TOKEN}"})
        assert resp.status == 200
        body = await resp.json()
        assert body["token"].startswith("tid=")
        assert ";exp=" in body["token"]
        assert body["refresh_in"] == 1500
        assert body["endpoints"]["api"] == "https://api.individual.githubcopilot.com"
        assert body["limited_user_quotas"] == {"chat": 50, "completions": 2000}
        tokens.append(body["token"])
    assert tokens[0] != tokens[1]
    assert state_of(client).exchange_count(GITHUB_TOKEN) == 2
    assert state_of(client).requests_to("/copilot_internal/v2/token")[0].headers["authorization"] == "token nope"


async def test_openai_client_streams_chunks_and_usage(client: FakeClient) -> None:
    state = state_of(client)
    state.stream_chunks = 4
    token = state.issue_copilot_token(GITHUB_TOKEN).token
    async with openai.AsyncOpenAI(base_url=str(client.make_url("")), api_key=token) as oai:
        stream = await oai.chat.completions.create(
            model="gpt-4.1",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        async with stream:
            chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == state.completion_text
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 4
    assert {c.model for c in chunks} == {"gpt-4.1"}
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == state.prompt_tokens + state.completion_tokens
    recorded = state.requests_to("/chat/completions")[0]
    assert recorded.json["model"] == "gpt-4.1"
    assert recorded.headers["Authorization"] == f"Bearer {token}"
    assert state.completed_streams == 1


async def test_openai_client_other_endpoints(client: FakeClient) -> None:
    token = state_of(client).issue_copilot_token(GITHUB_TOKEN).token
    async with openai.AsyncOpenAI(base_url=str(client.make_url("")), api_key=token) as oai:
        completion = await oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
        assert completion.choices[0].message.content == state_of(client).completion_text
        assert completion.usage is not None
        models = await oai.models.list()
        assert "gpt-4o" in {m.id for m in models.data}
        embeddings = await oai.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
        assert len(embeddings.data) == 2
        assert len(embeddings.data[0].embedding) == 8
        response = await oai.responses.create(model="gpt-4o", input="hi")
        assert response.output_text == state_of(client).completion_text
        async with await oai.responses.create(model="gpt-4o", input="hi", stream=True) as events_stream:
            events = [event async for event in events_stream]
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == state_of(client).completion_text


async def test_openai_client_reads_tool_calls(client: FakeClient) -> None:
    state = state_of(client)
    state.completion_text = ""
    state.tool_calls = [("f", {"a": 1}), ("g", {"b": "two"})]
    token = state.issue_copilot_token(GITHUB_TOKEN).token
    messages: Any = [{"role": "user", "content": "x"}]
    async with openai.AsyncOpenAI(base_url=str(client.make_url("")), api_key=token) as oai:
        completion = await oai.chat.completions.create(model="gpt-4o", messages=messages)
        stream = await oai.chat.completions.create(
            model="gpt-4o", messages=messages, stream=True, stream_options={"include_usage": True}
        )
        async with stream:
            chunks = [chunk async for chunk in stream]
    choice = completion.choices[0].model_dump()
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in choice["message"]["tool_calls"]] == [
        ("f", '{"a":1}'),
        ("g", '{"b":"two"}'),
    ]
    # OpenAI's stream shape: per call, its index, id and name first, then argument fragments under its index.
    deltas = [call for c in chunks if c.choices for call in c.choices[0].model_dump()["delta"]["tool_calls"] or ()]
    heads = [d for d in deltas if d["id"] is not None]
    assert [(h["index"], h["function"]["name"], h["function"]["arguments"]) for h in heads] == [
        (0, "f", ""),
        (1, "g", ""),
    ]
    arguments = {0: "", 1: ""}
    for d in deltas:
        arguments[d["index"]] += d["function"]["arguments"] or ""
    assert arguments == {0: '{"a":1}', 1: '{"b":"two"}'}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].usage is not None


async def test_stop_sequences_cut_the_answer(client: FakeClient) -> None:
    token = state_of(client).issue_copilot_token(GITHUB_TOKEN).token
    async with openai.AsyncOpenAI(base_url=str(client.make_url("")), api_key=token) as oai:
        completion = await oai.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}], stop=[" fake"]
        )
    assert completion.choices[0].message.content == "Hello from the"
    assert completion.choices[0].finish_reason == "stop"


async def test_copilot_user_reports_plan_and_quotas(client: FakeClient) -> None:
    state_of(client).github_accounts[GITHUB_TOKEN].premium_remaining = 75
    resp = await client.get("/copilot_internal/user", headers={"Authorization": f"token {GITHUB_TOKEN}"})
    assert resp.status == 200
    body = await resp.json()
    assert body["copilot_plan"] == "individual"
    premium = body["quota_snapshots"]["premium_interactions"]
    assert (premium["entitlement"], premium["remaining"], premium["percent_remaining"]) == (300, 75, 25.0)
    assert body["quota_snapshots"]["chat"]["unlimited"] is True
    resp = await client.get("/copilot_internal/user", headers={"Authorization": "token nope"})
    assert resp.status == 401


async def test_expired_tokens_get_401(client: FakeClient) -> None:
    headers = bearer(client)
    assert (await client.get("/models", headers=headers)).status == 200
    state_of(client).expire_all_copilot_tokens()
    resp = await client.get("/models", headers=headers)
    assert resp.status == 401
    assert (await resp.json())["error"]["message"] == "unauthorized: token expired"
    assert (await client.get("/models", headers={"Authorization": "Bearer unknown"})).status == 401


async def test_fail_next_keeps_retry_after(client: FakeClient) -> None:
    headers = bearer(client)
    state_of(client).fail_next(429, {"error": {"message": "rate limited"}}, {"retry-after": "7"})
    resp = await client.post("/chat/completions", json={"messages": []}, headers=headers)
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "7"
    assert (await resp.json())["error"]["message"] == "rate limited"
    resp = await client.post("/chat/completions", json={"messages": []}, headers=headers)
    assert resp.status == 200


async def test_device_flow_script(client: FakeClient) -> None:
    state = state_of(client)
    state.slow_down_increment = 1
    state.device_flow_script = ["authorization_pending", "slow_down", "authorization_pending", "approve"]
    resp = await client.post(
        "/login/device/code",
        data={"client_id": "Iv1.x", "scope": "read:user"},
        headers={"Accept": "application/json"},
    )
    code = await resp.json()
    assert code["interval"] == 0
    assert code["verification_uri"] == "https://github.com/login/device"
    form = {"client_id": "Iv1.x", "device_code": code["device_code"], "grant_type": DEVICE_GRANT_TYPE}
    answers = []
    for _ in range(4):
        resp = await client.post("/login/oauth/access_token", data=form, headers={"Accept": "application/json"})
        assert resp.status == 200
        answers.append(await resp.json())
    assert [a.get("error") for a in answers] == [
        "authorization_pending",
        "slow_down",
        "authorization_pending",
        None,
    ]
    assert answers[1]["interval"] == 1
    assert answers[3]["token_type"] == "bearer"
    access_token = answers[3]["access_token"]
    assert access_token.startswith("gho_")
    assert len(state.device_authorizations[code["device_code"]].polls) == 4
    # The approved token is a valid GitHub token straight away.
    resp = await client.get("/copilot_internal/v2/token", headers={"Authorization": f"token {access_token}"})
    assert resp.status == 200


async def test_client_disconnect_mid_stream_is_noticed(client: FakeClient) -> None:
    state = state_of(client)
    state.stream_chunk_delay = 0.2
    resp = await client.post("/chat/completions", json={"messages": [], "stream": True}, headers=bearer(client))
    assert (await resp.content.readuntil(b"\n\n")).startswith(b"data: {")
    resp.close()
    await asyncio.wait_for(state.stream_cancelled.wait(), 5)
    assert state.cancelled_streams[0].path == "/chat/completions"
    assert state.completed_streams == 0


async def test_reset_mid_stream_and_omit_done(client: FakeClient) -> None:
    state = state_of(client)
    state.reset_mid_stream_after = 2
    resp = await client.post("/chat/completions", json={"messages": [], "stream": True}, headers=bearer(client))
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()

    state.reset_faults()
    state.omit_done = True
    resp = await client.post("/chat/completions", json={"messages": [], "stream": True}, headers=bearer(client))
    body = await resp.read()
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    assert b"[DONE]" not in body
    assert body.endswith(b"\n\n")


async def test_running_fake_upstream_serves_on_a_port() -> None:
    async with running_fake_upstream() as fake, aiohttp.ClientSession() as session:
        fake.state.add_github_token(GITHUB_TOKEN)
        url = f"{fake.url}/copilot_internal/v2/token"
        async with session.get(url, headers={"Authorization": f"token {GITHUB_TOKEN}"}) as resp:
            assert resp.status == 200
        assert fake.port > 0


def test_standalone_entry_point() -> None:
    script = Path(__file__).parents[1] / "bench" / "fake_upstream.py"
    proc = subprocess.Popen([sys.executable, str(script), "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url_line = proc.stdout.readline().strip()
        token_line = proc.stdout.readline().strip()
        assert url_line.startswith("FAKE_UPSTREAM_URL=http://127.0.0.1:")
        assert token_line.startswith("FAKE_GITHUB_TOKEN=gho_")
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()


# --------------------------------------------------------------------------- models and endpoints

HI: Any = [{"role": "user", "content": "hi"}]
THINKING: Any = {"type": "enabled", "budget_tokens": 2048}


def body_for(path: str, model: str, **extra: Any) -> dict[str, Any]:
    """A minimal valid body for one of the three generation endpoints."""
    if path == "/responses":
        return {"model": model, "input": "hi", **extra}
    if path == "/v1/messages":
        return {"model": model, "max_tokens": 4096, "messages": HI, **extra}
    return {"model": model, "messages": HI, **extra}


async def post(
    client: FakeClient,
    path: str,
    body: Any,
    headers: dict[str, str] | None = None,
    *,
    github_token: str = GITHUB_TOKEN,
) -> tuple[int, Any]:
    resp = await client.post(path, json=body, headers={**bearer(client, github_token), **(headers or {})})
    return resp.status, await resp.json()


async def sse(client: FakeClient, path: str, body: Any, *, github_token: str = GITHUB_TOKEN) -> list[tuple[str, Any]]:
    """The (event name, parsed data) of each frame of a streamed answer."""
    resp = await client.post(path, json={**body, "stream": True}, headers=bearer(client, github_token))
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    frames = []
    for frame in (await resp.text()).split("\n\n"):
        if not frame:
            continue
        fields = dict(line.split(": ", 1) for line in frame.split("\n"))
        frames.append((fields.get("event", ""), orjson.loads(fields["data"])))
    return frames


def anthropic_client(client: FakeClient, github_token: str = GITHUB_TOKEN) -> anthropic.AsyncAnthropic:
    # auth_token: Copilot wants `Authorization: Bearer`, not x-api-key.
    token = state_of(client).issue_copilot_token(github_token).token
    return anthropic.AsyncAnthropic(base_url=str(client.make_url("")), auth_token=token, api_key=None, max_retries=0)


async def test_models_carry_endpoints_billing_and_supports(client: FakeClient) -> None:
    resp = await client.get("/models", headers=bearer(client))
    models = {m["id"]: m for m in (await resp.json())["data"]}
    assert {model_id: m.get("supported_endpoints") for model_id, m in models.items()} == {
        "gpt-4o": None,
        "gpt-4o-mini": None,
        "gpt-4.1": None,
        "claude-sonnet-4": None,
        "text-embedding-3-small": None,
        "gpt-5-mini": ["/chat/completions", "/responses"],
        "gpt-5.3-codex": ["/responses"],
        "claude-sonnet-4.5": ["/chat/completions", "/v1/messages"],
        "claude-opus-4.5": ["/v1/messages"],
    }
    for model in models.values():
        assert set(model["billing"]) == {"is_premium", "multiplier"}
        assert model["billing"]["is_premium"] == (model["billing"]["multiplier"] > 0)
        if model["capabilities"]["type"] == "chat":
            supports = model["capabilities"]["supports"]
            assert supports["streaming"] is True and supports["tool_calls"] is True
            limits = model["capabilities"]["limits"]
            assert limits["max_prompt_tokens"] + limits["max_output_tokens"] <= limits["max_context_window_tokens"]
            assert ("vision" in limits) == bool(supports.get("vision"))
    sonnet = models["claude-sonnet-4.5"]["capabilities"]["supports"]
    assert sonnet["thinking"] and sonnet["adaptive_thinking"] and sonnet["vision"]
    assert sonnet["max_thinking_budget"] >= 1024
    assert "high" in models["gpt-5.3-codex"]["capabilities"]["supports"]["reasoning_effort"]
    assert models["claude-opus-4.5"]["billing"] == {"is_premium": True, "multiplier": 3}
    assert models["gpt-5-mini"]["billing"] == {"is_premium": False, "multiplier": 0}


@pytest.mark.parametrize(
    ("path", "model", "code"),
    [
        ("/chat/completions", "gpt-5.3-codex", "unsupported_api_for_model"),
        ("/chat/completions", "claude-opus-4.5", "unsupported_api_for_model"),
        ("/chat/completions", "claude-sonnet-4.5", None),
        ("/chat/completions", "gpt-5-mini", None),
        ("/chat/completions", "gpt-4o", None),
        ("/chat/completions", "some-unlisted-model", None),  # reject_unknown_models is off
        ("/responses", "gpt-5.3-codex", None),
        ("/responses", "gpt-5-mini", None),
        ("/responses", "claude-sonnet-4.5", "unsupported_api_for_model"),
        ("/responses", "claude-opus-4.5", "unsupported_api_for_model"),
        ("/v1/messages", "claude-opus-4.5", None),
        ("/v1/messages", "claude-sonnet-4.5", None),
        ("/v1/messages", "gpt-5-mini", "unsupported_api_for_model"),
        ("/v1/messages", "gpt-5.3-codex", "unsupported_api_for_model"),
        ("/v1/messages", "claude-sonnet-4", "unsupported_api_for_model"),  # no supported_endpoints: a chat model
        ("/v1/messages", "claude-sonnet-4-5-20250929", "model_not_supported"),  # Anthropic's dated id: not listed
    ],
)
async def test_each_endpoint_refuses_models_that_do_not_list_it(
    client: FakeClient, path: str, model: str, code: str | None
) -> None:
    status, body = await post(client, path, body_for(path, model))
    if code is None:
        assert status == 200, body
        return
    assert status == 400
    assert body["error"]["code"] == code
    assert body["error"]["type"] == "invalid_request_error"
    if code == "unsupported_api_for_model":
        assert body["error"]["message"] == f'model "{model}" is not accessible via the {path} endpoint'


async def test_chat_models_on_responses_and_unknown_models_follow_the_knobs(client: FakeClient) -> None:
    state = state_of(client)
    assert (await post(client, "/responses", body_for("/responses", "gpt-4o")))[0] == 200
    state.responses_accepts_chat_models = False
    status, body = await post(client, "/responses", body_for("/responses", "gpt-4o"))
    assert (status, body["error"]["code"]) == (400, "unsupported_api_for_model")
    assert (await post(client, "/responses", body_for("/responses", "gpt-5-mini")))[0] == 200
    assert (await post(client, "/chat/completions", body_for("/chat/completions", "gpt-4o")))[0] == 200
    state.reject_unknown_models = True
    for path in ("/chat/completions", "/responses"):
        status, body = await post(client, path, body_for(path, "gpt-nonexistent"))
        assert (status, body["error"]["code"]) == (400, "model_not_supported")


# --------------------------------------------------------------------------- /v1/messages


async def test_messages_json_and_stream_with_the_anthropic_client(client: FakeClient) -> None:
    state = state_of(client)
    async with anthropic_client(client) as ai:
        message = await ai.messages.create(model="claude-sonnet-4.5", max_tokens=256, messages=HI)
        async with ai.messages.stream(model="claude-opus-4.5", max_tokens=256, messages=HI) as stream:
            texts = [event.text async for event in stream if event.type == "text"]
            final = await stream.get_final_message()
    assert message.id.startswith("msg_") and message.model == "claude-sonnet-4.5"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].type == "text" and message.content[0].text == state.completion_text
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    assert (message.usage.input_tokens, message.usage.output_tokens) == (state.prompt_tokens, state.completion_tokens)
    assert message.usage.cache_read_input_tokens == 0
    assert "".join(texts) == state.completion_text and len(texts) == state.stream_chunks
    assert final.content[0].type == "text" and final.content[0].text == state.completion_text
    assert (final.stop_reason, final.usage.output_tokens) == ("end_turn", state.completion_tokens)
    recorded = state.last_request("/v1/messages")
    assert recorded.headers["Authorization"].startswith("Bearer tid=")
    assert recorded.json["model"] == "claude-opus-4.5"


async def test_messages_stream_frames(client: FakeClient) -> None:
    state = state_of(client)
    frames = await sse(client, "/v1/messages", body_for("/v1/messages", "claude-sonnet-4.5"))
    names = [name for name, _ in frames]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        *["content_block_delta"] * state.stream_chunks,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in frames)
    start = frames[0][1]["message"]
    assert (start["role"], start["content"], start["stop_reason"]) == ("assistant", [], None)
    assert start["usage"]["input_tokens"] == state.prompt_tokens
    assert frames[2][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    delta = frames[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"] == {"output_tokens": state.completion_tokens}


async def test_messages_thinking_is_signed_for_the_account_that_made_it(client: FakeClient) -> None:
    state = state_of(client)
    body = body_for("/v1/messages", "claude-sonnet-4.5", thinking=THINKING)
    status, answer = await post(client, "/v1/messages", body)
    assert status == 200
    signature = state.signature_for(GITHUB_TOKEN, state.thinking_text)
    thinking = answer["content"][0]
    assert thinking == {"type": "thinking", "thinking": state.thinking_text, "signature": signature}
    assert [block["type"] for block in answer["content"]] == ["thinking", "text"]
    assert signature != state.signature_for(OTHER_TOKEN, state.thinking_text)

    # Streamed: thinking deltas, then the signature, then the text block.
    frames = await sse(client, "/v1/messages", {**body, "thinking": {"type": "adaptive"}})
    first = [data["delta"] for name, data in frames if name == "content_block_delta" and data["index"] == 0]
    assert [d["type"] for d in first] == ["thinking_delta"] * state.stream_chunks + ["signature_delta"]
    assert "".join(d.get("thinking", "") for d in first) == state.thinking_text
    assert first[-1]["signature"] == signature
    starts = [data["content_block"]["type"] for name, data in frames if name == "content_block_start"]
    assert starts == ["thinking", "text"]
    async with anthropic_client(client) as ai, ai.messages.stream(**body) as stream:
        final = await stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].signature == signature

    # The history goes back: the account that made the block may send it, another may not.
    history = [HI[0], {"role": "assistant", "content": [thinking, {"type": "text", "text": "Hi"}]}, HI[0]]
    assert (await post(client, "/v1/messages", {**body, "messages": history}))[0] == 200
    status, error = await post(client, "/v1/messages", {**body, "messages": history}, github_token=OTHER_TOKEN)
    assert status == 400
    assert error == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "messages.1.content.0: Invalid `signature` in `thinking` block",
        },
    }
    # Unsigned, signed by Anthropic's own API, or over different text: all refused, thinking on or off.
    for forged in (
        {"type": "thinking", "thinking": state.thinking_text},
        {"type": "thinking", "thinking": state.thinking_text, "signature": "EqQBCkgIARABGAIiQL2w3Zp"},
        {"type": "thinking", "thinking": "other thoughts", "signature": signature},
    ):
        messages = [HI[0], {"role": "assistant", "content": [{"type": "text", "text": "a"}, forged]}, HI[0]]
        status, error = await post(
            client, "/v1/messages", body_for("/v1/messages", "claude-opus-4.5", messages=messages)
        )
        assert status == 400
        assert error["error"]["message"] == "messages.1.content.1: Invalid `signature` in `thinking` block"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "scope": "global"}}]},
            "system.0.cache_control.ephemeral.scope: Extra inputs are not permitted",
        ),
        (
            {"cache_control": {"type": "ephemeral", "scope": "session"}},
            "cache_control.ephemeral.scope: Extra inputs are not permitted",
        ),
        (
            {
                "system": [{"type": "text", "text": str(i), "cache_control": {"type": "ephemeral"}} for i in range(3)],
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
                            {"type": "text", "text": "b", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                        ],
                    }
                ],
            },
            "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        ),
        ({"thinking": THINKING, "temperature": 0.5}, "`temperature` may only be set to 1 when thinking is enabled"),
        ({"thinking": {"type": "adaptive"}, "temperature": 0}, "`temperature` may only be set to 1"),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 512}},
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ),
        (
            {"thinking": THINKING, "tool_choice": {"type": "any"}},
            "Thinking may not be enabled when tool_choice forces tool use.",
        ),
    ],
)
async def test_messages_refusals(client: FakeClient, extra: dict[str, Any], message: str) -> None:
    status, error = await post(client, "/v1/messages", body_for("/v1/messages", "claude-sonnet-4.5", **extra))
    assert status == 400
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith(message)


async def test_messages_cache_marks_and_allowed_sampling(client: FakeClient) -> None:
    state = state_of(client)
    state.cache_read_tokens, state.cache_creation_tokens = 30, 5
    mark = {"type": "ephemeral"}
    four: Any = {
        "system": [{"type": "text", "text": "s", "cache_control": mark}],
        "tools": [{"name": "t", "input_schema": {"type": "object"}, "cache_control": mark}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a", "cache_control": mark}]},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": [{"type": "text", "text": "c", "cache_control": mark}]},
        ],
    }
    status, answer = await post(client, "/v1/messages", body_for("/v1/messages", "claude-sonnet-4.5", **four))
    assert status == 200
    assert answer["usage"] == {
        "input_tokens": state.prompt_tokens,
        "cache_creation_input_tokens": 5,
        "cache_read_input_tokens": 30,
        "output_tokens": state.completion_tokens,
    }
    frames = await sse(client, "/v1/messages", body_for("/v1/messages", "claude-sonnet-4.5", **four))
    assert frames[0][1]["message"]["usage"]["cache_read_input_tokens"] == 30
    # Thinking allows temperature 1; without thinking any temperature goes.
    for extra in ({"thinking": THINKING, "temperature": 1}, {"temperature": 0.2, "top_p": 0.9}):
        assert (await post(client, "/v1/messages", body_for("/v1/messages", "claude-sonnet-4.5", **extra)))[0] == 200
    # A top-level mark, refused only on the models the knob names.
    state.top_level_cache_control_refused = {"claude-opus-4.5"}
    top: Any = {"cache_control": mark}
    assert (await post(client, "/v1/messages", body_for("/v1/messages", "claude-sonnet-4.5", **top)))[0] == 200
    status, error = await post(client, "/v1/messages", body_for("/v1/messages", "claude-opus-4.5", **top))
    assert (status, error["error"]["message"]) == (400, "cache_control: Extra inputs are not permitted")


async def test_messages_betas_are_recorded_and_can_be_refused(client: FakeClient) -> None:
    state = state_of(client)
    body = body_for("/v1/messages", "claude-sonnet-4.5")
    headers = {"anthropic-beta": "interleaved-thinking-2025-05-14, context-management-2025-06-27"}
    assert (await post(client, "/v1/messages", body, headers))[0] == 200
    recorded = state.last_request("/v1/messages")
    assert recorded.anthropic_betas == ["interleaved-thinking-2025-05-14", "context-management-2025-06-27"]
    state.rejected_betas = {"context-management-2025-06-27"}
    status, error = await post(client, "/v1/messages", body, headers)
    assert status == 400
    assert error["error"]["message"].startswith(
        "Unexpected value(s) `context-management-2025-06-27` for the `anthropic-beta` header."
    )
    assert (await post(client, "/v1/messages", body, {"anthropic-beta": "interleaved-thinking-2025-05-14"}))[0] == 200


async def test_messages_tool_use(client: FakeClient) -> None:
    state = state_of(client)
    state.completion_text = ""
    state.tool_calls = [("get_weather", {"city": "Paris"}), ("g", {"b": [1, 2]})]
    body = body_for("/v1/messages", "claude-opus-4.5", tools=[{"name": "get_weather", "input_schema": {}}])
    async with anthropic_client(client) as ai:
        message = await ai.messages.create(**body)
        async with ai.messages.stream(**body) as stream:
            final = await stream.get_final_message()
    for answer in (message, final):
        assert answer.stop_reason == "tool_use"
        calls = [block.model_dump() for block in answer.content if block.type == "tool_use"]
        assert len(calls) == len(answer.content) == 2
        assert [(c["name"], c["input"]) for c in calls] == [("get_weather", {"city": "Paris"}), ("g", {"b": [1, 2]})]
        assert all(c["id"].startswith("toolu_") for c in calls)
    frames = await sse(client, "/v1/messages", body)
    partial = [d["delta"]["partial_json"] for n, d in frames if n == "content_block_delta" and d["index"] == 0]
    assert len(partial) == state.stream_chunks and "".join(partial) == '{"city":"Paris"}'
    assert frames[-2][1]["delta"]["stop_reason"] == "tool_use"
    # With text: the text block comes first.
    state.completion_text = "Let me check."
    _, answer = await post(client, "/v1/messages", body)
    assert [block["type"] for block in answer["content"]] == ["text", "tool_use", "tool_use"]


async def test_messages_stop_sequences_and_max_tokens(client: FakeClient) -> None:
    state = state_of(client)
    body = body_for("/v1/messages", "claude-sonnet-4.5", stop_sequences=[" fake"])
    status, answer = await post(client, "/v1/messages", body)
    assert status == 200
    assert answer["content"] == [{"type": "text", "text": "Hello from the"}]
    assert (answer["stop_reason"], answer["stop_sequence"]) == ("stop_sequence", " fake")
    state.finish_reason = "length"
    _, answer = await post(client, "/v1/messages", body_for("/v1/messages", "claude-sonnet-4.5"))
    assert answer["stop_reason"] == "max_tokens"


# --------------------------------------------------------------------------- /responses

FUNCTION_TOOL: Any = {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}
REASONING: Any = {"effort": "high", "summary": "auto"}


async def test_responses_stream_every_event(client: FakeClient) -> None:
    state = state_of(client)
    state.tool_calls = [("f", {"a": 1})]
    body = body_for(
        "/responses",
        "gpt-5.3-codex",
        reasoning=REASONING,
        include=["reasoning.encrypted_content"],
        store=False,
        tools=[FUNCTION_TOOL],
    )
    frames = await sse(client, "/responses", body)
    chunks = state.stream_chunks
    assert [name for name, _ in frames] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        *["response.reasoning_summary_text.delta"] * chunks,
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * chunks,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        *["response.function_call_arguments.delta"] * chunks,
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert all(data["type"] == name for name, data in frames)
    assert [data["sequence_number"] for _, data in frames] == list(range(len(frames)))
    added = [data["item"] for name, data in frames if name == "response.output_item.added"]
    done = [data["item"] for name, data in frames if name == "response.output_item.done"]
    reasoning, message, call = done
    assert "encrypted_content" not in added[0]
    assert reasoning["id"].startswith("rs_")
    assert reasoning["summary"] == [{"type": "summary_text", "text": state.thinking_text}]
    assert reasoning["encrypted_content"] == state.encrypted_reasoning_for(GITHUB_TOKEN, state.thinking_text)
    assert state.decrypt_reasoning(GITHUB_TOKEN, reasoning["encrypted_content"]) == state.thinking_text
    assert state.decrypt_reasoning(OTHER_TOKEN, reasoning["encrypted_content"]) is None
    assert message["content"][0]["text"] == state.completion_text and message["status"] == "completed"
    assert set(call) == {"type", "id", "call_id", "name", "arguments", "status"}
    assert (call["name"], call["arguments"], call["status"]) == ("f", '{"a":1}', "completed")
    assert call["call_id"].startswith("call_") and call["id"].startswith("fc_")
    assert added[2]["arguments"] == "" and added[2]["call_id"] == call["call_id"]
    deltas = [data["delta"] for name, data in frames if name == "response.function_call_arguments.delta"]
    assert "".join(deltas) == '{"a":1}'
    completed = frames[-1][1]["response"]
    assert completed["id"].startswith("resp_") and completed["id"] == frames[0][1]["response"]["id"]
    assert completed["status"] == "completed" and completed["output"] == done
    assert completed["usage"]["input_tokens"] == state.prompt_tokens
    assert completed["usage"]["output_tokens"] == state.completion_tokens
    assert completed["usage"]["total_tokens"] == state.prompt_tokens + state.completion_tokens
    assert completed["usage"]["output_tokens_details"]["reasoning_tokens"] == state.reasoning_tokens

    # The openai client accumulates the same response from the stream.
    token = state.issue_copilot_token(GITHUB_TOKEN).token
    async with (
        openai.AsyncOpenAI(base_url=str(client.make_url("")), api_key=token) as oai,
        oai.responses.stream(**body) as stream,
    ):
        final = await stream.get_final_response()
    assert [item.type for item in final.output] == ["reasoning", "message", "function_call"]
    assert final.output_text == state.completion_text


async def test_responses_json(client: FakeClient) -> None:
    state = state_of(client)
    status, answer = await post(client, "/responses", body_for("/responses", "gpt-5-mini", reasoning={"effort": "low"}))
    assert status == 200
    assert answer["object"] == "response" and answer["status"] == "completed"
    reasoning, message = answer["output"]
    assert reasoning == {"type": "reasoning", "id": reasoning["id"], "summary": []}  # no encrypted_content asked
    assert message["content"][0]["text"] == state.completion_text
    assert answer["usage"]["output_tokens_details"]["reasoning_tokens"] == state.reasoning_tokens
    # No reasoning asked: no reasoning item; cut at max_output_tokens: incomplete.
    state.finish_reason = "length"
    status, answer = await post(client, "/responses", body_for("/responses", "gpt-5-mini"))
    assert [item["type"] for item in answer["output"]] == ["message"]
    assert answer["status"] == "incomplete" and answer["incomplete_details"] == {"reason": "max_output_tokens"}
    assert answer["usage"]["output_tokens_details"]["reasoning_tokens"] == 0
    frames = await sse(client, "/responses", body_for("/responses", "gpt-5-mini"))
    assert frames[-1][0] == "response.incomplete"
    # Only tool calls: no message item.
    state.finish_reason, state.completion_text, state.tool_calls = "stop", "", [("f", {})]
    status, answer = await post(client, "/responses", body_for("/responses", "gpt-5-mini"))
    assert [item["type"] for item in answer["output"]] == ["function_call"]


async def test_responses_encrypted_reasoning_only_verifies_on_its_account(client: FakeClient) -> None:
    state = state_of(client)
    body = body_for("/responses", "gpt-5.3-codex", reasoning=REASONING, include=["reasoning.encrypted_content"])
    status, answer = await post(client, "/responses", body)
    reasoning = answer["output"][0]
    follow_up = {
        **body,
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            reasoning,
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hey"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "more"}]},
        ],
    }
    assert (await post(client, "/responses", follow_up))[0] == 200
    status, error = await post(client, "/responses", follow_up, github_token=OTHER_TOKEN)
    assert status == 400
    assert error["error"]["code"] == "invalid_encrypted_content"
    assert error["error"]["param"] == "input[1].encrypted_content"
    for broken in ("gAAAAABnot-base64!", state.encrypted_reasoning_for(GITHUB_TOKEN, "x")[:-4], None):
        follow_up["input"][1] = {**reasoning, "encrypted_content": broken}
        status, error = await post(client, "/responses", follow_up)
        assert (status, error["error"]["code"]) == (400, "invalid_encrypted_content")


@pytest.mark.parametrize(
    ("extra", "code", "param"),
    [
        ({"previous_response_id": "resp_abc"}, "previous_response_not_found", "previous_response_id"),
        ({"tools": [FUNCTION_TOOL, {"type": "web_search"}]}, "unsupported_value", "tools[1].type"),
        ({"tools": [{"type": "image_generation"}]}, "unsupported_value", "tools[0].type"),
        ({"tools": [{"type": "custom", "name": "apply_patch"}]}, "unsupported_value", "tools[0].type"),
    ],
)
async def test_responses_refusals(client: FakeClient, extra: dict[str, Any], code: str, param: str) -> None:
    status, error = await post(client, "/responses", body_for("/responses", "gpt-5-mini", **extra))
    assert status == 400
    assert (error["error"]["code"], error["error"]["param"]) == (code, param)
    assert error["error"]["type"] == "invalid_request_error"


async def test_responses_function_tools_are_accepted(client: FakeClient) -> None:
    status, answer = await post(client, "/responses", body_for("/responses", "gpt-5-mini", tools=[FUNCTION_TOOL]))
    assert status == 200 and answer["tools"] == [FUNCTION_TOOL]


# --------------------------------------------------------------------------- faults and recording


async def test_fail_next_466_sends_copilots_body(client: FakeClient) -> None:
    state_of(client).fail_next(466, path="/v1/messages")
    status, body = await post(client, "/v1/messages", body_for("/v1/messages", "claude-sonnet-4.5"))
    assert status == 466
    assert body == {"error": {"message": API_VERSION_UNSUPPORTED, "type": "error"}}
    assert body["error"]["message"].startswith("bad request: the specified API version is no longer supported.")
    assert (await post(client, "/v1/messages", body_for("/v1/messages", "claude-sonnet-4.5")))[0] == 200


async def test_min_api_version_answers_466_to_older_clients(client: FakeClient) -> None:
    state_of(client).min_api_version = "2025-10-01"
    calls = [(path, body_for(path, model)) for path, model in SAMPLE_CALLS]
    for version, expected in (
        (None, 466),
        ("2025-05-01", 466),
        ("junk", 466),
        ("2025-10-01", 200),
        ("2026-06-01", 200),
    ):
        headers = {} if version is None else {"X-GitHub-Api-Version": version}
        for path, body in calls:
            status, answer = await post(client, path, body, headers)
            assert status == expected, (version, path)
            if expected == 466:
                assert answer == {"error": {"message": API_VERSION_UNSUPPORTED, "type": "error"}}
        resp = await client.get("/models", headers={**bearer(client), **headers})
        assert resp.status == expected
    # GitHub's own endpoints are not Copilot API calls.
    resp = await client.get(
        "/copilot_internal/v2/token",
        headers={"Authorization": f"token {GITHUB_TOKEN}", "X-GitHub-Api-Version": "2025-04-01"},
    )
    assert resp.status == 200


SAMPLE_CALLS = [("/chat/completions", "gpt-4o"), ("/responses", "gpt-5-mini"), ("/v1/messages", "claude-sonnet-4.5")]


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_keep_retry_after(client: FakeClient, status: int) -> None:
    state_of(client).fail_next(status, headers={"retry-after": "3"}, path="/responses")
    resp = await client.post("/responses", json=body_for("/responses", "gpt-5-mini"), headers=bearer(client))
    assert resp.status == status
    assert resp.headers["Retry-After"] == "3"
    assert "error" in await resp.json()


async def test_requests_keep_copilot_headers(client: FakeClient) -> None:
    state = state_of(client)
    headers = {
        "X-Initiator": "agent",
        "Copilot-Vision-Request": "true",
        "X-GitHub-Api-Version": "2026-06-01",
        "Editor-Version": "vscode/1.104.0",
        "Editor-Plugin-Version": "copilot-chat/0.52.0",
        "OpenAI-Intent": "messages-proxy",
    }
    for path, model in SAMPLE_CALLS:
        assert (await post(client, path, body_for(path, model), headers))[0] == 200
        recorded = state.last_request(path)
        assert {name: recorded.headers[name] for name in headers} == headers
        assert recorded.json["model"] == model
    # Repeated anthropic-beta headers are all kept.
    resp = await client.post(
        "/v1/messages",
        json=body_for("/v1/messages", "claude-sonnet-4.5"),
        headers=[*bearer(client).items(), ("anthropic-beta", "a-1"), ("anthropic-beta", "b-2,c-3")],
    )
    assert resp.status == 200
    assert state.last_request("/v1/messages").anthropic_betas == ["a-1", "b-2", "c-3"]
    with pytest.raises(LookupError):
        state.last_request("/embeddings")


async def test_require_vision_header(client: FakeClient) -> None:
    state = state_of(client)
    state.require_vision_header = True
    image_url: Any = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
    image: Any = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]
    input_image: Any = [{"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]
    cases = [
        ("/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": image_url}]}),
        ("/v1/messages", body_for("/v1/messages", "claude-sonnet-4.5", messages=[{"role": "user", "content": image}])),
        ("/responses", {"model": "gpt-5-mini", "input": [{"role": "user", "content": input_image}]}),
    ]
    for path, body in cases:
        status, error = await post(client, path, body)
        assert status == 400 and "Copilot-Vision-Request" in error["error"]["message"]
        assert (await post(client, path, body, {"Copilot-Vision-Request": "true"}))[0] == 200
        assert (await post(client, path, body_for(path, body["model"])))[0] == 200  # no image, no header: fine


def test_signature_and_encryption_helpers() -> None:
    state = FakeUpstreamState()
    copilot_token = state.issue_copilot_token(GITHUB_TOKEN).token
    assert state.github_token_of(copilot_token) == GITHUB_TOKEN
    assert state.github_token_of("nope") is None
    signature = state.signature_for(GITHUB_TOKEN, "thoughts")
    assert signature == state.signature_for(GITHUB_TOKEN, "thoughts")
    assert signature not in {state.signature_for(OTHER_TOKEN, "thoughts"), state.signature_for(GITHUB_TOKEN, "other")}
    assert state.verify_signature(GITHUB_TOKEN, "thoughts", signature)
    assert not state.verify_signature(OTHER_TOKEN, "thoughts", signature)
    assert not state.verify_signature(GITHUB_TOKEN, "thoughts", None)
    assert not state.verify_signature(GITHUB_TOKEN, "thoughts", "é")
    encrypted = state.encrypted_reasoning_for(GITHUB_TOKEN, "reasoned")
    assert encrypted.startswith("gAAAAA")
    assert state.decrypt_reasoning(GITHUB_TOKEN, encrypted) == "reasoned"
    assert state.decrypt_reasoning(OTHER_TOKEN, encrypted) is None
    # Another fake (another secret) does not accept this one's signatures either.
    assert not FakeUpstreamState().verify_signature(GITHUB_TOKEN, "thoughts", signature)
