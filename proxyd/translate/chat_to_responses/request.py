"""A chat completion request becomes a Responses API request.

Leading system and developer messages become ``instructions``; later ones stay
in place as developer messages. What the Responses API has no place for and
that would change the answer is refused with a 400 naming the field: more than
one choice (``n``), ``stop`` sequences, audio, files, the legacy
``functions``/``function_call``, and non-function tools. Sampling knobs it
lacks (``presence_penalty``, ``frequency_penalty``, ``seed``, ``logit_bias``,
``logprobs``) and OpenAI-service settings (``metadata``, ``service_tier``)
are dropped. ``store`` is always false: proxyd keeps no responses, and a stored
one would live on an account the next request may not use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxyd.errors import BadRequest
from proxyd.translate import fields
from proxyd.translate.base import JsonObject
from proxyd.translate.fields import sampling

_ROLES = ("system", "developer", "user", "assistant", "tool")
# OpenAI's Responses API refuses a max_output_tokens below 16; a chat client may well ask for 5.
_MIN_OUTPUT_TOKENS = 16
_UNSUPPORTED: Mapping[str, str] = {
    "functions": "the legacy functions field is not supported; use tools",
    "function_call": "the legacy function_call field is not supported; use tool_choice",
    "audio": "audio output is not supported on this model",
}


def to_responses_request(body: Mapping[str, Any]) -> JsonObject:
    """The Responses request for the chat completion request ``body`` (its model already Copilot's)."""
    _refuse(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages: at least one message is required")
    instructions, items = _input(messages)
    request: JsonObject = {"model": body.get("model"), "input": items, "store": False}
    if instructions:
        request["instructions"] = instructions
    tools = body.get("tools")
    if tools:
        if not isinstance(tools, list):
            raise BadRequest("tools: must be a list")
        request["tools"] = [_tool(tool, f"tools.{i}") for i, tool in enumerate(tools)]
    if body.get("tool_choice") is not None:
        request["tool_choice"] = _tool_choice(body["tool_choice"])
    request.update(_settings(body))
    if body.get("stream") is True:
        request["stream"] = True
    return request


def _refuse(body: Mapping[str, Any]) -> None:
    for name, why in _UNSUPPORTED.items():
        if body.get(name) is not None:
            raise BadRequest(f"{name}: {why}")
    n = body.get("n")
    if n is not None and n != 1:
        raise BadRequest("n: only one choice can be generated on this model")
    stop = body.get("stop")
    if stop is not None and stop != [] and stop != "":
        raise BadRequest("stop: stop sequences are not supported on this model (it is served by the Responses API)")
    if isinstance(body.get("modalities"), list) and "audio" in body["modalities"]:
        raise BadRequest("modalities: audio output is not supported on this model")


def _settings(body: Mapping[str, Any]) -> JsonObject:
    request: JsonObject = {}
    for name in ("max_completion_tokens", "max_tokens"):
        limit = body.get(name)
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise BadRequest(f"{name}: must be a positive integer")
            request["max_output_tokens"] = max(limit, _MIN_OUTPUT_TOKENS)
            break
    request.update(sampling(body))
    if body.get("parallel_tool_calls") is not None:
        if not isinstance(body["parallel_tool_calls"], bool):
            raise BadRequest("parallel_tool_calls: must be a boolean")
        request["parallel_tool_calls"] = body["parallel_tool_calls"]
    if isinstance(body.get("reasoning_effort"), str):
        request["reasoning"] = {"effort": body["reasoning_effort"]}
    text = _text(body)
    if text:
        request["text"] = text
    for name in ("user", "prompt_cache_key"):
        if isinstance(body.get(name), str):
            request[name] = body[name]
    return request


def _text(body: Mapping[str, Any]) -> JsonObject:
    text: JsonObject = {}
    fmt = body.get("response_format")
    if fmt is not None:
        text["format"] = _format(fmt)
    if isinstance(body.get("verbosity"), str):
        text["verbosity"] = body["verbosity"]
    return text


def _format(fmt: Any) -> JsonObject:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind in ("text", "json_object"):
        return {"type": kind}
    if kind != "json_schema":
        raise BadRequest("response_format.type: must be 'text', 'json_object' or 'json_schema'")
    schema = fmt.get("json_schema")
    if not isinstance(schema, dict) or not isinstance(schema.get("name"), str):
        raise BadRequest("response_format.json_schema: a schema object with a name is required")
    out: JsonObject = {"type": "json_schema", "name": schema["name"], "schema": schema.get("schema") or {}}
    for key in ("strict", "description"):
        if schema.get(key) is not None:
            out[key] = schema[key]
    return out


def _tool(tool: Any, where: str) -> JsonObject:
    if not isinstance(tool, dict) or tool.get("type") != "function":
        raise BadRequest(f"{where}.type: only function tools are supported")
    function = tool.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        raise BadRequest(f"{where}.function.name: field required")
    out: JsonObject = {
        "type": "function",
        "name": function["name"],
        "parameters": function.get("parameters") or {"type": "object", "properties": {}},
        # The Responses API makes a function tool strict unless told otherwise; chat does not.
        "strict": function.get("strict") is True,
    }
    if isinstance(function.get("description"), str):
        out["description"] = function["description"]
    return out


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    function = choice.get("function") if isinstance(choice, dict) and choice.get("type") == "function" else None
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return {"type": "function", "name": function["name"]}
    raise BadRequest("tool_choice: must be 'auto', 'none', 'required' or a function tool by name")


# ---------------------------------------------------------------------- messages


def _input(messages: list[Any]) -> tuple[str, list[JsonObject]]:
    """The instructions (the leading system and developer messages) and the input items."""
    leading: list[str] = []
    items: list[JsonObject] = []
    for where, message in fields.messages(messages):
        role = message.get("role")
        if role not in _ROLES:
            raise BadRequest(f"{where}.role: must be one of {', '.join(_ROLES)}")
        if role in ("system", "developer"):
            text = _plain_text(message.get("content"), f"{where}.content")
            if not items:
                leading.append(text)
            else:
                items.append(_message("developer", [{"type": "input_text", "text": text}]))
        elif role == "user":
            items.append(_message("user", _user_content(message.get("content"), f"{where}.content")))
        elif role == "assistant":
            items.extend(_assistant(message, where))
        else:
            items.append(_tool_output(message, where))
    if not items:
        raise BadRequest("messages: at least one user message is required")
    return "\n\n".join(leading), items


def _message(role: str, content: list[JsonObject]) -> JsonObject:
    return {"type": "message", "role": role, "content": content}


def _plain_text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise BadRequest(f"{where}.{i}: expected a text part")
            texts.append(part["text"])
        return "\n\n".join(texts)
    raise BadRequest(f"{where}: must be a string or a list of text parts")


def _user_content(content: Any, where: str) -> list[JsonObject]:
    return fields.content_parts(content, where, "input_text", _user_part)


def _user_part(part: Any, where: str) -> JsonObject:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and isinstance(part.get("text"), str):
        return {"type": "input_text", "text": part["text"]}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url:
            raise BadRequest(f"{where}.image_url.url: field required")
        detail = image.get("detail") if isinstance(image, dict) else None
        return {"type": "input_image", "image_url": url, "detail": detail if detail in ("low", "high") else "auto"}
    if kind is None:
        raise BadRequest(f"{where}: must be a content part with a type")
    raise BadRequest(f"{where}: content parts of type {kind!r} are not supported")


def _assistant(message: Mapping[str, Any], where: str) -> list[JsonObject]:
    items: list[JsonObject] = []
    content = message.get("content")
    parts: list[JsonObject] = []
    if isinstance(content, str) and content:
        parts.append({"type": "output_text", "text": content})
    elif isinstance(content, list):
        parts = [_assistant_part(part, f"{where}.content.{i}") for i, part in enumerate(content)]
    elif content is not None and content != "":
        raise BadRequest(f"{where}.content: must be a string or a list of content parts")
    if parts:
        items.append(_message("assistant", parts))
    calls = message.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise BadRequest(f"{where}.tool_calls: must be a list")
    for i, call in enumerate(calls or ()):
        items.append(_function_call(call, f"{where}.tool_calls.{i}"))
    return items


def _assistant_part(part: Any, where: str) -> JsonObject:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and isinstance(part.get("text"), str):
        return {"type": "output_text", "text": part["text"]}
    if kind == "refusal" and isinstance(part.get("refusal"), str):
        return {"type": "refusal", "refusal": part["refusal"]}
    raise BadRequest(f"{where}: expected a text or refusal part")


def _function_call(call: Any, where: str) -> JsonObject:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        raise BadRequest(f"{where}.function.name: field required")
    if not isinstance(call.get("id"), str) or not call["id"]:
        raise BadRequest(f"{where}.id: field required")
    arguments = function.get("arguments")
    return {
        "type": "function_call",
        "call_id": call["id"],
        "name": function["name"],
        "arguments": arguments if isinstance(arguments, str) else "{}",
    }


def _tool_output(message: Mapping[str, Any], where: str) -> JsonObject:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise BadRequest(f"{where}.tool_call_id: field required")
    return {
        "type": "function_call_output",
        "call_id": call_id,
        "output": _plain_text(message.get("content"), f"{where}.content"),
    }
