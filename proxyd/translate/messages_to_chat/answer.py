"""A chat completion becomes an Anthropic message.

Copilot may split one answer over several choices (the text in one, the tool
calls in another), so all choices are merged into one message, text first.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from proxyd.translate.base import JsonObject

# OpenAI's finish_reason -> Anthropic's stop_reason.
STOP_REASONS: Mapping[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def message_id() -> str:
    return "msg_" + secrets.token_hex(12)


def tool_use_id() -> str:
    return "toolu_" + secrets.token_hex(12)


def to_message(completion: Mapping[str, Any], model: str, stop_sequences: Sequence[str] = ()) -> JsonObject:
    """The Anthropic message for a (non-streamed) chat completion; ``model`` is the name the client asked for."""
    choices = completion.get("choices")
    texts: list[JsonObject] = []
    tools: list[JsonObject] = []
    finish: Any = None
    matched: str | None = None
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict):
            continue
        found = choice.get("message")
        message: JsonObject = found if isinstance(found, dict) else {}
        if isinstance(message.get("content"), str) and message["content"]:
            texts.append({"type": "text", "text": message["content"]})
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                tools.append(_tool_use(call, function))
        if choice.get("finish_reason") and finish != "tool_calls":
            finish = choice["finish_reason"]
        matched = matched or matched_stop(choice, stop_sequences)
    return {
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": texts + tools,
        "stop_reason": "tool_use" if tools else ("stop_sequence" if matched else stop_reason(finish)),
        "stop_sequence": None if tools else matched,
        "usage": usage_of(completion),
    }


def _tool_use(call: JsonObject, function: JsonObject) -> JsonObject:
    arguments = function.get("arguments")
    return {
        "type": "tool_use",
        "id": call.get("id") or tool_use_id(),
        "name": function.get("name") or "",
        "input": tool_input(arguments if isinstance(arguments, str) else ""),
    }


def tool_input(arguments: str) -> Any:
    """A tool call's arguments as the ``input`` object; what is not a JSON object is kept as its text."""
    if not arguments.strip():
        return {}
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {"arguments": arguments}
    return parsed if isinstance(parsed, dict) else {"arguments": parsed}


def stop_reason(finish_reason: Any) -> str:
    return STOP_REASONS.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"


def matched_stop(choice: Mapping[str, Any], stop_sequences: Sequence[str]) -> str | None:
    """The stop sequence that ended the answer, when upstream names it.

    OpenAI's finish_reason "stop" does not say whether a stop sequence or the
    model ended the answer; some backends add the matched sequence as the
    choice's ``stop_reason``. Without it the answer counts as ``end_turn``.
    """
    matched = choice.get("stop_reason")
    if choice.get("finish_reason") == "stop" and isinstance(matched, str) and matched in stop_sequences:
        return matched
    return None


def usage_of(completion: Mapping[str, Any]) -> JsonObject:
    usage = completion.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return {"input_tokens": _count(usage.get("prompt_tokens")), "output_tokens": _count(usage.get("completion_tokens"))}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
