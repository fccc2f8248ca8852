"""The upstream's rules, each alone: X-Initiator and vision, the endpoint choice, conversation affinity,
what a moved conversation leaves behind, and the per-account model catalog."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from proxyd.config import Config
from proxyd.errors import UpstreamError
from proxyd.keys.records import CopilotMeta
from proxyd.sharedstate.memory import MemoryState
from proxyd.translate.base import Api
from proxyd.upstream.affinity import ConversationAffinity, Pin, conversation_id
from proxyd.upstream.catalog import ModelCatalog
from proxyd.upstream.github import CopilotToken
from proxyd.upstream.identity import CallTraits, ClientIdentity, has_image, initiator
from proxyd.upstream.portable import portable
from proxyd.upstream.routing import choose_endpoint
from tests.manual_clock import ManualClock

# --- X-Initiator: from the last message ------------------------------------------------------------


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([{"role": "user", "content": "hi"}], "user"),
        # A person's new turn after a whole agent loop is the person's (the old rule said agent).
        (
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "tool_calls": [{"id": "1"}]},
                {"role": "tool", "tool_call_id": "1", "content": "x"},
                {"role": "assistant", "content": "done"},
                {"role": "user", "content": "thanks, now this"},
            ],
            "user",
        ),
        ([{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "1", "content": "x"}], "agent"),
        ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "prefill"}], "agent"),
    ],
)
def test_chat_initiator_follows_the_last_message(messages: list[Any], expected: str) -> None:
    assert initiator("chat", {"messages": messages}) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("hi", "user"),
        ([{"type": "text", "text": "hi"}], "user"),
        ([{"type": "tool_result", "tool_use_id": "t", "content": "x"}], "agent"),
        # A tool result with the person's words beside it is a person's turn.
        ([{"type": "tool_result", "tool_use_id": "t", "content": "x"}, {"type": "text", "text": "and"}], "user"),
    ],
)
def test_messages_initiator(content: Any, expected: str) -> None:
    history = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    assert initiator("messages", {"messages": [*history, {"role": "user", "content": content}]}) == expected
    assert initiator("messages", {"messages": [*history]}) == "agent"  # an assistant prefill


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ("hi", "user"),
        ([{"role": "user", "content": "hi"}], "user"),
        ([{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}], "user"),
        ([{"type": "function_call_output", "call_id": "c", "output": "x"}], "agent"),
        ([{"type": "message", "role": "assistant", "content": "prefill"}], "agent"),
    ],
)
def test_responses_initiator(items: Any, expected: str) -> None:
    assert initiator("responses", {"input": items}) == expected


def test_a_resend_is_always_the_agents() -> None:
    identity = ClientIdentity.from_config(Config())
    body = {"messages": [{"role": "user", "content": "hi"}]}
    traits = CallTraits.of("chat", body)
    assert identity.copilot_headers("t", traits, None, resent=False)["x-initiator"] == "user"
    assert identity.copilot_headers("t", traits, None, resent=True)["x-initiator"] == "agent"


def test_vision_header_only_with_an_image_in_any_shape() -> None:
    assert has_image({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})
    assert has_image({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "data:"}]}]})
    assert has_image({"messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]})
    nested = {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "image", "source": {}}]}
    assert has_image({"messages": [{"role": "user", "content": [nested]}]})
    assert not has_image({"messages": [{"role": "user", "content": "a picture of a cat"}]})
    assert not has_image({"input": "hi"})


def test_identity_comes_from_the_configuration() -> None:
    config = Config.from_env(
        {
            "PROXYD_COPILOT_API_VERSION": "2027-01-01",
            "PROXYD_EDITOR_VERSION": "vscode/2.0.0",
            "PROXYD_EDITOR_PLUGIN_VERSION": "copilot-chat/1.2.3",
        }
    )
    headers = ClientIdentity.from_config(config).copilot_headers("t", CallTraits.of(None, None), None, resent=False)
    assert headers["x-github-api-version"] == "2027-01-01"
    assert headers["editor-version"] == "vscode/2.0.0"
    assert headers["editor-plugin-version"] == "copilot-chat/1.2.3"
    assert headers["user-agent"] == "GitHubCopilotChat/1.2.3"
    defaults = ClientIdentity.from_config(Config())
    assert defaults.api_version >= "2026-06-01"
    # GitHub's own endpoints keep the version they document.
    assert defaults.github_headers()["x-github-api-version"] == "2025-04-01"


# --- the endpoint choice ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "endpoints", "expected"),
    [
        ("chat", None, "chat"),  # a model the list does not name: chat, as always
        ("responses", None, "chat"),
        ("chat", {"chat", "responses"}, "chat"),  # the client's own API first: no translation
        ("responses", {"chat", "responses"}, "responses"),
        ("messages", {"chat", "messages"}, "messages"),
        ("chat", {"responses"}, "responses"),
        ("messages", {"responses"}, "responses"),
        ("chat", {"messages"}, "messages"),
        ("responses", {"chat"}, "chat"),
        ("messages", {"chat"}, "chat"),
        # Neither is the client's: the official client's order.
        ("chat", {"messages", "responses"}, "responses"),
        ("responses", {"messages", "chat"}, "messages"),
        ("chat", set(), "chat"),
    ],
)
def test_choose_endpoint(client: Api, endpoints: set[Api] | None, expected: Api) -> None:
    assert choose_endpoint(client, frozenset(endpoints) if endpoints is not None else None) == expected


# --- conversations ---------------------------------------------------------------------------------


def test_conversation_ids_come_from_what_each_client_sends() -> None:
    session = "user_abc_account_1_session_2f9c"
    assert conversation_id("messages", {"metadata": {"user_id": session}}, {}) == session
    assert conversation_id("responses", {"prompt_cache_key": "p1"}, {}) == "p1"
    assert conversation_id("responses", {}, {"session_id": "s1"}) == "s1"
    assert conversation_id("chat", {"user": "u1"}, {}) == "u1"
    assert conversation_id("chat", {"prompt_cache_key": "p2", "user": "u1"}, {}) == "p2"
    assert conversation_id("chat", {}, {}) is None
    assert conversation_id("chat", {"user": "x" * 1000}, {}) == "x" * 256


async def test_affinity_pins_moves_and_forgets() -> None:
    clock = ManualClock()
    state = MemoryState(clock=clock, capacity=2)
    affinity = ConversationAffinity(state, idle=60)
    assert await affinity.pinned("c1") is None
    await affinity.remember("c1", "a", moved=False)
    assert await affinity.pinned("c1") == Pin("a", moved=False)
    await affinity.remember("c1", "b", moved=True)
    assert await affinity.pinned("c1") == Pin("b", moved=True)
    clock.advance(59)
    assert await affinity.pinned("c1") is not None  # each request keeps it alive ...
    clock.advance(59)
    assert await affinity.pinned("c1") is not None
    clock.advance(61)
    assert await affinity.pinned("c1") is None  # ... idle too long, it is forgotten
    for name in ("c2", "c3", "c4"):
        await affinity.remember(name, "a", moved=False)
    assert len(affinity) == 2 and await affinity.pinned("c2") is None  # bounded: the least recently used went


# --- what a moved conversation leaves behind -------------------------------------------------------


def test_portable_messages_drop_thinking_blocks() -> None:
    body = {
        "model": "claude-sonnet-4.5",
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "x"},
                    {"type": "text", "text": "a"},
                ],
            },
            {"role": "user", "content": "next"},
        ],
    }
    moved = portable("messages", body)
    assert moved is not None
    assert moved["messages"][1]["content"] == [{"type": "text", "text": "a"}]
    assert moved["thinking"] == body["thinking"]  # a new turn keeps thinking
    assert portable("messages", {"messages": [{"role": "user", "content": "q"}]}) is None
    assert portable("chat", body) is None


def test_portable_messages_mid_tool_turn_go_without_thinking() -> None:
    body = {
        "thinking": {"type": "adaptive"},
        "messages": [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "tool_use", "id": "t", "name": "f", "input": {}},
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "x"}]},
        ],
    }
    moved = portable("messages", body)
    assert moved is not None and "thinking" not in moved


def test_portable_responses_drop_reasoning_ids_and_previous_response() -> None:
    body = {
        "previous_response_id": "resp_1",
        "input": [
            {"type": "message", "role": "user", "content": "q"},
            {"type": "reasoning", "id": "rs_1", "encrypted_content": "enc", "summary": []},
            {"type": "function_call", "id": "fc_1", "call_id": "c", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "x"},
        ],
    }
    moved = portable("responses", body)
    assert moved is not None and "previous_response_id" not in moved
    assert [item.get("type") for item in moved["input"]] == ["message", "function_call", "function_call_output"]
    assert all("id" not in item for item in moved["input"])
    assert moved["input"][1]["call_id"] == "c"
    assert portable("responses", {"input": "hi"}) is None


# --- the model catalog -----------------------------------------------------------------------------


def _token() -> CopilotToken:
    return CopilotToken("t", 0, 0, "http://127.0.0.1", CopilotMeta("t", 0))


async def test_catalog_waits_once_then_refreshes_in_the_background() -> None:
    clock = ManualClock()
    answers: list[list[Any]] = [
        [{"id": "m", "supported_endpoints": ["/responses"]}, {"id": "c"}],
        [{"id": "m", "supported_endpoints": ["/chat/completions", "/responses"]}],
    ]
    gate = asyncio.Event()
    gate.set()

    async def fetch(token: CopilotToken) -> list[Any]:
        await gate.wait()
        return answers.pop(0)

    catalog = ModelCatalog(fetch, refresh_after=600, retry_after=30, clock=clock)
    first, second = await asyncio.gather(catalog.endpoints("a", _token(), "m"), catalog.endpoints("a", _token(), "c"))
    assert first == frozenset({"responses"}) and second == frozenset({"chat"})  # no supported_endpoints: chat
    assert catalog.fetches == 1  # shared by concurrent requests
    assert await catalog.endpoints("a", _token(), "unknown") is None
    clock.advance(601)
    gate.clear()  # the refresh hangs: requests keep the old list meanwhile
    assert await catalog.endpoints("a", _token(), "m") == frozenset({"responses"})
    gate.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await catalog.endpoints("a", _token(), "m") == frozenset({"chat", "responses"})
    assert catalog.fetches == 2


async def test_catalog_without_a_list_treats_models_as_unlisted_and_retries_later() -> None:
    clock = ManualClock()
    calls = 0

    async def fetch(token: CopilotToken) -> list[Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise UpstreamError("Copilot API answered 500 to GET /models")
        return [{"id": "m", "supported_endpoints": ["/responses"]}]

    catalog = ModelCatalog(fetch, refresh_after=600, retry_after=30, clock=clock)
    assert await catalog.endpoints("a", _token(), "m") is None
    assert await catalog.endpoints("a", _token(), "m") is None  # not asked again at once
    clock.advance(31)
    await catalog.endpoints("a", _token(), "m")  # starts the retry
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await catalog.endpoints("a", _token(), "m") == frozenset({"responses"})
