"""Speaking Copilot as its own client does, end to end against the fake upstream.

Native Messages keeps what Claude Code sends; 466 is never retried and names
the setting to change; a 500 or 502 is sent once more as the agent's; the
Responses stream tells Codex why Copilot refused; a conversation stays on one
account of a client key's pool, and moves with what only its old account could
verify left behind; the model list fits the key; PROXYD_MODEL_MAP holds on every
route. The pool's affinity runs on every database; the rest on SQLite.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest

from bench.fake_upstream import RecordedRequest
from proxyd.config import Config
from tests import proxy_clients
from tests.conftest import RunningProxy
from tests.test_client_keys import add_account, call, new_client_key

GITHUB_TOKEN = "gho_protocoltest000000000000000000000001"
ALICE = "gho_protocolalice00000000000000000000001"
BOB = "gho_protocolbob0000000000000000000000002"
HI = [{"role": "user", "content": "hi"}]
THINKING = {"type": "enabled", "budget_tokens": 1024}


@pytest.fixture
def proxy_config(config: Config) -> Config:
    return dataclasses.replace(
        config, usage_flush_interval=0.05, shutdown_timeout=2.0, model_map=(("house-codex", "gpt-5.3-codex"),)
    )


@pytest.fixture
async def keyed(proxy: RunningProxy) -> RunningProxy:
    proxy.upstream.state.responses_accepts_chat_models = False
    await proxy_clients.add_key(proxy, GITHUB_TOKEN)
    return proxy


def account_of(proxy: RunningProxy, request: RecordedRequest) -> str | None:
    """The GitHub token whose Copilot token made ``request``."""
    return proxy.upstream.state.github_token_of(request.headers["Authorization"].removeprefix("Bearer "))


async def post(
    http: aiohttp.ClientSession, url: str, body: Any, key: str = GITHUB_TOKEN, **headers: str
) -> tuple[int, Any, Any]:
    return await call(http, "POST", url, json=body, headers={"Authorization": f"Bearer {key}", **headers})


# --- native Messages ---------------------------------------------------------------------------------


async def test_native_messages_keep_thinking_cache_marks_and_accepted_betas(
    keyed: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    proxy = keyed
    body = {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 2048,
        "thinking": THINKING,
        "temperature": 0.2,  # refused with thinking by Copilot: dropped
        "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral", "scope": "global"}}],
        "metadata": {"user_id": "user_1_account_2_session_abc"},
        "messages": HI,
    }
    betas = "interleaved-thinking-2025-05-14,claude-code-20250219,context-management-2025-06-27"
    status, message, _ = await post(http, f"{proxy.url}/v1/messages", body, **{"anthropic-beta": betas})
    assert status == 200, message
    thinking, text = message["content"]
    assert thinking["type"] == "thinking" and thinking["signature"]
    assert text == {"type": "text", "text": "Hello from the fake Copilot!"}
    (sent,) = proxy.upstream.state.requests_to("/v1/messages")
    assert sent.json["model"] == "claude-sonnet-4.5"
    assert sent.json["thinking"] == THINKING and "temperature" not in sent.json
    assert sent.json["system"][0]["cache_control"] == {"type": "ephemeral"}  # scope is refused by Copilot
    assert sent.json["metadata"] == body["metadata"]
    assert sent.anthropic_betas == ["interleaved-thinking-2025-05-14", "context-management-2025-06-27"]
    assert message["usage"]["cache_read_input_tokens"] == proxy.upstream.state.cache_read_tokens
    # The signature verifies on the same account: the next turn goes through with it.
    follow = {**body, "messages": [*HI, {"role": "assistant", "content": message["content"]}, *HI]}
    status, answer, _ = await post(http, f"{proxy.url}/v1/messages", follow)
    assert status == 200, answer
    assert proxy.upstream.state.requests_to("/v1/messages")[-1].json["messages"][1]["content"][0] == thinking


async def test_native_messages_stream_thinking_event_by_event(keyed: RunningProxy, sqlite_only: None) -> None:
    claude = anthropic.AsyncAnthropic(base_url=keyed.url, api_key=GITHUB_TOKEN, max_retries=0)
    stream_of = claude.messages.stream(model="claude-sonnet-4.5", max_tokens=2048, thinking=THINKING, messages=HI)  # type: ignore[arg-type]
    async with claude, stream_of as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert [block.type for block in final.content] == ["thinking", "text"]
    assert final.content[0].signature  # type: ignore[union-attr]
    assert kinds[0] == "message_start" and "content_block_delta" in kinds and kinds[-1] == "message_stop"


# --- 466, 500, 503 --------------------------------------------------------------------------------------


async def test_466_is_not_retried_and_names_the_setting_once_a_minute(
    keyed: RunningProxy, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture, sqlite_only: None
) -> None:
    proxy = keyed
    proxy.upstream.state.min_api_version = "2099-01-01"  # Copilot now deems every version too old
    chat = {"model": "gpt-4.1", "messages": HI}
    with caplog.at_level(logging.ERROR, logger="proxyd.upstream"):
        status, error, _ = await post(http, f"{proxy.url}/v1/chat/completions", chat)
        assert status == 502
        assert "PROXYD_COPILOT_API_VERSION" in error["error"]["message"]
        assert error["error"]["code"] == "client_version_unsupported"
        assert len(proxy.upstream.state.requests_to("/chat/completions")) == 1  # never retried
        body = {"model": "claude-sonnet-4.5", "max_tokens": 10, "messages": HI}
        status, error, _ = await post(http, f"{proxy.url}/v1/messages", body)
        assert status == 502 and error["type"] == "error"  # Anthropic's shape on its route
        assert "PROXYD_COPILOT_API_VERSION" in error["error"]["message"]
    assert len([r for r in caplog.records if "PROXYD_COPILOT_API_VERSION" in r.getMessage()]) == 1
    async with http.get(f"{proxy.url}/metrics") as r:
        assert "proxyd_copilot_version_refused_total 2" in await r.text()


async def test_the_api_version_is_changed_without_a_release(config: Config, sqlite_only: None) -> None:
    from bench.fake_upstream import running_fake_upstream
    from tests.conftest import run_proxy

    newer = dataclasses.replace(config, copilot_api_version="2099-02-01", usage_flush_interval=0.05)
    async with running_fake_upstream() as upstream, run_proxy(newer, upstream) as proxy:
        upstream.state.min_api_version = "2099-01-01"
        await proxy_clients.add_key(proxy, GITHUB_TOKEN)
        async with aiohttp.ClientSession() as http:
            status, _, _ = await post(http, f"{proxy.url}/v1/chat/completions", {"model": "gpt-4.1", "messages": HI})
        assert status == 200
        (sent,) = upstream.state.requests_to("/chat/completions")
        assert sent.headers["X-GitHub-Api-Version"] == "2099-02-01"


@pytest.mark.parametrize("status", [500, 502])
async def test_a_500_or_502_is_sent_once_more_as_the_agents(
    keyed: RunningProxy, http: aiohttp.ClientSession, status: int, sqlite_only: None
) -> None:
    proxy = keyed
    proxy.upstream.state.fail_next(status, path="/chat/completions")
    answer_status, _, _ = await post(http, f"{proxy.url}/v1/chat/completions", {"model": "gpt-4.1", "messages": HI})
    assert answer_status == 200
    first, second = proxy.upstream.state.requests_to("/chat/completions")
    assert first.headers["x-initiator"] == "user" and second.headers["x-initiator"] == "agent"


async def test_503_and_429_are_not_retried_on_the_same_account(
    keyed: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    proxy = keyed
    for status in (503, 429):
        proxy.upstream.state.clear_requests()
        proxy.upstream.state.fail_next(status, path="/chat/completions")
        got, _, _ = await post(http, f"{proxy.url}/v1/chat/completions", {"model": "gpt-4.1", "messages": HI})
        assert got == status
        assert len(proxy.upstream.state.requests_to("/chat/completions")) == 1


# --- Responses streams tell Codex why ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "headers", "code"),
    [
        (
            429,
            {"error": {"message": "slow down", "code": "user_weekly_rate_limited"}},
            {"retry-after": "3"},
            "rate_limit_exceeded",
        ),
        (402, {"error": {"message": "You have no quota left"}}, {}, "insufficient_quota"),
        (
            400,
            {"error": {"message": "prompt token count exceeds the limit", "code": "model_max_prompt_tokens_exceeded"}},
            {},
            "context_length_exceeded",
        ),
    ],
)
async def test_a_refused_responses_stream_ends_in_response_failed(
    keyed: RunningProxy, status: int, error: Any, headers: dict[str, str], code: str, sqlite_only: None
) -> None:
    keyed.upstream.state.fail_next(status, error, headers, path="/responses")
    async with openai.AsyncOpenAI(base_url=keyed.url + "/v1", api_key=GITHUB_TOKEN, max_retries=0) as ai:
        events = [e async for e in await ai.responses.create(model="gpt-5.3-codex", input="hi", stream=True)]
    assert [e.type for e in events] == ["response.created", "response.failed"]
    failed = events[-1].response  # type: ignore[union-attr]
    assert failed.error is not None and failed.error.code == code
    if status == 429:
        assert "try again in 3s" in failed.error.message


# --- one conversation, one account -------------------------------------------------------------------


async def _pool(proxy: RunningProxy, http: aiohttp.ClientSession) -> str:
    alice = await add_account(proxy, http, "alice", ALICE)
    bob = await add_account(proxy, http, "bob", BOB)
    created = await new_client_key(proxy, http, accounts=[alice, bob])
    return str(created["key"])


def _turn(session: str, history: list[Any] | None = None) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4.5",
        "max_tokens": 2048,
        "thinking": THINKING,
        "metadata": {"user_id": f"user_x_account_y_session_{session}"},
        "messages": [*(history or []), {"role": "user", "content": "go on"}],
    }


async def test_a_conversation_stays_on_its_account_and_moves_without_what_only_it_can_verify(
    proxy: RunningProxy, http: aiohttp.ClientSession
) -> None:
    key = await _pool(proxy, http)
    state = proxy.upstream.state
    url = f"{proxy.url}/v1/messages"
    history: list[Any] = []
    for _ in range(3):
        status, message, _ = await post(http, url, _turn("one", history), key)
        assert status == 200, message
        history += [{"role": "user", "content": "go on"}, {"role": "assistant", "content": message["content"]}]
    served = {account_of(proxy, request) for request in state.requests_to("/v1/messages")}
    assert len(served) == 1  # three turns, one account: its signatures verified each time
    (first,) = served
    # A new conversation goes to the other, ready account.
    status, _, _ = await post(http, url, _turn("two"), key)
    assert status == 200
    assert account_of(proxy, state.requests_to("/v1/messages")[-1]) != first
    # The first account is rate limited: the conversation moves, its thinking left behind, and succeeds.
    state.fail_next(429, headers={"retry-after": "60"}, path="/v1/messages")
    status, message, _ = await post(http, url, _turn("one", history), key)
    assert status == 200, message
    moved = state.requests_to("/v1/messages")[-1]
    assert account_of(proxy, moved) != first
    blocks = [b for m in moved.json["messages"] if isinstance(m["content"], list) for b in m["content"]]
    assert all(block["type"] != "thinking" for block in blocks)
    # And it stays there: the next turn goes to the new account, still without the old signatures.
    history += [{"role": "user", "content": "go on"}, {"role": "assistant", "content": message["content"]}]
    status, message, _ = await post(http, url, _turn("one", history), key)
    assert status == 200, message
    assert account_of(proxy, state.requests_to("/v1/messages")[-1]) == account_of(proxy, moved)
    async with http.get(f"{proxy.url}/metrics") as r:
        assert "proxyd_conversations 2" in await r.text()


async def test_a_conversation_resent_without_another_accounts_signature_stays_moved(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    """After the 400 the pin says moved: later turns go without what another account made at once, not after
    another 400 each."""
    key = await _pool(proxy, http)
    state = proxy.upstream.state
    url = f"{proxy.url}/v1/messages"
    foreign = {"type": "thinking", "thinking": "old", "signature": "c2lnbmVkIGVsc2V3aGVyZQ=="}
    history = [*HI, {"role": "assistant", "content": [foreign, {"type": "text", "text": "hi"}]}]
    status, message, _ = await post(http, url, _turn("x", history), key)
    assert status == 200, message
    _, resent = state.requests_to("/v1/messages")  # refused, then sent again without the foreign signature
    history += [{"role": "user", "content": "go on"}, {"role": "assistant", "content": message["content"]}]
    status, message, _ = await post(http, url, _turn("x", history), key)
    assert status == 200, message
    (next_turn,) = state.requests_to("/v1/messages")[2:]
    assert account_of(proxy, next_turn) == account_of(proxy, resent)
    blocks = [b for m in next_turn.json["messages"] if isinstance(m["content"], list) for b in m["content"]]
    assert all(block["type"] != "thinking" for block in blocks)


async def test_a_pool_of_one_account_pins_no_conversation(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    """One account is no choice to keep: nothing is read or written for the conversation."""
    alice = await add_account(proxy, http, "alice", ALICE)
    key = str((await new_client_key(proxy, http, accounts=[alice]))["key"])
    history: list[Any] = []
    for _ in range(2):
        status, message, _ = await post(http, f"{proxy.url}/v1/messages", _turn("one", history), key)
        assert status == 200, message
        history += [{"role": "user", "content": "go on"}, {"role": "assistant", "content": message["content"]}]
    async with http.get(f"{proxy.url}/metrics") as r:
        assert "proxyd_conversations 0" in await r.text()


async def test_a_signature_from_another_account_is_left_behind_after_a_400(
    keyed: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    """proxyd restarted or another instance served: the pin is unknown, Copilot's 400 says so, resent without."""
    proxy = keyed
    foreign = {"type": "thinking", "thinking": "old", "signature": "c2lnbmVkIGVsc2V3aGVyZQ=="}
    history = [*HI, {"role": "assistant", "content": [foreign, {"type": "text", "text": "hi"}]}]
    status, answer, _ = await post(http, f"{proxy.url}/v1/messages", _turn("x", history))
    assert status == 200, answer
    refused, resent = proxy.upstream.state.requests_to("/v1/messages")
    assert refused.json["messages"][1]["content"][0] == foreign
    assert resent.json["messages"][1]["content"] == [{"type": "text", "text": "hi"}]
    assert resent.headers["x-initiator"] == "agent"


# --- the model list fits the key; the model map holds on every route ----------------------------------


async def test_the_model_list_of_a_limited_key_lists_its_models_only(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    await add_account(proxy, http, "alice", ALICE)
    limited = (await new_client_key(proxy, http, models=["gpt-4.1", "gpt-5.3-codex"]))["key"]
    headers = {"Authorization": f"Bearer {limited}"}
    status, listing, _ = await call(http, "GET", f"{proxy.url}/v1/models", headers=headers)
    assert status == 200
    assert [model["id"] for model in listing["data"]] == ["gpt-4.1", "gpt-5.3-codex"]
    codex = listing["data"][1]
    assert codex["supported_endpoints"] == ["/responses"] and codex["capabilities"] and codex["billing"]
    status, _, _ = await call(http, "GET", f"{proxy.url}/v1/models/gpt-4o", headers=headers)
    assert status in (403, 404)
    status, full, _ = await call(http, "GET", f"{proxy.url}/v1/models", headers={"Authorization": f"Bearer {ALICE}"})
    assert len(full["data"]) > 2


@pytest.mark.parametrize(
    ("path", "body", "answered_as"),
    [
        ("/v1/chat/completions", {"messages": HI}, "house-codex"),  # translated: the client's name
        ("/v1/responses", {"input": "hi"}, "gpt-5.3-codex"),  # native: Copilot's answer as it is
        ("/v1/messages", {"max_tokens": 10, "messages": HI}, "house-codex"),
    ],
)
async def test_the_model_map_holds_on_every_route(
    keyed: RunningProxy,
    http: aiohttp.ClientSession,
    path: str,
    body: dict[str, Any],
    answered_as: str,
    sqlite_only: None,
) -> None:
    status, answer, _ = await post(http, keyed.url + path, {**body, "model": "house-codex"})
    assert status == 200, answer
    (sent,) = keyed.upstream.state.requests_to("/responses")
    assert sent.json["model"] == "gpt-5.3-codex"
    assert answer["model"] == answered_as


@pytest.mark.parametrize("model", [None, 7, ["gpt-4.1"], ""])
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses", "/v1/embeddings"])
async def test_a_limited_key_refuses_a_request_without_a_model_name(
    proxy: RunningProxy, http: aiohttp.ClientSession, path: str, model: Any, sqlite_only: None
) -> None:
    await add_account(proxy, http, "alice", ALICE)
    limited = (await new_client_key(proxy, http, models=["gpt-4.1"]))["key"]
    body: dict[str, Any] = {"messages": HI, "input": "hi"}
    if model is not None:
        body["model"] = model
    status, error, _ = await post(http, proxy.url + path, body, limited)
    assert status == 400, error
    assert error["error"]["param"] == "model"
    assert [r for r in proxy.upstream.state.requests if r.path != "/copilot_internal/v2/token"] == []


async def test_count_tokens_counts_against_the_keys_rpm(
    proxy: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    await add_account(proxy, http, "alice", ALICE)
    key = (await new_client_key(proxy, http, rpm=1))["key"]
    body = {"model": "claude-sonnet-4.5", "messages": HI}
    status, counted, _ = await post(http, f"{proxy.url}/v1/messages/count_tokens", body, key)
    assert status == 200 and counted["input_tokens"] > 0
    status, _, _ = await post(http, f"{proxy.url}/v1/messages/count_tokens", body, key)
    assert status == 429


async def test_an_unlisted_model_goes_to_chat_completions(
    keyed: RunningProxy, http: aiohttp.ClientSession, sqlite_only: None
) -> None:
    body = {"model": "some-new-model", "input": "hi"}
    status, answer, _ = await post(http, f"{keyed.url}/v1/responses", body)
    assert status == 200, answer
    assert keyed.upstream.state.requests_to("/chat/completions")
    assert orjson.loads(orjson.dumps(answer))["output"][0]["type"] == "message"
