"""Translations between Anthropic Messages and chat completions, on their own: requests, answers, stream events.

``messages_to_chat`` (ported from the tests of proxyd/anthropic's translation)
and ``chat_to_messages``; what they answer is checked against the types of the
official ``anthropic`` and ``openai`` packages, which is what clients parse it with.
"""

from __future__ import annotations

from typing import Any

import anthropic.types
import openai.types.chat
import pytest
from pydantic import TypeAdapter

from proxyd.errors import BadRequest
from proxyd.translate import chat_to_messages, messages_to_chat
from proxyd.translate.base import Event, StreamTranslation
from proxyd.translate.chain import chained
from proxyd.translate.chat_to_messages.request import DEFAULT_MAX_TOKENS, THINKING_BUDGETS, messages_request
from proxyd.translate.messages_to_chat.estimate import estimate_input_tokens
from proxyd.translate.messages_to_chat.request import chat_request

HI = [{"role": "user", "content": "hi"}]
ANTHROPIC_EVENT: TypeAdapter[Any] = TypeAdapter(anthropic.types.RawMessageStreamEvent)


def _to_chat(body: dict[str, Any], model: str = "m") -> dict[str, Any]:
    return messages_to_chat.translator({"model": model, **body}, "claude-x").request()


def _message(completion: dict[str, Any], model: str = "m", stops: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "copilot", "max_tokens": 5, "messages": HI}
    if stops:
        body["stop_sequences"] = stops
    message = messages_to_chat.translator(body, model).answer(completion)
    anthropic.types.Message.model_validate(message)
    return message


def _anthropic_events(events: list[Event]) -> list[Event]:
    """The events, each checked as the Anthropic SDK parses it and named by its type."""
    for name, data in events:
        assert name == data["type"]
        if name == "error":
            anthropic.types.ErrorResponse.model_validate(data)
        elif name == "ping":  # the SDK skips pings: no type of its own
            assert data == {"type": "ping"}
        else:
            ANTHROPIC_EVENT.validate_python(data)
    return events


def _chat_chunks(events: list[Event]) -> list[dict[str, Any]]:
    """The chunks, each checked as the OpenAI SDK parses it; chat's stream has no event names."""
    chunks = []
    for name, data in events:
        assert name is None
        if "error" not in data:
            openai.types.chat.ChatCompletionChunk.model_validate(data)
        chunks.append(data)
    return chunks


def _chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> dict[str, Any]:
    return {"choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


def _names(events: list[Event]) -> list[str | None]:
    return [name for name, _ in events]


# ---- messages_to_chat: the request ----


def test_system_blocks_are_joined() -> None:
    body = {"max_tokens": 5, "messages": HI, "system": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    assert _to_chat(body)["messages"][0] == {"role": "system", "content": "a\n\nb"}


def test_system_messages_between_turns_stay_in_place() -> None:
    # Claude Code (its mid-conversation-system beta) sends these after the user's first message.
    reminder = {"role": "system", "content": [{"type": "text", "text": "Agents: a, b"}]}
    body = {"max_tokens": 5, "system": "You help.", "messages": [*HI, reminder, {"role": "user", "content": "go"}]}
    assert _to_chat(body)["messages"] == [
        {"role": "system", "content": "You help."},
        *HI,
        {"role": "system", "content": "Agents: a, b"},
        {"role": "user", "content": "go"},
    ]


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ({"type": "auto"}, {"tool_choice": "auto"}),
        ({"type": "any"}, {"tool_choice": "required"}),
        ({"type": "none"}, {"tool_choice": "none"}),
        ({"type": "tool", "name": "f"}, {"tool_choice": {"type": "function", "function": {"name": "f"}}}),
        ({"type": "auto", "disable_parallel_tool_use": True}, {"tool_choice": "auto", "parallel_tool_calls": False}),
    ],
)
def test_tool_choice(choice: dict[str, Any], sent: dict[str, Any]) -> None:
    chat = _to_chat({"max_tokens": 5, "messages": HI, "tool_choice": choice})
    assert {k: chat[k] for k in sent} == sent


def test_tool_result_images_follow_the_tool_messages() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
    result = {
        "type": "tool_result",
        "tool_use_id": "t1",
        "content": [{"type": "text", "text": "see"}, image],
        "is_error": True,
    }
    body = {"max_tokens": 5, "messages": [{"role": "user", "content": [result, {"type": "text", "text": "and?"}]}]}
    assert _to_chat(body)["messages"] == [
        {"role": "tool", "tool_call_id": "t1", "content": "Error: see"},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                {"type": "text", "text": "and?"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": HI}, "max_tokens: field required"),
        ({"max_tokens": 0, "messages": HI}, "max_tokens: must be a positive integer"),
        ({"max_tokens": 5}, "messages: field required"),
        (
            {"max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]},
            "messages.0.role: must be 'user', 'assistant' or 'system'",
        ),
        (
            {"max_tokens": 5, "messages": [*HI, {"role": "system", "content": [{"type": "image"}]}]},
            "messages.1.content.0: expected text blocks",
        ),
        ({"max_tokens": 5, "messages": HI, "temperature": "hot"}, "temperature: must be a number"),
        (
            {"max_tokens": 5, "messages": HI, "tools": [{"type": "web_search_20250305", "name": "w"}]},
            "tools.0: server tools",
        ),
        ({"max_tokens": 5, "messages": HI, "tool_choice": {"type": "sometimes"}}, "tool_choice: type must be"),
        ({"max_tokens": 5, "messages": HI, "stop_sequences": "END"}, "stop_sequences: must be a list of strings"),
    ],
)
def test_bad_requests_name_the_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest) as raised:
        _to_chat(body)
    assert raised.value.message.startswith(message)


def test_unknown_fields_are_dropped() -> None:
    body = {"max_tokens": 5, "messages": HI, "metadata": {"user_id": "u"}, "thinking": {"type": "enabled"}, "top_k": 3}
    assert _to_chat(body) == {"model": "m", "messages": HI, "max_tokens": 5}


def test_a_stream_asks_for_the_usage_chunk() -> None:
    chat = _to_chat({"max_tokens": 5, "messages": HI, "stream": True, "stop_sequences": ["END"]})
    assert (chat["stream"], chat["stream_options"], chat["stop"]) == (True, {"include_usage": True}, ["END"])


def test_assistant_turns() -> None:
    use = {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}
    thinking = {"type": "thinking", "thinking": "hm", "signature": "s"}
    body = {
        "max_tokens": 5,
        "messages": [
            {"role": "assistant", "content": [thinking]},
            {"role": "assistant", "content": [thinking, use]},
        ],
    }
    first, second = _to_chat(body)["messages"]
    assert first == {"role": "assistant", "content": ""}
    assert second["content"] is None and second["tool_calls"][0]["function"]["arguments"] == '{"a":1}'


def test_count_tokens_estimate() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "x" * 8}, image]}]}
    # 8 characters -> 2 tokens, 4 for the message, 1,600 for the image.
    assert estimate_input_tokens(chat_request(body, "m", counting=True)) == 1606


def test_the_translator_needs_the_copilot_model() -> None:
    with pytest.raises(BadRequest, match=r"^model: field required"):
        messages_to_chat.translator({"max_tokens": 5, "messages": HI}, "claude-x").request()


# ---- messages_to_chat: the answer ----


def test_choices_are_merged_into_one_message() -> None:
    # Copilot may put the text and the tool calls of one answer in separate choices.
    completion = {
        "choices": [
            {"message": {"content": "Looking."}, "finish_reason": "stop"},
            {
                "message": {"tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": '{"a": 1}'}}]},
                "finish_reason": "tool_calls",
            },
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4},
    }
    message = _message(completion, "claude-x")
    assert message["content"] == [
        {"type": "text", "text": "Looking."},
        {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}},
    ]
    assert (message["stop_reason"], message["model"], message["usage"]) == (
        "tool_use",
        "claude-x",
        {"input_tokens": 3, "output_tokens": 4},
    )


@pytest.mark.parametrize(
    ("finish", "reason"), [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal")]
)
def test_stop_reasons(finish: str, reason: str) -> None:
    assert _message({"choices": [{"message": {"content": "x"}, "finish_reason": finish}]})["stop_reason"] == reason


def test_a_named_stop_sequence_is_reported() -> None:
    choice = {"message": {"content": "x"}, "finish_reason": "stop", "stop_reason": "END"}
    message = _message({"choices": [choice]}, "m", ["END"])
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "END")


def test_arguments_that_are_not_an_object_are_kept_as_text() -> None:
    call = {"id": "c1", "function": {"name": "f", "arguments": "not json"}}
    message = _message({"choices": [{"message": {"tool_calls": [call]}, "finish_reason": "tool_calls"}]})
    assert message["content"][0]["input"] == {"arguments": "not json"}


# ---- messages_to_chat: the stream ----


def _messages_stream(model: str = "claude-x", stops: list[str] | None = None) -> StreamTranslation:
    body: dict[str, Any] = {"model": "copilot", "max_tokens": 5, "messages": HI}
    if stops:
        body["stop_sequences"] = stops
    return messages_to_chat.translator(body, model).stream()


def test_stream_events_come_chunk_by_chunk() -> None:
    stream = _messages_stream()
    out = _anthropic_events(stream.feed(None, _chunk({"role": "assistant", "content": "Hel"})))
    assert _names(out) == ["message_start", "ping", "content_block_start", "content_block_delta"]
    assert out[0][1]["message"]["model"] == "claude-x"
    assert out[0][1]["message"]["usage"] == {"input_tokens": 0, "output_tokens": 0}
    assert _anthropic_events(stream.feed(None, _chunk({"content": "lo"}))) == [
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
        )
    ]
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
    assert _anthropic_events(stream.feed(None, _chunk({"tool_calls": [call]}))) == [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "c1", "name": "f", "input": {}},
            },
        ),
    ]
    fragment = {"index": 0, "function": {"arguments": '{"a":'}}
    out = _anthropic_events(stream.feed(None, _chunk({"tool_calls": [fragment]})))
    assert out[0][1]["delta"] == {"type": "input_json_delta", "partial_json": '{"a":'}
    assert stream.feed(None, _chunk({}, "tool_calls")) == []
    assert stream.feed(None, {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}) == []
    end = _anthropic_events(stream.finish())
    assert _names(end) == ["content_block_stop", "message_delta", "message_stop"]
    assert end[1][1]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert end[1][1]["usage"] == {"input_tokens": 5, "output_tokens": 2}


def test_stream_end_carries_stop_reason_and_usage() -> None:
    stream = _messages_stream("m")
    stream.feed(None, {"choices": [{"delta": {"content": "x"}, "finish_reason": "length"}]})
    stream.feed(None, {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}})
    events = _anthropic_events(stream.finish())
    assert _names(events) == ["content_block_stop", "message_delta", "message_stop"]
    assert events[1][1]["delta"] == {"stop_reason": "max_tokens", "stop_sequence": None}
    assert events[1][1]["usage"] == {"input_tokens": 5, "output_tokens": 2}
    assert stream.finish() == []  # one ending only
    assert stream.feed(None, _chunk({"content": "late"})) == []


def test_a_stream_names_the_stop_sequence() -> None:
    stream = _messages_stream(stops=["END"])
    stream.feed(None, {"choices": [{"delta": {"content": "x"}, "finish_reason": "stop", "stop_reason": "END"}]})
    delta = _anthropic_events(stream.finish())[1][1]["delta"]
    assert delta == {"stop_reason": "stop_sequence", "stop_sequence": "END"}


def test_an_empty_stream_is_still_a_whole_message() -> None:
    events = _anthropic_events(_messages_stream().finish())
    assert _names(events) == ["message_start", "ping", "message_delta", "message_stop"]


def test_tool_calls_in_two_choices_are_two_blocks() -> None:
    # Tool call indexes restart in each choice: each (choice, index) is its own block.
    stream = _messages_stream("m")
    for position, name in ((0, "f"), (1, "g")):
        call = {"index": 0, "id": f"c{position}", "function": {"name": name, "arguments": "{}"}}
        _anthropic_events(stream.feed(None, _chunk({"tool_calls": [call]}, index=position)))
    events = _anthropic_events(stream.finish())
    assert _names(events) == ["content_block_stop", "message_delta", "message_stop"]
    assert events[0][1]["index"] == 1 and events[1][1]["delta"]["stop_reason"] == "tool_use"


def test_an_error_chunk_ends_the_stream_as_an_error_event() -> None:
    stream = _messages_stream()
    stream.feed(None, _chunk({"content": "x"}))
    out = _anthropic_events(stream.feed(None, {"error": {"message": "boom", "type": "server_error"}}))
    assert out == [("error", {"type": "error", "error": {"type": "api_error", "message": "boom"}})]
    assert stream.finish() == []


# ---- chat_to_messages: the request ----


def _to_messages(body: dict[str, Any]) -> dict[str, Any]:
    return chat_to_messages.translator({"model": "claude-sonnet-4.5", **body}, "claude-sonnet-4-5").request()


def test_a_plain_request() -> None:
    assert _to_messages({"messages": HI}) == {
        "model": "claude-sonnet-4.5",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": DEFAULT_MAX_TOKENS,
    }


def test_system_and_developer_messages_become_system_blocks() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use tools."}, {"type": "text", "text": ""}]},
        *HI,
        {"role": "system", "content": "Late."},
        {"role": "user", "content": "again"},
    ]
    out = _to_messages({"messages": messages})
    assert out["system"] == [
        {"type": "text", "text": "Be brief."},
        {"type": "text", "text": "Use tools."},
        {"type": "text", "text": "Late."},
    ]
    # Two user messages left side by side are one turn: Anthropic wants the roles to alternate.
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "again"}]}
    ]


def test_user_content_parts() -> None:
    parts = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    assert _to_messages({"messages": [{"role": "user", "content": parts}]})["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_a_tool_round_trip() -> None:
    calls = [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
        {"id": "c2", "type": "function", "function": {"name": "g", "arguments": ""}},
    ]
    messages = [
        *HI,
        {"role": "assistant", "content": "Checking.", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "two"}]},
        {"role": "user", "content": "and?"},
    ]
    assert _to_messages({"messages": messages})["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}},
                {"type": "tool_use", "id": "c2", "name": "g", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": "one"},
                {"type": "tool_result", "tool_use_id": "c2", "content": [{"type": "text", "text": "two"}]},
                {"type": "text", "text": "and?"},
            ],
        },
    ]


def test_empty_assistant_messages_are_left_out() -> None:
    messages = [*HI, {"role": "assistant", "content": None}, {"role": "assistant", "content": ""}]
    assert _to_messages({"messages": messages})["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]}
    ]


def test_tools() -> None:
    tool = {
        "type": "function",
        "function": {"name": "f", "description": "does f", "parameters": {"type": "object", "properties": {}}},
    }
    out = _to_messages({"messages": HI, "tools": [tool, {"type": "function", "function": {"name": "g"}}]})
    assert out["tools"] == [
        {"name": "f", "description": "does f", "input_schema": {"type": "object", "properties": {}}},
        {"name": "g", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in out


TOOL = {"type": "function", "function": {"name": "f"}}


@pytest.mark.parametrize(
    ("fields", "choice"),
    [
        ({"tool_choice": "auto"}, {"type": "auto"}),
        ({"tool_choice": "none"}, {"type": "none"}),
        ({"tool_choice": "required"}, {"type": "any"}),
        ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, {"type": "tool", "name": "f"}),
        ({"parallel_tool_calls": False}, {"type": "auto", "disable_parallel_tool_use": True}),
        ({"tool_choice": "required", "parallel_tool_calls": False}, {"type": "any", "disable_parallel_tool_use": True}),
        ({"tool_choice": "none", "parallel_tool_calls": False}, {"type": "none"}),
    ],
)
def test_tool_choice_to_messages(fields: dict[str, Any], choice: dict[str, Any]) -> None:
    assert _to_messages({"messages": HI, "tools": [TOOL], **fields})["tool_choice"] == choice


def test_no_tool_choice_without_tools() -> None:
    assert "tool_choice" not in _to_messages({"messages": HI, "tool_choice": "none"})


@pytest.mark.parametrize(
    ("fields", "sent"),
    [
        ({"max_tokens": 100}, {"max_tokens": 100}),
        ({"max_completion_tokens": 200, "max_tokens": 100}, {"max_tokens": 200}),
        ({"temperature": 0.5}, {"temperature": 0.5}),
        ({"top_p": 0.9}, {"top_p": 0.9}),
        ({"temperature": 0.5, "top_p": 1}, {"temperature": 0.5, "top_p": None}),
        ({"temperature": 1.7}, {"temperature": 1.0}),
        ({"stop": "END"}, {"stop_sequences": ["END"]}),
        ({"stop": ["A", "B"]}, {"stop_sequences": ["A", "B"]}),
        ({"stream": True, "stream_options": {"include_usage": True}}, {"stream": True}),
        ({"user": "u-1"}, {"metadata": {"user_id": "u-1"}}),
    ],
)
def test_request_fields(fields: dict[str, Any], sent: dict[str, Any]) -> None:
    out = _to_messages({"messages": HI, **fields})
    assert {k: out.get(k) for k in sent} == sent


def test_dropped_fields() -> None:
    fields = {"frequency_penalty": 1, "seed": 3, "response_format": {"type": "text"}, "n": 1, "stream": False}
    assert set(_to_messages({"messages": HI, **fields})) == {"model", "messages", "max_tokens"}


@pytest.mark.parametrize("effort", ["minimal", "low", "medium", "high", "xhigh"])
def test_reasoning_effort_becomes_a_thinking_budget(effort: str) -> None:
    out = _to_messages({"messages": HI, "reasoning_effort": effort, "temperature": 0.2, "top_p": 0.5})
    budget = THINKING_BUDGETS[effort]
    assert out["thinking"] == {"type": "enabled", "budget_tokens": budget}
    # max_tokens counts the thinking: the answer keeps the default room beside it.
    assert out["max_tokens"] == DEFAULT_MAX_TOKENS + budget
    assert "temperature" not in out and "top_p" not in out


@pytest.mark.parametrize(
    ("fields", "thinking", "max_tokens"),
    [
        ({"reasoning_effort": "none", "temperature": 0.2}, None, DEFAULT_MAX_TOKENS),
        ({"reasoning_effort": "high", "max_tokens": 6000}, {"type": "enabled", "budget_tokens": 3000}, 6000),
        ({"reasoning_effort": "low", "max_tokens": 10000}, {"type": "enabled", "budget_tokens": 2048}, 10000),
        ({"reasoning_effort": "high", "max_tokens": 1500}, None, 1500),  # no room for Anthropic's smallest budget
        ({"reasoning_effort": "high", "tools": [TOOL], "tool_choice": "required"}, None, DEFAULT_MAX_TOKENS),
    ],
)
def test_when_thinking_gives_way(fields: dict[str, Any], thinking: dict[str, Any] | None, max_tokens: int) -> None:
    out = _to_messages({"messages": HI, **fields})
    assert (out.get("thinking"), out["max_tokens"]) == (thinking, max_tokens)


def test_no_thinking_in_the_middle_of_a_tool_turn() -> None:
    # The assistant turn that called the tool had to start with thinking blocks chat could not carry back.
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        *HI,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ]
    out = _to_messages({"messages": messages, "reasoning_effort": "high", "temperature": 0.2})
    assert "thinking" not in out and out["temperature"] == 0.2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"messages": []}, "messages: at least one message is required"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages.0.role: must be"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages: at least one user or assistant message"),
        ({"messages": [{"role": "user", "content": 3}]}, "messages.0.content: must be a string or a list"),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            "messages.0.content.0: content parts of type 'input_audio' are not supported",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]},
            "messages.0.content.0.image_url.url: must be an http(s) or a data URL",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:x,y"}}]}]},
            "messages.0.content.0.image_url.url: a data URL must be base64-encoded",
        ),
        (
            {
                "messages": [
                    *HI,
                    *HI,
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{"}}],
                    },
                ]
            },
            "messages.2.tool_calls.0.function.arguments: not valid JSON",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}],
                    }
                ]
            },
            "messages.0.tool_calls.0.function.arguments: must be a JSON object",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.tool_call_id: field required"),
        ({"messages": HI, "tools": [{"type": "custom", "custom": {}}]}, "tools.0.type: only function tools"),
        ({"messages": HI, "tool_choice": "sometimes"}, "tool_choice: must be"),
        ({"messages": HI, "max_tokens": 0}, "max_tokens: must be a positive integer"),
        ({"messages": HI, "max_completion_tokens": "9"}, "max_completion_tokens: must be a positive integer"),
        ({"messages": HI, "temperature": "hot"}, "temperature: must be a number"),
        ({"messages": HI, "stop": [1]}, "stop: must be a string or a list of strings"),
        ({"messages": HI, "reasoning_effort": "max"}, "reasoning_effort: must be one of"),
        ({"messages": HI, "n": 2}, "n: only one choice is supported"),
    ],
)
def test_bad_chat_requests_name_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest) as raised:
        _to_messages(fields)
    assert raised.value.message.startswith(message)


def test_messages_request_needs_the_model() -> None:
    with pytest.raises(BadRequest, match=r"^model: field required"):
        messages_request({"messages": HI})


# ---- chat_to_messages: the answer ----

USAGE = {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 7}


def _completion(message: dict[str, Any]) -> dict[str, Any]:
    document = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4.5", **message}
    anthropic.types.Message.model_validate({"stop_reason": None, "stop_sequence": None, **document})
    completion = chat_to_messages.translator({"model": "claude-sonnet-4.5", "messages": HI}, "claude-x").answer(
        document
    )
    openai.types.chat.ChatCompletion.model_validate(completion)
    return completion


def test_an_answer_with_text_thinking_and_tools() -> None:
    content = [
        {"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
        {"type": "text", "text": "Let me "},
        {"type": "text", "text": "look."},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
        {"type": "tool_use", "id": "toolu_2", "name": "g", "input": {}},
    ]
    completion = _completion({"content": content, "stop_reason": "tool_use", "usage": USAGE})
    assert completion["model"] == "claude-x" and completion["object"] == "chat.completion"
    (choice,) = completion["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": "Let me look.",
        "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
            {"id": "toolu_2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
        ],
    }
    assert completion["usage"] == {
        "prompt_tokens": 115,
        "completion_tokens": 7,
        "total_tokens": 122,
        "prompt_tokens_details": {"cached_tokens": 100},
    }


def test_tool_calls_alone_have_null_content() -> None:
    content = [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]
    completion = _completion({"content": content, "stop_reason": "tool_use", "usage": USAGE})
    assert completion["choices"][0]["message"]["content"] is None


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
    ],
)
def test_finish_reasons(stop: str, finish: str) -> None:
    completion = _completion({"content": [{"type": "text", "text": "x"}], "stop_reason": stop, "usage": USAGE})
    assert completion["choices"][0]["finish_reason"] == finish


# ---- chat_to_messages: the stream ----


def _chat_stream(include_usage: bool = False) -> StreamTranslation:
    body: dict[str, Any] = {"model": "claude-sonnet-4.5", "messages": HI, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return chat_to_messages.translator(body, "claude-x").stream()


def _start(usage: dict[str, Any] | None = None) -> Event:
    message: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4.5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 10, "cache_read_input_tokens": 100, "output_tokens": 1},
    }
    return "message_start", {"type": "message_start", "message": message}


def _block_start(index: int, block: dict[str, Any]) -> Event:
    return "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}


def _block_delta(index: int, delta: dict[str, Any]) -> Event:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


def _block_stop(index: int) -> Event:
    return "content_block_stop", {"type": "content_block_stop", "index": index}


def _block(index: int, block: dict[str, Any], *deltas: dict[str, Any]) -> list[Event]:
    """A whole content block streamed: its start, its deltas and its stop."""
    return [_block_start(index, block), *(_block_delta(index, delta) for delta in deltas), _block_stop(index)]


def _text_block(index: int, *texts: str) -> list[Event]:
    return _block(index, {"type": "text", "text": ""}, *({"type": "text_delta", "text": text} for text in texts))


def _tool_block(index: int, call_id: str, name: str, *partial_json: str) -> list[Event]:
    block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
    return _block(index, block, *({"type": "input_json_delta", "partial_json": part} for part in partial_json))


_THINKING: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}


def _message_delta(stop: str, output_tokens: int) -> Event:
    delta = {"stop_reason": stop, "stop_sequence": None}
    return "message_delta", {"type": "message_delta", "delta": delta, "usage": {"output_tokens": output_tokens}}


STOP: Event = ("message_stop", {"type": "message_stop"})


def _run(stream: StreamTranslation, events: list[Event]) -> list[dict[str, Any]]:
    """Every chunk the events and the stream's end give, the events checked against Anthropic's types first."""
    _anthropic_events(events)
    out: list[Event] = []
    for name, data in events:
        out.extend(stream.feed(name, data))
    out.extend(stream.finish())
    return _chat_chunks(out)


def _deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]


def test_a_text_stream_with_thinking() -> None:
    events = [
        _start(),
        ("ping", {"type": "ping"}),
        *_block(
            0,
            _THINKING,
            {"type": "thinking_delta", "thinking": "Let me think."},
            {"type": "signature_delta", "signature": "c2ln"},
        ),
        *_text_block(1, "Hello", " there"),
        _message_delta("end_turn", 12),
        STOP,
    ]
    chunks = _run(_chat_stream(), events)
    assert _deltas(chunks) == [{"role": "assistant", "content": ""}, {"content": "Hello"}, {"content": " there"}, {}]
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks] == [None, None, None, "stop"]
    assert {(chunk["id"], chunk["model"], chunk["object"]) for chunk in chunks} == {
        ("msg_1", "claude-x", "chat.completion.chunk")
    }
    assert len({chunk["created"] for chunk in chunks}) == 1


def test_parallel_tool_calls_stream_then_the_usage_chunk() -> None:
    events = [
        _start(),
        *_text_block(0, "Two calls."),
        *_tool_block(1, "toolu_1", "f", "", '{"a":', " 1}"),
        *_tool_block(2, "toolu_2", "g", "{}"),
        _message_delta("tool_use", 30),
        STOP,
    ]
    chunks = _run(_chat_stream(include_usage=True), events)
    assert _deltas(chunks) == [
        {"role": "assistant", "content": ""},
        {"content": "Two calls."},
        {"tool_calls": [{"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]},
        {"tool_calls": [{"index": 1, "id": "toolu_2", "type": "function", "function": {"name": "g", "arguments": ""}}]},
        {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]},
        {},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 110,
        "completion_tokens": 30,
        "total_tokens": 140,
        "prompt_tokens_details": {"cached_tokens": 100},
    }


def test_no_usage_chunk_unless_asked() -> None:
    stream = _chat_stream()
    chunks = _run(stream, [_start(), _message_delta("max_tokens", 3), STOP])
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks] == [None, "length"]
    assert isinstance(stream, chat_to_messages.CompletionStream)
    assert stream.usage["total_tokens"] == 113  # for accounting all the same


def test_an_error_event_becomes_an_error_chunk() -> None:
    stream = _chat_stream(include_usage=True)
    stream.feed(*_start())
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    out = stream.feed("error", error)
    assert out == [(None, {"error": {"message": "Overloaded", "type": "overloaded_error"}})]
    assert stream.finish() == []


def test_a_cut_stream_is_closed() -> None:
    events = [
        _start(),
        _block_start(0, {"type": "text", "text": ""}),
        _block_delta(0, {"type": "text_delta", "text": "Hi"}),
    ]
    chunks = _run(_chat_stream(include_usage=True), events)
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks if chunk["choices"]] == [None, None, "stop"]
    assert chunks[-1]["usage"]["completion_tokens"] == 1


def test_an_empty_stream_still_has_a_role_and_a_finish() -> None:
    chunks = _run(_chat_stream(), [])
    assert _deltas(chunks) == [{"role": "assistant", "content": ""}, {}]


def test_message_stop_ends_the_stream() -> None:
    stream = _chat_stream(include_usage=True)
    for name, data in (_start(), _message_delta("end_turn", 2)):
        stream.feed(name, data)
    assert len(_chat_chunks(stream.feed(*STOP))) == 1  # the usage chunk: the finish came with message_delta
    assert stream.finish() == []


# ---- both, chained: Messages through chat to Messages ----


def test_a_round_trip_through_chat_keeps_text_tools_and_usage() -> None:
    translate = chained(messages_to_chat.translator, chat_to_messages.translator)
    body = {"model": "claude-sonnet-4.5", "max_tokens": 50, "stream": True, "messages": HI}
    translation = translate(body, "claude-sonnet-4-5")
    assert translation.request() == {
        "model": "claude-sonnet-4.5",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 50,
        "stream": True,
    }
    events = [
        _start({"input_tokens": 10, "output_tokens": 1}),
        *_block(0, _THINKING, {"type": "thinking_delta", "thinking": "Hmm."}),
        *_text_block(1, "Calling."),
        *_tool_block(2, "toolu_1", "f", '{"a": 1}'),
        _message_delta("tool_use", 9),
        STOP,
    ]
    stream = translation.stream()
    out = [event for name, data in _anthropic_events(events) for event in stream.feed(name, data)]
    out.extend(stream.finish())
    _anthropic_events(out)
    assert _names(out) == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert out[5][1]["content_block"] == {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
    assert out[8][1]["usage"] == {"input_tokens": 10, "output_tokens": 9}
    assert out[8][1]["delta"]["stop_reason"] == "tool_use"
