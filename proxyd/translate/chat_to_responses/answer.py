"""A Responses API ``response`` object becomes a chat completion.

One choice: the text of every message item, then one tool call per
``function_call`` item. Reasoning items are dropped: a chat completion has no
standard place for them, and their encrypted content only Copilot can read.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

from proxyd.errors import UpstreamAnswered
from proxyd.translate.base import JsonObject

# incomplete_details.reason -> finish_reason.
_INCOMPLETE_FINISH: Mapping[str, str] = {"max_output_tokens": "length", "content_filter": "content_filter"}


def completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def finish_reason(response: Mapping[str, Any], called: bool) -> str:
    """Why the answer ended, in chat's words; a cut-off answer says so even when it holds calls.

    A call cut off by the token limit has broken arguments: ``length`` keeps a
    client from running it.
    """
    if response.get("status") == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return _INCOMPLETE_FINISH.get(reason, "length") if isinstance(reason, str) else "length"
    return "tool_calls" if called else "stop"


def chat_usage(usage: Any) -> JsonObject | None:
    """A Responses usage as chat counts it; None when there is none."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))
    input_details, output_details = usage.get("input_tokens_details"), usage.get("output_tokens_details")
    cached = _count(input_details.get("cached_tokens")) if isinstance(input_details, dict) else 0
    reasoning = _count(output_details.get("reasoning_tokens")) if isinstance(output_details, dict) else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": _count(usage.get("total_tokens")) or prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def tool_call(item: Mapping[str, Any]) -> JsonObject:
    arguments = item.get("arguments")
    return {
        "id": item.get("call_id") or item.get("id") or "call_" + secrets.token_hex(12),
        "type": "function",
        "function": {"name": item.get("name") or "", "arguments": arguments if isinstance(arguments, str) else ""},
    }


def failure_message(response: Mapping[str, Any]) -> str:
    error = response.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else "Copilot failed to answer"


def to_chat_completion(response: Mapping[str, Any], model: str) -> JsonObject:
    """The chat completion for a (non-streamed) response object; ``model`` is the name the client asked for."""
    if response.get("status") == "failed":
        raise UpstreamAnswered(502, failure_message(response))
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[JsonObject] = []
    output = response.get("output")
    for item in output if isinstance(output, list) else ():
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            _message_content(item, texts, refusals)
        elif item.get("type") == "function_call":
            calls.append(tool_call(item))
    message: JsonObject = {
        "role": "assistant",
        # No text beside tool calls is null, as OpenAI sends it.
        "content": "".join(texts) if texts or not calls else None,
        "refusal": "".join(refusals) if refusals else None,
    }
    if calls:
        message["tool_calls"] = calls
    created = response.get("created_at")
    completion: JsonObject = {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(created) if isinstance(created, int | float) else int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_reason(response, bool(calls)), "logprobs": None}
        ],
    }
    usage = chat_usage(response.get("usage"))
    if usage is not None:
        completion["usage"] = usage
    return completion


def _message_content(item: Mapping[str, Any], texts: list[str], refusals: list[str]) -> None:
    content = item.get("content")
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, dict):
            continue
        if part.get("type") == "output_text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
            refusals.append(part["refusal"])
