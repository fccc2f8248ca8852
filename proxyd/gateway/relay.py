"""The relay: Copilot's answer streamed back to the client as it arrives.

SSE is forwarded whole events at a time, as ``sse.EventCutter`` cuts it (a
stream that breaks never leaves half an event in front of the error event);
anything else is forwarded chunk by chunk. Once the
status line is sent, every failure ends this response: the error middleware
must never start a second one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import orjson
from aiohttp import web

from proxyd import sse
from proxyd.errors import ClientGone, ModelNotFound, UpstreamAnswered, UpstreamError
from proxyd.gateway.record import CLIENT_GONE, RequestRecord
from proxyd.limits import UPSTREAM_ERROR_BODY_MAX, WHOLE_ANSWER_MAX_BYTES
from proxyd.metrics import Metrics
from proxyd.upstream.direct import UpstreamResponse
from proxyd.upstream.wire import (
    USAGE_MENTIONED,
    JsonUsageSniffer,
    Usage,
    answered,
    response_headers,
    with_usage,
)

log = logging.getLogger("proxyd.proxy")

_LOST_EVENT = sse.frame("chat", [(None, {"error": {"message": "upstream connection lost", "type": "upstream_error"}})])


class Relay(Protocol):
    async def __call__(
        self, request: web.Request, upstream: UpstreamResponse, record: RequestRecord
    ) -> web.StreamResponse: ...


class PassThroughRelay:
    """Copilot's status, chosen headers and body, unchanged.

    ``errors_in_client_shape``: Copilot's error answers become proxyd errors in the
    route's shape instead (Anthropic's clients read only Anthropic's error shape).
    """

    def __init__(self, metrics: Metrics, *, errors_in_client_shape: bool = False) -> None:
        self._metrics = metrics
        self._reshape_errors = errors_in_client_shape

    async def __call__(
        self, request: web.Request, upstream: UpstreamResponse, record: RequestRecord
    ) -> web.StreamResponse:
        record.upstream_status = record.status = upstream.status
        if self._reshape_errors and not 200 <= upstream.status < 300:
            raise await refusal(upstream)
        is_sse = upstream.content_type == sse.CONTENT_TYPE
        headers = response_headers(upstream.headers)
        held = None if is_sse else await self._held_answer(upstream, record)
        if held is not None and held.whole:
            return await _send_whole(
                request, record, web.Response(status=upstream.status, headers=headers, body=held.body)
            )
        response = (
            sse.stream_response(upstream.status, headers)
            if is_sse
            else web.StreamResponse(status=upstream.status, headers=headers)
        )
        # A client that went away is no failure: the caller closing upstream stops Copilot.
        try:
            await to_client(response.prepare(request))
        except ClientGone:
            client_left(record)
            return response
        async with BodyGuard(request, response, record, self._metrics, _LOST_EVENT if is_sse else None):
            if held is None:
                await _pass_events(response, upstream, record)
            else:
                await _pass_body(response, upstream, record, held)
        return response

    async def _held_answer(self, upstream: UpstreamResponse, record: RequestRecord) -> HeldAnswer:
        """The answer's start, up to ``WHOLE_ANSWER_MAX_BYTES``: the whole of it, usually.

        Nothing is sent to the client yet, so an upstream that breaks here gets the client a 502 of its own.
        """
        held = HeldAnswer()
        content = upstream.content
        try:
            if content.is_eof():
                held.add(content.read_nowait())  # it came whole with its headers, as small answers do
            else:
                async for chunk in content.iter_any():
                    held.add(chunk)
                    if held.size > WHOLE_ANSWER_MAX_BYTES:
                        return held
        except (aiohttp.ClientError, TimeoutError) as exc:
            upstream_broke(self._metrics, record, exc)
            raise UpstreamError("Copilot API connection lost mid-answer") from None
        held.whole = True
        record.usage = held.sniffer.usage
        return held


@dataclass(slots=True)
class HeldAnswer:
    """What was read of a (non-SSE) answer before anything is sent; ``whole`` once its end was read too."""

    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    whole: bool = False
    sniffer: JsonUsageSniffer = field(default_factory=JsonUsageSniffer)

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.size += len(chunk)
        self.sniffer.feed(chunk)

    @property
    def body(self) -> bytes:
        return self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)


async def _send_whole(request: web.Request, record: RequestRecord, response: web.Response) -> web.Response:
    # A Response (unlike a StreamResponse) sends its status line, headers and body in one write.
    try:
        await to_client(response.prepare(request))
        await to_client(response.write_eof())
    except ClientGone:
        client_left(record)
    return response


async def _pass_events(response: web.StreamResponse, upstream: UpstreamResponse, record: RequestRecord) -> None:
    """An SSE answer, whole events at a time; only the events that mention usage are parsed."""
    events = sse.EventCutter()
    async for chunk in upstream.content.iter_any():
        whole = events.feed(chunk)
        if whole:
            record.usage = _usage_in(whole, record.usage)
            await to_client(response.write(whole))
    rest = events.close()
    if rest:
        record.usage = _usage_in(rest, record.usage)
        await to_client(response.write(rest))
    await to_client(response.write_eof())


def _usage_in(events: bytes, usage: Usage | None) -> Usage | None:
    """``usage`` with what ``events`` report; one substring search when they say nothing of it."""
    if USAGE_MENTIONED not in events:
        return usage
    for _, data in sse.events_in(events):
        if USAGE_MENTIONED in data:
            try:
                usage = with_usage(usage, orjson.loads(data))
            except orjson.JSONDecodeError:
                continue
    return usage


async def _pass_body(
    response: web.StreamResponse, upstream: UpstreamResponse, record: RequestRecord, held: HeldAnswer
) -> None:
    """A large answer: what was held, then the rest chunk by chunk; usage is read from its end."""
    sniffer = held.sniffer
    try:
        await to_client(response.write(held.body))
        async for chunk in upstream.content.iter_any():
            sniffer.feed(chunk)
            await to_client(response.write(chunk))
        await to_client(response.write_eof())
    finally:
        record.usage = sniffer.usage


@dataclass(slots=True)
class BodyGuard:
    """Around the body of a response whose status line is sent: no failure may escape to the middleware.

    A client that left ends it quietly; an upstream that broke ends it with
    ``lost_event`` (or, without one, an aborted connection) and counts as a 502.
    A class rather than ``asynccontextmanager``: it runs once per request, and
    this costs a fraction of a generator's set-up.
    """

    request: web.Request
    response: web.StreamResponse
    record: RequestRecord
    metrics: Metrics
    lost_event: bytes | None

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, ClientGone):
            client_left(self.record)
            return True
        if not isinstance(exc, Exception):
            return False  # no failure, or a cancellation: not ours to swallow
        upstream_broke(self.metrics, self.record, exc)
        self.record.status = 502
        await end_broken(self.request, self.response, self.lost_event)
        return True


def upstream_broke(metrics: Metrics, record: RequestRecord, exc: BaseException) -> None:
    """Copilot's answer broke off before its end: one line, one count."""
    log.warning("upstream failed mid-response on %s: %s", record.endpoint, type(exc).__name__)
    metrics.upstream_errors.inc((("kind", "mid_stream"),))


async def to_client(write: Awaitable[object]) -> None:
    # aiohttp raises ClientConnectionResetError ("Cannot write to closing transport"), a
    # ConnectionResetError, when the client is gone; only writes raise ClientGone, so an
    # upstream read failing the same way still counts as an upstream failure.
    try:
        await write
    except ConnectionResetError:
        raise ClientGone from None


def client_left(record: RequestRecord) -> None:
    # Routine for streams (a user stops a generation): one short line, no traceback.
    log.debug("client went away mid-answer on %s", record.endpoint)
    record.status = CLIENT_GONE


@dataclass(frozen=True, slots=True)
class Intercepting:
    """A relay that answers some of Copilot's answers itself (``takes``) and passes the others on unchanged."""

    passthrough: Relay

    async def __call__(
        self, request: web.Request, upstream: UpstreamResponse, record: RequestRecord
    ) -> web.StreamResponse:
        if not self.takes(upstream.status, record):
            return await self.passthrough(request, upstream, record)
        record.upstream_status = record.status = upstream.status
        return await self.answer(request, upstream, record)

    def takes(self, status: int, record: RequestRecord) -> bool:
        raise NotImplementedError

    async def answer(
        self, request: web.Request, upstream: UpstreamResponse, record: RequestRecord
    ) -> web.StreamResponse:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class ModelListRelay(Intercepting):
    """``GET /models``: Copilot's list, kept to the models a client key may use (entries unchanged)."""

    def takes(self, status: int, record: RequestRecord) -> bool:
        return status == 200 and allowed_models(record) is not None

    async def answer(
        self, request: web.Request, upstream: UpstreamResponse, record: RequestRecord
    ) -> web.StreamResponse:
        allowed = allowed_models(record)
        listing = await _model_list(upstream)
        kept = [model for model in _entries(listing) if allowed is None or model.get("id") in allowed]
        body = {**listing, "data": kept} if isinstance(listing, dict) else {"object": "list", "data": kept}
        return web.Response(body=orjson.dumps(body), content_type="application/json")


@dataclass(frozen=True, slots=True)
class ModelLookupRelay(Intercepting):
    """``GET /models/{id}``, the SDKs' ``models.retrieve``: Copilot has no such route, so its list is searched."""

    model_id: str

    def takes(self, status: int, record: RequestRecord) -> bool:
        return status == 200  # Copilot's own error is passed on unchanged

    async def answer(
        self, request: web.Request, upstream: UpstreamResponse, record: RequestRecord
    ) -> web.StreamResponse:
        allowed = allowed_models(record)
        for model in _entries(await _model_list(upstream)):
            if model.get("id") == self.model_id and (allowed is None or self.model_id in allowed):
                return web.Response(body=orjson.dumps(model), content_type="application/json")
        raise ModelNotFound(f"The model '{self.model_id}' does not exist")


def allowed_models(record: RequestRecord) -> frozenset[str] | None:
    """The models the request's client key may use; None when any."""
    key = record.principal.client_key
    models = key.settings.models if key is not None else None
    return frozenset(models) if models is not None else None


async def _model_list(upstream: UpstreamResponse) -> Any:
    try:
        return orjson.loads(await upstream.read())
    except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
        raise UpstreamError(f"Copilot API sent no readable model list ({type(exc).__name__})") from None


def _entries(listing: Any) -> list[dict[str, Any]]:
    models = listing.get("data") if isinstance(listing, dict) else None
    return [model for model in models if isinstance(model, dict)] if isinstance(models, list) else []


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


_PASSED_ON_ERROR = ("Retry-After",)


async def refusal(upstream: UpstreamResponse) -> UpstreamAnswered:
    """Copilot's error answer, read (up to its cap) and made an error in the client's shape (``wire.answered``)."""
    try:
        body = await upstream.content.read(UPSTREAM_ERROR_BODY_MAX)
    except (aiohttp.ClientError, TimeoutError):
        body = b""
    headers = {name: upstream.headers[name] for name in _PASSED_ON_ERROR if name in upstream.headers}
    return answered(upstream.status, body, headers)
