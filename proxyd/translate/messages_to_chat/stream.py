"""Chat completion chunks become Anthropic stream events, one chunk at a time.

Each chunk is turned into the events it implies as soon as it arrives, so the
client sees every piece of text when Copilot sends it. Nothing of the answer is
kept but the open block's kind and index, the stop reason and the usage.

Event order, as Anthropic sends it: ``message_start``, ``ping``, then per
content block ``content_block_start``, its ``content_block_delta`` events
(``text_delta`` or ``input_json_delta``) and ``content_block_stop``, then
``message_delta`` (stop_reason, usage) and ``message_stop``. A chunk carrying
``error`` (a failure after the stream began) becomes Anthropic's ``error``
event, after which nothing more is sent, as Anthropic's own stream ends there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from proxyd.translate.base import Event, JsonObject
from proxyd.translate.chat_chunks import choice_events
from proxyd.translate.messages_to_chat.answer import matched_stop, message_id, stop_reason, tool_use_id

# Anthropic's error types; any other kind a chat error names is reported as an api_error.
_ERROR_TYPES = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "billing_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "timeout_error",
        "api_error",
        "overloaded_error",
    }
)


def _event(data: JsonObject) -> Event:
    """An Anthropic event is named by its ``type``."""
    return data["type"], data


def error_event(kind: str, message: str) -> Event:
    return _event({"type": "error", "error": {"type": kind, "message": message}})


class MessageStream:
    """One streamed answer; ``model`` is the name the client asked for."""

    def __init__(self, model: str, stop_sequences: Sequence[str] = ()) -> None:
        self._model = model
        self._stops = stop_sequences
        self._started = False
        self._blocks = 0  # content blocks started so far
        self._open: str | None = None  # "text", or "tool:<its key in _tool_blocks>" of the open block
        # (choice index, tool call index) -> Anthropic block index: indexes restart in each choice.
        self._tool_blocks: dict[tuple[int, int], int] = {}
        self._finish: Any = None
        self._matched: str | None = None
        self._saw_tool = False
        self.usage: JsonObject = {"input_tokens": 0, "output_tokens": 0}
        self.done = False

    def feed(self, name: str | None, data: JsonObject) -> list[Event]:
        if self.done:
            return []
        out = self._start()
        error = data.get("error")
        if isinstance(error, dict):
            self.done = True
            out.append(_error(error))
            return out
        usage = data.get("usage")
        if isinstance(usage, dict):
            for ours, theirs in (("input_tokens", "prompt_tokens"), ("output_tokens", "completion_tokens")):
                value = usage.get(theirs)
                if isinstance(value, int) and not isinstance(value, bool):
                    self.usage[ours] = value
        out.extend(choice_events(data, self._choice))
        return out

    def finish(self) -> list[Event]:
        if self.done:
            return []
        self.done = True
        out = self._start()
        out.extend(self._close())
        if self._saw_tool:
            reason, sequence = "tool_use", None
        elif self._matched is not None:
            reason, sequence = "stop_sequence", self._matched
        else:
            reason, sequence = stop_reason(self._finish), None
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        out.append(_event({"type": "message_delta", "delta": delta, "usage": dict(self.usage)}))
        out.append(_event({"type": "message_stop"}))
        return out

    def _start(self) -> list[Event]:
        """``message_start`` and ``ping`` before the first event; nothing after."""
        if self._started:
            return []
        self._started = True
        message: JsonObject = {
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # Copilot reports usage only at the end: the final message_delta carries it.
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [_event({"type": "message_start", "message": message}), _event({"type": "ping"})]

    def _choice(self, choice: JsonObject) -> Iterator[Event]:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self._open != "text":
                    yield from self._close()
                    yield self._begin("text", {"type": "text", "text": ""})
                yield self._delta({"type": "text_delta", "text": text})
            position = choice.get("index")
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    yield from self._tool_call(position if isinstance(position, int) else 0, call)
        if choice.get("finish_reason"):
            if self._finish != "tool_calls":
                self._finish = choice["finish_reason"]
            self._matched = self._matched or matched_stop(choice, self._stops)

    def _tool_call(self, position: int, call: JsonObject) -> Iterator[Event]:
        given, found = call.get("index"), call.get("function")
        index = (position, given if isinstance(given, int) else len(self._tool_blocks))
        function: JsonObject = found if isinstance(found, dict) else {}
        if index not in self._tool_blocks:
            yield from self._close()
            self._saw_tool = True
            self._tool_blocks[index] = self._blocks
            block: JsonObject = {
                "type": "tool_use",
                "id": call.get("id") or tool_use_id(),
                "name": function.get("name") or "",
                "input": {},
            }
            yield self._begin(f"tool:{index}", block)
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            # Parallel calls arrive one after the other; a late fragment still names its own block.
            payload = {"type": "input_json_delta", "partial_json": arguments}
            yield self._delta(payload, self._tool_blocks[index])

    def _begin(self, kind: str, block: JsonObject) -> Event:
        self._open = kind
        index, self._blocks = self._blocks, self._blocks + 1
        return _event({"type": "content_block_start", "index": index, "content_block": block})

    def _delta(self, delta: JsonObject, index: int | None = None) -> Event:
        at = self._blocks - 1 if index is None else index
        return _event({"type": "content_block_delta", "index": at, "delta": delta})

    def _close(self) -> Iterator[Event]:
        if self._open is not None:
            self._open = None
            yield _event({"type": "content_block_stop", "index": self._blocks - 1})


def _error(error: JsonObject) -> Event:
    kind, message = error.get("type"), error.get("message")
    return error_event(
        kind if kind in _ERROR_TYPES else "api_error",
        message if isinstance(message, str) and message else "upstream error",
    )
