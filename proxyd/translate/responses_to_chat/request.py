"""A Responses API request becomes a chat completion request.

What a chat completion cannot carry is refused with a 400 naming the field,
never silently dropped, when losing it would change the answer:
``previous_response_id`` and ``conversation`` (proxyd keeps no responses to
continue from), ``background``, stored ``prompt`` templates, ``item_reference``
items, images by ``file_id``, files, and tools other than function, custom and
local_shell (those two through ``ResponsesTools``). What only tunes OpenAI's
own service (``store``, ``include``, ``metadata``, ``truncation``,
``service_tier``, ``reasoning.summary``, ``text.verbosity``) is dropped.
Reasoning items are dropped too: their encrypted content means nothing to a
chat completion.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from proxyd.errors import BadRequest
from proxyd.translate import fields
from proxyd.translate.base import JsonObject
from proxyd.translate.fields import sampling
from proxyd.translate.responses_tools import ResponsesTools

# Fields that ask for state proxyd does not keep; the message says what to do instead.
_STATEFUL: Mapping[str, str] = {
    "previous_response_id": "proxyd stores no responses to continue from; send the whole conversation in input",
    "conversation": "proxyd stores no conversations; send the whole conversation in input",
    "prompt": "stored prompt templates live on OpenAI's platform, which GitHub Copilot cannot reach",
}

_DROPPED_ITEMS = frozenset({"reasoning"})


def to_chat_request(body: Mapping[str, Any], tools: ResponsesTools) -> JsonObject:
    """The chat completion request for the Responses request ``body`` (its model already Copilot's)."""
    _refuse_state(body)
    copilot = tools.request(body)
    messages = _Messages()
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise BadRequest("instructions: must be a string")
    if instructions:
        messages.add({"role": "system", "content": instructions})
    _input(copilot.get("input"), messages)
    chat: JsonObject = {"model": body.get("model"), "messages": messages.done()}
    if copilot.get("tools"):
        chat["tools"] = [_tool(tool, f"tools.{i}") for i, tool in enumerate(copilot["tools"])]
    if copilot.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(copilot["tool_choice"])
    chat.update(_settings(body))
    if body.get("stream") is True:
        chat["stream"] = True
        # Copilot sends the usage chunk only when asked; response.completed must carry usage.
        chat["stream_options"] = {"include_usage": True}
    return chat


def _refuse_state(body: Mapping[str, Any]) -> None:
    for name, why in _STATEFUL.items():
        if body.get(name) is not None:
            raise BadRequest(f"{name}: not supported through GitHub Copilot on this model: {why}")
    if body.get("background") is True:
        raise BadRequest("background: background responses need stored responses, which proxyd does not keep")


def _settings(body: Mapping[str, Any]) -> JsonObject:
    chat: JsonObject = {}
    if body.get("parallel_tool_calls") is not None:
        if not isinstance(body["parallel_tool_calls"], bool):
            raise BadRequest("parallel_tool_calls: must be a boolean")
        chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    limit = body.get("max_output_tokens")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise BadRequest("max_output_tokens: must be a positive integer")
        chat["max_tokens"] = limit
    chat.update(sampling(body))
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("effort"), str):
        chat["reasoning_effort"] = reasoning["effort"]
    text = body.get("text")
    if isinstance(text, dict) and text.get("format") is not None:
        chat["response_format"] = _response_format(text["format"])
    for name in ("prompt_cache_key", "user"):
        if isinstance(body.get(name), str):
            chat[name] = body[name]
    return chat


def _response_format(fmt: Any) -> JsonObject:
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise BadRequest("text.format.type: must be 'text', 'json_object' or 'json_schema'")
    if fmt["type"] != "json_schema":
        return {"type": fmt["type"]}
    if not isinstance(fmt.get("name"), str) or not isinstance(fmt.get("schema"), dict):
        raise BadRequest("text.format: a json_schema format needs a name and a schema")
    schema = {key: fmt[key] for key in ("name", "schema", "strict", "description") if fmt.get(key) is not None}
    return {"type": "json_schema", "json_schema": schema}


def _tool(tool: Any, where: str) -> JsonObject:
    # ResponsesTools has turned custom and local_shell tools into functions and refused hosted ones.
    if tool.get("type") != "function":
        raise BadRequest(
            f"{where}: tools of type {tool.get('type')!r} cannot be used with this model;"
            " only function, custom and local_shell tools can"
        )
    function: JsonObject = {"name": tool["name"], "parameters": tool.get("parameters") or {"type": "object"}}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise BadRequest("tool_choice: must be 'auto', 'none', 'required' or a function tool by name")


# ---------------------------------------------------------------------- input items


class _Messages:
    """The chat messages, built in order; keeps what the next item may join."""

    __slots__ = ("_images", "messages")

    def __init__(self) -> None:
        self.messages: list[JsonObject] = []
        # Images a tool returned: a tool message holds text only, so they follow as the user's,
        # after the last tool message of the turn (one between two would break the turn).
        self._images: list[JsonObject] = []

    def add(self, message: JsonObject) -> None:
        self._flush()
        self.messages.append(message)

    def call(self, call: JsonObject) -> None:
        """A tool call joins the assistant message just before it: chat has one message per turn."""
        last = self.messages[-1] if self.messages and not self._images else None
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)
        else:
            self.add({"role": "assistant", "content": None, "tool_calls": [call]})

    def tool_output(self, call_id: str, text: str, images: list[JsonObject]) -> None:
        self.messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
        self._images.extend(images)

    def done(self) -> list[JsonObject]:
        self._flush()
        if not self.messages:
            raise BadRequest("input: at least one input item is required")
        return self.messages

    def _flush(self) -> None:
        if self._images:
            images, self._images = self._images, []
            self.messages.append({"role": "user", "content": images})


def _input(items: Any, messages: _Messages) -> None:
    if items is None:
        raise BadRequest("input: field required")
    if isinstance(items, str):
        messages.add({"role": "user", "content": items})
        return
    if not isinstance(items, list):
        raise BadRequest("input: must be a string or a list of input items")
    for position, item in enumerate(items):
        _item(item, f"input.{position}", messages)


def _item(item: Any, where: str, messages: _Messages) -> None:
    if not isinstance(item, dict):
        raise BadRequest(f"{where}: must be an object")
    # An "easy" message ({"role", "content"}) has no type.
    kind = item.get("type", "message" if "role" in item else None)
    if kind == "message":
        messages.add(_message(item, where))
    elif kind == "function_call":
        name, arguments = _string(item, "name", where), item.get("arguments")
        if not isinstance(arguments, str):
            arguments = orjson.dumps(arguments if arguments is not None else {}).decode()
        call_id = _string(item, "call_id", where)
        messages.call({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}})
    elif kind == "function_call_output":
        text, images = _output(item.get("output"), f"{where}.output")
        messages.tool_output(_string(item, "call_id", where), text, images)
    elif kind == "item_reference":
        raise BadRequest(f"{where}: item references need stored responses, which proxyd does not keep")
    elif kind not in _DROPPED_ITEMS:
        raise BadRequest(f"{where}: input items of type {kind!r} cannot be sent to this model")


def _string(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{where}.{key}: field required")
    return value


def _message(item: Mapping[str, Any], where: str) -> JsonObject:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise BadRequest(f"{where}.role: must be 'user', 'assistant', 'system' or 'developer'")
    parts = _parts(item.get("content"), f"{where}.content")
    text_only = all(part["type"] == "text" for part in parts)
    if role != "user" and not text_only:
        raise BadRequest(f"{where}.content: only user messages can hold images")
    # Not every model behind Copilot's chat endpoint takes the developer role; all take system.
    chat_role = "system" if role == "developer" else role
    content: Any = "\n\n".join(part["text"] for part in parts) if text_only else parts
    return {"role": chat_role, "content": content}


def _parts(content: Any, where: str) -> list[JsonObject]:
    return fields.content_parts(content, where, "text", _part)


def _part(part: Any, where: str) -> JsonObject:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text") and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "refusal" and isinstance(part.get("refusal"), str):
        return {"type": "text", "text": part["refusal"]}
    if kind == "input_image":
        return _image(part, where)
    if kind is None:
        raise BadRequest(f"{where}: must be a content part with a type")
    raise BadRequest(f"{where}: content parts of type {kind!r} are not supported")


def _image(part: Mapping[str, Any], where: str) -> JsonObject:
    url = part.get("image_url")
    if part.get("file_id") is not None or not isinstance(url, str) or not url:
        raise BadRequest(
            f"{where}: images by file_id need OpenAI's file storage, which GitHub Copilot does not have;"
            " send the image in image_url (a data: URL or an https URL)"
        )
    image: JsonObject = {"url": url}
    if part.get("detail") in ("low", "high", "auto"):
        image["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image}


def _output(output: Any, where: str) -> tuple[str, list[JsonObject]]:
    """A tool's output: its text, and the images it returned (Codex sends screenshots so)."""
    if isinstance(output, str):
        return output, []
    if not isinstance(output, list):
        raise BadRequest(f"{where}: must be a string or a list of content parts")
    texts: list[str] = []
    images: list[JsonObject] = []
    for i, part in enumerate(output):
        converted = _part(part, f"{where}.{i}")
        if converted["type"] == "text":
            texts.append(converted["text"])
        else:
            images.append(converted)
    return "\n\n".join(texts), images
