"""The relay of ``POST /v1/messages``: Copilot's chat completion answer, translated as it arrives.

A streamed answer is translated chunk by chunk (``stream.StreamTranslator``);
a JSON answer is read whole and becomes one message. Copilot's error answers
become Anthropic errors with Copilot's status and ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from ..errors import UpstreamAnswered, UpstreamError
from ..gateway.accounting import Exchange
from ..gateway.relay import BodyGuard, to_client
from ..metrics import Metrics
from ..upstream.wire import error_message, usage_from
from .stream import SseDataLines, StreamTranslator, error_event
from .translate import to_message

_LOST_EVENT = error_event("api_error", "upstream connection lost")
# Copilot's error bodies are small; a larger one is cut rather than read whole.
_ERROR_BODY_MAX = 64 * 1024
_PASSED_ON_ERROR = ("Retry-After",)


class MessagesRelay:
    """One instance per request: it knows the model name the client asked for and its stop sequences."""

    def __init__(self, metrics: Metrics, model: str, *, stream: bool, stop_sequences: Sequence[str] = ()) -> None:
        self._metrics = metrics
        self._model = model
        self._stream = stream
        self._stops = stop_sequences

    async def __call__(
        self, request: web.Request, upstream: aiohttp.ClientResponse, exchange: Exchange
    ) -> web.StreamResponse:
        exchange.upstream_status = upstream.status
        if not 200 <= upstream.status < 300:
            raise await _refusal(upstream)
        if self._stream and upstream.content_type == "text/event-stream":
            return await self._relay_stream(request, upstream, exchange)
        completion = await _read_json(upstream)
        exchange.usage = usage_from(completion)
        exchange.status = 200
        if self._stream:
            # Copilot answered a stream request with JSON: the same events, at once.
            translator = StreamTranslator(self._model, self._stops)
            body = translator.start() + translator.feed(orjson.dumps(_as_chunk(completion))) + translator.finish()
            return web.Response(body=body, content_type="text/event-stream")
        message = to_message(completion, self._model, self._stops)
        return web.Response(body=orjson.dumps(message), content_type="application/json")

    async def _relay_stream(
        self, request: web.Request, upstream: aiohttp.ClientResponse, exchange: Exchange
    ) -> web.StreamResponse:
        exchange.status = 200
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
        translator = StreamTranslator(self._model, self._stops)
        lines = SseDataLines()
        try:
            async with BodyGuard(request, response, exchange, self._metrics, _LOST_EVENT):
                await to_client(response.prepare(request))
                await to_client(response.write(translator.start()))
                async for chunk in upstream.content.iter_any():
                    events = b"".join(translator.feed(data) for data in lines.feed(chunk))
                    if events:
                        await to_client(response.write(events))
                # A stream that ended without [DONE] still ends as a complete message.
                await to_client(response.write(translator.finish()))
                await to_client(response.write_eof())
        finally:
            exchange.usage = _usage(translator.usage)
        return response


def _usage(usage: dict[str, Any]) -> tuple[int | None, int | None, int | None] | None:
    prompt, completion = usage["input_tokens"], usage["output_tokens"]
    if not prompt and not completion:
        return None
    return prompt, completion, prompt + completion


def _as_chunk(completion: dict[str, Any]) -> dict[str, Any]:
    """A whole chat completion as one stream chunk: each choice's message becomes its delta."""
    choices = []
    found = completion.get("choices")
    for position, choice in enumerate(found if isinstance(found, list) else ()):
        if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
            continue
        message = choice["message"]
        calls = [
            {"index": i, **call} for i, call in enumerate(message.get("tool_calls") or ()) if isinstance(call, dict)
        ]
        delta = {"content": message.get("content"), "tool_calls": calls}
        choices.append({"index": position, "delta": delta, "finish_reason": choice.get("finish_reason")})
    return {"choices": choices, "usage": completion.get("usage")}


async def _read_json(upstream: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        document = orjson.loads(await upstream.read())
    except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
        raise UpstreamError(f"Copilot API sent no readable answer ({type(exc).__name__})") from None
    if not isinstance(document, dict):
        raise UpstreamError("Copilot API sent no readable answer (not a JSON object)")
    return document


async def _refusal(upstream: aiohttp.ClientResponse) -> UpstreamAnswered:
    """Copilot's error answer, its message kept, as an error the middleware renders in Anthropic's shape."""
    message = f"Copilot API answered {upstream.status}"
    try:
        body = await upstream.content.read(_ERROR_BODY_MAX)
        document = orjson.loads(body)
    except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError):
        document = None
    message = error_message(document) or message
    headers = {name: upstream.headers[name] for name in _PASSED_ON_ERROR if name in upstream.headers}
    # A redirect (never followed) is no answer the client could act on.
    return UpstreamAnswered(upstream.status if upstream.status >= 400 else 502, message, headers=headers)
