"""Copilot's chat completion chunks become Anthropic stream events, one chunk at a time.

``SseDataLines`` cuts the upstream bytes into ``data:`` payloads as they
arrive; ``StreamTranslator`` turns each chunk into the events it implies, so
the client sees every piece of text as soon as Copilot sends it. Nothing of
the answer is kept but the open block's kind and index.

Event order, as Anthropic sends it: ``message_start``, ``ping``, then per
content block ``content_block_start``, its ``content_block_delta`` events
(``text_delta`` or ``input_json_delta``) and ``content_block_stop``, then
``message_delta`` (stop_reason, usage) and ``message_stop``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from .translate import JsonObject, matched_stop, message_id, stop_reason, tool_use_id


def sse_event(name: str, data: JsonObject) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def error_event(kind: str, message: str) -> bytes:
    return sse_event("error", {"type": "error", "error": {"type": kind, "message": message}})


class SseDataLines:
    """The ``data:`` payloads of an SSE byte stream; only the unfinished last line is kept."""

    _LINE_MAX = 16 * 1024 * 1024

    def __init__(self) -> None:
        self._partial = b""

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        data = self._partial + chunk if self._partial else chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > self._LINE_MAX:
            raise ValueError("an SSE line longer than 16 MiB")
        for line in lines:
            if line.startswith(b"data:"):
                yield line[5:].strip()


class StreamTranslator:
    def __init__(self, model: str, stop_sequences: Sequence[str] = ()) -> None:
        self._model = model
        self._stops = stop_sequences
        self._blocks = 0  # content blocks started so far
        self._open: str | None = None  # "text", or "tool:<its key in _tool_blocks>" of the open block
        # (choice index, tool call index) -> Anthropic block index: indexes restart in each choice.
        self._tool_blocks: dict[tuple[int, int], int] = {}
        self._finish: Any = None
        self._matched: str | None = None
        self._saw_tool = False
        self.usage: JsonObject = {"input_tokens": 0, "output_tokens": 0}
        self.done = False

    def start(self) -> bytes:
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
        return sse_event("message_start", {"type": "message_start", "message": message}) + sse_event(
            "ping", {"type": "ping"}
        )

    def feed(self, data: bytes) -> bytes:
        """The events one ``data:`` payload implies (often none); ``[DONE]`` ends the message."""
        if data == b"[DONE]":
            return self.finish()
        if self.done:
            return b""
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return b""  # not a chunk (a comment, a keep-alive): nothing to say
        if not isinstance(chunk, dict):
            return b""
        out: list[bytes] = []
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            for ours, theirs in (("input_tokens", "prompt_tokens"), ("output_tokens", "completion_tokens")):
                value = usage.get(theirs)
                if isinstance(value, int) and not isinstance(value, bool):
                    self.usage[ours] = value
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if isinstance(choice, dict):
                out.extend(self._choice(choice))
        return b"".join(out)

    def _choice(self, choice: JsonObject) -> Iterator[bytes]:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self._open != "text":
                    yield from self._close()
                    yield from self._begin("text", {"type": "text", "text": ""})
                yield self._delta({"type": "text_delta", "text": text})
            position = choice.get("index")
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    yield from self._tool_call(position if isinstance(position, int) else 0, call)
        if choice.get("finish_reason"):
            if self._finish != "tool_calls":
                self._finish = choice["finish_reason"]
            self._matched = self._matched or matched_stop(choice, self._stops)

    def _tool_call(self, position: int, call: JsonObject) -> Iterator[bytes]:
        given, found = call.get("index"), call.get("function")
        index = (position, given if isinstance(given, int) else len(self._tool_blocks))
        function: JsonObject = found if isinstance(found, dict) else {}
        key = f"tool:{index}"
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
            yield from self._begin(key, block)
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            # Parallel calls arrive one after the other; a late fragment still names its own block.
            payload = {"type": "input_json_delta", "partial_json": arguments}
            yield self._delta(payload, self._tool_blocks[index])

    def _begin(self, kind: str, block: JsonObject) -> Iterator[bytes]:
        self._open = kind
        yield sse_event(
            "content_block_start", {"type": "content_block_start", "index": self._blocks, "content_block": block}
        )
        self._blocks += 1

    def _delta(self, delta: JsonObject, index: int | None = None) -> bytes:
        at = self._blocks - 1 if index is None else index
        return sse_event("content_block_delta", {"type": "content_block_delta", "index": at, "delta": delta})

    def _close(self) -> Iterator[bytes]:
        if self._open is not None:
            self._open = None
            yield sse_event("content_block_stop", {"type": "content_block_stop", "index": self._blocks - 1})

    def finish(self) -> bytes:
        """The closing events; called on ``[DONE]`` or when the stream ends without it."""
        if self.done:
            return b""
        self.done = True
        out = list(self._close())
        if self._saw_tool:
            reason, sequence = "tool_use", None
        elif self._matched is not None:
            reason, sequence = "stop_sequence", self._matched
        else:
            reason, sequence = stop_reason(self._finish), None
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        out.append(sse_event("message_delta", {"type": "message_delta", "delta": delta, "usage": dict(self.usage)}))
        out.append(sse_event("message_stop", {"type": "message_stop"}))
        return b"".join(out)
