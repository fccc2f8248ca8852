"""What every translation between two of Copilot's API shapes provides.

Three API shapes meet in proxyd: OpenAI's chat completions (``chat``), OpenAI's
Responses API (``responses``) and Anthropic's Messages API (``messages``). A
client speaks one of them; Copilot serves each model on one or more of them.
When they differ, a ``Translator`` made for one request turns the client's body
into the upstream's and the upstream's answer (JSON, or SSE events one by one)
back into the client's shape.

Stream translators work on parsed events, never on bytes: the one SSE reader
(``proxyd/sse.py``) parses what Copilot sends, the one writer serialises what
the translator returns in the client's framing. An event is ``(name, data)``:
``name`` is the SSE ``event:`` field (None for chat completion chunks, whose
stream has none), ``data`` the JSON object of its ``data:`` line. Chat's final
``data: [DONE]`` is not an event: the reader turns it into the end of the
stream (``finish``), and the chat writer adds it after the last event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol

JsonObject = dict[str, Any]
Api = Literal["chat", "responses", "messages"]
# The Copilot path of each shape, as ``supported_endpoints`` names it.
ENDPOINT_PATHS: dict[Api, str] = {"chat": "/chat/completions", "responses": "/responses", "messages": "/v1/messages"}
APIS_BY_PATH: dict[str, Api] = {path: api for api, path in ENDPOINT_PATHS.items()}

Event = tuple[str | None, JsonObject]


class StreamTranslation(Protocol):
    """One streamed answer, translated event by event; holds only what later events need."""

    def feed(self, name: str | None, data: JsonObject) -> list[Event]:
        """The client's events that one upstream event implies (often none)."""
        ...

    def finish(self) -> list[Event]:
        """The closing events, once the upstream stream ended (with or without its own end marker).

        Called exactly once; must close every open block or item, so the client
        always receives a complete answer (Codex fails a stream without
        ``response.completed``; Anthropic clients one without ``message_stop``).
        """
        ...


class Translator(Protocol):
    """One request's translation, made from the client's body; it keeps what the answer needs back."""

    def request(self) -> JsonObject:
        """The upstream body. Raises ``proxyd.errors.BadRequest`` for what cannot be carried over."""
        ...

    def answer(self, document: JsonObject) -> JsonObject:
        """The client's JSON answer for the upstream's JSON answer."""
        ...

    def stream(self) -> StreamTranslation:
        """A new translation of a streamed answer."""
        ...


# (the client's body, its ``model`` already replaced by Copilot's name; the model name the client asked for)
TranslatorFactory = Callable[[JsonObject, str], Translator]


class FunctionTranslator:
    """A ``Translator`` built from three functions, each already bound to one request's body and model."""

    __slots__ = ("_answer", "_request", "_stream")

    def __init__(
        self,
        request: Callable[[], JsonObject],
        answer: Callable[[JsonObject], JsonObject],
        stream: Callable[[], StreamTranslation],
    ) -> None:
        self._request = request
        self._answer = answer
        self._stream = stream

    def request(self) -> JsonObject:
        return self._request()

    def answer(self, document: JsonObject) -> JsonObject:
        return self._answer(document)

    def stream(self) -> StreamTranslation:
        return self._stream()
