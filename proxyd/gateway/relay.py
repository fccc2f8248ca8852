"""The relay: Copilot's answer streamed back to the client as it arrives.

SSE is forwarded event by event (bytes after the last blank line wait for the
rest of their event, so a stream that breaks never leaves half an event in
front of the error event); anything else is forwarded chunk by chunk. Once the
status line is sent, every failure ends this response: the error middleware
must never start a second one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable
from typing import Protocol

import aiohttp
import orjson
from aiohttp import web

from ..errors import ClientGone, ModelNotFound, UpstreamError
from ..metrics import Metrics
from ..upstream.wire import JsonUsageSniffer, SseUsageSniffer, response_headers
from .accounting import CLIENT_GONE, Exchange

log = logging.getLogger("proxyd.proxy")

_LOST_EVENT = b'data: {"error":{"message":"upstream connection lost","type":"upstream_error"}}\n\n'


class Relay(Protocol):
    async def __call__(
        self, request: web.Request, upstream: aiohttp.ClientResponse, exchange: Exchange
    ) -> web.StreamResponse: ...


class PassThroughRelay:
    """Copilot's status, chosen headers and body, unchanged."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def __call__(
        self, request: web.Request, upstream: aiohttp.ClientResponse, exchange: Exchange
    ) -> web.StreamResponse:
        exchange.upstream_status = exchange.status = upstream.status
        is_sse = upstream.content_type == "text/event-stream"
        sniffer: SseUsageSniffer | JsonUsageSniffer = SseUsageSniffer() if is_sse else JsonUsageSniffer()
        response = web.StreamResponse(status=upstream.status, headers=response_headers(upstream.headers))
        if is_sse:
            response.headers["Cache-Control"] = "no-cache"
            response.headers["X-Accel-Buffering"] = "no"
        # A client that went away is no failure: the caller closing upstream stops Copilot.
        try:
            await to_client(response.prepare(request))
        except ClientGone:
            client_left(exchange)
            return response
        pending = b""
        try:
            async with BodyGuard(request, response, exchange, self._metrics, _LOST_EVENT if is_sse else None):
                async for chunk in upstream.content.iter_any():
                    sniffer.feed(chunk)
                    if is_sse:
                        chunk, pending = complete_events(pending + chunk)
                    if chunk:
                        await to_client(response.write(chunk))
                if pending:
                    await to_client(response.write(pending))
                await to_client(response.write_eof())
        finally:
            exchange.usage = sniffer.usage
        return response


class BodyGuard:
    """Around the body of a response whose status line is sent: no failure may escape to the middleware.

    A client that left ends it quietly; an upstream that broke ends it with
    ``lost_event`` (or, without one, an aborted connection) and counts as a 502.
    A class rather than ``asynccontextmanager``: it runs once per request, and
    this costs a fraction of a generator's set-up.
    """

    __slots__ = ("_exchange", "_lost_event", "_metrics", "_request", "_response")

    def __init__(
        self,
        request: web.Request,
        response: web.StreamResponse,
        exchange: Exchange,
        metrics: Metrics,
        lost_event: bytes | None,
    ) -> None:
        self._request = request
        self._response = response
        self._exchange = exchange
        self._metrics = metrics
        self._lost_event = lost_event

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, ClientGone):
            client_left(self._exchange)
            return True
        if not isinstance(exc, Exception):
            return False  # no failure, or a cancellation: not ours to swallow
        log.warning("upstream failed mid-response on %s: %s", self._exchange.endpoint, type(exc).__name__)
        self._metrics.upstream_errors.inc((("kind", "mid_stream"),))
        self._exchange.status = 502
        await end_broken(self._request, self._response, self._lost_event)
        return True


async def to_client(write: Awaitable[object]) -> None:
    # aiohttp raises ClientConnectionResetError ("Cannot write to closing transport"), a
    # ConnectionResetError, when the client is gone; only writes raise ClientGone, so an
    # upstream read failing the same way still counts as an upstream failure.
    try:
        await write
    except ConnectionResetError:
        raise ClientGone from None


def client_left(exchange: Exchange) -> None:
    # Routine for streams (a user stops a generation): one short line, no traceback.
    log.debug("client went away mid-answer on %s", exchange.endpoint)
    exchange.status = CLIENT_GONE


class ModelLookupRelay:
    """``GET /models/{id}``, the SDKs' ``models.retrieve``: Copilot has no such route, so its list is searched."""

    def __init__(self, passthrough: Relay, model_id: str) -> None:
        self._passthrough = passthrough
        self._model_id = model_id

    async def __call__(
        self, request: web.Request, upstream: aiohttp.ClientResponse, exchange: Exchange
    ) -> web.StreamResponse:
        if upstream.status != 200:
            return await self._passthrough(request, upstream, exchange)  # Copilot's own error, unchanged
        exchange.upstream_status = exchange.status = upstream.status
        try:
            listing = orjson.loads(await upstream.read())
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
            raise UpstreamError(f"Copilot API sent no readable model list ({type(exc).__name__})") from None
        models = listing.get("data") if isinstance(listing, dict) else None
        for model in models if isinstance(models, list) else ():
            if isinstance(model, dict) and model.get("id") == self._model_id:
                return web.Response(body=orjson.dumps(model), content_type="application/json")
        raise ModelNotFound(f"The model '{self._model_id}' does not exist")


async def end_broken(request: web.Request, response: web.StreamResponse, last_event: bytes | None) -> None:
    """End a response whose upstream broke after the status line was sent."""
    if last_event is not None:
        # An event SSE clients understand (SDKs raise it as an error), then a clean end.
        with contextlib.suppress(ConnectionResetError):
            await response.write(last_event)
            await response.write_eof()
    elif request.transport is not None:
        # Without the final chunk the client sees a truncated body, not a complete-looking one.
        request.transport.abort()


def complete_events(data: bytes) -> tuple[bytes, bytes]:
    """Split ``data`` into whole SSE events (up to the last blank line) and the unfinished rest."""
    lf, crlf = data.rfind(b"\n\n"), data.rfind(b"\r\n\r\n")
    end = max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)
    return data[:end], data[end:]
