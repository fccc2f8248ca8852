"""The Responses API on top of Copilot's chat completions: for clients that speak only Responses.

The OpenAI SDK's ``client.responses.create`` and the Codex CLI (which speaks
nothing else) reach a model Copilot serves only on ``/chat/completions`` so.

    request.py  a Responses request becomes a chat completion request
    answer.py   a chat completion becomes a response object (and what every response object repeats)
    stream.py   chat completion chunks become Responses stream events, one chunk at a time

Custom and local_shell tools, and the refusal of hosted tools, are
``proxyd/translate/responses_tools.py``'s, shared with the native path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxyd.translate.base import JsonObject, StreamTranslation, Translator
from proxyd.translate.responses_to_chat.answer import ResponseShell, to_response
from proxyd.translate.responses_to_chat.request import to_chat_request
from proxyd.translate.responses_to_chat.stream import ResponseEvents
from proxyd.translate.responses_tools import ResponsesTools

__all__ = ["ResponsesToChat", "translator"]


class ResponsesToChat:
    """One Responses request served by chat completions."""

    __slots__ = ("_body", "_model", "_tools")

    def __init__(self, body: Mapping[str, Any], requested_model: str) -> None:
        self._body = body
        self._model = requested_model
        self._tools: ResponsesTools | None = None

    def _client_tools(self) -> ResponsesTools:
        # Made on first use, so a malformed tool is refused where the Translator protocol says: in request().
        if self._tools is None:
            self._tools = ResponsesTools(self._body)
        return self._tools

    def request(self) -> JsonObject:
        return to_chat_request(self._body, self._client_tools())

    def answer(self, document: JsonObject) -> JsonObject:
        tools = self._client_tools()
        return to_response(document, ResponseShell(self._body, self._model, tools), tools)

    def stream(self) -> StreamTranslation:
        tools = self._client_tools()
        return ResponseEvents(ResponseShell(self._body, self._model, tools), tools)


def translator(body: JsonObject, requested_model: str) -> Translator:
    """The ``responses → chat`` translation of one request (a ``TranslatorFactory``)."""
    return ResponsesToChat(body, requested_model)
