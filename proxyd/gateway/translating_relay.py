"""The relay of a translated request: Copilot's answer in one API's shape, sent back in the client's.

A streamed answer is read with the one SSE reader, each event translated as
it arrives (``Translator.stream``) and written in the client's framing; a
JSON answer is read whole and translated once. Copilot's error answers become
proxyd errors carrying Copilot's status, message, code and ``Retry-After``,
which the error middleware puts in the client's shape.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from aiohttp import web

from proxyd import sse
from proxyd.errors import UpstreamError
from proxyd.gateway.record import RequestRecord
from proxyd.gateway.relay import BodyGuard, refusal, to_client
from proxyd.metrics import Metrics
from proxyd.translate.base import Api, Event, Translator
from proxyd.upstream.direct import UpstreamResponse
from proxyd.upstream.wire import Usage, usage_from, with_usage


def lost_event(api: Api) -> bytes:
    """The last event of a stream whose upstream broke, in ``api``'s framing: SDKs raise it as an error."""
    message = "upstream connection lost"
    if api == "messages":
        return sse.named("error", {"type": "error", "error": {"type": "api_error", "message": message}})
    error = {"message": message, "type": "upstream_error", "code": "upstream_error"}
    if api == "responses":
        return sse.named("error", {"type": "error", **error, "param": None, "sequence_number": 0})
    return sse.frame("chat", [(None, {"error": error})])


class TranslatingRelay:
    """One instance per request: it holds the request's translator."""

    def __init__(
        self, metrics: Metrics, translator: Translator, client_api: Api, *, stream: bool = False, upstream_api: Api
    ) -> None:
        self._metrics = metrics
        self._translator = translator
        self._client_api = client_api
        self._stream = stream  # the client asked for a stream
        self._upstream_api = upstream_api

    async def __call__(
        self, request: web.Request, upstream: UpstreamResponse, record: RequestRecord
    ) -> web.StreamResponse:
        record.upstream_status = upstream.status
        if not 200 <= upstream.status < 300:
            raise await refusal(upstream)
        if upstream.content_type == sse.CONTENT_TYPE:
            return await self._relay_stream(request, upstream, record)
        document = await _read_json(upstream)
        record.usage = usage_from(document)
        record.status = 200
        if self._stream and self._upstream_api == "chat":
            # Copilot answered a stream request with JSON: the client still gets its stream, at once.
            translation = self._translator.stream()
            events = translation.feed(None, _as_chunk(document)) + translation.finish()
            body = sse.frame(self._client_api, events) + sse.end_of_stream(self._client_api)
            return web.Response(body=body, headers=sse.HEADERS)
        answer = self._translator.answer(document)
        return web.Response(body=orjson.dumps(answer), content_type="application/json")

    async def _relay_stream(
        self, request: web.Request, upstream: UpstreamResponse, record: RequestRecord
    ) -> web.StreamResponse:
        record.status = 200
        client_api = self._client_api
        response = sse.stream_response()
        translation = self._translator.stream()
        reader = sse.SseReader()
        usage: Usage | None = None
        try:
            async with BodyGuard(request, response, record, self._metrics, lost_event(client_api)):
                await to_client(response.prepare(request))
                async for chunk in upstream.content.iter_any():
                    out: list[Event] = []
                    for name, data in reader.feed(chunk):
                        document = _event_data(data)
                        if document is None:
                            continue
                        usage = with_usage(usage, document)
                        out.extend(translation.feed(name, document))
                    if out:
                        await to_client(response.write(sse.frame(client_api, out)))
                # A stream that ended without its end marker still ends as a complete answer.
                closing = sse.frame(client_api, translation.finish()) + sse.end_of_stream(client_api)
                await to_client(response.write(closing))
                await to_client(response.write_eof())
        finally:
            record.usage = usage
        return response


def _event_data(data: bytes) -> dict[str, Any] | None:
    if data == sse.DONE:
        return None  # the end: finish() closes the answer
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None  # not an event (a keep-alive): nothing to say
    return document if isinstance(document, dict) else None


async def _read_json(upstream: UpstreamResponse) -> dict[str, Any]:
    try:
        document = orjson.loads(await upstream.read())
    except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
        raise UpstreamError(f"Copilot API sent no readable answer ({type(exc).__name__})") from None
    if not isinstance(document, dict):
        raise UpstreamError("Copilot API sent no readable answer (not a JSON object)")
    return document


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
        delta = {"role": "assistant", "content": message.get("content"), "tool_calls": calls}
        choices.append({"index": position, "delta": delta, "finish_reason": choice.get("finish_reason")})
    return {"id": completion.get("id"), "choices": choices, "usage": completion.get("usage")}
