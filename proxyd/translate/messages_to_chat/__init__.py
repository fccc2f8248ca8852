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
from proxyd.translate.base import FunctionTranslator, JsonObject, Translator
from proxyd.translate.messages_to_chat.answer import to_message
from proxyd.translate.messages_to_chat.request import chat_request
from proxyd.translate.messages_to_chat.stream import MessageStream

__all__ = ["MessageStream", "chat_request", "to_message", "translator"]


def _copilot_model(body: JsonObject) -> str:
    model: Any = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: field required")
    return model


def translator(body: JsonObject, requested_model: str) -> Translator:
    """``body``'s ``model`` is already Copilot's name; ``requested_model`` is the client's, which answers carry."""
    # request() refuses a malformed list; until then (and for the answer) what is usable of it.
    stops = body.get("stop_sequences")
    usable = tuple(s for s in stops if isinstance(s, str)) if isinstance(stops, list) else ()
    return FunctionTranslator(
        lambda: chat_request(body, _copilot_model(body)),
        lambda document: to_message(document, requested_model, usable),
        lambda: MessageStream(requested_model, usable),
    )
