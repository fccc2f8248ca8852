"""The Anthropic translation on its own: requests, answers, stream events, model names, the estimate."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxyd.anthropic.estimate import estimate_input_tokens
from proxyd.anthropic.models import copilot_model
from proxyd.anthropic.stream import SseDataLines, StreamTranslator
from proxyd.anthropic.translate import to_chat_request, to_message
from proxyd.config import Config
from proxyd.errors import BadRequest, ConfigError
from proxyd.http.responses import ErrorReport, anthropic_error, error_renderer, openai_error

HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("asked", "copilot"),
    [
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-3-5-sonnet-20241022", "claude-3.5-sonnet"),
        ("claude-3-7-sonnet-latest", "claude-3.7-sonnet"),
        ("claude-opus-4-1-20250805", "claude-opus-4.1"),
        ("claude-sonnet-4-5", "claude-sonnet-4.5"),
        ("claude-sonnet-4", "claude-sonnet-4"),
        ("gpt-4o-2024-11-20", "gpt-4o-2024-11-20"),  # not a Claude name: unchanged
    ],
)
def test_default_model_rule(asked: str, copilot: str) -> None:
    assert copilot_model(asked, {}) == copilot


def test_the_model_map_comes_first() -> None:
    assert copilot_model("claude-3-5-haiku-20241022", {"claude-3-5-haiku-20241022": "gpt-4o-mini"}) == "gpt-4o-mini"


def test_model_map_configuration() -> None:
    config = Config.from_env({"PROXYD_MODEL_MAP": '{"claude-x": "gpt-4o"}'})
    assert dict(config.model_map) == {"claude-x": "gpt-4o"}
    for bad in ("{oops", '["a"]', '{"a": 1}', '{"a": ""}'):
        with pytest.raises(ConfigError, match=r"^PROXYD_MODEL_MAP: "):
            Config.from_env({"PROXYD_MODEL_MAP": bad})


def test_system_blocks_are_joined() -> None:
    body = {"max_tokens": 5, "messages": HI, "system": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    assert to_chat_request(body, "m")["messages"][0] == {"role": "system", "content": "a\n\nb"}


def test_system_messages_between_turns_stay_in_place() -> None:
    # Claude Code (its mid-conversation-system beta) sends these after the user's first message.
    reminder = {"role": "system", "content": [{"type": "text", "text": "Agents: a, b"}]}
    body = {"max_tokens": 5, "system": "You help.", "messages": [*HI, reminder, {"role": "user", "content": "go"}]}
    assert to_chat_request(body, "m")["messages"] == [
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
    chat = to_chat_request({"max_tokens": 5, "messages": HI, "tool_choice": choice}, "m")
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
    assert to_chat_request(body, "m")["messages"] == [
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
    ],
)
def test_bad_requests_name_the_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest) as raised:
        to_chat_request(body, "m")
    assert raised.value.message.startswith(message)


def test_unknown_fields_are_dropped() -> None:
    body = {"max_tokens": 5, "messages": HI, "metadata": {"user_id": "u"}, "thinking": {"type": "enabled"}, "top_k": 3}
    assert to_chat_request(body, "m") == {"model": "m", "messages": HI, "max_tokens": 5}


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
    message = to_message(completion, "claude-x")
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
    assert (
        to_message({"choices": [{"message": {"content": "x"}, "finish_reason": finish}]}, "m")["stop_reason"] == reason
    )


def test_a_named_stop_sequence_is_reported() -> None:
    choice = {"message": {"content": "x"}, "finish_reason": "stop", "stop_reason": "END"}
    message = to_message({"choices": [choice]}, "m", ["END"])
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "END")


def _events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for frame in raw.split(b"\n\n"):
        if frame:
            name, data = frame.split(b"\n")
            events.append((name.removeprefix(b"event: ").decode(), orjson.loads(data.removeprefix(b"data: "))))
    return events


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + b"\n\n"


def test_stream_events_come_chunk_by_chunk() -> None:
    translator = StreamTranslator("claude-x")
    lines = SseDataLines()
    start = _events(translator.start())
    assert [name for name, _ in start] == ["message_start", "ping"]
    assert start[0][1]["message"]["model"] == "claude-x"
    # A chunk cut in the middle of its line yields nothing until the line is complete.
    first = _chunk({"content": "Hel"})
    assert [translator.feed(d) for d in lines.feed(first[:10])] == []
    (out,) = [translator.feed(d) for d in lines.feed(first[10:])]
    assert [name for name, _ in _events(out)] == ["content_block_start", "content_block_delta"]
    (out,) = [translator.feed(d) for d in lines.feed(_chunk({"content": "lo"}))]
    assert _events(out) == [
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
        )
    ]
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
    out = b"".join(translator.feed(d) for d in lines.feed(_chunk({"tool_calls": [call]})))
    assert _events(out) == [
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
    out = b"".join(translator.feed(d) for d in lines.feed(_chunk({"tool_calls": [fragment]})))
    assert _events(out)[0][1]["delta"] == {"type": "input_json_delta", "partial_json": '{"a":'}
    assert b"".join(translator.feed(d) for d in lines.feed(_chunk({}, "tool_calls"))) == b""
    usage = b'data: {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}\n\n'
    assert b"".join(translator.feed(d) for d in lines.feed(usage + b"data: [DONE]\n\n")) != b""
    assert translator.done


def test_stream_end_carries_stop_reason_and_usage() -> None:
    translator = StreamTranslator("m")
    translator.feed(orjson.dumps({"choices": [{"delta": {"content": "x"}, "finish_reason": "length"}]}))
    translator.feed(orjson.dumps({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}))
    events = _events(translator.feed(b"[DONE]"))
    assert [name for name, _ in events] == ["content_block_stop", "message_delta", "message_stop"]
    assert events[1][1]["delta"] == {"stop_reason": "max_tokens", "stop_sequence": None}
    assert events[1][1]["usage"] == {"input_tokens": 5, "output_tokens": 2}
    assert translator.finish() == b""  # [DONE] then the end of the stream: one ending only


def test_count_tokens_estimate() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "x" * 8}, image]}]}
    # 8 characters -> 2 tokens, 4 for the message, 1,600 for the image.
    assert estimate_input_tokens(to_chat_request(body, "m", counting=True)) == 1606


def test_anthropic_errors_by_prefix() -> None:
    assert error_renderer("/v1/messages") is anthropic_error
    assert error_renderer("/v1/messages/count_tokens") is anthropic_error
    assert error_renderer("/v1/messagesx") is openai_error
    for status, kind in (
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
    ):
        assert anthropic_error(ErrorReport(status, "m")) == {"type": "error", "error": {"type": kind, "message": "m"}}


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
    first, second = to_chat_request(body, "m")["messages"]
    assert first == {"role": "assistant", "content": ""}
    assert second["content"] is None and second["tool_calls"][0]["function"]["arguments"] == '{"a":1}'


def test_tool_calls_in_two_choices_are_two_blocks() -> None:
    # Tool call indexes restart in each choice: each (choice, index) is its own block.
    translator = StreamTranslator("m")
    for position, name in ((0, "f"), (1, "g")):
        call = {"index": 0, "id": f"c{position}", "function": {"name": name, "arguments": "{}"}}
        translator.feed(orjson.dumps({"choices": [{"index": position, "delta": {"tool_calls": [call]}}]}))
    events = _events(translator.finish())
    assert [name for name, _ in events] == ["content_block_stop", "message_delta", "message_stop"]
    assert events[0][1]["index"] == 1 and events[1][1]["delta"]["stop_reason"] == "tool_use"
