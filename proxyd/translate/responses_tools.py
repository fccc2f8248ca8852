"""The Responses API's tools that Copilot has no place for, in the one place both Responses paths share.

Copilot's ``/responses`` takes function tools only (COPILOT-PROTOCOL.md §7), and
a chat completion takes nothing else. Two other kinds of tool the Codex CLI
sends can still be served by a function tool standing in for them:

- ``custom`` tools (freeform: Codex's ``apply_patch`` takes a patch written in a
  grammar, not JSON) become a function tool with one string parameter
  ``input``; a call to one goes back to the client as the ``custom_tool_call``
  it expects, carrying that string.
- ``local_shell`` becomes a function tool ``local_shell`` whose arguments are the
  command; a call goes back as a ``local_shell_call`` with its ``exec`` action.

The tools OpenAI runs on its own servers (web search, file search, code
interpreter, image generation, computer use, remote MCP) cannot be had through
Copilot at all. They are refused with a 400 naming the tool rather than
dropped: a model told it may search the web that silently cannot is worse than
a clear error the user can act on.

``ResponsesTools`` is made from the client's body. The native ``/responses``
path calls ``request`` before sending and ``response`` (JSON) or ``stream``
(events) on the answer; the ``responses → chat`` translation uses the same
``request`` and then only ever sees function tools and function calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import orjson

from proxyd.errors import BadRequest
from proxyd.translate.base import Event, JsonObject

ToolKind = Literal["function", "custom", "local_shell"]

LOCAL_SHELL = "local_shell"

# Tools OpenAI runs itself; Copilot runs none of them.
_HOSTED_TOOLS = frozenset(
    {
        "web_search",
        "web_search_preview",
        "image_generation",
        "file_search",
        "code_interpreter",
        "computer_use_preview",
        "computer_use",
        "computer",
        "mcp",
    }
)

_ITEM_EVENTS = ("response.output_item.added", "response.output_item.done")
_ARGUMENTS_EVENTS = ("response.function_call_arguments.delta", "response.function_call_arguments.done")

_LOCAL_SHELL_PARAMETERS: JsonObject = {
    "type": "object",
    "properties": {
        "command": {
            "type": "array",
            "items": {"type": "string"},
            "description": 'The program and its arguments, one string each, e.g. ["bash", "-lc", "ls -la"].',
        },
        "workdir": {"type": "string", "description": "The directory to run the command in."},
        "timeout_ms": {"type": "integer", "description": "How long the command may run, in milliseconds."},
    },
    "required": ["command"],
    "additionalProperties": False,
}

_CUSTOM_PARAMETERS: JsonObject = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The tool's whole input, as free-form text."}},
    "required": ["input"],
    "additionalProperties": False,
}


def refuse_hosted(kind: str, where: str) -> None:
    """Raise the 400 for a tool OpenAI hosts, when ``kind`` is one."""
    if kind in _HOSTED_TOOLS or kind.startswith("web_search"):
        hint = ' (Codex: set web_search = "disabled" in config.toml)' if kind.startswith("web_search") else ""
        raise BadRequest(
            f"{where}: the {kind!r} tool is not available through GitHub Copilot; remove it from the request{hint}"
        )


# What a function tool can carry; every other kind is refused before anything is sent.
_SERVED_TOOLS = frozenset({"function", "custom", LOCAL_SHELL})
# History items that name a stand-in's call: Copilot takes them only as function calls.
_STAND_IN_ITEMS = frozenset(
    {"custom_tool_call", "custom_tool_call_output", "local_shell_call", "local_shell_call_output"}
)
# Codex's own tool kinds that its config turns off, with the line that does it.
_CODEX_SETTINGS = {"namespace": "[agents] enabled = false", "tool_search": "[features] tool_search = false"}


def _unserved(kind: str, where: str) -> str:
    setting = _CODEX_SETTINGS.get(kind)
    hint = f" (Codex: set {setting} in config.toml)" if setting else ""
    return f"{where}: tools of type {kind!r} cannot be served through GitHub Copilot; remove it from the request{hint}"


class NativeResponses:
    """The native ``/responses`` path when the client's tools need stand-ins: the same API, tools converted."""

    __slots__ = ("_body", "_tools")

    def __init__(self, body: JsonObject, tools: ResponsesTools) -> None:
        self._body = body
        self._tools = tools

    def request(self) -> JsonObject:
        return self._tools.request(self._body)

    def answer(self, document: JsonObject) -> JsonObject:
        return self._tools.response(document)

    def stream(self) -> ToolEvents:
        return ToolEvents(self._tools)


def native_responses(body: JsonObject) -> NativeResponses | None:
    """For a Responses body sent to ``/responses`` as it is: None when it needs no stand-in (the usual case).

    Raises ``BadRequest`` for a tool Copilot cannot serve, before anything is sent.
    """
    tools = ResponsesTools(body)
    needs_stand_ins = any(tool["type"] != "function" for tool in tools.client_tools)
    items = body.get("input")
    history = isinstance(items, list) and any(
        isinstance(item, dict) and item.get("type") in _STAND_IN_ITEMS for item in items
    )
    return NativeResponses(body, tools) if needs_stand_ins or history else None


class ResponsesTools:
    """One request's tools: which stand-ins it needs, and how to turn calls to them back."""

    __slots__ = ("_client_tools", "_custom", "_local_shell")

    def __init__(self, body: Mapping[str, Any]) -> None:
        """Reads the client's ``tools``; raises ``BadRequest`` for a hosted tool or a malformed one."""
        tools = body.get("tools")
        if tools is None:
            tools = []
        if not isinstance(tools, list):
            raise BadRequest("tools: must be a list")
        custom: set[str] = set()
        # Every tool that cannot be served is named at once: Codex offers several by default.
        unserved: list[str] = []
        for position, tool in enumerate(tools):
            where = f"tools.{position}"
            if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
                raise BadRequest(f"{where}: must be a tool object with a type")
            try:
                refuse_hosted(tool["type"], where)
            except BadRequest as refused:
                unserved.append(refused.message)
                continue
            if tool["type"] not in _SERVED_TOOLS:
                unserved.append(_unserved(tool["type"], where))
                continue
            if tool["type"] in ("function", "custom") and not _name(tool):
                raise BadRequest(f"{where}.name: field required")
            if tool["type"] == "custom":
                custom.add(tool["name"])
        if unserved:
            raise BadRequest("; ".join(unserved))
        self._client_tools: list[JsonObject] = tools
        self._custom = frozenset(custom)
        self._local_shell = any(tool["type"] == LOCAL_SHELL for tool in tools)

    @property
    def client_tools(self) -> list[JsonObject]:
        """The tools as the client sent them: what a response object repeats."""
        return self._client_tools

    def kind(self, name: str) -> ToolKind:
        """What the client asked for under the function tool ``name``."""
        if name in self._custom:
            return "custom"
        if self._local_shell and name == LOCAL_SHELL:
            return "local_shell"
        return "function"

    # ------------------------------------------------------------------ the request

    def request(self, body: Mapping[str, Any]) -> JsonObject:
        """``body`` with function tools, a function ``tool_choice`` and function calls in the history.

        The history must change too: Copilot cannot take a ``custom_tool_call`` item
        once the tool it calls is a function tool. Other items and tool kinds are
        left as they are, for the caller to pass on or refuse.
        """
        out = dict(body)
        if self._client_tools:
            out["tools"] = [_for_copilot(tool) for tool in self._client_tools]
        if body.get("tool_choice") is not None:
            out["tool_choice"] = _tool_choice(body["tool_choice"])
        items = body.get("input")
        if isinstance(items, list):
            out["input"] = [_input_item(item, f"input.{i}") for i, item in enumerate(items)]
        return out

    # ------------------------------------------------------------------ the answer

    def output_item(self, item: JsonObject, *, done: bool = True) -> JsonObject:
        """The client's item for a Copilot output item; ``done=False`` for one just started (no arguments yet)."""
        if item.get("type") != "function_call" or not isinstance(item.get("name"), str):
            return item
        kind = self.kind(item["name"])
        arguments = item.get("arguments")
        arguments = arguments if isinstance(arguments, str) and done else ""
        if kind == "custom":
            return _custom_call(item, custom_input(arguments))
        if kind == "local_shell":
            action = _exec_action(arguments) if done else {"type": "exec", "command": [], "env": {}}
            if action is not None:
                return _local_shell_call(item, action)
        return item

    def output(self, items: list[Any]) -> list[Any]:
        return [self.output_item(item) if isinstance(item, dict) else item for item in items]

    def response(self, response: JsonObject) -> JsonObject:
        """A Copilot response object as the client's: its calls turned back, its tools the client's own."""
        out = dict(response)
        if isinstance(response.get("output"), list):
            out["output"] = self.output(response["output"])
        if "tools" in response:
            out["tools"] = self._client_tools
        return out

    def stream(self) -> ToolEvents:
        """A translation of Copilot's ``/responses`` events for the native path."""
        return ToolEvents(self)


class ToolEvents:
    """Copilot's Responses events with calls to stand-in tools turned back into the client's items.

    A custom tool's arguments stream as JSON (``{"input": "…"}``), not as the raw
    text the client would show, so their deltas are left out: the finished item
    carries the whole input, and Codex builds its history from finished items only.
    """

    __slots__ = ("_kinds", "_tools")

    def __init__(self, tools: ResponsesTools) -> None:
        self._tools = tools
        self._kinds: dict[int, ToolKind] = {}  # output_index -> the stand-in it calls

    def feed(self, name: str | None, data: JsonObject) -> list[Event]:
        kind = name or data.get("type")
        item, position = data.get("item"), data.get("output_index")
        if kind in _ITEM_EVENTS and isinstance(item, dict):
            return [(name, self._item(data, item, position, done=kind == "response.output_item.done"))]
        if isinstance(data.get("response"), dict):
            return [(name, {**data, "response": self._tools.response(data["response"])})]
        if kind in _ARGUMENTS_EVENTS and isinstance(position, int) and position in self._kinds:
            return self._arguments(kind, self._kinds[position], data)
        return [(name, data)]

    @staticmethod
    def _arguments(kind: str, stand_in: ToolKind, data: JsonObject) -> list[Event]:
        """A stand-in's arguments: only a custom tool's finished input has an event of its own."""
        if stand_in != "custom" or kind != "response.function_call_arguments.done":
            return []
        done = "response.custom_tool_call_input.done"
        arguments = data.get("arguments")
        payload = {key: value for key, value in data.items() if key not in ("arguments", "name")}
        return [
            (done, {**payload, "type": done, "input": custom_input(arguments if isinstance(arguments, str) else "")})
        ]

    def _item(self, data: JsonObject, item: JsonObject, position: Any, *, done: bool) -> JsonObject:
        converted = self._tools.output_item(item, done=done)
        if converted is not item and isinstance(position, int):
            self._kinds[position] = self._tools.kind(item["name"])
        return {**data, "item": converted}

    def finish(self) -> list[Event]:
        return []


def custom_input(arguments: str) -> str:
    """A custom tool's text from the stand-in's arguments; what is not ``{"input": "…"}`` is kept as sent."""
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments  # the model wrote the text itself, not JSON: that is the input
    if isinstance(parsed, dict) and isinstance(parsed.get("input"), str):
        return str(parsed["input"])
    if isinstance(parsed, dict) and len(parsed) == 1:
        (only,) = parsed.values()
        if isinstance(only, str):
            return only  # the right text under another name
    return arguments


def _name(tool: Mapping[str, Any]) -> bool:
    return isinstance(tool.get("name"), str) and bool(tool["name"])


def _for_copilot(tool: JsonObject) -> JsonObject:
    if tool["type"] == "custom":
        return {
            "type": "function",
            "name": tool["name"],
            "description": _custom_description(tool),
            "parameters": _CUSTOM_PARAMETERS,
            "strict": False,
        }
    if tool["type"] == LOCAL_SHELL:
        return {
            "type": "function",
            "name": LOCAL_SHELL,
            "description": "Runs a command on the user's machine and returns what it printed.",
            "parameters": _LOCAL_SHELL_PARAMETERS,
            "strict": False,
        }
    return tool


def _custom_description(tool: Mapping[str, Any]) -> str:
    """The tool's own description, then how its free-form input travels in a function call."""
    description = tool.get("description")
    parts = [description] if isinstance(description, str) and description else []
    parts.append(
        "This tool takes free-form text, not JSON: pass the whole text, exactly as the tool expects it,"
        " as the string parameter `input`."
    )
    fmt = tool.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "grammar" and isinstance(fmt.get("definition"), str):
        syntax = fmt.get("syntax") if isinstance(fmt.get("syntax"), str) else "lark"
        parts.append(f"The text must match this {syntax} grammar:\n{fmt['definition']}")
    return "\n\n".join(parts)


def _tool_choice(choice: Any) -> Any:
    if not isinstance(choice, dict) or not isinstance(choice.get("type"), str):
        return choice
    kind = choice["type"]
    refuse_hosted(kind, "tool_choice")
    if kind == "custom" and isinstance(choice.get("name"), str):
        return {"type": "function", "name": choice["name"]}
    if kind == LOCAL_SHELL:
        return {"type": "function", "name": LOCAL_SHELL}
    return choice


def _input_item(item: Any, where: str) -> Any:
    if not isinstance(item, dict):
        return item
    kind = item.get("type")
    if kind == "custom_tool_call":
        arguments = orjson.dumps({"input": _text(item, "input", where)}).decode()
        return _function_call(_call_id(item, where), _text(item, "name", where), arguments)
    if kind == "local_shell_call":
        return _function_call(_call_id(item, where), LOCAL_SHELL, _shell_arguments(item, where))
    if kind in ("custom_tool_call_output", "local_shell_call_output"):
        return {"type": "function_call_output", "call_id": _call_id(item, where), "output": item.get("output", "")}
    return item


def _function_call(call_id: str, name: str, arguments: str) -> JsonObject:
    # No item id: the stand-in call is not an item Copilot made, so it could not look one up.
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}


def _call_id(item: Mapping[str, Any], where: str) -> str:
    # A local_shell_call from the chat era of Codex carries only its ``id``.
    for key in ("call_id", "id"):
        if isinstance(item.get(key), str) and item[key]:
            return str(item[key])
    raise BadRequest(f"{where}.call_id: field required")


def _text(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"{where}.{key}: must be a string")
    return value


def _shell_arguments(item: Mapping[str, Any], where: str) -> str:
    action = item.get("action")
    if not isinstance(action, dict) or not _strings(action.get("command")):
        raise BadRequest(f"{where}.action.command: must be a list of strings")
    arguments: JsonObject = {"command": action["command"]}
    if isinstance(action.get("working_directory"), str):
        arguments["workdir"] = action["working_directory"]
    if isinstance(action.get("timeout_ms"), int):
        arguments["timeout_ms"] = action["timeout_ms"]
    return orjson.dumps(arguments).decode()


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(part, str) for part in value)


def _exec_action(arguments: str) -> JsonObject | None:
    """The ``exec`` action for the stand-in's arguments; None when they are not a command."""
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict) or not _strings(parsed.get("command")) or not parsed["command"]:
        return None
    action: JsonObject = {"type": "exec", "command": parsed["command"], "env": {}}
    if isinstance(parsed.get("workdir"), str):
        action["working_directory"] = parsed["workdir"]
    timeout = parsed.get("timeout_ms")
    if isinstance(timeout, int) and not isinstance(timeout, bool):
        action["timeout_ms"] = timeout
    return action


def _custom_call(item: Mapping[str, Any], text: str) -> JsonObject:
    call: JsonObject = {"type": "custom_tool_call", "call_id": item.get("call_id"), "name": item["name"], "input": text}
    for key in ("id", "status"):
        if key in item:
            call[key] = item[key]
    return call


def _local_shell_call(item: Mapping[str, Any], action: JsonObject) -> JsonObject:
    return {
        "type": "local_shell_call",
        "id": item.get("id"),
        "call_id": item.get("call_id"),
        "status": item.get("status") or "completed",
        "action": action,
    }
