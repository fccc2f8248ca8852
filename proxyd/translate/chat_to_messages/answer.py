"""An Anthropic message becomes a chat completion.

Text blocks are joined into the message's content (Anthropic splits text
around tool calls and citations; chat has one string), tool_use blocks become
tool calls, and thinking blocks are dropped: chat has no place for them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

import orjson

from proxyd.translate.base import JsonObject

# Anthropic's stop_reason -> OpenAI's finish_reason; any other (pause_turn, a new one) is "stop".
FINISH_REASONS: Mapping[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Anthropic's input_tokens leaves out what the prompt cache read or wrote; chat's prompt_tokens counts all.
_INPUT_FIELDS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def call_id() -> str:
    return "call_" + secrets.token_hex(12)


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def chat_usage(usage: Mapping[str, Any]) -> JsonObject:
    """Chat's ``usage`` for Anthropic's; cache reads are also named as chat's ``cached_tokens``."""
    prompt = sum(_count(usage.get(name)) for name in _INPUT_FIELDS)
    completion = _count(usage.get("output_tokens"))
    out: JsonObject = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    cached = _count(usage.get("cache_read_input_tokens"))
    if cached:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    return out


def tool_call(block: Mapping[str, Any]) -> JsonObject:
    """The chat tool call for a tool_use block; its ``input`` object becomes the JSON ``arguments``."""
    name, found = block.get("name"), block.get("input")
    arguments = orjson.dumps(found if isinstance(found, dict) else {}).decode()
    function = {"name": name if isinstance(name, str) else "", "arguments": arguments}
    return {"id": id_of(block), "type": "function", "function": function}


def to_completion(message: Mapping[str, Any], model: str) -> JsonObject:
    """The chat completion for an Anthropic message; ``model`` is the name the client asked for."""
    content = message.get("content")
    texts: list[str] = []
    calls: list[JsonObject] = []
    for block in content if isinstance(content, list) else ():
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            calls.append(tool_call(block))
    # No text beside tool calls is null, as OpenAI sends it.
    answer: JsonObject = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        answer["tool_calls"] = calls
    found = message.get("id")
    usage = message.get("usage")
    finish = finish_reason(message.get("stop_reason"))
    choice = {"index": 0, "message": answer, "finish_reason": finish, "logprobs": None}
    return {
        "id": found if isinstance(found, str) and found else completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": chat_usage(usage if isinstance(usage, dict) else {}),
    }


def id_of(block: Mapping[str, Any]) -> str:
    """A tool_use block's id; one is made up should Copilot leave it out, as chat's tool results need one."""
    found = block.get("id")
    return found if isinstance(found, str) and found else call_id()


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
