"""Chat completions and the Responses API translated into each other, on their own (no server).

Every JSON answer and every streamed event is also parsed with the ``openai``
package's own types: what the SDKs accept is the contract.
"""

from __future__ import annotations

import copy
import re
from typing import Any, get_args

import orjson
import pytest
from openai import BaseModel
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from openai.types.responses.response_error import ResponseError

from proxyd.errors import BadRequest, UpstreamAnswered
from proxyd.translate import chat_to_responses, responses_to_chat
from proxyd.translate.base import Event, JsonObject, StreamTranslation, Translator
from proxyd.translate.chain import chained
from proxyd.translate.responses_tools import _HOSTED_TOOLS, ResponsesTools

# The SDK's class for each event type (ResponseStreamEvent is the union of them): one class per
# event reports what is wrong with it, where validating against the whole union reports 200 mismatches.
EVENT_CLASSES: dict[str, type[BaseModel]] = {
    get_args(member.model_fields["type"].annotation)[0]: member for member in get_args(get_args(ResponseStreamEvent)[0])
}
# The SDK lists few error codes; Codex acts on others too (context_length_exceeded, insufficient_quota).
SDK_ERROR_CODES = frozenset(get_args(ResponseError.model_fields["code"].annotation))

USAGE = {
    "input_tokens": 11,
    "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
    "output_tokens": 7,
    "output_tokens_details": {"reasoning_tokens": 2},
    "total_tokens": 18,
}
CHAT_USAGE = {
    "prompt_tokens": 11,
    "completion_tokens": 7,
    "total_tokens": 18,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 2},
}
APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edit files.",
    "format": {"type": "grammar", "syntax": "lark", "definition": 'start: "*** Begin Patch"'},
}
WEATHER = {"type": "function", "name": "weather", "parameters": {"type": "object"}, "strict": False}


def check_chunks(events: list[Event]) -> list[JsonObject]:
    """The chunks' data, each parsed by the SDK; chat chunks have no event name."""
    for name, data in events:
        assert name is None
        if "error" not in data:
            ChatCompletionChunk.model_validate(data)
    return [data for _, data in events]


def check_events(events: list[Event]) -> list[JsonObject]:
    """The events' data, each parsed by the SDK, named by its type, numbered in order."""
    for name, data in events:
        assert name == data["type"]
        error = data["response"].get("error") if "response" in data else None
        if error is None or error["code"] in SDK_ERROR_CODES:
            EVENT_CLASSES[data["type"]].model_validate(data)
    numbers = [data["sequence_number"] for _, data in events]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == len(numbers)
    return [data for _, data in events]


def run(stream: StreamTranslation, events: list[Event]) -> list[Event]:
    out: list[Event] = []
    for name, data in events:
        out.extend(stream.feed(name, data))
    out.extend(stream.finish())
    return out


# ====================================================================== chat -> responses: the request


# The options the two APIs share, in each one's form: translated one to the other, either way.
_SCHEMA: JsonObject = {"name": "w", "schema": {"type": "object"}, "strict": True}
_SHARED_OPTIONS: JsonObject = {
    "temperature": 0.2,
    "top_p": 0.9,
    "user": "u-1",
    "prompt_cache_key": "conv-1",
    "stream": True,
}
CHAT_OPTIONS: JsonObject = {
    **_SHARED_OPTIONS,
    "reasoning_effort": "high",
    "response_format": {"type": "json_schema", "json_schema": _SCHEMA},
}
RESPONSES_OPTIONS: JsonObject = {
    **_SHARED_OPTIONS,
    "reasoning": {"effort": "high"},
    "text": {"format": {"type": "json_schema", **_SCHEMA}},
}


def assert_completed_item(item: JsonObject, id_prefix: str, **fields: Any) -> None:
    """A completed output item: its own id with ``id_prefix``, and just ``fields`` besides."""
    assert item["id"].startswith(id_prefix)
    assert item == {"id": item["id"], "status": "completed", **fields}


def chat_request(body: JsonObject) -> JsonObject:
    return chat_to_responses.translator({"model": "gpt-5.3-codex", **body}, "gpt-5.3-codex").request()


def test_chat_request_field_by_field() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather here?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA", "detail": "low"}},
                ],
            },
            {
                "role": "assistant",
                "content": "Looking.",
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"c":"Oslo"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "12C"},
            {"role": "system", "content": "Answer in French."},
            {"role": "assistant", "content": None, "tool_calls": []},
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "weather", "description": "Weather.", "parameters": {"type": "object"}},
            },
            {"type": "function", "function": {"name": "time", "strict": True}},
        ],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "parallel_tool_calls": False,
        "max_completion_tokens": 300,
        "max_tokens": 5,
        **CHAT_OPTIONS,
        "stream_options": {"include_usage": True},
        "presence_penalty": 0.5,
        "seed": 3,
    }
    assert chat_request(body) == {
        "model": "gpt-5.3-codex",
        "instructions": "Be brief.\n\nUse metric.",
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Weather here?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAA", "detail": "low"},
                ],
            },
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Looking."}]},
            {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": '{"c":"Oslo"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "12C"},
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Answer in French."}]},
        ],
        "tools": [
            {
                "type": "function",
                "name": "weather",
                "description": "Weather.",
                "parameters": {"type": "object"},
                "strict": False,
            },
            {"type": "function", "name": "time", "parameters": {"type": "object", "properties": {}}, "strict": True},
        ],
        "tool_choice": {"type": "function", "name": "weather"},
        "parallel_tool_calls": False,
        "max_output_tokens": 300,
        **RESPONSES_OPTIONS,
        "store": False,
    }


def test_chat_request_smaller_cases() -> None:
    minimal = chat_request({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "stop": []})
    assert minimal == {
        "model": "gpt-5.3-codex",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        "store": False,
        # The Responses API refuses fewer than 16.
        "max_output_tokens": 16,
    }
    for choice in ("auto", "none", "required"):
        assert (
            chat_request({"messages": [{"role": "user", "content": "hi"}], "tool_choice": choice})["tool_choice"]
            == choice
        )
    for kind in ("text", "json_object"):
        request = chat_request({"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": kind}})
        assert request["text"] == {"format": {"type": kind}}
    refusal = {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]}
    items = chat_request({"messages": [{"role": "user", "content": "hi"}, refusal]})["input"]
    assert items[1] == {"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]}


HI: list[Any] = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": []}, "messages: at least one message is required"),
        ({"messages": [*HI, "hello"]}, "messages.1: must be an object"),
        ({"messages": [*HI, *HI, *HI, {"role": "robot", "content": "x"}]}, "messages.3.role: must be one of"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages: at least one user message is required"),
        ({"messages": HI, "tools": [{"type": "function", "function": {}}]}, "tools.0.function.name: field required"),
        ({"messages": HI, "tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools.0.type: only function"),
        ({"messages": [*HI, {"role": "tool", "content": "x"}]}, "messages.1.tool_call_id: field required"),
        (
            {"messages": [*HI, {"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}]},
            "messages.1.tool_calls.0.function.name: field required",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            "messages.0.content.0: content parts of type 'input_audio' are not supported",
        ),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages.0.content.0.image_url.url"),
        ({"messages": HI, "n": 2}, "n: only one choice"),
        ({"messages": HI, "stop": ["END"]}, "stop: stop sequences are not supported"),
        ({"messages": HI, "functions": [{"name": "f"}]}, "functions: the legacy functions field"),
        ({"messages": HI, "tool_choice": {"type": "allowed_tools"}}, "tool_choice: must be"),
        ({"messages": HI, "max_tokens": 0}, "max_tokens: must be a positive integer"),
        ({"messages": HI, "temperature": "hot"}, "temperature: must be a number"),
        ({"messages": HI, "response_format": {"type": "xml"}}, "response_format.type: must be"),
    ],
)
def test_chat_request_refusals_name_the_field(body: JsonObject, message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        chat_request(body)
    assert refused.value.message.startswith(message)


# ====================================================================== chat -> responses: the answer


def response_document(output: list[JsonObject], **fields: Any) -> JsonObject:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1700000000,
        "status": "completed",
        "model": "gpt-5.3-codex",
        "output": output,
        "usage": USAGE,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        **fields,
    }


def message_output(text: str) -> JsonObject:
    content = [{"type": "output_text", "text": text, "annotations": []}]
    return {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": content}


def call_output(call_id: str, name: str, arguments: str, item: str = "fc_1") -> JsonObject:
    return {
        "type": "function_call",
        "id": item,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


REASONING = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"}


def chat_answer(document: JsonObject) -> JsonObject:
    answer = chat_to_responses.translator({"messages": HI}, "my-model").answer(document)
    ChatCompletion.model_validate(answer)
    return answer


def test_chat_answer_with_text_and_calls() -> None:
    output = [REASONING, message_output("Checking."), call_output("call_9", "weather", '{"c":"Oslo"}')]
    answer = chat_answer(response_document(output))
    assert answer["object"] == "chat.completion"
    assert answer["model"] == "my-model"
    assert answer["created"] == 1700000000
    assert answer["id"].startswith("chatcmpl-")
    assert answer["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Checking.",
                "refusal": None,
                "tool_calls": [
                    {"id": "call_9", "type": "function", "function": {"name": "weather", "arguments": '{"c":"Oslo"}'}}
                ],
            },
            "finish_reason": "tool_calls",
            "logprobs": None,
        }
    ]
    assert answer["usage"] == CHAT_USAGE


def test_chat_answer_finish_reasons_and_null_content() -> None:
    text = chat_answer(response_document([REASONING, message_output("Hi.")]))
    assert text["choices"][0]["message"]["content"] == "Hi."
    assert "tool_calls" not in text["choices"][0]["message"]
    assert text["choices"][0]["finish_reason"] == "stop"
    cut = response_document(
        [message_output("Hel")], status="incomplete", incomplete_details={"reason": "max_output_tokens"}
    )
    assert chat_answer(cut)["choices"][0]["finish_reason"] == "length"
    calls_only = chat_answer(response_document([call_output("c", "f", "{}")]))
    assert calls_only["choices"][0]["message"]["content"] is None


def test_a_failed_response_is_an_upstream_error() -> None:
    failed = response_document([], status="failed", error={"code": "server_error", "message": "boom"})
    with pytest.raises(UpstreamAnswered, match="boom"):
        chat_answer(failed)


# ====================================================================== chat -> responses: the stream


def responses_events(
    text: str = "",
    calls: tuple[tuple[str, str, list[str]], ...] = (),
    *,
    status: str = "completed",
    reason: str | None = None,
) -> list[Event]:
    """A Responses stream as Copilot sends it: text in one message item, then one item per call."""
    response = response_document([], status="in_progress", usage=None)
    events: list[tuple[str, JsonObject]] = [
        ("response.created", {"response": response}),
        ("response.in_progress", {"response": response}),
        ("response.output_item.added", {"output_index": 0, "item": REASONING}),
        ("response.output_item.done", {"output_index": 0, "item": REASONING}),
    ]
    output: list[JsonObject] = [REASONING]
    if text:
        where = {"item_id": "msg_1", "output_index": 1, "content_index": 0}
        part = {"type": "output_text", "text": "", "annotations": []}
        events += [
            ("response.output_item.added", {"output_index": 1, "item": {**message_output(""), "content": []}}),
            ("response.content_part.added", {**where, "part": part}),
            *[
                ("response.output_text.delta", {**where, "delta": piece, "logprobs": []})
                for piece in re.split("(?<= )", text)
            ],
            ("response.output_text.done", {**where, "text": text, "logprobs": []}),
            ("response.content_part.done", {**where, "part": {**part, "text": text}}),
            ("response.output_item.done", {"output_index": 1, "item": message_output(text)}),
        ]
        output.append(message_output(text))
    for call_id, name, pieces in calls:
        index = len(output)
        item = call_output(call_id, name, "".join(pieces), f"fc_{index}")
        where = {"item_id": item["id"], "output_index": index}
        events += [
            ("response.output_item.added", {"output_index": index, "item": {**item, "arguments": ""}}),
            *[("response.function_call_arguments.delta", {**where, "delta": piece}) for piece in pieces],
            ("response.function_call_arguments.done", {**where, "arguments": item["arguments"]}),
            ("response.output_item.done", {"output_index": index, "item": item}),
        ]
        output.append(item)
    details = {"reason": reason} if reason else None
    final = response_document(output, status=status, incomplete_details=details)
    events.append((f"response.{status}", {"response": final}))
    return [(name, {"type": name, "sequence_number": n, **data}) for n, (name, data) in enumerate(events)]


def chat_stream(include_usage: bool = True) -> StreamTranslation:
    body = {"messages": HI, "stream": True, "stream_options": {"include_usage": include_usage}}
    return chat_to_responses.translator(body, "my-model").stream()


def deltas(chunks: list[JsonObject]) -> list[Any]:
    return [
        (chunk["choices"][0]["delta"], chunk["choices"][0]["finish_reason"]) for chunk in chunks if chunk["choices"]
    ]


def test_chat_stream_text_and_calls() -> None:
    events = responses_events("Hello there", (("call_1", "weather", ['{"c":', '"Oslo"}']), ("call_2", "time", [])))
    chunks = check_chunks(run(chat_stream(), events))
    assert {chunk["id"] for chunk in chunks} == {chunks[0]["id"]}
    assert all(chunk["model"] == "my-model" and chunk["created"] == 1700000000 for chunk in chunks)
    assert deltas(chunks) == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "Hello "}, None),
        ({"content": "there"}, None),
        (
            {
                "tool_calls": [
                    {"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": ""}}
                ]
            },
            None,
        ),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '{"c":'}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}, None),
        (
            {
                "tool_calls": [
                    {"index": 1, "id": "call_2", "type": "function", "function": {"name": "time", "arguments": ""}}
                ]
            },
            None,
        ),
        ({}, "tool_calls"),
    ]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == CHAT_USAGE


def test_chat_stream_usage_only_when_asked_and_length() -> None:
    events = responses_events("Hel", status="incomplete", reason="max_output_tokens")
    chunks = check_chunks(run(chat_stream(include_usage=False), events))
    assert all(chunk["choices"] for chunk in chunks)
    assert deltas(chunks)[-1] == ({}, "length")


def test_chat_stream_arguments_only_in_the_finished_item() -> None:
    item = call_output("call_1", "weather", '{"c":"Oslo"}')
    events: list[Event] = [
        ("response.output_item.added", {"output_index": 0, "item": {**item, "arguments": ""}}),
        ("response.output_item.done", {"output_index": 0, "item": item}),
        ("response.output_item.done", {"output_index": 1, "item": call_output("call_2", "time", "{}", "fc_2")}),
    ]
    chunks = check_chunks(run(chat_stream(), events))
    assert deltas(chunks) == [
        (
            {
                "role": "assistant",
                "tool_calls": [
                    {"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": ""}}
                ],
            },
            None,
        ),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '{"c":"Oslo"}'}}]}, None),
        (
            {
                "tool_calls": [
                    {"index": 1, "id": "call_2", "type": "function", "function": {"name": "time", "arguments": ""}}
                ]
            },
            None,
        ),
        ({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}, None),
        # The stream ended without response.completed: finish() still ends the answer.
        ({}, "tool_calls"),
    ]


def test_chat_stream_failures_become_error_chunks() -> None:
    stream = chat_stream()
    failed = {
        "response": response_document(
            [], status="failed", error={"code": "rate_limit_exceeded", "message": "slow down"}
        )
    }
    out = stream.feed("response.output_text.delta", {"delta": "Hi"})
    out += stream.feed("response.failed", failed)
    assert out[-1] == (None, {"error": {"message": "slow down", "type": "server_error", "code": "rate_limit_exceeded"}})
    assert stream.feed("response.output_text.delta", {"delta": "more"}) == []
    assert stream.finish() == []
    other = chat_stream()
    error = other.feed("error", {"type": "error", "code": "bad", "message": "nope", "sequence_number": 3})
    assert error == [(None, {"error": {"message": "nope", "type": "server_error", "code": "bad"}})]
    assert other.finish() == []


def test_chat_stream_that_ends_at_once_still_finishes() -> None:
    assert deltas(check_chunks(chat_stream().finish())) == [({"role": "assistant"}, "stop")]


# ====================================================================== responses -> chat: the request


def responses_request(body: JsonObject) -> JsonObject:
    return responses_to_chat.translator({"model": "claude-sonnet-4.5", **body}, "claude-sonnet-4.5").request()


CODEX_INPUT: list[Any] = [
    {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Sandbox: read-only."}]},
    {
        "type": "message",
        "role": "user",
        "content": [
            {"type": "input_text", "text": "Fix it."},
            {"type": "input_text", "text": "<env/>"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAA", "detail": "high"},
        ],
    },
    {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "On it."}]},
    {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": '{"command":["ls"]}'},
    {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "*** Begin Patch"},
    {"type": "function_call_output", "call_id": "c1", "output": "a.py"},
    {"type": "custom_tool_call_output", "call_id": "c2", "output": "Done!"},
    {"role": "user", "content": "Thanks"},
]


def test_responses_request_field_by_field() -> None:
    body = {
        "instructions": "You are Codex.",
        "input": CODEX_INPUT,
        "tools": [WEATHER, APPLY_PATCH, {"type": "local_shell"}],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "max_output_tokens": 1000,
        **RESPONSES_OPTIONS,
        "reasoning": {**RESPONSES_OPTIONS["reasoning"], "summary": "auto"},  # Copilot's chat has no summaries
        "text": {**RESPONSES_OPTIONS["text"], "verbosity": "low"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
    }
    chat = responses_request(body)
    tools = chat.pop("tools")
    assert chat == {
        "model": "claude-sonnet-4.5",
        "messages": [
            {"role": "system", "content": "You are Codex."},
            {"role": "system", "content": "Sandbox: read-only."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Fix it."},
                    {"type": "text", "text": "<env/>"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA", "detail": "high"}},
                ],
            },
            {
                "role": "assistant",
                "content": "On it.",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "shell", "arguments": '{"command":["ls"]}'}},
                    {
                        "id": "c2",
                        "type": "function",
                        "function": {"name": "apply_patch", "arguments": '{"input":"*** Begin Patch"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "a.py"},
            {"role": "tool", "tool_call_id": "c2", "content": "Done!"},
            {"role": "user", "content": "Thanks"},
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "max_tokens": 1000,
        **CHAT_OPTIONS,
        "stream_options": {"include_usage": True},
    }
    weather, patch, shell = tools
    assert weather == {
        "type": "function",
        "function": {"name": "weather", "parameters": {"type": "object"}, "strict": False},
    }
    assert patch["function"]["name"] == "apply_patch"
    assert patch["function"]["parameters"]["required"] == ["input"]
    assert patch["function"]["parameters"]["properties"]["input"]["type"] == "string"
    description = patch["function"]["description"]
    assert description.startswith("Edit files.")
    assert "string parameter `input`" in description
    assert 'start: "*** Begin Patch"' in description
    assert shell["function"]["name"] == "local_shell"
    assert shell["function"]["parameters"]["required"] == ["command"]


def test_responses_request_smaller_cases() -> None:
    assert responses_request({"input": "hi"}) == {
        "model": "claude-sonnet-4.5",
        "messages": [{"role": "user", "content": "hi"}],
    }
    by_name = responses_request(
        {"input": "hi", "tools": [APPLY_PATCH], "tool_choice": {"type": "custom", "name": "apply_patch"}}
    )
    assert by_name["tool_choice"] == {"type": "function", "function": {"name": "apply_patch"}}
    for kind in ("text", "json_object"):
        assert responses_request({"input": "hi", "text": {"format": {"type": kind}}})["response_format"] == {
            "type": kind
        }
    shell_call = {
        "type": "local_shell_call",
        "call_id": "s1",
        "status": "completed",
        "action": {"type": "exec", "command": ["ls", "-a"], "working_directory": "/w", "timeout_ms": 500, "env": {}},
    }
    messages = responses_request({"input": [{"role": "user", "content": "go"}, shell_call]})["messages"]
    arguments = messages[1]["tool_calls"][0]["function"]
    assert arguments["name"] == "local_shell"
    assert orjson.loads(arguments["arguments"]) == {"command": ["ls", "-a"], "workdir": "/w", "timeout_ms": 500}


def test_tool_images_follow_the_last_tool_message() -> None:
    screenshot = {"type": "input_image", "image_url": "data:image/png;base64,BBB"}
    items = [
        {"role": "user", "content": "look"},
        {"type": "function_call", "call_id": "a", "name": "shot", "arguments": "{}"},
        {"type": "function_call", "call_id": "b", "name": "shot", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "a", "output": [{"type": "input_text", "text": "one"}, screenshot]},
        {"type": "function_call_output", "call_id": "b", "output": "two"},
        {"type": "function_call", "call_id": "c", "name": "shot", "arguments": "{}"},
    ]
    roles = [(m["role"], m.get("tool_call_id")) for m in responses_request({"input": items})["messages"]]
    assert roles == [
        ("user", None),
        ("assistant", None),
        ("tool", "a"),
        ("tool", "b"),
        ("user", None),
        ("assistant", None),
    ]
    messages = responses_request({"input": items})["messages"]
    assert messages[2]["content"] == "one"
    assert messages[4]["content"] == [{"type": "image_url", "image_url": {"url": "data:image/png;base64,BBB"}}]
    assert [call["id"] for call in messages[1]["tool_calls"]] == ["a", "b"]


@pytest.mark.parametrize("kind", sorted(_HOSTED_TOOLS))
def test_hosted_tools_are_refused_by_name(kind: str) -> None:
    with pytest.raises(BadRequest) as refused:
        responses_request({"input": "hi", "tools": [WEATHER, {"type": kind}]})
    assert refused.value.message.startswith(
        f"tools.1: the '{kind}' tool is not available through GitHub Copilot; remove it from the request"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"input": "hi", "previous_response_id": "resp_1"}, "previous_response_id: not supported"),
        ({"input": "hi", "conversation": "conv_1"}, "conversation: not supported"),
        ({"input": "hi", "background": True}, "background: "),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input.0: item references need stored responses"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]},
            "input.0.content.0: images by file_id need OpenAI's file storage",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_data": "x"}]}]},
            "input.0.content.0: content parts of type 'input_file' are not supported",
        ),
        ({"input": [{"role": "robot", "content": "x"}]}, "input.0.role: must be"),
        ({"input": ["hi"]}, "input.0: must be an object"),
        ({"input": [{"type": "web_search_call", "id": "ws_1"}]}, "input.0: input items of type 'web_search_call'"),
        ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input.0.call_id: field required"),
        ({"input": [{"type": "custom_tool_call", "call_id": "c"}]}, "input.0.input: must be a string"),
        (
            {"input": [{"role": "system", "content": [{"type": "input_image", "image_url": "x"}]}]},
            "input.0.content: only user",
        ),
        ({"input": 3}, "input: must be a string or a list"),
        ({}, "input: field required"),
        ({"input": []}, "input: at least one input item is required"),
        (
            {"input": "hi", "tools": [{"type": "shell"}]},
            "tools.0: tools of type 'shell' cannot be served through GitHub Copilot",
        ),
        ({"input": "hi", "tools": [{"type": "function"}]}, "tools.0.name: field required"),
        ({"input": "hi", "tools": {"type": "function"}}, "tools: must be a list"),
        (
            {"input": "hi", "tool_choice": {"type": "web_search_preview"}},
            "tool_choice: the 'web_search_preview' tool is not available",
        ),
        ({"input": "hi", "tool_choice": {"type": "allowed_tools", "tools": []}}, "tool_choice: must be"),
        ({"input": "hi", "max_output_tokens": -1}, "max_output_tokens: must be a positive integer"),
        ({"input": "hi", "text": {"format": {"type": "json_schema"}}}, "text.format: a json_schema format needs"),
    ],
)
def test_responses_request_refusals_name_the_field(body: JsonObject, message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        responses_request(body)
    assert refused.value.message.startswith(message)


# ====================================================================== responses -> chat: the answer


def completion(message: JsonObject, finish: str = "stop", usage: JsonObject | None = None) -> JsonObject:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "claude-sonnet-4.5",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage or CHAT_USAGE,
    }


def chat_call(call_id: str, name: str, arguments: str) -> JsonObject:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


TOOLS_BODY: JsonObject = {
    "input": "hi",
    "tools": [WEATHER, APPLY_PATCH, {"type": "local_shell"}],
    "instructions": "Be good.",
}


def responses_answer(document: JsonObject, body: JsonObject = TOOLS_BODY) -> JsonObject:
    answer = responses_to_chat.translator({"model": "claude-sonnet-4.5", **body}, "my-model").answer(document)
    Response.model_validate(answer)
    return answer


def test_responses_answer_with_text_and_every_kind_of_call() -> None:
    message = {
        "role": "assistant",
        "content": "Working.",
        "tool_calls": [
            chat_call("c1", "weather", '{"c":"Oslo"}'),
            chat_call("c2", "apply_patch", '{"input":"*** Begin Patch\\n*** End Patch"}'),
            chat_call("c3", "local_shell", '{"command":["ls","-a"],"workdir":"/w","timeout_ms":500}'),
        ],
    }
    answer = responses_answer(completion(message, "tool_calls"))
    assert answer["id"].startswith("resp_")
    assert answer["object"] == "response"
    assert answer["status"] == "completed"
    assert answer["model"] == "my-model"
    assert answer["error"] is None
    assert answer["incomplete_details"] is None
    assert answer["instructions"] == "Be good."
    assert answer["tools"] == TOOLS_BODY["tools"]
    text, weather, patch, shell = answer["output"]
    assert_completed_item(
        text,
        "msg_",
        type="message",
        role="assistant",
        content=[{"type": "output_text", "text": "Working.", "annotations": []}],
    )
    assert_completed_item(weather, "fc_", type="function_call", call_id="c1", name="weather", arguments='{"c":"Oslo"}')
    assert_completed_item(
        patch, "ctc_", type="custom_tool_call", call_id="c2", name="apply_patch", input="*** Begin Patch\n*** End Patch"
    )
    assert shell["type"] == "local_shell_call"
    assert shell["call_id"] == "c3"
    assert shell["action"] == {
        "type": "exec",
        "command": ["ls", "-a"],
        "env": {},
        "working_directory": "/w",
        "timeout_ms": 500,
    }
    assert answer["usage"] == {
        "input_tokens": 11,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 18,
    }
    assert Response.model_validate(answer).output_text == "Working."


def test_responses_answer_cut_off_and_split_choices() -> None:
    cut = responses_answer(completion({"role": "assistant", "content": "Hel"}, "length"))
    assert cut["status"] == "incomplete"
    assert cut["incomplete_details"] == {"reason": "max_output_tokens"}
    split = completion({"role": "assistant", "content": "A"})
    split["choices"].append(
        {
            "index": 1,
            "message": {"role": "assistant", "tool_calls": [chat_call("c", "weather", "{}")]},
            "finish_reason": "tool_calls",
        }
    )
    assert [item["type"] for item in responses_answer(split)["output"]] == ["message", "function_call"]
    # A custom tool's text sent raw rather than wrapped in JSON is still its input.
    raw = responses_answer(
        completion({"role": "assistant", "tool_calls": [chat_call("c", "apply_patch", "*** Begin")]})
    )
    assert raw["output"][0]["input"] == "*** Begin"


# ====================================================================== responses -> chat: the stream


def chunk(delta: JsonObject | None = None, finish: str | None = None, index: int = 0) -> Event:
    choice = {"index": index, "delta": delta or {}, "finish_reason": finish}
    return None, {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [choice],
    }


def usage_chunk() -> Event:
    return None, {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [],
        "usage": CHAT_USAGE,
    }


def call_chunk(index: int, call_id: str | None = None, name: str | None = None, arguments: str = "") -> Event:
    call: JsonObject = {"index": index, "function": {"arguments": arguments}}
    if call_id:
        call.update(id=call_id, type="function")
        call["function"]["name"] = name
    return chunk({"tool_calls": [call]})


def responses_stream(body: JsonObject = TOOLS_BODY) -> StreamTranslation:
    return responses_to_chat.translator({"model": "claude-sonnet-4.5", "stream": True, **body}, "my-model").stream()


def summary(events: list[JsonObject]) -> list[tuple[Any, ...]]:
    """(type, output_index, content_index) of each event: the sequence a client sees."""
    return [(event["type"], event.get("output_index"), event.get("content_index")) for event in events]


def test_responses_stream_text_then_parallel_calls_interleaved() -> None:
    chunks = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Let me "}),
        chunk({"content": "check."}),
        call_chunk(0, "c1", "weather", '{"c":'),
        call_chunk(1, "c2", "weather", '{"c":"Rome"}'),
        call_chunk(0, arguments='"Oslo"}'),
        chunk(finish="tool_calls"),
        usage_chunk(),
    ]
    events = check_events(run(responses_stream(), chunks))
    assert summary(events) == [
        ("response.created", None, None),
        ("response.in_progress", None, None),
        ("response.output_item.added", 0, None),
        ("response.content_part.added", 0, 0),
        ("response.output_text.delta", 0, 0),
        ("response.output_text.delta", 0, 0),
        ("response.output_text.done", 0, 0),
        ("response.content_part.done", 0, 0),
        ("response.output_item.done", 0, None),
        ("response.output_item.added", 1, None),
        ("response.function_call_arguments.delta", 1, None),
        ("response.output_item.added", 2, None),
        ("response.function_call_arguments.delta", 2, None),
        ("response.function_call_arguments.delta", 1, None),
        ("response.function_call_arguments.done", 1, None),
        ("response.output_item.done", 1, None),
        ("response.function_call_arguments.done", 2, None),
        ("response.output_item.done", 2, None),
        ("response.completed", None, None),
    ]
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    created, completed = events[0]["response"], events[-1]["response"]
    assert created["id"] == completed["id"]
    assert created["status"] == "in_progress"
    assert created["output"] == []
    message_id = events[2]["item"]["id"]
    assert {event["item_id"] for event in events[3:8]} == {message_id}
    assert events[6]["text"] == "Let me check."
    assert events[7]["part"] == {"type": "output_text", "text": "Let me check.", "annotations": []}
    text_item, first, second = (events[8]["item"], events[15]["item"], events[17]["item"])
    assert text_item["content"][0]["text"] == "Let me check."
    assert first["call_id"] == "c1"
    assert first["arguments"] == '{"c":"Oslo"}'
    assert first["status"] == "completed"
    assert second["call_id"] == "c2"
    assert second["arguments"] == '{"c":"Rome"}'
    assert events[14] == {**events[14], "item_id": first["id"], "arguments": '{"c":"Oslo"}'}
    assert events[12]["item_id"] == second["id"] != first["id"]
    assert completed["status"] == "completed"
    assert completed["output"] == [text_item, first, second]
    assert completed["usage"]["total_tokens"] == 18
    assert completed["model"] == "my-model"


def test_responses_stream_custom_and_shell_calls_come_back_as_the_client_tools() -> None:
    chunks = [
        call_chunk(0, "c1", "apply_patch", '{"input":"*** Begin'),
        call_chunk(0, arguments=' Patch"}'),
        call_chunk(1, "c2", "local_shell", '{"command":["ls"]}'),
        chunk(finish="tool_calls"),
    ]
    events = check_events(run(responses_stream(), chunks))
    assert [event["type"] for event in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.output_item.added",
        "response.custom_tool_call_input.done",
        "response.output_item.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[2]["item"]["type"] == "custom_tool_call"
    assert events[2]["item"]["input"] == ""
    assert events[3]["item"]["type"] == "local_shell_call"
    assert events[4]["input"] == "*** Begin Patch"
    patch, shell = events[5]["item"], events[6]["item"]
    assert patch == {
        **patch,
        "type": "custom_tool_call",
        "call_id": "c1",
        "name": "apply_patch",
        "input": "*** Begin Patch",
    }
    assert shell["action"] == {"type": "exec", "command": ["ls"], "env": {}}
    assert events[-1]["response"]["output"] == [patch, shell]
    # No usage chunk came: the response says so rather than making numbers up.
    assert events[-1]["response"]["usage"] is None


def test_responses_stream_text_after_calls_is_a_new_message() -> None:
    chunks = [
        chunk({"content": "A"}),
        call_chunk(0, "c1", "weather", "{}"),
        chunk({"content": "B"}),
        chunk(finish="stop"),
    ]
    events = check_events(run(responses_stream(), chunks))
    output = events[-1]["response"]["output"]
    assert [(item["type"], item.get("content", [{}])[0].get("text")) for item in output] == [
        ("message", "A"),
        ("function_call", None),
        ("message", "B"),
    ]


def test_responses_stream_cut_off_is_incomplete() -> None:
    events = check_events(run(responses_stream(), [chunk({"content": "Hel"}), chunk(finish="length"), usage_chunk()]))
    assert events[-2]["type"] == "response.output_item.done"
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["status"] == "incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_responses_stream_that_ends_at_once_still_completes() -> None:
    events = check_events(responses_stream().finish())
    assert [event["type"] for event in events] == ["response.created", "response.in_progress", "response.completed"]
    assert events[-1]["response"]["output"] == []


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ({"message": "prompt too long", "code": "model_max_prompt_tokens_exceeded"}, "context_length_exceeded"),
        ({"message": "slow down", "type": "rate_limit_error"}, "rate_limit_exceeded"),
        ({"message": "boom"}, "server_error"),
    ],
)
def test_responses_stream_error_chunk_fails_the_response(error: JsonObject, code: str) -> None:
    stream = responses_stream()
    events = check_events([*stream.feed(*chunk({"content": "Hi"})), *stream.feed(None, {"error": error})])
    failed = events[-1]
    assert failed["type"] == "response.failed"
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {"code": code, "message": error["message"]}
    assert stream.feed(*chunk({"content": "more"})) == []
    assert stream.finish() == []


# ====================================================================== the native path's tool conversion


def test_responses_tools_for_the_native_path() -> None:
    body = {
        "model": "gpt-5.3-codex",
        "input": [{"type": "custom_tool_call", "call_id": "c0", "name": "apply_patch", "input": "p", "id": "ctc_0"}],
        "tools": [WEATHER, APPLY_PATCH],
        "tool_choice": {"type": "custom", "name": "apply_patch"},
    }
    tools = ResponsesTools(body)
    original = copy.deepcopy(body)
    copilot = tools.request(body)
    assert body == original
    assert copilot["tools"][0] == WEATHER
    assert copilot["tools"][1]["type"] == "function"
    assert copilot["tool_choice"] == {"type": "function", "name": "apply_patch"}
    assert copilot["input"] == [
        {"type": "function_call", "call_id": "c0", "name": "apply_patch", "arguments": '{"input":"p"}'}
    ]
    answer = tools.response(
        response_document([call_output("c1", "apply_patch", '{"input":"q"}')], tools=copilot["tools"])
    )
    assert answer["tools"] == body["tools"]
    assert answer["output"][0] == {
        "type": "custom_tool_call",
        "id": "fc_1",
        "status": "completed",
        "call_id": "c1",
        "name": "apply_patch",
        "input": "q",
    }
    events = run(
        tools.stream(),
        responses_events("Hi", (("c1", "apply_patch", ['{"input":', '"q"}']), ("c2", "weather", ["{}"]))),
    )
    kinds = [name for name, _ in events]
    assert kinds.count("response.function_call_arguments.delta") == 1  # only the function tool's
    assert "response.custom_tool_call_input.done" in kinds
    done = [data["item"] for name, data in events if name == "response.output_item.done"]
    assert [item["type"] for item in done] == ["reasoning", "message", "custom_tool_call", "function_call"]
    assert done[2]["input"] == "q"
    assert events[-1][1]["response"]["output"][2]["type"] == "custom_tool_call"
    for _, data in events:
        EVENT_CLASSES[data["type"]].model_validate(data)


# ====================================================================== round trip and chaining


def test_round_trip_chat_through_a_responses_upstream() -> None:
    body = {
        "model": "gpt-5.3-codex",
        "messages": HI,
        "tools": [{"type": "function", "function": {"name": "weather"}}],
        "stream": True,
    }
    translation = chat_to_responses.translator(body, "gpt-5.3-codex")
    upstream = translation.request()
    assert upstream["input"] == [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}]
    assert upstream["stream"] is True
    chunks = check_chunks(
        run(translation.stream(), responses_events("Sure thing", (("call_1", "weather", ['{"c":"Oslo"}']),)))
    )
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk["choices"])
    assert text == "Sure thing"
    calls = [
        call for chunk in chunks if chunk["choices"] for call in chunk["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert calls[0]["id"] == "call_1"
    assert "".join(call["function"]["arguments"] for call in calls) == '{"c":"Oslo"}'
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


class _Stub:
    """chat -> X, where X wraps the chat body and answers plain text: enough to see the chain's plumbing."""

    def __init__(self, body: JsonObject, requested_model: str) -> None:
        self.body = body
        self.model = requested_model

    def request(self) -> JsonObject:
        return {"x": self.body}

    def answer(self, document: JsonObject) -> JsonObject:
        return completion({"role": "assistant", "content": document["text"]})

    def stream(self) -> StreamTranslation:
        return _StubStream()


class _StubStream:
    def feed(self, name: str | None, data: JsonObject) -> list[Event]:
        return [chunk({"content": data["text"]})]

    def finish(self) -> list[Event]:
        return [chunk(finish="stop"), usage_chunk()]


def stub(body: JsonObject, requested_model: str) -> Translator:
    return _Stub(body, requested_model)


def test_chained_responses_to_chat_then_a_stub() -> None:
    translation = chained(responses_to_chat.translator, stub)({"model": "m", "input": "hi", "stream": True}, "my-model")
    assert translation.request() == {
        "x": {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    }
    answer = translation.answer({"text": "Hello"})
    assert Response.model_validate(answer).output_text == "Hello"
    events = check_events(run(translation.stream(), [("x", {"text": "Hel"}), ("x", {"text": "lo"})]))
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "Hello"
    assert events[-1]["response"]["usage"]["total_tokens"] == 18


def test_chained_responses_through_chat_to_a_responses_upstream() -> None:
    body = {"model": "gpt-5.3-codex", "input": "patch it", "tools": [APPLY_PATCH], "stream": True}
    translation = chained(responses_to_chat.translator, chat_to_responses.translator)(body, "gpt-5.3-codex")
    upstream = translation.request()
    assert upstream["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "patch it"}]}
    ]
    assert upstream["tools"][0]["name"] == "apply_patch"
    assert upstream["store"] is False
    canned = responses_events("Done", (("c1", "apply_patch", ['{"input":"*** Begin', ' Patch"}']),))
    events = check_events(run(translation.stream(), canned))
    output = events[-1]["response"]["output"]
    assert [item["type"] for item in output] == ["message", "custom_tool_call"]
    assert output[1]["input"] == "*** Begin Patch"
    assert events[-1]["response"]["usage"]["input_tokens_details"]["cached_tokens"] == 4
    answer = translation.answer(
        response_document([message_output("Done"), call_output("c1", "apply_patch", '{"input":"x"}')])
    )
    Response.model_validate(answer)
    assert [item["type"] for item in answer["output"]] == ["message", "custom_tool_call"]
