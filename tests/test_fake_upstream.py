"""Quick checks that the fake upstream speaks the protocol proxyd's tests rely on."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request
from pytest_aiohttp import AiohttpClient

from tests.fake_upstream import (
    DEVICE_GRANT_TYPE,
    FAKE_STATE,
    FakeUpstreamState,
    create_fake_upstream,
    running_fake_upstream,
)

GITHUB_TOKEN = "gho_testtoken"
FakeClient = TestClient[Request, Application]


@pytest.fixture
async def client(aiohttp_client: AiohttpClient) -> FakeClient:
    state = FakeUpstreamState(device_interval=0)
    state.add_github_token(GITHUB_TOKEN)
    state.add_github_token("gho_nocopilot", has_copilot=False)
    return await aiohttp_client(create_fake_upstream(state))


def state_of(client: FakeClient) -> FakeUpstreamState:
    return client.app[FAKE_STATE]


def bearer(client: FakeClient) -> dict[str, str]:
    return {"Authorization": "Bearer " + state_of(client).issue_copilot_token(GITHUB_TOKEN).token}


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
    script = Path(__file__).with_name("fake_upstream.py")
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
