"""A chat completion becomes a Responses API ``response`` object.

The object carries every field OpenAI's SDKs read (they validate ``tools``,
``tool_choice``, ``parallel_tool_calls`` and the usage details as required),
repeating the request's settings as OpenAI does. ``ResponseShell`` holds what
all the response objects of one request share, so the JSON answer and every
stream event built for it agree.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

from proxyd.translate.base import JsonObject
from proxyd.translate.responses_tools import ResponsesTools, ToolKind

# finish_reason -> incomplete_details.reason; any other finish completes the response.
INCOMPLETE_REASONS: Mapping[str, str] = {"length": "max_output_tokens", "content_filter": "content_filter"}
# The item id prefixes OpenAI uses, by what a call turns into.
CALL_ID_PREFIXES: Mapping[ToolKind, str] = {"function": "fc", "custom": "ctc", "local_shell": "lsh"}


def item_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


class ResponseShell:
    """One request's response object, without its output: id, time and the settings it repeats."""

    __slots__ = ("_body", "_model", "_tools", "created_at", "id")

    def __init__(self, body: Mapping[str, Any], model: str, tools: ResponsesTools) -> None:
        self._body = body
        self._model = model
        self._tools = tools
        self.id = item_id("resp")
        self.created_at = int(time.time())

    def response(
        self,
        status: str,
        output: list[JsonObject],
        usage: JsonObject | None,
        *,
        incomplete: str | None = None,
        error: JsonObject | None = None,
    ) -> JsonObject:
        body = self._body
        reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else None
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "error": error,
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "instructions": body.get("instructions") if isinstance(body.get("instructions"), str) else None,
            "max_output_tokens": _echo(body, "max_output_tokens", int),
            "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
            "model": self._model,
            "output": output,
            "parallel_tool_calls": _echo(body, "parallel_tool_calls", bool, True),
            "previous_response_id": None,
            "prompt_cache_key": _echo(body, "prompt_cache_key", str),
            "reasoning": {"effort": reasoning.get("effort"), "summary": None} if reasoning else None,
            "store": False,
            "temperature": _echo(body, "temperature", float | int),
            "text": _text(body.get("text")),
            "tool_choice": body.get("tool_choice") if body.get("tool_choice") is not None else "auto",
            "tools": self._tools.client_tools,
            "top_p": _echo(body, "top_p", float | int),
            "truncation": "disabled",
            "usage": usage,
            "user": _echo(body, "user", str),
        }


def _echo(body: Mapping[str, Any], name: str, kind: Any, default: Any = None) -> Any:
    value = body.get(name)
    return value if isinstance(value, kind) else default


def _text(text: Any) -> JsonObject:
    fmt = text.get("format") if isinstance(text, dict) else None
    return {"format": fmt if isinstance(fmt, dict) else {"type": "text"}}


def response_usage(usage: Any) -> JsonObject | None:
    """A chat completion's usage as the Responses API counts it; None when Copilot sent none."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    cached = _count(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0
    reasoning = _count(completion_details.get("reasoning_tokens")) if isinstance(completion_details, dict) else 0
    return {
        "input_tokens": prompt,
        # cache_write_tokens: the SDK requires it; Copilot does not report cache writes.
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": _count(usage.get("total_tokens")) or prompt + completion,
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def message_item(text: str, identifier: str, status: str = "completed") -> JsonObject:
    return {
        "id": identifier,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_text", "text": text, "annotations": []}] if status == "completed" else [],
    }


def call_item(identifier: str, call_id: str, name: str, arguments: str, status: str = "completed") -> JsonObject:
    return {
        "id": identifier,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def to_response(completion: Mapping[str, Any], shell: ResponseShell, tools: ResponsesTools) -> JsonObject:
    """The response object for a (non-streamed) chat completion.

    Copilot may split one answer over several choices (the text in one, the tool
    calls in another), so all choices are merged: the text first, then the calls.
    """
    texts: list[str] = []
    output: list[JsonObject] = []
    finish: str | None = None
    choices = completion.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict):
            continue
        message = _object(choice.get("message"))
        if isinstance(message.get("content"), str) and message["content"]:
            texts.append(message["content"])
        output.extend(_calls(message.get("tool_calls"), tools))
        if isinstance(choice.get("finish_reason"), str) and finish not in INCOMPLETE_REASONS:
            finish = choice["finish_reason"]
    if texts:
        output.insert(0, message_item("".join(texts), item_id("msg")))
    incomplete = INCOMPLETE_REASONS.get(finish or "")
    status = "incomplete" if incomplete else "completed"
    return shell.response(status, output, response_usage(completion.get("usage")), incomplete=incomplete)


def _calls(calls: Any, tools: ResponsesTools) -> list[JsonObject]:
    items: list[JsonObject] = []
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        call_id, name = _string(call.get("id"), item_id("call")), _string(function.get("name"))
        identifier = item_id(CALL_ID_PREFIXES[tools.kind(name)])
        item = call_item(identifier, call_id, name, _string(function.get("arguments")))
        items.append(tools.output_item(item))
    return items


def _object(value: Any) -> JsonObject:
    return value if isinstance(value, dict) else {}


def _string(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) and value else default
