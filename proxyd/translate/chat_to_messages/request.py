"""A chat completion request becomes an Anthropic Messages request, for Claude models served on ``/v1/messages``.

The conversation is reshaped to what Anthropic requires: system and developer
messages (wherever they stand) become the ``system`` text blocks; tool
messages become ``tool_result`` blocks of a user message; consecutive messages
of one role are merged, as Anthropic wants the roles to alternate; empty
messages are left out, as Anthropic refuses them.

Sampling: ``max_tokens`` is required by Anthropic (``DEFAULT_MAX_TOKENS`` when
the client set none); ``temperature`` is capped at Anthropic's 1 (OpenAI allows
up to 2); ``top_p`` is left out beside a ``temperature``, as Claude's models
since Opus 4.1 refuse the two together ("temperature and top_p cannot both be
specified for this model", through Copilot too: microsoft/copilot-eclipse-feedback
#79). ``reasoning_effort`` becomes a thinking budget (``THINKING_BUDGETS``), and
then ``temperature`` and ``top_p`` are left out, as Anthropic refuses them beside
thinking. Thinking is left off when Anthropic would refuse it: when the client
forces a tool (``tool_choice`` required or a function), and when the
conversation continues an assistant turn (the last message is a tool result or
the assistant's), since that turn had to start with the thinking blocks chat
could not carry back.

Dropped, having no counterpart: ``frequency_penalty``, ``presence_penalty``,
``logit_bias``, ``logprobs``, ``seed``, ``response_format``, ``store``,
``service_tier``, ``prompt_cache_key``, messages' ``name``. Refused with a 400
naming the field: what would change the answer's meaning if dropped (``n`` > 1,
audio or file parts, non-function tools, unparsable tool call arguments).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from proxyd.errors import BadRequest
from proxyd.translate import fields
from proxyd.translate.base import JsonObject
from proxyd.translate.fields import sampling

DEFAULT_MAX_TOKENS = 4096
# reasoning_effort -> thinking budget_tokens. 1,024 is Anthropic's smallest budget. The largest stays at 8,192
# because max_tokens must hold the budget and the answer, and Copilot limits each model's output
# (capabilities.limits.max_output_tokens in /models). "none" turns thinking off, as on OpenAI's models.
THINKING_BUDGETS: Mapping[str, int] = {"minimal": 1024, "low": 2048, "medium": 4096, "high": 8192, "xhigh": 8192}
_MIN_THINKING_BUDGET = 1024
# Anthropic's temperature runs from 0 to 1, OpenAI's to 2.
_MAX_TEMPERATURE = 1.0
_DATA_URL = re.compile(r"data:(?P<media>[^;,]+)(?:;[^;,]*)*;base64,(?P<data>.*)", re.DOTALL)
_SYSTEM_ROLES = frozenset({"system", "developer"})


def messages_request(body: Mapping[str, Any]) -> JsonObject:
    """The Messages request for the chat request ``body`` (already a JSON object, ``model`` Copilot's name)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages: at least one message is required")
    if body.get("n") not in (None, 1):
        raise BadRequest("n: only one choice is supported")
    system, turns = _conversation(messages)
    if not turns:
        raise BadRequest("messages: at least one user or assistant message with content is required")
    out: JsonObject = {"model": model}
    if system:
        out["system"] = system
    out["messages"] = turns
    out.update(_tool_fields(body))
    budget, out["max_tokens"] = _budget_and_max_tokens(body, turns, out.get("tool_choice"))
    sampling = _sampling(body)
    if budget is not None:
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    else:
        out.update(sampling)
    stops = _stop(body.get("stop"))
    if stops:
        out["stop_sequences"] = stops
    if body.get("stream") is True:
        out["stream"] = True
    user = body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    return out


def _conversation(messages: list[Any]) -> tuple[list[JsonObject], list[JsonObject]]:
    """The system blocks and the alternating user and assistant turns."""
    system: list[JsonObject] = []
    turns: list[JsonObject] = []
    for where, message in fields.messages(messages):
        role = message.get("role")
        if role in _SYSTEM_ROLES:
            system.extend(_text_block(text) for text in _texts(message.get("content"), f"{where}.content"))
        elif role == "user":
            _append(turns, "user", _user_blocks(message.get("content"), f"{where}.content"))
        elif role == "assistant":
            _append(turns, "assistant", _assistant_blocks(message, where))
        elif role == "tool":
            _append(turns, "user", [_tool_result(message, where)])
        else:
            raise BadRequest(f"{where}.role: must be 'system', 'developer', 'user', 'assistant' or 'tool'")
    return system, turns


def _append(turns: list[JsonObject], role: str, blocks: list[JsonObject]) -> None:
    """Adds a message's blocks, to the last turn when it has the same role."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        blocks = turns[-1]["content"] + blocks
        turns.pop()
    if role == "user":
        # Anthropic wants the tool results first in the user's message that answers the tool calls.
        results = [block for block in blocks if block["type"] == "tool_result"]
        blocks = results + [block for block in blocks if block["type"] != "tool_result"]
    turns.append({"role": role, "content": blocks})


def _text_block(text: str) -> JsonObject:
    return {"type": "text", "text": text}


def _texts(content: Any, where: str) -> list[str]:
    """The non-empty texts of a content that may hold text only (system, developer)."""
    if isinstance(content, str):
        return [content] if content else []
    if not isinstance(content, list):
        raise BadRequest(f"{where}: must be a string or a list of text parts")
    texts = []
    for i, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise BadRequest(f"{where}.{i}: expected a text part")
        if part["text"]:
            texts.append(part["text"])
    return texts


def _user_blocks(content: Any, where: str) -> list[JsonObject]:
    if isinstance(content, str):
        return [_text_block(content)] if content else []
    if not isinstance(content, list):
        raise BadRequest(f"{where}: must be a string or a list of content parts")
    blocks = []
    for i, part in enumerate(content):
        block = _part(part, f"{where}.{i}", ("text", "image_url"))
        if block is not None:
            blocks.append(block)
    return blocks


def _part(part: Any, where: str, kinds: tuple[str, ...]) -> JsonObject | None:
    """The Anthropic block for one content part of a kind in ``kinds``; None for empty text."""
    kind = part.get("type") if isinstance(part, dict) else None
    if not isinstance(kind, str):
        raise BadRequest(f"{where}: must be a content part with a type")
    if kind not in kinds:
        raise BadRequest(f"{where}: content parts of type {kind!r} are not supported here")
    if kind == "image_url":
        return _image(part.get("image_url"), f"{where}.image_url")
    key = "refusal" if kind == "refusal" else "text"
    text = part.get(key)
    if not isinstance(text, str):
        raise BadRequest(f"{where}.{key}: must be a string")
    return _text_block(text) if text else None


def _image(image: Any, where: str) -> JsonObject:
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise BadRequest(f"{where}.url: field required")
    if url.startswith("data:"):
        found = _DATA_URL.fullmatch(url)
        if found is None:
            raise BadRequest(f"{where}.url: a data URL must be base64-encoded")
        source = {"type": "base64", "media_type": found["media"], "data": found["data"]}
    elif url.startswith(("https://", "http://")):
        source = {"type": "url", "url": url}
    else:
        raise BadRequest(f"{where}.url: must be an http(s) or a data URL")
    return {"type": "image", "source": source}


def _assistant_blocks(message: JsonObject, where: str) -> list[JsonObject]:
    """Text, then the tool calls; reasoning fields some clients send back are dropped (nothing Anthropic can check)."""
    content = message.get("content")
    blocks: list[JsonObject] = []
    if isinstance(content, str):
        blocks.extend([_text_block(content)] if content else [])
    elif isinstance(content, list):
        for i, part in enumerate(content):
            block = _part(part, f"{where}.content.{i}", ("text", "refusal"))
            if block is not None:
                blocks.append(block)
    elif content is not None:
        raise BadRequest(f"{where}.content: must be a string, a list of content parts or null")
    calls = message.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise BadRequest(f"{where}.tool_calls: must be a list")
    blocks.extend(_tool_use(call, f"{where}.tool_calls.{i}") for i, call in enumerate(calls or ()))
    return blocks


def _tool_use(call: Any, where: str) -> JsonObject:
    if not isinstance(call, dict) or not isinstance(call.get("id"), str):
        raise BadRequest(f"{where}.id: field required")
    if call.get("type", "function") != "function":
        raise BadRequest(f"{where}.type: only function tool calls are supported")
    function = call.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise BadRequest(f"{where}.function.name: field required")
    return {"type": "tool_use", "id": call["id"], "name": function["name"], "input": _arguments(function, where)}


def _arguments(function: JsonObject, where: str) -> JsonObject:
    arguments = function.get("arguments")
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    if not isinstance(arguments, str):
        raise BadRequest(f"{where}.function.arguments: must be a string of JSON")
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        raise BadRequest(f"{where}.function.arguments: not valid JSON") from None
    if not isinstance(parsed, dict):
        raise BadRequest(f"{where}.function.arguments: must be a JSON object")
    return parsed


def _tool_result(message: JsonObject, where: str) -> JsonObject:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str):
        raise BadRequest(f"{where}.tool_call_id: field required")
    block: JsonObject = {"type": "tool_result", "tool_use_id": call_id}
    content = message.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    elif isinstance(content, list):
        parts = [_part(part, f"{where}.content.{i}", ("text", "image_url")) for i, part in enumerate(content)]
        blocks = [part for part in parts if part is not None]
        if blocks:
            block["content"] = blocks
    elif content is not None:
        raise BadRequest(f"{where}.content: must be a string or a list of content parts")
    return block


def _tool_fields(body: Mapping[str, Any]) -> JsonObject:
    tools = _tools(body.get("tools"))
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    # Without tools there is nothing to choose from (some clients send "none" all the same).
    if not tools:
        return {}
    return {"tools": tools} if choice is None else {"tools": tools, "tool_choice": choice}


def _tools(tools: Any) -> list[JsonObject]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise BadRequest("tools: must be a list")
    return [_tool(tool, f"tools.{i}") for i, tool in enumerate(tools)]


def _tool(tool: Any, where: str) -> JsonObject:
    if not isinstance(tool, dict) or tool.get("type") != "function":
        raise BadRequest(f"{where}.type: only function tools are supported")
    function = tool.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise BadRequest(f"{where}.function.name: field required")
    parameters = function.get("parameters")
    schema = parameters if isinstance(parameters, dict) else {"type": "object", "properties": {}}
    out: JsonObject = {"name": function["name"]}
    if isinstance(function.get("description"), str):
        out["description"] = function["description"]
    out["input_schema"] = schema
    return out


def _tool_choice(choice: Any, parallel: Any) -> JsonObject | None:
    """Anthropic's ``tool_choice``; ``parallel_tool_calls: false`` rides on it as ``disable_parallel_tool_use``."""
    if choice is None:
        # Anthropic's default is auto: only a request against parallel calls needs saying it.
        return {"type": "auto", "disable_parallel_tool_use": True} if parallel is False else None
    out = _choice(choice)
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


def _choice(choice: Any) -> JsonObject:
    if choice in ("auto", "none"):
        return {"type": choice}
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise BadRequest("tool_choice.function.name: field required")
        return {"type": "tool", "name": function["name"]}
    raise BadRequest("tool_choice: must be 'auto', 'none', 'required' or a function")


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    """``max_completion_tokens`` (OpenAI's current name) or else ``max_tokens``; None when neither is set."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadRequest(f"{name}: must be a positive integer")
        return value
    return None


def _budget_and_max_tokens(
    body: Mapping[str, Any], turns: list[JsonObject], tool_choice: Any
) -> tuple[int | None, int]:
    """The thinking budget (None: no thinking) and ``max_tokens``, which counts the thinking too."""
    max_tokens = _max_tokens(body)
    budget = _thinking_budget(body.get("reasoning_effort"))
    if budget is None or not _thinking_allowed(turns, tool_choice):
        return None, DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
    if max_tokens is None:
        return budget, DEFAULT_MAX_TOKENS + budget
    # The client's limit stands: the budget takes at most half of it, so the answer keeps room.
    budget = min(budget, max_tokens // 2)
    return (budget if budget >= _MIN_THINKING_BUDGET else None), max_tokens


def _thinking_budget(effort: Any) -> int | None:
    if effort is None or effort == "none":
        return None
    if not isinstance(effort, str) or effort not in THINKING_BUDGETS:
        raise BadRequest(f"reasoning_effort: must be one of none, {', '.join(THINKING_BUDGETS)}")
    return THINKING_BUDGETS[effort]


def _thinking_allowed(turns: list[JsonObject], tool_choice: Any) -> bool:
    """Whether Anthropic takes thinking on this request (see the module's docstring)."""
    if isinstance(tool_choice, dict) and tool_choice.get("type") in ("any", "tool"):
        return False
    last = turns[-1] if turns else None
    if last is None or last["role"] != "user":
        return False
    return not any(block["type"] == "tool_result" for block in last["content"])


def _sampling(body: Mapping[str, Any]) -> JsonObject:
    out: JsonObject = {}
    out.update(sampling(body))
    if "temperature" in out:
        out["temperature"] = min(out["temperature"], _MAX_TEMPERATURE)
        # Claude's newer models refuse both (see above); OpenAI clients often send top_p 1 beside a temperature.
        out.pop("top_p", None)
    return out


def _stop(stop: Any) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop] if stop else []
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise BadRequest("stop: must be a string or a list of strings")
    return [s for s in stop if s]
