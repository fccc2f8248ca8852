"""The client speaks Anthropic Messages; the upstream answers on chat completions.

    request.py  a Messages request becomes a chat request (and, ``counting``, a count_tokens body one)
    answer.py   a chat completion becomes a message
    stream.py   chat completion chunks become Anthropic stream events

What chat has no place for (thinking, prompt caching marks, server tools'
results) is dropped or refused, as each module says.
"""

from __future__ import annotations

from typing import Any

from proxyd.errors import BadRequest
from proxyd.translate.base import JsonObject, StreamTranslation, Translator
from proxyd.translate.messages_to_chat.answer import to_message
from proxyd.translate.messages_to_chat.request import chat_request
from proxyd.translate.messages_to_chat.stream import MessageStream

__all__ = ["MessageStream", "chat_request", "to_message", "translator"]


class _MessagesToChat:
    __slots__ = ("_body", "_requested", "_stops")

    def __init__(self, body: JsonObject, requested_model: str) -> None:
        self._body = body
        self._requested = requested_model
        # request() refuses a malformed list; until then (and for the answer) what is usable of it.
        stops = body.get("stop_sequences")
        self._stops = tuple(s for s in stops if isinstance(s, str)) if isinstance(stops, list) else ()

    def request(self) -> JsonObject:
        return chat_request(self._body, _copilot_model(self._body))

    def answer(self, document: JsonObject) -> JsonObject:
        return to_message(document, self._requested, self._stops)

    def stream(self) -> StreamTranslation:
        return MessageStream(self._requested, self._stops)


def _copilot_model(body: JsonObject) -> str:
    model: Any = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: field required")
    return model


def translator(body: JsonObject, requested_model: str) -> Translator:
    """``body``'s ``model`` is already Copilot's name; ``requested_model`` is the client's, which answers carry."""
    return _MessagesToChat(body, requested_model)
