"""Anthropic stream events become chat completion chunks, one event at a time.

Chunks, as OpenAI sends them: the role first, then text deltas and tool call
deltas (a call's id and name first, then its arguments in pieces; ``index``
counts the tool calls, not Anthropic's blocks), then a chunk with the
``finish_reason`` (at ``message_delta``), then, when the client asked for it
with ``stream_options.include_usage``, a usage chunk with no choices.
``[DONE]`` is not an event: the chat writer adds it.

Dropped, having no place in chat: thinking blocks (``thinking_delta``,
``signature_delta``), ``citations_delta``, server tool blocks and ``ping``.
An ``error`` event becomes a chunk ``{"error": {"message", "type"}}``, which
OpenAI's clients raise; nothing follows it.
"""

from __future__ import annotations

import time
from typing import Any

from proxyd.translate.base import Event, JsonObject
from proxyd.translate.chat_to_messages.answer import chat_usage, completion_id, finish_reason, id_of

_USAGE_FIELDS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")


class CompletionStream:
    """One streamed answer; ``model`` is the name the client asked for."""

    def __init__(self, model: str, *, include_usage: bool = False) -> None:
        self._model = model
        self._include_usage = include_usage
        self._id = completion_id()
        self._created = int(time.time())
        self._role_sent = False
        # Anthropic block index -> chat tool call index, for the blocks that are tool calls.
        self._tool_calls: dict[int, int] = {}
        self._finish: str | None = None
        self._finish_sent = False
        # Anthropic reports input tokens at message_start and (cumulative) output tokens at message_delta.
        self._usage: dict[str, int] = {}
        self.done = False

    @property
    def usage(self) -> JsonObject:
        """Chat's usage so far: accounting needs it even when the client asked for no usage chunk."""
        return chat_usage(self._usage)

    def feed(self, name: str | None, data: JsonObject) -> list[Event]:
        if self.done:
            return []
        kind = data.get("type", name)
        if kind == "message_start":
            return self._message_start(data.get("message"))
        if kind == "content_block_start":
            return self._block_start(data.get("index"), data.get("content_block"))
        if kind == "content_block_delta":
            return self._block_delta(data.get("index"), data.get("delta"))
        if kind == "message_delta":
            return self._message_delta(data.get("delta"), data.get("usage"))
        if kind == "message_stop":
            return self.finish()
        if kind == "error":
            self.done = True
            return [(None, {"error": _error(data.get("error"))})]
        return []  # ping, content_block_stop, what a later version adds

    def finish(self) -> list[Event]:
        if self.done:
            return []
        self.done = True
        out = self._role()
        if not self._finish_sent:
            out.append(self._finish_chunk())
        if self._include_usage:
            out.append(self._chunk([], self.usage))
        return out

    def _message_start(self, message: Any) -> list[Event]:
        if isinstance(message, dict):
            found = message.get("id")
            if isinstance(found, str) and found:
                self._id = found
            self._count(message.get("usage"))
        return self._role()

    def _block_start(self, index: Any, block: Any) -> list[Event]:
        if not isinstance(block, dict) or not isinstance(index, int):
            return []
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str) and block["text"]:
            return self._delta({"content": block["text"]})
        if kind != "tool_use":
            return []  # thinking, redacted_thinking, server tools: nothing chat can show
        position = self._tool_calls[index] = len(self._tool_calls)
        name = block.get("name")
        call: JsonObject = {
            "index": position,
            "id": id_of(block),
            "type": "function",
            "function": {"name": name if isinstance(name, str) else "", "arguments": ""},
        }
        return self._delta({"tool_calls": [call]})

    def _block_delta(self, index: Any, delta: Any) -> list[Event]:
        if not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        if kind == "text_delta" and isinstance(delta.get("text"), str) and delta["text"]:
            return self._delta({"content": delta["text"]})
        if kind == "input_json_delta" and index in self._tool_calls:
            partial = delta.get("partial_json")
            if isinstance(partial, str) and partial:
                call = {"index": self._tool_calls[index], "function": {"arguments": partial}}
                return self._delta({"tool_calls": [call]})
        return []  # thinking_delta, signature_delta, citations_delta

    def _message_delta(self, delta: Any, usage: Any) -> list[Event]:
        self._count(usage)
        if isinstance(delta, dict) and delta.get("stop_reason") is not None:
            self._finish = finish_reason(delta["stop_reason"])
        if self._finish_sent:
            return []
        out = self._role()
        out.append(self._finish_chunk())
        return out

    def _count(self, usage: Any) -> None:
        if isinstance(usage, dict):
            for name in _USAGE_FIELDS:
                value = usage.get(name)
                if isinstance(value, int) and not isinstance(value, bool):
                    self._usage[name] = value

    def _role(self) -> list[Event]:
        """The role chunk, before anything else; nothing once sent."""
        if self._role_sent:
            return []
        self._role_sent = True
        return [self._choice({"role": "assistant", "content": ""})]

    def _delta(self, delta: JsonObject) -> list[Event]:
        out = self._role()
        out.append(self._choice(delta))
        return out

    def _finish_chunk(self) -> Event:
        self._finish_sent = True
        return self._choice({}, self._finish or "stop")

    def _choice(self, delta: JsonObject, finish: str | None = None) -> Event:
        return self._chunk([{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}])

    def _chunk(self, choices: list[JsonObject], usage: JsonObject | None = None) -> Event:
        chunk: JsonObject = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }
        if usage is not None:
            chunk["usage"] = usage
        return None, chunk


def _error(error: Any) -> JsonObject:
    found: JsonObject = error if isinstance(error, dict) else {}
    message, kind = found.get("message"), found.get("type")
    return {
        "message": message if isinstance(message, str) and message else "upstream error",
        "type": kind if isinstance(kind, str) and kind else "api_error",
    }
