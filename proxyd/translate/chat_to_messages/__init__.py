"""The client speaks OpenAI chat completions; the upstream is a Claude model answering only on ``/v1/messages``.

    request.py  a chat request becomes a Messages request
    answer.py   an Anthropic message becomes a chat completion
    stream.py   Anthropic stream events become chat completion chunks

Also the second half of ``responses → messages`` (see ``chain.py``). What chat
has no place for (thinking, its signatures, citations) is dropped on the way back.
"""

from __future__ import annotations

from proxyd.translate.base import JsonObject, StreamTranslation, Translator
from proxyd.translate.chat_to_messages.answer import to_completion
from proxyd.translate.chat_to_messages.request import messages_request
from proxyd.translate.chat_to_messages.stream import CompletionStream

__all__ = ["CompletionStream", "messages_request", "to_completion", "translator"]


class _ChatToMessages:
    __slots__ = ("_body", "_include_usage", "_requested")

    def __init__(self, body: JsonObject, requested_model: str) -> None:
        self._body = body
        self._requested = requested_model
        options = body.get("stream_options")
        # Chat sends usage on a stream only when asked; Anthropic always does.
        self._include_usage = isinstance(options, dict) and options.get("include_usage") is True

    def request(self) -> JsonObject:
        return messages_request(self._body)

    def answer(self, document: JsonObject) -> JsonObject:
        return to_completion(document, self._requested)

    def stream(self) -> StreamTranslation:
        return CompletionStream(self._requested, include_usage=self._include_usage)


def translator(body: JsonObject, requested_model: str) -> Translator:
    """``body``'s ``model`` is already Copilot's name; ``requested_model`` is the client's, which answers carry."""
    return _ChatToMessages(body, requested_model)
