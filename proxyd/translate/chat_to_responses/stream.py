"""Copilot's Responses stream events become chat completion chunks, one event at a time.

Chunk order, as OpenAI sends it: a first chunk with ``delta.role``, content and
tool call deltas (a call's first delta names it, with empty arguments; later
ones carry arguments under the same ``index``), a chunk with the
``finish_reason``, then, when the client asked ``stream_options.include_usage``,
a chunk with ``choices: []`` and the ``usage``. A failure becomes a chunk
``{"error": {...}}``, which OpenAI's SDKs raise. The writer adds ``[DONE]``.

Only the Responses events that carry the answer are read; the rest (content
parts, the ``.done`` events that repeat what the deltas said, reasoning)
imply no chunk.
"""

from __future__ import annotations

import time
from typing import Any

from proxyd.translate.base import Event, JsonObject
from proxyd.translate.chat_to_responses.answer import (
    chat_usage,
    completion_id,
    failure_message,
    finish_reason,
    tool_call,
)


class _Call:
    __slots__ = ("index", "streamed")

    def __init__(self, index: int) -> None:
        self.index = index  # the chat tool call index
        self.streamed = False  # whether any arguments went out


class ChatChunks:
    """One streamed Responses answer, as chat completion chunks."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self._id = completion_id()
        self._created = int(time.time())
        self._model = model
        self._include_usage = include_usage
        self._role_sent = False
        self._done = False
        # Keyed by output_index: Copilot's item ids are not always the same from event to event.
        self._calls: dict[int, _Call] = {}

    def feed(self, name: str | None, data: JsonObject) -> list[Event]:
        if self._done:
            return []
        kind = name or data.get("type")
        if kind in ("response.created", "response.in_progress"):
            return self._started(data.get("response"))
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            delta = data.get("delta")
            key = "content" if kind == "response.output_text.delta" else "refusal"
            return [self._chunk({key: delta})] if isinstance(delta, str) and delta else []
        if kind == "response.output_item.added":
            return self._call_added(data)
        if kind == "response.function_call_arguments.delta":
            return self._arguments(data)
        if kind == "response.output_item.done":
            return self._call_done(data)
        if kind in ("response.completed", "response.incomplete"):
            response = data.get("response")
            return self._end(response if isinstance(response, dict) else {"status": "completed"})
        if kind == "response.failed":
            response = _object(data.get("response"))
            return [self._error(failure_message(response), _object(response.get("error")).get("code"))]
        if kind == "error":
            error = _object(data.get("error")) or data
            message = error.get("message")
            return [
                self._error(
                    message if isinstance(message, str) and message else "Copilot failed to answer", error.get("code")
                )
            ]
        return []

    def finish(self) -> list[Event]:
        """Closes an answer whose stream ended without response.completed: the client still gets its end."""
        if self._done:
            return []
        self._done = True
        return [self._chunk({}, "tool_calls" if self._calls else "stop")]

    # ------------------------------------------------------------------ chunks

    def _chunk(self, delta: JsonObject, finish: str | None = None) -> Event:
        if not self._role_sent:
            self._role_sent = True
            delta = {"role": "assistant", **delta}
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return None, self._envelope([choice])

    def _envelope(self, choices: list[JsonObject]) -> JsonObject:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }

    def _error(self, message: str, code: Any) -> Event:
        self._done = True
        error = {"message": message, "type": "server_error", "code": code if isinstance(code, str) else None}
        return None, {"error": error}

    def _started(self, response: Any) -> list[Event]:
        if isinstance(response, dict) and isinstance(response.get("created_at"), int | float):
            self._created = int(response["created_at"])
        return [] if self._role_sent else [self._chunk({"content": ""})]

    def _call_added(self, data: JsonObject) -> list[Event]:
        item, position = data.get("item"), data.get("output_index")
        if not isinstance(item, dict) or item.get("type") != "function_call" or not isinstance(position, int):
            return []
        if position in self._calls:
            return []
        call = self._calls[position] = _Call(len(self._calls))
        opening = tool_call(item)
        opening["function"]["arguments"] = ""
        return [self._chunk({"tool_calls": [{"index": call.index, **opening}]})]

    def _arguments(self, data: JsonObject) -> list[Event]:
        position, delta = data.get("output_index"), data.get("delta")
        call = self._calls.get(position) if isinstance(position, int) else None
        if call is None or not isinstance(delta, str) or not delta:
            return []
        call.streamed = True
        return [self._chunk({"tool_calls": [{"index": call.index, "function": {"arguments": delta}}]})]

    def _call_done(self, data: JsonObject) -> list[Event]:
        """A call whose arguments came only in its finished item (or never announced) still reaches the client."""
        item, position = data.get("item"), data.get("output_index")
        if not isinstance(item, dict) or item.get("type") != "function_call" or not isinstance(position, int):
            return []
        out = self._call_added(data)
        call = self._calls[position]
        arguments = item.get("arguments")
        if not call.streamed and isinstance(arguments, str) and arguments:
            call.streamed = True
            out.append(self._chunk({"tool_calls": [{"index": call.index, "function": {"arguments": arguments}}]}))
        return out

    def _end(self, response: JsonObject) -> list[Event]:
        self._done = True
        out = [self._chunk({}, finish_reason(response, bool(self._calls)))]
        usage = chat_usage(response.get("usage"))
        if self._include_usage and usage is not None:
            out.append((None, {**self._envelope([]), "usage": usage}))
        return out


def _object(value: Any) -> JsonObject:
    return value if isinstance(value, dict) else {}
