"""The client speaks OpenAI chat completions; the upstream is a Claude model answering only on ``/v1/messages``.

    request.py  a chat request becomes a Messages request
    answer.py   an Anthropic message becomes a chat completion
    stream.py   Anthropic stream events become chat completion chunks

Also the second half of ``responses → messages`` (see ``chain.py``). What chat
has no place for (thinking, its signatures, citations) is dropped on the way back.
"""

from __future__ import annotations

from proxyd.translate.base import FunctionTranslator, JsonObject, Translator
from proxyd.translate.chat_to_messages.answer import to_completion
from proxyd.translate.chat_to_messages.request import messages_request
from proxyd.translate.chat_to_messages.stream import CompletionStream

__all__ = ["CompletionStream", "messages_request", "to_completion", "translator"]


def translator(body: JsonObject, requested_model: str) -> Translator:
    """``body``'s ``model`` is already Copilot's name; ``requested_model`` is the client's, which answers carry."""
    options = body.get("stream_options")
    # Chat sends usage on a stream only when asked; Anthropic always does.
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    return FunctionTranslator(
        lambda: messages_request(body),
        lambda document: to_completion(document, requested_model),
        lambda: CompletionStream(requested_model, include_usage=include_usage),
    )
