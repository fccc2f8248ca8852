"""Copilot's chat completion chunks become the Responses API's stream events, one chunk at a time.

The Codex CLI builds its history only from ``response.output_item.done`` (each
carries the FULL item) and fails a stream that ends without
``response.completed`` (COPILOT-PROTOCOL.md §7), so every item opened is closed
with its whole content and ``finish`` always ends the response.

Event order, as OpenAI sends it: ``response.created``, ``response.in_progress``;
then per output item ``response.output_item.added``; for text
``response.content_part.added``, ``response.output_text.delta``…,
``response.output_text.done``, ``response.content_part.done``; for a function
call ``response.function_call_arguments.delta``…,
``response.function_call_arguments.done``; each item ending with
``response.output_item.done``; finally ``response.completed`` (or
``response.incomplete``) with every item and the usage.

Text goes into one message item until a tool call starts. Tool calls stay open
until the end, each its own item: parallel calls may arrive interleaved by
index, and a late fragment must still reach its own call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxyd.translate.base import Event, JsonObject
from proxyd.translate.chat_chunks import choice_events
from proxyd.translate.responses_to_chat.answer import (
    CALL_ID_PREFIXES,
    INCOMPLETE_REASONS,
    ResponseShell,
    call_item,
    item_id,
    message_item,
    response_usage,
)
from proxyd.translate.responses_tools import ResponsesTools

# Chat error codes that name what the Responses API has its own code for (Codex acts on these).
_ERROR_CODES: Mapping[str, str] = {
    "model_max_prompt_tokens_exceeded": "context_length_exceeded",
    "context_length_exceeded": "context_length_exceeded",
    "rate_limit_exceeded": "rate_limit_exceeded",
    "rate_limit_error": "rate_limit_exceeded",
    "insufficient_quota": "insufficient_quota",
}


class _Text:
    """The open message item: its text so far."""

    __slots__ = ("id", "index", "pieces")

    def __init__(self, index: int) -> None:
        self.id = item_id("msg")
        self.index = index
        self.pieces: list[str] = []


class _Call:
    """An open tool call item: what its output_item.done will carry."""

    __slots__ = ("arguments", "call_id", "id", "index", "name")

    def __init__(self, index: int, call_id: str, name: str, prefix: str) -> None:
        self.id = item_id(prefix)
        self.index = index
        self.call_id = call_id
        self.name = name
        self.arguments: list[str] = []


class ResponseEvents:
    """One streamed chat completion, as Responses API events."""

    def __init__(self, shell: ResponseShell, tools: ResponsesTools) -> None:
        self._shell = shell
        self._tools = tools
        self._sequence = 0
        self._started = False
        self._done = False
        self._output: dict[int, JsonObject] = {}  # output_index -> finished item
        self._items = 0  # output indexes given so far
        self._text: _Text | None = None
        self._calls: dict[tuple[int, int], _Call] = {}  # (choice index, tool call index) -> its item
        self._finish: str | None = None
        self._usage: JsonObject | None = None

    def feed(self, name: str | None, data: JsonObject) -> list[Event]:
        if self._done:
            return []
        out = self._start()
        error = data.get("error")
        if error:
            out.append(self._failed(error if isinstance(error, dict) else {"message": str(error)}))
            return out
        usage = response_usage(data.get("usage"))
        if usage is not None:
            self._usage = usage
        out.extend(choice_events(data, self._choice))
        return out

    def finish(self) -> list[Event]:
        if self._done:
            return []
        out = self._start()
        out.extend(self._close_text())
        for call in sorted(self._calls.values(), key=lambda call: call.index):
            out.extend(self._close_call(call))
        self._calls.clear()
        self._done = True
        incomplete = INCOMPLETE_REASONS.get(self._finish or "")
        status = "incomplete" if incomplete else "completed"
        response = self._shell.response(status, self._finished_output(), self._usage, incomplete=incomplete)
        out.append(self._event(f"response.{status}", response=response))
        return out

    # ------------------------------------------------------------------ events

    def _event(self, kind: str, **fields: Any) -> Event:
        data = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return kind, data

    def _start(self) -> list[Event]:
        if self._started:
            return []
        self._started = True
        response = self._shell.response("in_progress", [], usage=None)
        return [
            self._event("response.created", response=response),
            self._event("response.in_progress", response=response),
        ]

    def _failed(self, error: JsonObject) -> Event:
        self._done = True
        code = _string(error.get("code")) or _string(error.get("type"))
        failure = {
            "code": _ERROR_CODES.get(code, "server_error"),
            "message": _string(error.get("message"), "Copilot failed to answer"),
        }
        return self._event(
            "response.failed",
            response=self._shell.response("failed", self._finished_output(), self._usage, error=failure),
        )

    def _finished_output(self) -> list[JsonObject]:
        return [self._output[index] for index in sorted(self._output)]

    def _next_index(self) -> int:
        self._items += 1
        return self._items - 1

    # ------------------------------------------------------------------ chunks

    def _choice(self, choice: JsonObject) -> list[Event]:
        out: list[Event] = []
        delta = choice.get("delta")
        if isinstance(delta, dict):
            for key in ("content", "refusal"):
                if isinstance(delta.get(key), str) and delta[key]:
                    out.extend(self._text_delta(delta[key]))
            position = choice["index"] if isinstance(choice.get("index"), int) else 0
            calls = delta.get("tool_calls")
            for order, call in enumerate(calls if isinstance(calls, list) else ()):
                if isinstance(call, dict):
                    out.extend(self._call_delta(position, order, call))
        if isinstance(choice.get("finish_reason"), str) and self._finish not in INCOMPLETE_REASONS:
            self._finish = choice["finish_reason"]
        return out

    def _text_delta(self, text: str) -> list[Event]:
        out: list[Event] = []
        item = self._text
        if item is None:
            item = self._text = _Text(self._next_index())
            out.append(
                self._event(
                    "response.output_item.added", output_index=item.index, item=message_item("", item.id, "in_progress")
                )
            )
            part = {"type": "output_text", "text": "", "annotations": []}
            out.append(self._event("response.content_part.added", **self._where(item), part=part))
        item.pieces.append(text)
        out.append(self._event("response.output_text.delta", **self._where(item), delta=text, logprobs=[]))
        return out

    @staticmethod
    def _where(item: _Text) -> JsonObject:
        return {"item_id": item.id, "output_index": item.index, "content_index": 0}

    def _close_text(self) -> list[Event]:
        item, self._text = self._text, None
        if item is None:
            return []
        text = "".join(item.pieces)
        done = message_item(text, item.id)
        self._output[item.index] = done
        part = done["content"][0]
        return [
            self._event("response.output_text.done", **self._where(item), text=text, logprobs=[]),
            self._event("response.content_part.done", **self._where(item), part=part),
            self._event("response.output_item.done", output_index=item.index, item=done),
        ]

    def _call_delta(self, position: int, order: int, fragment: JsonObject) -> list[Event]:
        given = fragment.get("index")
        key = (position, given if isinstance(given, int) else order)
        function = _object(fragment.get("function"))
        out: list[Event] = []
        call = self._calls.get(key)
        if call is None:
            out.extend(self._close_text())  # text after the calls opens a new message item
            call_id = _string(fragment.get("id"), item_id("call"))
            name = _string(function.get("name"))
            call = _Call(self._next_index(), call_id, name, CALL_ID_PREFIXES[self._tools.kind(name)])
            self._calls[key] = call
            added = self._tools.output_item(self._item(call, "in_progress"), done=False)
            out.append(self._event("response.output_item.added", output_index=call.index, item=added))
        elif not call.name and _string(function.get("name")):
            call.name = function["name"]  # some backends name the call in a later fragment
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            call.arguments.append(arguments)
            # A stand-in's arguments are JSON around the client's text: only its finished item is meaningful.
            if self._tools.kind(call.name) == "function":
                out.append(
                    self._event(
                        "response.function_call_arguments.delta",
                        item_id=call.id,
                        output_index=call.index,
                        delta=arguments,
                    )
                )
        return out

    @staticmethod
    def _item(call: _Call, status: str) -> JsonObject:
        return call_item(call.id, call.call_id, call.name, "".join(call.arguments), status)

    def _close_call(self, call: _Call) -> list[Event]:
        arguments = "".join(call.arguments)
        done = self._tools.output_item(self._item(call, "completed"))
        self._output[call.index] = done
        where = {"item_id": call.id, "output_index": call.index}
        out: list[Event] = []
        if done["type"] == "function_call":
            out.append(self._event("response.function_call_arguments.done", **where, arguments=arguments))
        elif done["type"] == "custom_tool_call":
            out.append(self._event("response.custom_tool_call_input.done", **where, input=done["input"]))
        out.append(self._event("response.output_item.done", output_index=call.index, item=done))
        return out


def _object(value: Any) -> JsonObject:
    return value if isinstance(value, dict) else {}


def _string(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) and value else default
