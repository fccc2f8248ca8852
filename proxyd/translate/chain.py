"""Two translations in a row, through chat completions: how Responses and Messages reach each other.

Chat completions is the shape every model and every client can be put in, so
``responses → messages`` is ``responses → chat`` then ``chat → messages``, and
the answer comes back the same way. What only the two ends know and chat has no
place for (thinking, encrypted reasoning) is lost on the way; it could not be
verified by the other shape's endpoint anyway.
"""

from __future__ import annotations

from proxyd.translate.base import (
    Event,
    FunctionTranslator,
    JsonObject,
    StreamTranslation,
    Translator,
    TranslatorFactory,
)


class _ChainedStream:
    __slots__ = ("_client_side", "_upstream_side")

    def __init__(self, client_side: StreamTranslation, upstream_side: StreamTranslation) -> None:
        self._client_side = client_side
        self._upstream_side = upstream_side

    def feed(self, name: str | None, data: JsonObject) -> list[Event]:
        out: list[Event] = []
        for middle_name, middle in self._upstream_side.feed(name, data):
            out.extend(self._client_side.feed(middle_name, middle))
        return out

    def finish(self) -> list[Event]:
        out: list[Event] = []
        for middle_name, middle in self._upstream_side.finish():
            out.extend(self._client_side.feed(middle_name, middle))
        out.extend(self._client_side.finish())
        return out


def chained(to_chat: TranslatorFactory, from_chat: TranslatorFactory) -> TranslatorFactory:
    """``client → chat`` followed by ``chat → upstream``, as one translation."""

    def translator(body: JsonObject, requested_model: str) -> Translator:
        client_side = to_chat(body, requested_model)
        upstream_side = from_chat(client_side.request(), requested_model)
        return FunctionTranslator(
            upstream_side.request,
            lambda document: client_side.answer(upstream_side.answer(document)),
            lambda: _ChainedStream(client_side.stream(), upstream_side.stream()),
        )

    return translator
