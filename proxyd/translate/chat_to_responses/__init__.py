"""OpenAI's chat completions on top of Copilot's Responses API: for models Copilot serves only on ``/responses``.

Some models (``gpt-5.3-codex``, say) answer only on ``/responses``
(COPILOT-PROTOCOL.md §1); a client speaking chat completions reaches them so.

    request.py  a chat completion request becomes a Responses request
    answer.py   a response object becomes a chat completion
    stream.py   Responses stream events become chat completion chunks, one event at a time
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxyd.translate.base import JsonObject, StreamTranslation, Translator
from proxyd.translate.chat_to_responses.answer import to_chat_completion
from proxyd.translate.chat_to_responses.request import to_responses_request
from proxyd.translate.chat_to_responses.stream import ChatChunks

__all__ = ["ChatToResponses", "translator"]


class ChatToResponses:
    """One chat completion request served by the Responses API."""

    __slots__ = ("_body", "_model")

    def __init__(self, body: Mapping[str, Any], requested_model: str) -> None:
        self._body = body
        self._model = requested_model

    def request(self) -> JsonObject:
        return to_responses_request(self._body)

    def answer(self, document: JsonObject) -> JsonObject:
        return to_chat_completion(document, self._model)

    def stream(self) -> StreamTranslation:
        options = self._body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return ChatChunks(self._model, include_usage)


def translator(body: JsonObject, requested_model: str) -> Translator:
    """The ``chat → responses`` translation of one request (a ``TranslatorFactory``)."""
    return ChatToResponses(body, requested_model)
