"""An Anthropic Messages request becomes a chat completion request.

Fields the chat completion has no place for (``metadata``, ``thinking``,
``top_k``, ``cache_control`` on blocks, ``service_tier``) are dropped, so
clients that send them keep working. Content blocks that cannot be
represented are refused with a 400 naming them, rather than silently lost.
Thinking blocks in the assistant's history are dropped: chat has no place for
them, and their signatures could not be checked by a chat model anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from proxyd.errors import BadRequest
from proxyd.translate.base import JsonObject
from proxyd.translate.fields import sampling

# Assistant blocks a client sends back in a multi-turn conversation that chat cannot take.
_DROPPED_ASSISTANT_BLOCKS = frozenset({"thinking", "redacted_thinking"})


def chat_request(body: Mapping[str, Any], copilot_model: str, *, counting: bool = False) -> JsonObject:
    """The chat completion request for the Anthropic request ``body`` (already a JSON object).

    ``counting``: the body is a ``count_tokens`` request, which has no ``max_tokens``.
    """
    messages = _field(body, "messages", list)
    if not messages:
        raise BadRequest("messages: at least one message is required")
    chat: JsonObject = {"model": copilot_model, "messages": _system(body.get("system"))}
    for position, message in enumerate(messages):
        chat["messages"].extend(_message(message, position))
    if not counting:
        max_tokens = _field(body, "max_tokens", int)
        if isinstance(max_tokens, bool) or max_tokens < 1:
            raise BadRequest("max_tokens: must be a positive integer")
        chat["max_tokens"] = max_tokens
    chat.update(sampling(body))
    stops = stop_sequences(body)
    if stops:
        chat["stop"] = list(stops)
    tools = body.get("tools")
    if tools:
        if not isinstance(tools, list):
            raise BadRequest("tools: must be a list")
        chat["tools"] = [_tool(tool, i) for i, tool in enumerate(tools)]
    if body.get("tool_choice") is not None:
        chat.update(_tool_choice(body["tool_choice"]))
    if body.get("stream") is True:
        chat["stream"] = True
        # Copilot sends the usage chunk only when asked; the message_delta event needs it.
        chat["stream_options"] = {"include_usage": True}
    return chat


def stop_sequences(body: Mapping[str, Any]) -> tuple[str, ...]:
    """The request's ``stop_sequences``: the answer names the one that ended it."""
    stops = body.get("stop_sequences")
    if not stops:
        return ()
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise BadRequest("stop_sequences: must be a list of strings")
    return tuple(stops)


def _field(body: Mapping[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        raise BadRequest(f"{name}: field required")
    if not isinstance(value, kind):
        raise BadRequest(f"{name}: must be {'a list' if kind is list else 'an integer'}")
    return value


def _system(system: Any, where: str = "system") -> list[JsonObject]:
    if system is None or system == "" or system == []:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    if isinstance(system, list):
        texts = [_text_of(block, f"{where}.{i}") for i, block in enumerate(system)]
        return [{"role": "system", "content": "\n\n".join(texts)}]
    raise BadRequest(f"{where}: must be a string or a list of text blocks")


def _text_of(block: Any, where: str) -> str:
    if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
        raise BadRequest(f"{where}: expected text blocks")
    return str(block["text"])


def _message(message: Any, position: int) -> list[JsonObject]:
    where = f"messages.{position}"
    if not isinstance(message, dict):
        raise BadRequest(f"{where}: must be an object")
    role, content = message.get("role"), message.get("content")
    if role == "system":
        # Claude Code sends these between turns (its mid-conversation-system beta); a chat
        # completion takes a system message anywhere.
        return _system(content, f"{where}.content")
    if role not in ("user", "assistant"):
        raise BadRequest(f"{where}.role: must be 'user', 'assistant' or 'system'")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise BadRequest(f"{where}.content: must be a string or a list of content blocks")
    blocks = [_block(block, f"{where}.content.{i}") for i, block in enumerate(content)]
    return _assistant(blocks, where) if role == "assistant" else _user(blocks, where)


def _block(block: Any, where: str) -> JsonObject:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise BadRequest(f"{where}: must be a content block with a type")
    return block


def _user(blocks: list[JsonObject], where: str) -> list[JsonObject]:
    """Tool results become tool messages, which must come first (right after the assistant's tool calls)."""
    tool_messages: list[JsonObject] = []
    parts: list[JsonObject] = []
    for i, block in enumerate(blocks):
        at = f"{where}.content.{i}"
        kind = block["type"]
        if kind == "tool_result":
            text, images = _tool_result(block, at)
            tool_messages.append({"role": "tool", "tool_call_id": block["tool_use_id"], "content": text})
            parts.extend(images)  # a tool message holds text only: its images follow as the user's
        elif kind == "text":
            parts.append({"type": "text", "text": _text_of(block, at)})
        elif kind == "image":
            parts.append(_image(block, at))
        else:
            raise BadRequest(f"{at}: content blocks of type {kind!r} are not supported")
    if parts:
        only_text = all(part["type"] == "text" for part in parts)
        content: Any = "\n\n".join(part["text"] for part in parts) if only_text else parts
        tool_messages.append({"role": "user", "content": content})
    return tool_messages


def _tool_result(block: JsonObject, where: str) -> tuple[str, list[JsonObject]]:
    if not isinstance(block.get("tool_use_id"), str):
        raise BadRequest(f"{where}.tool_use_id: field required")
    content = block.get("content")
    texts: list[str] = []
    images: list[JsonObject] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for i, part in enumerate(content):
            part = _block(part, f"{where}.content.{i}")
            if part["type"] == "image":
                images.append(_image(part, f"{where}.content.{i}"))
            else:
                texts.append(_text_of(part, f"{where}.content.{i}"))
    elif content is not None:
        raise BadRequest(f"{where}.content: must be a string or a list of blocks")
    text = "\n\n".join(texts)
    if block.get("is_error") is True:
        text = "Error: " + text
    return text, images


def _image(block: JsonObject, where: str) -> JsonObject:
    source = block.get("source")
    if not isinstance(source, dict):
        raise BadRequest(f"{where}.source: field required")
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        media = source.get("media_type") or "image/png"
        url = f"data:{media};base64,{source['data']}"
    elif source.get("type") == "url" and isinstance(source.get("url"), str):
        url = source["url"]
    else:
        raise BadRequest(f"{where}.source: expected a base64 or url image source")
    return {"type": "image_url", "image_url": {"url": url}}


def _assistant(blocks: list[JsonObject], where: str) -> list[JsonObject]:
    texts: list[str] = []
    calls: list[JsonObject] = []
    for i, block in enumerate(blocks):
        kind = block["type"]
        if kind == "text":
            texts.append(_text_of(block, f"{where}.content.{i}"))
        elif kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise BadRequest(f"{where}.content.{i}: a tool_use block needs an id and a name")
            arguments = orjson.dumps(block.get("input") or {}).decode()
            calls.append(
                {"id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": arguments}}
            )
        elif kind not in _DROPPED_ASSISTANT_BLOCKS:
            raise BadRequest(f"{where}.content.{i}: content blocks of type {kind!r} are not supported")
    # No text beside tool calls is null, as OpenAI sends it; a turn left empty (thinking only) is "".
    text = "\n\n".join(texts) if texts or not calls else None
    message: JsonObject = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = calls
    return [message]


def _tool(tool: Any, position: int) -> JsonObject:
    where = f"tools.{position}"
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
        raise BadRequest(f"{where}: a tool needs a name")
    if tool.get("type") not in (None, "custom"):
        raise BadRequest(f"{where}: server tools ({tool['type']!r}) are not supported")
    function: JsonObject = {"name": tool["name"], "parameters": tool.get("input_schema") or {"type": "object"}}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> JsonObject:
    if not isinstance(choice, dict):
        raise BadRequest("tool_choice: must be an object")
    kind = choice.get("type")
    chat: JsonObject = {}
    if kind == "auto":
        chat["tool_choice"] = "auto"
    elif kind == "any":
        chat["tool_choice"] = "required"
    elif kind == "none":
        chat["tool_choice"] = "none"
    elif kind == "tool" and isinstance(choice.get("name"), str):
        chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        raise BadRequest("tool_choice: type must be auto, any, none, or tool with a name")
    if choice.get("disable_parallel_tool_use") is True:
        chat["parallel_tool_calls"] = False
    return chat
